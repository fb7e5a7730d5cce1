// Tests of the Transport contract, run against every backend ("inproc", "ucx"). Two transports,
// A (self 0) and B (self 1), live in this process, connected both ways and each to itself, and
// are driven by calling their pollers on the test thread (one test runs them on EventLoops).
#include "src/transport/transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
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

// ---- Joins: Listen / ConnectTo / SetSelf

// The port of a "host:port" string, or 0.
int PortOf(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return 0;
  return std::atoi(host_port.c_str() + colon + 1);
}

TEST_P(TransportTest, ListenAndConnectToDeliverInOrder) {
  if (!IsUcx()) GTEST_SKIP() << "only UCX listens";
  auto at = a_->Listen("127.0.0.1");
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_EQ(at->rfind("127.0.0.1:", 0), 0u) << *at;
  EXPECT_GT(PortOf(*at), 0) << *at;
  EXPECT_FALSE(a_->Listen("127.0.0.1").ok()) << "Listen is once";

  Recorder rec_c;
  auto c = CreateTransport(GetParam(), TransportOptions{77, false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Install(**c, rec_c);
  EventLoop::Poller pc = (*c)->MakePoller();
  ASSERT_TRUE((*c)->ConnectTo(0, *at).ok());
  // Sent before the connection is up; the large ones take the rendezvous path.
  const std::vector<size_t> sizes = {100, 4 << 20, 5, (4 << 20) + 3, 0, 1 << 20, 17};
  for (size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(
        (*c)->Send(0, static_cast<uint16_t>(i), Buffer::FromString(Pattern(sizes[i], i))).ok());
  }
  ASSERT_TRUE(PumpUntil([&] {
    pc.progress();
    return rec_a_.size() >= sizes.size();
  })) << "received "
      << rec_a_.size() << " of " << sizes.size();
  auto got = rec_a_.Take();
  ASSERT_EQ(got.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(got[i].type, i) << "out of order at " << i;
    EXPECT_EQ(got[i].from, 77u);
    ASSERT_EQ(got[i].bytes.size(), sizes[i]) << i;
    EXPECT_TRUE(got[i].bytes == Pattern(sizes[i], i)) << "corrupted message " << i;
  }
  // The joiner goes away: the accepted endpoint closes without a peer error.
  CloseWhilePumping(**c, pa_);
  c->reset();
  PumpUntil([] { return false; }, 300ms);
  EXPECT_TRUE(rec_a_.errors().empty());
  // A still serves its peers.
  ASSERT_TRUE(b_->Send(0, 9, Buffer::FromString("after")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_a_.size() == 1; }));
}

TEST_P(TransportTest, ListenOnAllInterfacesReturnsTheHostName) {
  if (!IsUcx()) GTEST_SKIP() << "only UCX listens";
  auto at = b_->Listen("");
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof(name) - 1), 0);
  EXPECT_EQ(*at, std::string(name) + ":" + std::to_string(PortOf(*at)));
  ASSERT_TRUE(a_->ConnectTo(6, *at).ok());
  ASSERT_TRUE(a_->Send(6, 4, Buffer::FromString("by name")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 1; }));
  auto got = rec_b_.Take();
  EXPECT_EQ(got[0].from, 0u);
  EXPECT_EQ(got[0].bytes, "by name");
}

// The join handshake, each side on its own EventLoop (so a sleeping head must wake for the
// connection request). J joins A: it connects through A's listener under a provisional index
// and asks; A connects back by J's address and answers with J's real index; J takes it and
// reconnects to A by address, which replaces (force-closes) its listener connection.
TEST_P(TransportTest, JoinHandshake) {
  if (!IsUcx()) GTEST_SKIP() << "only UCX listens";
  constexpr PeerIndex kProvisional = 123456, kReal = 5;
  constexpr uint16_t kJoin = 1, kWelcome = 2, kWork = 3;
  constexpr int kWorkCount = 20;
  auto la = EventLoop::Create(0us);
  auto lj = EventLoop::Create(0us);
  ASSERT_TRUE(la.ok() && lj.ok());
  auto jr = CreateTransport(GetParam(), TransportOptions{kProvisional, false});
  ASSERT_TRUE(jr.ok()) << jr.status().ToString();
  std::unique_ptr<Transport> j = std::move(jr).value();
  auto at = a_->Listen("127.0.0.1");
  ASSERT_TRUE(at.ok()) << at.status().ToString();

  Transport* a = a_.get();
  Transport* jp = j.get();
  const std::string a_address = a_->Address();
  const std::string j_address = j->Address();
  std::atomic<int> welcomes{0};
  a_->SetHandlers(
      [a, this](PeerIndex from, uint16_t type, const Buffer& data) {
        rec_a_.Add({from, type, ToString(data)});
        if (type == kJoin) {
          Status s = a->Connect(from, ToString(data));
          if (s.ok()) s = a->Send(from, kWelcome, Buffer::FromString(std::to_string(kReal)));
          EXPECT_TRUE(s.ok()) << s.ToString();
        }
      },
      [this](PeerIndex peer, const Status&) { rec_a_.AddError(peer); });
  j->SetHandlers(
      [jp, &a_address, &welcomes](PeerIndex from, uint16_t type, const Buffer& data) {
        if (type != kWelcome || from != 0) return;
        ++welcomes;
        jp->SetSelf(static_cast<PeerIndex>(std::stoul(ToString(data))));
        Status s = jp->Connect(0, a_address);
        for (int i = 0; s.ok() && i < kWorkCount; ++i) {
          s = jp->Send(0, kWork, Buffer::FromString(Pattern(i % 5 == 0 ? (1 << 20) : 10, i)));
        }
        EXPECT_TRUE(s.ok()) << s.ToString();
      },
      [](PeerIndex peer, const Status& why) {
        ADD_FAILURE() << "joiner lost peer " << peer << ": " << why.ToString();
      });
  (*la)->SetPoller(a_->MakePoller());
  (*lj)->SetPoller(j->MakePoller());
  (*la)->Start();
  (*lj)->Start();
  (*lj)->Post([jp, &at, &j_address] {
    Status s = jp->ConnectTo(0, *at);
    if (s.ok()) s = jp->Send(0, kJoin, Buffer::FromString(j_address));
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
  const bool finished = rec_a_.WaitFor(1 + kWorkCount, 20s);
  // Give A time to see the listener connection go; that must stay quiet.
  if (finished) std::this_thread::sleep_for(300ms);
  (*lj)->Post([jp] { jp->Close(); });
  (*lj)->Stop();
  (*la)->Post([a] { a->Close(); });
  (*la)->Stop();
  ASSERT_TRUE(finished) << "A received " << rec_a_.size() << " of " << 1 + kWorkCount;
  EXPECT_EQ(welcomes.load(), 1);
  auto got = rec_a_.Take();
  ASSERT_EQ(got.size(), static_cast<size_t>(1 + kWorkCount));
  EXPECT_EQ(got[0].from, kProvisional);
  EXPECT_EQ(got[0].type, kJoin);
  for (int i = 0; i < kWorkCount; ++i) {
    const Received& r = got[1 + i];
    EXPECT_EQ(r.from, kReal) << i;
    EXPECT_EQ(r.type, kWork) << i;
    EXPECT_TRUE(r.bytes == Pattern(i % 5 == 0 ? (1 << 20) : 10, i)) << "message " << i;
  }
  EXPECT_TRUE(rec_a_.errors().empty()) << "the accepted endpoint belongs to no peer";
}

// A flood of joins: the listener keeps a bounded number of accepted connections and closes the
// oldest, which its remote sees as a lost peer; the listening side reports nothing.
TEST_P(TransportTest, AcceptedConnectionsAreBounded) {
  if (!IsUcx()) GTEST_SKIP() << "only UCX listens";
  constexpr int kJoins = 72;  // the transport keeps 64
  auto at = a_->Listen("127.0.0.1");
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  Recorder rec_c;
  auto c = CreateTransport(GetParam(), TransportOptions{77, false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Install(**c, rec_c);
  EventLoop::Poller pc = (*c)->MakePoller();
  for (int i = 0; i < kJoins; ++i) {
    ASSERT_TRUE((*c)->ConnectTo(100 + i, *at).ok());
    ASSERT_TRUE((*c)->Send(100 + i, static_cast<uint16_t>(i), Buffer::FromString("hi")).ok());
    // One at a time, so that the oldest are the first ones.
    ASSERT_TRUE(PumpUntil([&] {
      pc.progress();
      return rec_a_.size() == static_cast<size_t>(i + 1);
    })) << "join "
        << i;
  }
  ASSERT_TRUE(PumpUntil(
      [&] {
        pc.progress();
        return rec_c.errors().size() >= kJoins - 64u;
      },
      10s))
      << "only " << rec_c.errors().size() << " accepted connections were closed";
  for (PeerIndex p : rec_c.errors()) EXPECT_LT(p, 100u + kJoins - 64) << "not among the oldest";
  EXPECT_TRUE(rec_a_.errors().empty());
  CloseWhilePumping(**c, pa_);
}

TEST_P(TransportTest, ConnectToRefusedIsAPeerError) {
  if (!IsUcx()) GTEST_SKIP() << "only UCX listens";
  // A port that was just free: a listener's, closed again.
  std::string dead;
  {
    auto d = CreateTransport(GetParam(), TransportOptions{9, false});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    auto at = (*d)->Listen("127.0.0.1");
    ASSERT_TRUE(at.ok()) << at.status().ToString();
    dead = *at;
    (*d)->Close();
  }
  const auto start = SteadyClock::now();
  ASSERT_TRUE(a_->ConnectTo(3, dead).ok());
  EXPECT_TRUE(a_->Send(3, 1, Buffer::FromString("queued")).ok());
  ASSERT_TRUE(PumpUntil([&] { return !rec_a_.errors().empty(); }, 10s))
      << "no peer error for a refused connection";
  EXPECT_LT(SteadyClock::now() - start, 5s);
  PumpUntil([] { return false; }, 100ms);
  EXPECT_EQ(rec_a_.errors(), std::vector<PeerIndex>{3});
  EXPECT_FALSE(a_->Send(3, 1, Buffer::FromString("again")).ok());
}

TEST_P(TransportTest, ConnectToRefusesMalformedHostPortAtOnce) {
  if (!IsUcx()) GTEST_SKIP() << "inproc refuses every ConnectTo";
  for (const std::string& bad :
       {std::string("nohost"), std::string("h:"), std::string(":1"), std::string("h:99999"),
        std::string("h:abc"), std::string("h:0"), std::string("h:-1"), std::string(""),
        std::string("::1:80"), std::string("[::1:80"), std::string("[::1]80"),
        std::string("no-such-host.invalid:1234")}) {
    Status s = a_->ConnectTo(4, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "'" << bad << "': " << s.ToString();
  }
  EXPECT_EQ(a_->Send(4, 1, Buffer::FromString("x")).code(), StatusCode::kNotFound);
  PumpUntil([] { return false; }, 50ms);
  EXPECT_TRUE(rec_a_.errors().empty());
}

TEST_P(TransportTest, InprocCannotListen) {
  if (IsUcx()) GTEST_SKIP() << "covered by the tests above";
  auto at = a_->Listen("");
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(at.status().message().find("inproc"), std::string::npos) << at.status().ToString();
  Status s = a_->ConnectTo(1, "127.0.0.1:1234");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("inproc"), std::string::npos) << s.ToString();
  // SetSelf still applies to what it sends.
  a_->SetSelf(8);
  ASSERT_TRUE(a_->Send(1, 1, Buffer::FromString("from 8")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 1; }));
  EXPECT_EQ(rec_b_.Take()[0].from, 8u);
}

TEST_P(TransportTest, SetSelfChangesTheSenderOnAnOpenConnection) {
  ASSERT_TRUE(a_->Send(1, 0, Buffer::FromString("as 0")).ok());
  a_->SetSelf(11);
  // A large message first: the stream under the new index must not wait for the old one's.
  ASSERT_TRUE(a_->Send(1, 1, Buffer::FromString(Pattern(2 << 20, 1))).ok());
  ASSERT_TRUE(a_->Send(1, 2, Buffer::FromString("as 11")).ok());
  ASSERT_TRUE(PumpUntil([&] { return rec_b_.size() == 3; }));
  auto got = rec_b_.Take();
  EXPECT_EQ(got[0].from, 0u);
  EXPECT_EQ(got[1].from, 11u);
  EXPECT_EQ(got[1].type, 1);
  EXPECT_EQ(got[2].from, 11u);
  EXPECT_EQ(got[2].type, 2);
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
