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
  EXPECT_DOUBLE_EQ(out[1].cpus(), 0.5);
  EXPECT_EQ(out[1].max_retries, 4);
}

TaskSpec SampleCreation() {
  TaskSpec s = SampleSpec();
  s.kind = TaskKind::kActorCreation;
  s.actor = ActorId{s.id};
  s.actor_options.name = "ledger";
  s.actor_options.ns = "accounts";
  s.actor_options.class_name = "6Ledger";
  s.actor_options.max_restarts = -1;
  s.actor_options.max_concurrency = 4;
  s.actor_options.max_task_retries = 2;
  s.actor_options.detached = true;
  s.actor_options.incarnation = 3;
  s.actor_options.request_id = 11;
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
  const ActorOptions& o = out[0].actor_options;
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
  EXPECT_DOUBLE_EQ(out[1].cpus(), 0.0);  // calls run on the CPUs their actor holds
}

TEST(Wire, ActorEventsAndNodeResourcesRoundTrip) {
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

  std::vector<std::pair<NodeId, double>> held = {{NodeId(0), 1.5}, {NodeId(4), 0}}, back;
  ASSERT_TRUE(DecodeNodeResources(B(EncodeNodeResources(held)), &back).ok());
  EXPECT_EQ(back, held);
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
  zero.actor_options.max_concurrency = 0;
  std::vector<TaskSpec> specs;
  st = DecodeTaskSpecs(B(EncodeTaskSpecs({zero})), &specs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("actor options"), std::string::npos) << st.ToString();
  // Negative held CPUs.
  std::vector<std::pair<NodeId, double>> held;
  EXPECT_FALSE(DecodeNodeResources(B(EncodeNodeResources({{NodeId(1), -1.0}})), &held).ok());
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
    std::vector<std::pair<NodeId, double>> held;
    (void)DecodeActorEvent(b, &ev);
    (void)DecodeNodeResources(b, &held);
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
