#include <gtest/gtest.h>

#include <random>

#include "src/wire/codec.h"
#include "src/wire/messages.h"

namespace ferry::wire {
namespace {

Buffer B(const std::string& s) { return Buffer::FromString(s); }

TaskSpec SampleSpec() {
  TaskSpec s;
  s.id = TaskId{NodeId(2), 77};
  s.return_id = ObjectId{s.id, 0};
  s.function = "Plus";
  s.name = "add";
  TaskArg v;
  v.value = B(std::string("\x01\x02\x03", 3));
  TaskArg r;
  r.kind = TaskArg::Kind::kRef;
  r.ref = ObjectId{TaskId{NodeId(1), 5}, 0};
  s.args = {v, r};
  s.resources = {{"CPU", 0.5}};
  s.max_retries = 4;
  s.retry_exceptions = true;
  return s;
}

TEST(Wire, TaskSpecsRoundTrip) {
  std::string enc = EncodeTaskSpecs({SampleSpec(), SampleSpec()});
  std::vector<TaskSpec> out;
  ASSERT_TRUE(DecodeTaskSpecs(B(enc), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, (TaskId{NodeId(2), 77}));
  EXPECT_EQ(out[1].function, "Plus");
  EXPECT_EQ(out[1].name, "add");
  ASSERT_EQ(out[1].args.size(), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out[1].args[0].value.data()), 3),
            "\x01\x02\x03");
  EXPECT_EQ(out[1].args[1].ref, (ObjectId{TaskId{NodeId(1), 5}, 0}));
  EXPECT_EQ(out[1].resources, (std::vector<std::pair<std::string, double>>{{"CPU", 0.5}}));
  EXPECT_EQ(out[1].max_retries, 4);
  EXPECT_TRUE(out[1].retry_exceptions);
}

TEST(Wire, NodeDeathsRoundTripAndRejectTheNilNode) {
  std::string enc = EncodeNodeDeaths({{NodeId(3), "no heartbeat for 5001 ms"}, {NodeId(7), ""}});
  std::vector<std::pair<NodeId, std::string>> out;
  ASSERT_TRUE(DecodeNodeDeaths(B(enc), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, NodeId(3));
  EXPECT_EQ(out[0].second, "no heartbeat for 5001 ms");
  EXPECT_EQ(out[1].first, NodeId(7));
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(DecodeNodeDeaths(B(enc.substr(0, n)), &out).ok()) << n << " bytes accepted";
  EXPECT_FALSE(DecodeNodeDeaths(B(EncodeNodeDeaths({{NodeId(), "nil"}})), &out).ok());
}

TEST(Wire, MembershipMessagesRoundTripAndRejectTruncation) {
  MemberInfo head{NodeId(0), "addr-0", "n001", 41, ResourceSet::FromPairs({{"CPU", 4.0}})};
  JoinRequest req;
  req.provisional = 0x80001234u;
  req.token = "0123abcd";
  req.function_hash = 77;
  req.function_count = 5;
  req.joiner = {NodeId(), "addr-x", "n002", 42, ResourceSet::FromPairs({{"joiner", 1.0}})};
  JoinRequest req_out;
  std::string enc = EncodeJoinRequest(req);
  ASSERT_TRUE(DecodeJoinRequest(B(enc), &req_out).ok());
  EXPECT_EQ(req_out.provisional, req.provisional);
  EXPECT_EQ(req_out.token, "0123abcd");
  EXPECT_EQ(req_out.function_hash, 77u);
  EXPECT_EQ(req_out.joiner.address, "addr-x");
  EXPECT_EQ(req_out.joiner.resources.Get("joiner"), 1.0);
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(DecodeJoinRequest(B(enc.substr(0, n)), &req_out).ok()) << n << " bytes accepted";

  JoinReply reply;
  reply.accepted = true;
  reply.node = NodeId(5);
  reply.session_id = "abc";
  reply.session_name = "ferry-0-slurm-12.0";
  reply.members = {head};
  JoinReply reply_out;
  enc = EncodeJoinReply(reply);
  ASSERT_TRUE(DecodeJoinReply(B(enc), &reply_out).ok());
  EXPECT_TRUE(reply_out.accepted);
  EXPECT_EQ(reply_out.node, NodeId(5));
  EXPECT_EQ(reply_out.session_name, "ferry-0-slurm-12.0");
  ASSERT_EQ(reply_out.members.size(), 1u);
  EXPECT_EQ(reply_out.members[0].hostname, "n001");
  EXPECT_EQ(reply_out.members[0].resources.Get("CPU"), 4.0);
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(DecodeJoinReply(B(enc.substr(0, n)), &reply_out).ok()) << n << " bytes accepted";
  // An acceptance must say who the joiner is; a refusal carries only its reason.
  JoinReply bad = reply;
  bad.node = NodeId();
  EXPECT_FALSE(DecodeJoinReply(B(EncodeJoinReply(bad)), &reply_out).ok());
  JoinReply refusal;
  refusal.reason = "it presented a wrong session token";
  ASSERT_TRUE(DecodeJoinReply(B(EncodeJoinReply(refusal)), &reply_out).ok());
  EXPECT_FALSE(reply_out.accepted);
  EXPECT_EQ(reply_out.reason, refusal.reason);

  MemberInfo m_out;
  ASSERT_TRUE(DecodeMemberInfo(B(EncodeMemberInfo(head)), &m_out).ok());
  EXPECT_EQ(m_out.pid, 41);
  MemberInfo nil = head;
  nil.node = NodeId();
  EXPECT_FALSE(DecodeMemberInfo(B(EncodeMemberInfo(nil)), &m_out).ok());
}

TEST(Wire, NodeStatesCarryDraining) {
  NodeState s;
  s.node = NodeId(2);
  s.draining = true;
  std::vector<NodeState> out;
  ASSERT_TRUE(DecodeNodeStates(B(EncodeNodeStates({s})), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].alive);
  EXPECT_TRUE(out[0].draining);
}

TaskSpec SampleCreation() {
  TaskSpec s = SampleSpec();
  s.kind = TaskKind::kActorCreation;
  s.actor = ActorId{s.id};
  s.actor_options->name = "ledger";
  s.actor_options->ns = "accounts";
  s.actor_options->class_name = "6Ledger";
  s.actor_options->max_restarts = -1;
  s.actor_options->max_concurrency = 4;
  s.actor_options->max_task_retries = 2;
  s.actor_options->detached = true;
  s.actor_options->incarnation = 3;
  s.actor_options->request_id = 11;
  return s;
}

TEST(Wire, ActorSpecsRoundTrip) {
  TaskSpec call = SampleSpec();
  call.kind = TaskKind::kActorCall;
  call.actor = ActorId{TaskId{NodeId(1), 9}};
  std::vector<TaskSpec> out;
  ASSERT_TRUE(DecodeTaskSpecs(B(EncodeTaskSpecs({SampleCreation(), call})), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, TaskKind::kActorCreation);
  EXPECT_EQ(out[0].actor, (ActorId{TaskId{NodeId(2), 77}}));
  const ActorOptions& o = *out[0].actor_options;
  EXPECT_EQ(o.name, "ledger");
  EXPECT_EQ(o.ns, "accounts");
  EXPECT_EQ(o.class_name, "6Ledger");
  EXPECT_EQ(o.max_restarts, -1);
  EXPECT_EQ(o.max_concurrency, 4);
  EXPECT_EQ(o.max_task_retries, 2);
  EXPECT_TRUE(o.detached);
  EXPECT_EQ(o.incarnation, 3u);
  EXPECT_EQ(o.request_id, 11u);
  EXPECT_EQ(out[1].kind, TaskKind::kActorCall);
  EXPECT_EQ(out[1].actor, (ActorId{TaskId{NodeId(1), 9}}));
  // A call's resources travel as given (calls run on what their actor holds: the owner and
  // the raylet ignore them).
  EXPECT_EQ(out[1].resources, call.resources);
}

TEST(Wire, ActorEventsRoundTrip) {
  ActorEvent e;
  e.request_id = 5;
  e.actor = ActorId{TaskId{NodeId(0), 3}};
  e.state = ActorState::kRestarting;
  e.node = NodeId(2);
  e.incarnation = 1;
  e.flag = true;
  e.max_task_retries = -1;
  e.name = "n";
  e.ns = "ns";
  e.class_name = "7Counter";
  e.message = "it was killed";
  ActorEvent got;
  ASSERT_TRUE(DecodeActorEvent(B(EncodeActorEvent(e)), &got).ok());
  EXPECT_EQ(got.request_id, 5u);
  EXPECT_EQ(got.actor, e.actor);
  EXPECT_EQ(got.state, ActorState::kRestarting);
  EXPECT_EQ(got.node, NodeId(2));
  EXPECT_EQ(got.incarnation, 1u);
  EXPECT_TRUE(got.flag);
  EXPECT_EQ(got.max_task_retries, -1);
  EXPECT_EQ(got.class_name, "7Counter");
  EXPECT_EQ(got.message, "it was killed");
}

TEST(Wire, SchedulingFieldsOfTaskSpecsRoundTrip) {
  TaskSpec s;
  s.id = TaskId{NodeId(1), 4};
  s.return_id = ObjectId{s.id, 0};
  s.function = "f";
  s.strategy = 2;
  s.affinity_node = NodeId(7);
  s.affinity_soft = true;
  s.placement_group = PlacementGroupId{TaskId{NodeId(0), 9}};
  s.bundle_index = 3;
  s.spillbacks = 2;
  std::vector<TaskSpec> out;
  ASSERT_TRUE(DecodeTaskSpecs(B(EncodeTaskSpecs({s})), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].strategy, 2);
  EXPECT_EQ(out[0].affinity_node, NodeId(7));
  EXPECT_TRUE(out[0].affinity_soft);
  EXPECT_EQ(out[0].placement_group, s.placement_group);
  EXPECT_EQ(out[0].bundle_index, 3);
  EXPECT_EQ(out[0].spillbacks, 2);
  s.strategy = 5;  // unknown strategy
  EXPECT_FALSE(DecodeTaskSpecs(B(EncodeTaskSpecs({s})), &out).ok());
}

TEST(Wire, NodeStatesForwardsAndPlacementGroupsRoundTrip) {
  NodeState a;
  a.node = NodeId(3);
  a.alive = false;
  a.total = ResourceSet::FromPairs({{"CPU", 4}, {"GPU", 1}, {"licenses", 2}});
  a.available = ResourceSet::FromPairs({{"CPU", -0.5}});  // a lent CPU given back early
  a.reserved = ResourceSet::FromPairs({{"CPU", 1.25}});
  a.queued = 17;
  a.actors = 2;
  std::vector<NodeState> back;
  ASSERT_TRUE(DecodeNodeStates(B(EncodeNodeStates({a})), &back).ok());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].node, NodeId(3));
  EXPECT_FALSE(back[0].alive);
  EXPECT_EQ(back[0].total, a.total);
  EXPECT_EQ(back[0].available, a.available);
  EXPECT_EQ(back[0].reserved, a.reserved);
  EXPECT_EQ(back[0].queued, 17);
  EXPECT_EQ(back[0].actors, 2);
  NodeState neg = a;
  neg.total = ResourceSet::FromPairs({{"CPU", -1}});  // only availability may be negative
  EXPECT_FALSE(DecodeNodeStates(B(EncodeNodeStates({neg})), &back).ok());

  std::vector<std::pair<TaskId, NodeId>> fw = {{TaskId{NodeId(0), 5}, NodeId(2)}}, fw_back;
  ASSERT_TRUE(DecodeForwards(B(EncodeForwards(fw)), &fw_back).ok());
  EXPECT_EQ(fw_back, fw);

  PgEvent pg;
  pg.request_id = 8;
  pg.pg = PlacementGroupId{TaskId{NodeId(1), 2}};
  pg.name = "sweep";
  pg.strategy = 3;
  pg.state = PgState::kCreated;
  pg.bundles = {ResourceSet::FromPairs({{"CPU", 1}}), ResourceSet::FromPairs({{"GPU", 0.5}})};
  pg.indices = {0, 1};
  pg.nodes = {NodeId(1), NodeId(2)};
  pg.flag = true;
  pg.message = "ok";
  std::vector<PgEvent> pgs;
  ASSERT_TRUE(DecodePgEvents(B(EncodePgEvents({pg, pg})), &pgs).ok());
  ASSERT_EQ(pgs.size(), 2u);
  EXPECT_EQ(pgs[1].pg, pg.pg);
  EXPECT_EQ(pgs[1].name, "sweep");
  EXPECT_EQ(pgs[1].strategy, 3);
  EXPECT_EQ(pgs[1].state, PgState::kCreated);
  EXPECT_EQ(pgs[1].bundles, pg.bundles);
  EXPECT_EQ(pgs[1].indices, pg.indices);
  EXPECT_EQ(pgs[1].nodes, pg.nodes);
  EXPECT_TRUE(pgs[1].flag);
  pg.strategy = 4;  // no such placement strategy
  EXPECT_FALSE(DecodePgEvents(B(EncodePgEvents({pg})), &pgs).ok());
}

TEST(Wire, MalformedActorMessagesAreRejected) {
  std::string ev = EncodeActorEvent(ActorEvent{});
  for (size_t n = 0; n < ev.size(); ++n) {
    ActorEvent out;
    EXPECT_FALSE(DecodeActorEvent(B(ev.substr(0, n)), &out).ok()) << n;
  }
  std::string creation = EncodeTaskSpecs({SampleCreation()});
  for (size_t n = 0; n < creation.size(); ++n) {
    std::vector<TaskSpec> out;
    EXPECT_FALSE(DecodeTaskSpecs(B(creation.substr(0, n)), &out).ok()) << n;
  }
  // A state byte past the last state, and a zero max_concurrency, are refused by name.
  std::string bad_state = ev;
  bad_state[1 + 8 + 12] = 9;
  ActorEvent out;
  Status st = DecodeActorEvent(B(bad_state), &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("actor state"), std::string::npos) << st.ToString();
  TaskSpec zero = SampleCreation();
  zero.actor_options->max_concurrency = 0;
  std::vector<TaskSpec> specs;
  st = DecodeTaskSpecs(B(EncodeTaskSpecs({zero})), &specs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("actor options"), std::string::npos) << st.ToString();
}

TEST(Wire, ResultsAndObjectInfoRoundTrip) {
  TaskResult a;
  a.task = TaskId{NodeId(0), 1};
  a.return_id = ObjectId{a.task, 0};
  a.value.kind = ObjectValue::Kind::kLocation;
  a.value.location = {NodeId(3), 0x1000, 1 << 20, "rkey-bytes"};
  TaskResult b = a;
  b.value = {};
  b.value.kind = ObjectValue::Kind::kError;
  b.value.error = {ErrorKind::kTaskError, "boom"};
  std::vector<TaskResult> out;
  ASSERT_TRUE(DecodeTaskResults(B(EncodeTaskResults({a, b})), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value.location.node, NodeId(3));
  EXPECT_EQ(out[0].value.location.size, 1u << 20);
  EXPECT_EQ(out[0].value.location.rkey, "rkey-bytes");
  EXPECT_EQ(out[1].value.error.kind, ErrorKind::kTaskError);
  EXPECT_EQ(out[1].value.error.message, "boom");

  ObjectInfoReply rep{9, a.return_id, {}};
  rep.value.data = B("hello");
  ObjectInfoReply got;
  ASSERT_TRUE(DecodeObjectInfo(B(EncodeObjectInfo(rep)), &got).ok());
  EXPECT_EQ(got.request_id, 9u);
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(got.value.data.data()), got.value.data.size()),
      "hello");
}

TEST(Wire, EveryTruncationIsRejectedNotCrashed) {
  std::string enc = EncodeTaskSpecs({SampleSpec()});
  for (size_t n = 0; n < enc.size(); ++n) {
    std::vector<TaskSpec> out;
    Status st = DecodeTaskSpecs(B(enc.substr(0, n)), &out);
    EXPECT_FALSE(st.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  }
}

TEST(Wire, RandomGarbageNeverCrashesAnyDecoder) {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    if (!s.empty() && rng() % 2) s[0] = static_cast<char>(kWireVersion);
    Buffer b = B(s);
    std::vector<TaskSpec> specs;
    std::vector<TaskResult> results;
    std::vector<ObjectId> ids;
    GetObjectRequest g;
    ObjectInfoReply o;
    uint64_t seq;
    ActorEvent ev;
    std::vector<NodeState> states;
    std::vector<std::pair<TaskId, NodeId>> forwards;
    std::vector<PgEvent> pgs;
    (void)DecodeActorEvent(b, &ev);
    (void)DecodeNodeStates(b, &states);
    (void)DecodeForwards(b, &forwards);
    std::vector<std::pair<NodeId, std::string>> deaths;
    (void)DecodeNodeDeaths(b, &deaths);
    JoinRequest jreq;
    JoinReply jrep;
    MemberInfo member;
    (void)DecodeJoinRequest(b, &jreq);
    (void)DecodeJoinReply(b, &jrep);
    (void)DecodeMemberInfo(b, &member);
    (void)DecodePgEvents(b, &pgs);
    (void)DecodeTaskSpecs(b, &specs);
    (void)DecodeTaskResults(b, &results);
    (void)DecodeFreeObjects(b, &ids);
    (void)DecodeGetObject(b, &g);
    (void)DecodeObjectInfo(b, &o);
    (void)DecodeSeq(b, &seq);
  }
}

TEST(Wire, HugeCountsAreRejectedBeforeAllocating) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(0xffffffffu);  // four billion specs in a 5-byte message
  std::vector<TaskSpec> out;
  EXPECT_FALSE(DecodeTaskSpecs(B(w.Finish()), &out).ok());
}

TEST(Wire, WrongVersionIsNamed) {
  std::string enc = EncodeSeq(1);
  enc[0] = 99;
  uint64_t seq;
  Status st = DecodeSeq(B(enc), &seq);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("wire version 99"), std::string::npos);
}

}  // namespace
}  // namespace ferry::wire
