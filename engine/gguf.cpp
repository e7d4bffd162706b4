// GGUF reader: type tables, metadata values, and the bounds-checked parser over a memory map.
// The writer lives in gguf_writer.cpp.
#include "engine/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

namespace ragent::engine {

// --- Type tables ------------------------------------------------------------------------------

std::string_view gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8: return "uint8";
    case GgufValueType::INT8: return "int8";
    case GgufValueType::UINT16: return "uint16";
    case GgufValueType::INT16: return "int16";
    case GgufValueType::UINT32: return "uint32";
    case GgufValueType::INT32: return "int32";
    case GgufValueType::FLOAT32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "uint64";
    case GgufValueType::INT64: return "int64";
    case GgufValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id) {
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::F32: return GgmlTypeTraits{"F32", 1, 4};
    case GgmlType::F16: return GgmlTypeTraits{"F16", 1, 2};
    case GgmlType::Q4_0: return GgmlTypeTraits{"Q4_0", 32, 18};
    case GgmlType::Q4_1: return GgmlTypeTraits{"Q4_1", 32, 20};
    case GgmlType::Q5_0: return GgmlTypeTraits{"Q5_0", 32, 22};
    case GgmlType::Q5_1: return GgmlTypeTraits{"Q5_1", 32, 24};
    case GgmlType::Q8_0: return GgmlTypeTraits{"Q8_0", 32, 34};
    case GgmlType::Q8_1: return GgmlTypeTraits{"Q8_1", 32, 36};
    case GgmlType::Q2_K: return GgmlTypeTraits{"Q2_K", 256, 84};
    case GgmlType::Q3_K: return GgmlTypeTraits{"Q3_K", 256, 110};
    case GgmlType::Q4_K: return GgmlTypeTraits{"Q4_K", 256, 144};
    case GgmlType::Q5_K: return GgmlTypeTraits{"Q5_K", 256, 176};
    case GgmlType::Q6_K: return GgmlTypeTraits{"Q6_K", 256, 210};
    case GgmlType::Q8_K: return GgmlTypeTraits{"Q8_K", 256, 292};
    case GgmlType::IQ2_XXS: return GgmlTypeTraits{"IQ2_XXS", 256, 66};
    case GgmlType::IQ2_XS: return GgmlTypeTraits{"IQ2_XS", 256, 74};
    case GgmlType::IQ3_XXS: return GgmlTypeTraits{"IQ3_XXS", 256, 98};
    case GgmlType::IQ1_S: return GgmlTypeTraits{"IQ1_S", 256, 50};
    case GgmlType::IQ4_NL: return GgmlTypeTraits{"IQ4_NL", 32, 18};
    case GgmlType::IQ3_S: return GgmlTypeTraits{"IQ3_S", 256, 110};
    case GgmlType::IQ2_S: return GgmlTypeTraits{"IQ2_S", 256, 82};
    case GgmlType::IQ4_XS: return GgmlTypeTraits{"IQ4_XS", 256, 136};
    case GgmlType::I8: return GgmlTypeTraits{"I8", 1, 1};
    case GgmlType::I16: return GgmlTypeTraits{"I16", 1, 2};
    case GgmlType::I32: return GgmlTypeTraits{"I32", 1, 4};
    case GgmlType::I64: return GgmlTypeTraits{"I64", 1, 8};
    case GgmlType::F64: return GgmlTypeTraits{"F64", 1, 8};
    case GgmlType::IQ1_M: return GgmlTypeTraits{"IQ1_M", 256, 56};
    case GgmlType::BF16: return GgmlTypeTraits{"BF16", 1, 2};
    case GgmlType::TQ1_0: return GgmlTypeTraits{"TQ1_0", 256, 54};
    case GgmlType::TQ2_0: return GgmlTypeTraits{"TQ2_0", 256, 66};
    case GgmlType::MXFP4: return GgmlTypeTraits{"MXFP4", 32, 17};
  }
  return std::nullopt;
}

std::optional<uint64_t> ggml_tensor_nbytes(GgmlType type, std::span<const int64_t> ne) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  if (!traits || ne.empty()) return std::nullopt;
  for (int64_t n : ne) {
    if (n <= 0) return std::nullopt;
  }
  if (ne[0] % traits->block_size != 0) return std::nullopt;
  uint64_t bytes = static_cast<uint64_t>(ne[0] / traits->block_size) * traits->block_bytes;
  for (size_t i = 1; i < ne.size(); ++i) {
    if (bytes > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(ne[i])) return std::nullopt;
    bytes *= static_cast<uint64_t>(ne[i]);
  }
  return bytes;
}

int64_t GgufTensorInfo::element_count() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // validated against overflow when the file was parsed
  return n;
}

// --- Values -----------------------------------------------------------------------------------

namespace {

[[noreturn]] void throw_wrong_type(GgufValueType type, std::string_view wanted) {
  throw EngineError("value of type " + std::string(gguf_value_type_name(type)) + " is not " +
                    std::string(wanted));
}

}  // namespace

uint64_t GgufValue::as_u64() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&data); i && *i >= 0) return static_cast<uint64_t>(*i);
  throw_wrong_type(type, "a non-negative integer");
}

int64_t GgufValue::as_i64() const {
  if (const auto* i = std::get_if<int64_t>(&data)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&data);
      u && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  throw_wrong_type(type, "an integer that fits int64");
}

double GgufValue::as_f64() const {
  if (const auto* d = std::get_if<double>(&data)) return *d;
  if (const auto* i = std::get_if<int64_t>(&data)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  throw_wrong_type(type, "a number");
}

bool GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  throw_wrong_type(type, "a bool");
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&data)) return *s;
  throw_wrong_type(type, "a string");
}

const GgufArray& GgufValue::as_array() const {
  if (const auto* a = std::get_if<GgufArray>(&data)) return *a;
  throw_wrong_type(type, "an array");
}

// --- Parser -----------------------------------------------------------------------------------

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayNesting = 8;
// A parsed value takes ~48 bytes of memory however small its encoding, so the total is capped
// to keep a hostile file from turning 1 GB of u8 arrays into 48 GB. Real vocabularies need a
// few million values (tokens, scores, types, merges).
constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 25;
constexpr uint64_t kDefaultAlignment = 32;

// Smallest encoding of one value of `type`, so a count can be checked against the bytes left
// before anything is allocated for it.
uint64_t min_encoded_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64:
    case GgufValueType::STRING: return 8;    // a string is at least its length
    case GgufValueType::ARRAY: return 12;    // element type + count
  }
  return 1;
}

// Reads little-endian fields from the buffer. Every read checks the bytes left first; failures
// throw EngineError "NAME: offset N: CONTEXT: what", where CONTEXT names the key or tensor.
class Parser {
 public:
  Parser(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  void set_context(std::string context) { context_ = std::move(context); }

  [[noreturn]] void fail(uint64_t offset, const std::string& what) const {
    std::string msg = name_ + ": offset " + std::to_string(offset) + ": ";
    if (!context_.empty()) msg += context_ + ": ";
    throw EngineError(msg + what);
  }

  template <class T>
  T read(std::string_view what) {
    if (remaining() < sizeof(T)) {
      fail(pos_, std::string(what) + " (" + std::to_string(sizeof(T)) + " bytes) runs past end of file (size " +
                     std::to_string(size()) + ")");
    }
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string(std::string_view what) {
    const uint64_t at = pos_;
    const auto length = read<uint64_t>(std::string(what) + " length");
    if (length > remaining()) {
      fail(at, std::string(what) + " of " + std::to_string(length) + " bytes runs past end of file (size " +
                   std::to_string(size()) + ")");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(length));
    pos_ += length;
    return s;
  }

  GgufValueType read_value_type(std::string_view what) {
    const uint64_t at = pos_;
    const auto raw = read<uint32_t>(what);
    if (raw > static_cast<uint32_t>(GgufValueType::FLOAT64)) {
      fail(at, "unknown " + std::string(what) + " " + std::to_string(raw));
    }
    return static_cast<GgufValueType>(raw);
  }

  GgufValue read_value(GgufValueType type, int depth) {
    GgufValue v{type, uint64_t{0}};
    switch (type) {
      case GgufValueType::UINT8: v.data = uint64_t{read<uint8_t>("uint8 value")}; break;
      case GgufValueType::INT8: v.data = int64_t{read<int8_t>("int8 value")}; break;
      case GgufValueType::UINT16: v.data = uint64_t{read<uint16_t>("uint16 value")}; break;
      case GgufValueType::INT16: v.data = int64_t{read<int16_t>("int16 value")}; break;
      case GgufValueType::UINT32: v.data = uint64_t{read<uint32_t>("uint32 value")}; break;
      case GgufValueType::INT32: v.data = int64_t{read<int32_t>("int32 value")}; break;
      case GgufValueType::UINT64: v.data = read<uint64_t>("uint64 value"); break;
      case GgufValueType::INT64: v.data = read<int64_t>("int64 value"); break;
      case GgufValueType::FLOAT32: v.data = double{read<float>("float32 value")}; break;
      case GgufValueType::FLOAT64: v.data = read<double>("float64 value"); break;
      case GgufValueType::BOOL: v.data = read<uint8_t>("bool value") != 0; break;
      case GgufValueType::STRING: v.data = read_string("string"); break;
      case GgufValueType::ARRAY: v.data = read_array(depth + 1); break;
    }
    return v;
  }

  GgufArray read_array(int depth) {
    const uint64_t at = pos_;
    if (depth > kMaxArrayNesting) fail(at, "arrays nested more than " + std::to_string(kMaxArrayNesting) + " deep");
    GgufArray array{read_value_type("array element type"), {}};
    const uint64_t count_at = pos_;
    const auto count = read<uint64_t>("array length");
    const uint64_t min_bytes = min_encoded_bytes(array.element_type);
    if (count > remaining() / min_bytes) {
      fail(count_at, "array of " + std::to_string(count) + " " +
                         std::string(gguf_value_type_name(array.element_type)) +
                         "s runs past end of file (size " + std::to_string(size()) + ")");
    }
    if (count > kMaxMetadataValues - values_) {
      fail(count_at, "array of " + std::to_string(count) + " values takes the metadata past " +
                         std::to_string(kMaxMetadataValues) + " values in total");
    }
    values_ += count;
    array.values.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) array.values.push_back(read_value(array.element_type, depth));
    return array;
  }

  void skip_to(uint64_t offset) { pos_ = offset; }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  std::string context_;
  uint64_t pos_ = 0;
  uint64_t values_ = 0;  // array elements parsed so far
};

}  // namespace

struct GgufFile::Impl {
  std::filesystem::path path;
  std::string name;  // how errors name the file
  void* map = nullptr;
  size_t map_bytes = 0;
  std::span<const std::byte> bytes;
  uint32_t version = 0;
  uint64_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::map<std::string, size_t, std::less<>> key_index;
  std::vector<GgufTensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (map != nullptr) munmap(map, map_bytes);
  }

  void parse();
  void parse_metadata(Parser& p, uint64_t n_kv);
  void parse_tensor_infos(Parser& p, uint64_t n_tensors);
  void check_tensor_data(Parser& p, const std::vector<uint64_t>& info_offsets);
  [[noreturn]] void fail_key(std::string_view key, const std::string& what) const {
    throw EngineError(name + ": key '" + std::string(key) + "': " + what);
  }
};

void GgufFile::Impl::parse() {
  Parser p(bytes, name);
  const auto magic = p.read<uint32_t>("magic");
  if (magic != kGgufMagic) p.fail(0, "not a GGUF file (bad magic)");
  version = p.read<uint32_t>("version");
  if (version == 1) p.fail(4, "GGUF version 1 (32-bit counts) is not supported; convert the file to version 3");
  if (version != 2 && version != 3) p.fail(4, "unsupported GGUF version " + std::to_string(version));
  const auto n_tensors = p.read<uint64_t>("tensor count");
  const uint64_t n_kv_at = p.pos();
  const auto n_kv = p.read<uint64_t>("metadata count");
  // Each key-value pair takes at least 13 bytes (key length, value type, one byte of value).
  if (n_kv > p.remaining() / 13) {
    p.fail(n_kv_at, std::to_string(n_kv) + " metadata entries run past end of file (size " + std::to_string(p.size()) + ")");
  }
  parse_metadata(p, n_kv);
  // A tensor info takes at least 32 bytes (name length, n_dims, one dimension, type, offset).
  if (n_tensors > p.remaining() / 32) {
    p.set_context("");
    p.fail(8, std::to_string(n_tensors) + " tensor infos run past end of file (size " + std::to_string(p.size()) + ")");
  }
  parse_tensor_infos(p, n_tensors);
}

void GgufFile::Impl::parse_metadata(Parser& p, uint64_t n_kv) {
  metadata.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t key_at = p.pos();
    p.set_context("metadata entry " + std::to_string(i));
    std::string key = p.read_string("key");
    p.set_context("key '" + key + "'");
    if (key_index.count(key) != 0) p.fail(key_at, "duplicate key");
    const GgufValueType type = p.read_value_type("value type");
    const uint64_t value_at = p.pos();
    GgufValue value = p.read_value(type, 0);
    if (key == "general.alignment") {
      if (type != GgufValueType::UINT32 && type != GgufValueType::UINT64 && type != GgufValueType::INT32) {
        p.fail(value_at, "alignment must be an integer, found " + std::string(gguf_value_type_name(type)));
      }
      const auto* u = std::get_if<uint64_t>(&value.data);
      const auto* s = std::get_if<int64_t>(&value.data);
      const uint64_t a = u ? *u : (*s > 0 ? static_cast<uint64_t>(*s) : 0);
      if (a == 0 || !std::has_single_bit(a) || a > (uint64_t{1} << 30)) {
        p.fail(value_at, "alignment " + std::to_string(u ? *u : static_cast<uint64_t>(*s)) +
                             " is not a power of two between 1 and 2^30");
      }
      alignment = a;
    }
    key_index.emplace(key, metadata.size());
    metadata.emplace_back(std::move(key), std::move(value));
  }
}

void GgufFile::Impl::parse_tensor_infos(Parser& p, uint64_t n_tensors) {
  std::vector<uint64_t> info_offsets;
  tensors.reserve(static_cast<size_t>(n_tensors));
  info_offsets.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t info_at = p.pos();
    p.set_context("tensor info " + std::to_string(i));
    GgufTensorInfo t;
    t.name = p.read_string("tensor name");
    p.set_context("tensor '" + t.name + "'");
    if (tensor_index.count(t.name) != 0) p.fail(info_at, "duplicate tensor name");
    const uint64_t dims_at = p.pos();
    const auto n_dims = p.read<uint32_t>("dimension count");
    if (n_dims < 1 || n_dims > 4) p.fail(dims_at, "dimension count " + std::to_string(n_dims) + " is not 1..4");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t at = p.pos();
      const auto n = p.read<uint64_t>("dimension");
      if (n == 0 || n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        p.fail(at, "dimension " + std::to_string(d) + " is " + std::to_string(static_cast<int64_t>(n)) + ", not positive");
      }
      if (elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n) {
        p.fail(at, "element count overflows");
      }
      elements *= n;
      t.ne.push_back(static_cast<int64_t>(n));
    }
    const uint64_t type_at = p.pos();
    const auto type_id = p.read<uint32_t>("tensor type");
    const auto traits = ggml_type_traits(type_id);
    if (!traits) p.fail(type_at, "unknown ggml type " + std::to_string(type_id));
    t.type = static_cast<GgmlType>(type_id);
    if (t.ne[0] % traits->block_size != 0) {
      p.fail(type_at, "row of " + std::to_string(t.ne[0]) + " values is not a multiple of the " +
                          std::string(traits->name) + " block size " + std::to_string(traits->block_size));
    }
    const auto nbytes = ggml_tensor_nbytes(t.type, t.ne);
    if (!nbytes) p.fail(type_at, "tensor size overflows");
    t.nbytes = *nbytes;
    info_offsets.push_back(p.pos());
    t.offset = p.read<uint64_t>("tensor data offset");
    tensor_index.emplace(t.name, tensors.size());
    tensors.push_back(std::move(t));
  }
  p.set_context("");
  // The data section starts at the next multiple of the alignment (alignment <= 2^30, so no overflow).
  data_offset = (p.pos() + alignment - 1) / alignment * alignment;
  check_tensor_data(p, info_offsets);
}

void GgufFile::Impl::check_tensor_data(Parser& p, const std::vector<uint64_t>& info_offsets) {
  if (tensors.empty()) return;
  if (data_offset > p.size()) {
    p.fail(p.pos(), "data section at offset " + std::to_string(data_offset) + " starts past end of file (size " +
                        std::to_string(p.size()) + ")");
  }
  const uint64_t data_bytes = p.size() - data_offset;
  for (size_t i = 0; i < tensors.size(); ++i) {
    GgufTensorInfo& t = tensors[i];
    p.set_context("tensor '" + t.name + "'");
    if (t.offset % alignment != 0) {
      p.fail(info_offsets[i], "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                  std::to_string(alignment));
    }
    if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset) {
      p.fail(info_offsets[i], "data of " + std::to_string(t.nbytes) + " bytes at data offset " + std::to_string(t.offset) +
                                  " runs past end of file (size " + std::to_string(p.size()) + ", data section at " +
                                  std::to_string(data_offset) + ")");
    }
    t.data = bytes.data() + data_offset + t.offset;
  }
}

// --- GgufFile ---------------------------------------------------------------------------------

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw EngineError(impl->name + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    throw EngineError(impl->name + ": not a regular file" + (err ? std::string(": ") + std::strerror(err) : ""));
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw EngineError(impl->name + ": cannot map " + std::to_string(size) + " bytes: " + std::strerror(err));
    }
    impl->map = map;
    impl->map_bytes = size;
    impl->bytes = {static_cast<const std::byte*>(map), size};
  }
  ::close(fd);
  impl->parse();
  return GgufFile(std::move(impl));
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->path = name;
  impl->name = std::move(name);
  impl->bytes = bytes;
  impl->parse();
  return GgufFile(std::move(impl));
}

const std::filesystem::path& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }
uint64_t GgufFile::file_size() const { return impl_->bytes.size(); }

const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const { return impl_->metadata; }

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = impl_->key_index.find(key);
  return it == impl_->key_index.end() ? nullptr : &impl_->metadata[it->second].second;
}

namespace {

// Runs a typed conversion on the value of `key`, naming file and key when the type is wrong.
template <class F>
auto typed_lookup(const GgufFile& file, std::string_view key, F convert)
    -> std::optional<std::decay_t<decltype(convert(std::declval<const GgufValue&>()))>> {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return std::nullopt;
  try {
    return convert(*v);
  } catch (const EngineError& e) {
    throw EngineError(file.path().string() + ": key '" + std::string(key) + "': " + e.what());
  }
}

}  // namespace

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  return typed_lookup(*this, key, [](const GgufValue& v) { return v.as_string(); });
}
std::optional<uint64_t> GgufFile::get_u64(std::string_view key) const {
  return typed_lookup(*this, key, [](const GgufValue& v) { return v.as_u64(); });
}
std::optional<int64_t> GgufFile::get_i64(std::string_view key) const {
  return typed_lookup(*this, key, [](const GgufValue& v) { return v.as_i64(); });
}
std::optional<double> GgufFile::get_f64(std::string_view key) const {
  return typed_lookup(*this, key, [](const GgufValue& v) { return v.as_f64(); });
}
std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  return typed_lookup(*this, key, [](const GgufValue& v) { return v.as_bool(); });
}
const GgufArray* GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return nullptr;
  const auto* array = std::get_if<GgufArray>(&v->data);
  if (array == nullptr) impl_->fail_key(key, "value of type " + std::string(gguf_value_type_name(v->type)) + " is not an array");
  return array;
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

}  // namespace ragent::engine
