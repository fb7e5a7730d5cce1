// The GCS's placement-group table against fake raylets over the in-process transport: the
// two-phase reservation (prepare everywhere, then commit), refusals releasing what others
// reserved and retrying once resources free up, removal in the middle of a round, and node
// death sending a group back to be placed again.
#include "src/gcs/pg_directory.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "src/gcs/inproc_cluster_testing.h"
#include "src/scheduler/policy.h"

namespace ferry::gcs {
namespace {

using namespace std::chrono_literals;
using internal::Buffer;
using wire::MsgType;

struct Seen {
  MsgType type{};
  NodeId to;
  wire::PgEvent event;
  std::vector<wire::PgEvent> reply;  // kPgReply: header + groups
};

class PgDirectoryTest : public ::testing::Test {
 protected:
  static constexpr int kNodes = 4;  // node 0 is the head; nodes 1-3 have 2 CPUs each

  void SetUp() override {
    EventLoop* head_loop = c_.loops[0].get();
    transport::Messenger* head = c_.messengers[0].get();
    cluster_ = std::make_unique<ClusterTable>(head_loop, head, 10ms);
    cluster_->AddNode(NodeId(0), ResourceSet());
    for (int i = 1; i < kNodes; ++i)
      cluster_->AddNode(NodeId(static_cast<uint32_t>(i)), ResourceSet::FromPairs({{"CPU", 2}}));
    actors_ = std::make_unique<ActorDirectory>(head_loop, head, cluster_.get());
    pgs_ = std::make_unique<PgDirectory>(head_loop, head, cluster_.get(), actors_.get());
    cluster_->OnFreed([this] { pgs_->TryPending(); });
    head->Register(T(MsgType::kPgCreate), [this](NodeId f, const Buffer& b) { pgs_->HandleCreate(f, b); });
    head->Register(T(MsgType::kPgRemove), [this](NodeId f, const Buffer& b) { pgs_->HandleRemove(f, b); });
    head->Register(T(MsgType::kPgQuery), [this](NodeId f, const Buffer& b) { pgs_->HandleQuery(f, b); });
    head->Register(T(MsgType::kPgPrepared),
                   [this](NodeId f, const Buffer& b) { pgs_->HandlePrepared(f, b); });
    head->Register(T(MsgType::kResourceReport),
                   [this](NodeId f, const Buffer& b) { cluster_->HandleReport(f, b); });
    for (int i = 0; i < kNodes; ++i) {
      NodeId me(static_cast<uint32_t>(i));
      auto& m = *c_.messengers[i];
      for (MsgType type : {MsgType::kPgPrepare, MsgType::kPgCommit, MsgType::kPgRelease}) {
        m.Register(T(type), [this, type, me](NodeId, const Buffer& b) {
          std::vector<wire::PgEvent> ev;
          ASSERT_TRUE(wire::DecodePgEvents(b, &ev).ok());
          log_.Record({type, me, ev.at(0), {}});
        });
      }
      m.Register(T(MsgType::kPgReply), [this, me](NodeId, const Buffer& b) {
        std::vector<wire::PgEvent> ev;
        ASSERT_TRUE(wire::DecodePgEvents(b, &ev).ok());
        log_.Record({MsgType::kPgReply, me, ev.at(0), ev});
      });
      m.Register(T(MsgType::kClusterView), [](NodeId, const Buffer&) {});
    }
    c_.Start();
    head_loop->Post([this] {
      cluster_->Start();
      pgs_->Start();
    });
  }
  void TearDown() override { c_.Stop(); }

  static uint16_t T(MsgType t) { return static_cast<uint16_t>(t); }
  Seen Next(MsgType type) { return log_.Next(type); }
  size_t Pending(MsgType type) { return log_.Pending(type); }
  void Send(int from, MsgType type, std::string bytes) {
    c_.Send(from, NodeId(0), type, std::move(bytes));
  }
  PlacementGroupId Create(uint64_t seq, uint8_t strategy, int bundles, double cpus) {
    wire::PgEvent ev;
    ev.request_id = seq;
    ev.pg = PlacementGroupId{TaskId{NodeId(1), seq}};
    ev.strategy = strategy;
    ev.bundles.assign(static_cast<size_t>(bundles), ResourceSet::FromPairs({{"CPU", cpus}}));
    Send(1, MsgType::kPgCreate, wire::EncodePgEvents({ev}));
    Seen reply = Next(MsgType::kPgReply);
    EXPECT_TRUE(!reply.reply.empty() && reply.reply.at(0).flag);
    return ev.pg;
  }
  void Prepared(const Seen& prepare, bool ok, const std::string& why = "") {
    wire::PgEvent ev = prepare.event;
    ev.flag = ok;
    ev.message = why;
    Send(static_cast<int>(prepare.to.value()), MsgType::kPgPrepared, wire::EncodePgEvents({ev}));
  }
  // The group's state, through a query.
  wire::PgState StateOf(const PlacementGroupId& id) {
    wire::PgEvent q;
    q.request_id = 999;
    q.pg = id;
    Send(2, MsgType::kPgQuery, wire::EncodePgEvents({q}));
    Seen r = Next(MsgType::kPgReply);
    return r.reply.size() > 1 ? r.reply[1].state : wire::PgState::kRemoved;
  }

  testing::InprocCluster c_{kNodes};
  testing::MessageLog<Seen> log_;
  std::unique_ptr<ClusterTable> cluster_;
  std::unique_ptr<ActorDirectory> actors_;
  std::unique_ptr<PgDirectory> pgs_;
};

TEST_F(PgDirectoryTest, CommitsOnlyAfterEveryNodePrepared) {
  PlacementGroupId id = Create(1, /*STRICT_SPREAD*/ 3, 3, 1);
  std::set<NodeId> nodes;
  std::vector<Seen> prepares;
  for (int i = 0; i < 3; ++i) {
    prepares.push_back(Next(MsgType::kPgPrepare));
    nodes.insert(prepares.back().to);
    EXPECT_EQ(prepares.back().event.bundles.size(), 1u);
  }
  EXPECT_EQ(nodes.size(), 3u);
  Prepared(prepares[0], true);
  Prepared(prepares[1], true);
  EXPECT_EQ(Pending(MsgType::kPgCommit), 0u);  // one node has not answered
  EXPECT_EQ(StateOf(id), wire::PgState::kPending);
  Prepared(prepares[2], true);
  for (int i = 0; i < 3; ++i) Next(MsgType::kPgCommit);
  EXPECT_EQ(StateOf(id), wire::PgState::kCreated);
  // The group's own resources are in the view now.
  std::promise<double> cap;
  c_.loops[0]->Post([&] {
    double sum = 0;
    for (const auto& n : cluster_->view().nodes)
      sum += n.total.Get(scheduler::GroupResourceName("CPU", id, -1));
    cap.set_value(sum);
  });
  EXPECT_EQ(cap.get_future().get(), 3.0);
}

TEST_F(PgDirectoryTest, ARefusalReleasesTheOthersAndTheGroupRetriesWhenResourcesFree) {
  PlacementGroupId id = Create(2, /*STRICT_SPREAD*/ 3, 2, 1);
  Seen a = Next(MsgType::kPgPrepare), b = Next(MsgType::kPgPrepare);
  Prepared(a, true);
  Prepared(b, false, "busy");
  Seen release = Next(MsgType::kPgRelease);
  EXPECT_EQ(release.to, a.to);
  EXPECT_EQ(StateOf(id), wire::PgState::kPending);
  EXPECT_EQ(Pending(MsgType::kPgPrepare), 0u);
  // A node reports freed resources: the group is placed again.
  wire::NodeState st;
  st.node = b.to;
  st.total = ResourceSet::FromPairs({{"CPU", 2}});
  st.available = ResourceSet::FromPairs({{"CPU", 2}});
  Send(static_cast<int>(b.to.value()), MsgType::kResourceReport, wire::EncodeNodeStates({st}));
  Seen c = Next(MsgType::kPgPrepare), d = Next(MsgType::kPgPrepare);
  Prepared(c, true);
  Prepared(d, true);
  Next(MsgType::kPgCommit);
  Next(MsgType::kPgCommit);
  EXPECT_EQ(StateOf(id), wire::PgState::kCreated);
}

TEST_F(PgDirectoryTest, RemovalDuringARoundReleasesLateReservations) {
  PlacementGroupId id = Create(3, /*PACK*/ 0, 1, 1);
  Seen p = Next(MsgType::kPgPrepare);
  wire::PgEvent rm;
  rm.request_id = 7;
  rm.pg = id;
  Send(1, MsgType::kPgRemove, wire::EncodePgEvents({rm}));
  Next(MsgType::kPgReply);
  Next(MsgType::kPgRelease);  // what the round reserved goes back
  Prepared(p, true);          // a late answer
  Seen late = Next(MsgType::kPgRelease);
  EXPECT_EQ(late.to, p.to);
  EXPECT_EQ(Pending(MsgType::kPgCommit), 0u);
  EXPECT_EQ(StateOf(id), wire::PgState::kRemoved);
}

TEST_F(PgDirectoryTest, NodeDeathPlacesACreatedGroupAgain) {
  PlacementGroupId id = Create(4, /*STRICT_SPREAD*/ 3, 2, 2);
  Seen a = Next(MsgType::kPgPrepare), b = Next(MsgType::kPgPrepare);
  Prepared(a, true);
  Prepared(b, true);
  Next(MsgType::kPgCommit);
  Next(MsgType::kPgCommit);
  ASSERT_EQ(StateOf(id), wire::PgState::kCreated);
  c_.loops[0]->Post([this, dead = a.to] {
    cluster_->MarkDead(dead);
    pgs_->OnNodeDead(dead);
  });
  Seen release = Next(MsgType::kPgRelease);
  EXPECT_EQ(release.to, b.to);  // the survivor gives its bundle back...
  Seen c = Next(MsgType::kPgPrepare), d = Next(MsgType::kPgPrepare);
  EXPECT_NE(c.to, a.to);  // ...and both are placed on live nodes
  EXPECT_NE(d.to, a.to);
  Prepared(c, true);
  Prepared(d, true);
  Next(MsgType::kPgCommit);
  Next(MsgType::kPgCommit);
  EXPECT_EQ(StateOf(id), wire::PgState::kCreated);
}

TEST_F(PgDirectoryTest, BadRequestsAreRefusedByName) {
  Create(5, 0, 1, 1);
  wire::PgEvent dup;
  dup.request_id = 5;
  dup.pg = PlacementGroupId{TaskId{NodeId(1), 5}};
  dup.bundles = {ResourceSet::FromPairs({{"CPU", 1}})};
  Send(1, MsgType::kPgCreate, wire::EncodePgEvents({dup}));
  Seen r = Next(MsgType::kPgReply);
  EXPECT_FALSE(r.reply[0].flag);
  EXPECT_NE(r.reply[0].message.find("exists already"), std::string::npos);
  wire::PgEvent foreign = dup;
  foreign.pg = PlacementGroupId{TaskId{NodeId(3), 1}};  // not the sender's id
  Send(1, MsgType::kPgCreate, wire::EncodePgEvents({foreign}));
  EXPECT_FALSE(Next(MsgType::kPgReply).reply[0].flag);
  Send(1, MsgType::kPgCreate, "garbage");  // dropped, logged
  EXPECT_EQ(Pending(MsgType::kPgReply), 0u);
}

}  // namespace
}  // namespace ferry::gcs
