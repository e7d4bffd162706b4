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
  if (batch == 1) {
    const MatmulOut out{&w, y};
    matmul_shared(pool, {&out, 1}, x, 1);  // GEMV on the activation row quantized once
    return;
  }
  require_matrix(w);
  kernels::gemm(pool, compute_type(w), w.data, w.shape[0], w.shape[1], x, batch, y);
}

void matmul_shared(kernels::ThreadPool& pool, std::span<const MatmulOut> outs, const float* x, int64_t batch) {
  if (batch != 1) {
    for (const MatmulOut& o : outs) matmul(pool, *o.w, x, batch, o.y);
    return;
  }
  // The activation row prepared once per weight type among the products.
  struct Prepared {
    kernels::QuantType type;
    std::vector<std::byte> bytes;
  };
  thread_local std::vector<Prepared> prepared;
  thread_local std::vector<kernels::GemvPart> parts;
  parts.clear();
  size_t n_prepared = 0;
  const int64_t cols = outs.front().w->shape.size() == 2 ? outs.front().w->shape[1] : 0;
  for (const MatmulOut& o : outs) {
    require_matrix(*o.w);
    if (o.w->shape[1] != cols) {
      throw EngineError("tensor '" + o.w->name + "' has " + std::to_string(o.w->shape[1]) + " columns; '" +
                        outs.front().w->name + "', which takes the same input, has " + std::to_string(cols));
    }
    const kernels::QuantType type = compute_type(*o.w);
    size_t p = 0;
    while (p < n_prepared && prepared[p].type != type) ++p;
    if (p == n_prepared) {
      if (prepared.size() <= p) prepared.emplace_back();
      prepared[p].type = type;
      const size_t bytes = kernels::activation_row_bytes(type, cols);
      if (prepared[p].bytes.size() < bytes) prepared[p].bytes.resize(bytes);
      kernels::quantize_activations(type, x, prepared[p].bytes.data(), cols);
      ++n_prepared;
    }
    parts.push_back({type, o.w->data, o.w->shape[0], prepared[p].bytes.data(), o.y});
  }
  kernels::gemv_parts(pool, parts.data(), static_cast<int>(parts.size()), cols);
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
