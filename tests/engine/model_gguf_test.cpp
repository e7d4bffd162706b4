// Pins engine/model_gguf.cpp: the mapping from llama.cpp's GGUF metadata keys and tensor names
// to ModelConfig/ModelWeights for llama, deci and qwen2. Metadata comes from a map (the
// MetadataSource seam), so this runs without the GGUF file reader; reading real files is
// covered by tests/engine/pending/model_gguf_file_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "engine/model.hpp"

namespace ragent::engine {
namespace {

using MetaValue = std::variant<std::string, uint64_t, double, std::vector<uint64_t>, bool>;

// GGUF metadata held in a map, with GgufFile's typed-lookup contract: absent -> nullopt,
// present with another type -> EngineError naming the key.
class MapMetadata final : public MetadataSource {
 public:
  std::map<std::string, MetaValue, std::less<>> values;

  std::optional<std::string> get_string(std::string_view key) const override { return get<std::string>(key); }
  std::optional<uint64_t> get_u64(std::string_view key) const override { return get<uint64_t>(key); }
  std::optional<double> get_f64(std::string_view key) const override {
    auto it = values.find(key);
    if (it != values.end() && std::holds_alternative<uint64_t>(it->second)) {
      return static_cast<double>(std::get<uint64_t>(it->second));
    }
    return get<double>(key);
  }
  std::optional<std::vector<uint64_t>> get_u64_values(std::string_view key) const override {
    auto it = values.find(key);
    if (it != values.end() && std::holds_alternative<uint64_t>(it->second)) {
      return std::vector<uint64_t>{std::get<uint64_t>(it->second)};
    }
    return get<std::vector<uint64_t>>(key);
  }
  std::optional<bool> get_bool(std::string_view key) const override { return get<bool>(key); }

 private:
  template <typename T>
  std::optional<T> get(std::string_view key) const {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    if (!std::holds_alternative<T>(it->second)) throw EngineError("key '" + std::string(key) + "' has another type");
    return std::get<T>(it->second);
  }
};

// Views over one zeroed buffer; shapes outermost first, as the file adapter produces them.
class FakeTensors {
 public:
  void add(const std::string& name, std::vector<int64_t> shape, GgmlType type = GgmlType::F32) {
    catalog.views[name] = TensorView{name, type, std::move(shape), buffer_.data(), 4};
  }
  TensorCatalog catalog;

 private:
  std::vector<std::byte> buffer_ = std::vector<std::byte>(64);
};

MapMetadata llama_metadata() {
  MapMetadata m;
  m.values = {{"general.architecture", std::string("llama")},
              {"llama.block_count", uint64_t{2}},
              {"llama.embedding_length", uint64_t{32}},
              {"llama.context_length", uint64_t{131072}},
              {"llama.attention.head_count", uint64_t{4}},
              {"llama.attention.head_count_kv", uint64_t{2}},
              {"llama.feed_forward_length", uint64_t{80}},
              {"llama.attention.layer_norm_rms_epsilon", 1e-5},
              {"llama.rope.freq_base", 500000.0},
              {"llama.rope.dimension_count", uint64_t{8}},
              {"llama.vocab_size", uint64_t{96}}};
  return m;
}

void add_llama_tensors(FakeTensors& t, int64_t layers, bool output, bool biases) {
  t.add("token_embd.weight", {96, 32}, GgmlType::Q4_K);
  t.add("output_norm.weight", {32});
  if (output) t.add("output.weight", {96, 32}, GgmlType::Q6_K);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    t.add(p + "attn_norm.weight", {32});
    t.add(p + "attn_q.weight", {32, 32}, GgmlType::Q8_0);
    t.add(p + "attn_k.weight", {16, 32});
    t.add(p + "attn_v.weight", {16, 32});
    t.add(p + "attn_output.weight", {32, 32});
    if (biases) {
      t.add(p + "attn_q.bias", {32});
      t.add(p + "attn_k.bias", {16});
      t.add(p + "attn_v.bias", {16});
    }
    t.add(p + "ffn_norm.weight", {32});
    t.add(p + "ffn_gate.weight", {80, 32});
    t.add(p + "ffn_up.weight", {80, 32});
    t.add(p + "ffn_down.weight", {32, 80});
  }
}

std::string mapping_error(const MapMetadata& m, const TensorCatalog& catalog = {}) {
  try {
    gguf_model_config(m, catalog, "m.gguf");
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelGguf, MapsLlamaWithRopeFreqsAndTiedOutput) {
  FakeTensors t;
  add_llama_tensors(t, 2, false, false);
  t.add("rope_freqs.weight", {4});
  ModelConfig c = gguf_model_config(llama_metadata(), t.catalog, "m.gguf");
  EXPECT_EQ(c.arch, ModelArch::Llama);
  EXPECT_EQ(c.vocab_size, 96);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.n_layers(), 2);
  EXPECT_EQ(c.context_length, 131072);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rope_dim, 8);
  EXPECT_DOUBLE_EQ(c.rms_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::None);
  EXPECT_TRUE(c.has_rope_freqs);
  EXPECT_EQ(c.rope_layout, RopeLayout::InterleavedPairs);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  for (const LayerConfig& l : c.layers) {
    EXPECT_EQ(l.attention, AttentionKind::Normal);
    EXPECT_EQ(l.n_heads, 4);
    EXPECT_EQ(l.n_kv_heads, 2);
    EXPECT_EQ(l.ffn_length, 80);
  }

  ModelWeights w = bind_model_weights(c, TensorNaming::Gguf, t.catalog, "m.gguf");
  EXPECT_EQ(w.token_embedding.type, GgmlType::Q4_K);
  EXPECT_EQ(w.output.name, "token_embd.weight");
  EXPECT_EQ(w.rope_freqs.name, "rope_freqs.weight");
  EXPECT_EQ(w.layers[1].wq.name, "blk.1.attn_q.weight");
  EXPECT_EQ(w.layers[1].wq.type, GgmlType::Q8_0);
  EXPECT_EQ(w.layers[1].w_down.shape, (std::vector<int64_t>{32, 80}));
  EXPECT_FALSE(w.layers[0].bq.present());
}

TEST(ModelGguf, TakesVocabFromEmbeddingAndOutputWhenPresent) {
  MapMetadata m = llama_metadata();
  m.values.erase("llama.vocab_size");
  m.values.erase("llama.rope.dimension_count");
  m.values.erase("llama.rope.freq_base");
  FakeTensors t;
  add_llama_tensors(t, 2, true, false);
  ModelConfig c = gguf_model_config(m, t.catalog, "m.gguf");
  EXPECT_EQ(c.vocab_size, 96);
  EXPECT_EQ(c.rope_dim, 8);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.has_rope_freqs);
  ModelWeights w = bind_model_weights(c, TensorNaming::Gguf, t.catalog, "m.gguf");
  EXPECT_EQ(w.output.name, "output.weight");
  EXPECT_EQ(w.output.type, GgmlType::Q6_K);
}

TEST(ModelGguf, MapsDeciPerLayerArrays) {
  MapMetadata m;
  m.values = {{"general.architecture", std::string("deci")},
              {"deci.block_count", uint64_t{4}},
              {"deci.embedding_length", uint64_t{64}},
              {"deci.context_length", uint64_t{4096}},
              {"deci.attention.head_count", std::vector<uint64_t>{8, 8, 0, 8}},
              {"deci.attention.head_count_kv", std::vector<uint64_t>{4, 0, 0, 1}},
              {"deci.feed_forward_length", std::vector<uint64_t>{256, 512, 768, 0}},
              {"deci.attention.layer_norm_rms_epsilon", 1e-5},
              {"deci.attention.key_length", uint64_t{8}},
              {"deci.attention.value_length", uint64_t{8}},
              {"deci.rope.dimension_count", uint64_t{8}},
              {"deci.vocab_size", uint64_t{128}}};
  FakeTensors t;
  t.add("token_embd.weight", {128, 64});
  t.add("output_norm.weight", {64});
  t.add("output.weight", {128, 64});
  t.add("blk.0.attn_norm.weight", {64});
  t.add("blk.0.attn_q.weight", {64, 64});
  t.add("blk.0.attn_k.weight", {32, 64});
  t.add("blk.0.attn_v.weight", {32, 64});
  t.add("blk.0.attn_output.weight", {64, 64});
  t.add("blk.1.attn_norm.weight", {64});
  t.add("blk.1.attn_output.weight", {64, 64});  // llama.cpp's name for the linear replacement
  t.add("blk.3.attn_norm.weight", {64});
  t.add("blk.3.attn_q.weight", {64, 64});
  t.add("blk.3.attn_k.weight", {8, 64});
  t.add("blk.3.attn_v.weight", {8, 64});
  t.add("blk.3.attn_output.weight", {64, 64});
  for (int64_t i : {0, 1, 2}) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const int64_t ffn = 256 * (i + 1);
    t.add(p + "ffn_norm.weight", {64});
    t.add(p + "ffn_gate.weight", {ffn, 64});
    t.add(p + "ffn_up.weight", {ffn, 64});
    t.add(p + "ffn_down.weight", {64, ffn});
  }
  ModelConfig c = gguf_model_config(m, t.catalog, "m.gguf");
  EXPECT_EQ(c.arch, ModelArch::Deci);
  EXPECT_EQ(c.rope_layout, RopeLayout::InterleavedPairs);
  EXPECT_EQ(c.head_dim, 8);
  ASSERT_EQ(c.n_layers(), 4);
  EXPECT_EQ(c.layers[0].attention, AttentionKind::Normal);
  EXPECT_EQ(c.layers[0].n_kv_heads, 4);
  EXPECT_EQ(c.layers[1].attention, AttentionKind::Linear);
  EXPECT_EQ(c.layers[1].n_heads, 8);
  EXPECT_EQ(c.layers[2].attention, AttentionKind::NoOp);
  EXPECT_EQ(c.layers[2].ffn_length, 768);
  EXPECT_EQ(c.layers[3].n_kv_heads, 1);
  EXPECT_EQ(c.layers[3].ffn, FfnKind::NoOp);

  ModelWeights w = bind_model_weights(c, TensorNaming::Gguf, t.catalog, "m.gguf");
  EXPECT_EQ(w.layers[1].attn_linear.name, "blk.1.attn_output.weight");
  EXPECT_FALSE(w.layers[1].wo.present());
  EXPECT_FALSE(w.layers[2].attn_norm.present());
  EXPECT_FALSE(w.layers[3].ffn_norm.present());
  EXPECT_EQ(w.layers[3].wk.shape, (std::vector<int64_t>{8, 64}));
}

TEST(ModelGguf, MapsQwen2WithNeoxRopeAndBiases) {
  MapMetadata m = llama_metadata();
  m.values.clear();
  for (const auto& [key, value] : llama_metadata().values) {
    std::string k = key;
    if (k.rfind("llama.", 0) == 0) k = "qwen2." + k.substr(6);
    m.values[k] = value;
  }
  m.values["general.architecture"] = std::string("qwen2");
  FakeTensors t;
  add_llama_tensors(t, 2, false, true);
  ModelConfig c = gguf_model_config(m, t.catalog, "m.gguf");
  EXPECT_EQ(c.arch, ModelArch::Qwen2);
  EXPECT_EQ(c.rope_layout, RopeLayout::RotateHalf);
  EXPECT_TRUE(c.qkv_bias);
  ModelWeights w = bind_model_weights(c, TensorNaming::Gguf, t.catalog, "m.gguf");
  EXPECT_EQ(w.layers[1].bk.name, "blk.1.attn_k.bias");
  EXPECT_EQ(w.layers[1].bk.shape, (std::vector<int64_t>{16}));
}

TEST(ModelGguf, RejectsUnknownArchitectureListingSupported) {
  MapMetadata m;
  m.values["general.architecture"] = std::string("gpt2");
  std::string e = mapping_error(m);
  EXPECT_NE(e.find("m.gguf: key 'general.architecture': architecture 'gpt2' is not supported (supported: llama, deci, qwen2)"),
            std::string::npos) << e;
  EXPECT_NE(mapping_error(MapMetadata{}).find("missing key 'general.architecture'"), std::string::npos);
}

TEST(ModelGguf, ListsEveryMissingKey) {
  MapMetadata m;
  m.values = {{"general.architecture", std::string("llama")}, {"llama.block_count", uint64_t{2}}};
  std::string e = mapping_error(m);
  for (const char* key : {"llama.embedding_length", "llama.context_length", "llama.attention.layer_norm_rms_epsilon",
                          "llama.feed_forward_length",
                          "llama.attention.head_count", "llama.vocab_size"}) {
    EXPECT_NE(e.find(key), std::string::npos) << key << "\n" << e;
  }
}

TEST(ModelGguf, RejectsMalformedPerLayerValues) {
  MapMetadata m = llama_metadata();
  m.values["llama.attention.head_count"] = std::vector<uint64_t>{4, 4, 4};
  EXPECT_NE(mapping_error(m).find("key 'llama.attention.head_count' has 3 values for 2 layers"), std::string::npos);

  m = llama_metadata();
  m.values["llama.feed_forward_length"] = std::vector<uint64_t>{80, 0};
  EXPECT_NE(mapping_error(m).find("layer 1 has no attention heads or FFN, which only arch deci allows"),
            std::string::npos);

  m = llama_metadata();
  m.values["llama.attention.head_count_kv"] = uint64_t{3};
  EXPECT_NE(mapping_error(m).find("layer 0: 4 heads cannot share 3 kv heads evenly"), std::string::npos);

  m = llama_metadata();
  m.values["llama.expert_count"] = uint64_t{8};
  EXPECT_NE(mapping_error(m).find("key 'llama.expert_count' = 8: mixture-of-experts models are not supported"),
            std::string::npos);

  m = llama_metadata();
  m.values["llama.block_count"] = uint64_t{1000000};
  EXPECT_NE(mapping_error(m).find("key 'llama.block_count' = 1000000 exceeds 65536"), std::string::npos);

  m = llama_metadata();
  m.values["llama.block_count"] = std::string("two");
  EXPECT_THROW(gguf_model_config(m, {}, "m.gguf"), EngineError);
}

TEST(ModelGguf, ReadsRopeScaling) {
  MapMetadata m = llama_metadata();
  m.values["llama.rope.scaling.type"] = std::string("linear");
  m.values["llama.rope.scaling.factor"] = 4.0;
  m.values["llama.rope.scaling.original_context_length"] = uint64_t{32768};
  ModelConfig c = gguf_model_config(m, {}, "m.gguf");
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::Linear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_context_length, 32768);

  m = llama_metadata();
  m.values["llama.rope.scale_linear"] = 2.0;
  EXPECT_EQ(gguf_model_config(m, {}, "m.gguf").rope_scaling.type, RopeScalingType::Linear);

  m.values["llama.rope.scaling.type"] = std::string("yarn");
  EXPECT_NE(mapping_error(m).find("key 'llama.rope.scaling.type' = 'yarn' is not supported"), std::string::npos);
}

TEST(ModelGguf, ReadsEmbeddingPoolingAndAttentionMask) {
  ModelConfig c = gguf_model_config(llama_metadata(), {}, "m.gguf");
  EXPECT_FALSE(c.pooling.has_value()) << "no pooling_type: the model names none";
  EXPECT_TRUE(c.causal_attention);

  MapMetadata m = llama_metadata();
  const std::pair<uint64_t, std::optional<Pooling>> types[] = {
      {0, std::nullopt}, {1, Pooling::Mean}, {2, Pooling::First}, {3, Pooling::Last}};
  for (const auto& [type, pooling] : types) {
    m.values["llama.pooling_type"] = type;
    EXPECT_EQ(gguf_model_config(m, {}, "m.gguf").pooling, pooling) << type;
  }
  m.values["llama.attention.causal"] = false;
  EXPECT_FALSE(gguf_model_config(m, {}, "m.gguf").causal_attention);
  m.values["llama.attention.causal"] = true;
  EXPECT_TRUE(gguf_model_config(m, {}, "m.gguf").causal_attention);
}

TEST(ModelGguf, RejectsRankPoolingAndUnknownPoolingTypes) {
  MapMetadata m = llama_metadata();
  m.values["llama.pooling_type"] = uint64_t{4};
  std::string e = mapping_error(m);
  EXPECT_NE(e.find("m.gguf: unusable GGUF metadata"), std::string::npos) << e;
  EXPECT_NE(e.find("key 'llama.pooling_type' = 4 (rank): reranking models are not supported"), std::string::npos) << e;
  m.values["llama.pooling_type"] = uint64_t{9};
  e = mapping_error(m);
  EXPECT_NE(e.find("key 'llama.pooling_type' = 9 is not a pooling type"), std::string::npos) << e;
  m = llama_metadata();
  m.values["llama.attention.causal"] = uint64_t{0};
  e = mapping_error(m);
  EXPECT_NE(e.find("llama.attention.causal"), std::string::npos) << e;
}

TEST(ModelGguf, ListsMissingAndMisshapenTensorsUnderGgufNames) {
  FakeTensors t;
  add_llama_tensors(t, 2, true, false);
  t.catalog.views.erase("blk.1.ffn_up.weight");
  t.catalog.views.erase("output_norm.weight");
  t.add("blk.0.attn_k.weight", {32, 32});
  ModelConfig c = gguf_model_config(llama_metadata(), t.catalog, "m.gguf");
  try {
    bind_model_weights(c, TensorNaming::Gguf, t.catalog, "m.gguf");
    FAIL() << "expected an error";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("m.gguf: tensors missing or wrong for llama (3)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing tensor 'blk.1.ffn_up.weight' (expected shape [80, 32])"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing tensor 'output_norm.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'blk.0.attn_k.weight' has shape [32, 32], expected [16, 32]"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ragent::engine
