// libFuzzer target for engine/gguf.cpp: any input either parses into a file whose every value
// and tensor can be touched safely, or throws EngineError. Tensor data of supported types is
// dequantized (first row, capped) so the kernels read only what the reader vouched for, then
// requantized; the metadata must survive a trip through the writer unchanged.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf.hpp"
#include "kernels/cpu/quant.hpp"

namespace {

using namespace ragent::engine;

size_t touch(const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::STRING: return v.as_string().size();
    case GgufValueType::ARRAY: {
      size_t n = 0;
      for (const GgufValue& e : v.as_array().values) n += touch(e);
      return n;
    }
    case GgufValueType::BOOL: return v.as_bool() ? 1 : 0;
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64: return v.as_f64() > 0 ? 1 : 0;
    default:
      if (const auto* u = std::get_if<uint64_t>(&v.data)) return static_cast<size_t>(*u & 1) + (v.as_f64() > 0);
      return static_cast<size_t>(v.as_i64() & 1) + (v.as_f64() > 0);
  }
}

void check_tensor(const GgufFile& file, const GgufTensorInfo& t, std::vector<float>& row) {
  const std::byte* begin = t.data;
  const std::byte* end = t.data + t.nbytes;
  const uint64_t data_start = file.data_offset();
  if (t.nbytes == 0 || data_start + t.offset + t.nbytes > file.file_size() || end < begin) __builtin_trap();
  const auto q = static_cast<ragent::kernels::QuantType>(static_cast<uint32_t>(t.type));
  if (!ragent::kernels::is_supported(q)) return;
  // First row, at most 4096 values, rounded down to whole blocks.
  const int64_t block = ragent::kernels::block_size(q);
  const int64_t n = std::min<int64_t>(t.ne[0], 4096) / block * block;
  if (n == 0 || ragent::kernels::row_bytes(q, n) > t.nbytes) return;
  row.resize(static_cast<size_t>(n));
  ragent::kernels::dequantize_row(q, t.data, row.data(), n);
  // Requantize what came out (nan, inf and subnormals included), as quantize_model would.
  std::vector<std::byte> requantized(ragent::kernels::row_bytes(q, n));
  ragent::kernels::quantize_row(q, row.data(), requantized.data(), n);
}

// Metadata read back from the writer's bytes must re-encode to the same bytes.
void check_metadata_round_trip(const GgufFile& file) {
  GgufWriter first;
  for (const auto& [key, value] : file.metadata()) first.set(key, value);
  const std::vector<std::byte> bytes = first.to_bytes();
  const GgufFile again = GgufFile::parse(bytes, "round-trip");
  GgufWriter second;
  for (const auto& [key, value] : again.metadata()) second.set(key, value);
  if (second.to_bytes() != bytes || again.metadata().size() != file.metadata().size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const GgufFile file = GgufFile::parse(bytes, "fuzz.gguf");
    volatile size_t sink = file.alignment() + file.version();
    for (const auto& [key, value] : file.metadata()) {
      sink = sink + key.size() + touch(value);
      if (file.find(key) != &value) __builtin_trap();
    }
    std::vector<float> row;
    for (const GgufTensorInfo& t : file.tensors()) {
      if (file.find_tensor(t.name) != &t) __builtin_trap();
      sink = sink + static_cast<size_t>(t.element_count());
      check_tensor(file, t, row);
    }
    check_metadata_round_trip(file);
  } catch (const EngineError&) {
    // Malformed input is reported, never fatal.
  }
  return 0;
}
