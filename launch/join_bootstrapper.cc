#include "launch/join_bootstrapper.h"

#include <poll.h>
#include <sys/stat.h>

#include <cstdlib>
#include <optional>
#include <random>

#include "launch/session.h"
#include "src/common/logging.h"
#include "src/transport/transport.h"
#include "src/wire/messages.h"

namespace ferry::launch {
namespace {

constexpr uint16_t Type(wire::MsgType t) { return static_cast<uint16_t>(t); }

// Provisional indices live in the upper half of the index space, far above any node id the
// head gives; they never equal NodeId's nil value.
uint32_t ProvisionalIndex() {
  std::random_device rd;
  uint32_t v = 0x80000000u | (static_cast<uint32_t>(rd()) & 0x7fffffffu);
  return v == NodeId().value() ? v - 1 : v;
}

class JoinBootstrapper final : public Bootstrapper {
 public:
  JoinBootstrapper(std::string head, std::string token, std::string origin,
                   std::chrono::milliseconds timeout, std::string launch_id)
      : head_(std::move(head)),
        token_(std::move(token)),
        origin_(std::move(origin)),
        timeout_(timeout),
        launch_id_(std::move(launch_id)),
        rank_(ProvisionalIndex()) {}

  std::string Name() const override { return "join"; }
  uint32_t Rank() const override { return rank_; }
  // One of several in its cluster: a failure ends this process alone (Abort), never quietly.
  uint32_t Size() const override { return 2; }
  void UseTransport(transport::Transport* transport) override { transport_ = transport; }

  Result<Topology> Exchange(const PeerInfo& mine) override {
    if (transport_ == nullptr)
      return FailedPreconditionError("joining needs the transport (ucx) before the exchange");
    std::optional<Status> failed;
    std::optional<wire::JoinReply> reply;
    transport_->SetHandlers(
        [&](transport::PeerIndex from, uint16_t type, internal::Buffer data) {
          if (from != 0 || type != Type(wire::MsgType::kJoinReply)) {
            FERRY_LOG_RATE_LIMITED(WARNING) << "joining: ignored message type " << type
                                            << " from index " << from;
            return;
          }
          wire::JoinReply r;
          if (Status st = wire::DecodeJoinReply(data, &r); !st.ok()) {
            failed = st.WithContext("the head's answer");
            return;
          }
          reply = std::move(r);
        },
        [&](transport::PeerIndex peer, const Status& why) {
          if (peer == 0 && !reply) failed = why;
        });
    FERRY_RETURN_IF_ERROR(transport_->ConnectTo(0, head_).WithContext(
        "joining the cluster at " + head_ + origin_));
    wire::JoinRequest req;
    req.provisional = rank_;
    req.token = token_;
    req.function_hash = mine.function_hash;
    req.function_count = mine.function_count;
    req.joiner.address = mine.address;
    req.joiner.hostname = mine.hostname;
    req.joiner.pid = mine.pid;
    req.joiner.resources = mine.resources;
    req.launch_id = launch_id_;
    FERRY_RETURN_IF_ERROR(
        transport_->Send(0, Type(wire::MsgType::kJoinRequest),
                         internal::Buffer::FromString(wire::EncodeJoinRequest(req))));

    EventLoop::Poller poller = transport_->MakePoller();
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (!reply && !failed) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline)
        return DeadlineExceededError("no answer from the head at " + head_ + origin_ + " in " +
                                     std::to_string(timeout_.count()) +
                                     " ms (FERRY_JOIN_TIMEOUT_MS)");
      if (poller.progress()) continue;
      if (!poller.arm()) continue;
      pollfd pfd{poller.fd, POLLIN, 0};
      ::poll(&pfd, 1, 50);
    }
    if (failed)
      return UnavailableError("cannot reach the head at " + head_ + origin_ + ": " +
                              failed->message());
    if (!reply->accepted)
      return FailedPreconditionError("the head at " + head_ + " refused this process: " +
                                     reply->reason);
    rank_ = reply->node.value();
    transport_->SetSelf(rank_);
    Topology t;
    t.rank = rank_;
    t.session_id = reply->session_id;
    t.session_name = reply->session_name;
    t.head_listen = head_;
    t.token = token_;
    for (const wire::MemberInfo& m : reply->members) {
      PeerInfo p;
      p.rank = m.node.value();
      p.address = m.address;
      p.hostname = m.hostname;
      p.pid = m.pid;
      p.resources = m.resources;
      p.function_hash = mine.function_hash;  // the head compared them
      p.function_count = mine.function_count;
      p.session_id = reply->session_id;
      t.peers.push_back(std::move(p));
    }
    PeerInfo me = mine;
    me.rank = rank_;
    me.session_id = reply->session_id;
    t.peers.push_back(std::move(me));
    return t;
  }

  void Finalize() override {}
  [[noreturn]] void Abort(int code) override { std::_Exit(code); }

 private:
  const std::string head_;
  const std::string token_;
  const std::string origin_;  // " (from <session dir>)" or ""
  const std::chrono::milliseconds timeout_;
  const std::string launch_id_;
  uint32_t rank_;
  transport::Transport* transport_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Bootstrapper>> CreateJoinBootstrapper(const JoinOptions& options) {
  if (options.address.empty())
    return InvalidArgumentError("joining needs an address (FERRY_ADDRESS): a session directory "
                                "or the head's host:port");
  struct stat st {};
  std::string head = options.address;
  std::string token = options.token;
  std::string origin;
  if (::stat(options.address.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    FERRY_ASSIGN_OR_RETURN(SessionFiles files,
                           ReadSessionFiles(options.address, /*need_token=*/token.empty()));
    head = files.head;
    if (token.empty()) token = files.token;
    origin = " (from " + options.address + ")";
  } else if (options.address.find('/') != std::string::npos) {
    return NotFoundError("FERRY_ADDRESS=" + options.address +
                         " is neither a session directory on this host nor host:port");
  }
  // Without a token the head refuses, and says so on both sides.
  return std::unique_ptr<Bootstrapper>(
      new JoinBootstrapper(head, token, origin, options.timeout, options.launch_id));
}

}  // namespace ferry::launch
