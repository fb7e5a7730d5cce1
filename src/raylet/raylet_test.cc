// The raylet against a fake owner over the in-process transport: malformed messages are
// dropped without harm, and valid ones still run afterwards.
#include "src/raylet/raylet.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "ferry/internal/function_registry.h"
#include "src/transport/inproc/inproc_transport.h"
#include "src/wire/codec.h"

namespace ferry::raylet {
namespace {

int Triple(int x) { return 3 * x; }
std::vector<int64_t> Big(int n) { return std::vector<int64_t>(static_cast<size_t>(n), 7); }
FERRY_REMOTE(Triple, Big);

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
    objects_ = std::make_unique<ObjectManager>(NodeId(0), raylet_node_.messenger.get(),
                                               raylet_node_.transport.get(), store_.get());
    RayletOptions opts;
    opts.self = NodeId(0);
    opts.resources = ResourceSet::FromPairs({{"CPU", 2}});
    opts.inline_threshold = 1024;
    opts.max_batch = 64;
    opts.executor_spin_us = 0;
    raylet_ = std::make_unique<Raylet>(opts, raylet_node_.loop.get(),
                                       raylet_node_.messenger.get(), objects_.get(), store_.get());
    auto& m = *raylet_node_.messenger;
    m.Register(static_cast<uint16_t>(MsgType::kSubmitTasks),
               [this](NodeId from, const Buffer& b) { raylet_->HandleSubmitTasks(from, b); });
    m.Register(static_cast<uint16_t>(MsgType::kFreeObjects),
               [this](NodeId from, const Buffer& b) { raylet_->HandleFreeObjects(from, b); });
    m.Register(static_cast<uint16_t>(MsgType::kObjectInfo),
               [this](NodeId from, const Buffer& b) { objects_->HandleObjectInfo(from, b); });
    m.Attach(nullptr);
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
    for (Node* n : {&raylet_node_, &owner_}) {
      n->loop->SetPoller(n->transport->MakePoller());
      n->loop->Start();
    }
  }
  void TearDown() override {
    raylet_->Stop();
    owner_.loop->Stop();
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

  Node raylet_node_{NodeId(0)};
  Node owner_{NodeId(1)};
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<ObjectManager> objects_;
  std::unique_ptr<Raylet> raylet_;
  std::mutex mu_;
  std::vector<wire::TaskResult> results_;
};

TEST_F(RayletTest, RunsTasksAndReturnsSmallResultsInline) {
  SendToRaylet(MsgType::kSubmitTasks,
               wire::EncodeTaskSpecs({Spec(1, "Triple", internal::Serialize(14))}));
  ASSERT_TRUE(WaitForResults(1));
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(results_[0].value.kind, wire::ObjectValue::Kind::kInline);
  EXPECT_EQ(*internal::Deserialize<int>(results_[0].value.data), 42);
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

}  // namespace
}  // namespace ferry::raylet
