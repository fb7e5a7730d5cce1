// ferry-bench: ferry's microbenchmarks, printed as JSON lines in the format BENCHMARKS.md
// defines (bench/run runs it embedded and under mpirun -n 3).
//
//   ferry-bench [--filter REGEX] [--quick] [--ferry-<knob>=value ...]
//   mpirun -n 3 ferry-bench [--filter REGEX] [--quick]
//
// Every figure is one line {"name": ..., "value": ..., "unit": ..., "ranks": N, "cores": C}
// (C: the CPUs online on this host, so that a figure says what it ran on), with extra fields
// where a name covers several points ("bytes": the transfer size of a sweep point, "tasks": how
// many tasks a figure queued); a figure with a baseline measured in the same run is followed by
// a line with "unit": "ratio" and "ratio_to": <baseline> (and the same extra fields). A figure
// that cannot be measured here prints {"name": ..., "skipped": "<why>"}. Names follow Ray's
// ray_perf.py where one exists.
//
// Method: every figure is the MEDIAN of several timed trials, after an untimed warm-up (the
// median, not the best, because these machines are shared and noisy: one lucky trial should
// not set the figure). Rates run each trial for a fixed time; bandwidths time one transfer
// per trial, stopping early (after at least one) when the next one would overrun the
// figure's time budget, so that a slow machine still finishes in about a minute.
// 1 GB = 1e9 bytes. Diagnostics (round trip subtracted, UCX lanes, warnings) go to stderr;
// FERRY_BENCH_VERBOSE=1 adds every timed transfer. Exit status 1 if a figure failed.
//
// Under MPI (mpirun/srun), the floors are measured first, with MPI initialized by this program
// and before ferry::Init, between ranks 0 and 1 (other ranks join the collectives only): the
// round trip of an 8-byte message over MPI (mpi_pingpong_us) and over raw UCX
// (ucx_pingpong_us), and the raw UCX get bandwidth (ucx_get_gigabytes, and
// ucx_get_sweep_gigabytes at every size of the transfer sweep: --filter sweep). Then every rank calls ferry::Init with head_cpus = 0, so
// that rank 0 only drives and every task runs on another rank. Ranks other than 0 serve tasks
// inside ferry::Init and never return.
#include <ferry/ferry.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "src/scheduler/policy.h"

#if FERRY_BENCH_WITH_MPI
#include <mpi.h>
#endif
#if FERRY_BENCH_WITH_MPI && FERRY_BENCH_WITH_UCX
#include "bench/raw_ucx.h"
#endif

namespace {

using ferry_bench::JsonString;
using ferry_bench::LaunchedByMpi;
using ferry_bench::Median;

// ---- The remote functions -------------------------------------------------------------------

void Empty() {}
int64_t Pid() { return static_cast<int64_t>(getpid()); }
// Takes the object by value: the runtime fetches it to this rank and decodes it before the
// call. Returns its size and where it ran.
std::pair<int64_t, int64_t> SizeOf(std::vector<uint8_t> v) {
  return {static_cast<int64_t>(v.size()), static_cast<int64_t>(getpid())};
}

// Takes the reference itself (not the value) and fetches the object's bytes into this rank's
// store without decoding them: the transfer path alone. Returns the seconds it took here.
double FetchSeconds(ferry::ObjectRef<std::vector<uint8_t>> ref) {
  auto t0 = std::chrono::steady_clock::now();
  ferry::internal::Buffer bytes = ferry::internal::GetObject(ref.ID(), -1);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return bytes.empty() ? -1 : s;
}

// Takes the object in place: an ArrayView of the bytes the runtime fetched into this rank's
// store before the call (the transfer has completed when the body runs).
std::pair<int64_t, int64_t> SizeOfView(ferry::ArrayView<uint8_t> v) {
  return {static_cast<int64_t>(v.size()), static_cast<int64_t>(getpid())};
}

int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// queued_1m_tasks_s, embedded only (tasks run in this process, so these globals are shared
// by the driver and the task bodies). Gate holds its CPU until the driver opens the gate, or
// at most `max_ms`, so that a driver that failed never leaves it blocked; Queued counts its
// runs, which shows that no queued task ran before the gate opened.
std::atomic<bool> g_gate_open{false};
std::atomic<int> g_gates_started{0};
std::atomic<int64_t> g_queued_ran{0};

bool Gate(int64_t max_ms) {
  g_gates_started.fetch_add(1);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (!g_gate_open.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return g_gate_open.load();
}
void Queued() { g_queued_ran.fetch_add(1, std::memory_order_relaxed); }

FERRY_REMOTE(Empty, Pid, SizeOf, SizeOfView, FetchSeconds, SleepMs, Gate, Queued);

// The actor the actor figures call, and the callers of n_n_actor_calls_async.
struct BenchActor {
  static BenchActor* Create() { return new BenchActor(); }
  void Empty() {}
  int64_t Pid() { return static_cast<int64_t>(getpid()); }
};
// `n` calls spread over `targets`, all submitted, then all awaited.
int64_t CallBatch(const std::vector<ferry::ActorHandle<BenchActor>>& targets, int n) {
  std::vector<ferry::ObjectRef<void>> refs;
  refs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    refs.push_back(targets[static_cast<size_t>(i) % targets.size()]
                       .Task(&BenchActor::Empty)
                       .Remote());
  ferry::Get(refs);
  return n;
}

struct BenchClient {
  static BenchClient* Create() { return new BenchClient(); }
  int64_t Drive(std::vector<ferry::ActorHandle<BenchActor>> targets, int64_t n) {
    return CallBatch(targets, static_cast<int>(n));
  }
  // multi_client_tasks_async: this client submits `n` empty tasks, then gets them all.
  int64_t SubmitTasks(int64_t n) {
    std::vector<ferry::ObjectRef<void>> refs;
    refs.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) refs.push_back(ferry::Task(Empty).Remote());
    ferry::Get(refs);
    return n;
  }
};
FERRY_REMOTE(BenchActor::Create, &BenchActor::Empty, &BenchActor::Pid, BenchClient::Create,
             &BenchClient::Drive, &BenchClient::SubmitTasks);

// ---- Options and output ---------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
constexpr size_t kMiB = size_t{1} << 20;
// The newer figures wait with a limit, so that a task that never finishes fails the figure
// instead of hanging the bench.
constexpr int64_t kGetTimeoutMs = 120000;

struct Options {
  bool quick = false;
  std::string filter;  // empty: everything
  // Derived from quick:
  double trial_s = 0.5;     // length of one timed trial of a rate
  double warmup_s = 0.2;    // untimed warm-up before the trials
  int trials = 3;           // rate trials (median)
  int bw_reps = 3;          // timed transfers (median), at most
  double bw_budget_s = 10;  // timed seconds one bandwidth figure may take (rank_to_rank: 1.5x)
  size_t big_bytes = 1024 * kMiB;  // every large transfer: put, memcpy, ucx_get, rank_to_rank
  size_t sweep_max_bytes = 1024 * kMiB;  // the transfer sweep: 1 KiB, 4 KiB, ... up to this
  double sweep_ucx_budget_s = 15;        // the whole raw UCX part of the sweep
  double sweep_ferry_budget_s = 45;      // the whole rank_to_rank part of the sweep
  double floor_budget_s = 5;             // each ping-pong floor
  int64_t queued_tasks = 1000000;        // queued_1m_tasks_s
};

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: ferry-bench [--filter REGEX] [--quick] [--ferry-<knob>=value ...]\n"
               "  --filter REGEX  run only the figures whose name matches REGEX (their baselines\n"
               "                  still run, so that ratios can be printed)\n"
               "  --quick         short trials, 256 MiB transfers, a sweep up to 64 MiB and\n"
               "                  100,000 queued tasks (about a minute)\n"
               "Launch under mpirun/srun for the multi-rank figures (rank_to_rank, ucx_get,\n"
               "the ping-pong floors, the transfer sweep: --filter sweep).\n"
               "FERRY_BENCH_VERBOSE=1 prints every timed transfer on stderr.\n");
}

// Removes the bench's own flags from argv, leaving argv[0] and the --ferry-* flags for
// ferry::Init. Exits with usage on anything else.
Options ParseArgs(int& argc, char**& argv) {
  Options o;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--filter" && i + 1 < argc) {
      o.filter = argv[++i];
    } else if (a.rfind("--filter=", 0) == 0) {
      o.filter = a.substr(9);
    } else if (a == "--help" || a == "-h") {
      Usage(stdout);
      std::exit(0);
    } else if (a.rfind("--ferry-", 0) == 0) {
      argv[out++] = argv[i];
      // "--ferry-name value": keep the value with its flag.
      if (a.find('=') == std::string::npos && i + 1 < argc &&
          std::strncmp(argv[i + 1], "--", 2) != 0)
        argv[out++] = argv[++i];
    } else {
      std::fprintf(stderr, "ferry-bench: unknown argument '%s'\n", a.c_str());
      Usage(stderr);
      std::exit(2);
    }
  }
  argc = out;
  argv[argc] = nullptr;
  try {
    std::regex check(o.filter, std::regex::extended);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "ferry-bench: bad --filter '%s': %s\n", o.filter.c_str(), e.what());
    std::exit(2);
  }
  if (o.quick) {
    o.trial_s = 0.2;
    o.warmup_s = 0.1;
    o.trials = 3;
    o.bw_reps = 3;
    o.bw_budget_s = 3;
    o.big_bytes = 256 * kMiB;
    o.sweep_max_bytes = 64 * kMiB;
    o.sweep_ucx_budget_s = 4;
    o.sweep_ferry_budget_s = 11;
    o.floor_budget_s = 2;
    o.queued_tasks = 100000;
  }
  return o;
}

std::string JsonNumber(double v, const char* unit) {
  char b[64];
  if (std::strcmp(unit, "per_s") == 0) {
    std::snprintf(b, sizeof(b), "%.1f", v);
  } else {
    std::snprintf(b, sizeof(b), "%.4f", v);
  }
  return b;
}

// Which figure needs which baseline for its ratio line.
const std::map<std::string, std::string>& Baselines() {
  static const std::map<std::string, std::string> m = {
      {"single_client_put_gigabytes", "memcpy_gigabytes"},
      {"rank_to_rank_gigabytes", "ucx_get_gigabytes"},
      {"rank_to_rank_fetch_gigabytes", "ucx_get_gigabytes"},
      {"rank_to_rank_decode_gigabytes", "ucx_get_gigabytes"},
      {"get_view_1gib_us", "get_view_1mib_us"},
      {"variable_load_makespan_s", "variable_load_ideal_s"},
      {"skewed_load_makespan_s", "skewed_load_ideal_s"},
      {"rank_to_rank_sweep_gigabytes", "ucx_get_sweep_gigabytes"},
  };
  return m;
}

// Extra fields of one line, in order: each a name and its value already in JSON.
using Extras = std::vector<std::pair<std::string, std::string>>;

Extras BytesField(size_t bytes) { return {{"bytes", std::to_string(bytes)}}; }

class Report {
 public:
  Report(const Options& o, bool print, int ranks)
      : print_(print), ranks_(ranks), cores_(sysconf(_SC_NPROCESSORS_ONLN)) {
    if (!o.filter.empty()) {  // checked by ParseArgs
      filter_ = std::regex(o.filter, std::regex::extended);
      has_filter_ = true;
    }
  }

  // Whether `name` runs: it matches the filter, or it is the baseline of one that does.
  bool Wants(const std::string& name) const {
    if (Matches(name)) return true;
    for (const auto& [fig, base] : Baselines())
      if (base == name && Matches(fig)) return true;
    return false;
  }

  // A figure with a "bytes" extra field (a sweep point) is paired with its baseline at the
  // same "bytes".
  void Figure(const std::string& name, double value, const char* unit, const Extras& extra = {}) {
    const std::string point = Point(extra);
    values_[name + point] = value;
    Line("{\"name\": " + JsonString(name) + ", \"value\": " + JsonNumber(value, unit) +
         ", \"unit\": " + JsonString(unit) + Common(extra) + "}");
    auto b = Baselines().find(name);
    if (b == Baselines().end()) return;
    auto base = values_.find(b->second + point);
    if (base == values_.end() || base->second <= 0) return;
    Line("{\"name\": " + JsonString(name) +
         ", \"value\": " + JsonNumber(value / base->second, "ratio") +
         ", \"unit\": \"ratio\", \"ratio_to\": " + JsonString(b->second) + Common(extra) + "}");
  }

  void Skip(const std::string& name, const std::string& why, const Extras& extra = {}) {
    std::string line = "{\"name\": " + JsonString(name) + ", \"skipped\": " + JsonString(why) +
                       ", \"cores\": " + std::to_string(cores_);
    for (const auto& [k, v] : extra) line += ", " + JsonString(k) + ": " + v;
    Line(line + "}");
  }

  int ranks() const { return ranks_; }

 private:
  bool Matches(const std::string& name) const {
    return !has_filter_ || std::regex_search(name, filter_);
  }
  // The fields every line ends with: ranks, cores, then the extra ones.
  std::string Common(const Extras& extra) const {
    std::string s =
        ", \"ranks\": " + std::to_string(ranks_) + ", \"cores\": " + std::to_string(cores_);
    for (const auto& [k, v] : extra) s += ", " + JsonString(k) + ": " + v;
    return s;
  }
  static std::string Point(const Extras& extra) {
    for (const auto& [k, v] : extra)
      if (k == "bytes") return "@" + v;
    return {};
  }
  void Line(const std::string& s) {
    if (!print_) return;
    std::fputs(s.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

  bool print_;
  int ranks_;
  long cores_;
  bool has_filter_ = false;
  std::regex filter_;
  std::map<std::string, double> values_;
};

// FERRY_BENCH_VERBOSE=1: every timed repetition on stderr.
bool Verbose() {
  static const bool v = [] {
    const char* e = std::getenv("FERRY_BENCH_VERBOSE");
    return e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0;
  }();
  return v;
}

void Note(const std::string& s) {
  std::fprintf(stderr, "ferry-bench: %s\n", s.c_str());
  std::fflush(stderr);
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Runs `batch` (which does some operations and returns how many) for warmup_s untimed, then
// `trials` times for at least trial_s each; returns the median rate in operations per second.
double MeasureRate(const Options& o, const std::function<int64_t()>& batch) {
  auto until = Clock::now() + std::chrono::duration<double>(o.warmup_s);
  while (Clock::now() < until) batch();
  std::vector<double> rates;
  for (int t = 0; t < o.trials; ++t) {
    int64_t ops = 0;
    auto t0 = Clock::now();
    auto t1 = t0;
    do {
      ops += batch();
      t1 = Clock::now();
    } while (Seconds(t0, t1) < o.trial_s);
    rates.push_back(static_cast<double>(ops) / Seconds(t0, t1));
  }
  return Median(rates);
}

// Median bandwidth in GB/s of `once` (which returns the seconds of one transfer of `bytes`):
// `warmups` untimed calls, then up to `reps` timed ones while they fit in `budget_s` seconds
// (measured on the wall clock, including any untimed work inside `once`; at least one).
double MeasureBandwidth(size_t bytes, int warmups, int reps, double budget_s,
                        const std::function<double()>& once) {
  for (int i = 0; i < warmups; ++i) once();
  std::vector<double> bw;
  auto start = Clock::now();
  double longest = 0;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    bw.push_back(static_cast<double>(bytes) / once() / 1e9);
    longest = std::max(longest, Seconds(t0, Clock::now()));
    if (Seconds(start, Clock::now()) + longest > budget_s) break;
  }
  return Median(bw);
}

// Pattern-filled, resident source data for the large transfers.
std::vector<uint8_t> BigVector(size_t bytes) {
  std::vector<uint8_t> v(bytes);
  for (size_t i = 0; i < bytes; i += 4096) v[i] = static_cast<uint8_t>(i >> 12);
  return v;
}

// ---- The benchmarks (driver side) -----------------------------------------------------------

// Ray: placement_group_create/removal. One single-bundle group created, waited for and
// removed per operation.
void PlacementGroupCreateRemoval(const Options& o, Report& r) {
  double rate = MeasureRate(o, [] {
    for (int i = 0; i < 10; ++i) {
      auto pg = ferry::CreatePlacementGroup({"", {{{"CPU", 0.01}}}, ferry::PlacementStrategy::PACK});
      if (!pg.Wait(30)) throw std::runtime_error("a placement group was not created in 30 s");
      ferry::RemovePlacementGroup(pg.GetID());
    }
    return int64_t{10};
  });
  r.Figure("placement_group_create/removal", rate, "per_s");
}

// The default policy's decisions per second on a synthetic 1,000-node view (16 CPUs each,
// every tenth with 4 GPUs), each decision charged to its node as an owner does, so the view
// fills up and the policy's no-room path is measured too. Pure computation, in this process.
void SchedulingDecisions(const Options& o, Report& r) {
  namespace sch = ferry::scheduler;
  sch::ClusterView view;
  for (uint32_t i = 0; i < 1000; ++i) {
    sch::NodeView n;
    n.id = ferry::NodeId(i);
    n.total = ferry::ResourceSet::FromPairs({{"CPU", 16}, {"memory", 64.0 * (1 << 30)}});
    if (i % 10 == 0) n.total.Set("GPU", 4);
    n.available = n.total;
    view.nodes.push_back(std::move(n));
  }
  const ferry::ResourceSet demand = ferry::ResourceSet::FromPairs({{"CPU", 1}});
  uint64_t k = 0;
  double rate = MeasureRate(o, [&] {
    for (int i = 0; i < 1000; ++i, ++k) {
      sch::PlacementRequest req{&demand};
      sch::Decision d = sch::PickNode(view, req, ferry::NodeId(static_cast<uint32_t>(k % 1000)), k);
      view.nodes[d.node.value()].inflight.Add(demand);
      if (k % 32000 == 31999)  // twice the cluster's CPUs: start over
        for (auto& n : view.nodes) n.inflight = ferry::ResourceSet();
    }
    return int64_t{1000};
  });
  r.Figure("scheduling_decisions_per_s", rate, "per_s");
}

// Submits tasks sleeping `d` milliseconds all at once and returns the seconds until the last
// finished (one trial: the figure is already a sum over many tasks).
double Makespan(const std::vector<int>& d) {
  auto t0 = Clock::now();
  std::vector<ferry::ObjectRef<int>> refs;
  refs.reserve(d.size());
  for (int x : d) refs.push_back(ferry::Task(SleepMs).Remote(x));
  ferry::Get(refs);
  return Seconds(t0, Clock::now());
}

// The ideal makespan of `d` on `cpus` CPU slots: the total over the CPUs, or the longest task.
double Ideal(const std::vector<int>& d, double cpus) {
  double total_s = 0, longest_s = 0;
  for (int x : d) {
    total_s += x / 1000.0;
    longest_s = std::max(longest_s, x / 1000.0);
  }
  return std::max(total_s / cpus, longest_s);
}

// Sleeping tasks occupy a CPU slot without using a core, so ranks may share cores.
//   variable_load: 1,000 tasks (200 with --quick) of 1-50 ms, fixed seed.
//   skewed_load: a sweep whose every W-th point is expensive (40 ms, others 2 ms), W the
//   number of nodes with CPUs: an owner placing round-robin sends every expensive task to
//   the same node, and only spillback moves the queue it builds there to idle nodes.
void LoadBalance(const Options& o, Report& r, bool skewed) {
  const double cpus = ferry::GetClusterResources()["CPU"];
  if (cpus < 1) throw std::runtime_error("the cluster offers no CPUs");
  int width = 0;
  for (const ferry::NodeInfo& n : ferry::GetNodes())
    width += n.resources.count("CPU") && n.resources.at("CPU") >= 1;
  if (skewed && width < 2) {
    r.Skip("skewed_load_makespan_s", "needs at least 2 nodes with CPUs (run under mpirun)");
    return;
  }
  const int n = o.quick ? 200 : (skewed ? 800 : 1000);
  std::vector<int> d(static_cast<size_t>(n));
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> ms(1, 50);
  for (int i = 0; i < n; ++i) d[static_cast<size_t>(i)] = skewed ? (i % width == 0 ? 40 : 2) : ms(rng);
  const std::string name = skewed ? "skewed_load" : "variable_load";
  Note(name + ": " + std::to_string(n) + " tasks over " + std::to_string(static_cast<int>(cpus)) +
       " CPUs on " + std::to_string(width) + " nodes");
  r.Figure(name + "_ideal_s", Ideal(d, cpus), "s");
  r.Figure(name + "_makespan_s", Makespan(d), "s");
}

// Tasks must run on other ranks than the driver when there are several: say so if not.
void CheckPlacement(int ranks) {
  if (ranks < 2) return;
  std::vector<ferry::ObjectRef<int64_t>> refs;
  for (int i = 0; i < 16; ++i) refs.push_back(ferry::Task(Pid).Remote());
  int on_driver = 0;
  for (const auto& p : ferry::Get(refs))
    if (*p == Pid()) ++on_driver;
  if (on_driver > 0)
    Note("warning: " + std::to_string(on_driver) +
         " of 16 tasks ran on the driver (rank 0); the task figures include local execution");
}

void TasksSync(const Options& o, Report& r) {
  // Ray: ray.get(small_value.remote()), one at a time.
  double rate = MeasureRate(o, [] {
    for (int i = 0; i < 100; ++i) ferry::Get(ferry::Task(Empty).Remote());
    return int64_t{100};
  });
  r.Figure("single_client_tasks_sync", rate, "per_s");
}

void TasksAsync(const Options& o, Report& r) {
  // Ray: ray.get([small_value.remote() for _ in range(1000)]).
  const int n = 1000;
  std::vector<ferry::ObjectRef<void>> refs;
  refs.reserve(n);
  double rate = MeasureRate(o, [&] {
    refs.clear();
    for (int i = 0; i < n; ++i) refs.push_back(ferry::Task(Empty).Remote());
    ferry::Get(refs);
    return int64_t{n};
  });
  r.Figure("single_client_tasks_async", rate, "per_s");
}

// Actors the driver calls. With several ranks each holds 1 CPU, and the head offers none, so
// they live on worker ranks and every call crosses ranks; embedded, they hold none.
std::vector<ferry::ActorHandle<BenchActor>> CallTargets(int n, int ranks, int concurrency = 1) {
  std::vector<ferry::ActorHandle<BenchActor>> actors;
  for (int i = 0; i < n; ++i)
    actors.push_back(ferry::Actor(BenchActor::Create)
                         .SetResource("CPU", ranks >= 2 ? 1 : 0)
                         .SetMaxConcurrency(concurrency)
                         .Remote());
  int local = 0;
  for (auto& a : actors)
    if (*a.Task(&BenchActor::Pid).Remote().Get() == Pid()) ++local;
  if (ranks >= 2 && local > 0)
    Note("warning: " + std::to_string(local) + " of " + std::to_string(n) +
         " actors live on the driver's rank; the actor figures include local calls");
  return actors;
}

void KillAll(const std::vector<ferry::ActorHandle<BenchActor>>& actors) {
  for (const auto& a : actors) a.Kill();
}

// Ray: ray.get(actor.small_value.remote()), one at a time.
void ActorCallsSync(const Options& o, Report& r) {
  auto a = CallTargets(1, r.ranks());
  double rate = MeasureRate(o, [&] {
    for (int i = 0; i < 100; ++i) ferry::Get(a[0].Task(&BenchActor::Empty).Remote());
    return int64_t{100};
  });
  r.Figure("1_1_actor_calls_sync", rate, "per_s");
  KillAll(a);
}

// Ray: ray.get([actor.small_value.remote() for _ in range(1000)]); "concurrent" is the same
// against an actor that runs up to 16 calls at once.
void ActorCallsAsync(const Options& o, Report& r, int concurrency, const char* name) {
  auto a = CallTargets(1, r.ranks(), concurrency);
  double rate = MeasureRate(o, [&] { return CallBatch(a, 1000); });
  r.Figure(name, rate, "per_s");
  KillAll(a);
}

// Ray: one driver, n actors (one per worker rank here), 1000 calls spread over them.
void OneToNActorCalls(const Options& o, Report& r) {
  auto a = CallTargets(std::max(2, r.ranks() - 1), r.ranks());
  double rate = MeasureRate(o, [&] { return CallBatch(a, 1000); });
  r.Figure("1_n_actor_calls_async", rate, "per_s");
  KillAll(a);
}

// Ray: n callers (actors themselves) each calling the n actors at once.
void NToNActorCalls(const Options& o, Report& r) {
  const int n = std::max(2, r.ranks() - 1);
  auto targets = CallTargets(n, r.ranks());
  std::vector<ferry::ActorHandle<BenchClient>> clients;
  for (int i = 0; i < n; ++i)
    clients.push_back(ferry::Actor(BenchClient::Create).SetResource("CPU", 0).Remote());
  double rate = MeasureRate(o, [&] {
    std::vector<ferry::ObjectRef<int64_t>> done;
    for (auto& c : clients) done.push_back(c.Task(&BenchClient::Drive).Remote(targets, 1000));
    int64_t calls = 0;
    for (auto& d : ferry::Get(done)) calls += *d;
    return calls;
  });
  r.Figure("n_n_actor_calls_async", rate, "per_s");
  for (auto& c : clients) c.Kill();
  KillAll(targets);
}

// Actors created and called once (so each is really up), per second; zero-CPU actors, so
// placement spreads them over every rank. Kills are outside the timed part.
void ActorCreation(const Options& o, Report& r) {
  const int n = o.quick ? 100 : 400;
  std::vector<double> rates;
  for (int t = 0; t < o.trials; ++t) {
    std::vector<ferry::ActorHandle<BenchActor>> actors;
    std::vector<ferry::ObjectRef<void>> refs;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      actors.push_back(ferry::Actor(BenchActor::Create).SetResource("CPU", 0).Remote());
      refs.push_back(actors.back().Task(&BenchActor::Empty).Remote());
    }
    ferry::Get(refs);
    rates.push_back(n / Seconds(t0, Clock::now()));
    KillAll(actors);
  }
  r.Figure("actor_creation_per_s", Median(rates), "per_s");
}

void PutCalls(const Options& o, Report& r) {
  // Ray: ray.put(0), the reference dropped at once.
  double rate = MeasureRate(o, [] {
    for (int i = 0; i < 1000; ++i) ferry::Put(i);
    return int64_t{1000};
  });
  r.Figure("single_client_put_calls", rate, "per_s");
}

void GetCalls(const Options& o, Report& r) {
  // Ray: value = ray.put(0) once, then ray.get(value) repeated.
  auto ref = ferry::Put(0);
  ferry::Get(ref);
  int64_t sink = 0;
  double rate = MeasureRate(o, [&] {
    for (int i = 0; i < 1000; ++i) sink += *ferry::Get(ref);
    return int64_t{1000};
  });
  if (sink != 0) Note("odd: Get of Put(0) returned non-zero");
  r.Figure("single_client_get_calls", rate, "per_s");
}

// Ray: multi_client_tasks_async. k clients (zero-CPU actors, so placement puts them anywhere;
// k = max(2, ranks - 1)) each submit 1,000 empty tasks and get them, all at once; the rate
// counts every client's tasks.
void MultiClientTasks(const Options& o, Report& r) {
  const int k = std::max(2, r.ranks() - 1);
  constexpr int64_t kPerClient = 1000;
  std::vector<ferry::ActorHandle<BenchClient>> clients;
  for (int i = 0; i < k; ++i)
    clients.push_back(ferry::Actor(BenchClient::Create).SetResource("CPU", 0).Remote());
  double rate = MeasureRate(o, [&] {
    std::vector<ferry::ObjectRef<int64_t>> done;
    for (auto& c : clients) done.push_back(c.Task(&BenchClient::SubmitTasks).Remote(kPerClient));
    int64_t tasks = 0;
    for (auto& d : ferry::Get(done, kGetTimeoutMs)) tasks += *d;
    if (tasks != k * kPerClient)
      throw std::runtime_error("the clients ran the wrong number of tasks");
    return tasks;
  });
  r.Figure("multi_client_tasks_async", rate, "per_s", {{"clients", std::to_string(k)}});
  for (auto& c : clients) c.Kill();
}

// Ray: single_client_wait_1k_refs. One round submits 1,000 empty tasks, then calls Wait for
// one ready reference 1,000 times, each time on the references not taken yet (ray.wait
// returns exactly one ready reference and the rest, ready or not, which the next call waits
// on). The value is rounds per second, as Ray's timeit counts it; "wait_calls_per_s" is the
// same figure times 1,000 (so it includes the submission of the tasks).
void Wait1kRefs(const Options& o, Report& r) {
  constexpr int kRefs = 1000;
  double rate = MeasureRate(o, [&] {
    std::vector<ferry::ObjectRef<void>> pending;
    pending.reserve(kRefs);
    for (int i = 0; i < kRefs; ++i) pending.push_back(ferry::Task(Empty).Remote());
    for (int call = 0; call < kRefs; ++call) {
      auto w = ferry::Wait(pending, 1, kGetTimeoutMs);
      if (w.ready.empty())
        throw std::runtime_error("Wait: no task finished within " +
                                 std::to_string(kGetTimeoutMs / 1000) + " s");
      pending = std::move(w.unready);
      pending.insert(pending.end(), w.ready.begin() + 1, w.ready.end());
    }
    if (!pending.empty()) throw std::runtime_error("Wait: references left after 1,000 calls");
    return int64_t{1};
  });
  char calls[32];
  std::snprintf(calls, sizeof(calls), "%.1f", rate * kRefs);
  r.Figure("single_client_wait_1k_refs", rate, "per_s", {{"wait_calls_per_s", calls}});
}

// Ray's envelope: 10,000+ objects in one get. 10,000 small objects put once (untimed, values
// checked once); each timed operation is one Get of all of them. Objects per second.
void Get10kObjects(const Options& o, Report& r) {
  constexpr int64_t kObjects = 10000;
  std::vector<ferry::ObjectRef<int64_t>> refs;
  refs.reserve(kObjects);
  for (int64_t i = 0; i < kObjects; ++i) refs.push_back(ferry::Put(i));
  auto values = ferry::Get(refs, kGetTimeoutMs);
  for (int64_t i = 0; i < kObjects; ++i)
    if (values.size() != static_cast<size_t>(kObjects) || *values[static_cast<size_t>(i)] != i)
      throw std::runtime_error("Get of 10,000 objects returned a wrong value at " +
                               std::to_string(i));
  double rate = MeasureRate(o, [&] {
    if (ferry::Get(refs, kGetTimeoutMs).size() != static_cast<size_t>(kObjects))
      throw std::runtime_error("Get of 10,000 objects returned the wrong count");
    return kObjects;
  });
  r.Figure("single_client_get_10k_objects", rate, "per_s");
}

// This process's resident memory in bytes (-1 if unknown).
int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long total = 0, resident = 0;
  int got = std::fscanf(f, "%ld %ld", &total, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : -1;
}

// Ray's single-node envelope: 1M+ queued tasks. As Ray's test does, every CPU is first held
// by a blocked task (Gate, released by the driver), then the tasks are submitted: none can
// start, so all are queued; then the CPUs are released and every task is awaited. Embedded
// only (the gate is this process's memory).
//   queued_task_bytes: this process's resident memory after the submission (its peak over
//   half a second, as the runtime may still be queueing on its own threads) minus before
//   (after returning the allocator's free memory to the system, so that earlier figures'
//   freed memory does not absorb the growth), per task. It includes the caller's reference
//   to each result, as any program that submits the tasks holds one.
//   queued_1m_tasks_s: the submission plus the time from the release of the CPUs until every
//   task has finished (the half second of memory sampling between them excluded).
void QueuedTasks(const Options& o, Report& r) {
  const int64_t n = o.queued_tasks;
  const Extras tasks{{"tasks", std::to_string(n)}};
  const double cpus = ferry::GetClusterResources()["CPU"];
  const int gates = static_cast<int>(std::floor(cpus));
  if (gates < 1) throw std::runtime_error("the cluster offers no whole CPU");
  g_gate_open = false;
  g_gates_started = 0;
  g_queued_ran = 0;
  // Opens the gate however this function ends, so that no Gate outlives it by more than a
  // poll.
  struct OpenOnExit {
    ~OpenOnExit() { g_gate_open = true; }
  } open_on_exit;
  std::vector<ferry::ObjectRef<bool>> held;
  for (int i = 0; i < gates; ++i) held.push_back(ferry::Task(Gate).Remote(int64_t{900000}));
  for (auto until = Clock::now() + std::chrono::seconds(30); g_gates_started < gates;) {
    if (Clock::now() > until)
      throw std::runtime_error(std::to_string(g_gates_started.load()) + " of " +
                               std::to_string(gates) + " gate tasks started in 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  malloc_trim(0);
  const int64_t before = ResidentBytes();
  std::vector<ferry::ObjectRef<void>> refs;
  refs.reserve(static_cast<size_t>(n));
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) refs.push_back(ferry::Task(Queued).Remote());
  const double submit_s = Seconds(t0, Clock::now());
  int64_t after = ResidentBytes();
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = std::max(after, ResidentBytes());
  }
  const int64_t early = g_queued_ran.load();
  auto t1 = Clock::now();
  g_gate_open = true;
  ferry::Get(refs, 10 * kGetTimeoutMs);
  const double drain_s = Seconds(t1, Clock::now());
  for (const auto& g : ferry::Get(held, kGetTimeoutMs))
    if (!*g) throw std::runtime_error("a gate task gave up before the gate opened");
  if (g_queued_ran.load() != n)
    throw std::runtime_error(std::to_string(g_queued_ran.load()) + " of " + std::to_string(n) +
                             " queued tasks ran");
  if (early > 0)
    Note("warning: queued tasks: " + std::to_string(early) +
         " ran before the CPUs were released; the memory figure undercounts the queue");
  char b[200];
  std::snprintf(b, sizeof(b),
                "queued tasks: %lld on %d held CPUs, resident %.1f -> %.1f MiB, submit %.2f s, "
                "run %.2f s",
                static_cast<long long>(n), gates, before / double(kMiB), after / double(kMiB),
                submit_s, drain_s);
  Note(b);
  Extras times = tasks;
  times.push_back({"submit_s", JsonNumber(submit_s, "s")});
  times.push_back({"run_s", JsonNumber(drain_s, "s")});
  r.Figure("queued_1m_tasks_s", submit_s + drain_s, "s", times);
  if (before < 0 || after < 0) {
    r.Skip("queued_task_bytes", "cannot read /proc/self/statm", tasks);
  } else {
    Extras mem = tasks;
    mem.push_back({"rss_before", std::to_string(before)});
    mem.push_back({"rss_after", std::to_string(after)});
    r.Figure("queued_task_bytes", static_cast<double>(after - before) / static_cast<double>(n),
             "bytes", mem);
  }
}

// The floor of a synchronous round trip inside one process: two threads handing a token back
// and forth through a mutex and a condition variable, each waiting asleep, as the runtime's
// threads do when there is no core to poll on. One round trip is two wake-ups; an empty task's
// round trip embedded is at least three (driver to loop, loop to executor, loop to driver).
void ThreadPingPong(const Options& o, Report& r) {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;  // 1: the peer's move
  bool stop = false;
  std::thread peer([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return turn == 1 || stop; });
      if (stop) return;
      turn = 0;
      cv.notify_all();
    }
  });
  double rate = MeasureRate(o, [&] {
    std::unique_lock<std::mutex> lock(mu);
    for (int i = 0; i < 1000; ++i) {
      turn = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return turn == 0; });
    }
    return int64_t{1000};
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
  peer.join();
  r.Figure("thread_pingpong_us", 1e6 / rate, "us");
}

void MemcpyGigabytes(const Options& o, Report& r, const std::vector<uint8_t>& src) {
  // The floor for Put: one memcpy into memory that is already resident.
  std::vector<uint8_t> dst(src.size(), 1);
  double bw = MeasureBandwidth(src.size(), 1, 5, o.bw_budget_s, [&] {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), src.size());
    auto t1 = Clock::now();
    return Seconds(t0, t1);
  });
  if (dst[src.size() - 4096] != src[src.size() - 4096]) Note("odd: memcpy did not copy");
  r.Figure("memcpy_gigabytes", bw, "GB_per_s");
  // The same copy into memory the process has never written (a new malloc each time): what
  // any copy into a newly allocated object costs on this machine.
  double fresh = MeasureBandwidth(src.size(), 0, 3, o.bw_budget_s, [&] {
    auto t0 = Clock::now();
    auto* p = static_cast<uint8_t*>(std::malloc(src.size()));
    if (p == nullptr) throw std::bad_alloc();
    std::memcpy(p, src.data(), src.size());
    auto t1 = Clock::now();
    volatile uint8_t sink = p[src.size() / 2];
    (void)sink;
    std::free(p);
    return Seconds(t0, t1);
  });
  r.Figure("memcpy_fresh_gigabytes", fresh, "GB_per_s");
}

void PutGigabytes(const Options& o, Report& r, const std::vector<uint8_t>& src) {
  // Put, timed until the object is stored and ready (Wait); the reference is dropped untimed.
  double bw = MeasureBandwidth(src.size(), 1, o.bw_reps, o.bw_budget_s, [&] {
    auto t0 = Clock::now();
    auto ref = ferry::Put(src);
    std::vector<ferry::ObjectRef<std::vector<uint8_t>>> one{ref};
    ferry::Wait(one, 1, -1);
    auto t1 = Clock::now();
    return Seconds(t0, t1);
  });
  r.Figure("single_client_put_gigabytes", bw, "GB_per_s");
}

// `decode`: the task takes a std::vector (the bytes are fetched, then decoded into the
// vector); otherwise an ArrayView (fetched into the worker's store and read there).
void RankToRank(const Options& o, Report& r, const std::vector<uint8_t>& src, bool decode) {
  const char* name = decode ? "rank_to_rank_decode_gigabytes" : "rank_to_rank_gigabytes";
  // The driver puts the object (untimed); a task on another rank takes it as an argument and
  // returns its size. The time of that task minus the median empty-task round trip is the
  // time to move (and decode) the object. Every repetition puts a fresh object, so no copy
  // left on the worker by an earlier repetition can serve it.
  std::vector<double> rtts;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    ferry::Get(ferry::Task(Pid).Remote());
    rtts.push_back(Seconds(t0, Clock::now()));
  }
  const double rtt = Median(rtts);
  const int64_t driver = Pid();
  int on_driver = 0;
  bool wrong_size = false;
  // Warm the path (connection, remote key, executor) with a small object, not a full-size one:
  // a 1 GiB transfer can take seconds here.
  {
    std::vector<uint8_t> small(std::min(src.size(), 16 * kMiB), 7);
    auto w = ferry::Get(ferry::Task(SizeOf).Remote(ferry::Put(small)));
    if (w->first != static_cast<int64_t>(small.size())) wrong_size = true;
  }
  // Untimed: one full-size transfer to each worker first, so that the timed ones find the
  // workers' arena pages already touched (a long-running job's steady state; the cost of
  // first touch is memcpy_fresh_gigabytes).
  double bw = MeasureBandwidth(src.size(), r.ranks() - 1, o.bw_reps, 1.5 * o.bw_budget_s, [&] {
    auto ref = ferry::Put(src);
    std::vector<ferry::ObjectRef<std::vector<uint8_t>>> one{ref};
    ferry::Wait(one, 1, -1);
    auto t0 = Clock::now();
    auto res = decode ? ferry::Get(ferry::Task(SizeOf).Remote(ref))
                      : ferry::Get(ferry::Task(SizeOfView).Remote(ref));
    double sec = Seconds(t0, Clock::now()) - rtt;
    if (Verbose()) {
      char b[160];
      std::snprintf(b, sizeof(b), "%s: %zu MiB in %.3f s on pid %lld", name, src.size() / kMiB,
                    sec, static_cast<long long>(res->second));
      Note(b);
    }
    if (res->first != static_cast<int64_t>(src.size())) wrong_size = true;
    if (res->second == driver) ++on_driver;
    return std::max(sec, 1e-9);
  });
  if (wrong_size) Note("odd: the task saw an object of the wrong size");
  if (on_driver > 0)
    Note("warning: rank_to_rank: the task ran on the driver " + std::to_string(on_driver) +
         " times");
  char b[128];
  std::snprintf(b, sizeof(b), "%s: empty-task round trip %.1f us subtracted", name, rtt * 1e6);
  Note(b);
  r.Figure(name, bw, "GB_per_s");
}

// GetView of an object in this rank's store: a lookup and a pin, no copy, so the time must not
// grow with the size (1 MiB is the baseline).
void GetViewMicros(const Options& o, Report& r, const std::vector<uint8_t>& src) {
  auto time_views = [&](const ferry::ObjectRef<std::vector<uint8_t>>& ref, size_t bytes) {
    std::vector<double> us;
    for (int i = 0; i < (o.quick ? 20 : 100); ++i) {
      auto t0 = Clock::now();
      ferry::ArrayView<uint8_t> v = ferry::GetView(ref);
      us.push_back(Seconds(t0, Clock::now()) * 1e6);
      if (v.size() != bytes) throw std::runtime_error("GetView returned the wrong size");
    }
    return Median(us);
  };
  std::vector<uint8_t> mib(src.begin(), src.begin() + static_cast<long>(std::min(src.size(), kMiB)));
  auto small = ferry::Put(mib);
  r.Figure("get_view_1mib_us", time_views(small, mib.size()), "us");
  auto big = ferry::Put(src);
  r.Figure(src.size() == 1024 * kMiB ? "get_view_1gib_us" : "get_view_1gib_us_at_quick_size",
           time_views(big, src.size()), "us");
}

void RankToRankFetch(const Options& o, Report& r, const std::vector<uint8_t>& src) {
  // The same transfer as rank_to_rank, timed on the consumer around the fetch alone: the
  // bytes land in the consumer's store and are not decoded into a std::vector. Warmed up
  // like rank_to_rank.
  double bw = MeasureBandwidth(src.size(), r.ranks() - 1, o.bw_reps, 1.5 * o.bw_budget_s, [&] {
    auto ref = ferry::Put(src);
    std::vector<ferry::ObjectRef<std::vector<uint8_t>>> one{ref};
    ferry::Wait(one, 1, -1);
    double sec = *ferry::Get(ferry::Task(FetchSeconds).Remote(ref));
    if (sec <= 0) throw std::runtime_error("rank_to_rank_fetch: the task fetched nothing");
    return sec;
  });
  r.Figure("rank_to_rank_fetch_gigabytes", bw, "GB_per_s");
}

// The transfer sweep's sizes: 1 KiB, 4 KiB, ... up to sweep_max_bytes.
std::vector<size_t> SweepSizes(const Options& o) {
  std::vector<size_t> sizes;
  for (size_t b = 1024; b <= o.sweep_max_bytes; b *= 4) sizes.push_back(b);
  return sizes;
}

// rank_to_rank_sweep_gigabytes at every size of the sweep, timed like rank_to_rank_fetch (on
// the consumer, around the fetch of a fresh object into its store). For small objects the
// fetch is mostly one control round trip to the owner: that is the cost of a small fetch, and
// the figure reports it as it is. The sizes share one time budget: each gets what is left
// divided by the sizes left (the large ones need the most); sizes past the budget are skipped.
void RankToRankSweep(const Options& o, Report& r) {
  const char* name = "rank_to_rank_sweep_gigabytes";
  const std::vector<size_t> sizes = SweepSizes(o);
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(o.sweep_ferry_budget_s));
  for (size_t i = 0; i < sizes.size(); ++i) {
    const size_t bytes = sizes[i];
    const double left = Seconds(Clock::now(), deadline);
    if (left <= 0) {
      char why[96];
      std::snprintf(why, sizeof(why), "the sweep's time budget (%.0f s) was spent",
                    o.sweep_ferry_budget_s);
      r.Skip(name, why, BytesField(bytes));
      continue;
    }
    std::vector<uint8_t> src = BigVector(bytes);
    const int reps = bytes <= kMiB ? 15 : o.bw_reps;
    const double budget = left / static_cast<double>(sizes.size() - i);
    double bw = MeasureBandwidth(bytes, r.ranks() - 1, reps, budget, [&] {
      auto ref = ferry::Put(src);
      std::vector<ferry::ObjectRef<std::vector<uint8_t>>> one{ref};
      ferry::Wait(one, 1, kGetTimeoutMs);
      double sec = *ferry::Get(ferry::Task(FetchSeconds).Remote(ref), kGetTimeoutMs);
      if (sec <= 0) throw std::runtime_error("rank_to_rank_sweep: the task fetched nothing");
      if (Verbose()) {
        char b[96];
        std::snprintf(b, sizeof(b), "rank_to_rank_sweep: %zu B in %.1f us", bytes, sec * 1e6);
        Note(b);
      }
      return sec;
    });
    r.Figure(name, bw, "GB_per_s", BytesField(bytes));
  }
}

// ---- The floors, under MPI before ferry::Init (collective: every rank calls them) ---------

#if FERRY_BENCH_WITH_MPI
// The ranks that do not measure wait here, polling rarely: a rank spinning in MPI_Barrier
// would take a core from ranks 0 and 1 when ranks outnumber cores.
void PoliteBarrier() {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) usleep(1000);
  }
}

struct PingPong {
  bool ok = false;
  std::string error;
  double median_us = 0;
  double min_us = 0;
  int iterations = 0;
};

// mpi_pingpong_us: rank 0 sends i (8 bytes) to rank 1, which sends it back, `warmups`
// untimed round trips, then up to `iterations` timed ones while they fit in `budget_s`; then
// rank 0 sends -1, which ends rank 1's loop (bounded by the count agreed here, too). An MPI
// error aborts the job (MPI's default handler), so no rank can wait for a dead one.
PingPong MeasureMpiPingPong(int warmups, int iterations, double budget_s) {
  constexpr int kTag = 4242;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<double> us;
  double bad = 0;  // rank 0: the round trip that came back wrong, plus one
  if (rank == 0) {
    Clock::time_point timed_start;
    for (int i = 0; i < warmups + iterations; ++i) {
      if (i == warmups) timed_start = Clock::now();
      if (i > warmups && Seconds(timed_start, Clock::now()) > budget_s) break;
      int64_t out = i, in = -2;
      auto t0 = Clock::now();
      MPI_Send(&out, 1, MPI_INT64_T, 1, kTag, MPI_COMM_WORLD);
      MPI_Recv(&in, 1, MPI_INT64_T, 1, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      const double sec = Seconds(t0, Clock::now());
      if (in != out) {
        bad = i + 1;
        break;
      }
      if (i >= warmups) us.push_back(sec * 1e6);
    }
    int64_t stop = -1;
    MPI_Send(&stop, 1, MPI_INT64_T, 1, kTag, MPI_COMM_WORLD);
  } else if (rank == 1) {
    for (int n = 0; n < warmups + iterations + 1; ++n) {
      int64_t v = -2;
      MPI_Recv(&v, 1, MPI_INT64_T, 0, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (v < 0) break;
      MPI_Send(&v, 1, MPI_INT64_T, 0, kTag, MPI_COMM_WORLD);
    }
  }
  PoliteBarrier();
  double f[4] = {0, 0, 0, bad};
  if (rank == 0 && !us.empty()) {
    f[0] = Median(us);
    f[1] = *std::min_element(us.begin(), us.end());
    f[2] = static_cast<double>(us.size());
  }
  MPI_Bcast(f, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  PingPong res;
  if (f[3] > 0) {
    res.error = "round trip " + std::to_string(static_cast<int>(f[3]) - 1) +
                " came back with the wrong value";
  } else if (f[2] < 1) {
    res.error = "no timed round trip";
  } else {
    res.ok = true;
    res.median_us = f[0];
    res.min_us = f[1];
    res.iterations = static_cast<int>(f[2]);
  }
  return res;
}
#endif

void ReportPingPong(Report& r, const char* name, bool ok, const std::string& error,
                    double median_us, double min_us, int iterations) {
  if (!ok) {
    r.Skip(name, "failed: " + error);
    return;
  }
  r.Figure(name, median_us, "us",
           {{"min_us", JsonNumber(min_us, "us")}, {"iterations", std::to_string(iterations)}});
}

// mpi_pingpong_us and ucx_pingpong_us, between ranks 0 and 1.
void PingPongFloors(const Options& o, Report& r, bool under_mpi, int size) {
  constexpr int kWarmups = 1000;
  constexpr int kIterations = 10000;
  for (const char* name : {"mpi_pingpong_us", "ucx_pingpong_us"}) {
    if (!r.Wants(name)) continue;
    if (!under_mpi || size < 2) {
      r.Skip(name, "needs at least 2 MPI ranks (run under mpirun)");
      continue;
    }
    const bool ucx = std::strcmp(name, "ucx_pingpong_us") == 0;
#if FERRY_BENCH_WITH_MPI
    if (!ucx) {
      PingPong p = MeasureMpiPingPong(kWarmups, kIterations, o.floor_budget_s);
      ReportPingPong(r, name, p.ok, p.error, p.median_us, p.min_us, p.iterations);
      continue;
    }
#if FERRY_BENCH_WITH_UCX
    auto p = ferry_bench::MeasureUcxPingPong(kWarmups, kIterations, o.floor_budget_s);
    ReportPingPong(r, name, p.ok, p.error, p.median_us, p.min_us, p.iterations);
#else
    r.Skip(name, "ferry-bench built without UCX");
#endif
#else
    (void)o;
    (void)ucx;
    r.Skip(name, "ferry-bench built without MPI");
#endif
  }
}

// ucx_get_gigabytes (one large get per sample) and ucx_get_sweep_gigabytes (every size of the
// sweep), over one raw UCX setup.
void UcxGetFloors(const Options& o, Report& r, bool under_mpi, int size, int rank) {
  const bool want_big = r.Wants("ucx_get_gigabytes");
  const bool want_sweep = r.Wants("ucx_get_sweep_gigabytes");
  if (!want_big && !want_sweep) return;
  auto skip_all = [&](const std::string& why) {
    if (want_big) r.Skip("ucx_get_gigabytes", why);
    if (want_sweep) r.Skip("ucx_get_sweep_gigabytes", why);
  };
  if (!under_mpi || size < 2) {
    skip_all("needs at least 2 MPI ranks (run under mpirun)");
    return;
  }
#if FERRY_BENCH_WITH_MPI && FERRY_BENCH_WITH_UCX
  std::vector<ferry_bench::UcxGetPlan> plans;
  if (want_big) {
    ferry_bench::UcxGetPlan big;
    big.bytes = o.big_bytes;
    big.warmups = 1;
    big.reps = 5;
    big.budget_s = o.bw_budget_s;
    plans.push_back(big);
  }
  const std::vector<size_t> sizes = want_sweep ? SweepSizes(o) : std::vector<size_t>();
  for (size_t bytes : sizes) {
    // A sample of a small size is a batch of gets (16 MiB in all, at most 1,000 gets), so
    // that it lasts long enough to time. The target polls without sleeping: the floor is
    // what UCX can do at that size, the ratio what ferry's fetch (whose ranks sleep between
    // polls when they outnumber the cores) costs against it.
    ferry_bench::UcxGetPlan p;
    p.target_polls = true;
    p.bytes = bytes;
    p.warmups = 1;
    p.reps = 11;
    p.batch = static_cast<int>(std::clamp<size_t>(16 * kMiB / bytes, 1, 1000));
    p.budget_s = o.sweep_ucx_budget_s / static_cast<double>(sizes.size());
    plans.push_back(p);
  }
  auto res = ferry_bench::MeasureUcxGets(plans);
  if (!res.ok) {
    skip_all("raw UCX failed: " + res.error);
    return;
  }
  size_t next = 0;
  if (want_big) {
    const auto& f = res.figures[next++];
    r.Figure("ucx_get_gigabytes", f.gb_per_s, "GB_per_s");
    if (rank == 0) {
      char b[256];
      std::snprintf(b, sizeof(b), "ucx_get: %zu MiB, best %.2f GB/s, get lanes: %s",
                    o.big_bytes / kMiB, f.best_gb_per_s,
                    res.transports.empty() ? "?" : res.transports.c_str());
      Note(b);
    }
  }
  for (size_t bytes : sizes) {
    const auto& f = res.figures[next++];
    if (f.samples < 1) {
      r.Skip("ucx_get_sweep_gigabytes", "no timed sample", BytesField(bytes));
      continue;
    }
    r.Figure("ucx_get_sweep_gigabytes", f.gb_per_s, "GB_per_s", BytesField(bytes));
  }
#elif FERRY_BENCH_WITH_MPI
  (void)o;
  (void)rank;
  skip_all("ferry-bench built without UCX");
#else
  (void)o;
  (void)rank;
  skip_all("ferry-bench built without MPI");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  const bool under_mpi = LaunchedByMpi();
  int rank = 0, size = 1;
#if FERRY_BENCH_WITH_MPI
  if (under_mpi) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      Note("MPI_Init_thread failed");
      return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    // This program initialized MPI, so it finalizes it however it ends (an early error
    // return included); ferry finalizes it on the ranks that end inside ferry::Init.
    std::atexit([] {
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (!finalized) MPI_Finalize();
    });
  }
#else
  if (under_mpi) Note("launched under MPI, but this ferry-bench was built without MPI");
#endif
  Report report(opt, rank == 0, size);

  // 1. The floors, before ferry exists (every rank takes part).
  PingPongFloors(opt, report, under_mpi, size);
  UcxGetFloors(opt, report, under_mpi, size, rank);

  // 2. ferry. Under MPI with several ranks the head offers no CPUs: tasks run elsewhere.
  ferry::Config config;
  if (under_mpi && size >= 2) config.head_cpus = 0;
  // A worker fetching a 1 GiB argument can keep its event loop busy for several seconds on a
  // slow machine (the whole get runs inside UCX progress), long enough for the default
  // heartbeat timeout (5 s) to declare a live head dead. The bench measures bandwidth, not
  // failure detection: give it room (FERRY_HEARTBEAT_TIMEOUT_MS still overrides).
  config.heartbeat_timeout_ms = std::max(config.heartbeat_timeout_ms, 60000);
  ferry::Init(config, argc, argv);  // ranks other than 0 serve here and never return

  // A figure that fails prints a "skipped" line with the error; the others still run, and
  // the exit status says that something failed.
  int failures = 0;
  auto attempt = [&](const char* name, const std::function<void()>& body) {
    try {
      body();
    } catch (const std::exception& e) {
      ++failures;
      report.Skip(name, std::string("failed: ") + e.what());
    }
  };
  auto run = [&](const char* name, const std::function<void()>& body) {
    if (report.Wants(name)) attempt(name, body);
  };
  try {
    CheckPlacement(size);
  } catch (const std::exception& e) {
    ++failures;
    Note(std::string("placement check failed: ") + e.what());
  }
  run("thread_pingpong_us", [&] { ThreadPingPong(opt, report); });
  run("single_client_tasks_sync", [&] { TasksSync(opt, report); });
  run("single_client_tasks_async", [&] { TasksAsync(opt, report); });
  run("multi_client_tasks_async", [&] { MultiClientTasks(opt, report); });
  run("single_client_wait_1k_refs", [&] { Wait1kRefs(opt, report); });
  run("1_1_actor_calls_sync", [&] { ActorCallsSync(opt, report); });
  run("1_1_actor_calls_async",
      [&] { ActorCallsAsync(opt, report, 1, "1_1_actor_calls_async"); });
  run("1_1_actor_calls_concurrent",
      [&] { ActorCallsAsync(opt, report, 16, "1_1_actor_calls_concurrent"); });
  run("1_n_actor_calls_async", [&] { OneToNActorCalls(opt, report); });
  run("n_n_actor_calls_async", [&] { NToNActorCalls(opt, report); });
  run("actor_creation_per_s", [&] { ActorCreation(opt, report); });
  run("single_client_put_calls", [&] { PutCalls(opt, report); });
  run("single_client_get_calls", [&] { GetCalls(opt, report); });
  run("single_client_get_10k_objects", [&] { Get10kObjects(opt, report); });
  run("placement_group_create/removal", [&] { PlacementGroupCreateRemoval(opt, report); });
  run("scheduling_decisions_per_s", [&] { SchedulingDecisions(opt, report); });
  run("variable_load_makespan_s", [&] { LoadBalance(opt, report, false); });
  run("skewed_load_makespan_s", [&] { LoadBalance(opt, report, true); });
  if (report.Wants("queued_1m_tasks_s") || report.Wants("queued_task_bytes")) {
    if (size >= 2) {
      // Ray's figure is a single-node envelope, and the gate that holds every CPU while the
      // tasks queue is this process's memory, which tasks on other ranks cannot see.
      for (const char* name : {"queued_1m_tasks_s", "queued_task_bytes"})
        if (report.Wants(name)) report.Skip(name, "embedded only (one node; run without mpirun)");
    } else {
      attempt("queued_1m_tasks_s", [&] { QueuedTasks(opt, report); });
    }
  }

  const bool want_memcpy = report.Wants("memcpy_gigabytes");
  const bool want_put = report.Wants("single_client_put_gigabytes");
  const bool want_r2r = report.Wants("rank_to_rank_gigabytes") ||
                        report.Wants("rank_to_rank_fetch_gigabytes") ||
                        report.Wants("rank_to_rank_decode_gigabytes");
  const bool want_view = report.Wants("get_view_1gib_us");
  if (want_memcpy || want_put || want_view || (want_r2r && size >= 2)) {
    std::vector<uint8_t> src = BigVector(opt.big_bytes);
    run("memcpy_gigabytes", [&] { MemcpyGigabytes(opt, report, src); });
    run("single_client_put_gigabytes", [&] { PutGigabytes(opt, report, src); });
    run("get_view_1gib_us", [&] { GetViewMicros(opt, report, src); });
    if (size >= 2) run("rank_to_rank_gigabytes", [&] { RankToRank(opt, report, src, false); });
    if (size >= 2)
      run("rank_to_rank_decode_gigabytes", [&] { RankToRank(opt, report, src, true); });
    if (size >= 2)
      run("rank_to_rank_fetch_gigabytes", [&] { RankToRankFetch(opt, report, src); });
  }
  if (want_r2r && size < 2) {
    for (const char* name : {"rank_to_rank_gigabytes", "rank_to_rank_fetch_gigabytes",
                             "rank_to_rank_decode_gigabytes"})
      if (report.Wants(name)) report.Skip(name, "needs at least 2 ranks (run under mpirun)");
  }
  if (report.Wants("rank_to_rank_sweep_gigabytes")) {
    if (size >= 2)
      attempt("rank_to_rank_sweep_gigabytes", [&] { RankToRankSweep(opt, report); });
    else
      report.Skip("rank_to_rank_sweep_gigabytes", "needs at least 2 ranks (run under mpirun)");
  }

  ferry::Shutdown();  // MPI is finalized at exit (registered after MPI_Init_thread)
  return failures == 0 ? 0 : 1;
}
