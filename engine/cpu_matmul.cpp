#include "engine/cpu_matmul.hpp"

#include <algorithm>
#include <vector>

#include "kernels/cpu/dot.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine {

namespace {

void require_matrix(const TensorView& w) {
  if (w.shape.size() != 2) {
    throw EngineError("tensor '" + w.name + "' has " + std::to_string(w.shape.size()) +
                      " dimensions; a weight matrix needs 2");
  }
}

}  // namespace

kernels::QuantType compute_type(const TensorView& w) {
  const auto type = static_cast<kernels::QuantType>(static_cast<uint32_t>(w.type));
  if (!kernels::is_supported(type)) {
    const auto traits = ggml_type_traits(static_cast<uint32_t>(w.type));
    throw EngineError("tensor '" + w.name + "' has type " +
                      std::string(traits ? traits->name : "unknown") +
                      ", which the CPU backend cannot compute with (supported: F32, F16, BF16, Q4_0, "
                      "Q8_0, Q4_K, Q5_K, Q6_K)");
  }
  return type;
}

void matmul(kernels::ThreadPool& pool, const TensorView& w, const float* x, int64_t batch, float* y) {
  require_matrix(w);
  const kernels::QuantType type = compute_type(w);
  const int64_t rows = w.shape[0];
  const int64_t cols = w.shape[1];
  if (batch == 1) {
    // Per-thread scratch for the prepared activation row: grows to the largest row, then reused.
    thread_local std::vector<std::byte> prepared;
    const size_t bytes = kernels::activation_row_bytes(type, cols);
    if (prepared.size() < bytes) prepared.resize(bytes);
    kernels::quantize_activations(type, x, prepared.data(), cols);
    kernels::gemv(pool, type, w.data, rows, cols, prepared.data(), y);
    return;
  }
  kernels::gemm(pool, type, w.data, rows, cols, x, batch, y);
}

void read_weight_row(const TensorView& w, int64_t row, float* dst) {
  require_matrix(w);
  const kernels::QuantType type = compute_type(w);
  const int64_t cols = w.shape[1];
  kernels::dequantize_row(type, w.data + static_cast<size_t>(row) * kernels::row_bytes(type, cols), dst, cols);
}

void read_weight_vector(const TensorView& w, float* dst) {
  kernels::dequantize_row(compute_type(w), w.data, dst, w.element_count());
}

}  // namespace ragent::engine
