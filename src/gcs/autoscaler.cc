#include "src/gcs/autoscaler.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "src/common/logging.h"
#include "src/common/subprocess.h"
#include "src/gcs/gcs.h"

namespace ferry::gcs {
namespace {

std::string Seconds(std::chrono::milliseconds d) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << static_cast<double>(d.count()) / 1000.0 << " s";
  return out.str();
}

// A worker with nothing queued, running or reserved (what it offers is all free).
bool IdleNode(const scheduler::NodeView& n) {
  return n.queued == 0 && n.actors == 0 && n.reserved.empty() && n.available.Contains(n.total);
}

}  // namespace

ScaleDecision DecideScaling(const AutoscalerOptions& options, const scheduler::ClusterView& view,
                            NodeId head, size_t infeasible, size_t launching,
                            Clock::TimePoint now, std::map<NodeId, Clock::TimePoint>& idle_since) {
  ScaleDecision d;
  int workers = 0;  // live, not leaving
  int64_t queued = 0;
  double largest_cpus = 0;
  for (const scheduler::NodeView& n : view.nodes) {
    if (!n.alive) continue;
    queued += n.queued;
    if (n.id == head || n.draining) continue;
    workers++;
    largest_cpus = std::max(largest_cpus, n.total.Get(kCpu));
  }
  const double node_cpus =
      options.node_cpus > 0 ? options.node_cpus : (largest_cpus > 0 ? largest_cpus : 1.0);
  const int have = workers + static_cast<int>(launching);

  // Up: the queued tasks (one CPU each, the common shape) spread over new nodes, one more node
  // for tasks no node can run, and the minimum.
  int want = 0;
  std::string why;
  if (queued > 0) {
    want = static_cast<int>(std::ceil(static_cast<double>(queued) / node_cpus));
    why = std::to_string(queued) + " task(s) queued for want of resources";
  }
  if (infeasible > 0) {
    want += 1;
    why += std::string(why.empty() ? "" : ", ") + std::to_string(infeasible) +
           " task(s) no node can run";
  }
  int launch = std::max(0, want - static_cast<int>(launching));
  if (have + launch < options.min_workers) {
    launch = options.min_workers - have;
    why += std::string(why.empty() ? "" : ", ") + "fewer than min_workers (" +
           std::to_string(options.min_workers) + ")";
  }
  launch = std::min(launch, options.max_workers - have);
  if (launch > 0) {
    d.launch = launch;
    d.launch_why = why + "; " + std::to_string(workers) + " worker(s), " +
                   std::to_string(launching) + " starting, max_workers " +
                   std::to_string(options.max_workers);
  }

  // Down: workers idle for the timeout while nothing waits, down to min_workers.
  int removable = workers - options.min_workers;
  for (const scheduler::NodeView& n : view.nodes) {
    if (!n.alive || n.id == head || n.draining || !IdleNode(n) || queued > 0 || infeasible > 0) {
      idle_since.erase(n.id);
      continue;
    }
    auto [it, fresh] = idle_since.try_emplace(n.id, now);
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second);
    if (fresh || idle < options.idle_timeout || removable <= 0) continue;
    d.drain.emplace_back(n.id, "idle for " + Seconds(idle) + " (idle_timeout " +
                                   Seconds(options.idle_timeout) + ")");
    idle_since.erase(it);
    removable--;
  }
  return d;
}

Autoscaler::Autoscaler(EventLoop* loop, const Clock* clock, GcsServer* gcs,
                       std::unique_ptr<NodeProvider> provider, AutoscalerOptions options,
                       LaunchRequest base, Hooks hooks)
    : loop_(loop),
      clock_(clock),
      gcs_(gcs),
      options_(options),
      base_(std::move(base)),
      hooks_(std::move(hooks)),
      provider_(std::move(provider)) {}

Autoscaler::~Autoscaler() { Stop(); }

void Autoscaler::Start() {
  FERRY_LOG(INFO) << "autoscaler: " << provider_->Name() << " nodes, " << options_.min_workers
                  << ".." << options_.max_workers << " workers, idle timeout "
                  << Seconds(options_.idle_timeout);
  thread_ = std::jthread([this](std::stop_token stop) { ActionLoop(stop); });
  timer_ = loop_->AddTimer(options_.period, [this] { Tick(); });
  loop_->Post([this] { Tick(); });
}

void Autoscaler::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
  // Launches that have not joined would join a cluster that is gone: end them.
  for (auto& [id, l] : launches_) {
    if (l.handle.empty()) continue;
    Act([this, handle = l.handle] { (void)provider_->Terminate(handle); });
  }
  launches_.clear();
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }
}

void Autoscaler::Act(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  actions_.push_back(std::move(fn));
  cv_.notify_all();
}

void Autoscaler::ActionLoop(std::stop_token stop) {
  while (true) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, stop, [this] { return !actions_.empty(); });
      if (actions_.empty()) return;  // stop requested and nothing left to do
      fn = std::move(actions_.front());
      actions_.pop_front();
    }
    fn();
  }
}

void Autoscaler::Tick() {
  if (stopped_ || gcs_->shutting_down()) return;
  const Clock::TimePoint now = clock_->Now();
  // Launches that never joined: given up on after launch_timeout.
  for (auto it = launches_.begin(); it != launches_.end();) {
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.since);
    if (age < options_.launch_timeout || it->second.handle.empty()) {
      ++it;
      continue;
    }
    FERRY_LOG(WARNING) << "autoscaler: node " << it->second.handle << " (launch "
                       << it->first << ") did not join in " << Seconds(age)
                       << " (launch_timeout): ending it";
    Act([this, handle = it->second.handle] { (void)provider_->Terminate(handle); });
    it = launches_.erase(it);
  }
  const size_t infeasible = hooks_.infeasible ? hooks_.infeasible() : 0;
  ScaleDecision d = DecideScaling(options_, gcs_->cluster().view(), NodeId(0), infeasible,
                                  launches_.size(), now, idle_since_);
  if (d.launch > 0) {
    FERRY_LOG(INFO) << "autoscaler: launching " << d.launch << " node(s) through "
                    << provider_->Name() << ": " << d.launch_why;
    for (int i = 0; i < d.launch; ++i) {
      const std::string id = std::to_string(getpid()) + "-" + std::to_string(++next_launch_);
      launches_[id] = {id, "", now};
      LaunchRequest req = base_;
      req.launch_id = id;
      Act([this, req] {
        Result<std::string> handle = provider_->Launch(req);
        loop_->Post([this, id = req.launch_id, handle = std::move(handle)] {
          auto it = launches_.find(id);
          if (!handle.ok()) {
            FERRY_LOG(WARNING) << "autoscaler: launch " << id << " failed: "
                               << handle.status().ToString();
            if (it != launches_.end()) launches_.erase(it);
            return;
          }
          FERRY_LOG(INFO) << "autoscaler: launch " << id << " started: " << *handle;
          if (it != launches_.end()) {
            it->second.handle = *handle;
          } else {
            // Joined before its handle came back, or stopped meanwhile.
            for (auto& [node, h] : handles_)
              if (h == id) h = *handle;
          }
        });
      });
    }
  }
  for (const auto& [node, why] : d.drain) {
    FERRY_LOG(INFO) << "autoscaler: draining " << node << ": " << why;
    if (Status st = hooks_.drain(node, "autoscaler: " + why); !st.ok())
      FERRY_LOG(WARNING) << "autoscaler: cannot drain " << node << ": " << st.message();
  }
}

void Autoscaler::OnNodeJoined(NodeId node, const std::string& launch_id) {
  auto it = launches_.find(launch_id);
  if (it == launches_.end()) return;  // not one of ours
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now() - it->second.since);
  FERRY_LOG(INFO) << "autoscaler: launch " << launch_id << " joined as " << node << " after "
                  << Seconds(waited);
  // Until Launch returned, the launch id stands for the handle (fixed up when it comes).
  handles_[node] = it->second.handle.empty() ? launch_id : it->second.handle;
  launches_.erase(it);
}

void Autoscaler::OnNodeGone(NodeId node) {
  idle_since_.erase(node);
  auto it = handles_.find(node);
  if (it == handles_.end()) return;
  const std::string handle = it->second;
  handles_.erase(it);
  // A node that left exits by itself; what is left of it (a Slurm job's script) goes.
  Act([this, handle] {
    if (provider_->Alive(handle)) (void)provider_->Terminate(handle);
  });
}

// ---------------------------------------------------------------------------------------------
// LocalProcessProvider

namespace {

class LocalProcessProvider final : public NodeProvider {
 public:
  LocalProcessProvider(std::string exe, std::vector<std::string> args)
      : exe_(std::move(exe)), args_(std::move(args)) {}
  ~LocalProcessProvider() override {
    // Children that are still there were told to shut down with the cluster; reap them.
    for (pid_t pid : children_) AwaitOrKillChild(pid, std::chrono::seconds(2));
  }
  std::string Name() const override { return "local process"; }

  Result<std::string> Launch(const LaunchRequest& req) override {
    std::vector<std::string> argv = args_;
    if (argv.empty()) argv.push_back(exe_);
    argv[0] = exe_;
    std::vector<std::string> env = EnvironmentWith({
        {"FERRY_ADDRESS", req.address},
        {"FERRY_TOKEN", req.token},
        {"FERRY_LAUNCH_ID", req.launch_id},
        {"FERRY_SESSION_DIR", req.session_dir},
        {"FERRY_AUTOSCALER_PROVIDER", ""},  // a node does not scale the cluster itself
        {"FERRY_ACCEPT_JOINS", "0"},
    });
    const std::string log =
        req.session_dir.empty() ? "" : req.session_dir + "/logs/launch-" + req.launch_id + ".out";
    FERRY_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, env, log));
    children_.push_back(pid);
    return "pid " + std::to_string(pid);
  }

  Status Terminate(const std::string& handle) override {
    const pid_t pid = Pid(handle);
    if (pid > 0 && ChildRunning(pid)) kill(pid, SIGTERM);  // it drains if it can
    return Status::Ok();
  }

  bool Alive(const std::string& handle) override {
    const pid_t pid = Pid(handle);
    return pid > 0 && ChildRunning(pid);
  }

 private:
  static pid_t Pid(const std::string& handle) {
    if (handle.rfind("pid ", 0) != 0) return -1;
    return static_cast<pid_t>(std::strtol(handle.c_str() + 4, nullptr, 10));
  }
  const std::string exe_;
  const std::vector<std::string> args_;
  std::vector<pid_t> children_;
};

}  // namespace

std::unique_ptr<NodeProvider> MakeLocalProcessProvider(std::string exe,
                                                       std::vector<std::string> args) {
  return std::make_unique<LocalProcessProvider>(std::move(exe), std::move(args));
}

}  // namespace ferry::gcs
