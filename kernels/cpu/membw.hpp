// Memory read bandwidth, the numerator of the decode roofline: a decode step streams every
// weight once, so tokens/s can be at most (bytes/s read from DRAM) / (weight bytes per token).
//
// Thread safety: drives `pool` for the whole measurement (one caller per pool).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/thread_pool.hpp"

namespace ragent::kernels {

// Bytes per second that the pool's threads read from `buffer` (buffer_bytes > 0), summing
// 64-bit words in pieces of up to 64 MiB that are split over the threads in 1 MiB chunks (as the
// GEMVs share out rows) and cycled through the buffer. Make the buffer a few times the last-level
// cache so every read comes from DRAM. Passes of about 10 ms run for about `seconds`; the
// fastest wins, so time the OS gives to other processes is not charged to the memory.
double measure_read_bandwidth(ThreadPool& pool, const uint8_t* buffer, size_t buffer_bytes, double seconds);

// The same on a buffer of buffer_bytes allocated and written here (freed on return).
// Throws std::bad_alloc when it cannot be allocated.
double measure_read_bandwidth(ThreadPool& pool, double seconds, size_t buffer_bytes = size_t{1} << 30);

// Anonymous memory with transparent huge pages requested (madvise), as the model's weights
// get (engine/gguf.cpp): the bandwidth reference must not pay TLB misses the weights do not.
class HugePageBuffer {
 public:
  explicit HugePageBuffer(size_t bytes);  // throws std::bad_alloc
  ~HugePageBuffer();
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  uint8_t* data() const { return data_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace ragent::kernels
