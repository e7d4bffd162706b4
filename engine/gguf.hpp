// GGUF model files: a bounds-checked reader over a memory map, and a writer.
//
// Reader: GgufFile::open maps the file read-only; metadata and tensor infos are parsed and
// validated up front (versions 2 and 3, every value type, general.alignment, every offset,
// count and size checked against the file), so accessors never fail on a file that opened.
// Tensor data stays in the map and is used in place; it is aligned only to the file's
// alignment (which may be 1). A malformed file throws EngineError naming the file, the byte
// offset and the key or tensor at fault. Refused: version 1, arrays nested more than 8 deep,
// more than 2^25 array elements in all, alignment above 2^30. Overlapping tensors are allowed.
//
// Writer: GgufWriter collects metadata and tensors (copied, or produced on demand while
// writing) and writes a version-3 file that the reader (and llama.cpp) accept.
//
// Thread safety: a GgufFile is immutable after open and may be shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/error.hpp"

namespace ragent::engine {

// GGUF metadata value types, numbered as in the file format.
enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType type);

// ggml tensor types, numbered as in the file format. The reader knows the block geometry of
// every type so it can size any tensor; which ones can be computed on is kernels' business.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};
// Values per block and bytes per block; nullopt for an id that is not a known type.
struct GgmlTypeTraits {
  std::string_view name;
  int64_t block_size;
  size_t block_bytes;
};
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id);
// Bytes of a tensor of `type` with dimensions `ne`; nullopt when the type is unknown, a
// dimension is not positive, ne[0] is not a multiple of the block size, or the size overflows.
std::optional<uint64_t> ggml_tensor_nbytes(GgmlType type, std::span<const int64_t> ne);

// One metadata value. Arrays hold values of one element type (nested arrays allowed).
struct GgufValue;
struct GgufArray {
  GgufValueType element_type;
  std::vector<GgufValue> values;
};
struct GgufValue {
  GgufValueType type;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;

  // Conversions that check the stored type and range; throw EngineError on mismatch.
  uint64_t as_u64() const;   // any unsigned type, or a non-negative signed one
  int64_t as_i64() const;    // any integer type that fits
  double as_f64() const;     // FLOAT32/FLOAT64, or any integer
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;       // dimensions as stored: ne[0] is the contiguous (innermost) one
  uint64_t offset = 0;           // relative to the start of the data section
  uint64_t nbytes = 0;
  const std::byte* data = nullptr;  // into the map; valid while the GgufFile lives

  int64_t element_count() const;
};

class GgufFile {
 public:
  // Maps and validates the file. Throws EngineError("FILE: offset N: key 'K': what").
  static GgufFile open(const std::filesystem::path& path);
  // Parses a buffer the caller keeps alive (fuzzing, tests). `name` stands for the file in errors.
  static GgufFile parse(std::span<const std::byte> bytes, std::string name = "<memory>");

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::filesystem::path& path() const;
  uint32_t version() const;
  uint64_t alignment() const;
  uint64_t data_offset() const;  // byte offset of the data section in the file
  uint64_t file_size() const;

  // Metadata in file order and by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const;
  const GgufValue* find(std::string_view key) const;
  // Typed lookups: nullopt when absent, EngineError naming the key when the type is wrong.
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<uint64_t> get_u64(std::string_view key) const;
  std::optional<int64_t> get_i64(std::string_view key) const;
  std::optional<double> get_f64(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  const GgufArray* get_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const;
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  struct Impl;
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Builds a GGUF v3 file. Metadata keys keep insertion order; setting a key again replaces it.
class GgufWriter {
 public:
  GgufWriter();
  void set_alignment(uint64_t alignment);  // power of two; also written as general.alignment
  // Throws EngineError when a value does not fit its type (e.g. 300 as UINT8), an array holds
  // an element of another type, or general.alignment is not a power of two up to 2^30.
  void set(std::string key, GgufValue value);
  void set_string(std::string key, std::string value);
  void set_u32(std::string key, uint32_t value);
  void set_i32(std::string key, int32_t value);
  void set_f32(std::string key, float value);
  void set_bool(std::string key, bool value);
  void set_string_array(std::string key, std::vector<std::string> values);
  void set_array(std::string key, GgufArray values);

  // Adds a tensor; `data` must hold exactly the bytes of `ne` elements of `type`. The bytes
  // are copied, so the caller may free them. Throws EngineError on a duplicate or over-long
  // (64+ bytes) name, 0 or more than 4 dimensions, a non-positive dimension, ne[0] not a
  // multiple of the block size, or a size mismatch.
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                  std::span<const std::byte> data);
  // Streaming form: write() calls `produce` once, in tensor order, with a zeroed buffer of
  // exactly the tensor's size to fill, so only one tensor's bytes are in memory at a time.
  // An exception thrown by `produce` aborts write() and leaves no file behind.
  using TensorProducer = std::function<void(std::span<std::byte> out)>;
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, TensorProducer produce);

  // Writes to a temporary file beside `path` (flushed and fsynced) and renames it over `path`
  // when complete; on any failure the temporary file is removed and `path` is untouched.
  // Producers run again on every call.
  void write(const std::filesystem::path& path) const;
  std::vector<std::byte> to_bytes() const;  // the same bytes, in memory (tests, small files)

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::vector<std::byte> data;
    TensorProducer produce;  // set instead of data for streamed tensors
    uint64_t nbytes = 0;
  };
  void check_new_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                        uint64_t& nbytes) const;
  // Emits the whole file, in order, to `sink`.
  void emit(const std::function<void(std::span<const std::byte>)>& sink) const;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace ragent::engine
