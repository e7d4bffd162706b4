// safetensors checkpoints: a bounds-checked reader over a memory map, sharded checkpoints
// through model.safetensors.index.json, and a small writer.
//
// File layout: 8-byte little-endian header length N, N bytes of JSON (may end in spaces),
// then the data section. The header maps tensor names to {dtype, shape, data_offsets: [begin,
// end)} relative to the data section, plus an optional "__metadata__" string-to-string map.
// As the format requires, tensors must cover the data section exactly: no overlaps, no holes,
// nothing after the last tensor, and end - begin == product(shape) * dtype size.
//
// Every check runs when a file is opened, so accessors never fail on a file that opened.
// Errors are EngineError("FILE: tensor 'NAME': data_offsets [B, E) (file bytes X..Y): what").
// Tensor data stays in the map and is used in place.
//
// Thread safety: SafetensorsFile and SafetensorsCheckpoint are immutable after open and may be
// shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.hpp"

namespace ragent::engine {

// Element types of the format. Every one is read; only BF16, F16 and F32 are computed on
// (the model loader refuses the others with an error naming the tensor).
enum class SafetensorsDType : uint8_t {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
};
std::string_view safetensors_dtype_name(SafetensorsDType dtype);
size_t safetensors_dtype_bytes(SafetensorsDType dtype);
// Parses the header spelling ("BF16"); nullopt for an unknown name.
std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype;
  std::vector<int64_t> shape;       // outermost first (PyTorch order); [] is a scalar
  uint64_t begin = 0;               // data_offsets, relative to the data section
  uint64_t end = 0;
  const std::byte* data = nullptr;  // into the map; valid while the file lives

  uint64_t nbytes() const { return end - begin; }
  int64_t element_count() const;
};

// Largest header accepted, as in the reference implementation (it guards against files that
// claim a huge header).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

class SafetensorsFile {
 public:
  // Maps and validates the file. Throws EngineError naming the file, tensor and offsets.
  static SafetensorsFile open(const std::filesystem::path& path);
  // Validates a buffer the caller keeps alive (fuzzing, tests). `name` stands for the file
  // in errors.
  static SafetensorsFile parse(std::span<const std::byte> bytes, std::string name = "<memory>");

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::filesystem::path& path() const;
  uint64_t file_size() const;
  uint64_t data_offset() const;  // 8 + header length

  // Tensors in the order of their data (ascending begin), and by name.
  const std::vector<SafetensorsTensor>& tensors() const;
  const SafetensorsTensor* find(std::string_view name) const;
  // "__metadata__" entries, sorted by key.
  const std::map<std::string, std::string, std::less<>>& metadata() const;

 private:
  struct Impl;
  explicit SafetensorsFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A checkpoint of one or more safetensors files.
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file, a model.safetensors.index.json, or a directory holding
  // one of model.safetensors.index.json (preferred) or model.safetensors. For an index, every
  // shard named in weight_map is opened (shard names must stay inside the index's directory)
  // and every tensor it lists must be in its shard. Throws EngineError naming the file.
  static SafetensorsCheckpoint open(const std::filesystem::path& path);

  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept;
  ~SafetensorsCheckpoint();

  // The index file, or the single .safetensors file.
  const std::filesystem::path& path() const;
  const std::vector<SafetensorsFile>& shards() const;
  // Every tensor of the checkpoint by name; nullptr when absent.
  const SafetensorsTensor* find(std::string_view name) const;
  // Name -> tensor for all tensors (for a sharded checkpoint: those in weight_map).
  const std::map<std::string, const SafetensorsTensor*, std::less<>>& tensors() const;
  // The shard file that holds `tensor` (which must come from this checkpoint).
  const std::filesystem::path& shard_path_of(const SafetensorsTensor& tensor) const;

 private:
  struct Impl;
  explicit SafetensorsCheckpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Builds a safetensors file; tensors are laid out in insertion order with no gaps.
class SafetensorsWriter {
 public:
  // `data` must hold exactly product(shape) * dtype size bytes; it is copied.
  void add_tensor(std::string name, SafetensorsDType dtype, std::vector<int64_t> shape,
                  std::span<const std::byte> data);
  void set_metadata(std::string key, std::string value);

  std::vector<std::byte> to_bytes() const;
  // Writes to a temporary file beside `path` and renames it over `path` when complete.
  void write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    SafetensorsDType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> data;
  };
  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ragent::engine
