// The head's control service (GcsServer) and the workers' watch on it (HeadMonitor).
// Membership starts as bootstrap found it and changes as nodes join (AddNode) or die: the GCS
// keeps the node table, the cluster
// view (ClusterTable), the actor table (ActorDirectory) and the placement groups, exchanges
// heartbeats with every worker, and coordinates shutdown (every worker confirms before the
// head goes).
// Failure detection: a worker silent for the heartbeat timeout, or one a peer's transport
// reported lost, is declared dead, once, and every live node is told (kNodeDead); the dead
// node is told too, so that one merely cut off ends itself instead of living on unseen.
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

using internal::Buffer;

struct NodeEntry {
  NodeId id;
  std::string hostname;
  int pid = 0;
  ResourceSet resources;
  bool alive = true;
  std::string draining;  // why it is leaving; empty while it is not
  bool leaving = false;  // drained, let go, its acknowledgement awaited
};

class GcsServer {
 public:
  struct Timing {
    std::chrono::milliseconds heartbeat_period{500};
    std::chrono::milliseconds heartbeat_timeout{5000};
    std::chrono::milliseconds view_period{20};
  };
  // `on_dead` runs (on the loop) once per node declared dead, for this process's own parts.
  using DeadCallback = std::function<void(NodeId, const std::string& why)>;
  GcsServer(EventLoop* loop, const Clock* clock, transport::Messenger* messenger,
            std::vector<NodeEntry> nodes, Timing timing, DeadCallback on_dead);
  void Start();
  // Tells every live worker to shut down; `done` runs once all confirmed or `timeout` passed,
  // with the nodes that did not confirm.
  void BeginShutdown(std::chrono::milliseconds timeout,
                     std::function<void(std::vector<NodeId>)> done);
  void HandleShutdownAck(NodeId from);
  void HandleHeartbeat(NodeId from);
  // A worker lost its connection to a peer (kNodeDead): the peer is declared dead.
  void HandleNodeDeadReport(NodeId from, const Buffer& msg);
  // Declares `node` dead (no-op if it is already, or is the head): every part of the GCS
  // forgets it, every live node (and the node itself, if `tell_it`: the head's own endpoint to
  // it may be gone) is told, then `on_dead` runs.
  void DeclareDead(NodeId node, const std::string& why, bool tell_it = true);
  bool IsAlive(NodeId node) const;
  // Membership. Node ids are never reused: a joiner gets one above every id ever given.
  NodeId ReserveNodeId() { return NodeId(next_id_++); }
  // Adds a node that joined: heartbeats, the cluster view (the whole of it is sent to the
  // node), and placement all include it from now on. REQUIRES: id from ReserveNodeId.
  void AddNode(NodeEntry entry);
  bool shutting_down() const { return shutting_down_; }
  // Drain: `node` leaves gracefully. Nothing new is placed there from now on and it is told
  // to drain (kDrain). The head cannot leave; an unknown, dead or draining node is an error.
  Status Drain(NodeId node, const std::string& reason);
  void HandleDrainRequest(NodeId from, const Buffer& msg);
  // The node finished draining: it is let go (kShutdown) and, once it confirms (or after a
  // few seconds), declared gone to every other node; its copies were handed over already.
  void HandleLeave(NodeId from);
  bool IsDraining(NodeId node) const;
  // What every heartbeat period runs after sending: declares dead the workers silent for
  // longer than the timeout (public for tests with a fake clock).
  void CheckSilence();
  ActorDirectory& actors() { return actors_; }
  ClusterTable& cluster() { return cluster_; }
  PgDirectory& placement_groups() { return pgs_; }
  const std::vector<NodeEntry>& nodes() const { return nodes_; }

 private:
  void Beat();
  void MaybeFinishShutdown(bool timed_out);
  NodeEntry* FindEntry(NodeId node);
  void FinishLeave(NodeId node);

  EventLoop* loop_;
  const Clock* clock_;
  transport::Messenger* messenger_;
  std::vector<NodeEntry> nodes_;
  uint32_t next_id_ = 0;  // above every node id given
  Timing timing_;
  DeadCallback on_dead_;
  std::vector<Clock::TimePoint> last_heard_;  // parallel to nodes_
  Clock::TimePoint last_check_;
  bool shutting_down_ = false;
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
