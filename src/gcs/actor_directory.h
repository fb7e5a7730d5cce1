// ActorDirectory: the GCS's actor table. Registers actors (unique live names per namespace),
// places them (spreading over the nodes whose resources are not held by other actors or
// bundles, or where their node affinity or placement group says), asks the chosen raylet to
// run the factory, supervises restarts (Kill(false), node death), and tells every subscriber
// (creator and callers) where each actor lives or why it died. What actors hold is reserved in
// the ClusterTable, which publishes it so owners do not place tasks there.
// It is not in the path of method calls: callers send those straight to the hosting raylet.
// Confined to the event loop thread of the head.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
#include "src/scheduler/policy.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"

namespace ferry::gcs {

class ClusterTable;

class ActorDirectory {
 public:
  ActorDirectory(EventLoop* loop, transport::Messenger* messenger, ClusterTable* cluster);

  void HandleRegister(NodeId from, const internal::Buffer& msg);
  void HandleCreated(NodeId from, const internal::Buffer& msg);
  void HandleSubscribe(NodeId from, const internal::Buffer& msg);
  void HandleKill(NodeId from, const internal::Buffer& msg);
  void HandleExited(NodeId from, const internal::Buffer& msg);
  void HandleLookup(NodeId from, const internal::Buffer& msg);
  // Actors hosted there restart elsewhere or die; non-detached actors it created die.
  void OnNodeDead(NodeId node);
  // Kills every actor of a removed placement group (no restart).
  void KillGroup(const PlacementGroupId& pg, const std::string& why);
  // Actors waiting for room try again (resources were freed or a node joined).
  void TryPending();

  size_t live_actors() const;

 private:
  struct Entry {
    wire::TaskSpec spec;  // the creation spec, kept for restarts
    wire::ActorState state = wire::ActorState::kPending;
    NodeId node;              // where it runs (or is being created); nil while unplaced
    uint32_t incarnation = 0;
    int restarts_used = 0;
    ResourceSet demand;
    std::string death;
    std::set<NodeId> subscribers;
  };

  static std::string NameKey(const std::string& ns, const std::string& name) {
    return ns + '\x1f' + name;
  }
  void Schedule(const ActorId& id);
  // The instance on its node is gone (or going): free what it held there.
  void Release(Entry& e);
  // Restarts the actor if it has restarts left (and `allow_restart`), else marks it dead.
  void Lost(const ActorId& id, const std::string& why, bool allow_restart);
  void MarkDead(const ActorId& id, const std::string& why);
  wire::ActorEvent EventFor(const ActorId& id, const Entry& e) const;
  void Publish(const ActorId& id);
  void Reply(NodeId to, wire::ActorEvent ev);
  bool Decode(NodeId from, const internal::Buffer& msg, wire::ActorEvent* ev, const char* what);

  // Immutable after construction.
  EventLoop* const loop_;
  transport::Messenger* const messenger_;

  ClusterTable* const cluster_;
  std::unordered_map<ActorId, Entry> actors_;
  std::map<std::string, ActorId> names_;  // live named actors
  std::deque<ActorId> pending_;            // waiting for a node with room
  uint64_t rotate_ = 0;
};

}  // namespace ferry::gcs
