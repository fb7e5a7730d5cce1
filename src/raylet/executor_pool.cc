#include "src/raylet/executor_pool.h"

namespace ferry::raylet {

ExecutorPool::ExecutorPool(size_t initial_threads) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < initial_threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ExecutorPool::~ExecutorPool() { Stop(); }

void ExecutorPool::Run(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return;
  work_.push_back(std::move(fn));
  if (idle_ < work_.size()) {
    threads_.emplace_back([this] { Loop(); });
  } else {
    cv_.notify_one();
  }
}

void ExecutorPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [this] { return stop_ || !work_.empty(); });
    --idle_;
    if (work_.empty()) return;  // stopping and drained
    auto fn = std::move(work_.front());
    work_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
  }
}

void ExecutorPool::Stop() {
  std::vector<std::jthread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && threads_.empty()) return;
    stop_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

size_t ExecutorPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

}  // namespace ferry::raylet
