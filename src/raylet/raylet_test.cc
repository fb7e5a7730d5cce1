// The raylet against a fake owner over the in-process transport: malformed messages are
// dropped without harm, and valid ones still run afterwards.
#include "src/raylet/raylet.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "ferry/internal/function_registry.h"
#include "src/transport/inproc/inproc_transport.h"
#include "src/wire/codec.h"

namespace ferry::raylet {
namespace {

int Triple(int x) { return 3 * x; }
std::vector<int64_t> Big(int n) { return std::vector<int64_t>(static_cast<size_t>(n), 7); }
int Nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
// A body that blocks (as in Get) until MarkLater has run, for at most 10 s: 1 if it did.
std::atomic<bool> g_later_ran{false};
int WaitForLater(int) {
  Raylet* raylet = CurrentRaylet();
  const double cpus = CurrentTaskCpus();
  raylet->NotifyBlocked(cpus);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!g_later_ran.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  raylet->NotifyUnblocked(cpus);
  return g_later_ran.load() ? 1 : 0;
}
int MarkLater(int x) {
  g_later_ran.store(true);
  return x;
}
// Naps, and says which thread it ran on.
int64_t NapWhere(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return static_cast<int64_t>(std::hash<std::thread::id>()(std::this_thread::get_id()));
}
FERRY_REMOTE(Triple, Big, Nap, WaitForLater, MarkLater, NapWhere);

using namespace std::chrono_literals;
using wire::MsgType;

struct Node {
  explicit Node(NodeId id) {
    auto t = transport::InprocTransport::Create({id.value()});
    EXPECT_TRUE(t.ok());
    transport = std::move(t).value();
    auto l = EventLoop::Create(0us);
    EXPECT_TRUE(l.ok());
    loop = std::move(l).value();
    messenger = std::make_unique<transport::Messenger>(loop.get(), transport.get(), id);
  }
  std::unique_ptr<transport::InprocTransport> transport;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<transport::Messenger> messenger;
};

class RayletTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::ObjectStore::Create({NodeId(0), "ferry-test-store", 64 << 20},
                                            raylet_node_.transport.get());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    objects_ = std::make_unique<ObjectManager>(NodeId(0), raylet_node_.loop.get(),
                                               raylet_node_.messenger.get(),
                                               raylet_node_.transport.get(), store_.get());
    RayletOptions opts;
    opts.self = NodeId(0);
    opts.resources = ResourceSet::FromPairs({{"CPU", 2}});
    opts.inline_threshold = 1024;
    opts.max_batch = 64;
    opts.executor_spin_us = 0;
    // The memory monitor reads what the test says, when the test says (CheckMemory).
    opts.memory_monitor_ms = 0;
    opts.read_memory = [this] {
      return MemoryUsage{fake_used_.load(), 100, "test"};
    };
    raylet_ = std::make_unique<Raylet>(opts, raylet_node_.loop.get(),
                                       raylet_node_.messenger.get(), objects_.get(), store_.get());
    auto& m = *raylet_node_.messenger;
    m.Register(static_cast<uint16_t>(MsgType::kSubmitTasks),
               [this](NodeId from, const Buffer& b) { raylet_->HandleSubmitTasks(from, b); });
    m.Register(static_cast<uint16_t>(MsgType::kFreeObjects),
               [this](NodeId from, const Buffer& b) { raylet_->HandleFreeObjects(from, b); });
    m.Register(static_cast<uint16_t>(MsgType::kObjectInfo),
               [this](NodeId from, const Buffer& b) { objects_->HandleObjectInfo(from, b); });
    // The raylet's node is the head here: what it reports to the GCS comes back to it.
    m.Register(static_cast<uint16_t>(MsgType::kResourceReport), [this](NodeId, const Buffer& b) {
      std::vector<wire::NodeState> st;
      ASSERT_TRUE(wire::DecodeNodeStates(b, &st).ok());
      std::lock_guard<std::mutex> lock(mu_);
      reports_.push_back(st.at(0));
    });
    m.Register(static_cast<uint16_t>(MsgType::kPgPrepared), [this](NodeId, const Buffer& b) {
      std::vector<wire::PgEvent> ev;
      ASSERT_TRUE(wire::DecodePgEvents(b, &ev).ok());
      std::lock_guard<std::mutex> lock(mu_);
      prepared_.push_back(ev.at(0));
    });
    m.Attach(nullptr);
    owner_.messenger->Register(static_cast<uint16_t>(MsgType::kTaskForwarded),
                               [this](NodeId from, const Buffer& b) {
                                 std::vector<std::pair<TaskId, NodeId>> fw;
                                 ASSERT_TRUE(wire::DecodeForwards(b, &fw).ok());
                                 EXPECT_EQ(from, NodeId(0));
                                 std::lock_guard<std::mutex> lock(mu_);
                                 for (auto& f : fw) forwards_.push_back(f);
                               });
    peer_.messenger->Register(static_cast<uint16_t>(MsgType::kSubmitTasks),
                              [this](NodeId, const Buffer& b) {
                                std::vector<wire::TaskSpec> specs;
                                ASSERT_TRUE(wire::DecodeTaskSpecs(b, &specs).ok());
                                std::lock_guard<std::mutex> lock(mu_);
                                for (auto& sp : specs) spilled_.push_back(std::move(sp));
                              });
    peer_.messenger->Attach(nullptr);
    // The owner answers object queries for the objects it has made "ready"; others wait.
    owner_.messenger->Register(static_cast<uint16_t>(MsgType::kGetObject),
                               [this](NodeId from, const Buffer& b) {
                                 wire::GetObjectRequest req;
                                 ASSERT_TRUE(wire::DecodeGetObject(b, &req).ok());
                                 std::lock_guard<std::mutex> lock(mu_);
                                 auto it = ready_objects_.find(req.id.task.seq);
                                 if (it == ready_objects_.end()) return;  // never ready
                                 wire::ObjectInfoReply reply;
                                 reply.request_id = req.request_id;
                                 reply.id = req.id;
                                 reply.value.kind = wire::ObjectValue::Kind::kInline;
                                 reply.value.data = internal::Serialize(it->second);
                                 owner_.messenger->Send(from,
                                                        static_cast<uint16_t>(MsgType::kObjectInfo),
                                                        wire::EncodeObjectInfo(reply));
                               });
    owner_.messenger->Register(static_cast<uint16_t>(MsgType::kTaskDone),
                               [this](NodeId, const Buffer& b) {
                                 std::vector<wire::TaskResult> rs;
                                 ASSERT_TRUE(wire::DecodeTaskResults(b, &rs).ok());
                                 std::lock_guard<std::mutex> lock(mu_);
                                 for (auto& r : rs) results_.push_back(std::move(r));
                               });
    owner_.messenger->Attach(nullptr);
    ASSERT_TRUE(raylet_node_.transport->Connect(1, owner_.transport->Address()).ok());
    ASSERT_TRUE(owner_.transport->Connect(0, raylet_node_.transport->Address()).ok());
    ASSERT_TRUE(raylet_node_.transport->Connect(2, peer_.transport->Address()).ok());
    ASSERT_TRUE(peer_.transport->Connect(0, raylet_node_.transport->Address()).ok());
    for (Node* n : {&raylet_node_, &owner_, &peer_}) {
      n->loop->SetPoller(n->transport->MakePoller());
      n->loop->Start();
    }
  }
  void TearDown() override {
    raylet_->Stop();
    owner_.loop->Stop();
    peer_.loop->Stop();
    raylet_node_.loop->Stop();
  }

  void SendToRaylet(MsgType type, std::string bytes) {
    owner_.loop->Post([this, type, b = std::move(bytes)]() mutable {
      owner_.messenger->Send(NodeId(0), static_cast<uint16_t>(type), std::move(b));
    });
  }
  size_t ResultCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }
  bool WaitForResults(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (ResultCount() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return ResultCount() >= n;
  }
  static wire::TaskSpec Spec(uint64_t seq, const std::string& fn, internal::Buffer arg) {
    wire::TaskSpec s;
    s.id = TaskId{NodeId(1), seq};
    s.return_id = ObjectId{s.id, 0};
    s.function = fn;
    s.name = fn;
    wire::TaskArg a;
    a.value = std::move(arg);
    s.args = {a};
    s.resources = {{"CPU", 1.0}};
    return s;
  }

  // Runs `fn` on the raylet's loop and waits for it.
  void OnRaylet(std::function<void()> fn) {
    std::promise<void> done;
    raylet_node_.loop->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  // The raylet learns a cluster of itself (2 CPUs), the owner (none) and a peer with `cpus`.
  void GiveView(double peer_cpus) {
    std::vector<wire::NodeState> view(3);
    for (uint32_t i = 0; i < 3; ++i) view[i].node = NodeId(i);
    view[0].total = view[0].available = ResourceSet::FromPairs({{"CPU", 2}});
    view[2].total = view[2].available = ResourceSet::FromPairs({{"CPU", peer_cpus}});
    OnRaylet([&] { raylet_->ApplyClusterView(view); });
  }
  template <typename T>
  size_t Count(const std::vector<T>& v) {
    std::lock_guard<std::mutex> lock(mu_);
    return v.size();
  }
  template <typename T>
  bool WaitForCount(const std::vector<T>& v, size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (Count(v) < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return Count(v) >= n;
  }
  void PgMessage(MsgType type, const wire::PgEvent& ev) {
    std::string bytes = wire::EncodePgEvents({ev});
    OnRaylet([&] {
      Buffer b = Buffer::FromString(bytes);
      if (type == MsgType::kPgPrepare) raylet_->HandlePgPrepare(NodeId(0), b);
      if (type == MsgType::kPgCommit) raylet_->HandlePgCommit(NodeId(0), b);
      if (type == MsgType::kPgRelease) raylet_->HandlePgRelease(NodeId(0), b);
    });
  }

  Node raylet_node_{NodeId(0)};
  Node owner_{NodeId(1)};
  Node peer_{NodeId(2)};
  std::vector<std::pair<TaskId, NodeId>> forwards_;  // Guarded by mu_.
  std::vector<wire::TaskSpec> spilled_;              // Guarded by mu_.
  std::vector<wire::NodeState> reports_;             // Guarded by mu_.
  std::vector<wire::PgEvent> prepared_;              // Guarded by mu_.
  std::map<uint64_t, int> ready_objects_;             // Guarded by mu_. seq -> value
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<ObjectManager> objects_;
  std::unique_ptr<Raylet> raylet_;
  std::mutex mu_;
  std::vector<wire::TaskResult> results_;
  std::atomic<uint64_t> fake_used_{10};  // of 100: the memory monitor's reading
};

TEST_F(RayletTest, RunsTasksAndReturnsSmallResultsInline) {
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(1, "Triple", internal::Serialize(14))}));
  ASSERT_TRUE(WaitForResults(1));
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(results_[0].value.kind, wire::ObjectValue::Kind::kInline);
  EXPECT_EQ(*internal::Deserialize<int>(results_[0].value.data), 42);
}

TEST_F(RayletTest, ShortTasksRunInChainsAndABlockedBodyGivesTheRestBack) {
  // Short tasks first, so that the raylet knows this shape's tasks are short.
  std::vector<wire::TaskSpec> warm;
  for (uint64_t i = 1; i <= 20; ++i)
    warm.push_back(Spec(i, "Triple", internal::Serialize(static_cast<int>(i))));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(warm));
  ASSERT_TRUE(WaitForResults(20));
  // One CPU busy with a nap; the other takes WaitForLater, with what follows chained behind
  // it. WaitForLater blocks until MarkLater runs: the chain must give MarkLater back.
  g_later_ran.store(false);
  std::vector<wire::TaskSpec> batch = {Spec(21, "Nap", internal::Serialize(300)),
                                       Spec(22, "WaitForLater", internal::Serialize(0)),
                                       Spec(23, "MarkLater", internal::Serialize(5))};
  for (uint64_t i = 24; i <= 40; ++i)
    batch.push_back(Spec(i, "Triple", internal::Serialize(static_cast<int>(i))));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(batch));
  ASSERT_TRUE(WaitForResults(40));
  std::lock_guard<std::mutex> lock(mu_);
  std::map<uint64_t, int> got;
  for (const auto& r : results_) {
    ASSERT_EQ(r.value.kind, wire::ObjectValue::Kind::kInline) << r.value.error.message;
    got[r.task.seq] = *internal::Deserialize<int>(r.value.data);
  }
  EXPECT_EQ(got[22], 1) << "the blocked body never saw the task chained behind it run";
  EXPECT_EQ(got[23], 5);
  for (uint64_t i = 24; i <= 40; ++i) EXPECT_EQ(got[i], 3 * static_cast<int>(i));
}

TEST_F(RayletTest, AChainGivesTheRestBackAfterATaskThatRanLong) {
  std::vector<wire::TaskSpec> warm;
  for (uint64_t i = 1; i <= 20; ++i)
    warm.push_back(Spec(i, "Triple", internal::Serialize(static_cast<int>(i))));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(warm));
  ASSERT_TRUE(WaitForResults(20));
  // 21 takes one CPU and ends soon; 22 takes the other with 23-25 chained behind it. 22 runs
  // long, so 23-25 go back to the queue and the two free executors share them, instead of
  // running one after another on 22's thread.
  std::vector<wire::TaskSpec> batch = {Spec(21, "Nap", internal::Serialize(20))};
  for (uint64_t i = 22; i <= 25; ++i)
    batch.push_back(Spec(i, "NapWhere", internal::Serialize(100)));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(batch));
  ASSERT_TRUE(WaitForResults(25));
  std::lock_guard<std::mutex> lock(mu_);
  std::set<int64_t> threads;
  for (const auto& r : results_) {
    ASSERT_EQ(r.value.kind, wire::ObjectValue::Kind::kInline) << r.value.error.message;
    if (r.task.seq >= 22) threads.insert(*internal::Deserialize<int64_t>(r.value.data));
  }
  EXPECT_GE(threads.size(), 2u) << "every task chained behind a long one ran on its thread";
}

TEST_F(RayletTest, LargeResultsStayInTheStoreUntilFreed) {
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(2, "Big", internal::Serialize(1000))}));
  ASSERT_TRUE(WaitForResults(1));
  ObjectId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(results_[0].value.kind, wire::ObjectValue::Kind::kLocation);
    EXPECT_EQ(results_[0].value.location.size, 8000u);
    EXPECT_EQ(results_[0].value.location.node, NodeId(0));
    id = results_[0].return_id;
  }
  SendToRaylet(MsgType::kFreeObjects, wire::EncodeFreeObjects({id}));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::atomic<size_t> objects{1};
  while (objects.load() != 0 && std::chrono::steady_clock::now() < deadline) {
    raylet_node_.loop->Post([&] { objects = store_->stats().objects; });
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(objects.load(), 0u);
}

TEST_F(RayletTest, UnknownFunctionsFailTheTaskNotTheRaylet) {
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(3, "NoSuchFunction", internal::Serialize(1))}));
  ASSERT_TRUE(WaitForResults(1));
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(results_[0].value.kind, wire::ObjectValue::Kind::kError);
  EXPECT_EQ(results_[0].value.error.kind, wire::ErrorKind::kFunctionNotFound);
  EXPECT_NE(results_[0].value.error.message.find("NoSuchFunction"), std::string::npos);
}

TEST_F(RayletTest, BadArgumentBytesFailTheTaskWithAMessage) {
  // An int argument that is two bytes long cannot be decoded.
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(4, "Triple", internal::Buffer::FromString("xy"))}));
  ASSERT_TRUE(WaitForResults(1));
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(results_[0].value.kind, wire::ObjectValue::Kind::kError);
  EXPECT_EQ(results_[0].value.error.kind, wire::ErrorKind::kTaskError);
}

TEST_F(RayletTest, MalformedMessagesAreDroppedAndLaterOnesStillWork) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 96, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (!junk.empty()) junk[0] = static_cast<char>(wire::kWireVersion);
    MsgType type =
        std::array{MsgType::kSubmitTasks, MsgType::kFreeObjects, MsgType::kObjectInfo}[i % 3];
    SendToRaylet(type, std::move(junk));
  }
  // A spec whose truncation leaves a valid prefix must not run either.
  std::string valid = wire::EncodeTaskSpecs({Spec(5, "Triple", internal::Serialize(5))});
  SendToRaylet(MsgType::kSubmitTasks, valid.substr(0, valid.size() - 3));
  SendToRaylet(MsgType::kSubmitTasks, valid);
  ASSERT_TRUE(WaitForResults(1));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].task.seq, 5u);
  EXPECT_EQ(*internal::Deserialize<int>(results_[0].value.data), 15);
}

// Tasks waiting for an argument that does not exist yet hold no admission slot: a task whose
// argument is ready runs even when more tasks than the admission limit (2 * CPUs + 2 = 6)
// wait for arguments that another queued task would produce. (With slots taken at arrival,
// spillback's out-of-order arrivals deadlocked a tree reduction this way.)
TEST_F(RayletTest, TasksWaitingForMissingArgumentsDoNotBlockOthers) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_objects_[900] = 7;  // obj-1-900-0 is ready; obj-1-901-0 never will be
  }
  auto with_ref = [](uint64_t seq, uint64_t arg_seq) {
    wire::TaskSpec sp = Spec(seq, "Triple", internal::Buffer());
    sp.args[0].kind = wire::TaskArg::Kind::kRef;
    sp.args[0].ref = ObjectId{TaskId{NodeId(1), arg_seq}, 0};
    return sp;
  };
  std::vector<wire::TaskSpec> specs;
  for (uint64_t i = 0; i < 8; ++i) specs.push_back(with_ref(500 + i, 901));
  specs.push_back(with_ref(510, 900));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(specs));
  ASSERT_TRUE(WaitForResults(1));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(results_[0].task.seq, 510u);
  EXPECT_EQ(*internal::Deserialize<int>(results_[0].value.data), 21);
}

TEST_F(RayletTest, SpillsQueuedTasksBackToANodeWithRoomAndTellsTheOwner) {
  GiveView(/*peer_cpus=*/4);
  std::vector<wire::TaskSpec> specs;
  for (uint64_t i = 0; i < 10; ++i) specs.push_back(Spec(100 + i, "Nap", internal::Serialize(300)));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(specs));
  // 2 run here; of the 8 waiting, 4 fit on the peer's 4 free CPUs.
  ASSERT_TRUE(WaitForCount(spilled_, 4));
  ASSERT_TRUE(WaitForCount(forwards_, 4));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(spilled_.size(), 4u);
  for (const wire::TaskSpec& sp : spilled_) EXPECT_EQ(sp.spillbacks, 1);
  for (const auto& [task, node] : forwards_) EXPECT_EQ(node, NodeId(2));
}

TEST_F(RayletTest, HardAffinityAndSpilledTwiceStayPut) {
  GiveView(/*peer_cpus=*/8);
  std::vector<wire::TaskSpec> specs;
  for (uint64_t i = 0; i < 6; ++i) {
    wire::TaskSpec sp = Spec(200 + i, "Nap", internal::Serialize(100));
    if (i % 2 == 0) {
      sp.strategy = 2;  // hard node affinity
      sp.affinity_node = NodeId(0);
    } else {
      sp.spillbacks = 2;  // forwarded twice already
    }
    specs.push_back(sp);
  }
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(specs));
  ASSERT_TRUE(WaitForResults(6));
  EXPECT_EQ(Count(spilled_), 0u);
}

TEST_F(RayletTest, ReportsFreeResourcesAndQueueToTheHead) {
  OnRaylet([&] { raylet_->Start(); });
  std::vector<wire::TaskSpec> specs;
  for (uint64_t i = 0; i < 5; ++i) specs.push_back(Spec(300 + i, "Nap", internal::Serialize(200)));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(specs));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool busy = false;
  while (!busy && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const wire::NodeState& r : reports_)
        busy |= r.queued == 3 && r.available.Get("CPU") == 0 && r.total.Get("CPU") == 2;
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(busy);
  ASSERT_TRUE(WaitForResults(5));
  deadline = std::chrono::steady_clock::now() + 10s;
  bool idle = false;
  while (!idle && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle = !reports_.empty() && reports_.back().queued == 0 &&
             reports_.back().available.Get("CPU") == 2;
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(idle);
}

TEST_F(RayletTest, MemoryPressureHoldsNewTasksUntilUseFalls) {
  fake_used_ = 97;  // above the default threshold, 0.95
  OnRaylet([&] {
    raylet_->CheckMemory();
    EXPECT_TRUE(raylet_->memory_pressure());
  });
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(400, "Triple", internal::Serialize(1)),
                                      Spec(401, "Triple", internal::Serialize(2))}));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ResultCount(), 0u);  // held: no other node to send them to
  fake_used_ = 60;
  OnRaylet([&] {
    raylet_->CheckMemory();
    EXPECT_FALSE(raylet_->memory_pressure());
  });
  ASSERT_TRUE(WaitForResults(2));
}

TEST_F(RayletTest, MemoryPressureSendsQueuedTasksToNodesWithRoom) {
  GiveView(/*peer_cpus=*/4);
  fake_used_ = 99;
  OnRaylet([&] { raylet_->CheckMemory(); });
  std::vector<wire::TaskSpec> specs;
  for (uint64_t i = 0; i < 3; ++i) specs.push_back(Spec(410 + i, "Nap", internal::Serialize(10)));
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs(specs));
  ASSERT_TRUE(WaitForCount(spilled_, 3));
  EXPECT_EQ(ResultCount(), 0u);
}

TEST_F(RayletTest, PlacementGroupBundlesReserveCommitAndRelease) {
  wire::PgEvent a;
  a.request_id = 1;
  a.pg = PlacementGroupId{TaskId{NodeId(1), 50}};
  a.bundles = {ResourceSet::FromPairs({{"CPU", 2}})};
  a.indices = {0};
  PgMessage(MsgType::kPgPrepare, a);
  ASSERT_TRUE(WaitForCount(prepared_, 1));
  // Every CPU is reserved: a second group is refused, naming what is short.
  wire::PgEvent b = a;
  b.request_id = 2;
  b.pg = PlacementGroupId{TaskId{NodeId(1), 51}};
  b.bundles = {ResourceSet::FromPairs({{"CPU", 1}})};
  PgMessage(MsgType::kPgPrepare, b);
  ASSERT_TRUE(WaitForCount(prepared_, 2));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(prepared_[0].flag);
    EXPECT_FALSE(prepared_[1].flag);
    EXPECT_NE(prepared_[1].message.find("CPU: 1 (have 0)"), std::string::npos)
        << prepared_[1].message;
  }
  // Outside work waits; work of the group runs once committed.
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(400, "Triple", internal::Serialize(1))}));
  wire::TaskSpec in = Spec(401, "Triple", internal::Serialize(2));
  in.resources = scheduler::GroupDemand(ResourceSet::FromPairs({{"CPU", 1}}), a.pg, 0).ToPairs();
  PgMessage(MsgType::kPgCommit, a);
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs({in}));
  ASSERT_TRUE(WaitForResults(1));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(results_[0].task.seq, 401u);
  }
  // Queued work of the group fails when it is removed; the CPUs come back to the rest.
  wire::TaskSpec stranded = in;
  stranded.id.seq = 402;
  stranded.return_id = ObjectId{stranded.id, 0};
  stranded.resources = scheduler::GroupDemand(ResourceSet::FromPairs({{"CPU", 5}}), a.pg, -1).ToPairs();
  stranded.placement_group = a.pg;  // as every task of a group says
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs({stranded}));
  std::this_thread::sleep_for(50ms);
  PgMessage(MsgType::kPgRelease, a);
  ASSERT_TRUE(WaitForResults(3));
  // Work of the group that arrives after the removal fails at once too.
  wire::TaskSpec late = in;
  late.id.seq = 403;
  late.return_id = ObjectId{late.id, 0};
  late.placement_group = a.pg;
  late.bundle_index = 0;
  SendToRaylet(MsgType::kSubmitTasks, wire::EncodeTaskSpecs({late}));
  ASSERT_TRUE(WaitForResults(4));
  std::lock_guard<std::mutex> lock(mu_);
  for (const wire::TaskResult& r : results_) {
    if (r.task.seq == 403) {
      EXPECT_EQ(r.value.error.kind, wire::ErrorKind::kUnschedulable);
    }
    if (r.task.seq == 400) {
      EXPECT_EQ(*internal::Deserialize<int>(r.value.data), 3);
    }
    if (r.task.seq == 402) {
      EXPECT_EQ(r.value.error.kind, wire::ErrorKind::kUnschedulable);
      EXPECT_NE(r.value.error.message.find("was removed"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ferry::raylet
