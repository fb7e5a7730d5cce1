// The head's control service (GcsServer) and the workers' watch on it (HeadMonitor).
// In this release membership is fixed at bootstrap: the GCS keeps the node table, the cluster
// view (ClusterTable), the actor table (ActorDirectory), sends heartbeats, and coordinates shutdown (every worker confirms
// before the head goes).
// A worker that stops hearing the head ends itself non-zero: the driver is gone.
// Both classes are confined to the event loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ferry/ids.h"
#include "src/common/clock.h"
#include "src/common/event_loop.h"
#include "src/gcs/actor_directory.h"
#include "src/gcs/cluster_table.h"
#include "src/gcs/pg_directory.h"
#include "src/transport/messenger.h"

namespace ferry::gcs {

struct NodeEntry {
  NodeId id;
  std::string hostname;
  int pid = 0;
  ResourceSet resources;
  bool alive = true;
};

class GcsServer {
 public:
  GcsServer(EventLoop* loop, transport::Messenger* messenger, std::vector<NodeEntry> nodes,
            std::chrono::milliseconds heartbeat_period, std::chrono::milliseconds view_period);
  void Start();
  // Tells every live worker to shut down; `done` runs once all confirmed or `timeout` passed,
  // with the nodes that did not confirm.
  void BeginShutdown(std::chrono::milliseconds timeout,
                     std::function<void(std::vector<NodeId>)> done);
  void HandleShutdownAck(NodeId from);
  void OnNodeDead(NodeId node);
  ActorDirectory& actors() { return actors_; }
  ClusterTable& cluster() { return cluster_; }
  PgDirectory& placement_groups() { return pgs_; }
  const std::vector<NodeEntry>& nodes() const { return nodes_; }

 private:
  void Beat();
  void MaybeFinishShutdown(bool timed_out);

  EventLoop* loop_;
  transport::Messenger* messenger_;
  std::vector<NodeEntry> nodes_;
  std::chrono::milliseconds period_;
  uint64_t seq_ = 0;
  uint64_t beat_timer_ = 0;
  uint64_t shutdown_timer_ = 0;
  std::set<NodeId> awaiting_ack_;
  std::function<void(std::vector<NodeId>)> shutdown_done_;
  ClusterTable cluster_;
  ActorDirectory actors_;
  PgDirectory pgs_;
};

class HeadMonitor {
 public:
  HeadMonitor(EventLoop* loop, const Clock* clock, std::chrono::milliseconds timeout,
              std::function<void(const std::string& why)> on_lost);
  void Start();
  void Stop();
  void HandleHeartbeat();
  void OnHeadDead(const std::string& why);
  // What the timer runs every timeout/10: declares the head lost after `timeout` of silence.
  void Check();

 private:
  EventLoop* loop_;
  const Clock* clock_;
  std::chrono::milliseconds timeout_;
  std::function<void(const std::string&)> on_lost_;
  Clock::TimePoint last_;
  Clock::TimePoint last_check_;
  uint64_t timer_ = 0;
  bool lost_ = false;
};

}  // namespace ferry::gcs
