// Dot products, GEMV and small-batch GEMM of block-quantized weights with f32 activations.
//
// Weights stay in their file format (quant.hpp), used in place. For the integer formats the
// activation row is first quantized to 8 bits (per 32 values for Q8_0/Q4_0, per 256 values with
// per-16 sums for the K-quants) so the inner loops are int8 dot products (vpdpbusd on AVX-512
// VNNI). F32/F16/BF16 weights take the f32 activations as they are.
//
// The implementation is picked once per ISA level (isa.hpp): default_isa() for the plain calls,
// or an explicit level for tests and benchmarks.
//
// Shapes: W is rows x cols, row-major, row r at W + r * row_bytes(type, cols); cols must be a
// multiple of block_size(type). x has cols values. Outputs are f32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/quant.hpp"
#include "kernels/cpu/thread_pool.hpp"

namespace ragent::kernels {

// 32 activations quantized for Q8_0 / Q4_0 weights: value = qs[i] * d. The sum of qs lets the
// unsigned-times-signed instructions offset the weights to unsigned and correct afterwards.
struct BlockQ8A {
  int8_t qs[kQK8_0];
  float d;
  int32_t sum;  // sum of qs
};
static_assert(sizeof(BlockQ8A) == 40);

// 256 activations quantized for the K-quants (as ggml's block_q8_K): value = qs[i] * d.
struct BlockQ8K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sum of each 16 consecutive qs
};
static_assert(sizeof(BlockQ8K) == 292);

// True for the weight types vec_dot / gemv / gemm accept: F32, F16, BF16, Q8_0, Q4_0, Q4_K,
// Q5_K, Q6_K.
bool has_dot(QuantType weight_type);

// Bytes quantize_activations writes for cols values against weights of weight_type (cols * 4
// for the float types, which use x unchanged).
size_t activation_row_bytes(QuantType weight_type, int64_t cols);

// Prepares an f32 row for vec_dot/gemv against weight_type: BlockQ8A rows for Q8_0/Q4_0,
// BlockQ8K rows for the K-quants, a copy for F32/F16/BF16. dst holds
// activation_row_bytes(weight_type, cols) bytes; cols % block_size(weight_type) == 0.
// Deterministic and identical at every ISA level.
void quantize_activations(QuantType weight_type, const float* x, void* dst, int64_t cols, Isa isa = default_isa());

// Σ_c w[c] * x[c] for one weight row and one prepared activation row. w_row needs the
// alignment of its block struct (2 bytes, which every GGUF row has), x_prepared 4 bytes; no
// vector alignment is required.
float vec_dot(QuantType weight_type, int64_t cols, const void* w_row, const void* x_prepared,
              Isa isa = default_isa());

// y[r] = vec_dot(row r of W, x) for r in [0, rows), rows split over the pool's threads.
// x_prepared comes from quantize_activations(weight_type, ...).
void gemv(ThreadPool& pool, QuantType weight_type, const void* w, int64_t rows, int64_t cols,
          const void* x_prepared, float* y, Isa isa = default_isa());

// Attention's inner loops, f32. Keys of a block are laid out by dimension
// (keys_t[d * n + j] = rows[j * stride + d], as transpose_rows_f32 writes them) so that
// scores[j] = scale * Σ_d q[d] keys_t[d * n + j] is plain multiply-adds over many keys; values
// stay row-major (row j at rows + j * stride): acc[d] += Σ_j weights[j] rows[j * stride + d].
// For j < n, d < dim.
void transpose_rows_f32(const float* rows, int64_t n, int64_t dim, int64_t stride, float* keys_t,
                        Isa isa = default_isa());
void dot_transposed_f32(const float* q, const float* keys_t, int64_t n, int64_t dim, float scale, float* scores,
                        Isa isa = default_isa());
void accumulate_rows_f32(const float* weights, const float* rows, int64_t n, int64_t dim, int64_t stride, float* acc,
                         Isa isa = default_isa());
// The softmax numerators: x[j] = exp(x[j] - shift) for j < n (x[j] = -inf gives 0), returning
// their sum. Within a few ulp of std::exp (AVX-512: a degree-7 polynomial after reduction by
// ln 2; other levels call std::exp).
float exp_shifted_f32(float* x, int64_t n, float shift, Isa isa = default_isa());

// The SwiGLU of a feed-forward layer: gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 +
// exp(-gate[i])) * up[i] for i < n, with exp as in exp_shifted_f32.
void swiglu_f32(float* gate, const float* up, int64_t n, Isa isa = default_isa());

// One matrix of a gemv_parts call: y[r] = vec_dot(row r of w, x_prepared) for r < rows, where
// x_prepared comes from quantize_activations(type, ...).
struct GemvPart {
  QuantType type;
  const void* w;
  int64_t rows;
  const void* x_prepared;
  float* y;
};

// Several GEMVs with the same column count (Q, K and V; gate and up) as one loop over the
// pool: their rows are shared out together, so the threads meet once instead of once per
// matrix and a small matrix does not leave a thread idle.
void gemv_parts(ThreadPool& pool, const GemvPart* parts, int n_parts, int64_t cols, Isa isa = default_isa());

// Y[b * rows + r] = Σ_c W[r, c] X[b * cols + c] for b in [0, batch): batch f32 activation rows
// (prefill). Each weight block is loaded once per tile of activations rather than once per
// activation. Quantizes X internally into per-thread scratch that grows to the largest call and
// is then reused (no allocation after that): as quantize_activations does, except that the
// AVX-512 tiled path quantizes per 32 values for every integer weight type (finer than Q8_K).
// Any batch >= 1 is accepted; the tiles are tuned for batch <= 64.
void gemm(ThreadPool& pool, QuantType weight_type, const void* w, int64_t rows, int64_t cols,
          const float* x, int64_t batch, float* y, Isa isa = default_isa());

}  // namespace ragent::kernels
