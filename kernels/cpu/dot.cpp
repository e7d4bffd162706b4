// Public entry points of dot.hpp: activation quantization, table selection, and the GEMV /
// GEMM drivers that split work over a ThreadPool. The per-ISA inner loops live in
// dot_scalar.cpp, dot_avx2.cpp and dot_avx512.cpp.
#include "kernels/cpu/dot.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/dot_impl.hpp"

namespace ragent::kernels {

using detail::DecodedPair;
using detail::KernelTable;
using detail::PackedPair;

namespace detail {

int dot_type_index(QuantType type) {
  switch (type) {
    case QuantType::F32: return kF32;
    case QuantType::F16: return kF16;
    case QuantType::BF16: return kBF16;
    case QuantType::Q8_0: return kQ8_0;
    case QuantType::Q4_0: return kQ4_0;
    case QuantType::Q4_K: return kQ4_K;
    case QuantType::Q5_K: return kQ5_K;
    case QuantType::Q6_K: return kQ6_K;
  }
  return -1;
}

int gemm_offset(QuantType type) {
  switch (type) {
    case QuantType::Q8_0: return 128;  // signed bytes flipped to unsigned by xor 0x80
    case QuantType::Q4_0: return 8;
    case QuantType::Q6_K: return 32;
    case QuantType::Q4_K:
    case QuantType::Q5_K: return 0;    // unsigned levels with a separate min
    default: return -1;
  }
}

bool gemm_has_min(QuantType type) { return type == QuantType::Q4_K || type == QuantType::Q5_K; }

void transpose_rows_portable(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t) {
  for (int64_t j = 0; j < n; ++j) {
    const float* row = rows + j * stride;
    for (int64_t d = 0; d < dim; ++d) keys_t[d * n + j] = row[d];
  }
}

float exp_shifted_portable(float* x, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - shift);
    sum += x[j];
  }
  return sum;
}

void swiglu_portable(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Packs one f32 activation row into pairs for the tiled GEMM (see PackedPair).
void pack_activations_portable(const float* x, int64_t cols, int offset, PackedPair* out) {
  const int64_t nblocks = cols / kQK8_0;
  const int64_t npairs = (nblocks + 1) / 2;
  for (int64_t p = 0; p < npairs; ++p) {
    PackedPair& pp = out[p];
    std::memset(&pp, 0, sizeof pp);
    for (int half = 0; half < 2; ++half) {
      const int64_t b = 2 * p + half;
      if (b >= nblocks) break;
      float d;
      detail::quantize_block_q8(x + b * kQK8_0, pp.a + 32 * half, d);
      for (int g = 2 * half; g < 2 * half + 2; ++g) {
        int32_t s = 0;
        for (int i = 0; i < 16; ++i) s += pp.a[16 * g + i];
        pp.dx[g] = d;
        pp.init[g] = -offset * s;
        pp.xs[g] = d * static_cast<float>(s);
      }
      pp.binit[half] = pp.init[2 * half] + pp.init[2 * half + 1];
    }
  }
}

void quantize_block_q8(const float* x, int8_t* q, float& d) {
  float amax = 0.0f;
  for (int i = 0; i < kQK8_0; ++i) amax = std::max(amax, std::fabs(x[i]));
  d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < kQK8_0; ++i) {
    const float v = std::nearbyint(x[i] * id);  // ties to even; |v| <= 127 (nan -> 0)
    q[i] = static_cast<int8_t>(v != v ? 0.0f : std::clamp(v, -127.0f, 127.0f));
  }
}

void quantize_q8a_portable(const float* x, BlockQ8A* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK8_0) {
    detail::quantize_block_q8(x, out[b].qs, out[b].d);
    int32_t sum = 0;
    for (int i = 0; i < kQK8_0; ++i) sum += out[b].qs[i];
    out[b].sum = sum;
  }
}

void quantize_q8k_portable(const float* x, BlockQ8K* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    float amax = 0.0f;
    for (int i = 0; i < kQK_K; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    for (int i = 0; i < kQK_K; ++i) {
      const float v = std::nearbyint(x[i] * id);
      out[b].qs[i] = static_cast<int8_t>(v != v ? 0.0f : std::clamp(v, -127.0f, 127.0f));
    }
    for (int s = 0; s < kQK_K / 16; ++s) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out[b].qs[16 * s + i];
      out[b].bsums[s] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace detail

namespace {

const KernelTable& table_for(Isa isa) {
  switch (usable_isa(isa)) {
    case Isa::Avx512: return detail::avx512_table();
    case Isa::Avx2: return detail::avx2_table();
    case Isa::Scalar: break;
  }
  return detail::scalar_table();
}


// Grow-only scratch, one per thread, so steady-state calls never allocate.
template <class T>
T* scratch(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

using detail::kTileChunkPairs;  // 1024 values of K per decoded chunk
using detail::kTileRows;

void gemm_tiled(ThreadPool& pool, const KernelTable& tab, QuantType type, const void* w,
                int64_t rows, int64_t cols, const float* x, int64_t batch, float* y) {
  const int idx = detail::dot_type_index(type);
  const int offset = detail::gemm_offset(type);
  const bool has_min = detail::gemm_has_min(type);
  const bool block32 = type == QuantType::Q8_0 || type == QuantType::Q4_0;
  const int64_t npairs = (cols / kQK8_0 + 1) / 2;
  thread_local std::vector<PackedPair> packed_buf;
  PackedPair* packed = scratch(packed_buf, static_cast<size_t>(batch * npairs));
  const detail::PackFn pack = tab.pack != nullptr ? tab.pack : detail::pack_activations_portable;
  pool.parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) pack(x + b * cols, cols, offset, packed + b * npairs);
  });
  const size_t wrow_bytes = row_bytes(type, cols);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  // Work items are tiles of kTileRows rows; each decoded chunk is used for the whole batch.
  pool.parallel_for((rows + kTileRows - 1) / kTileRows, 1, [&](int64_t tile_begin, int64_t tile_end) {
    thread_local std::vector<DecodedPair> decoded_buf;
    DecodedPair* decoded = scratch(decoded_buf, static_cast<size_t>(kTileRows * kTileChunkPairs));
    for (int64_t r0 = tile_begin * kTileRows; r0 < std::min(rows, tile_end * kTileRows); r0 += kTileRows) {
      const int n_rows = static_cast<int>(std::min<int64_t>(kTileRows, rows - r0));
      for (int64_t k0 = 0; k0 < npairs; k0 += kTileChunkPairs) {
        const int64_t k1 = std::min(npairs, k0 + kTileChunkPairs);
        const detail::Q8DirectTileFn direct = type == QuantType::Q8_0   ? tab.q8_0_tile
                                              : type == QuantType::Q4_K ? tab.q4_k_tile
                                                                        : nullptr;
        if (direct != nullptr) {
          direct(wbytes + static_cast<size_t>(r0) * wrow_bytes, wrow_bytes, n_rows, cols, k0, k1, packed + k0, npairs,
                 batch, y + r0, rows, k0 > 0);
          continue;
        }
        const DecodedPair* wp[kTileRows];
        for (int r = 0; r < kTileRows; ++r) {
          DecodedPair* dst = decoded + r * kTileChunkPairs;
          if (r < n_rows) {
            tab.decode[idx](wbytes + static_cast<size_t>(r0 + r) * wrow_bytes, cols, k0, k1, dst);
          } else {
            std::memset(static_cast<void*>(dst), 0, sizeof(DecodedPair) * static_cast<size_t>(k1 - k0));
          }
          wp[r] = dst;
        }
        tab.tile(wp, n_rows, packed + k0, npairs, batch, k1 - k0, has_min, block32, y + r0, rows, k0 > 0);
      }
    }
  });
}

// Float weights: blocks of 64 activations (256 KB of f32 at 1024 columns, L2-resident) against
// every row, in 4 x 4 register tiles; items of 16 rows shared out over the pool.
void gemm_float_tiled(ThreadPool& pool, detail::FloatTileFn tile, QuantType type, const void* w, int64_t rows,
                      int64_t cols, const float* x, int64_t batch, float* y) {
  constexpr int64_t kActBlock = 64, kRowItem = 16;
  const size_t wrow_bytes = row_bytes(type, cols);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  for (int64_t a0 = 0; a0 < batch; a0 += kActBlock) {
    const int64_t a1 = std::min(batch, a0 + kActBlock);
    pool.parallel_for((rows + kRowItem - 1) / kRowItem, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t r0 = i0 * kRowItem; r0 < std::min(rows, i1 * kRowItem); r0 += detail::kFloatTile) {
        const int n_rows = static_cast<int>(std::min<int64_t>(detail::kFloatTile, rows - r0));
        for (int64_t a = a0; a < a1; a += detail::kFloatTile) {
          const int n_acts = static_cast<int>(std::min<int64_t>(detail::kFloatTile, a1 - a));
          tile(wbytes + static_cast<size_t>(r0) * wrow_bytes, wrow_bytes, n_rows, cols, x + a * cols, n_acts,
               y + a * rows + r0, rows);
        }
      }
    });
  }
}

void gemm_by_dots(ThreadPool& pool, const KernelTable& tab, QuantType type, const void* w,
                  int64_t rows, int64_t cols, const float* x, int64_t batch, float* y) {
  const detail::VecDotFn dot = tab.dot[detail::dot_type_index(type)];
  const size_t xrow_bytes = activation_row_bytes(type, cols);
  thread_local std::vector<uint8_t> prepared_buf;
  uint8_t* prepared = scratch(prepared_buf, xrow_bytes * static_cast<size_t>(batch));
  pool.parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) quantize_activations(type, x + b * cols, prepared + b * xrow_bytes, cols);
  });
  const size_t wrow_bytes = row_bytes(type, cols);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  pool.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wr = wbytes + static_cast<size_t>(r) * wrow_bytes;  // stays in cache across b
      for (int64_t b = 0; b < batch; ++b) y[b * rows + r] = dot(cols, wr, prepared + b * xrow_bytes);
    }
  });
}

}  // namespace

bool has_dot(QuantType weight_type) { return detail::dot_type_index(weight_type) >= 0; }

size_t activation_row_bytes(QuantType weight_type, int64_t cols) {
  switch (weight_type) {
    case QuantType::Q8_0:
    case QuantType::Q4_0: return static_cast<size_t>(cols / kQK8_0) * sizeof(BlockQ8A);
    case QuantType::Q4_K:
    case QuantType::Q5_K:
    case QuantType::Q6_K: return static_cast<size_t>(cols / kQK_K) * sizeof(BlockQ8K);
    default: return static_cast<size_t>(cols) * sizeof(float);
  }
}

void quantize_activations(QuantType weight_type, const float* x, void* dst, int64_t cols, Isa isa) {
  const KernelTable& tab = table_for(isa);
  switch (weight_type) {
    case QuantType::Q8_0:
    case QuantType::Q4_0:
      (tab.quantize_q8a != nullptr ? tab.quantize_q8a : detail::quantize_q8a_portable)(x, static_cast<BlockQ8A*>(dst),
                                                                                      cols / kQK8_0);
      return;
    case QuantType::Q4_K:
    case QuantType::Q5_K:
    case QuantType::Q6_K:
      (tab.quantize_q8k != nullptr ? tab.quantize_q8k : detail::quantize_q8k_portable)(x, static_cast<BlockQ8K*>(dst),
                                                                                      cols / kQK_K);
      return;
    default: std::memcpy(dst, x, static_cast<size_t>(cols) * sizeof(float)); return;
  }
}

float vec_dot(QuantType weight_type, int64_t cols, const void* w_row, const void* x_prepared, Isa isa) {
  return table_for(isa).dot[detail::dot_type_index(weight_type)](cols, w_row, x_prepared);
}

namespace {

// y[r] for rows [r0, r1): two at a time where the type has a two-row dot.
constexpr size_t kItemHeadBytes = 4096;

void gemv_rows(detail::VecDotFn dot, detail::VecDot2Fn dot2, const uint8_t* w, size_t row_bytes, int64_t cols,
               const void* x, int64_t r0, int64_t r1, float* y) {
  // The kernels prefetch a few KB ahead of what they read; the start of a work item is
  // requested here, all at once, so that its first rows do not wait on one miss after another.
  const auto* first = w + static_cast<size_t>(r0) * row_bytes;
  const size_t head = std::min(kItemHeadBytes, static_cast<size_t>(r1 - r0) * row_bytes);
  for (size_t off = 0; off < head; off += 64) __builtin_prefetch(first + off, 0, 3);
  int64_t r = r0;
  if (dot2 != nullptr) {
    for (; r + 2 <= r1; r += 2) dot2(cols, w + static_cast<size_t>(r) * row_bytes, row_bytes, x, y + r);
  }
  for (; r < r1; ++r) y[r] = dot(cols, w + static_cast<size_t>(r) * row_bytes, x);
}

// Rows a GEMV work item takes, guided: a share of what remains (1 / (2 * threads) of it), at
// most kMaxItemRows and at least kMinItemRows, in multiples of 16. A thread moving to a new item
// loses its prefetch run (the lines it fetched ahead belong to the next item, which another
// thread may take), so the first items are long; the last are short, so that the threads
// finish together. kernels_bench, Q4_K 8192 x 2048 at 2 threads: 94% of the read bandwidth
// with fixed items of 128 rows, 100% with 512; fixed long items left one thread waiting at the
// end of every GEMV of a decode step.
constexpr int64_t kMaxItemRows = 512;
constexpr int64_t kMinItemRows = 16;

int64_t guided_item_rows(int64_t remaining, int threads) {
  const int64_t share = remaining / (2 * static_cast<int64_t>(threads)) / 16 * 16;
  return std::min(remaining, std::clamp(share, kMinItemRows, kMaxItemRows));
}

}  // namespace

void gemv(ThreadPool& pool, QuantType weight_type, const void* w, int64_t rows, int64_t cols,
          const void* x_prepared, float* y, Isa isa) {
  const GemvPart part{weight_type, w, rows, x_prepared, y};
  gemv_parts(pool, &part, 1, cols, isa);
}

void accumulate_rows_f32(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride, float* acc,
                         Isa isa) {
  table_for(isa).accumulate(weights, rows, n, dim, stride, acc);
}

void transpose_rows_f32(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t, Isa isa) {
  table_for(isa).transpose(rows, n, dim, stride, keys_t);
}

float exp_shifted_f32(float* x, int64_t n, float shift, Isa isa) { return table_for(isa).exp_shifted(x, n, shift); }

void swiglu_f32(float* gate, const float* up, int64_t n, Isa isa) {
  const KernelTable& tab = table_for(isa);
  (tab.swiglu != nullptr ? tab.swiglu : detail::swiglu_portable)(gate, up, n);
}

void dot_transposed_f32(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale, float* scores,
                        Isa isa) {
  table_for(isa).dot_transposed(q, keys_t, n, dim, scale, scores);
}

void gemv_parts(ThreadPool& pool, const GemvPart* parts, int n_parts, int64_t cols, Isa isa) {
  constexpr int kMaxParts = 8;
  if (n_parts > kMaxParts) {
    for (int i = 0; i < n_parts; i += kMaxParts) gemv_parts(pool, parts + i, std::min(kMaxParts, n_parts - i), cols, isa);
    return;
  }
  const KernelTable& tab = table_for(isa);
  // Rows are claimed over the parts laid end to end; an item that crosses from one part into
  // the next is done as two ranges.
  int64_t first_row[kMaxParts + 1] = {0};
  for (int i = 0; i < n_parts; ++i) first_row[i + 1] = first_row[i] + parts[i].rows;
  const int64_t total_rows = first_row[n_parts];
  const int threads = pool.size();
  std::atomic<int64_t> next{0};
  auto run_range = [&](int64_t g0, int64_t g1) {
    for (int i = 0; i < n_parts && g0 < g1; ++i) {
      if (g0 >= first_row[i + 1]) continue;
      const GemvPart& part = parts[i];
      const int64_t r0 = g0 - first_row[i];
      const int64_t r1 = std::min(g1, first_row[i + 1]) - first_row[i];
      gemv_rows(tab.dot[detail::dot_type_index(part.type)], tab.dot2[detail::dot_type_index(part.type)],
                static_cast<const uint8_t*>(part.w), row_bytes(part.type, cols), cols, part.x_prepared, r0, r1, part.y);
      g0 = first_row[i] + r1;
    }
  };
  pool.parallel_for(threads, 1, [&](int64_t, int64_t) {
    int64_t g0 = next.load(std::memory_order_relaxed);
    while (g0 < total_rows) {
      const int64_t g1 = g0 + guided_item_rows(total_rows - g0, threads);
      if (next.compare_exchange_weak(g0, g1, std::memory_order_relaxed)) {
        run_range(g0, g1);
        g0 = next.load(std::memory_order_relaxed);
      }
    }
  });
}

void gemm(ThreadPool& pool, QuantType weight_type, const void* w, int64_t rows, int64_t cols,
          const float* x, int64_t batch, float* y, Isa isa) {
  const KernelTable& tab = table_for(isa);
  const int idx = detail::dot_type_index(weight_type);
  if (idx < 0) std::abort();  // a type without dot products: callers check has_dot()
  if (idx <= detail::kBF16 && tab.float_tile[idx] != nullptr) {
    gemm_float_tiled(pool, tab.float_tile[idx], weight_type, w, rows, cols, x, batch, y);
  } else if (tab.tile != nullptr && tab.decode[idx] != nullptr) {
    gemm_tiled(pool, tab, weight_type, w, rows, cols, x, batch, y);
  } else {
    gemm_by_dots(pool, tab, weight_type, w, rows, cols, x, batch, y);
  }
}

}  // namespace ragent::kernels
