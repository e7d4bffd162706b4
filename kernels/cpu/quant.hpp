// Block-quantized weight formats, bit-exact with the GGML/GGUF definitions.
//
// A row of n values (n a multiple of the type's block size) is stored as n / block_size
// consecutive blocks. Scales are IEEE half or bfloat16 stored as raw bits. These functions
// know nothing of models or files; engine/gguf maps GGUF tensor types onto QuantType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ragent::kernels {

// Numbering follows ggml_type so a GGUF type id converts with a range check.
enum class QuantType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

inline constexpr int kQK8_0 = 32;   // values per Q8_0 / Q4_0 block
inline constexpr int kQK_K = 256;   // values per K-quant super-block
inline constexpr int kKScaleBytes = 12;

struct BlockQ4_0 {
  uint16_t d;                // f16 scale
  uint8_t qs[kQK8_0 / 2];    // low nibbles hold values 0..15, high nibbles 16..31; value = (q - 8) * d
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ8_0 {
  uint16_t d;                // f16 scale
  int8_t qs[kQK8_0];         // value = q * d
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_K {
  uint16_t d;                // f16 super-block scale for the 6-bit sub-block scales
  uint16_t dmin;             // f16 super-block scale for the 6-bit sub-block mins
  uint8_t scales[kKScaleBytes];  // 8 sub-blocks of 32: 6-bit scale and 6-bit min each, packed
  uint8_t qs[kQK_K / 2];     // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];     // 5th bit of each quant
  uint8_t qs[kQK_K / 2];     // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];     // low 4 bits
  uint8_t qh[kQK_K / 4];     // high 2 bits
  int8_t scales[kQK_K / 16]; // 16 sub-blocks of 16, 8-bit scales
  uint16_t d;                // f16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210);

// Values per block (1 for F32/F16/BF16) and bytes per block.
int64_t block_size(QuantType type);
size_t block_bytes(QuantType type);
// Bytes of a row of n values; n must be a multiple of block_size(type).
size_t row_bytes(QuantType type, int64_t n);
std::string_view quant_type_name(QuantType type);
// True for the types dequantize_row/quantize_row accept.
bool is_supported(QuantType type);

// Scalar conversions (round-to-nearest-even, as the hardware instructions do).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// dst[0..n) = the values of the row at src. n % block_size(type) == 0. src and dst (below)
// need no alignment: GGUF tensors may start at any byte when the file's alignment is 1.
void dequantize_row(QuantType type, const void* src, float* dst, int64_t n);
// Writes row_bytes(type, n) bytes to dst. For K-quants this searches the scales the way
// ggml's reference quantizer does (no importance matrix), so files match what users expect.
void quantize_row(QuantType type, const float* src, void* dst, int64_t n);

}  // namespace ragent::kernels
