// Internal to kernels/cpu: the per-ISA kernel tables behind dot.hpp, and the layouts shared by
// the scalar, AVX2 and AVX-512 translation units. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/dot.hpp"

namespace ragent::kernels::detail {

// Σ w·x over cols values of one weight row and one prepared activation row.
using VecDotFn = float (*)(int64_t cols, const void* w_row, const void* x_prepared);
// Two consecutive rows (the second at w_row + row_bytes) against one activation row: out[0..2).
using VecDot2Fn = void (*)(int64_t cols, const void* w_row, size_t row_bytes, const void* x_prepared, float* out);

// Dense index of the weight types with a dot product.
enum DotType : int { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K, kDotTypes };
int dot_type_index(QuantType type);  // -1 when has_dot(type) is false

// --- Tiled int8 GEMM ----------------------------------------------------------------------
// Activations for gemm are packed per pair of 32-value blocks (64 values, one AVX-512 vector
// of bytes). Granule g of the pair covers values 16g..16g+15 (granules 0-1 are the first
// block), the span over which every weight type's scale is constant. With weights decoded as
// w_i = dw_g * (q_i - offset) - mw_g  (q_i unsigned bytes) and activations x_i = dx_g * a_i,
// the granule's contribution is
//   dx_g * dw_g * (Σ q_i a_i - offset * S_g) - mw_g * (dx_g * S_g),   S_g = Σ a_i,
// so init holds -offset * S_g (the start of the vpdpbusd accumulator) and xs holds dx_g * S_g:
// one value each per granule, read by the kernel as a broadcast from memory.
struct PackedPair {
  int8_t a[64];
  float dx[4];
  int32_t init[4];
  float xs[4];
  int32_t binit[2];  // init per 32-value block (granules 2b and 2b + 1), for block32 tiles
  uint8_t pad[8];    // two cache lines per pair
};
static_assert(sizeof(PackedPair) == 128);

// One weight row's pair, decoded into the form above.
struct DecodedPair {
  uint8_t q[64];
  float dw[16];
  float mw[16];  // zero for the types without a min
};
static_assert(sizeof(DecodedPair) == 192);

// Offset subtracted from the unsigned weight bytes; < 0 when the type has no tiled kernel.
int gemm_offset(QuantType type);
bool gemm_has_min(QuantType type);

// Decodes pairs [pair_begin, pair_end) of one weight row into out (pair_end - pair_begin
// entries). A row of nblocks 32-value blocks has ceil(nblocks / 2) pairs; a missing second
// block decodes to zeros.
using DecodeFn = void (*)(const void* w_row, int64_t cols, int64_t pair_begin, int64_t pair_end,
                          DecodedPair* out);

// y[c * y_stride + r] (+)= Σ over npairs of rows r < kTileRows (weights w[r], npairs entries
// each) and activations c < n_act (x + c * x_stride, npairs entries each). Rows past n_rows
// must be decoded as zeros; they are computed but not stored. accumulate: add to y instead of
// overwriting. npairs <= kTileChunkPairs. block32: the weights' scale is constant over each
// 32-value block and they have no min (Q8_0, Q4_0), so the tile may scale per block.
constexpr int kTileRows = 16;
constexpr int64_t kTileChunkPairs = 16;
using TileFn = void (*)(const DecodedPair* const* w, int n_rows, const PackedPair* x, int64_t x_stride,
                        int64_t n_act, int64_t npairs, bool has_min, bool block32, float* y, int64_t y_stride,
                        bool accumulate);

// Float weights (F32, F16, BF16) times f32 activations, a register tile at a time:
// y[a * y_stride + r] = Σ_k W[r][k] x[a * cols + k] for r < n_rows, a < n_acts (both at most
// kFloatTile), W row r at w + r * w_row_bytes.
constexpr int kFloatTile = 4;
using FloatTileFn = void (*)(const void* w, size_t w_row_bytes, int n_rows, int64_t cols, const float* x, int n_acts,
                             float* y, int64_t y_stride);

// acc[d] += Σ_j weights[j] * rows[j * stride + d] for j < n, d < dim (attention's value sum).
using AccumulateFn = void (*)(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride,
                              float* acc);

// scores[j] = scale * Σ_d q[d] keys_t[d * n + j] for j < n (keys laid out by dimension).
using DotTransposedFn = void (*)(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale,
                                 float* scores);

// keys_t[d * n + j] = rows[j * stride + d] for j < n, d < dim.
using TransposeFn = void (*)(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t);

// A tile straight from the file's blocks (no DecodedPair stage): pairs [p0, p1) of the
// n_rows rows at w, w + row_bytes, ...; otherwise as TileFn.
using Q8DirectTileFn = void (*)(const uint8_t* w, size_t row_bytes, int n_rows, int64_t cols, int64_t p0, int64_t p1,
                                const PackedPair* x, int64_t x_stride, int64_t n_act, float* y, int64_t y_stride,
                                bool accumulate);

// Packs one f32 activation row of cols values (a multiple of 32) into ceil(cols / 64) pairs
// for the tiled GEMM; every ISA's packing gives the same bytes (quantize_block_q8's rounding).
using PackFn = void (*)(const float* x, int64_t cols, int offset, PackedPair* out);

// x[j] = exp(x[j] - shift) for j < n (-inf gives 0); returns their sum.
using ExpShiftedFn = float (*)(float* x, int64_t n, float shift);

// swiglu_f32.
using SwigluFn = void (*)(float* gate, const float* up, int64_t n);

// quantize_activations' block quantizations (nblocks blocks of 32 / 256 values); every ISA's
// gives the same bytes.
using QuantizeQ8AFn = void (*)(const float* x, BlockQ8A* out, int64_t nblocks);
using QuantizeQ8KFn = void (*)(const float* x, BlockQ8K* out, int64_t nblocks);

struct KernelTable {
  Isa isa;
  VecDotFn dot[kDotTypes];
  DecodeFn decode[kDotTypes];  // null: gemm falls back to vec_dot per (row, activation)
  TileFn tile;                 // null likewise
  AccumulateFn accumulate;
  DotTransposedFn dot_transposed;
  TransposeFn transpose;
  FloatTileFn float_tile[3];  // F32, F16, BF16; null: gemm goes row by row (gemm_by_dots)
  PackFn pack;                // null: the portable packing
  Q8DirectTileFn q8_0_tile;   // null: Q8_0 goes through decode + tile
  Q8DirectTileFn q4_k_tile;   // null: Q4_K likewise
  VecDot2Fn dot2[kDotTypes];  // null: gemv takes one row at a time
  ExpShiftedFn exp_shifted;
  QuantizeQ8AFn quantize_q8a;  // null: the portable quantizations
  QuantizeQ8KFn quantize_q8k;
  SwigluFn swiglu;  // null: the portable one
};

void swiglu_portable(float* gate, const float* up, int64_t n);

void quantize_q8a_portable(const float* x, BlockQ8A* out, int64_t nblocks);
void quantize_q8k_portable(const float* x, BlockQ8K* out, int64_t nblocks);

float exp_shifted_portable(float* x, int64_t n, float shift);

void transpose_rows_portable(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t);
void pack_activations_portable(const float* x, int64_t cols, int offset, PackedPair* out);

const KernelTable& scalar_table();
const KernelTable& avx2_table();    // scalar_table() where the compiler lacks x86 intrinsics
const KernelTable& avx512_table();  // likewise

// Shared scalar helpers.
void unpack_k_scale_min(const uint8_t* packed, int j, uint8_t& scale, uint8_t& min);
void quantize_block_q8(const float* x, int8_t* q, float& d);  // 32 values, symmetric
// Decode one pair in portable C++ (used by tables without a vector decoder).
DecodeFn scalar_decoder(QuantType type);  // decode_pairs_scalar bound to one type; null if none
void decode_pairs_scalar(QuantType type, const void* w_row, int64_t cols, int64_t pair_begin,
                         int64_t pair_end, DecodedPair* out);

}  // namespace ragent::kernels::detail
