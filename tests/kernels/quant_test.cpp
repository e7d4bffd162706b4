// Pins kernels/cpu/quant.cpp to the GGML block formats. Expected values come from the format
// definitions written out here (bit positions, scale packing), never from our own dequantizer.
#include "kernels/cpu/quant.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace ragent::kernels {
namespace {

constexpr uint16_t kHalfOne = 0x3c00;     // 1.0
constexpr uint16_t kHalfHalf = 0x3800;    // 0.5
constexpr uint16_t kHalfTwo = 0x4000;     // 2.0
constexpr uint16_t kHalfQuarter = 0x3400; // 0.25

// --- f16 / bf16 -------------------------------------------------------------------------------

TEST(HalfFloat, ExactValuesAndSpecials) {
  EXPECT_EQ(f32_to_f16(1.0f), kHalfOne);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);  // largest finite half
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  const uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.25f * (1.0f + 0x155 / 1024.0f));  // exponent 13, mantissa 0x155
}

TEST(HalfFloat, RoundsTiesToEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: the even mantissa (1.0) wins.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between mantissas 1 and 2: 2 wins.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Just above halfway rounds up.
  EXPECT_EQ(f32_to_f16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  // 65520 is halfway between 65504 and 65536 (= inf): even is inf. 65519 stays finite.
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
}

TEST(HalfFloat, Subnormals) {
  const float tiny = std::ldexp(1.0f, -24);  // smallest half subnormal
  EXPECT_EQ(f32_to_f16(tiny), 0x0001);
  EXPECT_EQ(f16_to_f32(0x0001), tiny);
  EXPECT_EQ(f16_to_f32(0x03ff), 1023 * tiny);
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x8001), -tiny);
  EXPECT_EQ(f32_to_f16(0.5f * tiny), 0x0000);                                 // tie -> even (0)
  EXPECT_EQ(f32_to_f16(std::nextafter(0.5f * tiny, 1.0f)), 0x0001);          // above the tie
  EXPECT_EQ(f32_to_f16(1.5f * tiny), 0x0002);                                 // tie -> even (2)
  EXPECT_EQ(f32_to_f16(2.5f * tiny), 0x0002);                                 // tie -> even (2)
  EXPECT_EQ(f32_to_f16(1023.5f * tiny), 0x0400);  // largest subnormal rounds up into the normals
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -30)), 0x8000);
  // Every half round-trips through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;  // nan payloads may differ
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(BFloat16, RoundingAndSpecials) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  const uint16_t nan = f32_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
  // A signalling-looking nan whose top mantissa bits are zero must not become inf.
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
  // Subnormal floats keep their top bits.
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00010000u)), 0x0001);
}

// --- Block layouts, built by hand -------------------------------------------------------------

std::vector<float> dequant(QuantType type, const void* block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, block, out.data(), n);
  return out;
}

TEST(Dequantize, F32F16BF16) {
  const float f[3] = {1.5f, -2.0f, 0.0f};
  EXPECT_EQ(dequant(QuantType::F32, f, 3), (std::vector<float>{1.5f, -2.0f, 0.0f}));
  const uint16_t h[3] = {0x3e00, 0xc000, 0x0001};
  EXPECT_EQ(dequant(QuantType::F16, h, 3), (std::vector<float>{1.5f, -2.0f, std::ldexp(1.0f, -24)}));
  const uint16_t b[2] = {0x3fc0, 0xc000};
  EXPECT_EQ(dequant(QuantType::BF16, b, 2), (std::vector<float>{1.5f, -2.0f}));
}

TEST(Dequantize, Q8_0) {
  BlockQ8_0 blk{};
  blk.d = kHalfHalf;
  for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(j * 8 - 128);  // -128 .. 120
  const auto y = dequant(QuantType::Q8_0, &blk, 32);
  EXPECT_EQ(y[0], -64.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 60.0f);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j * 8 - 128));
}

TEST(Dequantize, Q4_0LowNibblesFirstHalf) {
  BlockQ4_0 blk{};
  blk.d = kHalfTwo;
  for (int j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(QuantType::Q4_0, &blk, 32);
  EXPECT_EQ(y[0], -16.0f);   // (0 - 8) * 2
  EXPECT_EQ(y[15], 14.0f);   // (15 - 8) * 2
  EXPECT_EQ(y[16], 14.0f);   // high nibble of byte 0 is 15
  EXPECT_EQ(y[31], -16.0f);  // high nibble of byte 15 is 0
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 2.0f);
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 2.0f);
  }
}

// Sub-block scales and mins used for Q4_K and Q5_K, and their 12-byte packing computed by hand:
// sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 with
// low nibbles in bytes 8-11 (scale | min << 4) and top 2 bits in bits 6-7 of bytes 0-3 / 4-7.
constexpr uint8_t kScales[8] = {1, 2, 3, 4, 17, 33, 50, 63};
constexpr uint8_t kMins[8] = {5, 6, 7, 8, 20, 40, 60, 15};
constexpr uint8_t kPacked[12] = {
    1 | (1 << 6), 2 | (2 << 6), 3 | (3 << 6), 4 | (3 << 6),   // 17>>4=1, 33>>4=2, 50>>4=3, 63>>4=3
    5 | (1 << 6), 6 | (2 << 6), 7 | (3 << 6), 8 | (0 << 6),   // 20>>4=1, 40>>4=2, 60>>4=3, 15>>4=0
    1 | (4 << 4), 1 | (8 << 4), 2 | (12 << 4), 15 | (15 << 4),  // low nibbles of 17/20, 33/40, 50/60, 63/15
};
static_assert(kPacked[0] == 65 && kPacked[7] == 8 && kPacked[11] == 255);

uint8_t nibble_pattern(int byte) { return static_cast<uint8_t>(((byte * 7) & 15) | (((byte * 5 + 3) & 15) << 4)); }

TEST(Dequantize, Q4_KScalePackingAndNibbles) {
  BlockQ4_K blk{};
  blk.d = kHalfOne;
  blk.dmin = kHalfHalf;
  std::memcpy(blk.scales, kPacked, 12);
  for (int i = 0; i < 128; ++i) blk.qs[i] = nibble_pattern(i);
  const auto y = dequant(QuantType::Q4_K, &blk, 256);
  for (int v = 0; v < 256; ++v) {
    // Chunk c of 64 values: byte 32c + (v % 32); low nibble for the first 32, high for the next.
    const int c = v / 64, k = v % 64, byte = 32 * c + k % 32;
    const int q = k < 32 ? (blk.qs[byte] & 15) : (blk.qs[byte] >> 4);
    const int sub = v / 32;
    ASSERT_EQ(y[v], 1.0f * kScales[sub] * q - 0.5f * kMins[sub]) << "value " << v;
  }
  // Spot values worked out by hand: value 0 is q=0 in sub-block 0: 1*1*0 - 0.5*5.
  EXPECT_EQ(y[0], -2.5f);
  // Value 255: sub-block 7, byte 127 high nibble = (127*5+3)&15 = 14: 63*14 - 0.5*15.
  EXPECT_EQ(y[255], 63.0f * 14 - 7.5f);
  // Value 160: sub-block 5 (upper half of chunk 2), byte 64 high nibble = (64*5+3)&15 = 3: 33*3 - 0.5*40.
  EXPECT_EQ(y[160], 79.0f);
}

TEST(Dequantize, Q5_KHighBits) {
  BlockQ5_K blk{};
  blk.d = kHalfOne;
  blk.dmin = kHalfHalf;
  std::memcpy(blk.scales, kPacked, 12);
  for (int i = 0; i < 128; ++i) blk.qs[i] = nibble_pattern(i);
  for (int i = 0; i < 32; ++i) blk.qh[i] = static_cast<uint8_t>(i * 37 + 11);
  const auto y = dequant(QuantType::Q5_K, &blk, 256);
  for (int v = 0; v < 256; ++v) {
    // As Q4_K, plus bit (2c + upper half) of qh[v % 32] as the fifth bit.
    const int c = v / 64, k = v % 64, byte = 32 * c + k % 32;
    const int low = k < 32 ? (blk.qs[byte] & 15) : (blk.qs[byte] >> 4);
    const int high = (blk.qh[k % 32] >> (2 * c + (k >= 32 ? 1 : 0))) & 1;
    const int sub = v / 32;
    ASSERT_EQ(y[v], 1.0f * kScales[sub] * (low + 16 * high) - 0.5f * kMins[sub]) << "value " << v;
  }
  // Value 0: low nibble 0, qh[0] = 11 = 0b1011 -> bit 0 set: q = 16; 1*1*16 - 2.5.
  EXPECT_EQ(y[0], 13.5f);
  // Value 32: high nibble of byte 0 = 3, qh[0] bit 1 set: q = 19; sub-block 1: 2*19 - 3.
  EXPECT_EQ(y[32], 35.0f);
}

TEST(Dequantize, Q6_KLayout) {
  BlockQ6_K blk{};
  blk.d = kHalfQuarter;
  for (int i = 0; i < 128; ++i) blk.ql[i] = nibble_pattern(i);
  for (int i = 0; i < 64; ++i) blk.qh[i] = static_cast<uint8_t>(i * 53 + 7);
  for (int s = 0; s < 16; ++s) blk.scales[s] = static_cast<int8_t>(s * 9 - 70);  // negative and positive
  const auto y = dequant(QuantType::Q6_K, &blk, 256);
  for (int v = 0; v < 256; ++v) {
    // Half h of 128; within it, quarter k of 32 and lane l. ql byte 64h + 32(k % 2) + l, low nibble
    // for k < 2; qh byte 32h + l, bits 2k and 2k+1; scale of sub-block v / 16; q is offset by 32.
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const uint8_t lb = blk.ql[64 * h + 32 * (k % 2) + l];
    const int low = k < 2 ? (lb & 15) : (lb >> 4);
    const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
    ASSERT_EQ(y[v], 0.25f * blk.scales[v / 16] * ((low | (high << 4)) - 32)) << "value " << v;
  }
  // Value 0: ql[0] low = 0, qh[0] = 7 -> bits 0-1 = 3: q = 48 - 32 = 16; scale -70: 0.25*-70*16.
  EXPECT_EQ(y[0], -280.0f);
  // Value 64: ql[0] high nibble = 3, qh[0] bits 4-5 = 0: q = 3 - 32 = -29; scale of sub-block 4 = -34.
  EXPECT_EQ(y[64], 0.25f * -34 * -29);
}

// --- Quantizers -------------------------------------------------------------------------------

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> round_trip(QuantType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<std::byte> q(row_bytes(type, n));
  quantize_row(type, x.data(), q.data(), n);
  return dequant(type, q.data(), n);
}

double relative_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
    ref += x[i] * static_cast<double>(x[i]);
  }
  return std::sqrt(err / ref);
}

TEST(Quantize, Q8_0StaysWithinHalfAStep) {
  const auto x = gaussian(4096, 1);
  const auto y = round_trip(QuantType::Q8_0, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (size_t j = b; j < b + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    // Half a step of amax / 127, plus the f16 rounding of the scale over up to 127 steps.
    const float bound = amax / 127 * (0.5f + 127.0f / 2048.0f) + 1e-6f;
    for (size_t j = b; j < b + 32; ++j) ASSERT_LE(std::fabs(x[j] - y[j]), bound) << j;
  }
  EXPECT_LT(relative_rms_error(x, y), 0.007);
}

TEST(Quantize, Q8_0MatchesReferenceRule) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 12.7f;  // largest magnitude at j = 31
  const float amax = x[31];
  BlockQ8_0 blk{};
  quantize_row(QuantType::Q8_0, x.data(), &blk, 32);
  // d = amax / 127 (stored as f16); q = round half away from zero of x / d, with the unrounded d.
  EXPECT_EQ(blk.d, f32_to_f16(amax / 127.0f));
  EXPECT_EQ(blk.qs[31], 127);
  const float id = 1.0f / (amax / 127.0f);
  EXPECT_EQ(blk.qs[0], static_cast<int8_t>(std::round(x[0] * id)));
  EXPECT_EQ(blk.qs[0], -88);  // -12.7 * 127 / 18.3 = -88.14
}

TEST(Quantize, Q4_0ScaleFromSignedMax) {
  std::vector<float> x(32, 0.0f);
  x[3] = -4.0f;  // largest magnitude: d = -4 / -8 = 0.5
  x[7] = 3.0f;
  x[20] = 3.9f;
  BlockQ4_0 blk{};
  quantize_row(QuantType::Q4_0, x.data(), &blk, 32);
  EXPECT_EQ(blk.d, kHalfHalf);
  EXPECT_EQ(blk.qs[3] & 15, 0);   // -4 / 0.5 + 8 = 0
  EXPECT_EQ(blk.qs[7] & 15, 14);  // 3 / 0.5 + 8 = 14
  EXPECT_EQ(blk.qs[4] >> 4, 15);  // 3.9 / 0.5 + 8.5 = 16.3 -> clamped to 15
  EXPECT_EQ(blk.qs[0] & 15, 8);   // zero
  const auto y = round_trip(QuantType::Q4_0, gaussian(1024, 2));
  EXPECT_LT(relative_rms_error(gaussian(1024, 2), y), 0.1);
}

TEST(Quantize, KQuantErrorBounds) {
  const auto x = gaussian(256 * 64, 3, 0.02f);
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q4_K, x)), 0.085);
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q5_K, x)), 0.043);
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q6_K, x)), 0.021);
  // Each K-quant beats the coarser one on the same data.
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q5_K, x)), relative_rms_error(x, round_trip(QuantType::Q4_K, x)));
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q6_K, x)), relative_rms_error(x, round_trip(QuantType::Q5_K, x)));
}

TEST(Quantize, KQuantsHandleOffsetData) {
  // All-positive data exercises the min search (the fitted min clamps at 0).
  auto x = gaussian(1024, 4);
  for (float& v : x) v = std::fabs(v) + 1.0f;
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q4_K, x)), 0.037);
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q5_K, x)), 0.019);
  EXPECT_LT(relative_rms_error(x, round_trip(QuantType::Q6_K, x)), 0.016);
}

TEST(Quantize, ZeroRowsGiveZeroBlocks) {
  const std::vector<float> x(256, 0.0f);
  for (QuantType t : {QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K}) {
    for (float v : round_trip(t, x)) ASSERT_EQ(v, 0.0f) << quant_type_name(t);
  }
}

TEST(Quantize, NonFiniteInputIsWellDefined) {
  // Garbage in, but no undefined behaviour (the fuzz build runs this under UBSan too).
  std::vector<float> x = gaussian(256, 5);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[100] = std::numeric_limits<float>::infinity();
  x[200] = 1e30f;
  for (QuantType t : {QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K}) {
    (void)round_trip(t, x);
  }
  SUCCEED();
}

TEST(Quantize, FloatTypesRoundTrip) {
  const auto x = gaussian(64, 6);
  EXPECT_EQ(round_trip(QuantType::F32, x), x);
  const auto h = round_trip(QuantType::F16, x);
  const auto b = round_trip(QuantType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], f16_to_f32(f32_to_f16(x[i])));
    EXPECT_EQ(b[i], bf16_to_f32(f32_to_bf16(x[i])));
  }
}

TEST(Quantize, Q8_0RequantizeIsAFixedPoint) {
  // Requantizing a dequantized Q8_0 row gives the same bytes: its values are exactly q * d.
  const auto x = gaussian(256, 7);
  std::vector<std::byte> q1(row_bytes(QuantType::Q8_0, 256)), q2(q1.size());
  quantize_row(QuantType::Q8_0, x.data(), q1.data(), 256);
  const auto y = dequant(QuantType::Q8_0, q1.data(), 256);
  quantize_row(QuantType::Q8_0, y.data(), q2.data(), 256);
  EXPECT_EQ(q1, q2);
}

TEST(Quantize, RowsAtOddAddressesAreFine) {
  // GGUF alignment may be 1, so a row can start at an odd byte; results must not change.
  const auto x = gaussian(256, 8);
  for (QuantType t : {QuantType::F16, QuantType::BF16, QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K,
                      QuantType::Q5_K, QuantType::Q6_K}) {
    const size_t bytes = row_bytes(t, 256);
    std::vector<std::byte> aligned(bytes), odd(bytes + 1);
    quantize_row(t, x.data(), aligned.data(), 256);
    quantize_row(t, x.data(), odd.data() + 1, 256);
    ASSERT_EQ(std::memcmp(aligned.data(), odd.data() + 1, bytes), 0) << quant_type_name(t);
    std::vector<float> y(256), z(256);
    dequantize_row(t, aligned.data(), y.data(), 256);
    dequantize_row(t, odd.data() + 1, z.data(), 256);
    ASSERT_EQ(y, z) << quant_type_name(t);
  }
}

// Input built from an integer generator and exact float operations only, so it is the same
// on every platform: super-blocks at several scales, outliers, an all-positive one, zeros.
std::vector<float> golden_input() {
  std::vector<float> x(256 * 16);
  uint32_t state = 12345;
  for (size_t i = 0; i < x.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    const int v = static_cast<int>((state >> 8) % 2001) - 1000;
    const size_t block = i / 256;
    const float scale = block % 4 == 0 ? 0.001f : block % 4 == 1 ? 0.05f : block % 4 == 2 ? 1.0f : 30.0f;
    float f = static_cast<float>(v) / 1000.0f * scale;
    if ((state >> 4) % 97 == 0) f *= 8.0f;
    if (block == 5) f = std::abs(f) + 0.5f;
    if (block == 9 && i % 3 == 0) f = 0.0f;
    x[i] = f;
  }
  return x;
}

uint64_t fnv1a(const std::vector<std::byte>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (std::byte b : bytes) {
    h ^= static_cast<uint8_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

TEST(Quantize, MatchesGgmlReferenceBytes) {
  // The expected hashes are of the bytes ggml's reference quantizers (quantize_row_*_ref, as
  // llama-quantize uses without an imatrix) produce for golden_input(); ours were checked equal
  // to them with gcc -O0/-O2 and clang -O2. A faster quantizer must keep these bytes.
  const auto x = golden_input();
  const std::pair<QuantType, uint64_t> expected[] = {
      {QuantType::Q4_0, 0x13485d4b72765ed1ull}, {QuantType::Q8_0, 0x44309915ef640425ull},
      {QuantType::Q4_K, 0x25c1bf66a414cfe9ull}, {QuantType::Q5_K, 0x9a96cbc8fe713535ull},
      {QuantType::Q6_K, 0x26de42513e55a114ull},
  };
  for (const auto& [type, hash] : expected) {
    std::vector<std::byte> q(row_bytes(type, static_cast<int64_t>(x.size())));
    quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
    EXPECT_EQ(fnv1a(q), hash) << quant_type_name(type);
  }
}

TEST(TypeInfo, SizesMatchGgml) {
  EXPECT_EQ(row_bytes(QuantType::Q4_0, 64), 36u);
  EXPECT_EQ(row_bytes(QuantType::Q8_0, 64), 68u);
  EXPECT_EQ(row_bytes(QuantType::Q4_K, 512), 288u);
  EXPECT_EQ(row_bytes(QuantType::Q5_K, 256), 176u);
  EXPECT_EQ(row_bytes(QuantType::Q6_K, 256), 210u);
  EXPECT_EQ(row_bytes(QuantType::BF16, 3), 6u);
  EXPECT_FALSE(is_supported(static_cast<QuantType>(3)));
  EXPECT_TRUE(is_supported(QuantType::Q6_K));
}

TEST(DequantizeRow, F16RowsEqualTheScalarConversionForEveryHalf) {
  // dequantize_row(F16) takes the F16C path where the CPU has it; every one of the 65,536
  // halves (subnormals, infinities, NaNs) must come out as f16_to_f32 gives it.
  std::vector<uint16_t> halves(65536);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
  std::vector<float> out(halves.size() + 3);
  dequantize_row(QuantType::F16, halves.data() + 1, out.data(), 65533);  // odd start and a tail
  for (size_t i = 0; i < 65533; ++i) {
    const float expected = f16_to_f32(halves[i + 1]);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(out[i])) << "half 0x" << std::hex << halves[i + 1];
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(expected)) << "half 0x" << std::hex << halves[i + 1];
    }
  }
}

}  // namespace
}  // namespace ragent::kernels
