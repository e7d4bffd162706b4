// `ragent generate` and `ragent chat` end to end, on a tiny random llama that carries the real
// Llama 3.1 vocabulary: the streamed text equals what the Engine gives for the same prompt
// tokens, exit codes, and a chat fed on stdin (history, /no_think, /reset).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "engine/chat_tokenize.hpp"
#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/gguf.hpp"
#include "engine/tokenizer_load.hpp"
#include "kernels/cpu/quant.hpp"
#include "tests/cli/run_ragent.hpp"
#include "tests/support/reference.hpp"

namespace ragent {
namespace {

namespace fs = std::filesystem;
using cli_testing::RagentRun;
using cli_testing::run_ragent;
using engine::GgmlType;

fs::path temp_dir() {
  const fs::path dir = fs::path(testing::TempDir()) / "ragent_generate_test";
  fs::create_directories(dir);
  return dir;
}

fs::path llama31_tokenizer_json() { return testing_support::reference_tokenizer_json("tokenizer-llama3_1"); }

// A 2-layer llama, hidden 64, F16 matrices, with the Llama 3.1 tokenizer (128,256 tokens) and
// no chat template (so the chat format comes from the architecture: llama3).
fs::path write_llama31_vocab_model() {
  const fs::path path = temp_dir() / "tiny-llama31-vocab.gguf";
  if (fs::exists(path)) return path;
  const auto spec = engine::tokenizer_spec_from_hf_json(llama31_tokenizer_json());
  const int64_t hidden = 64, ffn = 128, vocab = static_cast<int64_t>(spec.tokens.size()), heads = 4, kv_heads = 2,
                head_dim = 16, layers = 2;
  engine::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", layers);
  w.set_u32("llama.embedding_length", hidden);
  w.set_u32("llama.context_length", 131072);  // as Llama 3.1: the interrupt test must not reach it
  w.set_u32("llama.attention.head_count", heads);
  w.set_u32("llama.attention.head_count_kv", kv_heads);
  w.set_u32("llama.feed_forward_length", ffn);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 500000.0f);
  w.set_u32("llama.rope.dimension_count", head_dim);
  w.set_u32("llama.vocab_size", vocab);
  engine::write_tokenizer_spec(spec, w);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // ne innermost first; matrices N(0, 1/fan_in) in F16, norms 1 in F32.
  auto add = [&](const std::string& name, std::vector<int64_t> ne, bool norm) {
    int64_t count = 1;
    for (auto d : ne) count *= d;
    const float scale = norm ? 0.0f : 1.0f / std::sqrt(static_cast<float>(ne[0]));
    std::vector<std::byte> bytes(static_cast<size_t>(count) * (norm ? 4 : 2));
    for (int64_t i = 0; i < count; ++i) {
      if (norm) {
        const float one = 1.0f;
        std::memcpy(&bytes[static_cast<size_t>(i) * 4], &one, 4);
      } else {
        const uint16_t h = kernels::f32_to_f16(scale * normal(rng));
        std::memcpy(&bytes[static_cast<size_t>(i) * 2], &h, 2);
      }
    }
    w.add_tensor(name, norm ? GgmlType::F32 : GgmlType::F16, std::move(ne), bytes);
  };
  add("token_embd.weight", {hidden, vocab}, false);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", {hidden}, true);
    add(b + "attn_q.weight", {hidden, heads * head_dim}, false);
    add(b + "attn_k.weight", {hidden, kv_heads * head_dim}, false);
    add(b + "attn_v.weight", {hidden, kv_heads * head_dim}, false);
    add(b + "attn_output.weight", {heads * head_dim, hidden}, false);
    add(b + "ffn_norm.weight", {hidden}, true);
    add(b + "ffn_gate.weight", {hidden, ffn}, false);
    add(b + "ffn_up.weight", {hidden, ffn}, false);
    add(b + "ffn_down.weight", {ffn, hidden}, false);
  }
  add("output_norm.weight", {hidden}, true);
  add("output.weight", {hidden, vocab}, false);
  w.write(path);
  return path;
}

// The text the Engine streams for `prompt` under greedy decoding, default stop tokens.
std::string engine_text(const fs::path& model_path, std::vector<engine::TokenId> prompt, int32_t max_tokens) {
  const auto model = engine::Model::load(model_path);
  engine::Engine eng(model, std::make_unique<engine::CpuBackend>(model), engine::load_tokenizer(model_path));
  engine::GenerationRequest request;
  request.prompt = std::move(prompt);
  request.sampling.temperature = 0.0f;
  request.max_tokens = max_tokens;
  auto text = std::make_shared<std::string>();
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  eng.submit(std::move(request), [text, done](const engine::GenerationEvent& e) {
    *text += e.text;
    if (e.finished()) done->set_value();
  });
  finished.wait();
  return *text;
}

#define REQUIRE_TOKENIZER()                                                                 \
  RAGENT_REQUIRE_REFERENCE(fs::exists(llama31_tokenizer_json()), llama31_tokenizer_json().string() + \
                                                                     " is missing")

TEST(CliGenerate, RawGreedyOutputEqualsEngine) {
  REQUIRE_TOKENIZER();
  const fs::path model = write_llama31_vocab_model();
  const RagentRun r = run_ragent("generate --raw -n 8 --temp 0 -m '" + model.string() + "' -p 'The capital of France is'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto tokenizer = engine::load_tokenizer(model);
  std::vector<engine::TokenId> prompt{tokenizer.bos()};
  const auto body = tokenizer.encode("The capital of France is");
  prompt.insert(prompt.end(), body.begin(), body.end());
  const std::string expected = engine_text(model, prompt, 8);
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(r.out, expected + "\n");
  EXPECT_NE(r.err.find("loading"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("prompt 6 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

TEST(CliGenerate, ChatTemplatedPromptEqualsEngine) {
  REQUIRE_TOKENIZER();
  const fs::path model = write_llama31_vocab_model();
  const RagentRun r = run_ragent("generate -n 6 --temp 0 -m '" + model.string() + "' -p 'Hi there'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  engine::ChatMessage user;
  user.content = "Hi there";
  const auto prompt = engine::tokenize_prompt(engine::render_chat(engine::ChatFormat::llama3, {user}, {}),
                                              engine::load_tokenizer(model));
  EXPECT_EQ(r.out, engine_text(model, prompt, 6) + "\n");
  EXPECT_NE(r.err.find("prompt " + std::to_string(prompt.size()) + " tokens"), std::string::npos) << r.err;
}

TEST(CliGenerate, SeededSamplingRepeatsAndErrorsExitWithOne) {
  REQUIRE_TOKENIZER();
  const fs::path model = write_llama31_vocab_model();
  const std::string args = "generate --raw -n 8 --temp 1.0 --seed 42 -m '" + model.string() + "' -p 'Once upon'";
  const RagentRun a = run_ragent(args), b = run_ragent(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);

  RagentRun r = run_ragent("generate -m '" + (temp_dir() / "missing.gguf").string() + "' -p x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;
  r = run_ragent("generate --chat-format nope -m '" + model.string() + "' -p x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = run_ragent("generate -m '" + model.string() + "'");  // no prompt
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt"), std::string::npos) << r.err;
}

TEST(CliGenerate, InterruptStopsGenerationWithStatus130) {
  REQUIRE_TOKENIZER();
  const fs::path model = write_llama31_vocab_model();
  // SIGINT after 3 s, long before the model's 131,072-token context is filled (this tiny model
  // decodes ~1,000 tokens/s here, and slower as the context grows). (Without the handler the
  // process would die of the signal, printing no speeds.)
  const RagentRun stopped = run_ragent("generate --raw --ignore-eos -n 100000 --temp 0 -m '" + model.string() + "' -p 'Count:'", "",
                                       "timeout --preserve-status -s INT 3 ");
  EXPECT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_NE(stopped.err.find("(finish: cancelled)"), std::string::npos) << stopped.err;
}

// Prompt sizes of each turn, from the "[prompt N tokens ..." lines on stderr.
std::vector<int> turn_prompt_tokens(const std::string& err) {
  std::vector<int> sizes;
  const std::regex line(R"(\[prompt (\d+) tokens)");
  for (auto it = std::sregex_iterator(err.begin(), err.end(), line); it != std::sregex_iterator(); ++it) {
    sizes.push_back(std::stoi((*it)[1]));
  }
  return sizes;
}

TEST(CliChat, KeepsHistoryTogglesThinkingAndResets) {
  REQUIRE_TOKENIZER();
  const fs::path model = write_llama31_vocab_model();
  const std::string input =
      "Please tell me everything you know about the long history of the city of Paris and its bridges\n"
      "/no_think\n"
      "Hi\n"
      "/reset\n"
      "Hi\n";
  const RagentRun r = run_ragent("chat --chat-format nemotron -n 4 --temp 0 -m '" + model.string() + "'", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(thinking off)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(history cleared)"), std::string::npos) << r.err;
  const auto sizes = turn_prompt_tokens(r.err);
  ASSERT_EQ(sizes.size(), 3u) << r.err;
  EXPECT_GT(sizes[1], sizes[0]) << "the second turn carries the first";
  EXPECT_LT(sizes[2], sizes[1]) << "after /reset only the new message (and the thinking switch) remain";
  EXPECT_LT(sizes[2], sizes[0]);
  // Three replies, each ended by a newline.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') >= 3, true) << r.out;
}

}  // namespace
}  // namespace ragent
