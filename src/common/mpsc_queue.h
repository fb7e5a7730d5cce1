// MpscQueue<T>: unbounded lock-free multi-producer single-consumer queue (Vyukov's intrusive
// node queue). Push is thread-safe and wait-free; Pop must be called by one consumer thread.
#pragma once

#include <atomic>
#include <optional>
#include <utility>

namespace ferry {

template <typename T>
class MpscQueue {
 public:
  MpscQueue() : head_(new Node()), tail_(head_.load()) {}
  ~MpscQueue() {
    while (Pop()) {
    }
    delete tail_;
  }
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  void Push(T value) {
    Node* n = new Node(std::move(value));
    Node* prev = head_.exchange(n, std::memory_order_acq_rel);
    // seq_cst (not just release): wake-up protocols pair this store with a later load of a
    // "consumer sleeps" flag, a store-load order only seq_cst operations guarantee.
    prev->next.store(n, std::memory_order_seq_cst);
  }

  // Consumer only. True if nothing is (fully) pushed yet.
  bool Empty() const { return tail_->next.load(std::memory_order_seq_cst) == nullptr; }

  // Returns the oldest element, or nothing if the queue is empty (or a push is mid-way).
  std::optional<T> Pop() {
    Node* tail = tail_;
    Node* next = tail->next.load(std::memory_order_seq_cst);
    if (next == nullptr) return std::nullopt;
    std::optional<T> v(std::move(*next->value));
    next->value.reset();
    tail_ = next;
    delete tail;
    return v;
  }

 private:
  struct Node {
    Node() = default;
    explicit Node(T v) : value(std::move(v)) {}
    std::atomic<Node*> next{nullptr};
    std::optional<T> value;
  };
  std::atomic<Node*> head_;
  Node* tail_;  // Consumer only.
};

}  // namespace ferry
