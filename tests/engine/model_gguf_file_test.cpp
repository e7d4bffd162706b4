// Pins engine/model_load.cpp: Model::load tells GGUF files from Hugging Face directories by
// content, and GGUF files load through GgufFile into views that point into the mapped file.
//
// PENDING: needs engine/gguf.cpp (GgufFile, GgufWriter). Move this file to tests/engine/ when
// gguf.cpp is merged; until then it would not link.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf.hpp"
#include "engine/model.hpp"
#include "tests/engine/hf_checkpoint.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;

// Adds an F32 tensor with random values; `shape` is outermost first, GGUF gets it reversed.
// Returns the bytes written.
std::vector<std::byte> add_f32(GgufWriter& w, const std::string& name, std::vector<int64_t> shape,
                               std::mt19937& rng) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<std::byte> bytes = model_testing::random_tensor_bytes(SafetensorsDType::F32, count, rng);
  w.add_tensor(name, GgmlType::F32, std::vector<int64_t>(shape.rbegin(), shape.rend()), bytes);
  return bytes;
}

GgufValue u32(uint64_t v) { return GgufValue{GgufValueType::UINT32, v}; }

GgufArray u32_array(std::initializer_list<uint64_t> values) {
  GgufArray a{GgufValueType::UINT32, {}};
  for (uint64_t v : values) a.values.push_back(u32(v));
  return a;
}

void set_llama_metadata(GgufWriter& w, const std::string& arch) {
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".block_count", 2);
  w.set_u32(arch + ".embedding_length", 32);
  w.set_u32(arch + ".context_length", 2048);
  w.set_u32(arch + ".attention.head_count", 4);
  w.set_u32(arch + ".attention.head_count_kv", 2);
  w.set_u32(arch + ".feed_forward_length", 80);
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32(arch + ".rope.freq_base", 500000.0f);
  w.set_u32(arch + ".rope.dimension_count", 8);
  w.set_u32(arch + ".vocab_size", 96);
}

std::map<std::string, std::vector<std::byte>> add_llama_tensors(GgufWriter& w, bool rope_freqs, std::mt19937& rng) {
  std::map<std::string, std::vector<std::byte>> bytes;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { bytes[name] = add_f32(w, name, shape, rng); };
  add("token_embd.weight", {96, 32});
  add("output_norm.weight", {32});
  if (rope_freqs) add("rope_freqs.weight", {4});
  for (int i = 0; i < 2; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", {32});
    add(p + "attn_q.weight", {32, 32});
    add(p + "attn_k.weight", {16, 32});
    add(p + "attn_v.weight", {16, 32});
    add(p + "attn_output.weight", {32, 32});
    add(p + "ffn_norm.weight", {32});
    add(p + "ffn_gate.weight", {80, 32});
    add(p + "ffn_up.weight", {80, 32});
    add(p + "ffn_down.weight", {32, 80});
  }
  return bytes;
}

std::string load_error(const std::filesystem::path& path) {
  try {
    Model::load(path);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelGgufFile, LoadsLlamaInPlace) {
  TempDir dir;
  std::mt19937 rng(7);
  GgufWriter w;
  set_llama_metadata(w, "llama");
  auto bytes = add_llama_tensors(w, true, rng);
  const auto path = dir.path() / "model.gguf";
  w.write(path);

  Model model = Model::load(path);
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.arch, ModelArch::Llama);
  EXPECT_EQ(c.vocab_size, 96);
  EXPECT_EQ(c.n_layers(), 2);
  EXPECT_EQ(c.context_length, 2048);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_NEAR(c.rms_eps, 1e-5, 1e-9);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_layout, RopeLayout::InterleavedPairs);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.has_rope_freqs);
  const ModelWeights& wt = model.weights();
  EXPECT_EQ(wt.output.data, wt.token_embedding.data);
  EXPECT_EQ(wt.layers[1].wk.shape, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(wt.layers[1].w_down.shape, (std::vector<int64_t>{32, 80}));
  for (const TensorView* v : {&wt.token_embedding, &wt.rope_freqs, &wt.layers[1].wk, &wt.layers[0].w_down}) {
    SCOPED_TRACE(v->name);
    EXPECT_EQ(v->type, GgmlType::F32);
    EXPECT_EQ(model_testing::mapped_path_of(v->data), path.string());
    ASSERT_EQ(v->nbytes, bytes.at(v->name).size());
    EXPECT_EQ(std::memcmp(v->data, bytes.at(v->name).data(), v->nbytes), 0);
  }
}

TEST(ModelGgufFile, LoadsDeciPerLayerArrays) {
  TempDir dir;
  std::mt19937 rng(8);
  GgufWriter w;
  set_llama_metadata(w, "deci");
  w.set_array("deci.attention.head_count", u32_array({4, 4}));
  w.set_array("deci.attention.head_count_kv", u32_array({2, 0}));
  w.set_array("deci.feed_forward_length", u32_array({80, 0}));
  w.set_u32("deci.attention.key_length", 8);
  add_f32(w, "token_embd.weight", {96, 32}, rng);
  add_f32(w, "output_norm.weight", {32}, rng);
  add_f32(w, "output.weight", {96, 32}, rng);
  add_f32(w, "blk.0.attn_norm.weight", {32}, rng);
  add_f32(w, "blk.0.attn_q.weight", {32, 32}, rng);
  add_f32(w, "blk.0.attn_k.weight", {16, 32}, rng);
  add_f32(w, "blk.0.attn_v.weight", {16, 32}, rng);
  add_f32(w, "blk.0.attn_output.weight", {32, 32}, rng);
  add_f32(w, "blk.0.ffn_norm.weight", {32}, rng);
  add_f32(w, "blk.0.ffn_gate.weight", {80, 32}, rng);
  add_f32(w, "blk.0.ffn_up.weight", {80, 32}, rng);
  add_f32(w, "blk.0.ffn_down.weight", {32, 80}, rng);
  add_f32(w, "blk.1.attn_norm.weight", {32}, rng);
  add_f32(w, "blk.1.attn_output.weight", {32, 32}, rng);
  w.write(dir.path() / "deci.gguf");

  Model model = Model::load(dir.path() / "deci.gguf");
  const ModelConfig& c = model.config();
  EXPECT_EQ(c.arch, ModelArch::Deci);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.layers[0].n_kv_heads, 2);
  EXPECT_EQ(c.layers[1].attention, AttentionKind::Linear);
  EXPECT_EQ(c.layers[1].ffn, FfnKind::NoOp);
  EXPECT_EQ(model.weights().layers[1].attn_linear.name, "blk.1.attn_output.weight");
}

TEST(ModelGgufFile, RejectsUnknownArchitectureAndMissingTensors) {
  TempDir dir;
  std::mt19937 rng(9);
  GgufWriter w;
  set_llama_metadata(w, "gpt2");
  w.write(dir.path() / "gpt2.gguf");
  std::string e = load_error(dir.path() / "gpt2.gguf");
  EXPECT_NE(e.find("architecture 'gpt2' is not supported (supported: llama, deci, qwen2)"), std::string::npos) << e;

  GgufWriter partial;
  set_llama_metadata(partial, "llama");
  add_f32(partial, "token_embd.weight", {96, 32}, rng);
  partial.write(dir.path() / "partial.gguf");
  e = load_error(dir.path() / "partial.gguf");
  EXPECT_NE(e.find((dir.path() / "partial.gguf").string() + ": tensors missing or wrong for llama (19)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("missing tensor 'blk.1.ffn_down.weight'"), std::string::npos) << e;
}

TEST(ModelLoad, DetectsFormatByContent) {
  TempDir dir;
  std::mt19937 rng(10);
  GgufWriter w;
  set_llama_metadata(w, "llama");
  add_llama_tensors(w, false, rng);
  w.write(dir.path() / "weights.bin");  // the extension does not matter
  EXPECT_EQ(Model::load(dir.path() / "weights.bin").config().rope_layout, RopeLayout::InterleavedPairs);

  const auto hf = dir.path() / "hf";
  std::filesystem::create_directory(hf);
  model_testing::write_text(hf / "config.json",
                            R"({"model_type":"qwen2","vocab_size":8,"hidden_size":8,"intermediate_size":8,)"
                            R"("num_hidden_layers":1,"num_attention_heads":1,"tie_word_embeddings":true})");
  model_testing::write_checkpoint(hf, {{"model.embed_tokens.weight", {8, 8}}, {"model.norm.weight", {8}},
                                       {"model.layers.0.input_layernorm.weight", {8}},
                                       {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
                                       {"model.layers.0.self_attn.k_proj.weight", {8, 8}},
                                       {"model.layers.0.self_attn.v_proj.weight", {8, 8}},
                                       {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
                                       {"model.layers.0.self_attn.q_proj.bias", {8}},
                                       {"model.layers.0.self_attn.k_proj.bias", {8}},
                                       {"model.layers.0.self_attn.v_proj.bias", {8}},
                                       {"model.layers.0.post_attention_layernorm.weight", {8}},
                                       {"model.layers.0.mlp.gate_proj.weight", {8, 8}},
                                       {"model.layers.0.mlp.up_proj.weight", {8, 8}},
                                       {"model.layers.0.mlp.down_proj.weight", {8, 8}}},
                                SafetensorsDType::BF16);
  Model qwen = Model::load(hf);
  EXPECT_EQ(qwen.config().arch, ModelArch::Qwen2);
  EXPECT_EQ(qwen.config().rope_layout, RopeLayout::RotateHalf);

  model_testing::write_text(dir.path() / "notes.txt", "hello");
  EXPECT_NE(load_error(dir.path() / "notes.txt").find("not a model"), std::string::npos);
  std::filesystem::create_directory(dir.path() / "empty");
  EXPECT_NE(load_error(dir.path() / "empty").find("no config.json"), std::string::npos);
  EXPECT_NE(load_error(dir.path() / "absent").find("no such file or directory"), std::string::npos);
}

}  // namespace
}  // namespace ragent::engine
