// libFuzzer target for the safetensors header parser: any input must either parse into tensors
// that lie inside the buffer or throw EngineError; nothing else may happen.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ragent::engine::SafetensorsFile;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    SafetensorsFile file = SafetensorsFile::parse(bytes, "fuzz");
    uint64_t covered = 0;
    for (const auto& t : file.tensors()) {
      // Checked invariants: in bounds, tiled, and sized by dtype x shape.
      if (t.data < bytes.data() || t.data + t.nbytes() > bytes.data() + bytes.size()) std::abort();
      if (t.begin != covered || file.find(t.name) != &t) std::abort();
      covered = t.end;
    }
    if (file.data_offset() + covered != size) std::abort();
  } catch (const ragent::engine::EngineError&) {
  }
  return 0;
}
