// EventLoop: the one thread per process that owns the transport worker and every
// control-plane state machine. Handlers run to completion on it and never block.
// Other threads hand it work with Post() (lock-free MPSC queue + eventfd wake-up); a posted
// closure and its queue link are one allocation, and the closure runs where it was stored.
// Polling policy: spin on the poller for `spin` after the last work, then sleep on the fds.
// Post() is thread-safe; every other method is confined to the loop thread unless noted.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/common/status.h"

namespace ferry {

class EventLoop {
 public:
  // Hooks of whatever must be progressed on the loop (the transport worker).
  struct Poller {
    std::function<bool()> progress;  // does pending work; true if it did any
    std::function<bool()> arm;       // prepares the fd for sleeping; false if work is pending
    int fd = -1;                     // readable when progress() has work
  };

  static Result<std::unique_ptr<EventLoop>> Create(std::chrono::microseconds spin);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // REQUIRES: before Start().
  void SetPoller(Poller poller);
  // Starts the loop thread. Thread-compatible with Stop().
  void Start();
  // Runs what was posted before the call, then ends the thread. Idempotent.
  void Stop();

  // Thread-safe. Runs `fn` on the loop thread, in posting order per thread.
  template <typename F>
  void Post(F&& fn) {
    Push(new PostedFn<std::decay_t<F>>(std::forward<F>(fn)));
  }
  // Runs `fn` every `period` (first after one period) until cancelled. Returns its id.
  uint64_t AddTimer(std::chrono::milliseconds period, std::function<void()> fn);
  void CancelTimer(uint64_t id);
  // Runs `fn` once, `delay` from now; CancelTimer(id) before then calls it off.
  uint64_t AddOneShot(std::chrono::milliseconds delay, std::function<void()> fn);

  // True between Start() and Stop(). Same thread rules as Start/Stop.
  bool running() const { return thread_.joinable(); }

 private:
  // One posted closure, linked in the queue (Vyukov's intrusive MPSC queue: the consumer keeps
  // the last node it ran as the queue's stub, so a node is freed when the next one is taken).
  struct PostedWork {
    virtual ~PostedWork() = default;
    // Runs the closure and destroys it (what it captured goes now, not with the node).
    virtual void Run() = 0;
    std::atomic<PostedWork*> next{nullptr};
  };
  template <typename F>
  struct PostedFn final : PostedWork {
    explicit PostedFn(F&& f) : fn(std::move(f)) {}
    explicit PostedFn(const F& f) : fn(f) {}
    void Run() override {
      (*fn)();
      fn.reset();
    }
    std::optional<F> fn;
  };
  struct Stub final : PostedWork {
    void Run() override {}
  };

  EventLoop(int epfd, int wakefd, std::chrono::microseconds spin);
  void Push(PostedWork* work);
  // Consumer side: runs the oldest posted closure, if one is fully pushed.
  bool RunOnePosted();
  void Run();
  bool DrainPosted();
  bool RunTimers(std::chrono::steady_clock::time_point now);
  int NextTimerTimeoutMs(std::chrono::steady_clock::time_point now) const;

  struct Timer {
    uint64_t id;
    std::chrono::milliseconds period;
    std::chrono::steady_clock::time_point due;
    std::function<void()> fn;
  };

  // Immutable after construction.
  const int epfd_;
  const int wakefd_;
  const std::chrono::microseconds spin_;

  std::atomic<PostedWork*> head_;  // producers' end
  PostedWork* tail_;                // the stub; confined to the loop thread (or the destructor)
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_{false};
  std::jthread thread_;

  // Confined to the loop thread.
  Poller poller_;
  std::vector<Timer> timers_;
  uint64_t next_timer_id_ = 1;
};

}  // namespace ferry
