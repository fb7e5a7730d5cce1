// Runtime: one per process between Init and Shutdown. Bootstraps the rank, owns the event
// loop, the transport and every component hosted in the process (store, object manager,
// raylet, core worker, and on the head the GCS), and wires messages to them.
// Start/Stop run on the main thread; the components are confined to the event loop.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "ferry/config.h"
#include "launch/bootstrapper.h"
#include "src/common/event_loop.h"
#include "src/core/core_worker.h"
#include "src/gcs/autoscaler.h"
#include "src/gcs/gcs.h"
#include "src/raylet/object_manager.h"
#include "src/raylet/raylet.h"
#include "src/transport/messenger.h"
#include "src/transport/transport.h"
#include "store/object_store.h"

namespace ferry::api {

class Runtime {
 public:
  // Bootstraps this rank with `boot` (kept by the caller across Init cycles). On failure,
  // `*every_rank_fails` tells whether every rank reached the same verdict (a function-table
  // mismatch, seen by all after the exchange) so that they may end together cleanly; if not,
  // the caller must abort the whole job, or the other ranks would wait forever.
  static Result<std::unique_ptr<Runtime>> Start(const Config& config, launch::Bootstrapper* boot,
                                                bool* every_rank_fails);
  ~Runtime();

  bool is_head() const { return self_ == NodeId(0); }
  NodeId self() const { return self_; }
  EventLoop* loop() { return loop_.get(); }
  core::CoreWorker* core() { return core_.get(); }
  raylet::Raylet* raylet() { return raylet_.get(); }
  store::ObjectStore* store() { return store_.get(); }
  const Config& config() const { return config_; }
  // What this rank offers, and the GPU ids behind its GPU resource. Immutable after Start.
  const ResourceSet& resources() const { return resources_; }
  const std::vector<int>& gpu_ids() const { return gpu_ids_; }
  // Every node that was ever a member (host, pid), as bootstrap found them and as they joined.
  // Thread-safe (a copy).
  std::vector<launch::PeerInfo> peers() const;
  // The session directory on this host. Immutable after Start.
  const std::string& session_dir() const { return session_dir_; }
  gcs::GcsServer* gcs() { return gcs_.get(); }

  // Loop thread: asks the head to drain `node` (kDrainRequest).
  void RequestDrain(NodeId node, const std::string& reason);

  // Worker ranks: blocks until the head says shut down (or is lost), then stops.
  // Returns the process exit code.
  int ServeUntilShutdown();
  // Head: tells the workers to stop, waits for them (bounded), then stops this rank.
  void ShutdownCluster();

 private:
  Runtime() = default;
  Status Init(const Config& config, launch::Bootstrapper* boot, bool* every_rank_fails);
  void RegisterHandlers();
  void OnPeerError(NodeId peer, const Status& why);
  // Membership (loop thread). The head answers a joiner, then announces it once it is ready;
  // the other members connect to it when told.
  void HandleJoinRequest(NodeId from, const internal::Buffer& msg);
  void HandleJoinReady(NodeId from);
  void HandleNodeJoined(NodeId from, const internal::Buffer& msg);
  void AddPeer(launch::PeerInfo peer);
  // Drain of this node (loop thread): hand queued tasks back, let running ones finish (for at
  // most drain_grace_ms), hand primary copies to their owners, then tell the head it is done.
  void BeginDrain(const std::string& reason);
  void DrainStep();
  void HandleHandOffDone(NodeId from, const internal::Buffer& msg);
  // Loop thread. Every part of this process forgets `node` (once per node).
  void HandleNodeDead(NodeId node, const std::string& why);
  void StopLocal();
  // Head: the autoscaler of config.autoscaler_provider, if any.
  Status StartAutoscaler();

  Config config_;
  NodeId self_;
  size_t nodes_ = 1;
  std::string session_dir_;
  ResourceSet resources_;
  std::vector<int> gpu_ids_;
  std::string session_id_;
  std::string session_name_;
  std::string token_;        // the session's; the head checks joiners against it
  std::string head_listen_;  // host:port of the head's join listener ("" when it has none)
  uint64_t function_hash_ = 0;
  uint64_t function_count_ = 0;

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<transport::Messenger> messenger_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<raylet::ObjectManager> objects_;
  std::unique_ptr<raylet::Raylet> raylet_;
  std::unique_ptr<core::CoreWorker> core_;
  std::unique_ptr<gcs::GcsServer> gcs_;        // head only
  std::unique_ptr<gcs::HeadMonitor> monitor_;  // workers only
  std::unique_ptr<gcs::Autoscaler> autoscaler_;  // head only, when configured

  std::set<NodeId> dead_;  // loop thread
  uint64_t beat_timer_ = 0;
  // Head, loop thread: joiners answered but not yet ready, with their give-up timers.
  struct PendingJoin {
    launch::PeerInfo info;
    std::string launch_id;
    std::set<NodeId> told;  // the members its answer named
    uint64_t timer = 0;
  };
  std::map<NodeId, PendingJoin> pending_joins_;
  // This node's drain (loop thread).
  enum class DrainPhase { kNone, kTasks, kObjects, kLeaving };
  DrainPhase drain_phase_ = DrainPhase::kNone;
  std::string drain_reason_;
  std::chrono::steady_clock::time_point drain_since_;
  std::set<NodeId> handoff_owners_;  // owners that have not confirmed their copies yet
  size_t abandoned_tasks_ = 0;      // running tasks handed back after the grace period
  uint64_t drain_timer_ = 0;
  uint64_t signal_timer_ = 0;

  mutable std::mutex peers_mu_;
  std::vector<launch::PeerInfo> peers_;  // Guarded by peers_mu_.

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_requested_ = false;  // Guarded by mu_.
  std::set<NodeId> starting_;        // Guarded by mu_. Head: workers of the launch not ready yet.
  bool stopped_ = false;
};

}  // namespace ferry::api
