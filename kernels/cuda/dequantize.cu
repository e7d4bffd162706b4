// Dequantization of GGML block formats on the GPU: one thread per output value, reading
// its block's scale and quant directly. Layouts are those of kernels/cpu/quant.hpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_kernels.hpp"

namespace ragent::kernels::cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw CudaError(std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
}

__device__ __forceinline__ float half_bits_to_float(uint16_t bits) {
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ float bf16_bits_to_float(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

__global__ void dequantize_f16(const uint16_t* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = half_bits_to_float(src[i]);
}

__global__ void dequantize_bf16(const uint16_t* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = bf16_bits_to_float(src[i]);
}

__global__ void dequantize_q8_0(const BlockQ8_0* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ8_0& b = src[i / kQK8_0];
  dst[i] = static_cast<float>(b.qs[i % kQK8_0]) * half_bits_to_float(b.d);
}

__global__ void dequantize_q4_0(const BlockQ4_0* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ4_0& b = src[i / kQK8_0];
  const int j = static_cast<int>(i % kQK8_0);
  // Values 0..15 sit in the low nibbles, 16..31 in the high nibbles of the same bytes.
  const int q = j < kQK8_0 / 2 ? (b.qs[j] & 0x0f) : (b.qs[j - kQK8_0 / 2] >> 4);
  dst[i] = static_cast<float>(q - 8) * half_bits_to_float(b.d);
}

// 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of a Q4_K/Q5_K block.
__device__ __forceinline__ void k_scale_min(int j, const uint8_t* q, int& scale, int& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

__global__ void dequantize_q4_k(const BlockQ4_K* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ4_K& b = src[i / kQK_K];
  const int k = static_cast<int>(i % kQK_K);
  const int chunk = k / 64;          // 64 values share 32 bytes of quants
  const int within = k % 64;
  const int sub = 2 * chunk + (within >= 32);
  const uint8_t byte = b.qs[32 * chunk + within % 32];
  const int q = within < 32 ? (byte & 0x0f) : (byte >> 4);
  int scale, min;
  k_scale_min(sub, b.scales, scale, min);
  const float d = __fmul_rn(half_bits_to_float(b.d), static_cast<float>(scale));
  const float m = __fmul_rn(half_bits_to_float(b.dmin), static_cast<float>(min));
  // Explicit rounding stops nvcc from fusing into an FMA, keeping results equal to the CPU's.
  dst[i] = __fsub_rn(__fmul_rn(d, static_cast<float>(q)), m);
}

__global__ void dequantize_q6_k(const BlockQ6_K* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ6_K& b = src[i / kQK_K];
  const int k = static_cast<int>(i % kQK_K);
  const int half = k / 128;          // each half of 128 values uses 64 ql, 32 qh, 8 scales
  const int r = k % 128;
  const int quarter = r / 32;        // which 32-value group inside the half
  const int l = r % 32;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const int8_t* sc = b.scales + 8 * half;
  const int low = quarter & 1 ? ql[l + 32] : ql[l];
  const int low4 = quarter < 2 ? (low & 0x0f) : (low >> 4);
  const int high2 = (qh[l] >> (2 * quarter)) & 3;
  const int q = (low4 | (high2 << 4)) - 32;
  const float d = half_bits_to_float(b.d);
  dst[i] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[l / 16 + 2 * quarter])), static_cast<float>(q));
}

__global__ void rms_norm_kernel(const float* x, const float* weight, float* y, int64_t cols, float eps) {
  const float* row = x + blockIdx.x * cols;
  float* out = y + blockIdx.x * cols;
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += row[c] * row[c];
  // Warp reduction, then one partial per warp through shared memory.
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  __shared__ float partial[32];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    sum = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) partial[0] = sum;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[c] = row[c] * scale * weight[c];
}

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_), bytes_(other.bytes_) {
  other.ptr_ = nullptr;
  other.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

void DeviceBuffer::copy_from_host(const void* src, size_t bytes) {
  if (bytes > bytes_) throw CudaError("DeviceBuffer::copy_from_host: " + std::to_string(bytes) + " bytes into a buffer of " + std::to_string(bytes_));
  check(cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(host to device)");
}

void DeviceBuffer::copy_to_host(void* dst, size_t bytes) const {
  if (bytes > bytes_) throw CudaError("DeviceBuffer::copy_to_host: " + std::to_string(bytes) + " bytes from a buffer of " + std::to_string(bytes_));
  check(cudaMemcpy(dst, ptr_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(device to host)");
}

void dequantize_row(QuantType type, const void* src, float* dst, int64_t n, void* stream) {
  if (n <= 0) return;
  if (n % block_size(type) != 0) {
    throw CudaError("cuda::dequantize_row: " + std::to_string(n) + " values is not a whole number of " +
                    std::string(quant_type_name(type)) + " blocks");
  }
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case QuantType::F16: dequantize_f16<<<grid_for(n), kThreads, 0, s>>>(static_cast<const uint16_t*>(src), dst, n); break;
    case QuantType::BF16: dequantize_bf16<<<grid_for(n), kThreads, 0, s>>>(static_cast<const uint16_t*>(src), dst, n); break;
    case QuantType::Q4_0: dequantize_q4_0<<<grid_for(n), kThreads, 0, s>>>(static_cast<const BlockQ4_0*>(src), dst, n); break;
    case QuantType::Q8_0: dequantize_q8_0<<<grid_for(n), kThreads, 0, s>>>(static_cast<const BlockQ8_0*>(src), dst, n); break;
    case QuantType::Q4_K: dequantize_q4_k<<<grid_for(n), kThreads, 0, s>>>(static_cast<const BlockQ4_K*>(src), dst, n); break;
    case QuantType::Q6_K: dequantize_q6_k<<<grid_for(n), kThreads, 0, s>>>(static_cast<const BlockQ6_K*>(src), dst, n); break;
    default:
      throw CudaError("cuda::dequantize_row: no CUDA kernel for " + std::string(quant_type_name(type)));
  }
  check(cudaGetLastError(), "dequantize kernel launch");
}

void rms_norm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, float eps, void* stream) {
  if (rows <= 0 || cols <= 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, weight, y, cols, eps);
  check(cudaGetLastError(), "rms_norm kernel launch");
}

void synchronize(void* stream) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

}  // namespace ragent::kernels::cuda
