#include "kernels/cpu/thread_pool.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ragent::kernels {
namespace {

// Iterations of busy-waiting before a worker sleeps on the generation counter. About 50-100 us:
// longer than the gap between the kernels of one decode step, short enough not to burn a core
// while the engine is idle.
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work_on_chunks() {
  for (;;) {
    const int64_t begin = next_item_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= n_items_) return;
    task_(ctx_, begin, std::min(n_items_, begin + grain_));
  }
}

void ThreadPool::run_raw(Task task, void* ctx, int64_t n_items, int64_t grain) {
  if (n_items <= 0) return;
  if (n_threads_ == 1 || n_items <= grain) {
    for (int64_t begin = 0; begin < n_items; begin += grain) task(ctx, begin, std::min(n_items, begin + grain));
    return;
  }
  task_ = task;
  ctx_ = ctx;
  n_items_ = n_items;
  grain_ = grain;
  next_item_.store(0, std::memory_order_relaxed);
  open_.store(true);             // seq_cst: pairs with the worker's active_ / open_ handshake
  generation_.fetch_add(1);      // publishes the fields above
  generation_.notify_all();
  work_on_chunks();
  // Every chunk is claimed. Close the loop, then wait for the workers that got in; a worker
  // that arrives later sees it closed and leaves without touching task_.
  open_.store(false);
  for (int spins = 0; active_.load() != 0; ++spins) {
    if (spins < 1000) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // the straggler may be waiting for this core
    }
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;  // the value at construction: a loop opened before this thread ran still counts
  for (;;) {
    int spins = 0;
    uint32_t now;
    while ((now = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        cpu_relax();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load()) return;
    active_.fetch_add(1);  // seq_cst, then re-check: the caller closes before it reads active_
    if (open_.load() && generation_.load() == seen) work_on_chunks();
    active_.fetch_sub(1);
  }
}

}  // namespace ragent::kernels
