// Hugging Face checkpoints: config.json -> ModelConfig, safetensors -> ModelWeights.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include <simdjson.h>

#include "engine/model.hpp"
#include "engine/safetensors.hpp"

namespace ragent::engine {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// 'text', built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + std::string.
std::string quoted(std::string text) {
  text.insert(0, 1, '\'');
  text.push_back('\'');
  return text;
}

// Typed access to one JSON object of config.json. Absent keys and JSON null read as absent;
// a value of the wrong type is recorded as a problem, so all of them are reported together.
class ConfigObject {
 public:
  ConfigObject(object obj, std::string path, std::vector<std::string>& problems)
      : obj_(obj), path_(std::move(path)), problems_(&problems) {}

  std::optional<element> value(std::string_view key) const {
    element v;
    if (obj_.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return std::nullopt;
    return v;
  }
  std::optional<int64_t> get_int(std::string_view key) const {
    auto v = value(key);
    if (!v) return std::nullopt;
    int64_t out = 0;
    if (v->get_int64().get(out) != simdjson::SUCCESS) return wrong_type<int64_t>(key, "an integer");
    if (out < 0 || out > kMaxModelDimension) {
      problems_->push_back(quoted(name(key)) + " = " + std::to_string(out) + " is out of range");
      return std::nullopt;
    }
    return out;
  }
  std::optional<double> get_number(std::string_view key) const {
    auto v = value(key);
    if (!v) return std::nullopt;
    double out = 0;
    if (v->get_double().get(out) != simdjson::SUCCESS) return wrong_type<double>(key, "a number");
    return out;
  }
  std::optional<bool> get_bool(std::string_view key) const {
    auto v = value(key);
    if (!v) return std::nullopt;
    bool out = false;
    if (v->get_bool().get(out) != simdjson::SUCCESS) return wrong_type<bool>(key, "true or false");
    return out;
  }
  std::optional<std::string> get_string(std::string_view key) const {
    auto v = value(key);
    if (!v) return std::nullopt;
    std::string_view out;
    if (v->get_string().get(out) != simdjson::SUCCESS) return wrong_type<std::string>(key, "a string");
    return std::string(out);
  }
  std::optional<ConfigObject> get_object(std::string_view key) const {
    auto v = value(key);
    if (!v) return std::nullopt;
    object out;
    if (v->get_object().get(out) != simdjson::SUCCESS) return wrong_type<ConfigObject>(key, "an object");
    return ConfigObject(out, name(key), *problems_);
  }
  int64_t require_int(std::string_view key) const {
    auto v = get_int(key);
    if (!v && !value(key)) problems_->push_back("missing integer " + quoted(name(key)));
    return v.value_or(0);
  }
  std::string name(std::string_view key) const {
    if (key.empty()) return path_;
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  std::vector<std::string>& problems() const { return *problems_; }
  object raw() const { return obj_; }

 private:
  template <typename T>
  std::optional<T> wrong_type(std::string_view key, const char* expected) const {
    problems_->push_back(quoted(name(key)) + " must be " + expected);
    return std::nullopt;
  }
  object obj_;
  std::string path_;
  std::vector<std::string>* problems_;
};

struct HfArch {
  std::string_view model_type;
  std::string_view architecture;
  ModelArch arch;
};
constexpr HfArch kHfArchs[] = {
    {"llama", "LlamaForCausalLM", ModelArch::Llama},
    {"nemotron-nas", "DeciLMForCausalLM", ModelArch::Deci},
    {"qwen2", "Qwen2ForCausalLM", ModelArch::Qwen2},
};

ModelArch detect_arch(const ConfigObject& cfg, const std::string& source) {
  auto model_type = cfg.get_string("model_type");
  std::string supported;
  for (const HfArch& a : kHfArchs) {
    if (!supported.empty()) supported += ", ";
    supported += std::string(a.model_type) + " (" + std::string(model_arch_name(a.arch)) + ")";
    if (model_type && *model_type == a.model_type) return a.arch;
  }
  if (!model_type) {
    // Some exports omit model_type; the architectures list names the class.
    element archs;
    simdjson::dom::array list;
    std::string_view first;
    if (cfg.raw().at_key("architectures").get(archs) == simdjson::SUCCESS &&
        archs.get_array().get(list) == simdjson::SUCCESS && list.size() > 0 &&
        list.at(0).get_string().get(first) == simdjson::SUCCESS) {
      for (const HfArch& a : kHfArchs) {
        if (first == a.architecture) return a.arch;
      }
      throw EngineError(source + ": architecture '" + std::string(first) +
                        "' is not supported (supported model_type: " + supported + ")");
    }
    throw EngineError(source + ": no model_type (supported: " + supported + ")");
  }
  throw EngineError(source + ": model_type '" + *model_type + "' is not supported (supported: " +
                    supported + ")");
}

// rope_theta and rope_scaling, or the newer single rope_parameters object.
void read_rope(const ConfigObject& cfg, ModelConfig& c) {
  auto params = cfg.get_object("rope_parameters");
  c.rope_theta = cfg.get_number("rope_theta").value_or(params ? params->get_number("rope_theta").value_or(10000.0) : 10000.0);
  auto scaling = cfg.get_object("rope_scaling");
  if (!scaling) scaling = params;
  if (!scaling) return;
  auto type = scaling->get_string("rope_type");
  if (!type) type = scaling->get_string("type");
  const std::string kind = type.value_or("default");
  RopeScaling& rs = c.rope_scaling;
  if (kind == "default") return;
  if (kind == "linear") {
    rs.type = RopeScalingType::Linear;
    rs.factor = scaling->get_number("factor").value_or(1.0);
  } else if (kind == "llama3") {
    rs.type = RopeScalingType::Llama3;
    rs.factor = scaling->get_number("factor").value_or(0.0);
    rs.low_freq_factor = scaling->get_number("low_freq_factor").value_or(0.0);
    rs.high_freq_factor = scaling->get_number("high_freq_factor").value_or(0.0);
    rs.original_context_length = scaling->get_int("original_max_position_embeddings").value_or(0);
  } else {
    cfg.problems().push_back("rope scaling type '" + kind + "' is not supported (supported: default, linear, llama3)");
  }
}

// One block_configs entry of a deci (Llama-Nemotron) config.
LayerConfig read_deci_block(const ConfigObject& block, int64_t n_heads, int64_t hidden) {
  LayerConfig l;
  auto attention = block.get_object("attention");
  auto ffn = block.get_object("ffn");
  if (!attention || !ffn) {
    block.problems().push_back(quoted(block.name("")) + " needs 'attention' and 'ffn' objects");
    return l;
  }
  for (std::string_view unsupported : {"window_length", "num_sink_tokens", "sparsify"}) {
    if (attention->value(unsupported)) {
      block.problems().push_back(quoted(attention->name(unsupported)) + " is not supported");
    }
  }
  if (attention->get_bool("no_op").value_or(false)) {
    l.attention = AttentionKind::NoOp;
  } else if (attention->get_bool("replace_with_linear").value_or(false)) {
    l.attention = AttentionKind::Linear;
    l.n_heads = n_heads;
  } else {
    int64_t group = attention->get_int("n_heads_in_group").value_or(0);
    if (group <= 0 || n_heads % group != 0) {
      block.problems().push_back(quoted(attention->name("n_heads_in_group")) + " must divide " +
                                 std::to_string(n_heads) + " heads");
    } else {
      l.n_heads = n_heads;
      l.n_kv_heads = n_heads / group;
    }
  }
  if (ffn->value("sparsify")) block.problems().push_back(quoted(ffn->name("sparsify")) + " is not supported");
  if (ffn->get_bool("no_op").value_or(false)) {
    l.ffn = FfnKind::NoOp;
  } else if (ffn->get_bool("replace_with_linear").value_or(false)) {
    l.ffn = FfnKind::Linear;
  } else if (auto mult = ffn->get_number("ffn_mult"); mult && *mult > 0) {
    l.ffn_length = deci_ffn_length(*mult, hidden);
  } else {
    // llama.cpp treats a missing ffn_mult as a dummy layer; we only skip when told to.
    block.problems().push_back(quoted(ffn->name("ffn_mult")) + " must be a positive number");
  }
  return l;
}

void read_layers(const ConfigObject& cfg, ModelConfig& c, int64_t n_layers, int64_t n_heads) {
  if (c.arch != ModelArch::Deci) {
    int64_t n_kv = cfg.get_int("num_key_value_heads").value_or(n_heads);
    int64_t ffn = cfg.require_int("intermediate_size");
    c.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerConfig{AttentionKind::Normal, n_heads, n_kv, FfnKind::Normal, ffn});
    return;
  }
  element blocks_value;
  simdjson::dom::array blocks;
  if (cfg.raw().at_key("block_configs").get(blocks_value) != simdjson::SUCCESS ||
      blocks_value.get_array().get(blocks) != simdjson::SUCCESS) {
    cfg.problems().push_back("nemotron-nas config needs a 'block_configs' array");
    return;
  }
  if (static_cast<int64_t>(blocks.size()) != n_layers) {
    cfg.problems().push_back("'block_configs' has " + std::to_string(blocks.size()) + " entries for " +
                             std::to_string(n_layers) + " layers");
    return;
  }
  int64_t i = 0;
  for (element entry : blocks) {
    object block;
    std::string name = "block_configs[" + std::to_string(i++) + "]";
    if (entry.get_object().get(block) != simdjson::SUCCESS) {
      cfg.problems().push_back(quoted(name) + " is not an object");
      continue;
    }
    c.layers.push_back(read_deci_block(ConfigObject(block, name, cfg.problems()), n_heads, c.hidden_size));
  }
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EngineError(path.string() + ": cannot open: " + std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::optional<GgmlType> compute_type(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::F32: return GgmlType::F32;
    case SafetensorsDType::F16: return GgmlType::F16;
    case SafetensorsDType::BF16: return GgmlType::BF16;
    default: return std::nullopt;
  }
}

TensorCatalog catalog_of(const SafetensorsCheckpoint& checkpoint) {
  TensorCatalog catalog;
  for (const auto& [name, t] : checkpoint.tensors()) {
    auto type = compute_type(t->dtype);
    if (!type) {
      catalog.unusable.emplace(name, "dtype " + std::string(safetensors_dtype_name(t->dtype)) + " in " +
                                         checkpoint.shard_path_of(*t).string() +
                                         " cannot be computed with (supported: BF16, F16, F32)");
      continue;
    }
    catalog.views.emplace(name, TensorView{name, *type, t->shape, t->data, static_cast<size_t>(t->nbytes())});
  }
  return catalog;
}

}  // namespace

int64_t deci_ffn_length(double ffn_mult, int64_t hidden_size) {
  // Same evaluation order as the reference Python: ((2 * mult) * hidden) / 3, truncated.
  double raw = 2.0 * ffn_mult * static_cast<double>(hidden_size) / 3.0;
  if (!(raw >= 0) || raw > static_cast<double>(std::numeric_limits<int32_t>::max())) return 0;
  auto length = static_cast<int64_t>(raw);
  return (length + 255) / 256 * 256;
}

ModelConfig parse_hf_config(std::string_view json_text, const std::string& source) {
  simdjson::dom::parser parser;
  object root;
  auto error = parser.parse(json_text.data(), json_text.size(), true).get_object().get(root);
  if (error != simdjson::SUCCESS) {
    throw EngineError(source + ": not a JSON object: " + simdjson::error_message(error));
  }
  std::vector<std::string> problems;
  ConfigObject cfg(root, "", problems);
  ModelConfig c;
  c.arch = detect_arch(cfg, source);
  c.rope_layout = RopeLayout::RotateHalf;
  c.vocab_size = cfg.require_int("vocab_size");
  c.hidden_size = cfg.require_int("hidden_size");
  const int64_t n_layers = cfg.require_int("num_hidden_layers");
  const int64_t n_heads = cfg.require_int("num_attention_heads");
  c.context_length = cfg.get_int("max_position_embeddings").value_or(c.arch == ModelArch::Qwen2 ? 32768 : 2048);
  c.rms_eps = cfg.get_number("rms_norm_eps").value_or(1e-6);
  c.tied_embeddings = cfg.get_bool("tie_word_embeddings").value_or(false);
  if (auto head_dim = cfg.get_int("head_dim")) {
    c.head_dim = *head_dim;
  } else if (n_heads > 0 && c.hidden_size % n_heads == 0) {
    c.head_dim = c.hidden_size / n_heads;
  } else {
    problems.push_back("hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of " +
                       std::to_string(n_heads) + " heads and head_dim is not given");
  }
  c.rope_dim = c.head_dim;
  read_rope(cfg, c);

  if (c.arch == ModelArch::Qwen2) {
    c.qkv_bias = true;
    if (cfg.get_bool("use_sliding_window").value_or(false)) problems.push_back("'use_sliding_window' is not supported");
  } else {
    c.qkv_bias = c.attn_out_bias = cfg.get_bool("attention_bias").value_or(false);
  }
  if (cfg.get_bool("mlp_bias").value_or(false)) problems.push_back("'mlp_bias' is not supported");
  if (n_layers > kMaxModelLayers) {
    problems.push_back("'num_hidden_layers' = " + std::to_string(n_layers) + " exceeds " + std::to_string(kMaxModelLayers));
  } else if (n_layers > 0) {
    read_layers(cfg, c, n_layers, n_heads);
  }

  if (!problems.empty()) {
    std::string msg = source + ": unusable config (" + std::to_string(problems.size()) + "):";
    for (const std::string& p : problems) msg += "\n  " + p;
    throw EngineError(msg);
  }
  validate_model_config(c, source);
  return c;
}

Model Model::load_hf(const std::filesystem::path& directory) {
  const std::filesystem::path config_path = directory / "config.json";
  if (!std::filesystem::is_regular_file(config_path)) {
    throw EngineError(directory.string() + ": no config.json (expected a Hugging Face model directory)");
  }
  ModelConfig config = parse_hf_config(read_text_file(config_path), config_path.string());
  auto checkpoint = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(directory));
  ModelWeights weights = bind_model_weights(config, TensorNaming::HuggingFace, catalog_of(*checkpoint),
                                            checkpoint->path().string());
  return Model(std::move(config), std::move(weights), std::move(checkpoint), directory);
}

}  // namespace ragent::engine
