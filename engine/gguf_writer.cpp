// GGUF writer: version 3, little-endian, tensors padded to the alignment.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/gguf.hpp"

namespace ragent::engine {

namespace {

constexpr size_t kMaxTensorNameBytes = 63;  // llama.cpp refuses names of 64 bytes or more

using Sink = std::function<void(std::span<const std::byte>)>;

template <class T>
void put(const Sink& sink, T value) {
  std::array<std::byte, sizeof(T)> raw;
  std::memcpy(raw.data(), &value, sizeof(T));
  sink(raw);
}

void put_string(const Sink& sink, std::string_view s) {
  put<uint64_t>(sink, s.size());
  sink(std::as_bytes(std::span(s.data(), s.size())));
}

void put_padding(const Sink& sink, uint64_t written, uint64_t alignment) {
  static constexpr std::array<std::byte, 64> kZeros{};
  uint64_t pad = (alignment - written % alignment) % alignment;
  while (pad > 0) {
    const uint64_t n = std::min<uint64_t>(pad, kZeros.size());
    sink(std::span(kZeros.data(), static_cast<size_t>(n)));
    pad -= n;
  }
}

[[noreturn]] void bad_value(std::string_view key, const std::string& what) {
  throw EngineError("GGUF writer: key '" + std::string(key) + "': " + what);
}

// Integer in range of `type`, from either signed or unsigned storage.
template <class T>
T checked_int(std::string_view key, const GgufValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.data)) {
    if (*u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(*u);
    bad_value(key, std::to_string(*u) + " does not fit " + std::string(gguf_value_type_name(v.type)));
  }
  if (const auto* i = std::get_if<int64_t>(&v.data)) {
    if constexpr (std::is_signed_v<T>) {
      if (*i >= std::numeric_limits<T>::min() && *i <= std::numeric_limits<T>::max()) return static_cast<T>(*i);
    } else {
      if (*i >= 0 && static_cast<uint64_t>(*i) <= std::numeric_limits<T>::max()) return static_cast<T>(*i);
    }
    bad_value(key, std::to_string(*i) + " does not fit " + std::string(gguf_value_type_name(v.type)));
  }
  bad_value(key, std::string(gguf_value_type_name(v.type)) + " value holds no integer");
}

void put_value(const Sink& sink, std::string_view key, const GgufValue& v, int depth) {
  switch (v.type) {
    case GgufValueType::UINT8: put(sink, checked_int<uint8_t>(key, v)); return;
    case GgufValueType::INT8: put(sink, checked_int<int8_t>(key, v)); return;
    case GgufValueType::UINT16: put(sink, checked_int<uint16_t>(key, v)); return;
    case GgufValueType::INT16: put(sink, checked_int<int16_t>(key, v)); return;
    case GgufValueType::UINT32: put(sink, checked_int<uint32_t>(key, v)); return;
    case GgufValueType::INT32: put(sink, checked_int<int32_t>(key, v)); return;
    case GgufValueType::UINT64: put(sink, checked_int<uint64_t>(key, v)); return;
    case GgufValueType::INT64: put(sink, checked_int<int64_t>(key, v)); return;
    case GgufValueType::FLOAT32: put(sink, static_cast<float>(v.as_f64())); return;
    case GgufValueType::FLOAT64: put(sink, v.as_f64()); return;
    case GgufValueType::BOOL: put<uint8_t>(sink, v.as_bool() ? 1 : 0); return;
    case GgufValueType::STRING: put_string(sink, v.as_string()); return;
    case GgufValueType::ARRAY: {
      if (depth >= 8) bad_value(key, "arrays nested more than 8 deep");
      const GgufArray& a = v.as_array();
      put(sink, static_cast<uint32_t>(a.element_type));
      put<uint64_t>(sink, a.values.size());
      for (const GgufValue& e : a.values) {
        if (e.type != a.element_type) {
          bad_value(key, "array of " + std::string(gguf_value_type_name(a.element_type)) + " holds a " +
                             std::string(gguf_value_type_name(e.type)));
        }
        put_value(sink, key, e, depth + 1);
      }
      return;
    }
  }
  bad_value(key, "unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
}

// Checks each value before anything is written, so a bad value fails before the file exists.
void check_value(std::string_view key, const GgufValue& v) {
  const Sink discard = [](std::span<const std::byte>) {};
  put_value(discard, key, v, 0);
}

}  // namespace

GgufWriter::GgufWriter() = default;

void GgufWriter::set_alignment(uint64_t alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > (uint64_t{1} << 30)) {
    throw EngineError("GGUF writer: alignment " + std::to_string(alignment) + " is not a power of two up to 2^30");
  }
  alignment_ = alignment;
  set("general.alignment", GgufValue{GgufValueType::UINT32, uint64_t{alignment}});
}

void GgufWriter::set(std::string key, GgufValue value) {
  check_value(key, value);
  if (key == "general.alignment") {
    // Any integer type the reader accepts (uint32 as written by llama.cpp, int32, uint64).
    const auto* u = std::get_if<uint64_t>(&value.data);
    const auto* i = std::get_if<int64_t>(&value.data);
    if (u == nullptr && (i == nullptr || *i <= 0)) bad_value(key, "alignment must be a positive integer");
    const uint64_t a = u != nullptr ? *u : static_cast<uint64_t>(*i);
    if (a == 0 || !std::has_single_bit(a) || a > (uint64_t{1} << 30)) {
      bad_value(key, std::to_string(a) + " is not a power of two up to 2^30");
    }
    alignment_ = a;
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::set_string(std::string key, std::string value) {
  set(std::move(key), GgufValue{GgufValueType::STRING, std::move(value)});
}
void GgufWriter::set_u32(std::string key, uint32_t value) {
  set(std::move(key), GgufValue{GgufValueType::UINT32, uint64_t{value}});
}
void GgufWriter::set_i32(std::string key, int32_t value) {
  set(std::move(key), GgufValue{GgufValueType::INT32, int64_t{value}});
}
void GgufWriter::set_f32(std::string key, float value) {
  set(std::move(key), GgufValue{GgufValueType::FLOAT32, double{value}});
}
void GgufWriter::set_bool(std::string key, bool value) {
  set(std::move(key), GgufValue{GgufValueType::BOOL, value});
}
void GgufWriter::set_string_array(std::string key, std::vector<std::string> values) {
  GgufArray array{GgufValueType::STRING, {}};
  array.values.reserve(values.size());
  for (auto& s : values) array.values.push_back(GgufValue{GgufValueType::STRING, std::move(s)});
  set_array(std::move(key), std::move(array));
}
void GgufWriter::set_array(std::string key, GgufArray values) {
  set(std::move(key), GgufValue{GgufValueType::ARRAY, std::move(values)});
}

void GgufWriter::check_new_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                                  uint64_t& nbytes) const {
  const std::string where = "GGUF writer: tensor '" + name + "': ";
  if (name.size() > kMaxTensorNameBytes) {
    throw EngineError(where + "name is longer than " + std::to_string(kMaxTensorNameBytes) + " bytes");
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw EngineError(where + "duplicate tensor name");
  }
  const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  if (!traits) throw EngineError(where + "unknown ggml type " + std::to_string(static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > 4) throw EngineError(where + std::to_string(ne.size()) + " dimensions, not 1..4");
  const auto size = ggml_tensor_nbytes(type, ne);
  if (!size) {
    throw EngineError(where + "dimensions must be positive, ne[0] a multiple of the " + std::string(traits->name) +
                      " block size " + std::to_string(traits->block_size) + ", and the size must fit 64 bits");
  }
  nbytes = *size;
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                            std::span<const std::byte> data) {
  uint64_t nbytes = 0;
  check_new_tensor(name, type, ne, nbytes);
  if (data.size() != nbytes) {
    throw EngineError("GGUF writer: tensor '" + name + "': " + std::to_string(data.size()) + " bytes given, " +
                      std::to_string(nbytes) + " expected");
  }
  tensors_.push_back(Tensor{std::move(name), type, std::move(ne), {data.begin(), data.end()}, {}, nbytes});
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, TensorProducer produce) {
  uint64_t nbytes = 0;
  check_new_tensor(name, type, ne, nbytes);
  if (!produce) throw EngineError("GGUF writer: tensor '" + name + "': empty producer");
  tensors_.push_back(Tensor{std::move(name), type, std::move(ne), {}, std::move(produce), nbytes});
}

void GgufWriter::emit(const Sink& sink) const {
  uint64_t written = 0;
  const Sink counted = [&](std::span<const std::byte> bytes) {
    sink(bytes);
    written += bytes.size();
  };
  counted(std::as_bytes(std::span("GGUF", 4)));
  put<uint32_t>(counted, 3);
  put<uint64_t>(counted, tensors_.size());
  put<uint64_t>(counted, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(counted, key);
    put(counted, static_cast<uint32_t>(value.type));
    put_value(counted, key, value, 0);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(counted, t.name);
    put<uint32_t>(counted, static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) put<int64_t>(counted, n);
    put(counted, static_cast<uint32_t>(t.type));
    put<uint64_t>(counted, offset);
    offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  put_padding(counted, written, alignment_);
  std::vector<std::byte> buffer;
  for (const Tensor& t : tensors_) {
    if (t.produce) {
      buffer.assign(static_cast<size_t>(t.nbytes), std::byte{0});
      t.produce(buffer);
      counted(buffer);
    } else {
      counted(t.data);
    }
    put_padding(counted, written, alignment_);
  }
}

std::vector<std::byte> GgufWriter::to_bytes() const {
  std::vector<std::byte> out;
  emit([&](std::span<const std::byte> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); });
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw EngineError(tmp.string() + ": cannot create: " + std::strerror(errno));
  try {
    emit([&](std::span<const std::byte> bytes) {
      if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
        throw EngineError(tmp.string() + ": write failed: " + std::strerror(errno));
      }
    });
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) {
      throw EngineError(tmp.string() + ": flush failed: " + std::strerror(errno));
    }
    const int rc = std::fclose(f);
    f = nullptr;
    if (rc != 0) throw EngineError(tmp.string() + ": close failed: " + std::strerror(errno));
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw EngineError(path.string() + ": cannot rename from " + tmp.string() + ": " + ec.message());
  } catch (...) {
    if (f != nullptr) std::fclose(f);
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace ragent::engine
