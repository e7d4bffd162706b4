// AVX2 + FMA + F16C dot products (no tiled GEMM at this level: gemm runs these dots per
// weight row while the row sits in cache). Integer dots use vpmaddubsw (unsigned x signed
// bytes -> pairs of int16) and vpmaddwd; Q8_0 makes its weights unsigned with the sign trick.
#include "kernels/cpu/dot_impl.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define RAGENT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace ragent::kernels::detail {
namespace {

RAGENT_AVX2 inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

RAGENT_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

RAGENT_AVX2 inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Σ of unsigned q times signed a over 32 bytes, as 8 int32 lanes.
RAGENT_AVX2 inline __m256i dot_u8s8(__m256i q, __m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), _mm256_set1_epi16(1));
}

struct LoadF32 {
  RAGENT_AVX2 static __m256 load(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
  static float scalar(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct LoadF16 {
  RAGENT_AVX2 static __m256 load(const void* w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float scalar(const void* w, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};
struct LoadBF16 {
  RAGENT_AVX2 static __m256 load(const void* w, int64_t i) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  }
  static float scalar(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};

template <class Loader>
RAGENT_AVX2 float dot_float(int64_t n, const void* w, const void* xv) {
  const auto* x = static_cast<const float*>(xv);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(Loader::load(w, i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(Loader::load(w, i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Loader::load(w, i), _mm256_loadu_ps(x + i), acc0);
  float sum = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += Loader::scalar(w, i) * x[i];
  return sum;
}

RAGENT_AVX2 float dot_q8_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ8_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const __m256i q = loadu(wb[b].qs);
    const __m256i a = loadu(xb[b].qs);
    // |w| * (a with w's sign): unsigned times signed, same products.
    const __m256i dot = dot_u8s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(half_to_float(wb[b].d) * xb[b].d), acc);
  }
  return hsum(acc);
}

RAGENT_AVX2 float dot_q4_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  __m256 acc = _mm256_setzero_ps();
  float offset_sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[b].qs));
    const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
    const float scale = half_to_float(wb[b].d) * xb[b].d;
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8s8(q, loadu(xb[b].qs))), _mm256_set1_ps(scale), acc);
    offset_sum += scale * static_cast<float>(8 * xb[b].sum);  // levels are stored as w + 8
  }
  return hsum(acc) - offset_sum;
}

// Q4_K / Q5_K: vpmaddubsw of levels and activations, then vpmaddwd with the sub-block scale.
template <bool kFifthBit, class Block>
RAGENT_AVX2 float dot_q45_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float min_sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const Block& blk = wb[b];
    const BlockQ8K& xq = xb[b];
    __m256i qh;
    if constexpr (kFifthBit) qh = loadu(reinterpret_cast<const BlockQ5_K&>(blk).qh);
    __m256i sumi = _mm256_setzero_si256();
    int32_t mins = 0;
    for (int c = 0; c < 4; ++c) {
      uint8_t s0, m0, s1, m1;
      unpack_k_scale_min(blk.scales, 2 * c, s0, m0);
      unpack_k_scale_min(blk.scales, 2 * c + 1, s1, m1);
      mins += m0 * (xq.bsums[4 * c] + xq.bsums[4 * c + 1]) + m1 * (xq.bsums[4 * c + 2] + xq.bsums[4 * c + 3]);
      const __m256i raw = loadu(blk.qs + 32 * c);
      __m256i lo = _mm256_and_si256(raw, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      if constexpr (kFifthBit) {
        const __m256i b0 = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
        const __m256i b1 = _mm256_set1_epi8(static_cast<char>(2 << (2 * c)));
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), _mm256_set1_epi8(16)));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), _mm256_set1_epi8(16)));
      }
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, loadu(xq.qs + 64 * c)), _mm256_set1_epi16(s0));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, loadu(xq.qs + 64 * c + 32)), _mm256_set1_epi16(s1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(half_to_float(blk.d) * xq.d), acc);
    min_sum += half_to_float(blk.dmin) * xq.d * static_cast<float>(mins);
  }
  return hsum(acc) - min_sum;
}

RAGENT_AVX2 float dot_q6_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i two = _mm256_set1_epi8(0x03);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = wb[b];
    const BlockQ8K& xq = xb[b];
    // 32 Σ_s sc_s bsum_s, the offset of the unsigned levels.
    const __m256i corr = _mm256_madd_epi16(loadu(xq.bsums),
                                           _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales))));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = loadu(blk.qh + 32 * h);
      const __m256i ql0 = loadu(blk.ql + 64 * h);
      const __m256i ql1 = loadu(blk.ql + 64 * h + 32);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;  // two 16-value sub-blocks per 32 values
        const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 1]), _mm_set1_epi16(blk.scales[s]));
        const __m256i prod = _mm256_maddubs_epi16(q[k], loadu(xq.qs + 128 * h + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(prod, sc));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(half_to_float(blk.d) * xq.d), acc);
  }
  return hsum(acc);
}

}  // namespace

namespace {

RAGENT_AVX2 void accumulate_rows(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride,
                                 float* acc) {
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 sum = _mm256_loadu_ps(acc + d);
    for (int64_t j = 0; j < n; ++j) sum = _mm256_fmadd_ps(_mm256_set1_ps(weights[j]), _mm256_loadu_ps(rows + j * stride + d), sum);
    _mm256_storeu_ps(acc + d, sum);
  }
  for (; d < dim; ++d) {
    for (int64_t j = 0; j < n; ++j) acc[d] += weights[j] * rows[j * stride + d];
  }
}

RAGENT_AVX2 void dot_transposed(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale,
                                float* scores) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) acc = _mm256_fmadd_ps(_mm256_set1_ps(q[d]), _mm256_loadu_ps(keys_t + d * n + j), acc);
    _mm256_storeu_ps(scores + j, _mm256_mul_ps(acc, _mm256_set1_ps(scale)));
  }
  for (; j < n; ++j) {
    float sum = 0.0f;
    for (int64_t d = 0; d < dim; ++d) sum += q[d] * keys_t[d * n + j];
    scores[j] = sum * scale;
  }
}

}  // namespace

const KernelTable& avx2_table() {
  static const KernelTable table = {
      Isa::Avx2,
      {dot_float<LoadF32>, dot_float<LoadF16>, dot_float<LoadBF16>, dot_q8_0, dot_q4_0,
       dot_q45_k<false, BlockQ4_K>, dot_q45_k<true, BlockQ5_K>, dot_q6_k},
      {},
      nullptr,
      accumulate_rows,
      dot_transposed,
      transpose_rows_portable,
      {},
      nullptr,
      nullptr,
      nullptr,
      {},
      exp_shifted_portable,
      nullptr,
      nullptr,
      nullptr,
  };
  return table;
}

}  // namespace ragent::kernels::detail

#else

namespace ragent::kernels::detail {
const KernelTable& avx2_table() { return scalar_table(); }
}  // namespace ragent::kernels::detail

#endif
