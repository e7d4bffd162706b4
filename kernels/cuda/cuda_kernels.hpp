// CUDA kernels on raw device buffers. This header is plain C++ (no CUDA headers), so host
// code compiled by the C++ compiler can call the kernels; streams are passed as void*
// (a cudaStream_t, nullptr for the default stream).
//
// Every function throws CudaError when a CUDA call fails; the message names the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "kernels/cpu/quant.hpp"

namespace ragent::kernels::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Number of CUDA devices usable by this process; 0 when there is no driver or no device
// (never throws, so callers and tests can decide to skip).
int device_count();

// Owns one device allocation. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return ptr_; }
  size_t size_bytes() const { return bytes_; }
  void copy_from_host(const void* src, size_t bytes);
  void copy_to_host(void* dst, size_t bytes) const;

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// dst[0..n) = dequantized values of the row at src (device pointers). Supports F16, BF16,
// Q4_0, Q8_0, Q4_K and Q6_K; n % block_size(type) == 0. Results equal the CPU
// dequantize_row bit for bit (the same float operations in the same order).
void dequantize_row(QuantType type, const void* src, float* dst, int64_t n, void* stream = nullptr);

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:], for rows x cols row-major
// device arrays. One thread block per row.
void rms_norm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, float eps,
              void* stream = nullptr);

// Waits for the stream; throws CudaError with any error a kernel raised.
void synchronize(void* stream = nullptr);

}  // namespace ragent::kernels::cuda
