#include "kernels/cpu/quant.hpp"

#include <bit>
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

}  // namespace ragent::kernels
