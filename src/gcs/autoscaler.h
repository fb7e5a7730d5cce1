// The autoscaler: on the head, turns pending demand into nodes and idle nodes into nothing.
// Every period it reads the cluster view: tasks queued on nodes for want of resources, and
// tasks no node can run at all (infeasible), ask for nodes through a NodeProvider (local
// processes, Slurm jobs), within min_workers..max_workers; a worker idle for idle_timeout (no
// task queued or running, nothing reserved) is drained, which hands its objects to their
// owners before it leaves. Every decision is logged with its reason.
// DecideScaling is the pure policy (unit-tested with no I/O); Autoscaler runs it on the head's
// loop and performs the provider's calls, which may block (sbatch, scancel), on a thread of
// its own. Autoscaler is confined to the event loop thread, except where noted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ids.h"
#include "src/common/clock.h"
#include "src/common/event_loop.h"
#include "src/common/status.h"
#include "src/scheduler/policy.h"

namespace ferry::gcs {

class GcsServer;

// What a new node needs to join this cluster.
struct LaunchRequest {
  std::string address;    // the head's join listener, host:port
  std::string token;      // the session token
  std::string launch_id;  // the node presents it when joining (FERRY_LAUNCH_ID)
  std::string session_dir;  // the head's, for nodes on its host
};

// How the autoscaler gets nodes and gives them back. Implementations: LocalProcessProvider
// (processes of this binary on this host), SlurmProvider (sbatch jobs, or srun steps inside
// this allocation). Called from one thread at a time (the autoscaler's action thread).
class NodeProvider {
 public:
  virtual ~NodeProvider() = default;
  virtual std::string Name() const = 0;
  // Starts a node that will join; returns the provider's handle for it (a pid, a job id).
  virtual Result<std::string> Launch(const LaunchRequest& request) = 0;
  // Ends it, whatever it is doing (it may be gone already).
  virtual Status Terminate(const std::string& handle) = 0;
  // Whether it may still join or is still running (false once it is known to be gone).
  virtual bool Alive(const std::string& handle) = 0;
};

struct AutoscalerOptions {
  int min_workers = 0;
  int max_workers = 0;
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds launch_timeout{300000};
  // CPUs one new node offers (sizing: how many nodes the queued tasks need); <= 0: as the
  // largest worker known, else 1.
  double node_cpus = 0;
};

// The policy's verdict for one period.
struct ScaleDecision {
  int launch = 0;
  std::string launch_why;
  std::vector<std::pair<NodeId, std::string>> drain;  // node, why
};

// `idle_since`: when each worker was first seen idle (kept across calls; entries of busy or
// gone nodes are removed). `launching`: launches that have not joined yet.
ScaleDecision DecideScaling(const AutoscalerOptions& options, const scheduler::ClusterView& view,
                            NodeId head, size_t infeasible, size_t launching,
                            Clock::TimePoint now, std::map<NodeId, Clock::TimePoint>& idle_since);

class Autoscaler {
 public:
  struct Hooks {
    std::function<size_t()> infeasible;  // tasks the head's owner cannot place anywhere
    std::function<Status(NodeId, const std::string&)> drain;
  };
  Autoscaler(EventLoop* loop, const Clock* clock, GcsServer* gcs,
             std::unique_ptr<NodeProvider> provider, AutoscalerOptions options,
             LaunchRequest base, Hooks hooks);
  ~Autoscaler();  // Stop()
  void Start();
  // Cancels the timer, terminates the launches that have not joined, ends the action thread.
  // Nodes that joined are ended by the cluster's shutdown. Idempotent.
  void Stop();
  // One period's work (public for tests).
  void Tick();
  // A node joined presenting `launch_id` ("" if it was not launched by the autoscaler).
  void OnNodeJoined(NodeId node, const std::string& launch_id);
  // A node died or left: what the provider still holds of it is ended.
  void OnNodeGone(NodeId node);
  size_t launching() const { return launches_.size(); }

 private:
  struct Launch {
    std::string id;      // launch id the node will present
    std::string handle;  // the provider's, once Launch returned ("" before)
    Clock::TimePoint since;
  };
  // Runs `fn` on the action thread.
  void Act(std::function<void()> fn);
  void ActionLoop(std::stop_token stop);

  EventLoop* const loop_;
  const Clock* const clock_;
  GcsServer* const gcs_;
  const AutoscalerOptions options_;
  const LaunchRequest base_;
  const Hooks hooks_;
  std::unique_ptr<NodeProvider> provider_;  // used on the action thread only

  // Loop thread.
  std::map<std::string, Launch> launches_;         // not joined yet, by launch id
  std::map<NodeId, std::string> handles_;          // joined nodes the provider started
  std::map<NodeId, Clock::TimePoint> idle_since_;
  uint64_t timer_ = 0;
  uint64_t next_launch_ = 0;
  bool stopped_ = false;

  // The action thread and its queue.
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> actions_;  // Guarded by mu_.
  std::jthread thread_;
};

// A provider of processes of this application on this host: each node is the head's own
// command line started again with the join variables set. `exe`, `args`: that command line.
std::unique_ptr<NodeProvider> MakeLocalProcessProvider(std::string exe,
                                                       std::vector<std::string> args);

}  // namespace ferry::gcs
