// Pins engine/model.cpp and engine/model_hf.cpp: Hugging Face checkpoints of each architecture
// load into the expected ModelConfig, every weight view points into the mapped shard with the
// right shape, and bad configs or checkpoints fail with one error that lists every problem.
#include "engine/model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/engine/hf_checkpoint.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;
using model_testing::TensorSpec;
using model_testing::WrittenTensor;
namespace json = boost::json;

// The layer structure a test checkpoint is written with.
struct LayerSpec {
  AttentionKind attention = AttentionKind::Normal;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  FfnKind ffn = FfnKind::Normal;
  int64_t ffn_length = 0;
};

struct CheckpointSpec {
  int64_t vocab = 0;
  int64_t hidden = 0;
  int64_t head_dim = 0;
  std::vector<LayerSpec> layers;
  bool lm_head = true;
  bool qkv_bias = false;
  bool o_bias = false;
};

// Hugging Face tensor names, spelled out here rather than shared with the loader.
std::vector<TensorSpec> hf_tensors(const CheckpointSpec& s) {
  std::vector<TensorSpec> t{{"model.embed_tokens.weight", {s.vocab, s.hidden}}, {"model.norm.weight", {s.hidden}}};
  if (s.lm_head) t.push_back({"lm_head.weight", {s.vocab, s.hidden}});
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerSpec& l = s.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t q = l.n_heads * s.head_dim, kv = l.n_kv_heads * s.head_dim;
    if (l.attention != AttentionKind::NoOp) t.push_back({p + "input_layernorm.weight", {s.hidden}});
    if (l.attention == AttentionKind::Linear) t.push_back({p + "self_attn.linear_attn.weight", {s.hidden, s.hidden}});
    if (l.attention == AttentionKind::Normal) {
      t.push_back({p + "self_attn.q_proj.weight", {q, s.hidden}});
      t.push_back({p + "self_attn.k_proj.weight", {kv, s.hidden}});
      t.push_back({p + "self_attn.v_proj.weight", {kv, s.hidden}});
      t.push_back({p + "self_attn.o_proj.weight", {s.hidden, q}});
      if (s.qkv_bias) {
        t.push_back({p + "self_attn.q_proj.bias", {q}});
        t.push_back({p + "self_attn.k_proj.bias", {kv}});
        t.push_back({p + "self_attn.v_proj.bias", {kv}});
      }
      if (s.o_bias) t.push_back({p + "self_attn.o_proj.bias", {s.hidden}});
    }
    if (l.ffn != FfnKind::NoOp) t.push_back({p + "post_attention_layernorm.weight", {s.hidden}});
    if (l.ffn == FfnKind::Linear) t.push_back({p + "mlp.linear_mlp.weight", {s.hidden, s.hidden}});
    if (l.ffn == FfnKind::Normal) {
      t.push_back({p + "mlp.gate_proj.weight", {l.ffn_length, s.hidden}});
      t.push_back({p + "mlp.up_proj.weight", {l.ffn_length, s.hidden}});
      t.push_back({p + "mlp.down_proj.weight", {s.hidden, l.ffn_length}});
    }
  }
  return t;
}

std::vector<const TensorView*> present_views(const ModelWeights& w) {
  std::vector<const TensorView*> out;
  auto add = [&](const TensorView& v) {
    if (v.present()) out.push_back(&v);
  };
  add(w.token_embedding);
  add(w.output_norm);
  if (w.output.data != w.token_embedding.data) add(w.output);
  add(w.rope_freqs);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo,
                                &l.attn_linear, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down, &l.ffn_linear}) {
      add(*v);
    }
  }
  return out;
}

GgmlType ggml_type_of(SafetensorsDType dtype) {
  return dtype == SafetensorsDType::F32 ? GgmlType::F32 : dtype == SafetensorsDType::F16 ? GgmlType::F16 : GgmlType::BF16;
}

// Every written tensor is bound exactly once, in place in its mapped shard, with its bytes.
void expect_views_match(const Model& model, const std::map<std::string, WrittenTensor>& written,
                        const std::filesystem::path& dir) {
  std::vector<const TensorView*> views = present_views(model.weights());
  std::set<std::string> seen;
  for (const TensorView* v : views) {
    SCOPED_TRACE(v->name);
    auto it = written.find(v->name);
    ASSERT_NE(it, written.end());
    EXPECT_TRUE(seen.insert(v->name).second);
    EXPECT_EQ(v->shape, it->second.shape);
    EXPECT_EQ(v->type, ggml_type_of(it->second.dtype));
    ASSERT_EQ(v->nbytes, it->second.bytes.size());
    EXPECT_EQ(std::memcmp(v->data, it->second.bytes.data(), v->nbytes), 0);
    EXPECT_EQ(model_testing::mapped_path_of(v->data), (dir / it->second.shard).string());
  }
  EXPECT_EQ(seen.size(), written.size());
}

void write_config(const std::filesystem::path& dir, const json::object& config) {
  model_testing::write_text(dir / "config.json", json::serialize(config));
}

std::string load_error(const std::filesystem::path& dir) {
  try {
    Model::load_hf(dir);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

std::string config_error(const json::object& config) {
  try {
    parse_hf_config(json::serialize(config), "config.json");
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

json::object llama_config() {
  return {{"model_type", "llama"},
          {"architectures", json::array{"LlamaForCausalLM"}},
          {"vocab_size", 96},
          {"hidden_size", 32},
          {"intermediate_size", 80},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"max_position_embeddings", 512},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"tie_word_embeddings", false}};
}

TEST(ModelHf, LoadsLlamaWithGqaTiedEmbeddingsAndLlama3Rope) {
  TempDir dir;
  json::object config = llama_config();
  config["tie_word_embeddings"] = true;
  config["rope_scaling"] = json::object{{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 128}};
  write_config(dir.path(), config);
  CheckpointSpec spec{96, 32, 8, std::vector<LayerSpec>(2, {AttentionKind::Normal, 4, 2, FfnKind::Normal, 80}), false};
  auto written = model_testing::write_checkpoint(dir.path(), hf_tensors(spec), SafetensorsDType::BF16);

  Model model = Model::load_hf(dir.path());
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.arch, ModelArch::Llama);
  EXPECT_EQ(c.vocab_size, 96);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.n_layers(), 2);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rope_dim, 8);
  EXPECT_DOUBLE_EQ(c.rms_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::Llama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_context_length, 128);
  EXPECT_FALSE(c.has_rope_freqs);
  EXPECT_EQ(c.rope_layout, RopeLayout::RotateHalf);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.attn_out_bias);
  for (const LayerConfig& l : c.layers) {
    EXPECT_EQ(l.attention, AttentionKind::Normal);
    EXPECT_EQ(l.n_heads, 4);
    EXPECT_EQ(l.n_kv_heads, 2);
    EXPECT_EQ(l.ffn, FfnKind::Normal);
    EXPECT_EQ(l.ffn_length, 80);
  }
  const ModelWeights& w = model.weights();
  EXPECT_EQ(w.output.data, w.token_embedding.data);
  EXPECT_EQ(w.output.name, "model.embed_tokens.weight");
  EXPECT_EQ(w.layers[1].wk.name, "model.layers.1.self_attn.k_proj.weight");
  EXPECT_EQ(w.layers[1].wk.shape, (std::vector<int64_t>{16, 32}));
  EXPECT_FALSE(w.rope_freqs.present());
  expect_views_match(model, written, dir.path());

  // The maps belong to the Model, so views stay valid when it moves.
  Model moved = std::move(model);
  expect_views_match(moved, written, dir.path());
}

TEST(ModelHf, LoadsShardedF32LlamaWithExplicitHeadDimAndBiases) {
  TempDir dir;
  json::object config = llama_config();
  config.erase("rope_theta");
  config.erase("rms_norm_eps");
  config.erase("tie_word_embeddings");
  config["num_key_value_heads"] = 4;
  config["head_dim"] = 16;
  config["attention_bias"] = true;
  config["rope_scaling"] = nullptr;
  write_config(dir.path(), config);
  CheckpointSpec spec{96, 32, 16, std::vector<LayerSpec>(2, {AttentionKind::Normal, 4, 4, FfnKind::Normal, 80}),
                      true, true, true};
  auto written = model_testing::write_checkpoint(dir.path(), hf_tensors(spec), SafetensorsDType::F32, 3);

  Model model = Model::load_hf(dir.path());
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);  // Hugging Face defaults
  EXPECT_DOUBLE_EQ(c.rms_eps, 1e-6);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::None);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.attn_out_bias);
  EXPECT_EQ(model.weights().layers[0].wq.shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(model.weights().layers[0].wo.shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(model.weights().output.name, "lm_head.weight");
  expect_views_match(model, written, dir.path());
  std::set<std::string> shards;
  for (const auto& [name, t] : written) shards.insert(t.shard);
  EXPECT_EQ(shards.size(), 3u);
}

json::object deci_block(json::value heads_in_group, bool attn_no_op, bool attn_linear, json::value ffn_mult,
                        bool ffn_no_op, bool ffn_linear) {
  return {{"attention", {{"n_heads_in_group", heads_in_group}, {"no_op", attn_no_op},
                         {"replace_with_linear", attn_linear}, {"sparsify", nullptr},
                         {"num_sink_tokens", nullptr}, {"window_length", nullptr}}},
          {"ffn", {{"ffn_mult", ffn_mult}, {"no_op", ffn_no_op}, {"replace_with_linear", ffn_linear},
                   {"sparsify", nullptr}}}};
}

json::object deci_config() {
  return {{"model_type", "nemotron-nas"},
          {"architectures", json::array{"DeciLMForCausalLM"}},
          {"vocab_size", 128},
          {"hidden_size", 64},
          {"num_hidden_layers", 5},
          {"num_attention_heads", 8},
          {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}},
          {"tie_word_embeddings", false},
          {"block_configs", json::array{deci_block(2, false, false, 1.0, false, false),
                                        deci_block(nullptr, false, true, 7.0, false, false),
                                        deci_block(nullptr, true, false, 13.0, false, false),
                                        deci_block(8, false, false, nullptr, true, false),
                                        deci_block(1, false, false, nullptr, false, true)}}};
}

TEST(ModelHf, LoadsDeciWithSkippedAndLinearBlocks) {
  TempDir dir;
  write_config(dir.path(), deci_config());
  // FFN lengths by hand: int(2 * mult * 64 / 3) rounded up to 256: 42 -> 256, 298 -> 512, 554 -> 768.
  std::vector<LayerSpec> layers{{AttentionKind::Normal, 8, 4, FfnKind::Normal, 256},
                                {AttentionKind::Linear, 8, 0, FfnKind::Normal, 512},
                                {AttentionKind::NoOp, 0, 0, FfnKind::Normal, 768},
                                {AttentionKind::Normal, 8, 1, FfnKind::NoOp, 0},
                                {AttentionKind::Normal, 8, 8, FfnKind::Linear, 0}};
  CheckpointSpec spec{128, 64, 8, layers};
  auto written = model_testing::write_checkpoint(dir.path(), hf_tensors(spec), SafetensorsDType::F16, 2);

  Model model = Model::load_hf(dir.path());
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.arch, ModelArch::Deci);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.context_length, 4096);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::Llama3);
  EXPECT_EQ(c.rope_scaling.original_context_length, 8192);
  ASSERT_EQ(c.n_layers(), 5);
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(c.layers[i].attention, layers[i].attention);
    EXPECT_EQ(c.layers[i].n_heads, layers[i].n_heads);
    EXPECT_EQ(c.layers[i].n_kv_heads, layers[i].n_kv_heads);
    EXPECT_EQ(c.layers[i].ffn, layers[i].ffn);
    EXPECT_EQ(c.layers[i].ffn_length, layers[i].ffn_length);
  }
  const ModelWeights& w = model.weights();
  EXPECT_EQ(w.layers[1].attn_linear.shape, (std::vector<int64_t>{64, 64}));
  EXPECT_FALSE(w.layers[1].wq.present());
  EXPECT_FALSE(w.layers[2].attn_norm.present());
  EXPECT_FALSE(w.layers[3].ffn_norm.present());
  EXPECT_EQ(w.layers[4].ffn_linear.name, "model.layers.4.mlp.linear_mlp.weight");
  expect_views_match(model, written, dir.path());
}

TEST(ModelHf, DeciFfnLengthMatchesReferenceFormula) {
  // Values of int(2 * ffn_mult * hidden / 3) rounded up to a multiple of 256, worked by hand;
  // 5.25 and 2.625 at 8192 are Llama-3.3-Nemotron-Super-49B's 70B- and 8B-sized FFNs.
  EXPECT_EQ(deci_ffn_length(5.25, 8192), 28672);
  EXPECT_EQ(deci_ffn_length(2.625, 8192), 14336);
  EXPECT_EQ(deci_ffn_length(1.0, 4096), 2816);   // 2730.67 -> 2730 -> 2816
  EXPECT_EQ(deci_ffn_length(0.5, 3), 256);       // 1 -> 256
  EXPECT_EQ(deci_ffn_length(1.5, 256), 256);     // exactly 256 stays
  EXPECT_EQ(deci_ffn_length(1.5, 257), 512);     // 257 -> 512
}

TEST(ModelHf, LoadsQwen2WithBiases) {
  TempDir dir;
  write_config(dir.path(), {{"model_type", "qwen2"},
                            {"vocab_size", 80},
                            {"hidden_size", 24},
                            {"intermediate_size", 40},
                            {"num_hidden_layers", 2},
                            {"num_attention_heads", 3},
                            {"num_key_value_heads", 1},
                            {"max_position_embeddings", 1024},
                            {"rms_norm_eps", 1e-6},
                            {"rope_theta", 1000000.0},
                            {"tie_word_embeddings", true},
                            {"use_sliding_window", false}});
  CheckpointSpec spec{80, 24, 8, std::vector<LayerSpec>(2, {AttentionKind::Normal, 3, 1, FfnKind::Normal, 40}),
                      false, true};
  auto written = model_testing::write_checkpoint(dir.path(), hf_tensors(spec), SafetensorsDType::F32);
  Model model = Model::load_hf(dir.path());
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.arch, ModelArch::Qwen2);
  EXPECT_EQ(c.rope_layout, RopeLayout::RotateHalf);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.attn_out_bias);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(model.weights().layers[0].bq.shape, (std::vector<int64_t>{24}));
  EXPECT_EQ(model.weights().layers[0].bk.shape, (std::vector<int64_t>{8}));
  expect_views_match(model, written, dir.path());
}

TEST(ModelHf, ListsEveryMissingTensorInOneError) {
  TempDir dir;
  write_config(dir.path(), llama_config());
  CheckpointSpec spec{96, 32, 8, std::vector<LayerSpec>(2, {AttentionKind::Normal, 4, 2, FfnKind::Normal, 80})};
  std::vector<TensorSpec> tensors = hf_tensors(spec);
  const std::vector<std::string> dropped{"lm_head.weight", "model.norm.weight", "model.layers.1.self_attn.k_proj.weight",
                                         "model.layers.0.mlp.down_proj.weight"};
  std::erase_if(tensors, [&](const TensorSpec& t) {
    return std::find(dropped.begin(), dropped.end(), t.name) != dropped.end();
  });
  model_testing::write_checkpoint(dir.path(), tensors, SafetensorsDType::BF16);
  std::string e = load_error(dir.path());
  EXPECT_NE(e.find("tensors missing or wrong for llama (4)"), std::string::npos) << e;
  for (const std::string& name : dropped) EXPECT_NE(e.find("missing tensor '" + name + "'"), std::string::npos) << name;
  EXPECT_NE(e.find((dir.path() / "model.safetensors").string()), std::string::npos) << e;
}

TEST(ModelHf, RejectsWrongShapeAndUncomputableDtype) {
  TempDir dir;
  write_config(dir.path(), llama_config());
  CheckpointSpec spec{96, 32, 8, std::vector<LayerSpec>(2, {AttentionKind::Normal, 4, 2, FfnKind::Normal, 80})};
  std::vector<TensorSpec> tensors = hf_tensors(spec);
  for (TensorSpec& t : tensors) {
    if (t.name == "model.layers.0.self_attn.q_proj.weight") t.shape = {16, 32};
    if (t.name == "model.layers.1.mlp.up_proj.weight") t.dtype = SafetensorsDType::I32;
  }
  model_testing::write_checkpoint(dir.path(), tensors, SafetensorsDType::BF16);
  std::string e = load_error(dir.path());
  EXPECT_NE(e.find("tensor 'model.layers.0.self_attn.q_proj.weight' has shape [16, 32], expected [32, 32]"),
            std::string::npos) << e;
  EXPECT_NE(e.find("tensor 'model.layers.1.mlp.up_proj.weight': dtype I32"), std::string::npos) << e;
  EXPECT_NE(e.find("supported: BF16, F16, F32"), std::string::npos) << e;
}

TEST(ModelHf, ReportsCorruptShardAndMissingConfig) {
  TempDir dir;
  EXPECT_NE(load_error(dir.path()).find("no config.json"), std::string::npos);
  write_config(dir.path(), llama_config());
  model_testing::write_text(dir.path() / "model.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
  std::string e = load_error(dir.path());
  EXPECT_NE(e.find((dir.path() / "model.safetensors").string() + ": header length 16 runs past"), std::string::npos) << e;
}

TEST(ModelHfConfig, RejectsUnknownArchitectureListingSupported) {
  json::object config = llama_config();
  config["model_type"] = "mistral";
  std::string e = config_error(config);
  EXPECT_NE(e.find("config.json: model_type 'mistral' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("llama (llama), nemotron-nas (deci), qwen2 (qwen2)"), std::string::npos) << e;

  config.erase("model_type");
  EXPECT_EQ(parse_hf_config(json::serialize(config), "config.json").arch, ModelArch::Llama);
  config["architectures"] = json::array{"GPT2LMHeadModel"};
  EXPECT_NE(config_error(config).find("architecture 'GPT2LMHeadModel' is not supported"), std::string::npos);
}

TEST(ModelHfConfig, ReadsRopeScalingVariants) {
  json::object config = llama_config();
  config["rope_scaling"] = json::object{{"type", "linear"}, {"factor", 2.0}};
  ModelConfig c = parse_hf_config(json::serialize(config), "config.json");
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::Linear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);

  // Newer transformers write one rope_parameters object.
  config.erase("rope_scaling");
  config.erase("rope_theta");
  config["rope_parameters"] = json::object{{"rope_type", "llama3"}, {"rope_theta", 250000.0}, {"factor", 32.0},
                                           {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                                           {"original_max_position_embeddings", 8192}};
  c = parse_hf_config(json::serialize(config), "config.json");
  EXPECT_DOUBLE_EQ(c.rope_theta, 250000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::Llama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);

  config.erase("rope_parameters");
  config["rope_scaling"] = json::object{{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(config_error(config).find("rope scaling type 'yarn' is not supported"), std::string::npos);
  config["rope_scaling"] = json::object{{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_NE(config_error(config).find("llama3 rope scaling needs the original context length"), std::string::npos);
}

TEST(ModelHfConfig, ListsEveryConfigProblem) {
  json::object config = llama_config();
  config.erase("vocab_size");
  config.erase("num_hidden_layers");
  config["hidden_size"] = "32";
  config["mlp_bias"] = true;
  std::string e = config_error(config);
  EXPECT_NE(e.find("config.json: unusable config (4)"), std::string::npos) << e;
  EXPECT_NE(e.find("missing integer 'vocab_size'"), std::string::npos) << e;
  EXPECT_NE(e.find("missing integer 'num_hidden_layers'"), std::string::npos) << e;
  EXPECT_NE(e.find("'hidden_size' must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("'mlp_bias' is not supported"), std::string::npos) << e;
  EXPECT_NE(config_error({{"model_type", "llama"}}).find("missing integer 'hidden_size'"), std::string::npos);
  // Hostile sizes are refused before anything is allocated or multiplied.
  config = llama_config();
  config["num_hidden_layers"] = 1000000000;
  config["hidden_size"] = int64_t{1} << 40;
  e = config_error(config);
  EXPECT_NE(e.find("'num_hidden_layers' = 1000000000 exceeds 65536"), std::string::npos) << e;
  EXPECT_NE(e.find("'hidden_size' = 1099511627776 is out of range"), std::string::npos) << e;
  EXPECT_NE(config_error(json::object{}).find("no model_type"), std::string::npos);
  try {
    parse_hf_config("{\"model_type\": ", "config.json");
    FAIL();
  } catch (const EngineError& err) {
    EXPECT_NE(std::string(err.what()).find("config.json: not a JSON object"), std::string::npos);
  }
}

TEST(ModelHfConfig, RejectsBadDeciBlocks) {
  json::object config = deci_config();
  config["num_hidden_layers"] = 4;
  EXPECT_NE(config_error(config).find("'block_configs' has 5 entries for 4 layers"), std::string::npos);

  config = deci_config();
  auto& blocks = config["block_configs"].as_array();
  blocks[0] = deci_block(3, false, false, 1.0, false, false);
  blocks[3].as_object()["attention"].as_object()["window_length"] = 128;
  blocks[4].as_object()["ffn"].as_object()["ffn_mult"] = nullptr;
  blocks[4].as_object()["ffn"].as_object()["replace_with_linear"] = false;
  std::string e = config_error(config);
  EXPECT_NE(e.find("'block_configs[0].attention.n_heads_in_group' must divide 8 heads"), std::string::npos) << e;
  EXPECT_NE(e.find("'block_configs[3].attention.window_length' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("'block_configs[4].ffn.ffn_mult' must be a positive number"), std::string::npos) << e;

  config = deci_config();
  config.erase("block_configs");
  EXPECT_NE(config_error(config).find("needs a 'block_configs' array"), std::string::npos);
}

}  // namespace
}  // namespace ragent::engine
