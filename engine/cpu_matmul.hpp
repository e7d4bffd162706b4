// The one place where the CPU backend multiplies weights by activations, and reads single
// weight rows (embedding lookup, norm vectors, biases).
//
// Every weight x activation product of engine/cpu_backend.cpp goes through matmul(), so the
// fast kernels (kernels/cpu/dot.hpp: gemv for one token, gemm for a batch) replace this simple
// implementation here and nowhere else. The current implementation dequantizes one weight row
// at a time into a scratch buffer and takes f32 dot products with every token of the batch,
// splitting rows over a few std::threads when the product is large.
//
// Weights are used in place (TensorView data points into the mapped file); nothing here
// copies a tensor.
#pragma once

#include <cstdint>

#include "engine/model.hpp"

namespace ragent::engine {

// y[b * rows + r] = sum_c w[r][c] * x[b * cols + c] for b < batch, where w is a 2-D view
// {rows, cols} of any type kernels::dequantize_row accepts. x holds batch * cols floats,
// y batch * rows floats; they must not overlap. Throws EngineError naming the tensor when its
// type cannot be computed with or it is not 2-D.
void matmul(const TensorView& w, const float* x, int64_t batch, float* y);

// dst[0..cols) = row `row` of the 2-D view w (rows outermost), dequantized to f32.
void read_weight_row(const TensorView& w, int64_t row, float* dst);

// dst[0..n) = the whole of a 1-D view (norm weights, biases), dequantized to f32.
void read_weight_vector(const TensorView& w, float* dst);

}  // namespace ragent::engine
