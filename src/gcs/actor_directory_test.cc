// The GCS's actor table against fake raylets and callers over the in-process transport:
// unique names, placement within held CPUs, pending actors, kill and restart, node death.
#include "src/gcs/actor_directory.h"
#include "src/gcs/cluster_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <mutex>
#include <thread>

#include "src/gcs/gcs.h"
#include "src/gcs/inproc_cluster_testing.h"

namespace ferry::gcs {
namespace {

using namespace std::chrono_literals;
using internal::Buffer;
using wire::MsgType;

struct Seen {
  MsgType type{};
  NodeId to;
  wire::ActorEvent event;  // kActorReply, kActorUpdate, kActorDestroy
  wire::TaskSpec spec;     // kActorCreate
};

class ActorDirectoryTest : public ::testing::Test {
 protected:
  static constexpr int kNodes = 3;  // node 0 is the head; every node has 1 CPU

  void SetUp() override {
    EventLoop* head_loop = c_.loops[0].get();
    transport::Messenger* head = c_.messengers[0].get();
    cluster_ = std::make_unique<ClusterTable>(head_loop, head, 10ms);
    for (int i = 0; i < kNodes; ++i)
      cluster_->AddNode(NodeId(static_cast<uint32_t>(i)), ResourceSet::FromPairs({{"CPU", 1}}));
    dir_ = std::make_unique<ActorDirectory>(head_loop, head, cluster_.get());
    head->Register(T(MsgType::kActorRegister),
                   [this](NodeId f, const Buffer& b) { dir_->HandleRegister(f, b); });
    head->Register(T(MsgType::kActorCreated),
                   [this](NodeId f, const Buffer& b) { dir_->HandleCreated(f, b); });
    head->Register(T(MsgType::kActorKill),
                   [this](NodeId f, const Buffer& b) { dir_->HandleKill(f, b); });
    head->Register(T(MsgType::kActorLookup),
                   [this](NodeId f, const Buffer& b) { dir_->HandleLookup(f, b); });
    for (int i = 0; i < kNodes; ++i) {
      NodeId me(static_cast<uint32_t>(i));
      auto& m = *c_.messengers[i];
      for (MsgType type : {MsgType::kActorReply, MsgType::kActorUpdate, MsgType::kActorDestroy}) {
        m.Register(T(type), [this, type, me](NodeId, const Buffer& b) {
          Seen s{type, me, {}, {}};
          ASSERT_TRUE(wire::DecodeActorEvent(b, &s.event).ok());
          log_.Record(std::move(s));
        });
      }
      m.Register(T(MsgType::kActorCreate), [this, me](NodeId, const Buffer& b) {
        std::vector<wire::TaskSpec> specs;
        ASSERT_TRUE(wire::DecodeTaskSpecs(b, &specs).ok());
        log_.Record({MsgType::kActorCreate, me, {}, specs.at(0)});
      });
      m.Register(T(MsgType::kClusterView), [](NodeId, const Buffer&) {});
    }
    c_.Start();
  }
  void TearDown() override { c_.Stop(); }

  static uint16_t T(MsgType t) { return static_cast<uint16_t>(t); }
  // Waits (bounded) for the next message of `type` not yet taken, and takes it.
  Seen Next(MsgType type) { return log_.Next(type); }
  void Send(int from, MsgType type, std::string bytes) {
    c_.Send(from, NodeId(0), type, std::move(bytes));
  }
  static wire::TaskSpec Creation(uint64_t seq, const std::string& name, double cpus,
                                 int max_restarts = 0) {
    wire::TaskSpec s;
    s.id = TaskId{NodeId(1), seq};
    s.kind = wire::TaskKind::kActorCreation;
    s.actor = ActorId{s.id};
    s.function = "Counter::Create";
    s.resources = {{"CPU", cpus}};
    s.actor_options->name = name;
    s.actor_options->class_name = "7Counter";
    s.actor_options->max_restarts = max_restarts;
    s.actor_options->request_id = name.empty() ? 0 : seq;
    return s;
  }
  void Created(const Seen& create, bool ok, const std::string& why = "") {
    wire::ActorEvent ev;
    ev.actor = create.spec.actor;
    ev.incarnation = create.spec.actor_options->incarnation;
    ev.flag = ok;
    ev.message = why;
    Send(static_cast<int>(create.to.value()), MsgType::kActorCreated, wire::EncodeActorEvent(ev));
  }
  void Kill(const ActorId& id, bool no_restart) {
    wire::ActorEvent ev;
    ev.request_id = 1000 + id.task.seq;
    ev.actor = id;
    ev.flag = no_restart;
    Send(1, MsgType::kActorKill, wire::EncodeActorEvent(ev));
  }

  testing::InprocCluster c_{kNodes};
  testing::MessageLog<Seen> log_;
  std::unique_ptr<ClusterTable> cluster_;
  std::unique_ptr<ActorDirectory> dir_;
};

TEST_F(ActorDirectoryTest, NamesAreUniqueWhileTheirActorLives) {
  Send(1, MsgType::kActorRegister, wire::EncodeTaskSpecs({Creation(1, "ledger", 0)}));
  EXPECT_TRUE(Next(MsgType::kActorReply).event.flag);
  Seen create = Next(MsgType::kActorCreate);
  Send(2, MsgType::kActorRegister, wire::EncodeTaskSpecs({Creation(2, "ledger", 0)}));
  Seen refused = Next(MsgType::kActorReply);
  EXPECT_FALSE(refused.event.flag);
  EXPECT_NE(refused.event.message.find("'ledger' already exists"), std::string::npos);
  Created(create, true);
  Seen alive = Next(MsgType::kActorUpdate);
  EXPECT_EQ(alive.event.state, wire::ActorState::kAlive);
  EXPECT_EQ(alive.event.node, create.to);
  EXPECT_EQ(alive.to, NodeId(1));  // the creator is subscribed
  Kill(create.spec.actor, /*no_restart=*/true);
  EXPECT_EQ(Next(MsgType::kActorDestroy).to, create.to);
  EXPECT_EQ(Next(MsgType::kActorReply).event.state, wire::ActorState::kDead);
  // The name is free again.
  Send(2, MsgType::kActorRegister, wire::EncodeTaskSpecs({Creation(3, "ledger", 0)}));
  EXPECT_TRUE(Next(MsgType::kActorReply).event.flag);
}

TEST_F(ActorDirectoryTest, ActorsWaitForCpusHeldByOthers) {
  // Three 1-CPU nodes: three 1-CPU actors spread, the fourth waits until one dies.
  std::set<NodeId> hosts;
  std::vector<Seen> creates;
  for (uint64_t i = 1; i <= 4; ++i)
    Send(1, MsgType::kActorRegister, wire::EncodeTaskSpecs({Creation(i, "", 1.0)}));
  for (int i = 0; i < 3; ++i) {
    creates.push_back(Next(MsgType::kActorCreate));
    hosts.insert(creates.back().to);
  }
  EXPECT_EQ(hosts.size(), 3u);
  EXPECT_EQ(log_.Pending(MsgType::kActorCreate), 0u) << "over-committed";
  Created(creates[1], false, "its constructor threw std::runtime_error: boom");
  Seen dead = Next(MsgType::kActorUpdate);
  EXPECT_EQ(dead.event.state, wire::ActorState::kDead);
  EXPECT_NE(dead.event.message.find("boom"), std::string::npos);
  Seen fourth = Next(MsgType::kActorCreate);  // placed where the CPU was released
  EXPECT_EQ(fourth.to, creates[1].to);
}

TEST_F(ActorDirectoryTest, KillFalseAndNodeDeathRestartUntilRestartsRunOut) {
  wire::TaskSpec spec = Creation(7, "", 0, 2);
  spec.actor_options->detached = true;  // its creator's death is not what this test is about
  Send(1, MsgType::kActorRegister, wire::EncodeTaskSpecs({spec}));
  Seen c0 = Next(MsgType::kActorCreate);
  Created(c0, true);
  EXPECT_EQ(Next(MsgType::kActorUpdate).event.state, wire::ActorState::kAlive);
  Kill(c0.spec.actor, /*no_restart=*/false);
  EXPECT_EQ(Next(MsgType::kActorDestroy).event.incarnation, 0u);
  Seen c1 = Next(MsgType::kActorCreate);
  EXPECT_EQ(c1.spec.actor_options->incarnation, 1u);
  Created(c1, true);
  // Its node dies: the second and last restart.
  NodeId host = c1.to;
  c_.loops[0]->Post([this, host] {
    cluster_->MarkDead(host);
    dir_->OnNodeDead(host);
  });
  Seen c2 = Next(MsgType::kActorCreate);
  EXPECT_NE(c2.to, host);
  EXPECT_EQ(c2.spec.actor_options->incarnation, 2u);
  Created(c2, true);
  c_.loops[0]->Post([this, node = c2.to] {
    cluster_->MarkDead(node);
    dir_->OnNodeDead(node);
  });
  // No restart left: it is dead, and nothing is created anywhere.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  size_t live = 1;
  while (live != 0 && std::chrono::steady_clock::now() < deadline) {
    std::promise<size_t> p;
    c_.loops[0]->Post([&] { p.set_value(dir_->live_actors()); });
    live = p.get_future().get();
  }
  EXPECT_EQ(live, 0u);
  EXPECT_EQ(log_.Pending(MsgType::kActorCreate), 0u);
}

TEST_F(ActorDirectoryTest, MalformedMessagesAreDropped) {
  Send(1, MsgType::kActorRegister, "junk");
  Send(1, MsgType::kActorKill, std::string("\x02\x01", 2));
  Send(1, MsgType::kActorRegister, wire::EncodeTaskSpecs({Creation(9, "ok", 0)}));
  EXPECT_TRUE(Next(MsgType::kActorReply).event.flag);  // still serving
}

}  // namespace
}  // namespace ferry::gcs
