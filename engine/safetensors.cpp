#include "engine/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <boost/json.hpp>
#include <simdjson.h>

namespace ragent::engine {

namespace {

struct DTypeInfo {
  SafetensorsDType dtype;
  std::string_view name;
  size_t bytes;
};

constexpr std::array<DTypeInfo, 15> kDTypes{{
    {SafetensorsDType::BOOL, "BOOL", 1},       {SafetensorsDType::U8, "U8", 1},
    {SafetensorsDType::I8, "I8", 1},           {SafetensorsDType::F8_E5M2, "F8_E5M2", 1},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 1}, {SafetensorsDType::I16, "I16", 2},
    {SafetensorsDType::U16, "U16", 2},         {SafetensorsDType::F16, "F16", 2},
    {SafetensorsDType::BF16, "BF16", 2},       {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::U32, "U32", 4},         {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::F64, "F64", 8},         {SafetensorsDType::I64, "I64", 8},
    {SafetensorsDType::U64, "U64", 8},
}};

const DTypeInfo& dtype_info(SafetensorsDType dtype) {
  return kDTypes.at(static_cast<size_t>(dtype));
}

// A read-only private mapping of a whole file. Empty files are not mapped.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, "cannot open");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      fail(path, "cannot stat");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw EngineError(path.string() + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        fail(path, "cannot map");
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  [[noreturn]] static void fail(const std::filesystem::path& path, const char* what) {
    throw EngineError(path.string() + ": " + what + ": " + std::strerror(errno));
  }
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

uint64_t read_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Errors for one file, with the absolute position of the data section.
struct HeaderContext {
  std::string file;
  uint64_t data_offset;

  [[noreturn]] void fail(const std::string& what) const { throw EngineError(file + ": " + what); }
  [[noreturn]] void fail_tensor(std::string_view tensor, const std::string& what) const {
    fail("tensor '" + std::string(tensor) + "': " + what);
  }
  std::string where(uint64_t begin, uint64_t end) const {
    std::string s = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
    if (begin <= end && end <= std::numeric_limits<uint64_t>::max() - data_offset) {
      s += " (file bytes " + std::to_string(data_offset + begin) + ".." +
           std::to_string(data_offset + end) + ")";
    }
    return s;
  }
};

std::string json_error(simdjson::error_code error) { return simdjson::error_message(error); }

uint64_t tensor_uint(const HeaderContext& ctx, std::string_view tensor, std::string_view field,
                     simdjson::dom::element value) {
  uint64_t v = 0;
  if (value.get_uint64().get(v) != simdjson::SUCCESS) {
    ctx.fail_tensor(tensor, std::string(field) + " must hold non-negative integers");
  }
  return v;
}

SafetensorsTensor parse_tensor_entry(const HeaderContext& ctx, std::string_view name,
                                     simdjson::dom::element entry) {
  simdjson::dom::object obj;
  if (entry.get_object().get(obj) != simdjson::SUCCESS) ctx.fail_tensor(name, "entry is not an object");
  SafetensorsTensor t;
  t.name = std::string(name);

  std::string_view dtype_name;
  if (obj["dtype"].get_string().get(dtype_name) != simdjson::SUCCESS) {
    ctx.fail_tensor(name, "missing string field 'dtype'");
  }
  auto dtype = parse_safetensors_dtype(dtype_name);
  if (!dtype) ctx.fail_tensor(name, "unknown dtype '" + std::string(dtype_name) + "'");
  t.dtype = *dtype;

  simdjson::dom::array shape;
  if (obj["shape"].get_array().get(shape) != simdjson::SUCCESS) {
    ctx.fail_tensor(name, "missing array field 'shape'");
  }
  uint64_t elements = 1;
  bool overflow = false;
  for (simdjson::dom::element dim : shape) {
    uint64_t d = tensor_uint(ctx, name, "shape", dim);
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    t.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
    elements *= d;
  }

  simdjson::dom::array offsets;
  if (obj["data_offsets"].get_array().get(offsets) != simdjson::SUCCESS || offsets.size() != 2) {
    ctx.fail_tensor(name, "'data_offsets' must be an array of two integers");
  }
  t.begin = tensor_uint(ctx, name, "data_offsets", offsets.at(0).value_unsafe());
  t.end = tensor_uint(ctx, name, "data_offsets", offsets.at(1).value_unsafe());
  if (t.end < t.begin) ctx.fail_tensor(name, ctx.where(t.begin, t.end) + ": end is before begin");

  size_t elem_bytes = safetensors_dtype_bytes(t.dtype);
  if (overflow || elements > std::numeric_limits<uint64_t>::max() / elem_bytes) {
    ctx.fail_tensor(name, "shape is too large");
  }
  uint64_t expected = elements * elem_bytes;
  if (t.end - t.begin != expected) {
    ctx.fail_tensor(name, ctx.where(t.begin, t.end) + " hold " + std::to_string(t.end - t.begin) +
                              " bytes but dtype " + std::string(dtype_name) + " and shape need " +
                              std::to_string(expected));
  }
  return t;
}

void parse_metadata(const HeaderContext& ctx, simdjson::dom::element value,
                    std::map<std::string, std::string, std::less<>>& out) {
  simdjson::dom::object obj;
  if (value.get_object().get(obj) != simdjson::SUCCESS) ctx.fail("'__metadata__' is not an object");
  for (auto field : obj) {
    std::string_view text;
    if (field.value.get_string().get(text) != simdjson::SUCCESS) {
      ctx.fail("'__metadata__' key '" + std::string(field.key) + "' is not a string");
    }
    if (!out.emplace(std::string(field.key), std::string(text)).second) {
      ctx.fail("'__metadata__' key '" + std::string(field.key) + "' appears twice");
    }
  }
}

// Requires the tensors, sorted by offset, to tile [0, data_bytes) exactly.
void check_layout(const HeaderContext& ctx, std::vector<SafetensorsTensor>& tensors,
                  uint64_t data_bytes) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const SafetensorsTensor* previous = nullptr;
  for (const SafetensorsTensor& t : tensors) {
    if (t.end > data_bytes) {
      ctx.fail_tensor(t.name, ctx.where(t.begin, t.end) + " run past the end of the file (data section holds " +
                                  std::to_string(data_bytes) + " bytes)");
    }
    if (t.begin < covered) {
      ctx.fail_tensor(t.name, ctx.where(t.begin, t.end) + " overlap tensor '" + previous->name +
                                  "' at " + ctx.where(previous->begin, previous->end));
    }
    if (t.begin > covered) {
      ctx.fail_tensor(t.name, ctx.where(t.begin, t.end) + " leave a hole of " +
                                  std::to_string(t.begin - covered) + " bytes before them");
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_bytes) {
    ctx.fail("data section has " + std::to_string(data_bytes - covered) +
             " bytes after the last tensor (at file byte " + std::to_string(ctx.data_offset + covered) + ")");
  }
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDType dtype) { return dtype_info(dtype).name; }
size_t safetensors_dtype_bytes(SafetensorsDType dtype) { return dtype_info(dtype).bytes; }

std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

int64_t SafetensorsTensor::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---- SafetensorsFile ----

struct SafetensorsFile::Impl {
  std::filesystem::path path;
  std::unique_ptr<MappedFile> map;  // null for parse()
  std::span<const std::byte> bytes;
  uint64_t data_offset = 0;
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string_view, size_t, std::less<>> by_name;
  std::map<std::string, std::string, std::less<>> metadata;

  void parse_header();
};

void SafetensorsFile::Impl::parse_header() {
  HeaderContext ctx{path.string(), 0};
  if (bytes.size() < 8) {
    ctx.fail("file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes = read_le64(bytes.data());
  if (header_bytes > kSafetensorsMaxHeaderBytes) {
    ctx.fail("header length " + std::to_string(header_bytes) + " exceeds the limit of " +
             std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  if (header_bytes > bytes.size() - 8) {
    ctx.fail("header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
             std::to_string(bytes.size()) + " bytes)");
  }
  data_offset = 8 + header_bytes;
  ctx.data_offset = data_offset;
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (header_bytes == 0 || text[0] != '{') ctx.fail("header at byte 8 does not start with '{'");

  simdjson::dom::parser parser;
  simdjson::dom::object root;
  auto error = parser.parse(text, header_bytes, true).get_object().get(root);
  if (error != simdjson::SUCCESS) ctx.fail("header (bytes 8.." + std::to_string(data_offset) + ") is not valid JSON: " + json_error(error));

  std::set<std::string_view> seen;
  for (auto field : root) {
    if (!seen.insert(field.key).second) ctx.fail("header key '" + std::string(field.key) + "' appears twice");
    if (field.key == "__metadata__") {
      parse_metadata(ctx, field.value, metadata);
    } else {
      tensors.push_back(parse_tensor_entry(ctx, field.key, field.value));
    }
  }
  check_layout(ctx, tensors, bytes.size() - data_offset);
  for (size_t i = 0; i < tensors.size(); ++i) {
    tensors[i].data = bytes.data() + data_offset + tensors[i].begin;
    by_name.emplace(tensors[i].name, i);
  }
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->map = std::make_unique<MappedFile>(path);
  impl->bytes = impl->map->bytes();
  impl->parse_header();
  return SafetensorsFile(std::move(impl));
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(name);
  impl->bytes = bytes;
  impl->parse_header();
  return SafetensorsFile(std::move(impl));
}

const std::filesystem::path& SafetensorsFile::path() const { return impl_->path; }
uint64_t SafetensorsFile::file_size() const { return impl_->bytes.size(); }
uint64_t SafetensorsFile::data_offset() const { return impl_->data_offset; }
const std::vector<SafetensorsTensor>& SafetensorsFile::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string, std::less<>>& SafetensorsFile::metadata() const {
  return impl_->metadata;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : &impl_->tensors[it->second];
}

// ---- SafetensorsCheckpoint ----

struct SafetensorsCheckpoint::Impl {
  std::filesystem::path path;
  std::vector<SafetensorsFile> shards;
  std::map<std::string, const SafetensorsTensor*, std::less<>> tensors;
  std::map<const SafetensorsTensor*, size_t> shard_of;

  void add_all(size_t shard) {
    for (const SafetensorsTensor& t : shards[shard].tensors()) {
      tensors.emplace(t.name, &t);
      shard_of.emplace(&t, shard);
    }
  }
  void open_index(const std::filesystem::path& index_path);
};

namespace {

std::string read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EngineError(path.string() + ": cannot open: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw EngineError(path.string() + ": read error");
  return text;
}

// A shard name from an index must be a plain file name in the index's directory.
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace

void SafetensorsCheckpoint::Impl::open_index(const std::filesystem::path& index_path) {
  const std::string file = index_path.string();
  std::string text = read_small_file(index_path);
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  auto error = parser.parse(text).get_object().get(root);
  if (error != simdjson::SUCCESS) throw EngineError(file + ": not a JSON object: " + json_error(error));
  simdjson::dom::object weight_map;
  if (root["weight_map"].get_object().get(weight_map) != simdjson::SUCCESS) {
    throw EngineError(file + ": missing object 'weight_map'");
  }
  std::map<std::string, size_t, std::less<>> shard_index;
  std::vector<std::pair<std::string, size_t>> entries;
  for (auto field : weight_map) {
    std::string_view shard;
    if (field.value.get_string().get(shard) != simdjson::SUCCESS) {
      throw EngineError(file + ": weight_map entry '" + std::string(field.key) + "' is not a string");
    }
    if (!is_plain_file_name(shard)) {
      throw EngineError(file + ": weight_map entry '" + std::string(field.key) + "' names shard '" +
                        std::string(shard) + "', which is not a file name in the index's directory");
    }
    auto it = shard_index.find(shard);
    if (it == shard_index.end()) {
      it = shard_index.emplace(std::string(shard), shards.size()).first;
      shards.push_back(SafetensorsFile::open(index_path.parent_path() / std::string(shard)));
    }
    entries.emplace_back(std::string(field.key), it->second);
  }
  if (entries.empty()) throw EngineError(file + ": weight_map is empty");
  for (const auto& [name, shard] : entries) {
    const SafetensorsTensor* t = shards[shard].find(name);
    if (t == nullptr) {
      throw EngineError(file + ": weight_map puts tensor '" + name + "' in " +
                        shards[shard].path().string() + ", which does not hold it");
    }
    if (!tensors.emplace(name, t).second) {
      throw EngineError(file + ": weight_map lists tensor '" + name + "' twice");
    }
    shard_of.emplace(t, shard);
  }
}

SafetensorsCheckpoint::SafetensorsCheckpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsCheckpoint::SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
SafetensorsCheckpoint& SafetensorsCheckpoint::operator=(SafetensorsCheckpoint&&) noexcept = default;
SafetensorsCheckpoint::~SafetensorsCheckpoint() = default;

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  std::filesystem::path target = path;
  if (std::filesystem::is_directory(path)) {
    if (std::filesystem::exists(path / "model.safetensors.index.json")) {
      target = path / "model.safetensors.index.json";
    } else if (std::filesystem::exists(path / "model.safetensors")) {
      target = path / "model.safetensors";
    } else {
      throw EngineError(path.string() +
                        ": directory holds neither model.safetensors.index.json nor model.safetensors");
    }
  }
  impl->path = target;
  if (target.extension() == ".json") {
    impl->open_index(target);
  } else {
    impl->shards.push_back(SafetensorsFile::open(target));
    impl->add_all(0);
  }
  return SafetensorsCheckpoint(std::move(impl));
}

const std::filesystem::path& SafetensorsCheckpoint::path() const { return impl_->path; }
const std::vector<SafetensorsFile>& SafetensorsCheckpoint::shards() const { return impl_->shards; }

const SafetensorsTensor* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = impl_->tensors.find(name);
  return it == impl_->tensors.end() ? nullptr : it->second;
}

const std::map<std::string, const SafetensorsTensor*, std::less<>>& SafetensorsCheckpoint::tensors() const {
  return impl_->tensors;
}

const std::filesystem::path& SafetensorsCheckpoint::shard_path_of(const SafetensorsTensor& tensor) const {
  auto it = impl_->shard_of.find(&tensor);
  if (it == impl_->shard_of.end()) {
    throw EngineError(impl_->path.string() + ": tensor '" + tensor.name + "' is not from this checkpoint");
  }
  return impl_->shards[it->second].path();
}

// ---- SafetensorsWriter ----

void SafetensorsWriter::add_tensor(std::string name, SafetensorsDType dtype, std::vector<int64_t> shape,
                                   std::span<const std::byte> data) {
  uint64_t expected = safetensors_dtype_bytes(dtype);
  for (int64_t d : shape) {
    if (d < 0) throw EngineError("safetensors writer: tensor '" + name + "' has a negative dimension");
    expected *= static_cast<uint64_t>(d);
  }
  if (expected != data.size()) {
    throw EngineError("safetensors writer: tensor '" + name + "' needs " + std::to_string(expected) +
                      " bytes, got " + std::to_string(data.size()));
  }
  tensors_.push_back({std::move(name), dtype, std::move(shape), {data.begin(), data.end()}});
}

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

std::vector<std::byte> SafetensorsWriter::to_bytes() const {
  boost::json::object header;
  if (!metadata_.empty()) {
    boost::json::object meta;
    for (const auto& [k, v] : metadata_) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    boost::json::array shape(t.shape.begin(), t.shape.end());
    uint64_t end = offset + t.data.size();
    header[t.name] = boost::json::object{{"dtype", safetensors_dtype_name(t.dtype)},
                                         {"shape", std::move(shape)},
                                         {"data_offsets", boost::json::array{offset, end}}};
    offset = end;
  }
  std::string text = boost::json::serialize(header);
  while (text.size() % 8 != 0) text.push_back(' ');  // keeps the data section 8-byte aligned

  std::vector<std::byte> out(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* dst = out.data() + 8 + text.size();
  for (const Tensor& t : tensors_) {
    if (!t.data.empty()) std::memcpy(dst, t.data.data(), t.data.size());
    dst += t.data.size();
  }
  return out;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  std::vector<std::byte> bytes = to_bytes();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw EngineError(tmp.string() + ": cannot create: " + std::strerror(errno));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw EngineError(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace ragent::engine
