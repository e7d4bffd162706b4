#include "kernels/cpu/membw.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include <sys/mman.h>
#include <memory>

#include "kernels/cpu/isa.hpp"

namespace ragent::kernels {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPieceBytes = size_t{64} << 20;
constexpr int64_t kWordsPerChunk = (int64_t{1} << 20) / 8;  // 1 MiB chunks

// Sums 64-bit words; 4 independent chains keep the loads in flight.
template <class Word>
inline uint64_t read_sum_chains(const Word* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a ^ b ^ c ^ d;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) uint64_t read_sum_avx2(const uint64_t* p, size_t n) { return read_sum_chains(p, n); }
#endif
uint64_t read_sum_scalar(const uint64_t* p, size_t n) { return read_sum_chains(p, n); }

using ReadSum = uint64_t (*)(const uint64_t*, size_t);

ReadSum pick_read_sum() {
#if defined(__x86_64__) || defined(__i386__)
  if (default_isa() >= Isa::Avx2) return &read_sum_avx2;
#endif
  return &read_sum_scalar;
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, const uint8_t* buffer, size_t buffer_bytes, double seconds) {
  const size_t piece_bytes = std::max<size_t>(8, std::min(kPieceBytes, buffer_bytes) / 8 * 8);
  const size_t n_pieces = std::max<size_t>(1, buffer_bytes / piece_bytes);
  const ReadSum read_sum = pick_read_sum();
  volatile uint64_t sink = 0;
  size_t next = 0;
  auto read_piece = [&] {
    const auto* piece = reinterpret_cast<const uint64_t*>(buffer + next * piece_bytes);
    next = (next + 1) % n_pieces;
    pool.parallel_for(static_cast<int64_t>(piece_bytes / 8), kWordsPerChunk, [&](int64_t begin, int64_t end) {
      sink = sink + read_sum(piece + begin, static_cast<size_t>(end - begin));
    });
  };

  // Warm-up, and the number of pieces in a pass of about 10 ms.
  const auto t0 = Clock::now();
  read_piece();
  const double first = std::max(1e-6, std::chrono::duration<double>(Clock::now() - t0).count());
  const int64_t pieces_per_pass = std::max<int64_t>(1, static_cast<int64_t>(0.01 / first));
  double best_seconds_per_piece = 1e30;
  const auto start = Clock::now();
  do {
    const auto p0 = Clock::now();
    for (int64_t i = 0; i < pieces_per_pass; ++i) read_piece();
    const double pass = std::chrono::duration<double>(Clock::now() - p0).count();
    best_seconds_per_piece = std::min(best_seconds_per_piece, pass / static_cast<double>(pieces_per_pass));
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  return static_cast<double>(piece_bytes) / best_seconds_per_piece;
}

double measure_read_bandwidth(ThreadPool& pool, double seconds, size_t buffer_bytes) {
  HugePageBuffer buffer(buffer_bytes);
  std::memset(buffer.data(), 1, buffer_bytes);  // touch every page so reads hit memory, not the zero page
  return measure_read_bandwidth(pool, buffer.data(), buffer_bytes, seconds);
}

HugePageBuffer::HugePageBuffer(size_t bytes) : bytes_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: 4 KB pages where THP is off
  data_ = static_cast<uint8_t*>(p);
}

HugePageBuffer::~HugePageBuffer() { munmap(data_, bytes_); }

}  // namespace ragent::kernels
