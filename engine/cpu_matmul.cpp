#include "engine/cpu_matmul.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include "kernels/cpu/quant.hpp"

namespace ragent::engine {

namespace {

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

void require_matrix(const TensorView& w) {
  if (w.shape.size() != 2) {
    throw EngineError("tensor '" + w.name + "' has " + std::to_string(w.shape.size()) +
                      " dimensions; a weight matrix needs 2");
  }
}

// Rows [row_begin, row_end) of the product, one dequantized row at a time.
void matmul_rows(const TensorView& w, kernels::QuantType type, const float* x, int64_t batch, float* y,
                 int64_t row_begin, int64_t row_end) {
  const int64_t rows = w.shape[0];
  const int64_t cols = w.shape[1];
  const size_t stride_bytes = kernels::row_bytes(type, cols);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    kernels::dequantize_row(type, w.data + static_cast<size_t>(r) * stride_bytes, row.data(), cols);
    for (int64_t b = 0; b < batch; ++b) {
      const float* xb = x + b * cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < cols; ++c) sum += row[static_cast<size_t>(c)] * xb[c];
      y[b * rows + r] = sum;
    }
  }
}

// Products smaller than this many multiply-adds run on the calling thread: starting threads
// would cost more than it saves.
constexpr int64_t kParallelWork = int64_t{1} << 22;

}  // namespace

void matmul(const TensorView& w, const float* x, int64_t batch, float* y) {
  require_matrix(w);
  const kernels::QuantType type = compute_type(w);
  const int64_t rows = w.shape[0];
  const int64_t work = rows * w.shape[1] * batch;
  const int64_t n_threads =
      std::min<int64_t>(rows, work < kParallelWork ? 1 : std::max(1u, std::thread::hardware_concurrency()));
  if (n_threads <= 1) {
    matmul_rows(w, type, x, batch, y, 0, rows);
    return;
  }
  std::vector<std::jthread> workers;
  const int64_t per_thread = (rows + n_threads - 1) / n_threads;
  for (int64_t t = 1; t < n_threads; ++t) {
    const int64_t begin = t * per_thread;
    const int64_t end = std::min(rows, begin + per_thread);
    if (begin >= end) break;
    workers.emplace_back([&w, type, x, batch, y, begin, end] { matmul_rows(w, type, x, batch, y, begin, end); });
  }
  matmul_rows(w, type, x, batch, y, 0, std::min(rows, per_thread));
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
