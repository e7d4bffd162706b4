// `ragent embed` end to end, on tiny random llamas with a byte-level vocabulary (ids 0..255 are
// the bytes, then BOS and EOS): the printed JSON array is exactly the backend's embedding of
// the same tokens under the options the flags and the model's GGUF keys select (which
// `ragent inspect` shows), and bad options exit with status 2, bad input with 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/cpu_backend.hpp"
#include "engine/tokenizer_load.hpp"
#include "tests/cli/run_ragent.hpp"
#include "tests/engine/tiny_model.hpp"
#include "tests/support/byte_level.hpp"

namespace ragent {
namespace {

namespace fs = std::filesystem;
namespace mt = engine::model_testing;
using cli_testing::RagentRun;
using cli_testing::run_ragent;
using engine::EmbeddingOptions;
using engine::Pooling;

constexpr engine::TokenId kBos = 256, kEos = 257;

fs::path temp_dir() {
  const fs::path dir = fs::path(testing::TempDir()) / "ragent_embed_test";
  fs::create_directories(dir);
  return dir;
}

std::string quote(const fs::path& p) {
  std::string quoted(1, '\'');
  quoted.append(p.string()).push_back('\'');
  return quoted;
}

engine::TokenizerSpec byte_tokenizer_spec() {
  engine::TokenizerSpec spec;
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(testing_support::mapped_byte(b));
  spec.token_type.assign(256, 1);
  spec.tokens.insert(spec.tokens.end(), {"<s>", "</s>"});
  spec.token_type.insert(spec.token_type.end(), {3, 3});
  spec.bos_token_id = kBos;
  spec.eos_token_id = kEos;
  spec.add_bos_token = true;
  return spec;
}

// A 2-layer llama, hidden 64, F32, with the byte tokenizer and the given GGUF pooling type and
// attention mask. Each test writes its own file: ctest may run them at once.
fs::path write_model(const std::string& name, std::optional<Pooling> pooling = std::nullopt, bool causal = true) {
  engine::ModelConfig config = mt::llama_config(64, 4, 2, 96, 2);
  config.vocab_size = 258;
  config.context_length = 512;
  config.pooling = pooling;
  config.causal_attention = causal;
  const fs::path path = temp_dir() / name;
  mt::write_tiny_gguf(mt::make_tiny_model(config, 3), engine::GgmlType::F32, path,
                      [](engine::GgufWriter& w) { engine::write_tokenizer_spec(byte_tokenizer_spec(), w); });
  return path;
}

// What the engine gives for these tokens and options, as the CLI runs it (default backend).
std::vector<float> backend_embedding(const fs::path& model_path, const std::vector<engine::TokenId>& tokens,
                                     const EmbeddingOptions& options) {
  const auto model = engine::Model::load(model_path);
  engine::CpuBackend backend(model);
  std::vector<float> out(static_cast<size_t>(model.config().hidden_size));
  backend.embed(tokens.data(), static_cast<int>(tokens.size()), options, out.data());
  return out;
}

// The one line of stdout as floats; fails the test unless it is a JSON array of numbers.
std::vector<float> printed_vector(const RagentRun& r) {
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line: " << r.out;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(r.out, ec);
  EXPECT_FALSE(ec) << r.out;
  std::vector<float> values;
  if (ec || !v.is_array()) return values;
  for (const auto& x : v.as_array()) values.push_back(static_cast<float>(x.to_number<double>()));
  return values;
}

std::vector<engine::TokenId> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

TEST(CliEmbed, PrintsTheEnginesVectorForBosAndTheText) {
  const fs::path model = write_model("defaults.gguf");
  const RagentRun r = run_ragent("embed -m " + quote(model) + " -p 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<engine::TokenId> tokens = bytes_of("Hello world");
  tokens.insert(tokens.begin(), kBos);
  // A model without pooling keys: mean pooling, causal, normalized.
  EXPECT_EQ(printed_vector(r), backend_embedding(model, tokens, EmbeddingOptions{Pooling::Mean, true, true}));
  EXPECT_NE(r.err.find("embedded 12 tokens in"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pooling mean, causal attention, normalized"), std::string::npos) << r.err;
}

TEST(CliEmbed, FlagsChoosePoolingMaskNormalizationAndTokens) {
  const fs::path model = write_model("flags.gguf");
  const RagentRun r =
      run_ragent("embed --pooling last --bidirectional --no-normalize --raw -m " + quote(model) + " -p 'abc def'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(printed_vector(r), backend_embedding(model, bytes_of("abc def"), EmbeddingOptions{Pooling::Last, false, false}));
  EXPECT_NE(r.err.find("pooling last, bidirectional attention)"), std::string::npos) << r.err;
}

TEST(CliEmbed, ModelPoolingAndMaskComeFromTheGgufUnlessOverridden) {
  const fs::path model = write_model("first-bidirectional.gguf", Pooling::First, /*causal=*/false);
  std::vector<engine::TokenId> tokens = bytes_of("query: tea");
  tokens.insert(tokens.begin(), kBos);
  RagentRun r = run_ragent("embed --pooling model -m " + quote(model) + " -p 'query: tea'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(printed_vector(r), backend_embedding(model, tokens, EmbeddingOptions{Pooling::First, true, false}));
  r = run_ragent("embed --causal -m " + quote(model) + " -p 'query: tea'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(printed_vector(r), backend_embedding(model, tokens, EmbeddingOptions{Pooling::First, true, true}));
  r = run_ragent("inspect " + quote(model));
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.out.find("embedding       pooling first, bidirectional attention"), std::string::npos) << r.out;
}

TEST(CliEmbed, RejectsBadOptionsAndInput) {
  const fs::path model = write_model("bad-options.gguf");
  for (const char* bad : {" --pooling max", " --bidirectional --causal", " --frobnicate"}) {
    const RagentRun r = run_ragent("embed -m " + quote(model) + " -p x" + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output();
  }
  RagentRun r = run_ragent("embed -m " + quote(model));
  EXPECT_EQ(r.exit_code, 2) << r.output();
  EXPECT_NE(r.err.find("--prompt"), std::string::npos) << r.err;
  r = run_ragent("embed -m " + quote(temp_dir() / "missing.gguf") + " -p x");
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;
  r = run_ragent("embed --raw -m " + quote(model) + " -p ''");
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.err.find("the text has no tokens"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace ragent
