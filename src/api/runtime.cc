#include "src/api/runtime.h"

#include "src/api/exit_status.h"
#include "src/api/node_resources.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "ferry/internal/function_registry.h"
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

  std::string transport_name = config.transport;
  if (transport_name == "auto") transport_name = nodes_ > 1 ? "ucx" : "inproc";
  FERRY_ASSIGN_OR_RETURN(
      transport_, transport::CreateTransport(transport_name, {rank, config.ucx_peer_errors != 0}));

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
  FERRY_ASSIGN_OR_RETURN(launch::Topology topo, boot->Exchange(mine));

  // Same-binary check: every rank sees every hash, so every rank reports a mismatch.
  for (const launch::PeerInfo& p : topo.peers) {
    if (p.function_hash != mine.function_hash) {
      *every_rank_fails = true;
      return FailedPreconditionError(
          "rank " + std::to_string(rank) + " (" + mine.hostname + ") and rank " +
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

  session_dir_ = config.session_dir;
  if (session_dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    session_dir_ =
        std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/ferry-session-" + topo.session_id;
  }
  FERRY_RETURN_IF_ERROR(MakeDirs(session_dir_ + "/logs", "session directory"));
  log::SetSink(session_dir_ + "/logs/rank-" + std::to_string(rank) + ".log",
               "rank " + std::to_string(rank));
  FERRY_LOG(INFO) << "rank " << rank << " of " << nodes_ << " on " << mine.hostname << ", pid "
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
                                              std::to_string(rank),
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
                         DetectNodeResources(config, rank == 0, local_ranks, arena_bytes));
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
  peers_ = topo.peers;
  for (const launch::PeerInfo& p : topo.peers) {
    wire::NodeState st;
    st.node = NodeId(p.rank);
    st.total = p.rank == rank ? resources_ : p.resources;
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
    if (p.rank == rank) continue;
    FERRY_RETURN_IF_ERROR(transport_->Connect(p.rank, p.address)
                              .WithContext("connecting to rank " + std::to_string(p.rank)));
  }
  loop_->SetPoller(transport_->MakePoller());
  loop_->Start();
  loop_->Post([this] {
    if (gcs_) gcs_->Start();
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
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_requested_ = true;
    cv_.notify_all();
  });
  messenger_->Register(Type(MsgType::kShutdownAck), [this](NodeId from, const Buffer&) {
    if (gcs_) gcs_->HandleShutdownAck(from);
  });
  messenger_->Attach(
      [this](transport::PeerIndex peer, const Status& why) { OnPeerError(NodeId(peer), why); });
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
  if (node == self_) {
    // Declared dead while alive (cut off from the head for too long): the cluster has moved
    // on without this rank, so it must not act on anything any more.
    std::fprintf(stderr, "ferry: rank %u was declared dead by the head (%s); exiting\n",
                 self_.value(), why.c_str());
    FERRY_LOG(ERROR) << "declared dead by the head: " << why << "; exiting";
    ExitNow(1);
  }
  if (!gcs_) FERRY_LOG(WARNING) << node << " is dead: " << why;
  transport_->Disconnect(node.value(), UnavailableError(node.ToString() + " is dead: " + why));
  core_->OnNodeDead(node, why);
  raylet_->OnNodeDead(node);
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
