// gguf_diff: compares two GGUF files tensor by tensor and key by key, e.g. our quantizer's
// output against another tool's on the same input.
//
//   gguf_diff A.gguf B.gguf [--source SRC.gguf] [--detail N] [--max-only]
//
// Per tensor present in both: each side's type, whether the bytes are identical, the max
// absolute difference of the dequantized values (A vs B), and for tensors of the same type
// whose bytes differ, the number of differing blocks and the first one (row, block in the
// row). With --source (the file both were made from) it also prints each side's max absolute
// error against the source, and for the first N differing tensors (--detail, default 3) the
// first differing block's source values and both sides' dequantized values. Then the
// metadata keys that differ or that only one side has.
//
// Exit status: 0 when the files were read (whatever they hold), 1 on an error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "engine/gguf.hpp"
#include "kernels/cpu/quant.hpp"

namespace {

using ragent::engine::GgmlType;
using ragent::engine::GgufFile;
using ragent::engine::GgufTensorInfo;
using ragent::engine::GgufValue;
using ragent::engine::GgufValueType;
using ragent::kernels::QuantType;

std::string type_name(GgmlType t) {
  const auto traits = ragent::engine::ggml_type_traits(static_cast<uint32_t>(t));
  return traits ? std::string(traits->name) : "type" + std::to_string(static_cast<uint32_t>(t));
}

bool can_dequantize(GgmlType t) {
  return ragent::kernels::is_supported(static_cast<QuantType>(static_cast<uint32_t>(t)));
}

// Dequantizes row r of a 2-D (or flattened N-D) tensor.
void dequant_row(const GgufTensorInfo& t, int64_t r, std::vector<float>& out) {
  const auto q = static_cast<QuantType>(static_cast<uint32_t>(t.type));
  const int64_t n = t.ne[0];
  out.resize(static_cast<size_t>(n));
  const size_t rb = ragent::kernels::row_bytes(q, n);
  ragent::kernels::dequantize_row(q, t.data + static_cast<size_t>(r) * rb, out.data(), n);
}

bool values_equal(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  if (a.type != GgufValueType::ARRAY) {
    return std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ragent::engine::GgufArray>) {
            return false;
          } else {
            const T* y = std::get_if<T>(&b.data);
            return y != nullptr && *y == x;
          }
        },
        a.data);
  }
  const auto& x = a.as_array();
  const auto& y = b.as_array();
  if (x.element_type != y.element_type || x.values.size() != y.values.size()) return false;
  for (size_t i = 0; i < x.values.size(); ++i) {
    if (!values_equal(x.values[i], y.values[i])) return false;
  }
  return true;
}

std::string show(const GgufValue& v) {
  std::ostringstream os;
  if (v.type == GgufValueType::ARRAY) {
    const auto& a = v.as_array();
    os << "[" << ragent::engine::gguf_value_type_name(a.element_type) << " x " << a.values.size() << "]";
    return os.str();
  }
  os << ragent::engine::gguf_value_type_name(v.type) << " ";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          os << '"' << (x.size() > 60 ? x.substr(0, 60) + "..." : x) << '"';
        } else if constexpr (std::is_same_v<T, ragent::engine::GgufArray>) {
          os << "[...]";
        } else {
          os << x;
        }
      },
      v.data);
  return os.str();
}

struct TensorResult {
  std::string name;
  GgmlType ta, tb;
  bool identical = false;
  bool compared = false;  // dequantized values compared
  double max_ab = 0, max_a_src = 0, max_b_src = 0;
  bool have_src = false;
  uint64_t differing_blocks = 0, blocks = 0;
  int64_t first_row = -1, first_block = -1;
};


}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compare two GGUF files: tensor types, bytes, dequantized values, metadata"};
  std::string path_a, path_b, path_src;
  int detail = 3;
  app.add_option("A", path_a, "first GGUF file")->required()->check(CLI::ExistingFile);
  app.add_option("B", path_b, "second GGUF file")->required()->check(CLI::ExistingFile);
  app.add_option("--source", path_src, "the file A and B were made from (adds error vs source)")->check(CLI::ExistingFile);
  app.add_option("--detail", detail, "print the first differing block of this many differing tensors");
  CLI11_PARSE(app, argc, argv);

  try {
    const GgufFile a = GgufFile::open(path_a);
    const GgufFile b = GgufFile::open(path_b);
    std::optional<GgufFile> src;
    if (!path_src.empty()) src.emplace(GgufFile::open(path_src));

    std::printf("A: %s (%.1f MiB)\nB: %s (%.1f MiB)\n", path_a.c_str(), double(a.file_size()) / (1 << 20),
                path_b.c_str(), double(b.file_size()) / (1 << 20));
    if (src) std::printf("source: %s\n", path_src.c_str());

    std::vector<TensorResult> results;
    std::vector<std::string> only_a, only_b;
    int detailed = 0;
    std::vector<float> ra, rb, rs;
    for (const GgufTensorInfo& ta : a.tensors()) {
      const GgufTensorInfo* tb = b.find_tensor(ta.name);
      if (!tb) {
        only_a.push_back(ta.name);
        continue;
      }
      TensorResult r{ta.name, ta.type, tb->type};
      if (ta.ne != tb->ne) {
        std::printf("tensor %s: shapes differ\n", ta.name.c_str());
        results.push_back(r);
        continue;
      }
      r.identical = ta.type == tb->type && ta.nbytes == tb->nbytes && std::memcmp(ta.data, tb->data, ta.nbytes) == 0;
      const GgufTensorInfo* ts = src ? src->find_tensor(ta.name) : nullptr;
      if (ts && (ts->ne != ta.ne || !can_dequantize(ts->type))) ts = nullptr;
      r.have_src = ts != nullptr;
      const int64_t n = ta.ne[0];
      const int64_t rows = ta.element_count() / n;
      const bool same_type = ta.type == tb->type;
      int64_t bs = 1;
      size_t bb = 0;
      if (same_type) {
        const auto traits = ragent::engine::ggml_type_traits(static_cast<uint32_t>(ta.type));
        bs = traits->block_size;
        bb = traits->block_bytes;
        r.blocks = static_cast<uint64_t>(ta.element_count() / bs);
      }
      if (can_dequantize(ta.type) && can_dequantize(tb->type)) {
        r.compared = true;
        // Identical bytes need no value pass unless errors against the source are wanted.
        const bool value_pass = !r.identical || r.have_src;
        for (int64_t row = 0; value_pass && row < rows; ++row) {
          dequant_row(ta, row, ra);
          dequant_row(*tb, row, rb);
          if (ts) dequant_row(*ts, row, rs);
          for (int64_t i = 0; i < n; ++i) {
            const auto k = static_cast<size_t>(i);
            r.max_ab = std::max(r.max_ab, std::fabs(double(ra[k]) - double(rb[k])));
            if (ts) {
              r.max_a_src = std::max(r.max_a_src, std::fabs(double(ra[k]) - double(rs[k])));
              r.max_b_src = std::max(r.max_b_src, std::fabs(double(rb[k]) - double(rs[k])));
            }
          }
          if (same_type && !r.identical) {
            const size_t row_bytes = static_cast<size_t>(n / bs) * bb;
            const std::byte* pa = ta.data + static_cast<size_t>(row) * row_bytes;
            const std::byte* pb = tb->data + static_cast<size_t>(row) * row_bytes;
            for (int64_t blk = 0; blk < n / bs; ++blk) {
              if (std::memcmp(pa + blk * bb, pb + blk * bb, bb) != 0) {
                ++r.differing_blocks;
                if (r.first_row < 0) {
                  r.first_row = row;
                  r.first_block = blk;
                  if (detailed < detail) {
                    ++detailed;
                    std::printf("tensor %s (%s): first differing block: row %lld, block %lld (values %lld..%lld)\n",
                                ta.name.c_str(), type_name(ta.type).c_str(), static_cast<long long>(row),
                                static_cast<long long>(blk), static_cast<long long>(blk * bs),
                                static_cast<long long>(blk * bs + bs - 1));
                    for (size_t i = 0; i < bb; ++i) {
                      if (pa[blk * bb + i] != pb[blk * bb + i]) {
                        std::printf("    first differing byte %zu of %zu in the block: A %02x, B %02x", i, bb,
                                    static_cast<unsigned>(pa[blk * bb + i]), static_cast<unsigned>(pb[blk * bb + i]));
                        break;
                      }
                    }
                    std::printf("\n");
                    // Print the values of the block that differ (at most 16), with their index.
                    int shown = 0;
                    for (int64_t i = blk * bs; i < blk * bs + bs && shown < 16; ++i) {
                      const auto k = static_cast<size_t>(i);
                      if (ra[k] == rb[k]) continue;
                      ++shown;
                      std::printf("    [%5lld] A %+.8f  B %+.8f", static_cast<long long>(i), double(ra[k]), double(rb[k]));
                      if (ts) std::printf("  source %+.8f", double(rs[k]));
                      std::printf("\n");
                    }
                    if (shown == 0) std::printf("    (dequantized values of the block are equal)\n");
                  }
                }
              }
            }
          }
        }
      }
      results.push_back(r);
    }
    for (const GgufTensorInfo& tb : b.tensors()) {
      if (!a.find_tensor(tb.name)) only_b.push_back(tb.name);
    }

    std::printf("\n%-28s %-6s %-6s %-9s %-12s %-22s", "tensor", "A", "B", "bytes", "max|A-B|", "differing blocks");
    if (src) std::printf(" %-12s %-12s", "max|A-src|", "max|B-src|");
    std::printf("\n");
    size_t same = 0, identical = 0;
    std::map<std::string, std::pair<size_t, size_t>> by_type;  // "A->B": (tensors, identical)
    for (const TensorResult& r : results) {
      same += r.ta == r.tb;
      identical += r.identical;
      auto& bt = by_type[r.ta == r.tb ? type_name(r.ta) : type_name(r.ta) + " vs " + type_name(r.tb)];
      ++bt.first;
      bt.second += r.identical;
      char blocks[64] = "-";
      if (r.ta == r.tb && !r.identical) {
        std::snprintf(blocks, sizeof blocks, "%llu/%llu", static_cast<unsigned long long>(r.differing_blocks),
                      static_cast<unsigned long long>(r.blocks));
      }
      char maxab[32] = "n/a";
      if (r.compared) std::snprintf(maxab, sizeof maxab, "%.3g", r.max_ab);
      std::printf("%-28s %-6s %-6s %-9s %-12s %-22s", r.name.c_str(), type_name(r.ta).c_str(), type_name(r.tb).c_str(),
                  r.identical ? "identical" : "DIFFER", maxab, blocks);
      if (src) {
        if (r.have_src && r.compared) {
          std::printf(" %-12.3g %-12.3g", r.max_a_src, r.max_b_src);
        } else {
          std::printf(" %-12s %-12s", "n/a", "n/a");
        }
      }
      std::printf("\n");
    }
    for (const auto& n : only_a) std::printf("%-28s only in A\n", n.c_str());
    for (const auto& n : only_b) std::printf("%-28s only in B\n", n.c_str());

    std::printf("\nmetadata:\n");
    size_t key_diffs = 0;
    for (const auto& [key, va] : a.metadata()) {
      const GgufValue* vb = b.find(key);
      if (!vb) {
        std::printf("  %-40s only in A: %s\n", key.c_str(), show(va).c_str());
        ++key_diffs;
      } else if (!values_equal(va, *vb)) {
        std::printf("  %-40s A: %s | B: %s\n", key.c_str(), show(va).c_str(), show(*vb).c_str());
        ++key_diffs;
      }
    }
    for (const auto& [key, vb] : b.metadata()) {
      if (!a.find(key)) {
        std::printf("  %-40s only in B: %s\n", key.c_str(), show(vb).c_str());
        ++key_diffs;
      }
    }
    if (key_diffs == 0) std::printf("  (all %zu keys equal)\n", a.metadata().size());

    // Layout: same keys and tensors in another order make different files with equal contents.
    auto first_order_difference = [](const auto& xs, const auto& ys, auto name_of) -> long long {
      const size_t n = std::min(xs.size(), ys.size());
      for (size_t i = 0; i < n; ++i) {
        if (name_of(xs[i]) != name_of(ys[i])) return static_cast<long long>(i);
      }
      return xs.size() == ys.size() ? -1 : static_cast<long long>(n);
    };
    const long long key_at = first_order_difference(a.metadata(), b.metadata(), [](const auto& kv) { return kv.first; });
    const long long tensor_at = first_order_difference(a.tensors(), b.tensors(), [](const auto& t) { return t.name; });
    std::printf("\nlayout: metadata key order %s; tensor order %s; data offset A %llu, B %llu; files %s\n",
                key_at < 0 ? "same" : ("differs from key #" + std::to_string(key_at)).c_str(),
                tensor_at < 0 ? "same" : ("differs from tensor #" + std::to_string(tensor_at)).c_str(),
                static_cast<unsigned long long>(a.data_offset()), static_cast<unsigned long long>(b.data_offset()),
                a.file_size() == b.file_size() ? "of equal size" : "of different sizes");
    if (key_at >= 0 && static_cast<size_t>(key_at) < std::min(a.metadata().size(), b.metadata().size())) {
      std::printf("  key #%lld: A %s, B %s\n", key_at, a.metadata()[static_cast<size_t>(key_at)].first.c_str(),
                  b.metadata()[static_cast<size_t>(key_at)].first.c_str());
    }
    if (tensor_at >= 0 && static_cast<size_t>(tensor_at) < std::min(a.tensors().size(), b.tensors().size())) {
      std::printf("  tensor #%lld: A %s, B %s\n", tensor_at, a.tensors()[static_cast<size_t>(tensor_at)].name.c_str(),
                  b.tensors()[static_cast<size_t>(tensor_at)].name.c_str());
    }

    std::printf("\nby type:");
    for (const auto& [t, c] : by_type) std::printf("  %s: %zu/%zu identical;", t.c_str(), c.second, c.first);
    std::printf("\nsummary: %zu tensors in both, %zu same type, %zu byte-identical, %zu only in A, %zu only in B, "
                "%zu metadata keys differ\n",
                results.size(), same, identical, only_a.size(), only_b.size(), key_diffs);
  } catch (const std::exception& e) {
    std::cerr << "gguf_diff: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
