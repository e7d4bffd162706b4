// The one place where the CPU backend multiplies weights by activations, and reads single
// weight rows (embedding lookup, norm vectors, biases).
//
// Every weight x activation product of engine/cpu_backend.cpp goes through matmul(): one token
// takes kernels::gemv (the activation row quantized to 8 bits for the integer weight types,
// kept in f32 for F32/F16/BF16 weights), a batch takes kernels::gemm, both on the backend's
// thread pool with the ISA picked at start-up.
//
// Weights are used in place (TensorView data points into the mapped file); nothing here
// copies a tensor.
#pragma once

#include <cstdint>
#include <span>

#include "engine/model.hpp"
#include "kernels/cpu/quant.hpp"
#include "kernels/cpu/thread_pool.hpp"

namespace ragent::engine {

// y[b * rows + r] = sum_c w[r][c] * x[b * cols + c] for b < batch, where w is a 2-D view
// {rows, cols} of any type kernels::dequantize_row accepts. x holds batch * cols floats,
// y batch * rows floats; they must not overlap. Throws EngineError naming the tensor when its
// type cannot be computed with or it is not 2-D.
void matmul(kernels::ThreadPool& pool, const TensorView& w, const float* x, int64_t batch, float* y);

// One product of matmul_shared: y = w x.
struct MatmulOut {
  const TensorView* w;
  float* y;
};

// matmul(pool, *o.w, x, batch, o.y) for every o in outs, whose weights all have x's column
// count (Q, K and V; gate and up). For one token the products share one trip through the pool.
void matmul_shared(kernels::ThreadPool& pool, std::span<const MatmulOut> outs, const float* x, int64_t batch);

// The kernels' type for w. Throws EngineError naming the tensor when the CPU cannot compute
// with its type.
kernels::QuantType compute_type(const TensorView& w);

// dst[0..cols) = row `row` of the 2-D view w (rows outermost), dequantized to f32.
void read_weight_row(const TensorView& w, int64_t row, float* dst);

// dst[0..n) = the whole of a 1-D view (norm weights, biases), dequantized to f32.
void read_weight_vector(const TensorView& w, float* dst);

}  // namespace ragent::engine
