// Tests of the Transport contract, run against every backend ("inproc", "ucx"). Two transports,
// A (self 0) and B (self 1), live in this process, connected both ways and each to itself, and
// are driven by calling their pollers on the test thread (one test runs them on EventLoops).
#include "src/transport/transport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/common/event_loop.h"

namespace ferry::transport {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Received {
  PeerIndex from;
  uint16_t type;
  std::string bytes;
};

std::string ToString(const Buffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Bytes that differ per message and per position, so a mix-up or a torn copy shows.
std::string Pattern(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

uint64_t Checksum(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

// What a transport delivered. Thread-safe: the EventLoop test fills it from loop threads.
class Recorder {
 public:
  void Add(Received r) {
    std::lock_guard<std::mutex> lock(mu_);
    got_.push_back(std::move(r));
    cv_.notify_all();
  }
  void AddError(PeerIndex peer) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(peer);
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }
  std::vector<Received> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(got_);
  }
  std::vector<PeerIndex> errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> got_;
  std::vector<PeerIndex> errors_;
};

class TransportTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto a = CreateTransport(GetParam(), TransportOptions{0, peer_errors_});
    if (!a.ok() && a.status().code() == StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "backend not built: " << a.status().ToString();
    }
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto b = CreateTransport(GetParam(), TransportOptions{1, peer_errors_});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    a_ = std::move(a).value();
    b_ = std::move(b).value();
    Install(*a_, rec_a_);
    Install(*b_, rec_b_);
    ASSERT_TRUE(a_->Connect(1, b_->Address()).ok());
    ASSERT_TRUE(a_->Connect(0, a_->Address()).ok());
    ASSERT_TRUE(b_->Connect(0, a_->Address()).ok());
    ASSERT_TRUE(b_->Connect(1, b_->Address()).ok());
    pa_ = a_->MakePoller();
    pb_ = b_->MakePoller();
  }

  void TearDown() override {
    if (a_ && b_) {
      CloseWhilePumping(*a_, pb_);
      CloseWhilePumping(*b_, pa_);
    }
  }

  // Closes `t` while another thread keeps `other` progressing, as a live peer would (UCX's
  // flush on close may wait for the peer). Each transport is still used by one thread at a time.
  static void CloseWhilePumping(Transport& t, EventLoop::Poller& other) {
    std::atomic<bool> stop{false};
    std::jthread pump([&] {
      while (!stop.load()) other.progress();
    });
    t.Close();
    stop.store(true);
  }

  static void Install(Transport& t, Recorder& rec) {
    t.SetHandlers(
        [&rec](PeerIndex from, uint16_t type, const Buffer& data) {
          rec.Add({from, type, ToString(data)});
        },
        [&rec](PeerIndex peer, const Status&) { rec.AddError(peer); });
  }

  // Drives both transports until `cond` holds or the deadline passes.
  bool PumpUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = SteadyClock::now() + timeout;
    while (!cond()) {
      if (SteadyClock::now() > deadline) return false;
      pa_.progress();
      pb_.progress();
    }
    return true;
  }

  bool IsUcx() const { return GetParam() == "ucx"; }

  bool peer_errors_ = false;  // UCX peer-failure detection on the endpoints
  std::unique_ptr<Transport> a_, b_;
  EventLoop::Poller pa_, pb_;
  Recorder rec_a_, rec_b_;
};

// The same fixture with peer-failure detection on (UCP_ERR_HANDLING_MODE_PEER for UCX).
class TransportPeerErrorTest : public TransportTest {
 protected:
  TransportPeerErrorTest() { peer_errors_ = true; }
};

TEST_P(TransportTest, SmallMessagesCarryTypeBytesAndSender) {
  ASSERT_TRUE(a_->Send(1, 7, Buffer::FromString("hello")).ok());
  ASSERT_TRUE(a_->Send(1, 3, Buffer()).ok());
  ASSERT_TRUE(b_->Send(0, 65535, Buffer::FromString("world")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 2 && rec_a_.size() == 1; }));
  auto at_b = rec_b_.Take();
  EXPECT_EQ(at_b[0].from, 0u);
  EXPECT_EQ(at_b[0].type, 7);
  EXPECT_EQ(at_b[0].bytes, "hello");
  EXPECT_EQ(at_b[1].from, 0u);
  EXPECT_EQ(at_b[1].type, 3);
  EXPECT_EQ(at_b[1].bytes, "");
  auto at_a = rec_a_.Take();
  EXPECT_EQ(at_a[0].from, 1u);
  EXPECT_EQ(at_a[0].type, 65535);
  EXPECT_EQ(at_a[0].bytes, "world");
}

TEST_P(TransportTest, SelfSendArrivesFromSelf) {
  ASSERT_TRUE(a_->Send(0, 11, Buffer::FromString("to me")).ok());
  ASSERT_TRUE(b_->Send(1, 12, Buffer::FromString("to me too")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_a_.size() == 1 && rec_b_.size() == 1; }));
  auto at_a = rec_a_.Take();
  EXPECT_EQ(at_a[0].from, 0u);
  EXPECT_EQ(at_a[0].type, 11);
  EXPECT_EQ(at_a[0].bytes, "to me");
  auto at_b = rec_b_.Take();
  EXPECT_EQ(at_b[0].from, 1u);
  EXPECT_EQ(at_b[0].type, 12);
  EXPECT_EQ(at_b[0].bytes, "to me too");
}

TEST_P(TransportTest, TenThousandMessagesArriveInOrder) {
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; ++i) {
    // Sizes from 8 bytes to ~2 KiB, so more than one eager protocol is in play.
    std::string body = std::to_string(i) + ":" + Pattern(8 + (i * 37) % 2048, i);
    ASSERT_TRUE(a_->Send(1, static_cast<uint16_t>(i), Buffer::FromString(body)).ok()) << i;
  }
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() >= kCount; }))
      << "received " << rec_b_.size() << " of " << kCount;
  auto got = rec_b_.Take();
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(got[i].type, static_cast<uint16_t>(i)) << "message " << i << " out of order";
    ASSERT_EQ(got[i].from, 0u);
    ASSERT_EQ(got[i].bytes, std::to_string(i) + ":" + Pattern(8 + (i * 37) % 2048, i)) << i;
  }
}

TEST_P(TransportTest, LargeMessagesArriveIntactAndInOrder) {
  // Large messages take UCX's rendezvous path; small ones around them go eagerly and must not
  // overtake them.
  const std::vector<size_t> sizes = {100,     4 << 20, 5,       (4 << 20) + 3, 0,
                                     1 << 20, 17,      3 << 20, 64 << 10,      1};
  for (PeerIndex to : {1u, 0u}) {  // to B, and to A itself
    for (size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE(
          a_->Send(to, static_cast<uint16_t>(i), Buffer::FromString(Pattern(sizes[i], i))).ok());
    }
  }
  ASSERT_TRUE(
      PumpUntil([&] { return rec_b_.size() >= sizes.size() && rec_a_.size() >= sizes.size(); }));
  for (Recorder* rec : {&rec_b_, &rec_a_}) {
    auto got = rec->Take();
    ASSERT_EQ(got.size(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(got[i].type, i) << "out of order at " << i;
      EXPECT_EQ(got[i].from, 0u);
      ASSERT_EQ(got[i].bytes.size(), sizes[i]) << i;
      EXPECT_TRUE(got[i].bytes == Pattern(sizes[i], i)) << "corrupted message " << i;
    }
  }
}

TEST_P(TransportTest, RegisterAndGet64MiB) {
  constexpr size_t kLen = 64 << 20;
  std::string src = Pattern(kLen, 42);
  auto reg = a_->Register(src.data(), src.size());
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ((*reg)->address(), reinterpret_cast<uint64_t>(src.data()));
  EXPECT_EQ((*reg)->size(), kLen);

  std::vector<uint8_t> dst(kLen, 0);
  bool done = false;
  Status result = InternalError("not run");
  ASSERT_TRUE(b_->Get(0, (*reg)->address(), (*reg)->rkey(), dst.data(), kLen, [&](const Status& s) {
                  done = true;
                  result = s;
                }).ok());
  EXPECT_FALSE(done) << "done must run from progress, not inside Get";
  ASSERT_TRUE(PumpUntil([&] { return done; }));
  ASSERT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(Checksum(dst.data(), kLen), Checksum(src.data(), kLen));

  // A slice at an odd offset, through the cached key.
  std::vector<uint8_t> part(1000, 0);
  done = false;
  ASSERT_TRUE(b_->Get(0, (*reg)->address() + 12345, (*reg)->rkey(), part.data(), part.size(),
                      [&](const Status& s) {
                        done = true;
                        result = s;
                      })
                  .ok());
  ASSERT_TRUE(PumpUntil([&] { return done; }));
  ASSERT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(std::memcmp(part.data(), src.data() + 12345, part.size()), 0);

  // Reading from oneself works the same way.
  done = false;
  ASSERT_TRUE(a_->Get(0, (*reg)->address() + 7, (*reg)->rkey(), part.data(), part.size(),
                      [&](const Status& s) {
                        done = true;
                        result = s;
                      })
                  .ok());
  ASSERT_TRUE(PumpUntil([&] { return done; }));
  ASSERT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(std::memcmp(part.data(), src.data() + 7, part.size()), 0);
}

// 1 GiB in one request; needs ~2 GiB of memory. Run with --gtest_also_run_disabled_tests.
TEST_P(TransportTest, DISABLED_GetOneGiB) {
  constexpr size_t kLen = size_t{1} << 30;
  std::vector<uint8_t> src(kLen);
  for (size_t i = 0; i < kLen; i += 4096) src[i] = static_cast<uint8_t>(i >> 12);
  src[kLen - 1] = 0xab;
  auto reg = a_->Register(src.data(), kLen);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  std::vector<uint8_t> dst(kLen, 0);
  bool done = false;
  Status result;
  ASSERT_TRUE(b_->Get(0, (*reg)->address(), (*reg)->rkey(), dst.data(), kLen, [&](const Status& s) {
                  done = true;
                  result = s;
                }).ok());
  ASSERT_TRUE(PumpUntil([&] { return done; }, 120s));
  ASSERT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(Checksum(dst.data(), kLen), Checksum(src.data(), kLen));
}

TEST_P(TransportTest, GetFromUnconnectedPeerFails) {
  char src[16] = "abc";
  auto reg = a_->Register(src, sizeof(src));
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  char dst[16];
  bool ran = false;
  Status s = b_->Get(9, (*reg)->address(), (*reg)->rkey(), dst, sizeof(dst),
                     [&](const Status&) { ran = true; });
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find('9'), std::string::npos) << s.ToString();
  PumpUntil([] { return false; }, 50ms);
  EXPECT_FALSE(ran) << "done must not run when Get refused the read";
}

TEST_P(TransportTest, GetWithGarbageKeyFails) {
  if (!IsUcx()) GTEST_SKIP() << "inproc ignores keys: a Get is a memcpy";
  char src[16] = "abc";
  char dst[16];
  bool ran = false;
  for (const std::string& key : {std::string(), std::string("garbage"), std::string(64, '\x7f')}) {
    Status s = b_->Get(0, reinterpret_cast<uint64_t>(src), key, dst, sizeof(dst),
                       [&](const Status&) { ran = true; });
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  }
  PumpUntil([] { return false; }, 50ms);
  EXPECT_FALSE(ran);
}

TEST_P(TransportTest, SendToUnconnectedPeerFails) {
  Status s = a_->Send(42, 1, Buffer::FromString("nobody"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("42"), std::string::npos)
      << "the error names the peer: " << s.ToString();
}

TEST_P(TransportTest, ConnectWithGarbageAddressFails) {
  const std::string good = b_->Address();
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  const std::vector<std::string> garbage = {
      "",      "garbage",    std::string(300, '\xff'), good.substr(0, good.size() / 2),
      flipped, good + "tail"};
  for (const std::string& g : garbage) {
    Status s = a_->Connect(5, g);
    EXPECT_FALSE(s.ok()) << "accepted a garbage address of " << g.size() << " bytes";
  }
  EXPECT_FALSE(a_->Send(5, 1, Buffer::FromString("x")).ok());
  // The transport still works afterwards.
  ASSERT_TRUE(a_->Send(1, 2, Buffer::FromString("still fine")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 1; }));
  EXPECT_EQ(rec_b_.Take()[0].bytes, "still fine");
}

TEST_P(TransportTest, ReconnectKeepsDelivering) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a_->Send(1, i, Buffer::FromString("x")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 10; }));
  ASSERT_TRUE(a_->Connect(1, b_->Address()).ok());
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(a_->Send(1, i, Buffer::FromString("y")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 20; }));
  auto got = rec_b_.Take();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i].type, i);
}

TEST_P(TransportPeerErrorTest, PeerFailureIsReportedOnce) {
  if (!IsUcx()) GTEST_SKIP() << "inproc peers cannot fail";
  auto c = CreateTransport(GetParam(), TransportOptions{2, /*peer_error_handling=*/true});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Recorder rec_c;
  Install(**c, rec_c);
  EventLoop::Poller pc = (*c)->MakePoller();
  ASSERT_TRUE(a_->Connect(2, (*c)->Address()).ok());
  ASSERT_TRUE(a_->Send(2, 1, Buffer::FromString("hi")).ok());
  ASSERT_TRUE(PumpUntil([&] {
    pc.progress();
    return rec_c.size() == 1;
  }));
  CloseWhilePumping(**c, pa_);
  c->reset();  // C is gone: its worker and sockets with it
  // A notices on its own (keepalive, or the failed sends below) and reports peer 2 once.
  bool refused = false;
  ASSERT_TRUE(PumpUntil(
      [&] {
        if (!refused && !a_->Send(2, 1, Buffer::FromString("anyone?")).ok()) refused = true;
        return !rec_a_.errors().empty();
      },
      20s));
  PumpUntil([] { return false; }, 100ms);
  EXPECT_EQ(rec_a_.errors(), std::vector<PeerIndex>{2});
  Status s = a_->Send(2, 1, Buffer::FromString("anyone?"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("peer 2"), std::string::npos) << s.ToString();
  // The others are unaffected.
  ASSERT_TRUE(a_->Send(1, 5, Buffer::FromString("still here")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 1; }));
}

TEST_P(TransportTest, TwoConnectionsToOnePeerBothDeliver) {
  ASSERT_TRUE(a_->Connect(5, b_->Address()).ok());  // B again, under a second index
  constexpr int kEach = 100;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(a_->Send(1, 2 * i, Buffer::FromString(Pattern(i % 7 == 0 ? 100000 : 10, i))).ok());
    ASSERT_TRUE(a_->Send(5, 2 * i + 1, Buffer::FromString("odd")).ok());
  }
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 2 * kEach; }));
  int next_even = 0, next_odd = 1;  // each connection keeps its own order
  for (const Received& r : rec_b_.Take()) {
    EXPECT_EQ(r.from, 0u);
    if (r.type % 2 == 0) {
      EXPECT_EQ(r.type, next_even);
      next_even += 2;
    } else {
      EXPECT_EQ(r.type, next_odd);
      next_odd += 2;
    }
  }
  EXPECT_EQ(next_even, 2 * kEach);
  EXPECT_EQ(next_odd, 2 * kEach + 1);
}

TEST_P(TransportTest, CloseIsIdempotent) {
  ASSERT_TRUE(a_->Send(1, 1, Buffer::FromString("before")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 1; }));
  CloseWhilePumping(*a_, pb_);
  a_->Close();
  EXPECT_FALSE(a_->Send(1, 1, Buffer::FromString("after")).ok());
  EXPECT_FALSE(a_->Send(0, 1, Buffer::FromString("after")).ok());
  pa_.progress();  // progressing a closed transport is harmless
  CloseWhilePumping(*b_, pa_);
  b_->Close();
  pb_.progress();
  EXPECT_EQ(rec_a_.size(), 0u);
  // TearDown closes both a third time.
}

TEST_P(TransportTest, CloseAnswersPendingGets) {
  constexpr size_t kLen = 8 << 20;
  std::string src = Pattern(kLen, 3);
  auto reg = a_->Register(src.data(), src.size());
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  std::vector<uint8_t> dst(kLen);
  std::atomic<int> runs{0};
  ASSERT_TRUE(b_->Get(0, (*reg)->address(), (*reg)->rkey(), dst.data(), kLen, [&](const Status&) {
                  ++runs;
                }).ok());
  CloseWhilePumping(*b_, pa_);  // before B made any progress of its own
  // UCX answers every accepted Get by the time Close returns; inproc on its next progress.
  if (IsUcx()) {
    EXPECT_EQ(runs.load(), 1);
  }
  pb_.progress();
  EXPECT_EQ(runs.load(), 1) << "done must run exactly once";
}

// The pollers' arm/fd hooks: each loop sleeps on the transport's fd between messages. A ping-pong
// of 50 round trips only finishes in time if every message wakes the sleeping loop.
TEST_P(TransportTest, EventLoopWakesOnMessages) {
  constexpr int kRounds = 50;
  auto la = EventLoop::Create(0us);
  auto lb = EventLoop::Create(0us);
  ASSERT_TRUE(la.ok() && lb.ok());
  Transport* a = a_.get();
  Transport* b = b_.get();
  // Handlers are replaced before the loops start; from then on only loop threads touch a_/b_.
  b_->SetHandlers(
      [b](PeerIndex from, uint16_t type, Buffer data) {
        Status s = b->Send(from, type, std::move(data));  // pong
        (void)s;
      },
      nullptr);
  a_->SetHandlers(
      [a, this](PeerIndex from, uint16_t type, const Buffer& data) {
        rec_a_.Add({from, type, ToString(data)});
        if (type + 1 < kRounds) {
          Status s = a->Send(1, type + 1, Buffer::FromString("ping"));
          (void)s;
        }
      },
      nullptr);
  (*la)->SetPoller(a_->MakePoller());
  (*lb)->SetPoller(b_->MakePoller());
  (*la)->Start();
  (*lb)->Start();
  (*la)->Post([a] {
    Status s = a->Send(1, 0, Buffer::FromString("ping"));
    (void)s;
  });
  const bool finished = rec_a_.WaitFor(kRounds, 15s);
  (*la)->Post([a] { a->Close(); });
  (*lb)->Post([b] { b->Close(); });
  (*la)->Stop();
  (*lb)->Stop();
  ASSERT_TRUE(finished) << "only " << rec_a_.size() << " of " << kRounds << " round trips";
  auto got = rec_a_.Take();
  for (int i = 0; i < kRounds; ++i) {
    EXPECT_EQ(got[i].type, i);
    EXPECT_EQ(got[i].from, 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TransportTest, ::testing::Values("inproc", "ucx"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });
INSTANTIATE_TEST_SUITE_P(Backends, TransportPeerErrorTest, ::testing::Values("inproc", "ucx"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace ferry::transport
