// AVX-512 (F/BW/VL/VNNI) dot products and the tiled int8 GEMM micro-kernel.
//
// Integer dots use vpdpbusd, which multiplies unsigned by signed bytes. Weights are made
// unsigned (Q8_0: xor 0x80, i.e. +128; Q4_0/K-quants: their stored levels are unsigned) and
// the offset times the activation sum is taken out again: folded into the accumulator's start
// value where the offset is per block, or subtracted with the per-16 sums of Q8_K.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/dot_impl.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_*() (a deliberate self-initialisation inside
// avx512fintrin.h) as uninitialised once inlined here; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define RAGENT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace ragent::kernels::detail {
namespace {

RAGENT_AVX512 inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 32 bytes at p0 in the low half, 32 bytes at p1 in the high half.
RAGENT_AVX512 inline __m512i load_2x256(const void* p0, const void* p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(p0))),
                            _mm256_loadu_si256(static_cast<const __m256i*>(p1)), 1);
}

RAGENT_AVX512 inline __m512 halves_ps(float lo, float hi) {
  return _mm512_mask_broadcastss_ps(_mm512_set1_ps(lo), 0xff00, _mm_set_ss(hi));
}

RAGENT_AVX512 inline __m512i halves_epi32(int32_t lo, int32_t hi) {
  return _mm512_mask_set1_epi32(_mm512_set1_epi32(lo), 0xff00, hi);
}

// The 8 six-bit scales and 8 mins of a Q4_K/Q5_K super-block as bytes (see quant.cpp).
inline void unpack_k_scales8(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint32_t a, b, c;
  std::memcpy(&a, packed, 4);
  std::memcpy(&b, packed + 4, 4);
  std::memcpy(&c, packed + 8, 4);
  const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
  scales = (a & 0x3f3f3f3fu) | (static_cast<uint64_t>(sc_hi) << 32);
  mins = (b & 0x3f3f3f3fu) | (static_cast<uint64_t>(m_hi) << 32);
}

// Software prefetch of the weights kPrefetchAheadBytes ahead of the block being computed (past
// the end of a row it warms the next row). The hardware prefetchers alone do not run far
// enough ahead. The distance is what the DRAM latency needs at one core's share of the
// bandwidth (~13 GB/s x ~300 ns): A/B on the reference machine, whole 1B model decode at 2
// threads, alternating runs: Q8_0 at 1 KB ahead 7.1 tok/s vs 4 KB ahead 8.4; Q4_K_M at 576
// bytes ahead 9.5 vs 4 KB ahead 12.1 (both under the same background load).
constexpr size_t kPrefetchAheadBytes = 4096;

template <class Block>
RAGENT_AVX512 inline void prefetch_block(const Block* block) {
  const char* p = reinterpret_cast<const char*>(block) + kPrefetchAheadBytes;
  for (size_t line = 0; line < sizeof(Block); line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
}

// The prefetch of a kernel that walks kRows rows in step, block b of each (rows row_bytes
// apart, nb blocks a row), and then the next kRows rows: it keeps kPrefetchAheadBytes ahead
// in that order of reading. A plain offset from each block would land in the next row, which
// is read alongside, and leave the rows after it unprefetched: at 8192 columns this cost
// Q4_K GEMV a quarter of its speed (80% of the read bandwidth instead of 105%).
template <int kRows, class Block>
class RowsPrefetcher {
 public:
  RAGENT_AVX512 RowsPrefetcher(const void* w, size_t row_bytes, int64_t nb) : row_bytes_(row_bytes), nb_(nb) {
    constexpr int64_t kAhead = std::max<int64_t>(1, kPrefetchAheadBytes / (kRows * sizeof(Block)));
    next_ = static_cast<const char*>(w) + static_cast<size_t>(kAhead / nb) * kRows * row_bytes;
    b_ = kAhead % nb;
  }
  // Called once per step, before the blocks of the step are read.
  RAGENT_AVX512 void step() {
    for (int r = 0; r < kRows; ++r) {
      const char* p = next_ + r * row_bytes_ + b_ * sizeof(Block);
      for (size_t line = 0; line < sizeof(Block); line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
    }
    if (++b_ == nb_) {
      b_ = 0;
      next_ += kRows * row_bytes_;
    }
  }

 private:
  const char* next_;
  size_t row_bytes_;
  int64_t nb_;
  int64_t b_;
};

// --- float weights ------------------------------------------------------------------------

// Loaders turn 16 weights at index i into f32 lanes.
struct LoadF32 {
  static constexpr int kBytes = 4;
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    return _mm512_loadu_ps(static_cast<const float*>(w) + i);
  }
  RAGENT_AVX512 static __m512 load_masked(const void* w, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i);
  }
  static float scalar(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
  }
  RAGENT_AVX512 static __m512 load_masked(const void* w, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i));
  }
  static float scalar(const void* w, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};
struct LoadBF16 {
  static constexpr int kBytes = 2;
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
  RAGENT_AVX512 static __m512 load_masked(const void* w, int64_t i, __mmask16 m) {
    const __m256i raw = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
  static float scalar(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};

template <class Loader>
RAGENT_AVX512 float dot_float(int64_t n, const void* w, const void* xv) {
  const auto* x = static_cast<const float*>(xv);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const char* ahead = static_cast<const char*>(w) + i * Loader::kBytes + kPrefetchAheadBytes;
    for (int line = 0; line < 32 * Loader::kBytes; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
    acc0 = _mm512_fmadd_ps(Loader::load(w, i), _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(Loader::load(w, i + 16), _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Loader::load(w, i), _mm512_loadu_ps(x + i), acc0);
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += Loader::scalar(w, i) * x[i];
  return sum;
}

// The block quantization of quantize_block_q8 (dot.cpp) in vectors, the same bytes: amax
// ignoring NaN (NaN as the first operand of vmaxps yields the second, as std::max does there),
// the scale formed in scalar as there, x * (1/d) rounded to nearest even (roundscale), NaN
// products to 0 and the rest clamped to +-127.
RAGENT_AVX512 inline float block_amax(const float* x, int n) {
  __m512 amax = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) amax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), amax);
  return _mm512_reduce_max_ps(amax);
}

// 16 values times id rounded to integers in [-127, 127], NaN to 0, as 32-bit lanes.
RAGENT_AVX512 inline __m512i quantize16(const float* x, float id) {
  const __m512 scaled = _mm512_mul_ps(_mm512_loadu_ps(x), _mm512_set1_ps(id));
  const __mmask16 ordered = _mm512_cmp_ps_mask(scaled, scaled, _CMP_ORD_Q);
  const __m512 r = _mm512_roundscale_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 c = _mm512_max_ps(_mm512_min_ps(r, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-127.0f));
  return _mm512_maskz_cvtps_epi32(ordered, c);
}

// pack_activations_portable of dot.cpp in vectors: the same bytes, by block_amax and quantize16.
RAGENT_AVX512 void pack_activations(const float* x, int64_t cols, int offset, PackedPair* out) {
  const int64_t nblocks = cols / kQK8_0;
  for (int64_t p = 0; p < (nblocks + 1) / 2; ++p) {
    PackedPair& pp = out[p];
    std::memset(&pp, 0, sizeof pp);
    for (int half = 0; half < 2; ++half) {
      const int64_t b = 2 * p + half;
      if (b >= nblocks) break;
      const float* xb = x + b * kQK8_0;
      const float d = block_amax(xb, kQK8_0) / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int k = 0; k < 2; ++k) {  // granule g: 16 values
        const int g = 2 * half + k;
        const __m512i q = quantize16(xb + 16 * k, id);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(pp.a + 16 * g), _mm512_cvtepi32_epi8(q));
        const int32_t sum = _mm512_reduce_add_epi32(q);
        pp.dx[g] = d;
        pp.init[g] = -offset * sum;
        pp.xs[g] = d * static_cast<float>(sum);
      }
      pp.binit[half] = pp.init[2 * half] + pp.init[2 * half + 1];
    }
  }
}

// quantize_q8a_portable / quantize_q8k_portable in vectors, the same bytes.
RAGENT_AVX512 void quantize_q8a(const float* x, BlockQ8A* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK8_0) {
    const float d = block_amax(x, kQK8_0) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512i q0 = quantize16(x, id), q1 = quantize16(x + 16, id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16), _mm512_cvtepi32_epi8(q1));
    out[b].d = d;
    out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

RAGENT_AVX512 void quantize_q8k(const float* x, BlockQ8K* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    const float d = block_amax(x, kQK_K) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    for (int s = 0; s < kQK_K / 16; ++s) {
      const __m512i q = quantize16(x + 16 * s, id);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16 * s), _mm512_cvtepi32_epi8(q));
      out[b].bsums[s] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
  }
}

// 4 weight rows x 4 activations in 16 accumulators: per 16 columns, 4 weight loads (converted
// once for all four activations) and 4 activation loads feed 16 FMAs. Short tiles repeat
// their last row or activation (computed, not stored).
template <class Loader>
RAGENT_AVX512 void float_tile(const void* w, size_t w_row_bytes, int n_rows, int64_t cols, const float* x, int n_acts,
                              float* y, int64_t y_stride) {
  const char* wr[kFloatTile];
  const float* xa[kFloatTile];
  for (int r = 0; r < kFloatTile; ++r) wr[r] = static_cast<const char*>(w) + static_cast<size_t>(std::min(r, n_rows - 1)) * w_row_bytes;
  for (int a = 0; a < kFloatTile; ++a) xa[a] = x + std::min(a, n_acts - 1) * cols;
  __m512 acc[kFloatTile][kFloatTile];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= cols; k += 16) {
    __m512 wv[kFloatTile];
    for (int r = 0; r < kFloatTile; ++r) wv[r] = Loader::load(wr[r], k);
    for (int a = 0; a < kFloatTile; ++a) {
      const __m512 xv = _mm512_loadu_ps(xa[a] + k);
      for (int r = 0; r < kFloatTile; ++r) acc[r][a] = _mm512_fmadd_ps(wv[r], xv, acc[r][a]);
    }
  }
  if (k < cols) {
    const auto m = static_cast<__mmask16>((1u << (cols - k)) - 1u);
    __m512 wv[kFloatTile];
    for (int r = 0; r < kFloatTile; ++r) wv[r] = Loader::load_masked(wr[r], k, m);
    for (int a = 0; a < kFloatTile; ++a) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, xa[a] + k);
      for (int r = 0; r < kFloatTile; ++r) acc[r][a] = _mm512_fmadd_ps(wv[r], xv, acc[r][a]);
    }
  }
  for (int a = 0; a < n_acts; ++a)
    for (int r = 0; r < n_rows; ++r) y[a * y_stride + r] = _mm512_reduce_add_ps(acc[r][a]);
}

// --- Q8_0 / Q4_0 against BlockQ8A: two blocks per vector ------------------------------------

// Low nibbles of a Q4_0 block are values 0-15, high nibbles 16-31.
RAGENT_AVX512 inline __m512i q4_0_pair(const BlockQ4_0& b0, const BlockQ4_0& b1) {
  const __m256i both = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs)));
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
  // 128-bit pieces are [lo0, lo1, hi0, hi1]; reorder to [lo0, hi0, lo1, hi1].
  return _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
}

// Shared by Q8_0 and Q4_0: 16 blocks per step. Their scales (f16 weight d times f32
// activation d) are gathered into one vector, and each pair's two scales are spread over its
// lanes with one permute, instead of being built from scalars per pair. The weights' offset
// (stored levels are w + offset) is taken out once per 16 blocks with the activation sums.
template <class Block, int kOffset, __m512i (*kPair)(const Block&, const Block&)>
RAGENT_AVX512 float dot_q8a_blocks(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  const int64_t nb = n / kQK8_0;
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i w_offsets = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(sizeof(Block))));
  const __m512i x_offsets = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(sizeof(BlockQ8A))));
  const __m512i pair_lanes = halves_epi32(0, 1);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), corr = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 16 <= nb; b += 16) {
    // Ask for weights far ahead: the gathers below would otherwise wait on DRAM.
    const char* ahead = reinterpret_cast<const char*>(wb + b) + kPrefetchAheadBytes;
    for (size_t line = 0; line < 16 * sizeof(Block); line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
    // 4 bytes from each block start: the f16 d and the first quant byte, which vpmovdw drops.
    const __m512i d_raw = _mm512_i32gather_epi32(w_offsets, &wb[b].d, 1);
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d_raw));
    const __m512 dx = _mm512_i32gather_ps(x_offsets, &xb[b].d, 1);
    const __m512 scale = _mm512_mul_ps(dw, dx);
    const __m512i sums = _mm512_i32gather_epi32(x_offsets, &xb[b].sum, 1);
    corr = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), corr);
    for (int k = 0; k < 8; k += 2) {
      const __m512i a0 = load_2x256(xb[b + 2 * k].qs, xb[b + 2 * k + 1].qs);
      const __m512i a1 = load_2x256(xb[b + 2 * k + 2].qs, xb[b + 2 * k + 3].qs);
      const __m512i dot0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), kPair(wb[b + 2 * k], wb[b + 2 * k + 1]), a0);
      const __m512i dot1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), kPair(wb[b + 2 * k + 2], wb[b + 2 * k + 3]), a1);
      const __m512 s0 = _mm512_permutexvar_ps(_mm512_add_epi32(pair_lanes, _mm512_set1_epi32(2 * k)), scale);
      const __m512 s1 = _mm512_permutexvar_ps(_mm512_add_epi32(pair_lanes, _mm512_set1_epi32(2 * k + 2)), scale);
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot0), s0, acc0);
      acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot1), s1, acc1);
    }
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - kOffset * _mm512_reduce_add_ps(corr);
  for (; b + 2 <= nb; b += 2) {
    const __m512i a = load_2x256(xb[b].qs, xb[b + 1].qs);
    const __m512i init = halves_epi32(-kOffset / 8 * xb[b].sum, -kOffset / 8 * xb[b + 1].sum);
    const __m512i dot = _mm512_dpbusd_epi32(init, kPair(wb[b], wb[b + 1]), a);
    const __m512 scale = halves_ps(half_to_float(wb[b].d) * xb[b].d, half_to_float(wb[b + 1].d) * xb[b + 1].d);
    sum += _mm512_reduce_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale));
  }
  if (b < nb) {  // odd block count: the pair's second half is the same block with zero activations
    const BlockQ8A& xl = xb[b];
    const __m512i a = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xl.qs)));
    const __m512i a_lo = _mm512_maskz_mov_epi32(0x00ff, a);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), kPair(wb[b], wb[b]), a_lo);
    const int32_t total = _mm512_reduce_add_epi32(dot) - kOffset * xl.sum;
    sum += half_to_float(wb[b].d) * xl.d * static_cast<float>(total);
  }
  return sum;
}

RAGENT_AVX512 inline __m512i q8_0_pair(const BlockQ8_0& b0, const BlockQ8_0& b1) {
  return _mm512_xor_si512(load_2x256(b0.qs, b1.qs), _mm512_set1_epi8(static_cast<char>(0x80)));  // w + 128
}

// --- K-quants against BlockQ8K -------------------------------------------------------------

// Lane index vectors that spread 32-bit scales over the lanes of one vector: 8 lanes per
// 32-value sub-block (Q4_K/Q5_K) or 4 lanes per 16-value sub-block (Q6_K).
RAGENT_AVX512 inline __m512i spread_idx(int lo, int hi) {
  return halves_epi32(lo, hi);
}

// 16-bit lane indices: lanes 0-15 take element lo, lanes 16-31 element hi.
RAGENT_AVX512 inline __m512i spread16_idx(int lo, int hi) {
  return _mm512_mask_set1_epi16(_mm512_set1_epi16(static_cast<int16_t>(lo)), 0xffff0000u, static_cast<int16_t>(hi));
}

// Q5_K: adds 16 to the levels of sub-blocks j0, j0 + 2 (lo) and j0 + 1, j0 + 3 (hi) whose bit
// is set in qh2 (the block's 32 qh bytes in both 256-bit halves).
RAGENT_AVX512 inline void add_fifth_bit(__m512i qh2, int j0, __m512i& lo, __m512i& hi) {
  const __m512i sixteen = _mm512_set1_epi8(16);
  const __m512i bit_lo = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << j0)),
                                            _mm256_set1_epi8(static_cast<char>(1 << (j0 + 2))), 1);
  const __m512i bit_hi = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (j0 + 1))),
                                            _mm256_set1_epi8(static_cast<char>(1 << (j0 + 3))), 1);
  lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh2, bit_lo), lo, sixteen);
  hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh2, bit_hi), hi, sixteen);
}

// One row of Q4_K or Q5_K (the fifth bit added when kFifthBit) against one activation row.
// GEMV takes rows two at a time (dot2_q45_k below); this serves an odd last row and the
// row-by-row products.
template <bool kFifthBit, class Block>
RAGENT_AVX512 float dot_q45_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 min_acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const Block& blk = wb[b];
    const BlockQ8K& xq = xb[b];
    prefetch_block(&blk);
    uint64_t sc8, m8;
    unpack_k_scales8(blk.scales, sc8, m8);
    // Σ_j m_j (bsum_2j + bsum_2j+1): each min paired with two 16-value sums.
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq.bsums));
    const __m128i m_bytes = _mm_cvtsi64_si128(static_cast<long long>(m8));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m_bytes, m_bytes));
    const __m256i mins = _mm256_madd_epi16(m16, bsums);
    min_acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(half_to_float(blk.dmin) * xq.d), min_acc);
    __m512i qh2;
    if constexpr (kFifthBit) {
      qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
          reinterpret_cast<const BlockQ5_K&>(blk).qh)));
    }
    // Scales as 16-bit lanes, 16 lanes (32 values) per sub-block: vpmaddubsw gives 16-bit
    // sums of value pairs (|15 * 127 * 2| fits), and vpdpwssd against the scales both widens
    // them to 32 bits and applies the sub-block scale, where dpbusd would need a 32-bit
    // multiply after.
    const __m512i sc16_all = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_cvtsi64_si128(static_cast<long long>(sc8))));
    __m512i sumi[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int half = 0; half < 2; ++half) {  // sub-blocks 4*half..4*half+3
      const int8_t* a = xq.qs + 128 * half;
      const __m512i raw = _mm512_loadu_si512(blk.qs + 64 * half);
      __m512i lo = _mm512_and_si512(raw, low4);                         // sub-blocks 4h, 4h+2
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);   // sub-blocks 4h+1, 4h+3
      const int j0 = 4 * half;
      if constexpr (kFifthBit) add_fifth_bit(qh2, j0, lo, hi);
      sumi[0] = _mm512_dpwssd_epi32(sumi[0], _mm512_maddubs_epi16(lo, load_2x256(a, a + 64)),
                                    _mm512_permutexvar_epi16(spread16_idx(j0, j0 + 2), sc16_all));
      sumi[1] = _mm512_dpwssd_epi32(sumi[1], _mm512_maddubs_epi16(hi, load_2x256(a + 32, a + 96)),
                                    _mm512_permutexvar_epi16(spread16_idx(j0 + 1, j0 + 3), sc16_all));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sumi[0], sumi[1])),
                          _mm512_set1_ps(half_to_float(blk.d) * xq.d), acc);
  }
  const __m512 min_wide = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_setzero_pd(), _mm256_castps_pd(min_acc), 0));
  return _mm512_reduce_add_ps(_mm512_sub_ps(acc, min_wide));
}

// The scales and mins of two Q4_K/Q5_K super-blocks (their 12-byte packed fields at s0 and s1,
// each followed by at least 4 more bytes of the block) as 16-bit lanes: 0-7 the scales of the
// first, 8-15 its mins, 16-23 and 24-31 those of the second. Per packed field, with a, b, c
// its bytes 0-3, 4-7 and 8-11: scales are a & 63 then (c & 15) | (a >> 6) << 4; mins b & 63
// then (c >> 4) | (b >> 6) << 4. In vectors this frees the scalar ports that the bit
// twiddling of unpack_k_scales8 takes from a kernel bound by its vector ports.
RAGENT_AVX512 inline __m512i unpack_k_scales_2(const uint8_t* s0, const uint8_t* s1) {
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s0))),
                                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(s1)), 1);
  // Per 128-bit lane, dwords [a, c, b, c >> 4] (low bits) and [0, a, 0, b] (top two bits).
  const __m256i low_src = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11,
                                                                  0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
  const __m256i low = _mm256_srlv_epi32(low_src, _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4));
  const __m256i top_src = _mm256_shuffle_epi8(v, _mm256_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7,
                                                                  -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
  const __m256i top = _mm256_and_si256(_mm256_srli_epi32(top_src, 2), _mm256_set1_epi8(0x30));
  const __m256i low_mask = _mm256_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f,
                                             0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
  const __m256i bytes = _mm256_ternarylogic_epi32(low, low_mask, top, 0xea);  // (low & mask) | top
  return _mm512_cvtepu8_epi16(bytes);
}

// Two rows of Q4_K/Q5_K against one activation row. Beside sharing the activation loads, the
// two rows share the vector work on scales: one unpack, one multiply of the four super-block
// scales (d, dmin of each row) by the activation scale, one 512-bit pass for both rows' mins.
template <bool kFifthBit, class Block>
RAGENT_AVX512 void dot2_q45_k(int64_t n, const void* w, size_t row_bytes, const void* x, float* out) {
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const auto* w0 = static_cast<const Block*>(w);
  const auto* w1 = reinterpret_cast<const Block*>(static_cast<const char*>(w) + row_bytes);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  // Mins of each row repeated for the two 16-value sums of its sub-block.
  const __m512i min_idx = _mm512_set_epi16(31, 31, 30, 30, 29, 29, 28, 28, 27, 27, 26, 26, 25, 25, 24, 24,
                                           15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  __m512 min_acc = _mm512_setzero_ps();  // lanes 0-7 the first row, 8-15 the second
  const int64_t nb = n / kQK_K;
  RowsPrefetcher<2, Block> prefetcher(w, row_bytes, nb);
  for (int64_t b = 0; b < nb; ++b) {
    prefetcher.step();
    const BlockQ8K& xq = xb[b];
    const Block* blk[2] = {w0 + b, w1 + b};
    __m512i act[2][2];  // [half][lo/hi]: the activations each nibble plane multiplies
    for (int half = 0; half < 2; ++half) {
      const int8_t* a = xq.qs + 128 * half;
      act[half][0] = load_2x256(a, a + 64);
      act[half][1] = load_2x256(a + 32, a + 96);
    }
    // d0, dmin0, d1, dmin1 times the activation scale.
    uint32_t dd0, dd1;
    std::memcpy(&dd0, &blk[0]->d, 4);
    std::memcpy(&dd1, &blk[1]->d, 4);
    const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(dd0)), static_cast<int>(dd1), 1)),
                                 _mm_set1_ps(xq.d));
    const __m512 dd_wide = _mm512_castps128_ps512(dd);
    const __m512i sc16 = unpack_k_scales_2(blk[0]->scales, blk[1]->scales);
    // Σ_j m_j (bsum_2j + bsum_2j+1) for both rows.
    const __m512i bsums = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq.bsums)));
    const __m512i mins = _mm512_madd_epi16(_mm512_permutexvar_epi16(min_idx, sc16), bsums);
    const __m512 dmin = _mm512_permutexvar_ps(halves_epi32(1, 3), dd_wide);
    min_acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins), dmin, min_acc);
    for (int r = 0; r < 2; ++r) {
      __m512i qh2;
      if constexpr (kFifthBit) {
        qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            reinterpret_cast<const BlockQ5_K*>(blk[r])->qh)));
      }
      __m512i sumi[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
      for (int half = 0; half < 2; ++half) {  // sub-blocks 4*half..4*half+3
        const __m512i raw = _mm512_loadu_si512(blk[r]->qs + 64 * half);
        __m512i lo = _mm512_and_si512(raw, low4);                         // sub-blocks 4h, 4h+2
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);   // sub-blocks 4h+1, 4h+3
        const int j0 = 4 * half + 16 * r;
        if constexpr (kFifthBit) add_fifth_bit(qh2, 4 * half, lo, hi);
        sumi[0] = _mm512_dpwssd_epi32(sumi[0], _mm512_maddubs_epi16(lo, act[half][0]),
                                      _mm512_permutexvar_epi16(spread16_idx(j0, j0 + 2), sc16));
        sumi[1] = _mm512_dpwssd_epi32(sumi[1], _mm512_maddubs_epi16(hi, act[half][1]),
                                      _mm512_permutexvar_epi16(spread16_idx(j0 + 1, j0 + 3), sc16));
      }
      const __m512 d = _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), dd_wide);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sumi[0], sumi[1])), d, acc[r]);
    }
  }
  const __m512 min_first = _mm512_maskz_mov_ps(0x00ff, min_acc);
  out[0] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[0], min_first));
  out[1] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[1], _mm512_sub_ps(min_acc, min_first)));
}

RAGENT_AVX512 float dot_q6_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  const __m512i shl_lo = halves_epi32(0x00040004, 0x00020002);  // 16-bit counts: <<4 then <<2
  const __m512i shr_hi = halves_epi32(0x00000000, 0x00020002);  // >>0 then >>2
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = wb[b];
    const BlockQ8K& xq = xb[b];
    prefetch_block(wb + b);
    const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    // 32 Σ_s sc_s bsum_s, the offset of the unsigned levels.
    const __m256i corr8 = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq.bsums)),
                                            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales))));
    __m512i sumi = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_castsi256_si512(corr8)), 5);
    sumi = _mm512_maskz_mov_epi32(0x00ff, sumi);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(blk.ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h)));
      const __m512i q_lo = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), top2));
      const __m512i q_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                           _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), top2));
      const int8_t* a = xq.qs + 128 * h;
      const __m512i dot_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q_lo, _mm512_loadu_si512(a));
      const __m512i dot_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q_hi, _mm512_loadu_si512(a + 64));
      // Lane l of a 64-value vector covers 16-value sub-block l / 4.
      const __m512i idx = _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
      const __m512i s_lo = _mm512_permutexvar_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(8 * h)), sc);
      const __m512i s_hi = _mm512_permutexvar_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(8 * h + 4)), sc);
      sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_mullo_epi32(dot_lo, s_lo), _mm512_mullo_epi32(dot_hi, s_hi)));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(half_to_float(blk.d) * xq.d), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// --- tiled GEMM ----------------------------------------------------------------------------

RAGENT_AVX512 void decode_q8_0_pairs(const void* w_row, int64_t cols, int64_t p0, int64_t p1, DecodedPair* out) {
  const auto* wb = static_cast<const BlockQ8_0*>(w_row);
  const int64_t nb = cols / kQK8_0;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t p = p0; p < p1; ++p) {
    DecodedPair& d = out[p - p0];
    if (2 * p + 1 < nb) {
      _mm512_storeu_si512(d.q, _mm512_xor_si512(load_2x256(wb[2 * p].qs, wb[2 * p + 1].qs), flip));
      _mm512_storeu_ps(d.dw, halves_ps(half_to_float(wb[2 * p].d), half_to_float(wb[2 * p + 1].d)));
      _mm512_storeu_ps(d.mw, _mm512_setzero_ps());
    } else {
      decode_pairs_scalar(QuantType::Q8_0, w_row, cols, p, p + 1, &d);
    }
  }
}

RAGENT_AVX512 void decode_q4_0_pairs(const void* w_row, int64_t cols, int64_t p0, int64_t p1, DecodedPair* out) {
  const auto* wb = static_cast<const BlockQ4_0*>(w_row);
  const int64_t nb = cols / kQK8_0;
  for (int64_t p = p0; p < p1; ++p) {
    DecodedPair& d = out[p - p0];
    if (2 * p + 1 < nb) {
      _mm512_storeu_si512(d.q, q4_0_pair(wb[2 * p], wb[2 * p + 1]));
      _mm512_storeu_ps(d.dw, halves_ps(half_to_float(wb[2 * p].d), half_to_float(wb[2 * p + 1].d)));
      _mm512_storeu_ps(d.mw, _mm512_setzero_ps());
    } else {
      decode_pairs_scalar(QuantType::Q4_0, w_row, cols, p, p + 1, &d);
    }
  }
}

// Q4_K chunk c of a super-block: low nibbles are sub-block 2c, high nibbles sub-block 2c+1.
// Pair c (0-3) of a Q4_K super-block as 64 levels 0-15: the low nibbles of its 32 quant
// bytes (sub-block 2c), then the high nibbles (sub-block 2c + 1).
RAGENT_AVX512 inline __m512i q4_k_pair_quants(const BlockQ4_K& blk, int c) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(raw, low4)),
                            _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4), 1);
}

RAGENT_AVX512 void decode_q4_k_pairs(const void* w_row, int64_t, int64_t p0, int64_t p1, DecodedPair* out) {
  const auto* wb = static_cast<const BlockQ4_K*>(w_row);
  for (int64_t p = p0; p < p1; ++p) {
    const BlockQ4_K& blk = wb[p / 4];
    const int c = static_cast<int>(p % 4);
    DecodedPair& d = out[p - p0];
    _mm512_storeu_si512(d.q, q4_k_pair_quants(blk, c));
    uint64_t sc8, m8;
    unpack_k_scales8(blk.scales, sc8, m8);
    const float dd = half_to_float(blk.d), dm = half_to_float(blk.dmin);
    const auto byte = [](uint64_t v, int j) { return static_cast<float>((v >> (8 * j)) & 0xff); };
    _mm512_storeu_ps(d.dw, halves_ps(dd * byte(sc8, 2 * c), dd * byte(sc8, 2 * c + 1)));
    _mm512_storeu_ps(d.mw, halves_ps(dm * byte(m8, 2 * c), dm * byte(m8, 2 * c + 1)));
  }
}

// Q6_K pair p covers values 64c..64c+63 of its super-block (c = p % 4): half h = c / 2, and
// the low or high nibbles of ql[64h..64h+63] with the matching 2-bit fields of qh[32h..].
RAGENT_AVX512 void decode_q6_k_pairs(const void* w_row, int64_t, int64_t p0, int64_t p1, DecodedPair* out) {
  const auto* wb = static_cast<const BlockQ6_K*>(w_row);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  const __m512i shl_lo = halves_epi32(0x00040004, 0x00020002);
  const __m512i shr_hi = halves_epi32(0x00000000, 0x00020002);
  const __m512i lane_sub = _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
  for (int64_t p = p0; p < p1; ++p) {
    const BlockQ6_K& blk = wb[p / 4];
    const int c = static_cast<int>(p % 4);
    const int h = c / 2;
    DecodedPair& d = out[p - p0];
    const __m512i ql = _mm512_loadu_si512(blk.ql + 64 * h);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h)));
    const __m512i q = (c % 2 == 0)
        ? _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), top2))
        : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), top2));
    _mm512_storeu_si512(d.q, q);
    const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales))));
    const __m512 lanes = _mm512_permutexvar_ps(_mm512_add_epi32(lane_sub, _mm512_set1_epi32(4 * c)), sc);
    _mm512_storeu_ps(d.dw, _mm512_mul_ps(lanes, _mm512_set1_ps(half_to_float(blk.d))));
    _mm512_storeu_ps(d.mw, _mm512_setzero_ps());
  }
}

// 16 weight rows for one 16-value granule (a quarter of a pair, one scale per row): int32
// lane r of q[j] holds row r's bytes 4j..4j+3 of the granule, so a vpdpbusd against one
// broadcast group of 4 activation bytes sums over K for 16 rows at once.
struct Granule16 {
  int32_t q[4][16];
  float dw[16];
  float mw[16];
};
static_assert(sizeof(Granule16) == 384);

// 16 x 16 int32 transpose: out[c] lane r = v[r] lane c (unpacks, then 128-bit shuffles).
RAGENT_AVX512 inline void transpose16x16(const __m512i* v, __m512i* out) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  // u[4k + m], 128-bit lane L: rows 4k..4k+3 of column 4L + m.
  for (int k = 0; k < 4; ++k) {
    u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512i a = _mm512_shuffle_i32x4(u[m], u[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i b = _mm512_shuffle_i32x4(u[m], u[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512i c = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i d = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
    out[m] = _mm512_shuffle_i32x4(a, c, _MM_SHUFFLE(2, 0, 2, 0));
    out[8 + m] = _mm512_shuffle_i32x4(a, c, _MM_SHUFFLE(3, 1, 3, 1));
    out[4 + m] = _mm512_shuffle_i32x4(b, d, _MM_SHUFFLE(2, 0, 2, 0));
    out[12 + m] = _mm512_shuffle_i32x4(b, d, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// Byte offsets of the 16 rows' decoded pairs from row 0's, for gathering one value per row.
RAGENT_AVX512 inline __m512i row_offsets(const DecodedPair* const* w) {
  alignas(64) int32_t offsets[kTileRows];
  for (int r = 0; r < kTileRows; ++r) {
    offsets[r] = static_cast<int32_t>(reinterpret_cast<const char*>(w[r]) - reinterpret_cast<const char*>(w[0]));
  }
  return _mm512_load_si512(offsets);
}

// Reorders a decoded chunk (16 rows, npairs pairs each) into granules, once per chunk; the
// whole batch then reads it. Column c of a pair's transpose is granule c / 4, group c % 4;
// each granule's 16 row scales (and mins) are one gather.
RAGENT_AVX512 void interleave_rows(const DecodedPair* const* w, int64_t npairs, bool has_min, Granule16* out) {
  const __m512i offsets = row_offsets(w);
  for (int64_t p = 0; p < npairs; ++p) {
    __m512i v[16], cols[16];
    for (int r = 0; r < kTileRows; ++r) v[r] = _mm512_loadu_si512(w[r][p].q);
    transpose16x16(v, cols);
    for (int c = 0; c < 16; ++c) _mm512_storeu_si512(out[4 * p + c / 4].q[c % 4], cols[c]);
    for (int g = 0; g < 4; ++g) {
      _mm512_storeu_ps(out[4 * p + g].dw, _mm512_i32gather_ps(offsets, w[0][p].dw + 4 * g, 1));
      if (has_min) _mm512_storeu_ps(out[4 * p + g].mw, _mm512_i32gather_ps(offsets, w[0][p].mw + 4 * g, 1));
    }
  }
}

// 16 weight rows for one 32-value block of a type whose scale spans the block (Q8_0, Q4_0):
// as Granule16, eight groups of 4 bytes, one scale per row.
struct Granule32 {
  int32_t q[8][16];
  float dw[16];
};
static_assert(sizeof(Granule32) == 576);

RAGENT_AVX512 void interleave_rows32(const DecodedPair* const* w, int64_t npairs, Granule32* out) {
  const __m512i offsets = row_offsets(w);
  for (int64_t p = 0; p < npairs; ++p) {
    __m512i v[16], cols[16];
    for (int r = 0; r < kTileRows; ++r) v[r] = _mm512_loadu_si512(w[r][p].q);
    transpose16x16(v, cols);
    for (int c = 0; c < 16; ++c) _mm512_storeu_si512(out[2 * p + c / 8].q[c % 8], cols[c]);
    _mm512_storeu_ps(out[2 * p].dw, _mm512_i32gather_ps(offsets, w[0][p].dw, 1));
    _mm512_storeu_ps(out[2 * p + 1].dw, _mm512_i32gather_ps(offsets, w[0][p].dw + 8, 1));
  }
}

// 4 bytes at p in every int32 lane (a load-port broadcast, no shuffle).
RAGENT_AVX512 inline __m512i broadcast4(const int8_t* p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }

// 16 rows x C activations. Per granule and activation: vpdpbusd x4 into an int32 sum that
// starts at the granule's offset correction, then one convert, one scale product and one FMA
// (plus one FNMADD for the min): 7 vector ops per 256 MACs; the activation bytes, the
// correction and the scale come as broadcasts from memory (load ports, no shuffles).
template <int C, bool kMin>
RAGENT_AVX512 void rows16_kernel(const Granule16* wg, const PackedPair* x, int64_t x_stride, int64_t npairs,
                                 int n_rows, float* y, int64_t y_stride, bool accumulate) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < npairs; ++p) {
    for (int g = 0; g < 4; ++g) {
      const Granule16& gr = wg[4 * p + g];
      const __m512i q0 = _mm512_loadu_si512(gr.q[0]), q1 = _mm512_loadu_si512(gr.q[1]);
      const __m512i q2 = _mm512_loadu_si512(gr.q[2]), q3 = _mm512_loadu_si512(gr.q[3]);
      const __m512 dw = _mm512_loadu_ps(gr.dw);
      const int l = 4 * g;
      for (int c = 0; c < C; ++c) {
        const PackedPair& xp = x[c * x_stride + p];
        __m512i dot = _mm512_set1_epi32(xp.init[g]);
        dot = _mm512_dpbusd_epi32(dot, q0, broadcast4(xp.a + 4 * (l + 0)));
        dot = _mm512_dpbusd_epi32(dot, q1, broadcast4(xp.a + 4 * (l + 1)));
        dot = _mm512_dpbusd_epi32(dot, q2, broadcast4(xp.a + 4 * (l + 2)));
        dot = _mm512_dpbusd_epi32(dot, q3, broadcast4(xp.a + 4 * (l + 3)));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(xp.dx[g])), acc[c]);
        if constexpr (kMin) acc[c] = _mm512_fnmadd_ps(_mm512_loadu_ps(gr.mw), _mm512_set1_ps(xp.xs[g]), acc[c]);
      }
    }
  }
  const __mmask16 rows_mask = static_cast<__mmask16>((1u << n_rows) - 1u);
  for (int c = 0; c < C; ++c) {
    float* out = y + c * y_stride;
    const __m512 prev = accumulate ? _mm512_maskz_loadu_ps(rows_mask, out) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(out, rows_mask, _mm512_add_ps(prev, acc[c]));
  }
}

// The block32 form: 8 vpdpbusd per convert and scale (Q8_0, Q4_0), where rows16_kernel has 4.
template <int C>
RAGENT_AVX512 void rows16_kernel32(const Granule32* wg, const PackedPair* x, int64_t x_stride, int64_t npairs,
                                   int n_rows, float* y, int64_t y_stride, bool accumulate) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < npairs; ++p) {
    for (int h = 0; h < 2; ++h) {
      const Granule32& gr = wg[2 * p + h];
      __m512i q[8];
      for (int j = 0; j < 8; ++j) q[j] = _mm512_loadu_si512(gr.q[j]);
      const __m512 dw = _mm512_loadu_ps(gr.dw);
      for (int c = 0; c < C; ++c) {
        const PackedPair& xp = x[c * x_stride + p];
        __m512i dot = _mm512_set1_epi32(xp.binit[h]);
        for (int j = 0; j < 8; ++j) dot = _mm512_dpbusd_epi32(dot, q[j], broadcast4(xp.a + 32 * h + 4 * j));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(xp.dx[2 * h])), acc[c]);
      }
    }
  }
  const __mmask16 rows_mask = static_cast<__mmask16>((1u << n_rows) - 1u);
  for (int c = 0; c < C; ++c) {
    float* out = y + c * y_stride;
    const __m512 prev = accumulate ? _mm512_maskz_loadu_ps(rows_mask, out) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(out, rows_mask, _mm512_add_ps(prev, acc[c]));
  }
}

// kVariant: 0 granules of 16 without min, 1 with min, 2 blocks of 32 (wg is then Granule32).
template <int C, int kVariant>
RAGENT_AVX512 void rows16_any(const void* wg, const PackedPair* x, int64_t x_stride, int64_t npairs, int n_rows,
                              float* y, int64_t y_stride, bool accumulate) {
  if constexpr (kVariant == 2) {
    rows16_kernel32<C>(static_cast<const Granule32*>(wg), x, x_stride, npairs, n_rows, y, y_stride, accumulate);
  } else {
    rows16_kernel<C, kVariant == 1>(static_cast<const Granule16*>(wg), x, x_stride, npairs, n_rows, y, y_stride,
                                    accumulate);
  }
}

template <int kVariant>
RAGENT_AVX512 void rows16_batch(const void* wg, const PackedPair* x, int64_t x_stride, int64_t n_act,
                                int64_t npairs, int n_rows, float* y, int64_t y_stride, bool accumulate) {
  int64_t c = 0;
  for (; c + 8 <= n_act; c += 8)
    rows16_any<8, kVariant>(wg, x + c * x_stride, x_stride, npairs, n_rows, y + c * y_stride, y_stride, accumulate);
  const auto one = [&](auto width) {
    constexpr int kC = decltype(width)::value;
    if (c + kC <= n_act) {
      rows16_any<kC, kVariant>(wg, x + c * x_stride, x_stride, npairs, n_rows, y + c * y_stride, y_stride, accumulate);
      c += kC;
    }
  };
  one(std::integral_constant<int, 4>{});
  one(std::integral_constant<int, 2>{});
  one(std::integral_constant<int, 1>{});
}

// Granule32s of Q8_0 straight from the blocks: each row's two 32-byte quant runs of a pair
// side by side, transposed, then made unsigned (xor 0x80 is per byte, so after the transpose
// as well as before). Rows past n_rows and a missing last block get zero scales.
RAGENT_AVX512 void interleave_q8_0(const uint8_t* w, size_t row_bytes, int n_rows, int64_t cols, int64_t p0,
                                   int64_t p1, Granule32* out) {
  const int64_t nb = cols / kQK8_0;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t p = p0; p < p1; ++p) {
    const bool second = 2 * p + 1 < nb;
    __m512i v[16], t[16];
    Granule32& g0 = out[2 * (p - p0)];
    Granule32& g1 = out[2 * (p - p0) + 1];
    for (int r = 0; r < kTileRows; ++r) {
      if (r >= n_rows) {
        v[r] = _mm512_setzero_si512();
        g0.dw[r] = g1.dw[r] = 0.0f;
        continue;
      }
      const auto* wb = reinterpret_cast<const BlockQ8_0*>(w + static_cast<size_t>(r) * row_bytes);
      v[r] = second ? load_2x256(wb[2 * p].qs, wb[2 * p + 1].qs)
                    : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[2 * p].qs)));
      g0.dw[r] = half_to_float(wb[2 * p].d);
      g1.dw[r] = second ? half_to_float(wb[2 * p + 1].d) : 0.0f;
    }
    transpose16x16(v, t);
    for (int c = 0; c < 16; ++c) _mm512_storeu_si512(out[2 * (p - p0) + c / 8].q[c % 8], _mm512_xor_si512(t[c], flip));
  }
}

void q8_0_tile(const uint8_t* w, size_t row_bytes, int n_rows, int64_t cols, int64_t p0, int64_t p1,
               const PackedPair* x, int64_t x_stride, int64_t n_act, float* y, int64_t y_stride, bool accumulate) {
  alignas(64) Granule32 wg[2 * kTileChunkPairs];
  interleave_q8_0(w, row_bytes, n_rows, cols, p0, p1, wg);
  rows16_batch<2>(wg, x, x_stride, n_act, p1 - p0, n_rows, y, y_stride, accumulate);
}

// Granule16s of Q4_K straight from the blocks. Pair p is sub-blocks 2c and 2c + 1 (c = p % 4)
// of super-block p / 4: low nibbles of its 32 quant bytes, then high nibbles; granules 0-1 take
// sub-block 2c's scale and min, 2-3 sub-block 2c + 1's. Each row's scales are unpacked once
// per super-block.
RAGENT_AVX512 void interleave_q4_k(const uint8_t* w, size_t row_bytes, int n_rows, int64_t p0, int64_t p1,
                                   Granule16* out) {
  uint64_t sc8[kTileRows] = {}, m8[kTileRows] = {};
  float dd[kTileRows] = {}, dm[kTileRows] = {};
  alignas(64) float dw[2][kTileRows] = {}, mw[2][kTileRows] = {};
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t sb = p / 4;
    const int c = static_cast<int>(p % 4);
    __m512i v[16], t[16];
    for (int r = 0; r < kTileRows; ++r) {
      if (r >= n_rows) {
        v[r] = _mm512_setzero_si512();
        continue;
      }
      const BlockQ4_K& blk = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * row_bytes)[sb];
      v[r] = q4_k_pair_quants(blk, c);
      if (p == p0 || c == 0) {
        unpack_k_scales8(blk.scales, sc8[r], m8[r]);
        dd[r] = half_to_float(blk.d);
        dm[r] = half_to_float(blk.dmin);
      }
      for (int k = 0; k < 2; ++k) {
        dw[k][r] = dd[r] * static_cast<float>((sc8[r] >> (8 * (2 * c + k))) & 0xff);
        mw[k][r] = dm[r] * static_cast<float>((m8[r] >> (8 * (2 * c + k))) & 0xff);
      }
    }
    transpose16x16(v, t);
    Granule16* g = out + 4 * (p - p0);
    for (int col = 0; col < 16; ++col) _mm512_storeu_si512(g[col / 4].q[col % 4], t[col]);
    for (int k = 0; k < 4; ++k) {
      _mm512_storeu_ps(g[k].dw, _mm512_load_ps(dw[k / 2]));
      _mm512_storeu_ps(g[k].mw, _mm512_load_ps(mw[k / 2]));
    }
  }
}

void q4_k_tile(const uint8_t* w, size_t row_bytes, int n_rows, int64_t, int64_t p0, int64_t p1, const PackedPair* x,
               int64_t x_stride, int64_t n_act, float* y, int64_t y_stride, bool accumulate) {
  alignas(64) Granule16 wg[4 * kTileChunkPairs];
  interleave_q4_k(w, row_bytes, n_rows, p0, p1, wg);
  rows16_batch<1>(wg, x, x_stride, n_act, p1 - p0, n_rows, y, y_stride, accumulate);
}

void tile(const DecodedPair* const* w, int n_rows, const PackedPair* x, int64_t x_stride, int64_t n_act,
          int64_t npairs, bool has_min, bool block32, float* y, int64_t y_stride, bool accumulate) {
  if (block32 && !has_min) {
    alignas(64) Granule32 wg[2 * kTileChunkPairs];
    interleave_rows32(w, npairs, wg);
    rows16_batch<2>(wg, x, x_stride, n_act, npairs, n_rows, y, y_stride, accumulate);
    return;
  }
  alignas(64) Granule16 wg[4 * kTileChunkPairs];
  interleave_rows(w, npairs, has_min, wg);
  if (has_min) {
    rows16_batch<1>(wg, x, x_stride, n_act, npairs, n_rows, y, y_stride, accumulate);
  } else {
    rows16_batch<0>(wg, x, x_stride, n_act, npairs, n_rows, y, y_stride, accumulate);
  }
}

// Four 16-lane column strips at a time (head_dim 64 or 128 in one or two passes over the rows).
RAGENT_AVX512 void accumulate_rows(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride,
                                   float* acc) {
  int64_t d = 0;
  for (; d + 64 <= dim; d += 64) {
    __m512 s0 = _mm512_loadu_ps(acc + d), s1 = _mm512_loadu_ps(acc + d + 16);
    __m512 s2 = _mm512_loadu_ps(acc + d + 32), s3 = _mm512_loadu_ps(acc + d + 48);
    for (int64_t j = 0; j < n; ++j) {
      const __m512 wj = _mm512_set1_ps(weights[j]);
      const float* row = rows + j * stride + d;
      s0 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(row), s0);
      s1 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(row + 16), s1);
      s2 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(row + 32), s2);
      s3 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(row + 48), s3);
    }
    _mm512_storeu_ps(acc + d, s0);
    _mm512_storeu_ps(acc + d + 16, s1);
    _mm512_storeu_ps(acc + d + 32, s2);
    _mm512_storeu_ps(acc + d + 48, s3);
  }
  for (; d + 16 <= dim; d += 16) {
    __m512 sum = _mm512_loadu_ps(acc + d);
    for (int64_t j = 0; j < n; ++j) sum = _mm512_fmadd_ps(_mm512_set1_ps(weights[j]), _mm512_loadu_ps(rows + j * stride + d), sum);
    _mm512_storeu_ps(acc + d, sum);
  }
  for (; d < dim; ++d) {
    for (int64_t j = 0; j < n; ++j) acc[d] += weights[j] * rows[j * stride + d];
  }
}

// 16 x 16 tiles through the integer transpose (the bits are moved, not interpreted); the
// ragged edges element by element.
RAGENT_AVX512 void transpose_rows(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t) {
  const int64_t n16 = n / 16 * 16, dim16 = dim / 16 * 16;
  for (int64_t j0 = 0; j0 < n16; j0 += 16) {
    for (int64_t d0 = 0; d0 < dim16; d0 += 16) {
      __m512i v[16], t[16];
      for (int r = 0; r < 16; ++r) v[r] = _mm512_loadu_si512(rows + (j0 + r) * stride + d0);
      transpose16x16(v, t);
      for (int c = 0; c < 16; ++c) _mm512_storeu_si512(keys_t + (d0 + c) * n + j0, t[c]);
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    const float* row = rows + j * stride;
    for (int64_t d = (j < n16 ? dim16 : 0); d < dim; ++d) keys_t[d * n + j] = row[d];
  }
}

// exp(v) for 16 lanes: v = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two for exactness),
// e^r by its Taylor polynomial to degree 7 (relative error < 2e-7 on that range), then 2^k
// by vscalefps, which also gives 0 far below the range (v is clamped first so -inf gives 0).
RAGENT_AVX512 inline __m512 exp16(__m512 v) {
  v = _mm512_max_ps(v, _mm512_set1_ps(-104.0f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), v);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

RAGENT_AVX512 float exp_shifted(float* x, int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = j + 16 <= n ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), s));
    _mm512_mask_storeu_ps(x + j, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(sum);
}

RAGENT_AVX512 void swiglu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = i + 16 <= n ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// Four 16-key strips at a time: a 64-key block is one pass over the dimensions, each q[d]
// broadcast once for 64 multiply-adds.
RAGENT_AVX512 void dot_transposed(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale,
                                  float* scores) {
  const __m512 s = _mm512_set1_ps(scale);
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) {
      const __m512 qd = _mm512_set1_ps(q[d]);
      const float* row = keys_t + d * n + j;
      a0 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(row), a0);
      a1 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(row + 16), a1);
      a2 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(row + 32), a2);
      a3 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(row + 48), a3);
    }
    _mm512_storeu_ps(scores + j, _mm512_mul_ps(a0, s));
    _mm512_storeu_ps(scores + j + 16, _mm512_mul_ps(a1, s));
    _mm512_storeu_ps(scores + j + 32, _mm512_mul_ps(a2, s));
    _mm512_storeu_ps(scores + j + 48, _mm512_mul_ps(a3, s));
  }
  for (; j < n; j += 16) {
    const __mmask16 m = j + 16 <= n ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - j)) - 1u);
    __m512 a = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_maskz_loadu_ps(m, keys_t + d * n + j), a);
    _mm512_mask_storeu_ps(scores + j, m, _mm512_mul_ps(a, s));
  }
}

}  // namespace

const KernelTable& avx512_table() {
  static const KernelTable table = {
      Isa::Avx512,
      {dot_float<LoadF32>, dot_float<LoadF16>, dot_float<LoadBF16>, dot_q8a_blocks<BlockQ8_0, 128, q8_0_pair>,
       dot_q8a_blocks<BlockQ4_0, 8, q4_0_pair>, dot_q45_k<false, BlockQ4_K>,
       dot_q45_k<true, BlockQ5_K>, dot_q6_k},
      {nullptr, nullptr, nullptr, decode_q8_0_pairs, decode_q4_0_pairs, decode_q4_k_pairs,
       scalar_decoder(QuantType::Q5_K), decode_q6_k_pairs},
      tile,
      accumulate_rows,
      dot_transposed,
      transpose_rows,
      {float_tile<LoadF32>, float_tile<LoadF16>, float_tile<LoadBF16>},
      pack_activations,
      q8_0_tile,
      q4_k_tile,
      {nullptr, nullptr, nullptr, nullptr, nullptr, dot2_q45_k<false, BlockQ4_K>, dot2_q45_k<true, BlockQ5_K>, nullptr},
      exp_shifted,
      quantize_q8a,
      quantize_q8k,
      swiglu,
  };
  return table;
}

}  // namespace ragent::kernels::detail

#else  // no x86 intrinsics: the portable table stands in

namespace ragent::kernels::detail {
const KernelTable& avx512_table() { return scalar_table(); }
}  // namespace ragent::kernels::detail

#endif
