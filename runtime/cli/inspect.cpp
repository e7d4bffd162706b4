// ragent inspect MODEL: metadata, architecture, tensor table and sizes of a GGUF file or a
// Hugging Face checkpoint directory.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "engine/chat_format.hpp"
#include "engine/gguf.hpp"
#include "engine/model.hpp"
#include "engine/safetensors.hpp"
#include "runtime/cli/commands.hpp"

namespace ragent::cli {
namespace {

namespace fs = std::filesystem;
using engine::GgufArray;
using engine::GgufValue;
using engine::GgufValueType;

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

std::string quoted(const std::string& s, size_t max_chars) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); out += b; }
    else out += static_cast<char>(c);
  }
  out += s.size() > max_chars ? "\"..." : "\"";
  return out;
}

std::string format_value(const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::STRING: return quoted(v.as_string(), 60);
    case GgufValueType::BOOL: return v.as_bool() ? "true" : "false";
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64: {
      std::ostringstream os;
      os << v.as_f64();
      return os.str();
    }
    case GgufValueType::ARRAY: {
      const GgufArray& a = v.as_array();
      std::string out = "[" + std::to_string(a.values.size()) + " x " +
                        std::string(engine::gguf_value_type_name(a.element_type)) + "]";
      const size_t shown = std::min<size_t>(a.values.size(), 6);
      if (shown) out += " ";
      for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + format_value(a.values[i]);
      if (a.values.size() > shown) out += ", ...";
      return out;
    }
    case GgufValueType::INT8:
    case GgufValueType::INT16:
    case GgufValueType::INT32:
    case GgufValueType::INT64: return std::to_string(v.as_i64());
    default: return std::to_string(v.as_u64());
  }
}

std::string format_shape(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? " x " : "") + std::to_string(dims[i]);
  return out;
}

std::string_view attention_kind_name(engine::AttentionKind kind) {
  switch (kind) {
    case engine::AttentionKind::Normal: return "attention";
    case engine::AttentionKind::NoOp: return "no-op";
    case engine::AttentionKind::Linear: return "linear";
  }
  return "?";
}

std::string_view ffn_kind_name(engine::FfnKind kind) {
  switch (kind) {
    case engine::FfnKind::Normal: return "swiglu";
    case engine::FfnKind::NoOp: return "no-op";
    case engine::FfnKind::Linear: return "linear";
  }
  return "?";
}

// The model description, with runs of identical layers folded into one line.
std::string describe(const engine::ModelConfig& c) {
  std::ostringstream os;
  os << "  arch            " << engine::model_arch_name(c.arch) << "\n"
     << "  layers          " << c.n_layers() << "\n"
     << "  hidden          " << c.hidden_size << "\n"
     << "  vocab           " << c.vocab_size << "\n"
     << "  context         " << c.context_length << "\n"
     << "  head_dim        " << c.head_dim << " (rope over " << c.rope_dim << ", "
     << engine::rope_layout_name(c.rope_layout) << ")\n"
     << "  rope theta      " << c.rope_theta;
  switch (c.rope_scaling.type) {
    case engine::RopeScalingType::None: break;
    case engine::RopeScalingType::Linear: os << ", linear scaling x" << c.rope_scaling.factor; break;
    case engine::RopeScalingType::Llama3:
      os << ", llama3 scaling (factor " << c.rope_scaling.factor << ", low " << c.rope_scaling.low_freq_factor
         << ", high " << c.rope_scaling.high_freq_factor << ", original " << c.rope_scaling.original_context_length << ")";
      break;
  }
  if (c.has_rope_freqs) os << ", rope_freqs tensor";
  os << "\n  rms eps         " << c.rms_eps << "\n"
     << "  tied embedding  " << (c.tied_embeddings ? "yes" : "no") << "\n"
     << "  qkv bias        " << (c.qkv_bias ? "yes" : "no") << "\n";
  if (c.pooling || !c.causal_attention) {  // an embedding model's GGUF keys
    os << "  embedding       pooling " << (c.pooling ? engine::pooling_name(*c.pooling) : "none") << ", "
       << (c.causal_attention ? "causal" : "bidirectional") << " attention\n";
  }
  for (size_t i = 0; i < c.layers.size();) {
    size_t j = i + 1;
    const auto& l = c.layers[i];
    while (j < c.layers.size() && c.layers[j].attention == l.attention && c.layers[j].n_heads == l.n_heads &&
           c.layers[j].n_kv_heads == l.n_kv_heads && c.layers[j].ffn == l.ffn && c.layers[j].ffn_length == l.ffn_length) {
      ++j;
    }
    os << "  layers " << i << (j - i > 1 ? "-" + std::to_string(j - 1) : std::string()) << ": "
       << attention_kind_name(l.attention);
    if (l.attention == engine::AttentionKind::Normal) os << " " << l.n_heads << " heads / " << l.n_kv_heads << " kv";
    os << ", ffn " << ffn_kind_name(l.ffn);
    if (l.ffn == engine::FfnKind::Normal) os << " " << l.ffn_length;
    os << "\n";
    i = j;
  }
  return os.str();
}

void print_architecture(const fs::path& path) {
  try {
    const auto model = engine::Model::load(path);
    std::cout << "\narchitecture\n" << describe(model.config());
  } catch (const std::exception& e) {
    // inspect still shows what the file holds when it is not a model we can run.
    std::cout << "\narchitecture: not loadable as a model: " << e.what() << "\n";
  }
}

// The chat format ragent would pick for this model, and from what.
void print_chat_format(const std::optional<std::string>& jinja_template, const std::string& architecture) {
  try {
    const auto format = engine::detect_chat_format(jinja_template, architecture);
    std::cout << "chat format     " << engine::chat_format_name(format) << " (from "
              << (jinja_template ? "the chat template" : "the architecture") << ")\n";
  } catch (const std::exception& e) {
    std::cout << "chat format     not recognised: " << e.what() << "\n";
  }
}

void inspect_gguf(const fs::path& path) {
  const auto file = engine::GgufFile::open(path);
  std::cout << "file      " << path.string() << "\n"
            << "format    GGUF v" << file.version() << ", alignment " << file.alignment()
            << ", data at offset " << file.data_offset() << ", " << human_bytes(double(file.file_size())) << "\n";

  std::cout << "\nmetadata (" << file.metadata().size() << " keys)\n";
  for (const auto& [key, value] : file.metadata()) {
    std::printf("  %-44s %-8s %s\n", key.c_str(), std::string(engine::gguf_value_type_name(value.type)).c_str(),
                format_value(value).c_str());
  }

  print_architecture(path);
  print_chat_format(file.get_string("tokenizer.chat_template"), file.get_string("general.architecture").value_or(""));

  std::cout << "\ntensors (" << file.tensors().size() << ")\n";
  std::printf("  %-40s %-6s %-24s %12s %14s\n", "name", "type", "shape (ne)", "bytes", "offset");
  uint64_t total_bytes = 0;
  int64_t total_params = 0;
  std::map<std::string, std::pair<int, uint64_t>> by_type;
  for (const auto& t : file.tensors()) {
    const auto traits = engine::ggml_type_traits(static_cast<uint32_t>(t.type));
    const std::string type_name = traits ? std::string(traits->name) : "?";
    std::printf("  %-40s %-6s %-24s %12" PRIu64 " %14" PRIu64 "\n", t.name.c_str(), type_name.c_str(),
                format_shape(t.ne).c_str(), t.nbytes, t.offset);
    total_bytes += t.nbytes;
    total_params += t.element_count();
    auto& entry = by_type[type_name];
    entry.first += 1;
    entry.second += t.nbytes;
  }
  std::cout << "\nsize\n";
  for (const auto& [type, entry] : by_type) {
    std::printf("  %-6s %5d tensors %12s\n", type.c_str(), entry.first, human_bytes(double(entry.second)).c_str());
  }
  std::printf("  total  %" PRId64 " parameters, %s of tensor data, %.2f bits per weight\n", total_params,
              human_bytes(double(total_bytes)).c_str(),
              total_params ? 8.0 * double(total_bytes) / double(total_params) : 0.0);
}

void inspect_hf(const fs::path& dir) {
  std::cout << "checkpoint " << dir.string() << " (Hugging Face directory)\n";
  print_architecture(dir);
  const auto checkpoint = engine::SafetensorsCheckpoint::open(dir);
  std::cout << "\ntensors (" << checkpoint.tensors().size() << " in " << checkpoint.shards().size() << " file"
            << (checkpoint.shards().size() == 1 ? "" : "s") << ")\n";
  std::printf("  %-56s %-5s %-24s %12s\n", "name", "type", "shape", "bytes");
  uint64_t total_bytes = 0;
  int64_t total_params = 0;
  for (const auto& [name, t] : checkpoint.tensors()) {
    std::printf("  %-56s %-5s %-24s %12" PRIu64 "\n", name.c_str(), std::string(engine::safetensors_dtype_name(t->dtype)).c_str(),
                format_shape(t->shape).c_str(), t->nbytes());
    total_bytes += t->nbytes();
    total_params += t->element_count();
  }
  std::printf("\nsize\n  total  %" PRId64 " parameters, %s of tensor data\n", total_params,
              human_bytes(double(total_bytes)).c_str());
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a model's metadata, architecture, tensors and sizes");
  auto path = std::make_shared<std::string>();
  cmd->add_option("MODEL", *path, "GGUF file or Hugging Face checkpoint directory")->required();
  cmd->callback([path] {
    const fs::path p(*path);
    if (fs::is_directory(p)) inspect_hf(p);
    else inspect_gguf(p);
  });
}

}  // namespace ragent::cli
