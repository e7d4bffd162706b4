// Test helpers: tiny random-weight models of arch llama, deci and qwen2, held in Hugging Face
// naming and orientation, written three ways from the same values:
//   - a GGUF through our writer, with Q/K rows permuted for llama and deci exactly as llama.cpp's
//     converter does (interleaved-pair RoPE), matrices in any quantized type;
//   - a Hugging Face directory (config.json + F32 safetensors, rotate-half RoPE);
//   - a dump for tests/reference/torch_forward.py (raw f32 tensors + config.json), optionally
//     asking it for an embedding instead of logits.
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/backend.hpp"
#include "engine/gguf.hpp"
#include "engine/model.hpp"
#include "engine/safetensors.hpp"
#include "kernels/cpu/quant.hpp"
#include "tests/engine/hf_checkpoint.hpp"

namespace ragent::engine::model_testing {

struct TinyTensor {
  std::vector<int64_t> shape;  // outermost first
  std::vector<float> values;
};

struct TinyModel {
  ModelConfig config;  // rope_layout RotateHalf: the Hugging Face orientation of `tensors`
  std::map<std::string, TinyTensor> tensors;  // Hugging Face names; "rope_freqs" for the divisors
};

inline LayerConfig attention_layer(int64_t heads, int64_t kv_heads, int64_t ffn_length) {
  return LayerConfig{AttentionKind::Normal, heads, kv_heads, FfnKind::Normal, ffn_length};
}

// A llama of `layers` identical layers, vocabulary 256, context 131072, full-width RoPE.
inline ModelConfig llama_config(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t ffn, int64_t layers) {
  ModelConfig c;
  c.arch = ModelArch::Llama;
  c.vocab_size = 256;
  c.hidden_size = hidden;
  c.context_length = 131072;
  c.head_dim = hidden / heads;
  c.rope_dim = c.head_dim;
  c.rms_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.layers.assign(static_cast<size_t>(layers), attention_layer(heads, kv_heads, ffn));
  return c;
}

// Llama 3 RoPE scaling as per-frequency divisors, the form GGUF stores (rope_freqs.weight).
inline std::vector<float> llama3_rope_divisors(const ModelConfig& c, const RopeScaling& s) {
  std::vector<float> divisors(static_cast<size_t>(c.rope_dim / 2));
  const double low_wavelength = static_cast<double>(s.original_context_length) / s.low_freq_factor;
  const double high_wavelength = static_cast<double>(s.original_context_length) / s.high_freq_factor;
  for (size_t i = 0; i < divisors.size(); ++i) {
    const double freq = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim));
    const double wavelength = 2.0 * std::numbers::pi / freq;
    double divisor = 1.0;
    if (wavelength > low_wavelength) {
      divisor = s.factor;
    } else if (wavelength >= high_wavelength) {
      const double smooth = (static_cast<double>(s.original_context_length) / wavelength - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / s.factor + smooth);
    }
    divisors[i] = static_cast<float>(divisor);
  }
  return divisors;
}

// Random weights for `config` (its layers, biases, tying and rope_freqs flags). Matrices have
// entries of standard deviation 1/sqrt(fan_in), so activations stay O(1) and attention is far
// from uniform; norms are 1 + N(0, 0.1^2); embeddings N(0, 1); biases N(0, 0.1^2).
// `rope_freqs_scaling` supplies the divisors when config.has_rope_freqs.
inline TinyModel make_tiny_model(const ModelConfig& config, uint32_t seed, const RopeScaling& rope_freqs_scaling = {}) {
  TinyModel m{config, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean, float stddev) {
    TinyTensor t{shape, {}};
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    t.values.resize(static_cast<size_t>(count));
    for (float& v : t.values) v = mean + stddev * normal(rng);
    m.tensors[name] = std::move(t);
  };
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    add(name, {rows, cols}, 0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
  };
  const int64_t hidden = config.hidden_size;
  add("model.embed_tokens.weight", {config.vocab_size, hidden}, 0.0f, 1.0f);
  add("model.norm.weight", {hidden}, 1.0f, 0.1f);
  if (!config.tied_embeddings) matrix("lm_head.weight", config.vocab_size, hidden);
  if (config.has_rope_freqs) {
    const auto divisors = llama3_rope_divisors(config, rope_freqs_scaling);
    m.tensors["rope_freqs"] = TinyTensor{{static_cast<int64_t>(divisors.size())}, divisors};
  }
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& l = config.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t q_dim = l.n_heads * config.head_dim;
    const int64_t kv_dim = l.n_kv_heads * config.head_dim;
    if (l.attention != AttentionKind::NoOp) add(p + "input_layernorm.weight", {hidden}, 1.0f, 0.1f);
    if (l.attention == AttentionKind::Linear) matrix(p + "self_attn.linear_attn.weight", hidden, hidden);
    if (l.attention == AttentionKind::Normal) {
      matrix(p + "self_attn.q_proj.weight", q_dim, hidden);
      matrix(p + "self_attn.k_proj.weight", kv_dim, hidden);
      matrix(p + "self_attn.v_proj.weight", kv_dim, hidden);
      matrix(p + "self_attn.o_proj.weight", hidden, q_dim);
      if (config.qkv_bias) {
        add(p + "self_attn.q_proj.bias", {q_dim}, 0.0f, 0.1f);
        add(p + "self_attn.k_proj.bias", {kv_dim}, 0.0f, 0.1f);
        add(p + "self_attn.v_proj.bias", {kv_dim}, 0.0f, 0.1f);
      }
      if (config.attn_out_bias) add(p + "self_attn.o_proj.bias", {hidden}, 0.0f, 0.1f);
    }
    if (l.ffn != FfnKind::NoOp) add(p + "post_attention_layernorm.weight", {hidden}, 1.0f, 0.1f);
    if (l.ffn == FfnKind::Linear) matrix(p + "mlp.linear_mlp.weight", hidden, hidden);
    if (l.ffn == FfnKind::Normal) {
      matrix(p + "mlp.gate_proj.weight", l.ffn_length, hidden);
      matrix(p + "mlp.up_proj.weight", l.ffn_length, hidden);
      matrix(p + "mlp.down_proj.weight", hidden, l.ffn_length);
    }
  }
  return m;
}

// What a GGUF of `type` holds for each matrix, read back: every row quantized and dequantized
// (rows are quantized independently, so this does not depend on the GGUF row permutation).
// Vectors (norms, biases, divisors) stay F32, as the writer below keeps them.
inline TinyModel dequantized(const TinyModel& m, GgmlType type) {
  TinyModel out = m;
  const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(type));
  for (auto& [name, t] : out.tensors) {
    if (t.shape.size() != 2) continue;
    std::vector<std::byte> block(kernels::row_bytes(q, t.shape[1]));
    for (int64_t r = 0; r < t.shape[0]; ++r) {
      float* row = t.values.data() + r * t.shape[1];
      kernels::quantize_row(q, row, block.data(), t.shape[1]);
      kernels::dequantize_row(q, block.data(), row, t.shape[1]);
    }
  }
  return out;
}

// llama.cpp's converter order for Q/K of llama and deci: within each head, rows (j, j + d/2)
// become (2j, 2j + 1), so that rotating adjacent pairs equals Hugging Face's rotate-half.
// Works on matrices (row = `row_width` values) and biases (row_width 1).
inline std::vector<float> permute_for_interleaved_rope(const std::vector<float>& v, int64_t n_heads,
                                                       int64_t head_dim, int64_t row_width) {
  std::vector<float> out(v.size());
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t j = 0; j < half; ++j) {
      for (int64_t s = 0; s < 2; ++s) {
        const int64_t from = h * head_dim + s * half + j;
        const int64_t to = h * head_dim + 2 * j + s;
        std::memcpy(out.data() + to * row_width, v.data() + from * row_width, static_cast<size_t>(row_width) * sizeof(float));
      }
    }
  }
  return out;
}

inline GgufValue gguf_u32(int64_t v) { return GgufValue{GgufValueType::UINT32, static_cast<uint64_t>(v)}; }

inline GgufArray gguf_u32_array(const std::vector<int64_t>& values) {
  GgufArray a{GgufValueType::UINT32, {}};
  for (int64_t v : values) a.values.push_back(gguf_u32(v));
  return a;
}

// GGUF name of a Hugging Face tensor name; "" when GGUF has none (deci's linear FFN).
inline std::string gguf_tensor_name(const std::string& hf) {
  static const std::map<std::string, std::string> globals = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                             {"model.norm.weight", "output_norm.weight"},
                                                             {"lm_head.weight", "output.weight"},
                                                             {"rope_freqs", "rope_freqs.weight"}};
  if (auto it = globals.find(hf); it != globals.end()) return it->second;
  static const std::map<std::string, std::string> per_layer = {
      {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},          {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.bias", "attn_output.bias"},     {"self_attn.linear_attn.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},           {"mlp.down_proj.weight", "ffn_down.weight"}};
  const std::string prefix = "model.layers.";
  const size_t dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  auto it = per_layer.find(hf.substr(dot + 1));
  return it == per_layer.end() ? "" : "blk." + layer + "." + it->second;
}

// Writes `m` as a GGUF; matrices as `type` (rows must be whole blocks), vectors as F32.
// `more_metadata` may add keys (a tokenizer) before the file is written.
inline void write_tiny_gguf(const TinyModel& m, GgmlType type, const std::filesystem::path& path,
                            const std::function<void(GgufWriter&)>& more_metadata = {}) {
  const ModelConfig& c = m.config;
  const std::string arch(model_arch_name(c.arch));
  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".block_count", static_cast<uint32_t>(c.layers.size()));
  w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set_u32(arch + ".context_length", static_cast<uint32_t>(c.context_length));
  std::vector<int64_t> heads, kv_heads, ffn;
  for (const LayerConfig& l : c.layers) {
    heads.push_back(l.n_heads);
    kv_heads.push_back(l.n_kv_heads);
    ffn.push_back(l.ffn_length);
  }
  if (c.arch == ModelArch::Deci) {
    w.set_array(arch + ".attention.head_count", gguf_u32_array(heads));
    w.set_array(arch + ".attention.head_count_kv", gguf_u32_array(kv_heads));
    w.set_array(arch + ".feed_forward_length", gguf_u32_array(ffn));
  } else {
    w.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(heads[0]));
    w.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(kv_heads[0]));
    w.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(ffn[0]));
  }
  w.set_u32(arch + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(arch + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
  w.set_f32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.rope_dim));
  if (c.rope_scaling.type == RopeScalingType::Linear) {
    w.set_string(arch + ".rope.scaling.type", "linear");
    w.set_f32(arch + ".rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
  }
  w.set_u32(arch + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  // llama.cpp's pooling types: 1 mean, 2 cls (first), 3 last.
  if (c.pooling) w.set_u32(arch + ".pooling_type", *c.pooling == Pooling::Mean ? 1 : *c.pooling == Pooling::First ? 2 : 3);
  if (!c.causal_attention) w.set_bool(arch + ".attention.causal", false);
  if (more_metadata) more_metadata(w);

  const bool permute = c.arch != ModelArch::Qwen2;
  const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(type));
  for (const auto& [hf_name, t] : m.tensors) {
    const std::string name = gguf_tensor_name(hf_name);
    if (name.empty()) throw std::runtime_error("GGUF has no name for " + hf_name);
    std::vector<float> values = t.values;
    const bool is_q = hf_name.find("q_proj") != std::string::npos;
    const bool is_k = hf_name.find("k_proj") != std::string::npos;
    if (permute && (is_q || is_k)) {
      const size_t layer = std::stoul(hf_name.substr(std::string("model.layers.").size()));
      const LayerConfig& l = c.layers[layer];
      const int64_t row_width = t.shape.size() == 2 ? t.shape[1] : 1;
      values = permute_for_interleaved_rope(values, is_q ? l.n_heads : l.n_kv_heads, c.head_dim, row_width);
    }
    const std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    if (t.shape.size() != 2 || type == GgmlType::F32) {
      w.add_tensor(name, GgmlType::F32, ne, std::as_bytes(std::span<const float>(values)));
      continue;
    }
    const size_t row_size = kernels::row_bytes(q, t.shape[1]);
    std::vector<std::byte> bytes(row_size * static_cast<size_t>(t.shape[0]));
    for (int64_t r = 0; r < t.shape[0]; ++r) {
      kernels::quantize_row(q, values.data() + r * t.shape[1], bytes.data() + static_cast<size_t>(r) * row_size, t.shape[1]);
    }
    w.add_tensor(name, type, ne, bytes);
  }
  w.write(path);
}

inline boost::json::object hf_rope_scaling(const RopeScaling& s) {
  if (s.type == RopeScalingType::Linear) return {{"rope_type", "linear"}, {"factor", s.factor}};
  return {{"rope_type", "llama3"},
          {"factor", s.factor},
          {"low_freq_factor", s.low_freq_factor},
          {"high_freq_factor", s.high_freq_factor},
          {"original_max_position_embeddings", s.original_context_length}};
}

// Writes `m` as a Hugging Face directory: config.json and model.safetensors (F32). Deci FFN
// lengths must be what ffn_mult 1.0 gives (deci_ffn_length).
inline void write_tiny_hf_dir(const TinyModel& m, const std::filesystem::path& dir) {
  const ModelConfig& c = m.config;
  const LayerConfig& first = c.layers.front();
  boost::json::object config{{"vocab_size", c.vocab_size},
                             {"hidden_size", c.hidden_size},
                             {"num_hidden_layers", c.layers.size()},
                             {"num_attention_heads", first.n_heads},
                             {"num_key_value_heads", first.n_kv_heads},
                             {"intermediate_size", first.ffn_length},
                             {"head_dim", c.head_dim},
                             {"max_position_embeddings", c.context_length},
                             {"rms_norm_eps", c.rms_eps},
                             {"rope_theta", c.rope_theta},
                             {"tie_word_embeddings", c.tied_embeddings}};
  if (c.rope_scaling.type != RopeScalingType::None) config["rope_scaling"] = hf_rope_scaling(c.rope_scaling);
  if (c.arch == ModelArch::Llama) config["model_type"] = "llama";
  if (c.arch == ModelArch::Qwen2) config["model_type"] = "qwen2";
  if (c.arch == ModelArch::Deci) {
    config["model_type"] = "nemotron-nas";
    boost::json::array blocks;
    for (const LayerConfig& l : c.layers) {
      boost::json::object attention, ffn;
      if (l.attention == AttentionKind::NoOp) attention["no_op"] = true;
      if (l.attention == AttentionKind::Linear) attention["replace_with_linear"] = true;
      if (l.attention == AttentionKind::Normal) attention["n_heads_in_group"] = l.n_heads / l.n_kv_heads;
      if (l.ffn == FfnKind::NoOp) ffn["no_op"] = true;
      if (l.ffn == FfnKind::Linear) ffn["replace_with_linear"] = true;
      if (l.ffn == FfnKind::Normal) {
        if (l.ffn_length != deci_ffn_length(1.0, c.hidden_size)) throw std::runtime_error("deci FFN length");
        ffn["ffn_mult"] = 1.0;
      }
      blocks.push_back(boost::json::object{{"attention", attention}, {"ffn", ffn}});
    }
    config["block_configs"] = blocks;
  }
  write_text(dir / "config.json", boost::json::serialize(config));
  SafetensorsWriter w;
  for (const auto& [name, t] : m.tensors) {
    if (name == "rope_freqs") throw std::runtime_error("Hugging Face checkpoints have no rope_freqs");
    w.add_tensor(name, SafetensorsDType::F32, t.shape, std::as_bytes(std::span<const float>(t.values)));
  }
  w.set_metadata("format", "pt");
  w.write(dir / "model.safetensors");
}

inline std::string_view kind_name(AttentionKind k) {
  return k == AttentionKind::Normal ? "normal" : k == AttentionKind::Linear ? "linear" : "no_op";
}
inline std::string_view kind_name(FfnKind k) {
  return k == FfnKind::Normal ? "normal" : k == FfnKind::Linear ? "linear" : "no_op";
}

// Writes what tests/reference/torch_forward.py reads: DIR/config.json and one raw f32 file per
// tensor. With `embedding`, the reference computes that embedding (its mask, pooling and
// normalization) instead of logits.
inline void write_reference_dump(const TinyModel& m, const std::filesystem::path& dir,
                                 const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                                 int greedy_steps, const std::optional<EmbeddingOptions>& embedding = std::nullopt) {
  const ModelConfig& c = m.config;
  boost::json::object tensors;
  int index = 0;
  for (const auto& [name, t] : m.tensors) {
    std::string file = std::to_string(index++);
    file += ".f32";
    std::vector<std::byte> bytes(t.values.size() * sizeof(float));
    std::memcpy(bytes.data(), t.values.data(), bytes.size());
    write_bytes(dir / file, bytes);
    tensors[name] = boost::json::object{{"file", file}, {"shape", boost::json::value_from(t.shape)}};
  }
  boost::json::array layers;
  for (const LayerConfig& l : c.layers) {
    layers.push_back(boost::json::object{{"attention", kind_name(l.attention)}, {"n_heads", l.n_heads},
                                         {"n_kv_heads", l.n_kv_heads}, {"ffn", kind_name(l.ffn)},
                                         {"ffn_length", l.ffn_length}});
  }
  const RopeScaling& s = c.rope_scaling;
  boost::json::object scaling = hf_rope_scaling(s);
  scaling["type"] = s.type == RopeScalingType::None ? "none" : s.type == RopeScalingType::Linear ? "linear" : "llama3";
  boost::json::object config{{"arch", model_arch_name(c.arch)},  {"vocab_size", c.vocab_size},
                             {"hidden_size", c.hidden_size},     {"head_dim", c.head_dim},
                             {"rope_dim", c.rope_dim},           {"rms_eps", c.rms_eps},
                             {"rope_theta", c.rope_theta},       {"rope_scaling", scaling},
                             {"tied_embeddings", c.tied_embeddings}, {"layers", layers},
                             {"tensors", tensors},               {"tokens", boost::json::value_from(tokens)},
                             {"positions", boost::json::value_from(positions)}, {"greedy_steps", greedy_steps}};
  if (embedding) {
    config["causal"] = embedding->causal;
    config["embedding"] = boost::json::object{{"pooling", pooling_name(embedding->pooling)},
                                              {"normalize", embedding->normalize}};
  }
  write_text(dir / "config.json", boost::json::serialize(config));
}

}  // namespace ragent::engine::model_testing
