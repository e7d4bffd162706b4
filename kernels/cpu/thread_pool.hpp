// A fixed set of worker threads that run one parallel region at a time.
//
// Created once (by the engine, per replica) and reused for every kernel call: run() allocates
// nothing, and workers spin briefly before sleeping so that back-to-back GEMVs of a decode step
// do not pay a futex wake-up each. Not thread-safe: one caller drives a pool at a time.
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

  // Calls fn(thread_index, n_threads) once on every thread of the pool (the caller is index 0)
  // and returns when all calls have returned. fn must not throw and must not call run().
  template <class Fn>
  void run(Fn&& fn) {
    run_raw(&invoke<std::remove_reference_t<Fn>>, &fn);
  }

 private:
  using Task = void (*)(void* ctx, int thread_index, int n_threads);
  template <class Fn>
  static void invoke(void* ctx, int thread_index, int n_threads) {
    (*static_cast<Fn*>(ctx))(thread_index, n_threads);
  }
  void run_raw(Task task, void* ctx);
  void worker_loop(int thread_index);

  int n_threads_;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint32_t> generation_{0};  // bumped to start a region
  std::atomic<int> pending_{0};          // workers still inside the current region
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace ragent::kernels
