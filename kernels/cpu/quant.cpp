#include "kernels/cpu/quant.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels/cpu/isa.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace ragent::kernels {

int64_t block_size(QuantType type) {
  switch (type) {
    case QuantType::F32:
    case QuantType::F16:
    case QuantType::BF16: return 1;
    case QuantType::Q4_0:
    case QuantType::Q8_0: return kQK8_0;
    case QuantType::Q4_K:
    case QuantType::Q5_K:
    case QuantType::Q6_K: return kQK_K;
  }
  return 0;
}

size_t block_bytes(QuantType type) {
  switch (type) {
    case QuantType::F32: return 4;
    case QuantType::F16:
    case QuantType::BF16: return 2;
    case QuantType::Q4_0: return sizeof(BlockQ4_0);
    case QuantType::Q8_0: return sizeof(BlockQ8_0);
    case QuantType::Q4_K: return sizeof(BlockQ4_K);
    case QuantType::Q5_K: return sizeof(BlockQ5_K);
    case QuantType::Q6_K: return sizeof(BlockQ6_K);
  }
  return 0;
}

size_t row_bytes(QuantType type, int64_t n) {
  return static_cast<size_t>(n / block_size(type)) * block_bytes(type);
}

std::string_view quant_type_name(QuantType type) {
  switch (type) {
    case QuantType::F32: return "F32";
    case QuantType::F16: return "F16";
    case QuantType::BF16: return "BF16";
    case QuantType::Q4_0: return "Q4_0";
    case QuantType::Q8_0: return "Q8_0";
    case QuantType::Q4_K: return "Q4_K";
    case QuantType::Q5_K: return "Q5_K";
    case QuantType::Q6_K: return "Q6_K";
  }
  return "?";
}

bool is_supported(QuantType type) { return block_size(type) != 0; }

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);          // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;                                       // signed zero
  } else {
    // Subnormal: shift the mantissa up until its leading one reaches the implicit bit.
    int shift = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      ++shift;
    }
    mant &= 0x3ffu;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan (keep nan quiet and non-zero)
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: value = m * 2^-24, round half to even.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 + (112 - e) ... aligns to 2^-24 units
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias and round the 13 dropped bits half to even (carry may bump the exponent).
  uint32_t v = abs - 0x38000000u;
  const uint32_t rem = v & 0x1fffu;
  v >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1u))) ++v;
  return static_cast<uint16_t>(sign | v);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}


// ---------------------------------------------------------------------------------------------
// Block formats. Each dequantizer reads one block layout; each quantizer follows ggml's
// reference quantizer step for step (same search, same float operation order) so that our
// files are bit-identical to the ones llama.cpp's quantize tool writes without an imatrix.

namespace {

// Round to nearest, ties to even, as ggml's nearest_int does for |v| < 2^22 (adding 1.5 * 2^23
// leaves the rounded integer in the low mantissa bits). Out-of-range and nan inputs, which
// ggml leaves undefined, are clamped here so that every caller stays well defined.
int nearest_int(float v) {
  constexpr float kLimit = 4194303.0f;
  if (!(v > -kLimit)) v = v != v ? 0.0f : -kLimit;  // also catches nan
  if (v > kLimit) v = kLimit;
  const float shifted = v + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

// Truncation toward zero into [lo, hi], defined for every float (nan -> lo).
int trunc_clamped(float v, int lo, int hi) {
  if (!(v >= static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// --- F32 / F16 / BF16 --------------------------------------------------------------------

// Rows may sit at any address (GGUF alignment can be 1), so every block and half is copied in
// and out with memcpy rather than read through a typed pointer.
template <class T>
T load(const std::byte* src, int64_t index) {
  T value;
  std::memcpy(&value, src + static_cast<size_t>(index) * sizeof(T), sizeof(T));
  return value;
}
template <class T>
void store(std::byte* dst, int64_t index, const T& value) {
  std::memcpy(dst + static_cast<size_t>(index) * sizeof(T), &value, sizeof(T));
}

#if defined(__x86_64__) || defined(__i386__)
// F16C converts 8 halves per instruction; the KV cache's F16 rows go through here on every
// attention step, so the portable loop below would dominate long-context decode.
__attribute__((target("avx2,f16c"))) void dequantize_f16_f16c(const std::byte* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(load<uint16_t>(src, i));
}
#endif

void dequantize_f16(const std::byte* src, float* dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
  if (default_isa() >= Isa::Avx2) {
    dequantize_f16_f16c(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load<uint16_t>(src, i));
}
void dequantize_bf16(const std::byte* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<uint16_t>(src, i));
}
void quantize_f16(const float* src, std::byte* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store(dst, i, f32_to_f16(src[i]));
}
void quantize_bf16(const float* src, std::byte* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store(dst, i, f32_to_bf16(src[i]));
}

// --- Q4_0 / Q8_0 ----------------------------------------------------------------------------

void dequantize_q4_0(const std::byte* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, dst += kQK8_0) {
    const auto blk = load<BlockQ4_0>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int j = 0; j < kQK8_0 / 2; ++j) {
      dst[j] = static_cast<float>((blk.qs[j] & 0x0f) - 8) * d;
      dst[j + kQK8_0 / 2] = static_cast<float>((blk.qs[j] >> 4) - 8) * d;
    }
  }
}

// The value of largest magnitude maps to -8, so its sign picks the direction of the scale.
void quantize_q4_0(const float* x, std::byte* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK8_0) {
    BlockQ4_0 blk{};
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blk.d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0 / 2; ++j) {
      const int lo = trunc_clamped(x[j] * id + 8.5f, 0, 15);
      const int hi = trunc_clamped(x[j + kQK8_0 / 2] * id + 8.5f, 0, 15);
      blk.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store(dst, b, blk);
  }
}

void dequantize_q8_0(const std::byte* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, dst += kQK8_0) {
    const auto blk = load<BlockQ8_0>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int j = 0; j < kQK8_0; ++j) dst[j] = static_cast<float>(blk.qs[j]) * d;
  }
}

void quantize_q8_0(const float* x, std::byte* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk{};
    blk.d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) {
      // roundf: halves away from zero, as the reference does. |x * id| <= 127 (nan -> 0).
      const float q = std::round(x[j] * id);
      blk.qs[j] = static_cast<int8_t>(q != q ? 0.0f : std::clamp(q, -127.0f, 127.0f));
    }
    store(dst, b, blk);
  }
}

// --- K-quant scale packing --------------------------------------------------------------------
// Q4_K and Q5_K keep 8 sub-block scales and 8 mins of 6 bits in 12 bytes. Sub-blocks 0-3: scale
// in the low 6 bits of byte j, min in the low 6 bits of byte j+4. Sub-blocks 4-7: low 4 bits of
// scale and min in the low and high nibble of byte j+4; their top 2 bits sit in the top 2 bits of
// byte j-4 (scale) and byte j (min).

void unpack_scale_min(const uint8_t* packed, int j, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

void pack_scales_mins(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((mins[j + 4] & 0x0f) << 4));
  }
}

// Asymmetric fit of n values x ~ scale * L - min with L in [0, nmax], weighted. Starts from the
// plain min/max grid, then tries nstep + 1 grid sizes around nmax, solving weighted least squares
// for (scale, min) on each, and keeps the best. Mirrors ggml's make_qkx2_quants.
// Levels clamp(round(iscale * xm[i]), 0, nmax) for the n <= 32 values of a sub-block. The input
// is clamped to [-1, nmax + 1] first (nan -> -1), which leaves every clamped level unchanged and
// keeps the loop free of branches so the compiler can vectorize it.
void grid_levels(int n, int nmax, float iscale, const float* xm, uint8_t* levels) {
  const float hi = static_cast<float>(nmax + 1);
  for (int i = 0; i < n; ++i) {
    float v = iscale * xm[i];
    v = v > -1.0f ? v : -1.0f;
    v = v < hi ? v : hi;
    const int l = static_cast<int>(std::bit_cast<uint32_t>(v + 12582912.0f) & 0x007fffffu) - 0x00400000;
    levels[i] = static_cast<uint8_t>(std::clamp(l, 0, nmax));
  }
}

float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float& the_min,
                    float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    the_min = -min;
    return 0.0f;
  }
  float xm[32];  // x - min, refreshed whenever min moves
  for (int i = 0; i < n; ++i) xm[i] = x[i] - min;
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  grid_levels(n, nmax, iscale, xm, L);
  for (int i = 0; i < n; ++i) {
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    grid_levels(n, nmax, iscale, xm, trial);
    // The sums run in element order, as the reference's do: reordering would change the bits.
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(trial[i]);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (!(D > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::memcpy(L, trial, static_cast<size_t>(n));
      best_error = error;
      scale = this_scale;
      min = this_min;
      for (int i = 0; i < n; ++i) xm[i] = x[i] - min;
    }
  }
  the_min = -min;
  return scale;
}

// Symmetric fit x ~ scale * (L - nmax), L in [0, 2 nmax), weights x^2; tries 18 grid sizes
// around nmax and keeps the one with the best weighted projection. Mirrors ggml's
// make_qx_quants with rmse_type 1 and no importance weights.
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < 1e-15f) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  auto level = [&](float iscale, int i) { return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1); };
  float iscale = -fnmax / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(level(iscale, i));
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(level(iscale, i) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Shared by Q4_K and Q5_K: fit each 32-value sub-block, quantize the 8 scales and 8 mins to 6
// bits against the super-block maxima, then requantize every value with the rounded scales.
// Writes d, dmin and the packed scales; L receives levels in [0, nmax].
void quantize_k_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep,
                           uint16_t& d_out, uint16_t& dmin_out, uint8_t* packed, uint8_t* L) {
  float scales[8];
  float mins[8];
  float weights[32];
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, mins[j], rmin, rdelta, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t ls[8];
  uint8_t lm[8];
  for (int j = 0; j < 8; ++j) {
    // The reference stores the rounded value in a byte before clamping; keep that wrap-around.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scales_mins(ls, lm, packed);
  d_out = f32_to_f16(max_scale / 63.0f);
  dmin_out = f32_to_f16(max_min / 63.0f);
  const float d = f16_to_f32(d_out);
  const float dmin = f16_to_f32(dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min(packed, j, sc, m);
    const float dj = d * sc;
    if (dj == 0) continue;  // keep the levels of the fit, as the reference does
    const float mj = dmin * m;
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + mj) / dj), 0, nmax));
    }
  }
}

// --- Q4_K -------------------------------------------------------------------------------------
// 256 values as 4 chunks of 64: byte l of chunk c holds value 64c+l in its low nibble (sub-block
// 2c) and value 64c+32+l in its high nibble (sub-block 2c+1). value = d*scale*q - dmin*min.

void dequantize_q4_k(const std::byte* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const auto blk = load<BlockQ4_K>(src, b);
    const float d = f16_to_f32(blk.d);
    const float dmin = f16_to_f32(blk.dmin);
    for (int c = 0; c < 4; ++c, dst += 64) {
      uint8_t sc, m;
      unpack_scale_min(blk.scales, 2 * c, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      unpack_scale_min(blk.scales, 2 * c + 1, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      const uint8_t* q = blk.qs + 32 * c;
      for (int l = 0; l < 32; ++l) dst[l] = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) dst[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void quantize_q4_k(const float* x, std::byte* dst, int64_t nblocks) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    BlockQ4_K blk{};
    quantize_k_superblock(x, 15, -1.0f, 0.1f, 20, blk.d, blk.dmin, blk.scales, L);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
    store(dst, b, blk);
  }
}

// --- Q5_K -------------------------------------------------------------------------------------
// As Q4_K for the low 4 bits; the fifth bit of value 64c+l is bit 2c of qh[l], that of value
// 64c+32+l is bit 2c+1 of qh[l].

void dequantize_q5_k(const std::byte* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const auto blk = load<BlockQ5_K>(src, b);
    const float d = f16_to_f32(blk.d);
    const float dmin = f16_to_f32(blk.dmin);
    for (int c = 0; c < 4; ++c, dst += 64) {
      uint8_t sc, m;
      unpack_scale_min(blk.scales, 2 * c, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      unpack_scale_min(blk.scales, 2 * c + 1, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      const uint8_t* q = blk.qs + 32 * c;
      const uint8_t lo_bit = static_cast<uint8_t>(1u << (2 * c));
      const uint8_t hi_bit = static_cast<uint8_t>(2u << (2 * c));
      for (int l = 0; l < 32; ++l) {
        dst[l] = d1 * static_cast<float>((q[l] & 0x0f) + ((blk.qh[l] & lo_bit) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        dst[32 + l] = d2 * static_cast<float>((q[l] >> 4) + ((blk.qh[l] & hi_bit) ? 16 : 0)) - m2;
      }
    }
  }
}

void quantize_q5_k(const float* x, std::byte* dst, int64_t nblocks) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    BlockQ5_K blk{};
    quantize_k_superblock(x, 31, -0.5f, 0.1f, 15, blk.d, blk.dmin, blk.scales, L);
    std::memset(blk.qh, 0, sizeof blk.qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l];
        const int hi = L[64 * c + 32 + l];
        blk.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        blk.qh[l] = static_cast<uint8_t>(blk.qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
    store(dst, b, blk);
  }
}

// --- Q6_K -------------------------------------------------------------------------------------
// 256 values as 2 halves of 128. In half h, value 128h + 32k + l (k = 0..3, l = 0..31) has its
// low 4 bits in ql[64h + 32(k&1) + l] (low nibble for k < 2, high nibble otherwise) and its top 2
// bits in bits 2k..2k+1 of qh[32h + l]. Sub-block scale: scales[v / 16]. value = d*scale*(q - 32).

void dequantize_q6_k(const std::byte* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const auto blk = load<BlockQ6_K>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int v = 0; v < kQK_K; ++v) {
      const int h = v / 128, k = (v % 128) / 32, l = v % 32;
      const uint8_t low_byte = blk.ql[64 * h + 32 * (k & 1) + l];
      const int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
      const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
      const float dl = d * static_cast<float>(blk.scales[v / 16]);
      dst[v] = dl * static_cast<float>((low | (high << 4)) - 32);
    }
    dst += kQK_K;
  }
}

void quantize_q6_k(const float* x, std::byte* dst, int64_t nblocks) {
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    BlockQ6_K blk{};
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      scales[s] = fit_scale_symmetric(16, 32, x + 16 * s, L + 16 * s);
      if (std::fabs(scales[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    if (max_abs_scale < 1e-15f) {
      store(dst, b, blk);  // all zero
      continue;
    }
    const float iscale = -128.0f / max_scale;
    blk.d = f32_to_f16(1 / iscale);
    for (int s = 0; s < kQK_K / 16; ++s) {
      blk.scales[s] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[s])));
    }
    const float d = f16_to_f32(blk.d);
    for (int s = 0; s < kQK_K / 16; ++s) {
      const float ds = d * static_cast<float>(blk.scales[s]);
      if (ds == 0) continue;  // keep the levels of the fit, as the reference does
      for (int i = 0; i < 16; ++i) {
        L[16 * s + i] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * s + i] / ds), -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q0 = Lh[l], q1 = Lh[l + 32], q2 = Lh[l + 64], q3 = Lh[l + 96];
        blk.ql[64 * h + l] = static_cast<uint8_t>((q0 & 0x0f) | ((q2 & 0x0f) << 4));
        blk.ql[64 * h + 32 + l] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
        blk.qh[32 * h + l] = static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
      }
    }
    store(dst, b, blk);
  }
}

}  // namespace

void dequantize_row(QuantType type, const void* src, float* dst, int64_t n) {
  const int64_t nblocks = n / block_size(type);
  const auto* in = static_cast<const std::byte*>(src);
  switch (type) {
    case QuantType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case QuantType::F16: dequantize_f16(in, dst, n); return;
    case QuantType::BF16: dequantize_bf16(in, dst, n); return;
    case QuantType::Q4_0: dequantize_q4_0(in, dst, nblocks); return;
    case QuantType::Q8_0: dequantize_q8_0(in, dst, nblocks); return;
    case QuantType::Q4_K: dequantize_q4_k(in, dst, nblocks); return;
    case QuantType::Q5_K: dequantize_q5_k(in, dst, nblocks); return;
    case QuantType::Q6_K: dequantize_q6_k(in, dst, nblocks); return;
  }
}

void quantize_row(QuantType type, const float* src, void* dst, int64_t n) {
  const int64_t nblocks = n / block_size(type);
  auto* out = static_cast<std::byte*>(dst);
  switch (type) {
    case QuantType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case QuantType::F16: quantize_f16(src, out, n); return;
    case QuantType::BF16: quantize_bf16(src, out, n); return;
    case QuantType::Q4_0: quantize_q4_0(src, out, nblocks); return;
    case QuantType::Q8_0: quantize_q8_0(src, out, nblocks); return;
    case QuantType::Q4_K: quantize_q4_k(src, out, nblocks); return;
    case QuantType::Q5_K: quantize_q5_k(src, out, nblocks); return;
    case QuantType::Q6_K: quantize_q6_k(src, out, nblocks); return;
  }
}

}  // namespace ragent::kernels
