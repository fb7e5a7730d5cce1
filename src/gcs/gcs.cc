#include "src/gcs/gcs.h"

#include <algorithm>

#include "src/common/logging.h"
#include "src/wire/messages.h"

namespace ferry::gcs {

GcsServer::GcsServer(EventLoop* loop, const Clock* clock, transport::Messenger* messenger,
                     std::vector<NodeEntry> nodes, Timing timing, DeadCallback on_dead)
    : loop_(loop),
      clock_(clock),
      messenger_(messenger),
      nodes_(std::move(nodes)),
      timing_(timing),
      on_dead_(std::move(on_dead)),
      cluster_(loop, messenger, timing.view_period),
      actors_(loop, messenger, &cluster_),
      pgs_(loop, messenger, &cluster_, &actors_) {
  for (const NodeEntry& n : nodes_) {
    cluster_.AddNode(n.id, n.resources);
    if (!n.alive) cluster_.MarkDead(n.id);
    next_id_ = std::max(next_id_, n.id.value() + 1);
  }
  cluster_.OnFreed([this] {
    actors_.TryPending();
    pgs_.TryPending();
  });
}

void GcsServer::Start() {
  last_heard_.assign(nodes_.size(), clock_->Now());
  last_check_ = clock_->Now();
  if (nodes_.size() > 1)
    beat_timer_ = loop_->AddTimer(timing_.heartbeat_period, [this] { Beat(); });
  cluster_.Start();
  pgs_.Start();
}

void GcsServer::AddNode(NodeEntry entry) {
  const NodeId id = entry.id;
  FERRY_LOG(INFO) << id << " joined from " << entry.hostname << " (pid " << entry.pid
                  << ") offering " << entry.resources.ToString();
  cluster_.AddNode(id, entry.resources);
  nodes_.push_back(std::move(entry));
  last_heard_.resize(nodes_.size(), clock_->Now());
  last_heard_.back() = clock_->Now();
  cluster_.SendFullView(id);
  if (beat_timer_ == 0)
    beat_timer_ = loop_->AddTimer(timing_.heartbeat_period, [this] { Beat(); });
}

void GcsServer::Beat() {
  ++seq_;
  // At shutdown the workers stop watching the head, but the head still watches them: one that
  // dies before it confirms must not hold the shutdown up.
  for (const NodeEntry& n : nodes_) {
    if (shutting_down_) break;
    if (!n.alive || n.id == messenger_->self()) continue;
    messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kHeartbeat), wire::EncodeSeq(seq_));
  }
  CheckSilence();
}

void GcsServer::HandleHeartbeat(NodeId from) {
  for (size_t i = 0; i < nodes_.size() && i < last_heard_.size(); ++i)
    if (nodes_[i].id == from) last_heard_[i] = clock_->Now();
}

void GcsServer::CheckSilence() {
  const Clock::TimePoint now = clock_->Now();
  // A stalled head loop (an oversubscribed core, a long copy) leaves heartbeats unread in the
  // transport: silence measured across the stall proves nothing, so everyone gets a fresh
  // window.
  if (now - last_check_ > timing_.heartbeat_timeout / 2)
    for (Clock::TimePoint& t : last_heard_) t = now;
  last_check_ = now;
  std::vector<std::pair<NodeId, int64_t>> silent;
  for (size_t i = 0; i < nodes_.size() && i < last_heard_.size(); ++i) {
    if (!nodes_[i].alive || nodes_[i].id == messenger_->self()) continue;
    auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_[i]);
    if (quiet > timing_.heartbeat_timeout) silent.emplace_back(nodes_[i].id, quiet.count());
  }
  for (const auto& [node, ms] : silent)
    DeclareDead(node, "no heartbeat for " + std::to_string(ms) + " ms; the timeout is " +
                          std::to_string(timing_.heartbeat_timeout.count()) + " ms");
}

void GcsServer::HandleNodeDeadReport(NodeId from, const Buffer& msg) {
  std::vector<std::pair<NodeId, std::string>> deaths;
  if (Status st = wire::DecodeNodeDeaths(msg, &deaths); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed NodeDead report from " << from << ": "
                                  << st.ToString();
    return;
  }
  if (!IsAlive(from)) return;  // a node declared dead has no say
  for (const auto& [node, why] : deaths)
    DeclareDead(node, from.ToString() + " lost its connection to it (" + why + ")");
}

bool GcsServer::IsAlive(NodeId node) const {
  for (const NodeEntry& n : nodes_)
    if (n.id == node) return n.alive;
  return false;
}

void GcsServer::BeginShutdown(std::chrono::milliseconds timeout,
                              std::function<void(std::vector<NodeId>)> done) {
  shutdown_done_ = std::move(done);
  shutting_down_ = true;
  for (const NodeEntry& n : nodes_) {
    if (!n.alive || n.id == messenger_->self()) continue;
    awaiting_ack_.insert(n.id);
    messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kShutdown),
                     wire::EncodeSeq(++seq_));
  }
  cluster_.Stop();
  pgs_.Stop();
  shutdown_timer_ = loop_->AddTimer(timeout, [this] { MaybeFinishShutdown(/*timed_out=*/true); });
  MaybeFinishShutdown(false);
}

NodeEntry* GcsServer::FindEntry(NodeId node) {
  for (NodeEntry& n : nodes_)
    if (n.id == node) return &n;
  return nullptr;
}

bool GcsServer::IsDraining(NodeId node) const {
  for (const NodeEntry& n : nodes_)
    if (n.id == node) return n.alive && !n.draining.empty();
  return false;
}

Status GcsServer::Drain(NodeId node, const std::string& reason) {
  if (node == messenger_->self())
    return FailedPreconditionError("the head (" + node.ToString() + ") cannot leave its cluster");
  NodeEntry* entry = FindEntry(node);
  if (entry == nullptr) return NotFoundError(node.ToString() + " is not a node of this cluster");
  if (!entry->alive) return FailedPreconditionError(node.ToString() + " is dead already");
  if (!entry->draining.empty())
    return AlreadyExistsError(node.ToString() + " is draining already (" + entry->draining + ")");
  if (shutting_down_) return FailedPreconditionError("the cluster is shutting down");
  entry->draining = reason.empty() ? std::string("requested") : reason;
  FERRY_LOG(INFO) << "draining " << node << " (" << entry->hostname << ", pid " << entry->pid
                  << "): " << entry->draining;
  cluster_.MarkDraining(node);
  messenger_->Send(node, static_cast<uint16_t>(wire::MsgType::kDrain),
                   wire::EncodeNodeDeaths({{node, entry->draining}}));
  return Status::Ok();
}

void GcsServer::HandleDrainRequest(NodeId from, const Buffer& msg) {
  std::vector<std::pair<NodeId, std::string>> requests;
  if (Status st = wire::DecodeNodeDeaths(msg, &requests); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed DrainRequest from " << from << ": "
                                  << st.ToString();
    return;
  }
  for (const auto& [node, reason] : requests) {
    if (Status st = Drain(node, reason); !st.ok() && st.code() != StatusCode::kAlreadyExists)
      FERRY_LOG(WARNING) << "cannot drain " << node << " as " << from
                         << " asked: " << st.message();
  }
}

void GcsServer::HandleLeave(NodeId from) {
  NodeEntry* entry = FindEntry(from);
  if (entry == nullptr || !entry->alive || entry->draining.empty() || entry->leaving) {
    FERRY_LOG_RATE_LIMITED(WARNING) << "dropped a Leave from " << from << ": it is not draining";
    return;
  }
  entry->leaving = true;
  messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kShutdown), wire::EncodeSeq(++seq_));
  // Declared gone once it confirms; its endpoint is closed only then, so the word reaches it.
  loop_->AddOneShot(std::chrono::seconds(5), [this, from] { FinishLeave(from); });
}

void GcsServer::FinishLeave(NodeId node) {
  NodeEntry* entry = FindEntry(node);
  if (entry == nullptr || !entry->alive || !entry->leaving) return;
  DeclareDead(node, std::string(wire::kLeftTheCluster) + " after draining (" + entry->draining + ")",
              /*tell_it=*/false);
}

void GcsServer::HandleShutdownAck(NodeId from) {
  if (NodeEntry* entry = FindEntry(from); entry != nullptr && entry->leaving) {
    FinishLeave(from);
    return;
  }
  awaiting_ack_.erase(from);
  MaybeFinishShutdown(false);
}

void GcsServer::DeclareDead(NodeId node, const std::string& why, bool tell_it) {
  if (node == messenger_->self()) return;
  NodeEntry* entry = nullptr;
  for (NodeEntry& n : nodes_)
    if (n.id == node) entry = &n;
  if (entry == nullptr || !entry->alive) return;
  entry->alive = false;
  // At shutdown, a worker that exits before its acknowledgement is read is no failure.
  if (entry->leaving) {
    FERRY_LOG(INFO) << node << " (" << entry->hostname << ", pid " << entry->pid << ") " << why;
  } else if (shutting_down_) {
    FERRY_LOG(INFO) << node << " left during shutdown: " << why;
  } else {
    FERRY_LOG(WARNING) << node << " (" << entry->hostname << ", pid " << entry->pid
                       << ") is dead: " << why;
  }
  const std::string bytes = wire::EncodeNodeDeaths({{node, why}});
  for (const NodeEntry& n : nodes_) {
    if (n.id == messenger_->self() || (!n.alive && (n.id != node || !tell_it))) continue;
    messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kNodeDead), bytes);
  }
  awaiting_ack_.erase(node);
  cluster_.MarkDead(node);
  actors_.OnNodeDead(node);
  pgs_.OnNodeDead(node);
  if (on_dead_) on_dead_(node, why);
  if (shutdown_done_) MaybeFinishShutdown(false);
}

void GcsServer::MaybeFinishShutdown(bool timed_out) {
  if (!shutdown_done_) return;
  if (!awaiting_ack_.empty() && !timed_out) return;
  loop_->CancelTimer(shutdown_timer_);
  std::vector<NodeId> missing(awaiting_ack_.begin(), awaiting_ack_.end());
  awaiting_ack_.clear();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done(std::move(missing));
}

HeadMonitor::HeadMonitor(EventLoop* loop, const Clock* clock, std::chrono::milliseconds timeout,
                         std::function<void(const std::string& why)> on_lost)
    : loop_(loop), clock_(clock), timeout_(timeout), on_lost_(std::move(on_lost)) {}

void HeadMonitor::Start() {
  last_ = clock_->Now();
  last_check_ = last_;
  auto period = std::max(std::chrono::milliseconds(10), timeout_ / 10);
  timer_ = loop_->AddTimer(period, [this] { Check(); });
}

void HeadMonitor::Stop() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
}

void HeadMonitor::HandleHeartbeat() {
  last_ = clock_->Now();
  if (last_check_ == Clock::TimePoint()) last_check_ = last_;
}

void HeadMonitor::Check() {
  if (lost_) return;
  Clock::TimePoint now = clock_->Now();
  // If this loop itself was stalled (a long copy, a page-fault storm, an oversubscribed core),
  // the head's heartbeats may be sitting unread in the transport: silence measured across the
  // stall proves nothing. Give the head a fresh window instead.
  if (last_check_ != Clock::TimePoint() && now - last_check_ > timeout_ / 2) last_ = now;
  last_check_ = now;
  auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_);
  if (silent > timeout_)
    OnHeadDead("no heartbeat from the head for " + std::to_string(silent.count()) + " ms");
}

void HeadMonitor::OnHeadDead(const std::string& why) {
  if (lost_) return;
  lost_ = true;
  Stop();
  on_lost_(why);
}

}  // namespace ferry::gcs
