// GPU kernels against the CPU kernels. Skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/quant.hpp"
#include "kernels/cuda/cuda_kernels.hpp"

namespace ragent::kernels {
namespace {

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device present";
  }
};

std::vector<float> random_values(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST_F(CudaKernels, DequantizeMatchesCpuBitForBit) {
  const int64_t n = 8 * kQK_K;
  const auto values = random_values(n, 42);
  for (QuantType type : {QuantType::F16, QuantType::BF16, QuantType::Q4_0, QuantType::Q8_0,
                         QuantType::Q4_K, QuantType::Q6_K}) {
    SCOPED_TRACE(std::string(quant_type_name(type)));
    std::vector<std::byte> packed(row_bytes(type, n));
    quantize_row(type, values.data(), packed.data(), n);
    std::vector<float> cpu(static_cast<size_t>(n));
    dequantize_row(type, packed.data(), cpu.data(), n);

    cuda::DeviceBuffer src(packed.size());
    cuda::DeviceBuffer dst(static_cast<size_t>(n) * sizeof(float));
    src.copy_from_host(packed.data(), packed.size());
    cuda::dequantize_row(type, src.data(), static_cast<float*>(dst.data()), n);
    cuda::synchronize();
    std::vector<float> gpu(static_cast<size_t>(n));
    dst.copy_to_host(gpu.data(), gpu.size() * sizeof(float));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::memcmp(&cpu[i], &gpu[i], sizeof(float)), 0) << "value " << i << ": cpu " << cpu[i] << " gpu " << gpu[i];
    }
  }
}

TEST_F(CudaKernels, RejectsPartialBlock) {
  cuda::DeviceBuffer src(64), dst(64 * sizeof(float));
  EXPECT_THROW(cuda::dequantize_row(QuantType::Q8_0, src.data(), static_cast<float*>(dst.data()), 33), cuda::CudaError);
}

TEST_F(CudaKernels, RmsNormMatchesCpu) {
  const int64_t rows = 5, cols = 1000;
  const auto x = random_values(rows * cols, 7);
  const auto w = random_values(cols, 8);
  const float eps = 1e-5f;
  cuda::DeviceBuffer dx(x.size() * 4), dw(w.size() * 4), dy(x.size() * 4);
  dx.copy_from_host(x.data(), x.size() * 4);
  dw.copy_from_host(w.data(), w.size() * 4);
  cuda::rms_norm(static_cast<const float*>(dx.data()), static_cast<const float*>(dw.data()),
                 static_cast<float*>(dy.data()), rows, cols, eps);
  cuda::synchronize();
  std::vector<float> y(x.size());
  dy.copy_to_host(y.data(), y.size() * 4);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
    const double scale = 1.0 / std::sqrt(ss / cols + eps);
    for (int64_t c = 0; c < cols; ++c) {
      const double want = x[r * cols + c] * scale * w[c];
      ASSERT_NEAR(y[r * cols + c], want, 1e-5 * (1 + std::fabs(want))) << "row " << r << " col " << c;
    }
  }
}

}  // namespace
}  // namespace ragent::kernels
