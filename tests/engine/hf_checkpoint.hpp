// Test helpers: small random Hugging Face checkpoints (config.json + single or sharded
// safetensors) in a temporary directory, and a check that a pointer lies in a mapping of a file.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/safetensors.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine::model_testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ragent_model_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::optional<SafetensorsDType> dtype = std::nullopt;  // the checkpoint's dtype when unset
};

struct WrittenTensor {
  SafetensorsDType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
  std::string shard;  // file name
};

// Random values in [-1, 1) stored as `dtype` (F32, F16 or BF16); random bytes for other dtypes.
inline std::vector<std::byte> random_tensor_bytes(SafetensorsDType dtype, int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::byte> out(static_cast<size_t>(count) * safetensors_dtype_bytes(dtype));
  for (int64_t i = 0; i < count; ++i) {
    float v = dist(rng);
    if (dtype == SafetensorsDType::F32) {
      std::memcpy(out.data() + i * 4, &v, 4);
    } else if (dtype != SafetensorsDType::F16 && dtype != SafetensorsDType::BF16) {
      for (size_t b = 0; b < safetensors_dtype_bytes(dtype); ++b) {
        out[static_cast<size_t>(i) * safetensors_dtype_bytes(dtype) + b] = static_cast<std::byte>(rng());
      }
    } else {
      uint16_t h = dtype == SafetensorsDType::F16 ? kernels::f32_to_f16(v) : kernels::f32_to_bf16(v);
      std::memcpy(out.data() + i * 2, &h, 2);
    }
  }
  return out;
}

// Writes `tensors` with random values into `n_shards` files in `dir`: model.safetensors for
// one shard, else model-0000K-of-0000N.safetensors and model.safetensors.index.json.
inline std::map<std::string, WrittenTensor> write_checkpoint(const std::filesystem::path& dir,
                                                             const std::vector<TensorSpec>& tensors,
                                                             SafetensorsDType dtype, int n_shards = 1,
                                                             uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::vector<SafetensorsWriter> writers(static_cast<size_t>(n_shards));
  std::vector<std::string> names;
  for (int k = 0; k < n_shards; ++k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", k + 1, n_shards);
    names.push_back(n_shards == 1 ? "model.safetensors" : buf);
  }
  std::map<std::string, WrittenTensor> written;
  boost::json::object weight_map;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    const size_t shard = i % static_cast<size_t>(n_shards);
    const SafetensorsDType tensor_dtype = t.dtype.value_or(dtype);
    WrittenTensor w{tensor_dtype, t.shape, random_tensor_bytes(tensor_dtype, count, rng), names[shard]};
    writers[shard].add_tensor(t.name, tensor_dtype, t.shape, w.bytes);
    weight_map[t.name] = names[shard];
    written.emplace(t.name, std::move(w));
  }
  for (size_t k = 0; k < writers.size(); ++k) {
    writers[k].set_metadata("format", "pt");
    writers[k].write(dir / names[k]);
  }
  if (n_shards > 1) {
    boost::json::object index{{"metadata", boost::json::object{{"total_size", 0}}}, {"weight_map", weight_map}};
    write_text(dir / "model.safetensors.index.json", boost::json::serialize(index));
  }
  return written;
}

// The file whose mapping holds `p` in this process, from /proc/self/maps; "" when none.
inline std::string mapped_path_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    const size_t dash = range.find('-');
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= lo && addr < hi) return path;
  }
  return "";
}

}  // namespace ragent::engine::model_testing
