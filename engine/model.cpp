#include "engine/model.hpp"

#include <utility>

namespace ragent::engine {

namespace {

constexpr std::pair<ModelArch, std::string_view> kArchNames[] = {
    {ModelArch::Llama, "llama"},
    {ModelArch::Deci, "deci"},
    {ModelArch::Qwen2, "qwen2"},
};

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string join_problems(const std::string& source, const std::string& what,
                          const std::vector<std::string>& problems) {
  std::string msg = source + ": " + what + " (" + std::to_string(problems.size()) + "):";
  for (const std::string& p : problems) msg += "\n  " + p;
  return msg;
}

// Tensor names of one checkpoint convention.
struct NameScheme {
  TensorNaming naming;

  std::string global(std::string_view hf, std::string_view gguf) const {
    return std::string(naming == TensorNaming::HuggingFace ? hf : gguf);
  }
  std::string layer(int64_t i, std::string_view hf, std::string_view gguf) const {
    std::string index = std::to_string(i);
    if (naming == TensorNaming::HuggingFace) return "model.layers." + index + "." + std::string(hf);
    return "blk." + index + "." + std::string(gguf);
  }
};

// Looks tensors up and records every problem instead of stopping at the first.
class Binder {
 public:
  explicit Binder(const TensorCatalog& catalog) : catalog_(catalog) {}

  TensorView take(const std::string& name, const std::vector<int64_t>& shape) {
    if (auto it = catalog_.unusable.find(name); it != catalog_.unusable.end()) {
      problems_.push_back("tensor '" + name + "': " + it->second);
      return {};
    }
    auto it = catalog_.views.find(name);
    if (it == catalog_.views.end()) {
      problems_.push_back("missing tensor '" + name + "' (expected shape " + shape_string(shape) + ")");
      return {};
    }
    if (it->second.shape != shape) {
      problems_.push_back("tensor '" + name + "' has shape " + shape_string(it->second.shape) +
                          ", expected " + shape_string(shape));
      return {};
    }
    return it->second;
  }
  void problem(std::string what) { problems_.push_back(std::move(what)); }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  const TensorCatalog& catalog_;
  std::vector<std::string> problems_;
};

void bind_attention(const ModelConfig& c, int64_t i, const NameScheme& n, Binder& b, LayerWeights& w) {
  const LayerConfig& l = c.layers[static_cast<size_t>(i)];
  const int64_t hidden = c.hidden_size;
  if (l.attention == AttentionKind::NoOp) return;
  w.attn_norm = b.take(n.layer(i, "input_layernorm.weight", "attn_norm.weight"), {hidden});
  if (l.attention == AttentionKind::Linear) {
    // llama.cpp stores deci's linear attention replacement as the output projection.
    w.attn_linear = b.take(n.layer(i, "self_attn.linear_attn.weight", "attn_output.weight"), {hidden, hidden});
    return;
  }
  const int64_t q_dim = l.n_heads * c.head_dim;
  const int64_t kv_dim = l.n_kv_heads * c.head_dim;
  w.wq = b.take(n.layer(i, "self_attn.q_proj.weight", "attn_q.weight"), {q_dim, hidden});
  w.wk = b.take(n.layer(i, "self_attn.k_proj.weight", "attn_k.weight"), {kv_dim, hidden});
  w.wv = b.take(n.layer(i, "self_attn.v_proj.weight", "attn_v.weight"), {kv_dim, hidden});
  w.wo = b.take(n.layer(i, "self_attn.o_proj.weight", "attn_output.weight"), {hidden, q_dim});
  if (c.qkv_bias) {
    w.bq = b.take(n.layer(i, "self_attn.q_proj.bias", "attn_q.bias"), {q_dim});
    w.bk = b.take(n.layer(i, "self_attn.k_proj.bias", "attn_k.bias"), {kv_dim});
    w.bv = b.take(n.layer(i, "self_attn.v_proj.bias", "attn_v.bias"), {kv_dim});
  }
  if (c.attn_out_bias) w.bo = b.take(n.layer(i, "self_attn.o_proj.bias", "attn_output.bias"), {hidden});
}

void bind_ffn(const ModelConfig& c, int64_t i, const NameScheme& n, Binder& b, LayerWeights& w) {
  const LayerConfig& l = c.layers[static_cast<size_t>(i)];
  const int64_t hidden = c.hidden_size;
  if (l.ffn == FfnKind::NoOp) return;
  w.ffn_norm = b.take(n.layer(i, "post_attention_layernorm.weight", "ffn_norm.weight"), {hidden});
  if (l.ffn == FfnKind::Linear) {
    if (n.naming == TensorNaming::Gguf) {
      b.problem("layer " + std::to_string(i) + ": GGUF has no tensor name for a linear FFN replacement");
      return;
    }
    w.ffn_linear = b.take(n.layer(i, "mlp.linear_mlp.weight", ""), {hidden, hidden});
    return;
  }
  w.w_gate = b.take(n.layer(i, "mlp.gate_proj.weight", "ffn_gate.weight"), {l.ffn_length, hidden});
  w.w_up = b.take(n.layer(i, "mlp.up_proj.weight", "ffn_up.weight"), {l.ffn_length, hidden});
  w.w_down = b.take(n.layer(i, "mlp.down_proj.weight", "ffn_down.weight"), {hidden, l.ffn_length});
}

}  // namespace

std::string_view model_arch_name(ModelArch arch) {
  for (const auto& [a, name] : kArchNames) {
    if (a == arch) return name;
  }
  return "unknown";
}

std::optional<ModelArch> parse_model_arch(std::string_view gguf_name) {
  for (const auto& [a, name] : kArchNames) {
    if (name == gguf_name) return a;
  }
  return std::nullopt;
}

std::string supported_model_archs() {
  std::string s;
  for (const auto& [a, name] : kArchNames) {
    if (!s.empty()) s += ", ";
    s += name;
  }
  return s;
}

std::string_view rope_layout_name(RopeLayout layout) {
  return layout == RopeLayout::RotateHalf ? "rotate-half" : "interleaved-pairs";
}

std::string_view pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::Mean: return "mean";
    case Pooling::First: return "first";
    case Pooling::Last: return "last";
  }
  return "unknown";
}

int64_t TensorView::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void validate_model_config(const ModelConfig& c, const std::string& source) {
  std::vector<std::string> problems;
  auto require = [&](bool ok, std::string what) {
    if (!ok) problems.push_back(std::move(what));
  };
  require(c.vocab_size > 0, "vocab size must be positive");
  require(c.hidden_size > 0, "hidden size must be positive");
  require(c.n_layers() > 0, "the model has no layers");
  require(c.context_length > 0, "context length must be positive");
  require(c.head_dim > 0, "head dim must be positive");
  require(c.rope_dim > 0 && c.rope_dim % 2 == 0 && c.rope_dim <= c.head_dim,
          "rope dim " + std::to_string(c.rope_dim) + " must be even and within head dim " +
              std::to_string(c.head_dim));
  require(c.rms_eps > 0, "rms eps must be positive");
  require(c.rope_theta > 0, "rope theta must be positive");
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type != RopeScalingType::None) require(rs.factor > 0, "rope scaling factor must be positive");
  if (rs.type == RopeScalingType::Llama3) {
    require(rs.original_context_length > 0, "llama3 rope scaling needs the original context length");
    require(rs.low_freq_factor > 0 && rs.high_freq_factor > rs.low_freq_factor,
            "llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor");
  }
  require(!(c.has_rope_freqs && rs.type == RopeScalingType::Llama3),
          "rope_freqs and llama3 rope scaling both given");
  for (int64_t i = 0; i < c.n_layers(); ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    std::string at = "layer " + std::to_string(i) + ": ";
    switch (l.attention) {
      case AttentionKind::Normal:
        require(l.n_heads > 0 && l.n_kv_heads > 0 && l.n_heads % l.n_kv_heads == 0,
                at + std::to_string(l.n_heads) + " heads cannot share " + std::to_string(l.n_kv_heads) +
                    " kv heads evenly");
        break;
      case AttentionKind::NoOp:
        require(l.n_heads == 0 && l.n_kv_heads == 0, at + "skipped attention must have no heads");
        break;
      case AttentionKind::Linear:
        require(l.n_kv_heads == 0, at + "linear attention must have no kv heads");
        break;
    }
    if (l.ffn == FfnKind::Normal) {
      require(l.ffn_length > 0, at + "FFN length must be positive");
    } else {
      require(l.ffn_length == 0, at + "a skipped or linear FFN has no FFN length");
    }
  }
  if (!problems.empty()) throw EngineError(join_problems(source, "invalid model config", problems));
}

ModelWeights bind_model_weights(const ModelConfig& config, TensorNaming naming,
                                const TensorCatalog& catalog, const std::string& source) {
  const NameScheme n{naming};
  const int64_t hidden = config.hidden_size;
  Binder b(catalog);
  ModelWeights w;
  w.token_embedding = b.take(n.global("model.embed_tokens.weight", "token_embd.weight"), {config.vocab_size, hidden});
  w.output_norm = b.take(n.global("model.norm.weight", "output_norm.weight"), {hidden});
  if (config.tied_embeddings) {
    w.output = w.token_embedding;
  } else {
    w.output = b.take(n.global("lm_head.weight", "output.weight"), {config.vocab_size, hidden});
  }
  if (config.has_rope_freqs) {
    w.rope_freqs = b.take(n.global("rope_freqs.weight", "rope_freqs.weight"), {config.rope_dim / 2});
  }
  w.layers.resize(config.layers.size());
  for (int64_t i = 0; i < config.n_layers(); ++i) {
    bind_attention(config, i, n, b, w.layers[static_cast<size_t>(i)]);
    bind_ffn(config, i, n, b, w.layers[static_cast<size_t>(i)]);
  }
  if (!b.problems().empty()) {
    throw EngineError(join_problems(source, "tensors missing or wrong for " +
                                                std::string(model_arch_name(config.arch)),
                                    b.problems()));
  }
  return w;
}

Model::Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const void> storage,
             std::filesystem::path source)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      storage_(std::move(storage)),
      source_(std::move(source)) {}

}  // namespace ragent::engine
