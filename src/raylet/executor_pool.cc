#include "src/raylet/executor_pool.h"

#include <immintrin.h>

namespace ferry::raylet {

ExecutorPool::ExecutorPool(size_t initial_threads, std::chrono::microseconds spin) : spin_(spin) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < initial_threads; ++i) {
    ++idle_;
    threads_.emplace_back([this] { Loop(); });
  }
}

ExecutorPool::~ExecutorPool() { Stop(); }

bool ExecutorPool::Run(std::vector<std::function<void()>> fns) {
  if (fns.empty()) return true;
  size_t wake = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    for (auto& fn : fns) work_.push_back(std::move(fn));
    queued_.store(work_.size(), std::memory_order_release);
    // Idle threads take what they can; the rest gets new threads (a blocked task may be
    // holding every existing one).
    while (idle_ < work_.size()) {
      ++idle_;
      threads_.emplace_back([this] { Loop(); });
    }
    // A polling thread takes one item without being woken; wake sleepers for the rest.
    size_t unclaimed = work_.size() - (spinner_ && !work_.empty() ? 1 : 0);
    wake = std::min(sleeping_, unclaimed);
  }
  for (size_t i = 0; i < wake; ++i) cv_.notify_one();
  return true;
}

bool ExecutorPool::SpinForWork() const {
  auto until = std::chrono::steady_clock::now() + spin_;
  do {
    for (int i = 0; i < 64; ++i) {
      if (queued_.load(std::memory_order_acquire) != 0) return true;
      _mm_pause();
    }
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

void ExecutorPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (work_.empty() && !stop_) {
      // One idle thread at a time polls; the others sleep at once, so idle executors do not
      // crowd out the loop and the driver on small machines.
      if (!spinner_) {
        spinner_ = true;
        lock.unlock();
        SpinForWork();
        lock.lock();
        spinner_ = false;
      }
      if (work_.empty() && !stop_) {
        ++sleeping_;
        cv_.wait(lock, [this] { return stop_ || !work_.empty(); });
        --sleeping_;
      }
    }
    if (work_.empty()) {  // stopping and drained
      --idle_;
      return;
    }
    auto fn = std::move(work_.front());
    work_.pop_front();
    queued_.store(work_.size(), std::memory_order_release);
    --idle_;
    lock.unlock();
    fn();
    fn = nullptr;  // destroy captures outside the lock
    lock.lock();
    ++idle_;
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


}  // namespace ferry::raylet
