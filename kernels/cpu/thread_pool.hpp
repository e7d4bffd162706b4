// A fixed set of worker threads that share out one loop at a time.
//
// Created once (by the engine, per replica) and reused for every kernel call: parallel_for
// allocates nothing, and workers spin briefly before sleeping so that back-to-back GEMVs of a
// decode step do not pay a futex wake-up each. Items are claimed in chunks from a shared
// counter and the calling thread works too, so a worker that the OS has descheduled (other
// processes on the same cores) delays the loop by at most the chunk it holds, never by a whole
// static share. Not thread-safe: one caller drives a pool at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace ragent::kernels {

class ThreadPool {
 public:
  // n_threads >= 1 counts the calling thread: n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end) over disjoint chunks [begin, end) that together cover [0, n_items),
  // each at most `grain` items (grain >= 1), spread over the pool's threads; returns when all
  // chunks are done. fn must not throw and must not call back into this pool.
  template <class Fn>
  void parallel_for(int64_t n_items, int64_t grain, Fn&& fn) {
    run_raw(&invoke<std::remove_reference_t<Fn>>, &fn, n_items, grain < 1 ? 1 : grain);
  }

 private:
  using Task = void (*)(void* ctx, int64_t begin, int64_t end);
  template <class Fn>
  static void invoke(void* ctx, int64_t begin, int64_t end) {
    (*static_cast<Fn*>(ctx))(begin, end);
  }
  void run_raw(Task task, void* ctx, int64_t n_items, int64_t grain);
  void work_on_chunks();
  void worker_loop();

  int n_threads_;
  // The current loop; written by the caller only while no worker is inside it.
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_items_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_item_{0};
  std::atomic<uint32_t> generation_{0};  // bumped to open a loop
  std::atomic<bool> open_{false};        // false once the caller stops admitting workers
  std::atomic<int> active_{0};           // workers inside the current loop
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace ragent::kernels
