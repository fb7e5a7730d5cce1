#include "src/api/runtime.h"

#include "src/api/exit_status.h"
#include "src/api/node_resources.h"

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "ferry/internal/function_registry.h"
#include "launch/session.h"
#include "slurm/slurm_provider.h"
#include "src/common/subprocess.h"
#include "src/common/files.h"
#include "src/common/logging.h"
#include "src/wire/messages.h"

namespace ferry::api {
namespace {

std::string RandomHex(size_t n) {
  std::random_device rd;
  std::string s;
  const char* digits = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) s += digits[rd() % 16];
  return s;
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

using internal::Buffer;

// The last drain signal a worker received (0: none); read by a loop timer.
std::atomic<int> g_drain_signal{0};

extern "C" void OnDrainSignal(int sig) { g_drain_signal.store(sig, std::memory_order_relaxed); }

// Workers drain on SIGTERM and SIGUSR1. The head runs the application's driver: it takes only
// SIGUSR1 (the walltime warning srun --signal sends every task), and only when the application
// left it at its default action (ending the process) so that the warning does not kill the
// driver; what the driver does before the walltime is the application's to decide.
void InstallDrainSignals(bool head) {
  struct sigaction sa {};
  sa.sa_handler = OnDrainSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (!head) {
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGUSR1, &sa, nullptr);
    return;
  }
  struct sigaction old {};
  if (sigaction(SIGUSR1, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
    sigaction(SIGUSR1, &sa, nullptr);
}

// Compares secrets without telling, through timing, how long a prefix matched.
bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr uint16_t Type(wire::MsgType t) { return static_cast<uint16_t>(t); }

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::Start(const Config& config, launch::Bootstrapper* boot,
                                                bool* every_rank_fails) {
  *every_rank_fails = false;
  std::unique_ptr<Runtime> rt(new Runtime());
  FERRY_RETURN_IF_ERROR(rt->Init(config, boot, every_rank_fails));
  return rt;
}

Status Runtime::Init(const Config& config, launch::Bootstrapper* boot, bool* every_rank_fails) {
  config_ = config;
  const uint32_t rank = boot->Rank();
  self_ = NodeId(rank);
  nodes_ = boot->Size();
  log::SetLevel(log::ParseLevel(config.log_level));

  const bool joining = boot->Name() == "join";
  // The head listens for joiners when launched on several ranks (or when asked): an embedded
  // one-process cluster keeps its in-process transport unless it must.
  const bool accept_joins =
      rank == 0 && !joining &&
      (config.accept_joins > 0 ||
       (config.accept_joins < 0 && (nodes_ > 1 || !config.autoscaler_provider.empty())));
  std::string transport_name = config.transport;
  if (transport_name == "auto") transport_name = nodes_ > 1 || accept_joins ? "ucx" : "inproc";
  FERRY_ASSIGN_OR_RETURN(
      transport_, transport::CreateTransport(transport_name, {rank, config.ucx_peer_errors != 0}));
  boot->UseTransport(transport_.get());
  std::string listen;
  if (accept_joins) {
    Result<std::string> l = transport_->Listen(config.listen_host);
    if (!l.ok()) return l.status().WithContext("starting the head's join listener");
    listen = std::move(l).value();
  }

  FERRY_ASSIGN_OR_RETURN(NodeResources offered,
                         DetectNodeResources(config, rank == 0, /*local_ranks=*/1, 0));
  offered.total.SetUnits(kMemory, 0);  // known after the exchange (shared among local ranks)
  const double cpus = offered.total.Get(kCpu);

  launch::PeerInfo mine;
  mine.rank = rank;
  mine.address = transport_->Address();
  mine.hostname = Hostname();
  mine.pid = static_cast<int32_t>(getpid());
  mine.resources = offered.total;
  mine.function_hash = internal::FunctionTableHash();
  mine.function_count = internal::FunctionTableSize();
  mine.session_id = RandomHex(12);
  if (rank == 0 && !joining) {
    mine.listen_address = listen;
    mine.token = launch::NewToken();
  }
  function_hash_ = mine.function_hash;
  function_count_ = mine.function_count;
  FERRY_ASSIGN_OR_RETURN(launch::Topology topo, boot->Exchange(mine));
  self_ = NodeId(topo.rank);  // a joiner learns its id from the head
  const uint32_t me = topo.rank;
  session_id_ = topo.session_id;
  session_name_ = topo.session_name.empty() ? launch::SessionName(topo.session_id, std::getenv)
                                            : topo.session_name;
  if (joining) {
    token_ = topo.token;
    head_listen_ = topo.head_listen;
  } else {
    for (const launch::PeerInfo& p : topo.peers) {
      if (p.rank != 0) continue;
      token_ = p.token;
      head_listen_ = p.listen_address;
    }
  }

  // From here on this process knows whether it is the head: a walltime signal that comes
  // while it starts is kept for the loop, not fatal.
  if (config.drain_on_signal != 0) InstallDrainSignals(me == 0 && !joining);

  // Same-binary check: every rank sees every hash, so every rank reports a mismatch.
  for (const launch::PeerInfo& p : topo.peers) {
    if (p.function_hash != mine.function_hash) {
      *every_rank_fails = true;
      return FailedPreconditionError(
          "rank " + std::to_string(me) + " (" + mine.hostname + ") and rank " +
          std::to_string(p.rank) + " (" + p.hostname + ") registered different functions (" +
          std::to_string(mine.function_count) + " vs " + std::to_string(p.function_count) +
          " functions, table hash " + std::to_string(mine.function_hash) + " vs " +
          std::to_string(p.function_hash) + "): every rank must run the same binary");
    }
  }

  // Polling pays only while every polling thread (a loop and an executor per rank) has a core
  // of its own; on an oversubscribed host it steals the cores the work needs.
  size_t local_ranks = 0;
  for (const launch::PeerInfo& p : topo.peers) local_ranks += p.hostname == mine.hostname;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const int auto_spin = 2 * static_cast<long>(local_ranks) <= cores ? 20 : 0;
  const int spin_us = config.spin_us >= 0 ? config.spin_us : auto_spin;
  const int executor_spin_us = config.executor_spin_us >= 0 ? config.executor_spin_us : auto_spin;
  FERRY_ASSIGN_OR_RETURN(loop_, EventLoop::Create(std::chrono::microseconds(spin_us)));

  session_dir_ = config.session_dir.empty()
                     ? launch::DefaultSessionDir(session_name_, std::getenv)
                     : config.session_dir;
  FERRY_RETURN_IF_ERROR(MakeDirs(session_dir_ + "/logs", "session directory"));
  // Every host of the cluster can start joiners from its own session directory.
  if (!head_listen_.empty())
    FERRY_RETURN_IF_ERROR(launch::WriteSessionFiles(session_dir_, head_listen_, token_));
  log::SetSink(session_dir_ + "/logs/rank-" + std::to_string(me) + ".log",
               "rank " + std::to_string(me));
  if (joining)
    FERRY_LOG(INFO) << "joined the cluster at " << head_listen_ << " as " << self_;
  if (!listen.empty()) FERRY_LOG(INFO) << "accepting joining nodes at " << listen;
  FERRY_LOG(INFO) << "rank " << me << " of " << nodes_ << " on " << mine.hostname << ", pid "
                  << mine.pid << ", transport " << transport_->Name()
                  << ", session " << session_dir_ << ", " << local_ranks << " rank(s) on " << cores
                  << " cores of this host: polling " << spin_us << " us (loop), "
                  << executor_spin_us << " us (executors)";

  messenger_ = std::make_unique<transport::Messenger>(loop_.get(), transport_.get(), self_);
  uint64_t arena_bytes = 0;
  if (config.object_store_memory >= 0) {
    arena_bytes = static_cast<uint64_t>(config.object_store_memory);
  } else {
    arena_bytes = static_cast<uint64_t>(
        0.3 * static_cast<double>(UsableMemory(cpus)) / std::max<size_t>(local_ranks, 1));
  }
  const std::string spill_dir =
      config.spill_dir.empty() ? session_dir_ + "/spill" : config.spill_dir;
  FERRY_ASSIGN_OR_RETURN(
      store_, store::ObjectStore::Create({self_,
                                          "ferry-" + topo.session_id + "-rank-" +
                                              std::to_string(me),
                                          arena_bytes, spill_dir},
                                         transport_.get()));
  FERRY_LOG(INFO) << "object store: " << (arena_bytes >> 20)
                  << " MiB shared-memory arena, spilling to " << spill_dir;
  // A reader asks again while owners learn of a holder's death (2 heartbeat timeouts).
  objects_ = std::make_unique<raylet::ObjectManager>(
      self_, loop_.get(), messenger_.get(), transport_.get(), store_.get(),
      std::chrono::milliseconds(2 * std::max(1, config.heartbeat_timeout_ms)));
  // Memory: this rank's share of what the host may give the job, less its object store.
  FERRY_ASSIGN_OR_RETURN(NodeResources full,
                         DetectNodeResources(config, me == 0, local_ranks, arena_bytes));
  resources_ = full.total;
  gpu_ids_ = full.gpu_ids;
  FERRY_LOG(INFO) << "resources: " << full.explain;
  raylet::RayletOptions ropts;
  ropts.self = self_;
  ropts.resources = resources_;
  ropts.gpu_ids = gpu_ids_;
  ropts.report_ms = config.resource_report_ms;
  ropts.max_spillbacks = config.max_spillbacks;
  ropts.inline_threshold = config.inline_threshold_bytes;
  ropts.max_batch = config.max_batch;
  ropts.executor_spin_us = executor_spin_us;
  ropts.memory_threshold = config.memory_usage_threshold;
  ropts.memory_monitor_ms = config.memory_monitor_ms;
  raylet_ = std::make_unique<raylet::Raylet>(ropts, loop_.get(), messenger_.get(), objects_.get(),
                                             store_.get());
  core_ = std::make_unique<core::CoreWorker>(
      core::CoreOptions{self_, config.inline_threshold_bytes, config.max_batch,
                        std::max<int64_t>(0, config.max_lineage_bytes)}, loop_.get(),
      messenger_.get(), objects_.get(), store_.get());

  std::vector<wire::NodeState> initial;
  std::vector<gcs::NodeEntry> entries;
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    peers_ = topo.peers;
  }
  for (const launch::PeerInfo& p : topo.peers) {
    wire::NodeState st;
    st.node = NodeId(p.rank);
    st.total = p.rank == me ? resources_ : p.resources;
    st.available = st.total;
    initial.push_back(st);
    entries.push_back({NodeId(p.rank), p.hostname, p.pid, st.total, true});
  }
  {
    scheduler::ClusterView view;
    std::unordered_map<NodeId, size_t> index;
    gcs::ApplyStates(view, index, initial);
    core_->SetClusterView(std::move(view));
  }
  raylet_->ApplyClusterView(initial);
  // Owner and raylet of this process hand each other specs and results without encoding.
  core_->SetLocalRaylet(
      [this](std::vector<wire::TaskSpec> specs) { raylet_->SubmitTasks(self_, std::move(specs)); });
  raylet_->SetLocalResultSink([this](NodeId from, std::vector<wire::TaskResult> results) {
    core_->HandleTaskResults(from, std::move(results));
  });
  // Completions wait until the owners know of the refs their tasks borrowed.
  raylet_->SetBorrowBarrier([this] { return core_->BorrowsSettled(); },
                            [this](std::function<void()> cb) {
                              core_->WhenBorrowsSettled(std::move(cb));
                            });
  if (is_head()) {
    gcs::GcsServer::Timing timing;
    timing.heartbeat_period = std::chrono::milliseconds(std::max(1, config.heartbeat_period_ms));
    timing.heartbeat_timeout = std::chrono::milliseconds(std::max(1, config.heartbeat_timeout_ms));
    timing.view_period = std::chrono::milliseconds(std::max(1, config.resource_report_ms));
    gcs_ = std::make_unique<gcs::GcsServer>(
        loop_.get(), SteadyClock::Get(), messenger_.get(), std::move(entries), timing,
        [this](NodeId node, const std::string& why) { HandleNodeDead(node, why); });
  } else {
    monitor_ = std::make_unique<gcs::HeadMonitor>(
        loop_.get(), SteadyClock::Get(), std::chrono::milliseconds(config.heartbeat_timeout_ms),
        [this](const std::string& why) {
          FERRY_LOG(ERROR) << "lost the head (rank 0): " << why << "; the driver is gone, exiting";
          std::fprintf(stderr, "ferry: rank %u: lost the head (rank 0): %s; exiting\n",
                       self_.value(), why.c_str());
          ExitNow(1);
        });
  }

  RegisterHandlers();
  for (const launch::PeerInfo& p : topo.peers) {
    if (p.rank == me) continue;
    FERRY_RETURN_IF_ERROR(transport_->Connect(p.rank, p.address)
                              .WithContext("connecting to rank " + std::to_string(p.rank)));
  }
  if (is_head()) {
    // Before the loop runs: a worker's word that it is ready may come at once.
    std::lock_guard<std::mutex> lock(mu_);
    for (const launch::PeerInfo& p : topo.peers)
      if (p.rank != me) starting_.insert(NodeId(p.rank));
  }
  loop_->SetPoller(transport_->MakePoller());
  loop_->Start();
  if (is_head()) FERRY_RETURN_IF_ERROR(StartAutoscaler());
  loop_->Post([this] {
    // Every worker's first word to the head, once it is connected to every member: a joiner
    // may be announced only now, and the driver starts only when every worker of the launch
    // can be reached by every other.
    if (!is_head())
      messenger_->Send(NodeId(0), Type(wire::MsgType::kJoinReady), wire::EncodeSeq(0));
    if (gcs_) gcs_->Start();
    if (autoscaler_) autoscaler_->Start();
    if (config_.drain_on_signal != 0) {
      signal_timer_ = loop_->AddTimer(std::chrono::milliseconds(100), [this] {
        const int sig = g_drain_signal.exchange(0, std::memory_order_relaxed);
        if (sig == 0 || drain_phase_ != DrainPhase::kNone) return;
        const std::string why = std::string(sig == SIGTERM ? "SIGTERM" : "SIGUSR1") + " received";
        if (is_head()) {
          FERRY_LOG(WARNING) << why << " (the walltime is near?): the workers that got it drain "
                                "and leave; the driver goes on";
          return;
        }
        FERRY_LOG(INFO) << why << ": asking the head to drain this node";
        messenger_->Send(NodeId(0), Type(wire::MsgType::kDrainRequest),
                         wire::EncodeNodeDeaths({{self_, why}}));
      });
    }
    if (monitor_) {
      monitor_->Start();
      // The head declares a worker dead when these stop.
      beat_timer_ = loop_->AddTimer(
          std::chrono::milliseconds(std::max(1, config_.heartbeat_period_ms)), [this] {
            messenger_->Send(NodeId(0), Type(wire::MsgType::kHeartbeat), wire::EncodeSeq(0));
          });
    }
    raylet_->Start();
  });
  if (is_head()) {
    // Bounded: a worker that dies starting is declared dead, which ends the wait too.
    const auto limit = std::chrono::milliseconds(
        std::max(config.join_timeout_ms, 2 * std::max(1, config.heartbeat_timeout_ms)));
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return starting_.empty(); }))
      FERRY_LOG(WARNING) << starting_.size() << " worker(s) did not report ready within "
                         << limit.count() << " ms; the driver starts without waiting for them";
  }
  return Status::Ok();
}

void Runtime::RegisterHandlers() {
  using wire::MsgType;
  messenger_->Register(Type(MsgType::kSubmitTasks), [this](NodeId from, const Buffer& m) {
    raylet_->HandleSubmitTasks(from, m);
  });
  messenger_->Register(Type(MsgType::kTaskDone),
                       [this](NodeId from, const Buffer& m) { core_->HandleTaskDone(from, m); });
  messenger_->Register(Type(MsgType::kGetObject),
                       [this](NodeId from, const Buffer& m) { core_->HandleGetObject(from, m); });
  messenger_->Register(Type(MsgType::kObjectInfo), [this](NodeId from, const Buffer& m) {
    objects_->HandleObjectInfo(from, m);
  });
  messenger_->Register(Type(MsgType::kPinObject), [this](NodeId from, const Buffer& m) {
    objects_->HandlePinObject(from, m);
  });
  messenger_->Register(Type(MsgType::kUnpinObject), [this](NodeId from, const Buffer& m) {
    objects_->HandleUnpinObject(from, m);
  });
  messenger_->Register(Type(MsgType::kReleaseResultRefs), [this](NodeId from, const Buffer& m) {
    raylet_->HandleReleaseResultRefs(from, m);
  });
  messenger_->Register(Type(MsgType::kAddBorrower),
                       [this](NodeId from, const Buffer& m) { core_->HandleAddBorrower(from, m); });
  messenger_->Register(Type(MsgType::kBorrowerAck),
                       [this](NodeId from, const Buffer& m) { core_->HandleBorrowerAck(from, m); });
  messenger_->Register(Type(MsgType::kRemoveBorrower), [this](NodeId from, const Buffer& m) {
    core_->HandleRemoveBorrower(from, m);
  });
  messenger_->Register(Type(MsgType::kPinReply), [this](NodeId from, const Buffer& m) {
    objects_->HandlePinReply(from, m);
  });
  messenger_->Register(Type(MsgType::kFreeObjects), [this](NodeId from, const Buffer& m) {
    raylet_->HandleFreeObjects(from, m);
  });
  // Actors: requests to the GCS are served on the head only.
  auto gcs_handler = [this](void (gcs::ActorDirectory::*fn)(NodeId, const Buffer&)) {
    return [this, fn](NodeId from, const Buffer& m) {
      if (!gcs_) {
        FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a GCS request from " << from
                                      << ": this rank is not the head";
        return;
      }
      (gcs_->actors().*fn)(from, m);
    };
  };
  messenger_->Register(Type(MsgType::kActorRegister),
                       gcs_handler(&gcs::ActorDirectory::HandleRegister));
  messenger_->Register(Type(MsgType::kActorCreated),
                       gcs_handler(&gcs::ActorDirectory::HandleCreated));
  messenger_->Register(Type(MsgType::kActorSubscribe),
                       gcs_handler(&gcs::ActorDirectory::HandleSubscribe));
  messenger_->Register(Type(MsgType::kActorKill), gcs_handler(&gcs::ActorDirectory::HandleKill));
  messenger_->Register(Type(MsgType::kActorExited),
                       gcs_handler(&gcs::ActorDirectory::HandleExited));
  messenger_->Register(Type(MsgType::kActorLookup),
                       gcs_handler(&gcs::ActorDirectory::HandleLookup));
  messenger_->Register(Type(MsgType::kActorReply),
                       [this](NodeId from, const Buffer& m) { core_->HandleActorReply(from, m); });
  messenger_->Register(Type(MsgType::kActorUpdate),
                       [this](NodeId from, const Buffer& m) { core_->HandleActorUpdate(from, m); });
  messenger_->Register(Type(MsgType::kClusterView), [this](NodeId from, const Buffer& m) {
    std::vector<wire::NodeState> states;
    if (Status st = wire::DecodeNodeStates(m, &states); !st.ok() || from != NodeId(0)) {
      FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a ClusterView message from " << from << ": "
                                    << (st.ok() ? "only the head sends it" : st.ToString());
      return;
    }
    core_->ApplyClusterView(states);
    raylet_->ApplyClusterView(states);
  });
  messenger_->Register(Type(MsgType::kResourceReport), [this](NodeId from, const Buffer& m) {
    if (gcs_) gcs_->cluster().HandleReport(from, m);
  });
  messenger_->Register(Type(MsgType::kTaskForwarded), [this](NodeId from, const Buffer& m) {
    core_->HandleTaskForwarded(from, m);
  });
  // Placement groups: requests to the GCS on the head; bundles reserved on every raylet.
  auto pg_handler = [this](void (gcs::PgDirectory::*fn)(NodeId, const Buffer&)) {
    return [this, fn](NodeId from, const Buffer& m) {
      if (!gcs_) {
        FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a placement-group request from " << from
                                      << ": this rank is not the head";
        return;
      }
      (gcs_->placement_groups().*fn)(from, m);
    };
  };
  messenger_->Register(Type(MsgType::kPgCreate), pg_handler(&gcs::PgDirectory::HandleCreate));
  messenger_->Register(Type(MsgType::kPgRemove), pg_handler(&gcs::PgDirectory::HandleRemove));
  messenger_->Register(Type(MsgType::kPgQuery), pg_handler(&gcs::PgDirectory::HandleQuery));
  messenger_->Register(Type(MsgType::kPgPrepared), pg_handler(&gcs::PgDirectory::HandlePrepared));
  messenger_->Register(Type(MsgType::kPgReply),
                       [this](NodeId from, const Buffer& m) { core_->HandlePgReply(from, m); });
  messenger_->Register(Type(MsgType::kPgPrepare), [this](NodeId from, const Buffer& m) {
    raylet_->HandlePgPrepare(from, m);
  });
  messenger_->Register(Type(MsgType::kPgCommit), [this](NodeId from, const Buffer& m) {
    raylet_->HandlePgCommit(from, m);
  });
  messenger_->Register(Type(MsgType::kPgRelease), [this](NodeId from, const Buffer& m) {
    raylet_->HandlePgRelease(from, m);
  });
  messenger_->Register(Type(MsgType::kActorCreate), [this](NodeId from, const Buffer& m) {
    raylet_->HandleActorCreate(from, m);
  });
  messenger_->Register(Type(MsgType::kActorDestroy), [this](NodeId from, const Buffer& m) {
    raylet_->HandleActorDestroy(from, m);
  });
  messenger_->Register(Type(MsgType::kHeartbeat), [this](NodeId from, const Buffer&) {
    if (gcs_) gcs_->HandleHeartbeat(from);
    if (monitor_ && from == NodeId(0)) monitor_->HandleHeartbeat();
  });
  messenger_->Register(Type(MsgType::kNodeDead), [this](NodeId from, const Buffer& m) {
    if (gcs_) {
      gcs_->HandleNodeDeadReport(from, m);
      return;
    }
    std::vector<std::pair<NodeId, std::string>> deaths;
    if (Status st = wire::DecodeNodeDeaths(m, &deaths); !st.ok() || from != NodeId(0)) {
      FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a NodeDead message from " << from << ": "
                                    << (st.ok() ? "only the head declares deaths" : st.ToString());
      return;
    }
    for (const auto& [node, why] : deaths) HandleNodeDead(node, why);
  });
  messenger_->Register(Type(MsgType::kShutdown), [this](NodeId from, const Buffer&) {
    if (is_head() || from != NodeId(0)) return;
    if (monitor_) monitor_->Stop();
    messenger_->Send(from, Type(MsgType::kShutdownAck), wire::EncodeSeq(0));
    if (drain_phase_ == DrainPhase::kLeaving && abandoned_tasks_ > 0) {
      // Tasks handed back still run on executor threads that cannot be stopped: waiting for
      // them could outlast the walltime. Their owners run them elsewhere.
      loop_->AddOneShot(std::chrono::milliseconds(200), [this] {
        FERRY_LOG(INFO) << "left the cluster; " << abandoned_tasks_
                        << " abandoned task(s) still running here are cut short";
        transport_->Close();
        ExitNow(0);
      });
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_requested_ = true;
    cv_.notify_all();
  });
  messenger_->Register(Type(MsgType::kShutdownAck), [this](NodeId from, const Buffer&) {
    if (gcs_) gcs_->HandleShutdownAck(from);
  });
  messenger_->Register(Type(MsgType::kJoinRequest), [this](NodeId from, const Buffer& m) {
    HandleJoinRequest(from, m);
  });
  messenger_->Register(Type(MsgType::kJoinReady),
                       [this](NodeId from, const Buffer&) { HandleJoinReady(from); });
  messenger_->Register(Type(MsgType::kNodeJoined), [this](NodeId from, const Buffer& m) {
    HandleNodeJoined(from, m);
  });
  messenger_->Register(Type(MsgType::kDrainRequest), [this](NodeId from, const Buffer& m) {
    if (gcs_) gcs_->HandleDrainRequest(from, m);
  });
  messenger_->Register(Type(MsgType::kDrain), [this](NodeId from, const Buffer& m) {
    std::vector<std::pair<NodeId, std::string>> what;
    Status st = wire::DecodeNodeDeaths(m, &what);
    if (st.ok() && (from != NodeId(0) || what.size() != 1 || what[0].first != self_))
      st = DataLossError("only the head drains a node, and only the node it names");
    if (!st.ok()) {
      FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a Drain message from " << from << ": "
                                    << st.ToString();
      return;
    }
    BeginDrain(what[0].second);
  });
  messenger_->Register(Type(MsgType::kHandOff),
                       [this](NodeId from, const Buffer& m) { core_->HandleHandOff(from, m); });
  messenger_->Register(Type(MsgType::kHandOffDone), [this](NodeId from, const Buffer& m) {
    HandleHandOffDone(from, m);
  });
  messenger_->Register(Type(MsgType::kLeave), [this](NodeId from, const Buffer&) {
    if (gcs_) gcs_->HandleLeave(from);
  });
  messenger_->Attach(
      [this](transport::PeerIndex peer, const Status& why) { OnPeerError(NodeId(peer), why); });
}

Status Runtime::StartAutoscaler() {
  const std::string& kind = config_.autoscaler_provider;
  if (kind.empty()) return Status::Ok();
  if (head_listen_.empty())
    return FailedPreconditionError("the autoscaler needs the head to accept joins "
                                   "(FERRY_ACCEPT_JOINS is 0, or the transport is not ucx)");
  std::vector<std::string> args = OwnCommandLine();
  const std::string exe = OwnExecutable();
  std::unique_ptr<gcs::NodeProvider> provider;
  if (kind == "local") {
    provider = gcs::MakeLocalProcessProvider(exe, args);
  } else if (kind == "slurm") {
    slurm::SlurmProviderOptions o;
    o.mode = config_.autoscaler_slurm_mode;
    o.sbatch_template = config_.autoscaler_slurm_template.empty()
                            ? std::string(FERRY_INSTALLED_SBATCH_TEMPLATE)
                            : config_.autoscaler_slurm_template;
    o.extra_args = slurm::SplitArgs(config_.autoscaler_slurm_args);
    o.log_dir = session_dir_ + "/logs";
    FERRY_ASSIGN_OR_RETURN(provider, slurm::MakeSlurmProvider(o, exe, args));
  } else {
    return InvalidArgumentError("unknown autoscaler provider '" + kind +
                                "' (FERRY_AUTOSCALER_PROVIDER: local or slurm)");
  }
  gcs::AutoscalerOptions o;
  o.min_workers = std::max(0, config_.autoscaler_min_workers);
  o.max_workers = std::max(o.min_workers, config_.autoscaler_max_workers);
  o.period = std::chrono::milliseconds(std::max(10, config_.autoscaler_period_ms));
  o.idle_timeout = std::chrono::milliseconds(
      1000 * static_cast<int64_t>(std::max(0, config_.autoscaler_idle_timeout_s)));
  o.launch_timeout = std::chrono::milliseconds(
      1000 * static_cast<int64_t>(std::max(1, config_.autoscaler_launch_timeout_s)));
  o.node_cpus = config_.autoscaler_node_cpus;
  gcs::LaunchRequest base{head_listen_, token_, "", session_dir_};
  gcs::Autoscaler::Hooks hooks;
  hooks.infeasible = [this] { return core_->InfeasibleTasks().size(); };
  hooks.drain = [this](NodeId node, const std::string& why) { return gcs_->Drain(node, why); };
  autoscaler_ = std::make_unique<gcs::Autoscaler>(loop_.get(), SteadyClock::Get(), gcs_.get(),
                                                  std::move(provider), o, std::move(base),
                                                  std::move(hooks));
  return Status::Ok();
}

void Runtime::RequestDrain(NodeId node, const std::string& reason) {
  messenger_->Send(NodeId(0), Type(wire::MsgType::kDrainRequest),
                   wire::EncodeNodeDeaths({{node, reason}}));
}

void Runtime::BeginDrain(const std::string& reason) {
  if (drain_phase_ != DrainPhase::kNone || is_head()) return;
  drain_phase_ = DrainPhase::kTasks;
  drain_reason_ = reason;
  drain_since_ = std::chrono::steady_clock::now();
  std::fprintf(stderr, "ferry: rank %u: draining (%s): no new tasks; leaving once the running "
                       "ones finished and the objects held here are handed over\n",
               self_.value(), reason.c_str());
  FERRY_LOG(INFO) << "draining (" << reason << ")";
  raylet_->BeginDrain();
  drain_timer_ = loop_->AddTimer(std::chrono::milliseconds(20), [this] { DrainStep(); });
}

void Runtime::DrainStep() {
  const auto now = std::chrono::steady_clock::now();
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - drain_since_);
  if (drain_phase_ == DrainPhase::kTasks) {
    if (!raylet_->Idle()) {
      if (waited.count() < config_.drain_grace_ms) return;
      abandoned_tasks_ = raylet_->ReturnRunning();
      FERRY_LOG(WARNING) << "drain: " << abandoned_tasks_ << " task(s) still running after "
                         << config_.drain_grace_ms
                         << " ms (drain_grace_ms): handed back to their owners to run elsewhere";
      if (!raylet_->Idle()) return;  // arguments still being fetched: they come back soon
    }
    // Results first: an owner must know an object before it is asked to take it.
    raylet_->FlushNow();
    std::map<NodeId, std::vector<ObjectId>> by_owner;
    store_->ForEach([&](const ObjectId& id, const store::StoredObject& obj) {
      const NodeId owner = id.owner();
      if (obj.primary && owner != self_ && dead_.count(owner) == 0) by_owner[owner].push_back(id);
    });
    size_t objects = 0;
    for (auto& [owner, ids] : by_owner) {
      objects += ids.size();
      handoff_owners_.insert(owner);
      messenger_->Send(owner, Type(wire::MsgType::kHandOff), wire::EncodeFreeObjects(ids));
    }
    FERRY_LOG(INFO) << "drain: no task left after " << waited.count() << " ms; handing "
                    << objects << " object(s) to " << by_owner.size() << " owner(s)";
    drain_phase_ = DrainPhase::kObjects;
    drain_since_ = now;
  }
  if (drain_phase_ == DrainPhase::kObjects) {
    for (auto it = handoff_owners_.begin(); it != handoff_owners_.end();)
      it = dead_.count(*it) != 0 ? handoff_owners_.erase(it) : std::next(it);
    const bool late = waited.count() >= std::max(10000, config_.heartbeat_timeout_ms * 2);
    if (!handoff_owners_.empty() && !late) return;
    if (late)
      FERRY_LOG(WARNING) << "drain: " << handoff_owners_.size()
                         << " owner(s) did not confirm the hand-over in time; their objects will "
                            "be rebuilt if needed";
    FERRY_LOG(INFO) << "drain: done, leaving the cluster";
    messenger_->Send(NodeId(0), Type(wire::MsgType::kLeave), wire::EncodeSeq(0));
    drain_phase_ = DrainPhase::kLeaving;
    loop_->CancelTimer(drain_timer_);
    drain_timer_ = 0;
  }
}

void Runtime::HandleHandOffDone(NodeId from, const Buffer& m) {
  std::vector<ObjectId> taken;
  if (Status st = wire::DecodeFreeObjects(m, &taken); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed HandOffDone from " << from << ": "
                                  << st.ToString();
    return;
  }
  FERRY_LOG(INFO) << "drain: " << from << " took over " << taken.size() << " object(s)";
  handoff_owners_.erase(from);
}

std::vector<launch::PeerInfo> Runtime::peers() const {
  std::lock_guard<std::mutex> lock(peers_mu_);
  return peers_;
}

void Runtime::AddPeer(launch::PeerInfo peer) {
  std::lock_guard<std::mutex> lock(peers_mu_);
  peers_.push_back(std::move(peer));
}

void Runtime::HandleJoinRequest(NodeId from, const Buffer& m) {
  if (!gcs_) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a join request from index " << from.value()
                                  << ": this rank is not the head";
    return;
  }
  wire::JoinRequest req;
  Status st = wire::DecodeJoinRequest(m, &req);
  if (st.ok() && req.provisional != from.value())
    st = DataLossError("sent from index " + std::to_string(from.value()) + " but names " +
                       std::to_string(req.provisional));
  if (st.ok() && req.provisional < 0x80000000u)
    st = DataLossError("provisional index " + std::to_string(req.provisional) +
                       " is in the range of node ids");
  if (!st.ok()) {
    // Nothing to answer to: the request does not say where its sender is.
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed join request: " << st.ToString();
    return;
  }
  const std::string who = req.joiner.hostname + " (pid " + std::to_string(req.joiner.pid) + ")";
  std::string reason;
  if (token_.empty()) {
    reason = "this cluster has no session token";
  } else if (req.token.empty()) {
    reason = "it presented no session token";
  } else if (!ConstantTimeEqual(req.token, token_)) {
    reason = "it presented a wrong session token";
  } else if (req.function_hash != function_hash_) {
    reason = "it runs a different binary (" + std::to_string(req.function_count) +
             " functions, table hash " + std::to_string(req.function_hash) +
             "; the cluster's: " + std::to_string(function_count_) + " functions, hash " +
             std::to_string(function_hash_) + ")";
  } else if (gcs_->shutting_down()) {
    reason = "the cluster is shutting down";
  }
  wire::JoinReply reply;
  if (!reason.empty()) {
    FERRY_LOG(WARNING) << "refused a node joining from " << who << ": " << reason;
    // The answer goes to the joiner's own address; the endpoint is dropped a while later.
    const uint32_t index = req.provisional;
    if (!transport_->Connect(index, req.joiner.address).ok()) return;
    reply.reason = reason;
    messenger_->Send(NodeId(index), Type(wire::MsgType::kJoinReply), wire::EncodeJoinReply(reply));
    loop_->AddOneShot(std::chrono::seconds(5), [this, index] {
      transport_->Disconnect(index, CancelledError("refused joiner"));
    });
    return;
  }
  const NodeId node = gcs_->ReserveNodeId();
  if (Status c = transport_->Connect(node.value(), req.joiner.address); !c.ok()) {
    FERRY_LOG(WARNING) << "cannot answer a node joining from " << who << ": " << c.ToString();
    return;
  }
  reply.accepted = true;
  reply.node = node;
  reply.session_id = session_id_;
  reply.session_name = session_name_;
  PendingJoin& pending = pending_joins_[node];
  for (const launch::PeerInfo& p : peers()) {
    if (!gcs_->IsAlive(NodeId(p.rank))) continue;
    reply.members.push_back({NodeId(p.rank), p.address, p.hostname, p.pid, p.resources});
    pending.told.insert(NodeId(p.rank));
  }
  messenger_->Send(node, Type(wire::MsgType::kJoinReply), wire::EncodeJoinReply(reply));
  pending.info.rank = node.value();
  pending.info.address = req.joiner.address;
  pending.info.hostname = req.joiner.hostname;
  pending.info.pid = req.joiner.pid;
  pending.info.resources = req.joiner.resources;
  pending.info.function_hash = req.function_hash;
  pending.info.function_count = req.function_count;
  pending.info.session_id = session_id_;
  pending.launch_id = req.launch_id;
  pending.timer = loop_->AddOneShot(
      std::chrono::milliseconds(std::max(1, config_.join_timeout_ms)), [this, node, who] {
        if (pending_joins_.erase(node) == 0) return;
        FERRY_LOG(WARNING) << node << " (" << who << ") was accepted but never became ready in "
                           << config_.join_timeout_ms << " ms; forgotten";
        transport_->Disconnect(node.value(), CancelledError("joiner never became ready"));
      });
  FERRY_LOG(INFO) << "accepted a node joining from " << who << " as " << node;
}

void Runtime::HandleJoinReady(NodeId from) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (starting_.erase(from) != 0) {
      if (starting_.empty()) cv_.notify_all();
      return;
    }
  }
  auto it = pending_joins_.find(from);
  if (!gcs_ || it == pending_joins_.end()) {
    FERRY_LOG_RATE_LIMITED(WARNING) << "dropped a JoinReady from " << from
                                    << ": no join of it is pending";
    return;
  }
  launch::PeerInfo info = std::move(it->second.info);
  const std::string launch_id = std::move(it->second.launch_id);
  const std::set<NodeId> told = std::move(it->second.told);
  loop_->CancelTimer(it->second.timer);
  pending_joins_.erase(it);
  // The members learn how to reach it before any view that shows it; it learns of the
  // members that joined while it was joining itself (its answer could not name them).
  const std::string bytes = wire::EncodeMemberInfo(
      {from, info.address, info.hostname, info.pid, info.resources});
  for (const launch::PeerInfo& p : peers()) {
    const NodeId n(p.rank);
    if (n == self_ || !gcs_->IsAlive(n)) continue;
    messenger_->Send(n, Type(wire::MsgType::kNodeJoined), bytes);
    if (told.count(n) == 0)
      messenger_->Send(from, Type(wire::MsgType::kNodeJoined),
                       wire::EncodeMemberInfo({n, p.address, p.hostname, p.pid, p.resources}));
  }
  gcs_->AddNode({from, info.hostname, info.pid, info.resources, true});
  AddPeer(std::move(info));
  if (autoscaler_) autoscaler_->OnNodeJoined(from, launch_id);
}

void Runtime::HandleNodeJoined(NodeId from, const Buffer& m) {
  wire::MemberInfo member;
  Status st = wire::DecodeMemberInfo(m, &member);
  if (st.ok() && from != NodeId(0)) st = DataLossError("only the head announces members");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a NodeJoined message from " << from << ": "
                                  << st.ToString();
    return;
  }
  if (member.node == self_ || dead_.count(member.node) != 0) return;
  if (Status c = transport_->Connect(member.node.value(), member.address); !c.ok()) {
    // Unreachable from here: the first send to it fails and reports it like any lost peer.
    FERRY_LOG(WARNING) << "cannot connect to " << member.node << ", which joined: " << c.ToString();
  }
  FERRY_LOG(INFO) << member.node << " joined from " << member.hostname;
  launch::PeerInfo info;
  info.rank = member.node.value();
  info.address = member.address;
  info.hostname = member.hostname;
  info.pid = member.pid;
  info.resources = member.resources;
  info.session_id = session_id_;
  AddPeer(std::move(info));
}

void Runtime::OnPeerError(NodeId peer, const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_requested_) return;  // peers closing at shutdown are expected
  }
  if (dead_.count(peer) != 0) return;
  FERRY_LOG(WARNING) << "lost connection to " << peer << ": " << why.ToString();
  if (gcs_) {
    gcs_->DeclareDead(peer, "the transport reported: " + why.message(), /*tell_it=*/false);
    return;
  }
  if (peer == NodeId(0)) {
    if (monitor_) monitor_->OnHeadDead(why.ToString());
    return;
  }
  // The head decides for everyone; this process stops waiting on the peer at once.
  messenger_->Send(NodeId(0), Type(wire::MsgType::kNodeDead),
                   wire::EncodeNodeDeaths({{peer, why.message()}}));
  HandleNodeDead(peer, "the transport reported: " + why.message());
}

void Runtime::HandleNodeDead(NodeId node, const std::string& why) {
  if (!dead_.insert(node).second) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (starting_.erase(node) != 0 && starting_.empty()) cv_.notify_all();
  }
  if (node == self_) {
    // Declared dead while alive (cut off from the head for too long): the cluster has moved
    // on without this rank, so it must not act on anything any more.
    std::fprintf(stderr, "ferry: rank %u was declared dead by the head (%s); exiting\n",
                 self_.value(), why.c_str());
    FERRY_LOG(ERROR) << "declared dead by the head: " << why << "; exiting";
    ExitNow(1);
  }
  if (!gcs_) {
    if (wire::LeftGracefully(why)) {
      FERRY_LOG(INFO) << node << " " << why;
    } else {
      FERRY_LOG(WARNING) << node << " is dead: " << why;
    }
  }
  transport_->Disconnect(node.value(), UnavailableError(node.ToString() + " is dead: " + why));
  core_->OnNodeDead(node, why);
  raylet_->OnNodeDead(node);
  if (autoscaler_) autoscaler_->OnNodeGone(node);
}

int Runtime::ServeUntilShutdown() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return shutdown_requested_; });
  }
  StopLocal();
  return 0;
}

void Runtime::ShutdownCluster() {
  if (stopped_) return;
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  {
    // From here on, peers closing their connections is expected, not a failure.
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_requested_ = true;
  }
  loop_->Post([&] {
    if (autoscaler_) autoscaler_->Stop();  // starts nothing more, ends launches not joined
    gcs_->BeginShutdown(std::chrono::milliseconds(config_.shutdown_timeout_ms),
                        [&](std::vector<NodeId> missing) {
                          for (NodeId n : missing)
                            FERRY_LOG(WARNING) << n << " did not confirm shutdown in time";
                          std::lock_guard<std::mutex> lock(done_mu);
                          done = true;
                          done_cv.notify_all();
                        });
  });
  {
    std::unique_lock<std::mutex> lock(done_mu);
    done_cv.wait(lock, [&] { return done; });
  }
  StopLocal();
}

void Runtime::StopLocal() {
  if (stopped_) return;
  stopped_ = true;
  // Running task bodies finish first; their completions are still handled by the loop.
  // Any part may be missing when Init failed half-way.
  if (raylet_) raylet_->Stop();
  if (loop_) loop_->Stop();
  if (transport_) transport_->Close();
  FERRY_LOG(INFO) << "rank " << self_.value() << " stopped";
}

Runtime::~Runtime() {
  StopLocal();
  // Components reference each other and the loop: destroy in reverse order of creation.
  monitor_.reset();
  autoscaler_.reset();
  gcs_.reset();
  core_.reset();
  raylet_.reset();
  objects_.reset();
  store_.reset();
  messenger_.reset();
  loop_.reset();
  transport_.reset();
}

}  // namespace ferry::api
