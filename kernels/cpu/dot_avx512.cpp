// AVX-512 (F/BW/VL/VNNI) dot products and the tiled int8 GEMM micro-kernel.
//
// Integer dots use vpdpbusd, which multiplies unsigned by signed bytes. Weights are made
// unsigned (Q8_0: xor 0x80, i.e. +128; Q4_0/K-quants: their stored levels are unsigned) and
// the offset times the activation sum is taken out again: folded into the accumulator's start
// value where the offset is per block, or subtracted with the per-16 sums of Q8_K.
#include "kernels/cpu/dot_impl.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_*() (a deliberate self-initialisation inside
// avx512fintrin.h) as uninitialised once inlined here; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(lo)),
                                              _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

RAGENT_AVX512 inline __m512i halves_epi32(int32_t lo, int32_t hi) {
  return _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
}

// --- float weights ------------------------------------------------------------------------

// Loaders turn 16 weights at index i into f32 lanes.
struct LoadF32 {
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    return _mm512_loadu_ps(static_cast<const float*>(w) + i);
  }
  static float scalar(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct LoadF16 {
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float scalar(const void* w, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};
struct LoadBF16 {
  RAGENT_AVX512 static __m512 load(const void* w, int64_t i) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
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
    acc0 = _mm512_fmadd_ps(Loader::load(w, i), _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(Loader::load(w, i + 16), _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Loader::load(w, i), _mm512_loadu_ps(x + i), acc0);
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += Loader::scalar(w, i) * x[i];
  return sum;
}

// --- Q8_0 / Q4_0 against BlockQ8A: two blocks per vector ------------------------------------

RAGENT_AVX512 float dot_q8_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ8_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  const int64_t nb = n / kQK8_0;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i q = _mm512_xor_si512(load_2x256(wb[b].qs, wb[b + 1].qs), flip);  // w + 128
    const __m512i a = load_2x256(xb[b].qs, xb[b + 1].qs);
    // Σ (w + 128) a - 128 Σ a: the start value spreads -128 Σ a over the block's 8 lanes.
    const __m512i init = halves_epi32(-16 * xb[b].sum, -16 * xb[b + 1].sum);
    const __m512i dot = _mm512_dpbusd_epi32(init, q, a);
    const __m512 scale = halves_ps(half_to_float(wb[b].d) * xb[b].d, half_to_float(wb[b + 1].d) * xb[b + 1].d);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (b < nb) {  // odd block count
    const __m256i q = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qs)),
                                       _mm256_set1_epi8(static_cast<char>(0x80)));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256i dot = _mm256_dpbusd_epi32(_mm256_set1_epi32(-16 * xb[b].sum), q, a);
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(dot), _mm256_extracti128_si256(dot, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    const int32_t total = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1)));
    sum += half_to_float(wb[b].d) * xb[b].d * static_cast<float>(total);
  }
  return sum;
}

// Low nibbles of a Q4_0 block are values 0-15, high nibbles 16-31.
RAGENT_AVX512 inline __m512i q4_0_pair(const BlockQ4_0& b0, const BlockQ4_0& b1) {
  const __m256i both = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs)));
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
  // 128-bit pieces are [lo0, lo1, hi0, hi1]; reorder to [lo0, hi0, lo1, hi1].
  return _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
}

RAGENT_AVX512 float dot_q4_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  const int64_t nb = n / kQK8_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i q = q4_0_pair(wb[b], wb[b + 1]);  // w + 8
    const __m512i a = load_2x256(xb[b].qs, xb[b + 1].qs);
    const __m512i dot = _mm512_dpbusd_epi32(halves_epi32(-xb[b].sum, -xb[b + 1].sum), q, a);
    const __m512 scale = halves_ps(half_to_float(wb[b].d) * xb[b].d, half_to_float(wb[b + 1].d) * xb[b + 1].d);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (b < nb) {
    int32_t isum = 0;
    for (int i = 0; i < 16; ++i) {
      isum += ((wb[b].qs[i] & 0x0f) - 8) * xb[b].qs[i] + ((wb[b].qs[i] >> 4) - 8) * xb[b].qs[i + 16];
    }
    sum += half_to_float(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return sum;
}

// --- K-quants against BlockQ8K -------------------------------------------------------------

// Lane index vectors that spread 32-bit scales over the lanes of one vector: 8 lanes per
// 32-value sub-block (Q4_K/Q5_K) or 4 lanes per 16-value sub-block (Q6_K).
RAGENT_AVX512 inline __m512i spread_idx(int lo, int hi) {
  return halves_epi32(lo, hi);
}

// Q4_K and Q5_K share the loop; the fifth bit is added when kFifthBit.
template <bool kFifthBit, class Block>
RAGENT_AVX512 float dot_q45_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  float min_sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const Block& blk = wb[b];
    const BlockQ8K& xq = xb[b];
    alignas(32) int32_t sc[8];
    int32_t mins = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t s, m;
      unpack_k_scale_min(blk.scales, j, s, m);
      sc[j] = s;
      mins += m * (xq.bsums[2 * j] + xq.bsums[2 * j + 1]);
    }
    const __m512i sc_vec = _mm512_castsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(sc)));
    __m512i qh2;
    if constexpr (kFifthBit) {
      qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
          reinterpret_cast<const BlockQ5_K&>(blk).qh)));
    }
    __m512i sumi = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {  // chunks 2*half and 2*half+1: sub-blocks 4*half..4*half+3
      const __m512i raw = _mm512_loadu_si512(blk.qs + 64 * half);
      __m512i lo = _mm512_and_si512(raw, low4);                         // sub-blocks 4h, 4h+2
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);   // sub-blocks 4h+1, 4h+3
      const int j0 = 4 * half;
      if constexpr (kFifthBit) {
        const __m512i sixteen = _mm512_set1_epi8(16);
        const __m512i bit_lo = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << j0)),
                                                  _mm256_set1_epi8(static_cast<char>(1 << (j0 + 2))), 1);
        const __m512i bit_hi = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (j0 + 1))),
                                                  _mm256_set1_epi8(static_cast<char>(1 << (j0 + 3))), 1);
        lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh2, bit_lo), lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh2, bit_hi), hi, sixteen);
      }
      const int8_t* a = xq.qs + 128 * half;
      const __m512i dot_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, load_2x256(a, a + 64));
      const __m512i dot_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, load_2x256(a + 32, a + 96));
      const __m512i s_lo = _mm512_permutexvar_epi32(spread_idx(j0, j0 + 2), sc_vec);
      const __m512i s_hi = _mm512_permutexvar_epi32(spread_idx(j0 + 1, j0 + 3), sc_vec);
      sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_mullo_epi32(dot_lo, s_lo), _mm512_mullo_epi32(dot_hi, s_hi)));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(half_to_float(blk.d) * xq.d), acc);
    min_sum += half_to_float(blk.dmin) * xq.d * static_cast<float>(mins);
  }
  return _mm512_reduce_add_ps(acc) - min_sum;
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

// 4 weight rows x C activations over npairs pairs; acc[r][c] holds 16 partial sums.
template <int C, bool kMin>
RAGENT_AVX512 void tile_kernel(const DecodedPair* const* w, const PackedPair* const* x, int64_t npairs,
                               int n_rows, float* y, int64_t y_stride, bool accumulate) {
  __m512 acc[4][C];
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < npairs; ++p) {
    __m512i q[4];
    __m512 dw[4];
    __m512 mw[4];
    for (int r = 0; r < 4; ++r) {
      q[r] = _mm512_loadu_si512(w[r][p].q);
      dw[r] = _mm512_loadu_ps(w[r][p].dw);
      if constexpr (kMin) mw[r] = _mm512_loadu_ps(w[r][p].mw);
    }
    for (int c = 0; c < C; ++c) {
      const PackedPair& xp = x[c][p];
      const __m512i a = _mm512_loadu_si512(xp.a);
      const __m512i init = _mm512_loadu_si512(xp.init);
      const __m512 dx = _mm512_loadu_ps(xp.dx);
      for (int r = 0; r < 4; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(init, q[r], a);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][c]);
        if constexpr (kMin) acc[r][c] = _mm512_fnmadd_ps(mw[r], _mm512_loadu_ps(xp.xs), acc[r][c]);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    for (int r = 0; r < n_rows; ++r) {
      const float v = _mm512_reduce_add_ps(acc[r][c]);
      float& out = y[c * y_stride + r];
      out = accumulate ? out + v : v;
    }
  }
}

template <bool kMin>
void tile_dispatch(const DecodedPair* const* w, int n_rows, const PackedPair* const* x, int n_act,
                   int64_t npairs, float* y, int64_t y_stride, bool accumulate) {
  switch (n_act) {
    case 1: tile_kernel<1, kMin>(w, x, npairs, n_rows, y, y_stride, accumulate); break;
    case 2: tile_kernel<2, kMin>(w, x, npairs, n_rows, y, y_stride, accumulate); break;
    case 3: tile_kernel<3, kMin>(w, x, npairs, n_rows, y, y_stride, accumulate); break;
    default: tile_kernel<4, kMin>(w, x, npairs, n_rows, y, y_stride, accumulate); break;
  }
}

void tile(const DecodedPair* const* w, int n_rows, const PackedPair* const* x, int n_act, int64_t npairs,
          bool has_min, float* y, int64_t y_stride, bool accumulate) {
  if (has_min) {
    tile_dispatch<true>(w, n_rows, x, n_act, npairs, y, y_stride, accumulate);
  } else {
    tile_dispatch<false>(w, n_rows, x, n_act, npairs, y, y_stride, accumulate);
  }
}

}  // namespace

const KernelTable& avx512_table() {
  static const KernelTable table = {
      Isa::Avx512,
      {dot_float<LoadF32>, dot_float<LoadF16>, dot_float<LoadBF16>, dot_q8_0, dot_q4_0, dot_q45_k<false, BlockQ4_K>,
       dot_q45_k<true, BlockQ5_K>, dot_q6_k},
      {nullptr, nullptr, nullptr, decode_q8_0_pairs, decode_q4_0_pairs, scalar_decoder(QuantType::Q4_K),
       scalar_decoder(QuantType::Q5_K), scalar_decoder(QuantType::Q6_K)},
      tile,
  };
  return table;
}

}  // namespace ragent::kernels::detail

#else  // no x86 intrinsics: the portable table stands in

namespace ragent::kernels::detail {
const KernelTable& avx512_table() { return scalar_table(); }
}  // namespace ragent::kernels::detail

#endif
