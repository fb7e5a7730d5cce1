// Test helpers for the GCS tables: a cluster of nodes joined by the in-process transport (node
// 0 plays the head), and a log of the messages the fake raylets and callers received, which a
// test takes from in order, waiting a bounded time. Test-only; thread-safe where noted.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/common/event_loop.h"
#include "src/transport/inproc/inproc_transport.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"

namespace ferry::gcs::testing {

class InprocCluster {
 public:
  explicit InprocCluster(int nodes) {
    for (int i = 0; i < nodes; ++i) {
      auto t = transport::InprocTransport::Create({static_cast<uint32_t>(i)});
      EXPECT_TRUE(t.ok());
      transports.push_back(std::move(t).value());
      auto l = EventLoop::Create(std::chrono::microseconds(0));
      EXPECT_TRUE(l.ok());
      loops.push_back(std::move(l).value());
      messengers.push_back(std::make_unique<transport::Messenger>(
          loops.back().get(), transports.back().get(), NodeId(static_cast<uint32_t>(i))));
    }
  }
  // After every handler is registered: connects every pair and starts the loops.
  void Start() {
    for (auto& m : messengers) m->Attach(nullptr);
    for (size_t i = 0; i < transports.size(); ++i) {
      for (size_t j = 0; j < transports.size(); ++j) {
        if (i == j) continue;
        ASSERT_TRUE(transports[i]->Connect(static_cast<uint32_t>(j), transports[j]->Address()).ok());
      }
    }
    for (size_t i = 0; i < loops.size(); ++i) {
      loops[i]->SetPoller(transports[i]->MakePoller());
      loops[i]->Start();
    }
  }
  void Stop() {
    for (auto& l : loops) l->Stop();
  }
  // Thread-safe: node `from` sends a message to node `to`.
  void Send(int from, NodeId to, wire::MsgType type, std::string bytes) {
    loops[from]->Post([this, from, to, type, b = std::move(bytes)]() mutable {
      messengers[from]->Send(to, static_cast<uint16_t>(type), std::move(b));
    });
  }

  std::vector<std::unique_ptr<transport::InprocTransport>> transports;
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::unique_ptr<transport::Messenger>> messengers;
};

// Messages seen, each a `Seen` with a `type` member. Thread-safe.
template <typename Seen>
class MessageLog {
 public:
  void Record(Seen s) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(s));
  }
  // Waits (at most 10 s) for the oldest message of `type` not taken yet, and takes it.
  Seen Next(wire::MsgType type) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = seen_.begin(); it != seen_.end(); ++it) {
          if (it->type != type) continue;
          Seen s = std::move(*it);
          seen_.erase(it);
          return s;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "no message of type " << static_cast<int>(type) << " arrived";
    Seen none{};
    none.type = type;
    return none;
  }
  // How many messages of `type` are waiting, after letting in-flight ones land (30 ms).
  size_t Pending(wire::MsgType type) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const Seen& s : seen_) n += s.type == type;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<Seen> seen_;
};

}  // namespace ferry::gcs::testing
