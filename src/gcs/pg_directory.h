// PgDirectory: the GCS's placement-group table. Places each group's bundles with the
// scheduler's PlaceBundles (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD) against what is not yet
// reserved, then reserves them in two phases: every node involved prepares (takes the bundle
// out of its free resources, or refuses), and only when all have prepared does the GCS commit
// (the bundles become the group's own resources, "CPU_group_<i>_<pg>"); any refusal releases
// what the others prepared and the group waits for resources to free up. A group that cannot
// be placed stays PENDING. Removing a group releases its bundles and kills its actors; a node
// death sends a created group back to PENDING so that it is placed again.
// Confined to the event loop thread of the head.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
#include "src/gcs/actor_directory.h"
#include "src/gcs/cluster_table.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"

namespace ferry::gcs {

class PgDirectory {
 public:
  PgDirectory(EventLoop* loop, transport::Messenger* messenger, ClusterTable* cluster,
              ActorDirectory* actors);

  void HandleCreate(NodeId from, const internal::Buffer& msg);
  void HandleRemove(NodeId from, const internal::Buffer& msg);
  // By id, by name, or all; with flag set, the answer waits until the group is created or
  // removed (PlacementGroup::Wait).
  void HandleQuery(NodeId from, const internal::Buffer& msg);
  void HandlePrepared(NodeId from, const internal::Buffer& msg);
  void OnNodeDead(NodeId node);
  // Pending groups try again (resources were freed or a node joined).
  void TryPending();
  // Retries pending groups periodically too: a refused round waits `kRetryDelay` first.
  void Start();
  void Stop();
  static constexpr std::chrono::milliseconds kRetryDelay{100};

 private:
  struct Group {
    wire::PgEvent info;  // id, name, strategy, bundles, state, nodes
    uint64_t round = 0;  // the current prepare round (0: none in flight)
    std::set<NodeId> awaiting;
    std::set<NodeId> prepared;
    bool refused = false;
    bool warned = false;
    std::chrono::steady_clock::time_point not_before;  // after a refusal
    std::vector<std::pair<NodeId, uint64_t>> waiters;  // Wait() requests
  };

  void Schedule(Group& g);
  void FinishRound(Group& g);
  // Gives back whatever `g` holds on the nodes (prepared or committed) and in the table.
  void ReleaseAll(Group& g, bool committed);
  void Answer(Group& g);
  void Reply(NodeId to, uint64_t request_id, bool ok, const std::string& message,
             std::vector<wire::PgEvent> groups);
  void SendToNode(wire::MsgType type, const Group& g, NodeId node);

  EventLoop* const loop_;
  transport::Messenger* const messenger_;
  ClusterTable* const cluster_;
  ActorDirectory* const actors_;
  std::map<PlacementGroupId, Group> groups_;
  std::unordered_map<std::string, PlacementGroupId> names_;  // live named groups
  uint64_t next_round_ = 1;
  uint64_t rotate_ = 0;
  uint64_t timer_ = 0;
};

}  // namespace ferry::gcs
