// ExecutorPool: the threads that run user code (task bodies). It grows when every thread is
// busy or blocked so that a task waiting in Get never starves the tasks it waits for.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry::raylet {

class ExecutorPool {
 public:
  explicit ExecutorPool(size_t initial_threads);
  ~ExecutorPool();
  ExecutorPool(const ExecutorPool&) = delete;
  ExecutorPool& operator=(const ExecutorPool&) = delete;

  // Runs `fn` on a pool thread, starting a new thread if none is idle.
  void Run(std::function<void()> fn);
  // Lets running work finish, then joins every thread. Idempotent.
  void Stop();
  size_t threads() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;  // Guarded by mu_.
  size_t idle_ = 0;                         // Guarded by mu_.
  bool stop_ = false;                       // Guarded by mu_.
  std::vector<std::jthread> threads_;       // Guarded by mu_.
};

}  // namespace ferry::raylet
