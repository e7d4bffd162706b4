// The `ragent` binary end to end: inspect, quantize, tokenize, detokenize, bench, run as a user
// would run them, checking output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/gguf.hpp"
#include "tests/engine/hf_checkpoint.hpp"
#include "tests/cli/run_ragent.hpp"
#include "tests/support/reference.hpp"
#include "engine/tokenizer_load.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent {
namespace {

namespace fs = std::filesystem;
using engine::GgmlType;

using cli_testing::run_ragent;
using CliRun = cli_testing::RagentRun;

// Appends rather than chains operator+: GCC 12 raises a false -Wrestrict on "'" + s + "'".
std::string quote(const fs::path& p) {
  std::string quoted(1, '\'');
  quoted.append(p.string()).push_back('\'');
  return quoted;
}

fs::path temp_dir() {
  const fs::path dir = fs::path(testing::TempDir()) / "ragent_cli_test";
  fs::create_directories(dir);
  return dir;
}

// A 2-layer llama with real-looking shapes for the K-quants (rows of 256), F16 weights.
fs::path write_tiny_llama() {
  const fs::path path = temp_dir() / "tiny-llama-f16.gguf";
  const int64_t hidden = 256, ffn = 512, vocab = 320, heads = 4, kv_heads = 2, head_dim = 64, layers = 2;
  engine::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "tiny test llama");
  w.set_u32("general.file_type", 1);
  w.set_u32("llama.block_count", layers);
  w.set_u32("llama.embedding_length", hidden);
  w.set_u32("llama.context_length", 4096);
  w.set_u32("llama.attention.head_count", heads);
  w.set_u32("llama.attention.head_count_kv", kv_heads);
  w.set_u32("llama.feed_forward_length", ffn);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 500000.0f);
  w.set_u32("llama.rope.dimension_count", head_dim);
  w.set_u32("llama.vocab_size", vocab);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  auto add = [&](const std::string& name, std::vector<int64_t> ne, bool f32) {
    int64_t count = 1;
    for (auto d : ne) count *= d;
    std::vector<std::byte> bytes(static_cast<size_t>(count) * (f32 ? 4 : 2));
    for (int64_t i = 0; i < count; ++i) {
      const float v = f32 ? 1.0f + dist(rng) : dist(rng);
      if (f32) std::memcpy(&bytes[static_cast<size_t>(i) * 4], &v, 4);
      else {
        const uint16_t h = kernels::f32_to_f16(v);
        std::memcpy(&bytes[static_cast<size_t>(i) * 2], &h, 2);
      }
    }
    w.add_tensor(name, f32 ? GgmlType::F32 : GgmlType::F16, std::move(ne), bytes);
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

fs::path llama31_tokenizer_json() { return testing_support::reference_tokenizer_json("tokenizer-llama3_1"); }

#define REQUIRE_TOKENIZER() \
  RAGENT_REQUIRE_REFERENCE(fs::exists(llama31_tokenizer_json()), llama31_tokenizer_json().string() + " is missing")

TEST(Cli, InspectShowsMetadataArchitectureAndTensors) {
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("inspect " + quote(model));
  ASSERT_EQ(r.exit_code, 0) << r.output();
  for (const char* expected : {"GGUF v3", "general.architecture", "\"llama\"", "layers 0-1: attention 4 heads / 2 kv",
                               "ffn swiglu 512", "chat format     llama3 (from the architecture)", "blk.1.ffn_down.weight", "F16", "512 x 256", "parameters"}) {
    EXPECT_NE(r.output().find(expected), std::string::npos) << "missing '" << expected << "' in\n" << r.output();
  }
}

TEST(Cli, InspectReadsShardedHuggingFaceCheckpoint) {
  namespace mt = engine::model_testing;
  mt::TempDir dir;
  const int64_t hidden = 64, ffn = 128, vocab = 96, layers = 2;
  mt::write_text(dir.path() / "config.json", R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 96, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})");
  std::vector<mt::TensorSpec> tensors = {{"model.embed_tokens.weight", {vocab, hidden}},
                                         {"model.norm.weight", {hidden}},
                                         {"lm_head.weight", {vocab, hidden}}};
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    tensors.push_back({p + "input_layernorm.weight", {hidden}});
    tensors.push_back({p + "self_attn.q_proj.weight", {hidden, hidden}});
    tensors.push_back({p + "self_attn.k_proj.weight", {hidden / 2, hidden}});
    tensors.push_back({p + "self_attn.v_proj.weight", {hidden / 2, hidden}});
    tensors.push_back({p + "self_attn.o_proj.weight", {hidden, hidden}});
    tensors.push_back({p + "post_attention_layernorm.weight", {hidden}});
    tensors.push_back({p + "mlp.gate_proj.weight", {ffn, hidden}});
    tensors.push_back({p + "mlp.up_proj.weight", {ffn, hidden}});
    tensors.push_back({p + "mlp.down_proj.weight", {hidden, ffn}});
  }
  mt::write_checkpoint(dir.path(), tensors, engine::SafetensorsDType::BF16, /*n_shards=*/3);

  const CliRun r = run_ragent("inspect " + quote(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.output();
  for (const char* expected : {"arch            llama", "context         131072", "llama3 scaling (factor 8",
                               "rotate-half", "layers 0-1: attention 4 heads / 2 kv, ffn swiglu 128",
                               "in 3 files", "model.layers.1.mlp.down_proj.weight", "BF16", "64 x 128"}) {
    EXPECT_NE(r.output().find(expected), std::string::npos) << "missing '" << expected << "' in\n" << r.output();
  }
}

TEST(Cli, InspectDetectsChatFormatFromTemplate) {
  const fs::path template_path =
      fs::path(RAGENT_SOURCE_DIR) / "tests/engine/data/chat_templates/nvidia-Llama-3_3-Nemotron-Super-49B-v1_5.jinja";
  std::ifstream in(template_path, std::ios::binary);
  const std::string jinja(std::istreambuf_iterator<char>(in), {});
  ASSERT_FALSE(jinja.empty()) << template_path;
  engine::GgufWriter w;
  w.set_string("general.architecture", "deci");
  w.set_string("tokenizer.chat_template", jinja);
  const fs::path path = temp_dir() / "template-only.gguf";
  w.write(path);
  const CliRun r = run_ragent("inspect " + quote(path));
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.output().find("chat format     nemotron-v1.5 (from the chat template)"), std::string::npos) << r.output();
  EXPECT_NE(r.output().find("not loadable as a model"), std::string::npos) << r.output();
}

TEST(Cli, QuantizeWritesQ8_0AndQ4_K_M) {
  const fs::path model = write_tiny_llama();
  const fs::path q8 = temp_dir() / "tiny-q8_0.gguf";
  const fs::path q4 = temp_dir() / "tiny-q4_k_m.gguf";
  CliRun r = run_ragent("quantize -q " + quote(model) + " " + quote(q8) + " Q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  r = run_ragent("quantize " + quote(model) + " " + quote(q4) + " Q4_K");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.output().find("ffn_gate.weight"), std::string::npos) << r.output();  // progress lines

  const auto file8 = engine::GgufFile::open(q8);
  EXPECT_EQ(file8.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(file8.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(file8.get_u64("general.file_type"), 7u);

  const auto file4 = engine::GgufFile::open(q4);
  EXPECT_EQ(file4.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(file4.find_tensor("output.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(file4.find_tensor("token_embd.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(file4.get_u64("general.file_type"), 15u);
  EXPECT_EQ(file4.get_string("general.name"), "tiny test llama");

  r = run_ragent("inspect " + quote(q4));
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.output().find("Q6_K"), std::string::npos);
}

TEST(Cli, QuantizeRejectsUnknownTypeAndLeavesNoFile) {
  const fs::path model = write_tiny_llama();
  const fs::path out = temp_dir() / "never.gguf";
  fs::remove(out);
  const CliRun r = run_ragent("quantize " + quote(model) + " " + quote(out) + " Q3_K");
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.output().find("Q3_K"), std::string::npos) << r.output();
  EXPECT_NE(r.output().find("Q8_0"), std::string::npos) << "the error should list the choices: " << r.output();
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, InspectNamesFileAndOffsetOfCorruption) {
  const fs::path model = write_tiny_llama();
  const fs::path bad = temp_dir() / "truncated.gguf";
  {
    std::ifstream in(model, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::ofstream(bad, std::ios::binary) << bytes.substr(0, 300);
  }
  const CliRun r = run_ragent("inspect " + quote(bad));
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.output().find(bad.string()), std::string::npos) << r.output();
  EXPECT_NE(r.output().find("offset"), std::string::npos) << r.output();
}

TEST(Cli, TokenizeAndDetokenizeWithGgufAndHfDirectory) {
  REQUIRE_TOKENIZER();
  // The same tokenizer three ways: a GGUF file, an HF directory, the tokenizer.json itself.
  engine::GgufWriter w;
  w.set_string("general.architecture", "llama");
  engine::write_tokenizer_spec(engine::tokenizer_spec_from_hf_json(llama31_tokenizer_json()), w);
  const fs::path gguf = temp_dir() / "llama31-tokenizer.gguf";
  w.write(gguf);
  const fs::path hf_dir = temp_dir() / "hf";
  fs::create_directories(hf_dir);
  fs::copy_file(llama31_tokenizer_json(), hf_dir / "tokenizer.json", fs::copy_options::overwrite_existing);

  for (const fs::path& model : {gguf, hf_dir}) {
    SCOPED_TRACE(model.string());
    CliRun r = run_ragent("tokenize -m " + quote(model) + " 'Hello world'");
    ASSERT_EQ(r.exit_code, 0) << r.output();
    EXPECT_EQ(r.output(), "[128000, 9906, 1917]\n");
    r = run_ragent("tokenize --no-bos -m " + quote(model) + " 'Hello world'");
    EXPECT_EQ(r.output(), "[9906, 1917]\n");
    r = run_ragent("tokenize --no-bos -m " + quote(model) + " '<|eot_id|>'");
    EXPECT_NE(r.output(), "[128009]\n") << "special tokens are text unless --special";
    r = run_ragent("tokenize --no-bos --special -m " + quote(model) + " '<|eot_id|>'");
    EXPECT_EQ(r.output(), "[128009]\n");
    r = run_ragent("detokenize -m " + quote(model) + " 9906 1917");
    ASSERT_EQ(r.exit_code, 0) << r.output();
    EXPECT_EQ(r.output(), "Hello world\n");
    r = run_ragent("detokenize -m " + quote(model) + " '[9906, 1917]'");
    EXPECT_EQ(r.output(), "Hello world\n");
  }

  const fs::path text = temp_dir() / "text.txt";
  std::ofstream(text) << "Hello world";
  CliRun r = run_ragent("tokenize --no-bos -m " + quote(gguf) + " --file " + quote(text));
  EXPECT_EQ(r.output(), "[9906, 1917]\n");

  r = run_ragent("detokenize -m " + quote(gguf) + " 9906 999999");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output().find("999999"), std::string::npos) << r.output();
}

TEST(Cli, BenchPrintsSpeedTableAndRoofline) {
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("bench -m " + quote(model) + " -p 4 -n 2 -r 2 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  for (const char* expected : {"loading ", "cpu: ", "date: ", "load average: ", "| model", "size |", "params |", "types",
                               "threads |", "test |", "t/s |", "tiny-llama-f16.gguf", " MiB" /* the load line */, "F16:16 F32:5",
                               "1.34 M", "pp 4 |", "tg 2 |", "threads 1,", " ± ", "memory read bandwidth", "GB/s",
                               "weight bytes per token", "roofline", "% of roofline", "peak RSS ", "model file ",
                               "(context 6 tokens, F16 KV, prompt batches of 512)"}) {
    EXPECT_NE(r.output().find(expected), std::string::npos) << "missing '" << expected << "' in\n" << r.output();
  }
  EXPECT_NE(r.output().find("|       1 |"), std::string::npos) << "the thread count: " << r.output();
}

TEST(Cli, BenchJsonIsOneObjectPerLine) {
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("bench --json -m " + quote(model) + " -p 3 -n 1 -r 1 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  std::vector<boost::json::object> objects;  // stdout's lines; stderr's progress lines do not start with '{'
  std::istringstream in(r.output());
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    ASSERT_TRUE(v.is_object()) << line;
    objects.push_back(v.as_object());
  }
  ASSERT_EQ(objects.size(), 3u) << r.output();
  EXPECT_EQ(objects[0].at("test"), "pp");
  EXPECT_EQ(objects[0].at("n_tokens"), 3);
  EXPECT_EQ(objects[1].at("test"), "tg");
  EXPECT_EQ(objects[1].at("tokens_per_s_stddev").to_number<double>(), 0.0) << "one repetition";
  EXPECT_GT(objects[1].at("tokens_per_s_mean").to_number<double>(), 0.0);
  EXPECT_EQ(objects[2].at("test"), "roofline");
  EXPECT_EQ(objects[2].at("threads"), 1);
  EXPECT_EQ(objects[2].at("params"), 1344768);
  EXPECT_EQ(objects[2].at("parallel"), 1) << "one sequence by default";
  EXPECT_EQ(objects[2].at("tg_steps_per_s").to_number<double>(), objects[1].at("tokens_per_s_mean").to_number<double>());
  for (const char* key : {"read_bandwidth_bytes_per_s", "weight_bytes_per_token", "roofline_tokens_per_s", "roofline_ratio"}) {
    EXPECT_GT(objects[2].at(key).to_number<double>(), 0.0) << key;
  }
  for (const char* key : {"cpu", "date", "load_average", "types"}) EXPECT_TRUE(objects[2].contains(key)) << key;
  // Resident memory holds at least the mapped model, which every forward pass read.
  EXPECT_GT(objects[2].at("peak_rss_bytes").to_number<double>(), objects[2].at("size_bytes").to_number<double>());
}

TEST(Cli, BenchPromptInBatchesGivesTheSameDecodeDepth) {
  // -b 2 forwards the 5-token prompt in passes of 2, 2 and 1 on the paged cache.
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("bench -m " + quote(model) + " -p 5 -n 3 -b 2 -r 1 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.output().find("pp 5 |"), std::string::npos) << r.output();
  EXPECT_NE(r.output().find("(context 8 tokens, F16 KV, prompt batches of 2)"), std::string::npos) << r.output();
}

TEST(Cli, BenchParallelReportsAggregateRatesOfEverySequence) {
  // 3 sequences of 5 prompt tokens: one stream of 15 tokens in passes of 4 (the second pass
  // holds the end of sequence 0 and the start of sequence 1), then 2 steps of 3 tokens.
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("bench -m " + quote(model) + " -p 5 -n 2 -b 4 --parallel 3 -r 2 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  for (const char* expected : {"pp 3x5 |", "tg 3x2 |", "(context 3 x 7 tokens, F16 KV, prompt batches of 4)",
                               "tg 3x2   achieved", "steps/s of 3 tokens", "% of roofline"}) {
    EXPECT_NE(r.output().find(expected), std::string::npos) << "missing '" << expected << "' in\n" << r.output();
  }
}

TEST(Cli, BenchParallelJsonCarriesTheSequenceCount) {
  const fs::path model = write_tiny_llama();
  const CliRun r = run_ragent("bench --json -m " + quote(model) + " -p 3 -n 2 --parallel 4 -r 1 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  std::vector<boost::json::object> objects;
  std::istringstream in(r.output());
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') objects.push_back(boost::json::parse(line).as_object());
  }
  ASSERT_EQ(objects.size(), 3u) << r.output();
  for (const auto& object : objects) EXPECT_EQ(object.at("parallel"), 4) << boost::json::serialize(object);
  EXPECT_EQ(objects[0].at("test"), "pp");
  EXPECT_EQ(objects[0].at("n_tokens"), 3) << "per sequence";
  EXPECT_EQ(objects[1].at("test"), "tg");
  EXPECT_EQ(objects[1].at("n_tokens"), 2);
  const double tg = objects[1].at("tokens_per_s_mean").to_number<double>();
  EXPECT_GT(tg, 0.0);
  EXPECT_EQ(objects[2].at("tg_tokens_per_s").to_number<double>(), tg);
  EXPECT_DOUBLE_EQ(objects[2].at("tg_steps_per_s").to_number<double>(), tg / 4) << "4 tokens per decode step";
}

TEST(Cli, BenchRejectsBadOptions) {
  const fs::path model = write_tiny_llama();
  CliRun r = run_ragent("bench -m " + quote(temp_dir() / "missing.gguf"));
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.output().find("missing.gguf"), std::string::npos) << r.output();
  r = run_ragent("bench -m " + quote(model) + " -p 4000 -n 200 -r 1");
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.output().find("context of 4096"), std::string::npos) << r.output();
  r = run_ragent("bench -m " + quote(model) + " -p 4000 -n 200 --parallel 2 -r 1");
  EXPECT_EQ(r.exit_code, 1) << "each sequence must fit the context: " << r.output();
  EXPECT_NE(r.output().find("context of 4096"), std::string::npos) << r.output();
  for (const char* bad : {" -p 0", " -n -1", " -r 0", " -t 0", " -b 0", " -p many", " --parallel 0", " --parallel -2",
                          " --parallel x", " --frobnicate"}) {
    r = run_ragent("bench -m " + quote(model) + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output();
  }
  r = run_ragent("bench -p 4");  // no model
  EXPECT_EQ(r.exit_code, 2) << r.output();
  EXPECT_NE(r.output().find("--model"), std::string::npos) << r.output();
}

}  // namespace
}  // namespace ragent
