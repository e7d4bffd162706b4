// Pins engine/cpu_matmul.cpp: products of quantized views equal products of their dequantized
// rows, on one thread and split over threads, and uncomputable types are refused by name.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/cpu_matmul.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine {
namespace {

struct QuantizedMatrix {
  std::vector<std::byte> bytes;
  std::vector<float> dequantized;  // rows * cols
  TensorView view;
};

QuantizedMatrix make_matrix(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(type));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  QuantizedMatrix m;
  const size_t row_size = kernels::row_bytes(q, cols);
  m.bytes.resize(row_size * static_cast<size_t>(rows));
  m.dequantized.resize(static_cast<size_t>(rows * cols));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    kernels::quantize_row(q, row.data(), m.bytes.data() + static_cast<size_t>(r) * row_size, cols);
    kernels::dequantize_row(q, m.bytes.data() + static_cast<size_t>(r) * row_size, m.dequantized.data() + r * cols, cols);
  }
  m.view = TensorView{"w", type, {rows, cols}, m.bytes.data(), m.bytes.size()};
  return m;
}

void expect_product(GgmlType type, int64_t rows, int64_t cols, int64_t batch) {
  const QuantizedMatrix m = make_matrix(type, rows, cols, 5);
  std::mt19937 rng(6);
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<size_t>(batch * cols));
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(batch * rows));
  kernels::ThreadPool pool(2);
  matmul(pool, m.view, x.data(), batch, y.data());
  // Integer weight types multiply 8-bit activations (one scale per 32 values): each value may
  // move by half a step, amax / 127 / 2, so the product by at most the sum of |w| times that.
  const bool integer = type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      double expected = 0, rounding = 0;
      for (int64_t c0 = 0; c0 < cols; c0 += 32) {
        double amax = 0;
        for (int64_t c = c0; c < c0 + 32; ++c) amax = std::max(amax, std::abs(double(x[static_cast<size_t>(b * cols + c)])));
        for (int64_t c = c0; c < c0 + 32; ++c) {
          const double wv = m.dequantized[static_cast<size_t>(r * cols + c)];
          expected += wv * x[static_cast<size_t>(b * cols + c)];
          rounding += std::abs(wv) * amax / 127.0 / 2.0;
        }
      }
      const double tolerance = 1e-3 + 1e-4 * std::abs(expected) + (integer ? rounding : 0.0);
      ASSERT_NEAR(y[static_cast<size_t>(b * rows + r)], expected, tolerance) << "row " << r << " batch " << b;
    }
  }
}

TEST(CpuMatmul, QuantizedProductsEqualDequantizedProducts) {
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                        GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    SCOPED_TRACE(std::string(ggml_type_traits(static_cast<uint32_t>(type))->name));
    expect_product(type, 37, 256, 1);  // gemv
    expect_product(type, 37, 256, 3);  // gemm
  }
}

TEST(CpuMatmul, LargeProductsSplitOverThreadsGiveTheSameResult) {
  expect_product(GgmlType::Q8_0, 1031, 4096, 2);  // above the threading threshold, uneven rows
}

TEST(CpuMatmul, RefusesTypesItCannotComputeWith) {
  std::vector<std::byte> bytes(20 * 4);
  TensorView w{"blk.0.attn_q.weight", GgmlType::Q4_1, {4, 32}, bytes.data(), bytes.size()};
  float x[32] = {};
  float y[4];
  try {
    kernels::ThreadPool pool(1);
    matmul(pool, w, x, 1, y);
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("'blk.0.attn_q.weight' has type Q4_1"), std::string::npos) << e.what();
  }
}

TEST(CpuMatmul, ReadsSingleRows) {
  const QuantizedMatrix m = make_matrix(GgmlType::Q6_K, 5, 256, 7);
  std::vector<float> row(256);
  read_weight_row(m.view, 3, row.data());
  for (int64_t c = 0; c < 256; ++c) EXPECT_EQ(row[static_cast<size_t>(c)], m.dequantized[static_cast<size_t>(3 * 256 + c)]);
}

}  // namespace
}  // namespace ragent::engine
