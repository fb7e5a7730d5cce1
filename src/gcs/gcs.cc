#include "src/gcs/gcs.h"

#include "src/common/logging.h"
#include "src/wire/messages.h"

namespace ferry::gcs {

GcsServer::GcsServer(EventLoop* loop, transport::Messenger* messenger, std::vector<NodeEntry> nodes,
                     std::chrono::milliseconds heartbeat_period,
                     std::chrono::milliseconds view_period)
    : loop_(loop),
      messenger_(messenger),
      nodes_(std::move(nodes)),
      period_(heartbeat_period),
      cluster_(loop, messenger, view_period),
      actors_(loop, messenger, &cluster_),
      pgs_(loop, messenger, &cluster_, &actors_) {
  for (const NodeEntry& n : nodes_) {
    cluster_.AddNode(n.id, n.resources);
    if (!n.alive) cluster_.MarkDead(n.id);
  }
  cluster_.OnFreed([this] {
    actors_.TryPending();
    pgs_.TryPending();
  });
}

void GcsServer::Start() {
  if (nodes_.size() > 1) beat_timer_ = loop_->AddTimer(period_, [this] { Beat(); });
  cluster_.Start();
  pgs_.Start();
}

void GcsServer::Beat() {
  ++seq_;
  for (const NodeEntry& n : nodes_) {
    if (!n.alive || n.id == messenger_->self()) continue;
    messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kHeartbeat), wire::EncodeSeq(seq_));
  }
}

void GcsServer::BeginShutdown(std::chrono::milliseconds timeout,
                              std::function<void(std::vector<NodeId>)> done) {
  shutdown_done_ = std::move(done);
  for (const NodeEntry& n : nodes_) {
    if (!n.alive || n.id == messenger_->self()) continue;
    awaiting_ack_.insert(n.id);
    messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kShutdown),
                     wire::EncodeSeq(++seq_));
  }
  if (beat_timer_ != 0) loop_->CancelTimer(beat_timer_);
  beat_timer_ = 0;
  cluster_.Stop();
  pgs_.Stop();
  shutdown_timer_ = loop_->AddTimer(timeout, [this] { MaybeFinishShutdown(/*timed_out=*/true); });
  MaybeFinishShutdown(false);
}

void GcsServer::HandleShutdownAck(NodeId from) {
  awaiting_ack_.erase(from);
  MaybeFinishShutdown(false);
}

void GcsServer::OnNodeDead(NodeId node) {
  for (NodeEntry& n : nodes_)
    if (n.id == node && n.alive) {
      n.alive = false;
      FERRY_LOG(WARNING) << node << " (" << n.hostname << ", pid " << n.pid << ") is dead";
    }
  awaiting_ack_.erase(node);
  cluster_.MarkDead(node);
  actors_.OnNodeDead(node);
  pgs_.OnNodeDead(node);
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
