// GGUF metadata -> ModelConfig, following the keys llama.cpp writes for arch llama, deci and
// qwen2. Reads through MetadataSource, so it does not depend on the file reader.
#include <cstdint>
#include <utility>

#include "engine/model.hpp"

namespace ragent::engine {

namespace {

class GgufConfigReader {
 public:
  GgufConfigReader(const MetadataSource& metadata, std::string arch)
      : metadata_(metadata), prefix_(std::move(arch) + ".") {}

  std::string key(std::string_view suffix) const { return prefix_ + std::string(suffix); }

  std::optional<uint64_t> get_u64(std::string_view suffix) const { return metadata_.get_u64(key(suffix)); }
  std::optional<double> get_f64(std::string_view suffix) const { return metadata_.get_f64(key(suffix)); }
  std::optional<bool> get_bool(std::string_view suffix) const { return metadata_.get_bool(key(suffix)); }
  std::optional<std::string> get_string(std::string_view suffix) const {
    return metadata_.get_string(key(suffix));
  }

  int64_t require_u64(std::string_view suffix) {
    auto v = get_u64(suffix);
    if (!v) {
      problems.push_back("missing key '" + key(suffix) + "'");
      return 0;
    }
    if (*v > static_cast<uint64_t>(kMaxModelDimension)) {
      problems.push_back("key '" + key(suffix) + "' = " + std::to_string(*v) + " is too large");
      return 0;
    }
    return static_cast<int64_t>(*v);
  }

  // A per-layer count stored as one value for all layers or as an array of n_layers values.
  // A missing required key is recorded as a problem; a malformed one always is.
  std::optional<std::vector<int64_t>> per_layer(std::string_view suffix, int64_t n_layers, bool required) {
    auto values = metadata_.get_u64_values(key(suffix));
    if (!values) {
      if (required) problems.push_back("missing key '" + key(suffix) + "'");
      return std::nullopt;
    }
    std::vector<int64_t> out;
    if (values->size() == 1) {
      out.assign(static_cast<size_t>(n_layers), 0);
      for (auto& v : out) v = static_cast<int64_t>(values->front());
    } else if (static_cast<int64_t>(values->size()) == n_layers) {
      for (uint64_t v : *values) out.push_back(static_cast<int64_t>(v));
    } else {
      problems.push_back("key '" + key(suffix) + "' has " + std::to_string(values->size()) +
                         " values for " + std::to_string(n_layers) + " layers");
      return std::nullopt;
    }
    for (uint64_t v : *values) {
      if (v > static_cast<uint64_t>(kMaxModelDimension)) {
        problems.push_back("key '" + key(suffix) + "' holds " + std::to_string(v) + ", which is too large");
        return std::nullopt;
      }
    }
    return out;
  }

  std::vector<std::string> problems;

 private:
  const MetadataSource& metadata_;
  std::string prefix_;
};

int64_t get_or(std::optional<uint64_t> value, int64_t fallback) {
  return value ? static_cast<int64_t>(*value) : fallback;
}

bool catalog_has(const TensorCatalog& catalog, const std::string& name) {
  return catalog.views.count(name) != 0 || catalog.unusable.count(name) != 0;
}

void read_rope_scaling(GgufConfigReader& r, ModelConfig& c) {
  std::string type = r.get_string("rope.scaling.type").value_or("none");
  RopeScaling& rs = c.rope_scaling;
  if (type == "none") {
    // Older files give a linear factor without a type.
    if (auto factor = r.get_f64("rope.scale_linear"); factor && *factor != 1.0) {
      rs.type = RopeScalingType::Linear;
      rs.factor = *factor;
    }
  } else if (type == "linear") {
    rs.type = RopeScalingType::Linear;
    rs.factor = r.get_f64("rope.scaling.factor").value_or(1.0);
  } else {
    r.problems.push_back("key '" + r.key("rope.scaling.type") + "' = '" + type +
                         "' is not supported (supported: none, linear)");
    return;
  }
  if (auto original = r.get_u64("rope.scaling.original_context_length")) {
    rs.original_context_length = static_cast<int64_t>(*original);
  }
}

// Embedding models: llama.cpp's pooling types (0 none, 1 mean, 2 cls, 3 last, 4 rank) and
// attention mask.
void read_embedding(GgufConfigReader& r, ModelConfig& c) {
  if (auto type = r.get_u64("pooling_type")) {
    switch (*type) {
      case 0: break;
      case 1: c.pooling = Pooling::Mean; break;
      case 2: c.pooling = Pooling::First; break;
      case 3: c.pooling = Pooling::Last; break;
      case 4:
        r.problems.push_back("key '" + r.key("pooling_type") + "' = 4 (rank): reranking models are not supported");
        break;
      default:
        r.problems.push_back("key '" + r.key("pooling_type") + "' = " + std::to_string(*type) +
                             " is not a pooling type (0 none, 1 mean, 2 cls, 3 last)");
    }
  }
  c.causal_attention = r.get_bool("attention.causal").value_or(true);
}

// Layer kinds as llama.cpp encodes them for deci: heads == 0 skips attention, kv heads == 0
// with heads > 0 is the linear replacement, FFN length 0 skips the FFN.
void read_layers(GgufConfigReader& r, ModelConfig& c, int64_t n_layers) {
  auto heads = r.per_layer("attention.head_count", n_layers, true);
  auto kv_heads = r.per_layer("attention.head_count_kv", n_layers, false);
  auto ffn = r.per_layer("feed_forward_length", n_layers, true);
  if (!heads || !ffn) return;
  if (!kv_heads) kv_heads = heads;
  for (size_t i = 0; i < static_cast<size_t>(n_layers); ++i) {
    LayerConfig l;
    l.n_heads = (*heads)[i];
    l.n_kv_heads = (*kv_heads)[i];
    l.ffn_length = (*ffn)[i];
    if (l.n_heads == 0) {
      l.attention = AttentionKind::NoOp;
    } else if (l.n_kv_heads == 0) {
      l.attention = AttentionKind::Linear;
    }
    if (l.ffn_length == 0) l.ffn = FfnKind::NoOp;
    if (c.arch != ModelArch::Deci && (l.attention != AttentionKind::Normal || l.ffn != FfnKind::Normal)) {
      r.problems.push_back("layer " + std::to_string(i) + " has no attention heads or FFN, which only arch deci allows");
    }
    c.layers.push_back(l);
  }
}

int64_t default_head_dim(const ModelConfig& c) {
  for (const LayerConfig& l : c.layers) {
    if (l.n_heads > 0 && c.hidden_size % l.n_heads == 0) return c.hidden_size / l.n_heads;
  }
  return 0;
}

}  // namespace

ModelConfig gguf_model_config(const MetadataSource& metadata, const TensorCatalog& catalog,
                              const std::string& source) {
  auto arch_name = metadata.get_string("general.architecture");
  if (!arch_name) throw EngineError(source + ": missing key 'general.architecture'");
  auto arch = parse_model_arch(*arch_name);
  if (!arch) {
    throw EngineError(source + ": key 'general.architecture': architecture '" + *arch_name +
                      "' is not supported (supported: " + supported_model_archs() + ")");
  }
  GgufConfigReader r(metadata, *arch_name);
  ModelConfig c;
  c.arch = *arch;
  // llama.cpp's converters permute Q/K rows of llama and deci for interleaved-pair rotation;
  // qwen2 keeps the Hugging Face order (NeoX rotation).
  c.rope_layout = c.arch == ModelArch::Qwen2 ? RopeLayout::RotateHalf : RopeLayout::InterleavedPairs;
  const int64_t n_layers = r.require_u64("block_count");
  c.hidden_size = r.require_u64("embedding_length");
  c.context_length = r.require_u64("context_length");
  if (auto eps = r.get_f64("attention.layer_norm_rms_epsilon")) {
    c.rms_eps = *eps;
  } else {
    r.problems.push_back("missing key '" + r.key("attention.layer_norm_rms_epsilon") + "'");
  }
  c.rope_theta = r.get_f64("rope.freq_base").value_or(10000.0);
  // Mixtral-style files say "llama" too; their expert tensors have other names and shapes.
  if (auto experts = r.get_u64("expert_count"); experts && *experts > 0) {
    r.problems.push_back("key '" + r.key("expert_count") + "' = " + std::to_string(*experts) +
                         ": mixture-of-experts models are not supported");
  }
  if (n_layers > kMaxModelLayers) {
    r.problems.push_back("key '" + r.key("block_count") + "' = " + std::to_string(n_layers) + " exceeds " +
                         std::to_string(kMaxModelLayers));
  } else if (n_layers > 0) {
    read_layers(r, c, n_layers);
  }

  c.head_dim = get_or(r.get_u64("attention.key_length"), default_head_dim(c));
  if (auto value_length = r.get_u64("attention.value_length");
      value_length && static_cast<int64_t>(*value_length) != c.head_dim) {
    r.problems.push_back("key '" + r.key("attention.value_length") + "' = " + std::to_string(*value_length) +
                         " differs from the key length " + std::to_string(c.head_dim) + ", which is not supported");
  }
  c.rope_dim = get_or(r.get_u64("rope.dimension_count"), c.head_dim);
  read_rope_scaling(r, c);
  read_embedding(r, c);

  if (auto vocab = r.get_u64("vocab_size")) {
    c.vocab_size = static_cast<int64_t>(*vocab);
  } else if (auto it = catalog.views.find("token_embd.weight"); it != catalog.views.end() && it->second.shape.size() == 2) {
    c.vocab_size = it->second.shape[0];
  } else {
    r.problems.push_back("no key '" + r.key("vocab_size") + "' and no tensor 'token_embd.weight' to take it from");
  }
  c.tied_embeddings = !catalog_has(catalog, "output.weight");
  c.has_rope_freqs = catalog_has(catalog, "rope_freqs.weight");
  // Biases are optional for llama in llama.cpp; take them when the first attention layer has them.
  for (size_t i = 0; i < c.layers.size(); ++i) {
    if (c.layers[i].attention != AttentionKind::Normal) continue;
    const std::string blk = "blk." + std::to_string(i) + ".";
    c.qkv_bias = c.arch == ModelArch::Qwen2 || catalog_has(catalog, blk + "attn_q.bias");
    c.attn_out_bias = catalog_has(catalog, blk + "attn_output.bias");
    break;
  }

  if (!r.problems.empty()) {
    std::string msg = source + ": unusable GGUF metadata (" + std::to_string(r.problems.size()) + "):";
    for (const std::string& p : r.problems) msg += "\n  " + p;
    throw EngineError(msg);
  }
  validate_model_config(c, source);
  return c;
}

}  // namespace ragent::engine
