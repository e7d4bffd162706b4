#include "engine/quantize.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "kernels/cpu/quant.hpp"

namespace ragent::engine {

namespace {

using kernels::QuantType;

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The kernel type for a GGUF type, or nullopt where kernels cannot convert it.
std::optional<QuantType> kernel_type(GgmlType type) {
  const auto q = static_cast<QuantType>(static_cast<uint32_t>(type));
  if (!kernels::is_supported(q)) return std::nullopt;
  return q;
}

// "blk.N.rest" -> N, or -1 for tensors outside the repeated blocks.
int64_t layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return -1;
  int64_t layer = -1;
  const char* begin = name.data() + kPrefix.size();
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  if (ec != std::errc() || end == name.data() + name.size() || *end != '.') return -1;
  return layer;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// llama.cpp's choice of layers that keep more bits in Q4_K_M / Q5_K_M.
bool use_more_bits(int64_t layer, int64_t layer_count) {
  return layer < layer_count / 8 || layer >= 7 * layer_count / 8 || (layer - layer_count / 8) % 3 == 2;
}

int64_t model_layer_count(const GgufFile& file) {
  if (const auto arch = file.get_string("general.architecture")) {
    if (const auto n = file.get_u64(*arch + ".block_count")) return static_cast<int64_t>(*n);
  }
  int64_t count = 0;
  for (const GgufTensorInfo& t : file.tensors()) count = std::max(count, layer_of(t.name) + 1);
  return count;
}

// Converts rows [first, last) of `in` into `out`; `row` is a scratch row of ne[0] floats.
void convert_rows(const GgufTensorInfo& in, QuantType from, QuantType to, std::span<std::byte> out, int64_t first,
                  int64_t last, std::vector<float>& row) {
  const int64_t n = in.ne[0];
  const size_t in_row = kernels::row_bytes(from, n);
  const size_t out_row = kernels::row_bytes(to, n);
  for (int64_t r = first; r < last; ++r) {
    const std::byte* src = in.data + static_cast<size_t>(r) * in_row;
    std::byte* dst = out.data() + static_cast<size_t>(r) * out_row;
    if (from == to) {
      std::memcpy(dst, src, in_row);
    } else {
      kernels::dequantize_row(from, src, row.data(), n);
      kernels::quantize_row(to, row.data(), dst, n);
    }
  }
}

// Converts a whole tensor, splitting its rows over up to `threads` workers.
void convert_tensor(const GgufTensorInfo& in, QuantType from, QuantType to, std::span<std::byte> out,
                    unsigned threads) {
  const int64_t rows = in.element_count() / in.ne[0];
  constexpr int64_t kValuesPerWorker = 1 << 16;  // below this a thread costs more than it saves
  const int64_t useful = std::max<int64_t>(1, in.element_count() / kValuesPerWorker);
  const int64_t workers = std::min<int64_t>({static_cast<int64_t>(threads), rows, useful});
  if (workers <= 1) {
    std::vector<float> row(static_cast<size_t>(in.ne[0]));
    convert_rows(in, from, to, out, 0, rows, row);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
  for (int64_t w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      try {
        std::vector<float> row(static_cast<size_t>(in.ne[0]));
        convert_rows(in, from, to, out, rows * w / workers, rows * (w + 1) / workers, row);
      } catch (...) {
        errors[static_cast<size_t>(w)] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace

QuantTarget parse_quant_target(std::string_view name) {
  const std::string n = upper(name);
  if (n == "F32") return QuantTarget::F32;
  if (n == "F16") return QuantTarget::F16;
  if (n == "Q8_0") return QuantTarget::Q8_0;
  if (n == "Q4_K" || n == "Q4_K_M") return QuantTarget::Q4_K_M;
  throw EngineError("unknown quantization type '" + std::string(name) + "' (choose Q8_0, Q4_K, Q4_K_M, F16 or F32)");
}

std::string_view quant_target_name(QuantTarget target) {
  switch (target) {
    case QuantTarget::F32: return "F32";
    case QuantTarget::F16: return "F16";
    case QuantTarget::Q8_0: return "Q8_0";
    case QuantTarget::Q4_K_M: return "Q4_K_M";
  }
  return "?";
}

uint32_t llama_file_type(QuantTarget target) {
  switch (target) {
    case QuantTarget::F32: return 0;
    case QuantTarget::F16: return 1;
    case QuantTarget::Q8_0: return 7;
    case QuantTarget::Q4_K_M: return 15;
  }
  return 0;
}

GgmlType choose_tensor_type(QuantTarget target, std::string_view tensor_name, std::span<const int64_t> ne,
                            int64_t layer_count) {
  if (ne.size() <= 1) return GgmlType::F32;
  const int64_t row = ne[0];
  // The wanted type, then the fallback chain for rows that do not fit its blocks.
  GgmlType wanted = GgmlType::F32;
  switch (target) {
    case QuantTarget::F32: return GgmlType::F32;
    case QuantTarget::F16: return GgmlType::F16;
    case QuantTarget::Q8_0: wanted = GgmlType::Q8_0; break;
    case QuantTarget::Q4_K_M: {
      wanted = GgmlType::Q4_K;
      if (tensor_name == "output.weight" || tensor_name == "token_embd.weight") {
        wanted = GgmlType::Q6_K;
      } else if (ends_with(tensor_name, ".attn_v.weight") || ends_with(tensor_name, ".ffn_down.weight")) {
        const int64_t layer = layer_of(tensor_name);
        if (layer >= 0 && use_more_bits(layer, layer_count)) wanted = GgmlType::Q6_K;
      }
      break;
    }
  }
  if ((wanted == GgmlType::Q4_K || wanted == GgmlType::Q6_K) && row % kernels::kQK_K != 0) wanted = GgmlType::Q8_0;
  if (wanted == GgmlType::Q8_0 && row % kernels::kQK8_0 != 0) wanted = GgmlType::F16;
  return wanted;
}

void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out, std::string_view type,
                    const QuantizeOptions& options) {
  const QuantTarget target = parse_quant_target(type);
  const GgufFile file = GgufFile::open(in);
  const int64_t layer_count = model_layer_count(file);
  const unsigned threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());

  GgufWriter writer;
  for (const auto& [key, value] : file.metadata()) writer.set(key, value);  // keeps general.alignment
  writer.set_u32("general.file_type", llama_file_type(target));
  if (target == QuantTarget::Q8_0 || target == QuantTarget::Q4_K_M) writer.set_u32("general.quantization_version", 2);

  const auto& tensors = file.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = tensors[i];
    const auto from = kernel_type(t.type);
    if (!from) {
      const auto traits = ggml_type_traits(static_cast<uint32_t>(t.type));
      throw EngineError(in.string() + ": tensor '" + t.name + "': type " + std::string(traits->name) +
                        " cannot be requantized (supported: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K)");
    }
    const GgmlType to_type = choose_tensor_type(target, t.name, t.ne, layer_count);
    const QuantType to = *kernel_type(to_type);
    writer.add_tensor(t.name, to_type, t.ne, [&, i, from = *from, to, to_type](std::span<std::byte> dst) {
      convert_tensor(t, from, to, dst, threads);
      if (options.progress) {
        options.progress(QuantizeProgress{i, tensors.size(), t.name, t.type, to_type, t.nbytes, dst.size()});
      }
    });
  }
  writer.write(out);
}

}  // namespace ragent::engine
