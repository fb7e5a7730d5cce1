#include "src/common/event_loop.h"

#include <immintrin.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "src/common/logging.h"

namespace ferry {

Result<std::unique_ptr<EventLoop>> EventLoop::Create(std::chrono::microseconds spin) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return InternalError(std::string("epoll_create1: ") + std::strerror(errno));
  int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd < 0) {
    close(epfd);
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0) {
    close(epfd);
    close(wakefd);
    return InternalError(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(epfd, wakefd, spin));
}

EventLoop::EventLoop(int epfd, int wakefd, std::chrono::microseconds spin)
    : epfd_(epfd), wakefd_(wakefd), spin_(spin), head_(new Stub()), tail_(head_.load()) {}

EventLoop::~EventLoop() {
  Stop();
  close(epfd_);
  close(wakefd_);
  // Closures posted after Stop are dropped unrun, as before.
  while (PostedWork* next = tail_->next.load(std::memory_order_acquire)) {
    delete tail_;
    tail_ = next;
  }
  delete tail_;
}

void EventLoop::SetPoller(Poller poller) {
  poller_ = std::move(poller);
  if (poller_.fd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = poller_.fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, poller_.fd, &ev) != 0)
      FERRY_LOG(ERROR) << "epoll_ctl(poller fd): " << std::strerror(errno);
  }
}

void EventLoop::Start() {
  thread_ = std::jthread([this] { Run(); });
}

void EventLoop::Stop() {
  if (!thread_.joinable()) return;
  Post([this] { stop_.store(true); });
  thread_.join();
}

void EventLoop::Push(PostedWork* work) {
  PostedWork* prev = head_.exchange(work, std::memory_order_acq_rel);
  // seq_cst (not just release): pairs with the loop's store of sleeping_ below.
  prev->next.store(work, std::memory_order_seq_cst);
  // Pairs with the loop's store of sleeping_ before its last look at the queue: all four
  // operations are seq_cst, so either the loop sees this element or this sees it sleeping.
  if (sleeping_.load(std::memory_order_seq_cst)) {
    uint64_t one = 1;
    ssize_t n = write(wakefd_, &one, sizeof(one));
    (void)n;
  }
}

uint64_t EventLoop::AddTimer(std::chrono::milliseconds period, std::function<void()> fn) {
  uint64_t id = next_timer_id_++;
  timers_.push_back({id, period, std::chrono::steady_clock::now() + period, std::move(fn)});
  return id;
}

uint64_t EventLoop::AddOneShot(std::chrono::milliseconds delay, std::function<void()> fn) {
  const uint64_t id = next_timer_id_;
  return AddTimer(delay, [this, id, fn = std::move(fn)] {
    CancelTimer(id);  // before the call: `fn` may add timers
    fn();
  });
}

void EventLoop::CancelTimer(uint64_t id) {
  std::erase_if(timers_, [id](const Timer& t) { return t.id == id; });
}

bool EventLoop::RunOnePosted() {
  PostedWork* tail = tail_;
  PostedWork* next = tail->next.load(std::memory_order_seq_cst);
  if (next == nullptr) return false;  // empty, or a push is mid-way
  tail_ = next;
  delete tail;
  next->Run();  // `next` stays as the stub
  return true;
}

bool EventLoop::DrainPosted() {
  bool did = false;
  // Bounded so that transport progress is not starved by a flood of posts.
  for (int i = 0; i < 4096; ++i) {
    if (!RunOnePosted()) break;
    did = true;
  }
  return did;
}

bool EventLoop::RunTimers(std::chrono::steady_clock::time_point now) {
  bool did = false;
  // Index loop: a timer callback may add or cancel timers.
  for (size_t i = 0; i < timers_.size(); ++i) {
    if (timers_[i].due <= now) {
      timers_[i].due = now + timers_[i].period;
      uint64_t id = timers_[i].id;
      auto fn = timers_[i].fn;  // copy: the callback may cancel itself
      fn();
      did = true;
      if (i < timers_.size() && timers_[i].id != id) --i;  // erased under us; revisit slot
    }
  }
  return did;
}

int EventLoop::NextTimerTimeoutMs(std::chrono::steady_clock::time_point now) const {
  int best = 1000;
  for (const Timer& t : timers_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.due - now).count() + 1;
    best = std::min<int>(best, static_cast<int>(std::max<int64_t>(ms, 0)));
  }
  return best;
}

void EventLoop::Run() {
  using SteadyClock = std::chrono::steady_clock;
  // The clock is read only when a turn did no work (or every 256 busy turns, for timers):
  // on some virtual machines even clock_gettime is a costly exit.
  SteadyClock::time_point idle_since{};
  unsigned busy_turns = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    bool did = DrainPosted();
    if (poller_.progress && poller_.progress()) did = true;
    if (did) {
      idle_since = {};
      if (!timers_.empty() && (++busy_turns & 255) == 0) RunTimers(SteadyClock::now());
      continue;
    }
    auto now = SteadyClock::now();
    if (!timers_.empty() && RunTimers(now)) {
      idle_since = {};
      continue;
    }
    if (idle_since == SteadyClock::time_point{}) idle_since = now;
    if (now - idle_since < spin_) {
      _mm_pause();
      continue;
    }
    if (poller_.arm && !poller_.arm()) continue;
    sleeping_.store(true, std::memory_order_seq_cst);
    if (tail_->next.load(std::memory_order_seq_cst) != nullptr) {
      sleeping_.store(false, std::memory_order_relaxed);
      RunOnePosted();
      idle_since = {};
      continue;
    }
    epoll_event events[4];
    int n = epoll_wait(epfd_, events, 4, NextTimerTimeoutMs(now));
    sleeping_.store(false, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wakefd_) {
        uint64_t v;
        ssize_t r = read(wakefd_, &v, sizeof(v));
        (void)r;
      }
    }
    idle_since = {};
  }
  // Run what was posted before Stop() so that no completion is silently dropped.
  DrainPosted();
}

}  // namespace ferry
