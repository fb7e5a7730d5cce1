// ExecutorPool: the threads that run user code (task bodies). It grows when every thread is
// busy or blocked so that a task waiting in Get never starves the tasks it waits for.
// An idle thread polls briefly for new work before it sleeps: on virtual machines a futex
// wake-up costs tens of microseconds, more than a short task. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry::raylet {

class ExecutorPool {
 public:
  ExecutorPool(size_t initial_threads, std::chrono::microseconds spin);
  ~ExecutorPool();
  ExecutorPool(const ExecutorPool&) = delete;
  ExecutorPool& operator=(const ExecutorPool&) = delete;

  // Runs each of `fns` on a pool thread, starting threads if too few are idle. Returns false
  // (running nothing) once Stop has begun.
  bool Run(std::vector<std::function<void()>> fns);
  // Lets queued and running work finish, then joins every thread. Idempotent.
  void Stop();

 private:
  void Loop();
  bool SpinForWork() const;

  const std::chrono::microseconds spin_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<size_t> queued_{0};           // mirrors work_.size() for lock-free polling
  std::deque<std::function<void()>> work_;  // Guarded by mu_.
  size_t idle_ = 0;                         // Guarded by mu_. Threads not running work.
  size_t sleeping_ = 0;                     // Guarded by mu_. Idle threads blocked on cv_.
  bool stop_ = false;                       // Guarded by mu_.
  bool spinner_ = false;                    // Guarded by mu_. An idle thread is polling.
  std::vector<std::jthread> threads_;       // Guarded by mu_.
};

}  // namespace ferry::raylet
