// Portable dot products (the reference every vector path is tested against) and the portable
// weight decoder for the tiled GEMM.
#include <cstring>

#include "kernels/cpu/dot_impl.hpp"

namespace ragent::kernels::detail {

void unpack_k_scale_min(const uint8_t* packed, int j, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

namespace {

float dot_f32(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += f16_to_f32(a[i]) * b[i];
  return sum;
}

float dot_bf16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(a[i]) * b[i];
  return sum;
}

float dot_q8_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ8_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQK8_0; ++i) isum += wb[b].qs[i] * xb[b].qs[i];
    sum += f16_to_f32(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return sum;
}

float dot_q4_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  const auto* xb = static_cast<const BlockQ8A*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQK8_0 / 2; ++i) {
      isum += ((wb[b].qs[i] & 0x0f) - 8) * xb[b].qs[i];
      isum += ((wb[b].qs[i] >> 4) - 8) * xb[b].qs[i + kQK8_0 / 2];
    }
    sum += f16_to_f32(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return sum;
}

// Q4_K / Q5_K: value = d * sc_j * q - dmin * m_j over 8 sub-blocks of 32.
template <bool kFifthBit, class Block>
float dot_q45_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const Block& blk = wb[b];
    int32_t scaled = 0;  // Σ_j sc_j * Σ q a
    int32_t mins = 0;    // Σ_j m_j * Σ a
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_k_scale_min(blk.scales, j, sc, m);
      const int c = j / 2;
      const int shift = 4 * (j & 1);
      int32_t isum = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (blk.qs[32 * c + l] >> shift) & 0x0f;
        if constexpr (kFifthBit) q |= ((reinterpret_cast<const BlockQ5_K&>(blk).qh[l] >> j) & 1) << 4;
        isum += q * xb[b].qs[32 * j + l];
      }
      scaled += sc * isum;
      mins += m * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    }
    sum += xb[b].d * (f16_to_f32(blk.d) * static_cast<float>(scaled) -
                      f16_to_f32(blk.dmin) * static_cast<float>(mins));
  }
  return sum;
}

float dot_q6_k(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  const auto* xb = static_cast<const BlockQ8K*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = wb[b];
    int32_t scaled = 0;
    for (int v0 = 0; v0 < kQK_K; v0 += 16) {
      int32_t isum = 0;
      for (int v = v0; v < v0 + 16; ++v) {
        const int h = v / 128, k = (v % 128) / 32, l = v % 32;
        const uint8_t low_byte = blk.ql[64 * h + 32 * (k & 1) + l];
        const int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
        const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
        isum += ((low | (high << 4)) - 32) * xb[b].qs[v];
      }
      scaled += blk.scales[v0 / 16] * isum;
    }
    sum += xb[b].d * f16_to_f32(blk.d) * static_cast<float>(scaled);
  }
  return sum;
}

// --- GEMM weight decoding ---------------------------------------------------------------------

void set_lanes(DecodedPair& out, int half, float dw, float mw) {
  for (int lane = 8 * half; lane < 8 * half + 8; ++lane) {
    out.dw[lane] = dw;
    out.mw[lane] = mw;
  }
}

void decode_q8_0(const BlockQ8_0& blk, DecodedPair& out, int half) {
  for (int i = 0; i < 32; ++i) out.q[32 * half + i] = static_cast<uint8_t>(blk.qs[i] ^ 0x80);
  set_lanes(out, half, f16_to_f32(blk.d), 0.0f);
}

void decode_q4_0(const BlockQ4_0& blk, DecodedPair& out, int half) {
  for (int i = 0; i < 16; ++i) {
    out.q[32 * half + i] = blk.qs[i] & 0x0f;
    out.q[32 * half + 16 + i] = static_cast<uint8_t>(blk.qs[i] >> 4);
  }
  set_lanes(out, half, f16_to_f32(blk.d), 0.0f);
}

// Chunk c (0..3) of a Q4_K/Q5_K super-block: sub-blocks 2c and 2c+1.
template <bool kFifthBit, class Block>
void decode_q45_k(const Block& blk, int c, DecodedPair& out) {
  const float d = f16_to_f32(blk.d);
  const float dmin = f16_to_f32(blk.dmin);
  for (int half = 0; half < 2; ++half) {
    const int j = 2 * c + half;
    uint8_t sc, m;
    unpack_k_scale_min(blk.scales, j, sc, m);
    for (int l = 0; l < 32; ++l) {
      int q = (blk.qs[32 * c + l] >> (4 * half)) & 0x0f;
      if constexpr (kFifthBit) q |= ((reinterpret_cast<const BlockQ5_K&>(blk).qh[l] >> j) & 1) << 4;
      out.q[32 * half + l] = static_cast<uint8_t>(q);
    }
    set_lanes(out, half, d * sc, dmin * m);
  }
}

void decode_q6_k(const BlockQ6_K& blk, int c, DecodedPair& out) {
  const float d = f16_to_f32(blk.d);
  for (int i = 0; i < 64; ++i) {
    const int v = 64 * c + i;
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const uint8_t low_byte = blk.ql[64 * h + 32 * (k & 1) + l];
    const int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
    const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
    out.q[i] = static_cast<uint8_t>(low | (high << 4));
  }
  for (int lane = 0; lane < 16; ++lane) {
    out.dw[lane] = d * static_cast<float>(blk.scales[(64 * c + 4 * lane) / 16]);
    out.mw[lane] = 0.0f;
  }
}

template <QuantType kType>
void decode_pairs_fn(const void* w_row, int64_t cols, int64_t pair_begin, int64_t pair_end, DecodedPair* out) {
  decode_pairs_scalar(kType, w_row, cols, pair_begin, pair_end, out);
}

}  // namespace

void decode_pairs_scalar(QuantType type, const void* w_row, int64_t cols, int64_t pair_begin,
                         int64_t pair_end, DecodedPair* out) {
  const int64_t nblocks = cols / kQK8_0;
  for (int64_t p = pair_begin; p < pair_end; ++p) {
    DecodedPair& dst = out[p - pair_begin];
    switch (type) {
      case QuantType::Q8_0:
      case QuantType::Q4_0:
        std::memset(&dst, 0, sizeof dst);
        for (int half = 0; half < 2 && 2 * p + half < nblocks; ++half) {
          if (type == QuantType::Q8_0) {
            decode_q8_0(static_cast<const BlockQ8_0*>(w_row)[2 * p + half], dst, half);
          } else {
            decode_q4_0(static_cast<const BlockQ4_0*>(w_row)[2 * p + half], dst, half);
          }
        }
        break;
      case QuantType::Q4_K:
        decode_q45_k<false>(static_cast<const BlockQ4_K*>(w_row)[p / 4], static_cast<int>(p % 4), dst);
        break;
      case QuantType::Q5_K:
        decode_q45_k<true>(static_cast<const BlockQ5_K*>(w_row)[p / 4], static_cast<int>(p % 4), dst);
        break;
      case QuantType::Q6_K:
        decode_q6_k(static_cast<const BlockQ6_K*>(w_row)[p / 4], static_cast<int>(p % 4), dst);
        break;
      default: std::memset(&dst, 0, sizeof dst); break;
    }
  }
}

namespace {

void accumulate_rows(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride, float* acc) {
  for (int64_t j = 0; j < n; ++j) {
    const float* row = rows + j * stride;
    for (int64_t d = 0; d < dim; ++d) acc[d] += weights[j] * row[d];
  }
}

void dot_transposed(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale, float* scores) {
  for (int64_t j = 0; j < n; ++j) scores[j] = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float* row = keys_t + d * n;
    for (int64_t j = 0; j < n; ++j) scores[j] += q[d] * row[j];
  }
  for (int64_t j = 0; j < n; ++j) scores[j] *= scale;
}

}  // namespace

const KernelTable& scalar_table() {
  static const KernelTable table = {
      Isa::Scalar,
      {dot_f32, dot_f16, dot_bf16, dot_q8_0, dot_q4_0, dot_q45_k<false, BlockQ4_K>,
       dot_q45_k<true, BlockQ5_K>, dot_q6_k},
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

DecodeFn scalar_decoder(QuantType type) {
  switch (type) {
    case QuantType::Q8_0: return decode_pairs_fn<QuantType::Q8_0>;
    case QuantType::Q4_0: return decode_pairs_fn<QuantType::Q4_0>;
    case QuantType::Q4_K: return decode_pairs_fn<QuantType::Q4_K>;
    case QuantType::Q5_K: return decode_pairs_fn<QuantType::Q5_K>;
    case QuantType::Q6_K: return decode_pairs_fn<QuantType::Q6_K>;
    default: return nullptr;
  }
}

}  // namespace ragent::kernels::detail
