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
