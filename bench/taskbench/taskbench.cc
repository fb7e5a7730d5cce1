// ferry-taskbench: Task Bench's task-graph patterns (Slaughter et al., SC20) on ferry and on
// plain MPI, over the same worker ranks in one run, reporting each system's efficiency curve
// and its METG (minimum effective task granularity: the task granularity at the smallest
// kernel duration that still reaches 50% efficiency) as JSON lines (BENCHMARKS.md).
//
//   mpirun -n N ferry-taskbench [--pattern P[,P...]] [--quick] [--width W] [--steps T]
//                               [--self-check] [--no-affinity] [--ferry-<knob>=value ...]
//   ferry-taskbench ...   (no launcher: ferry only, embedded; the MPI figures are skipped)
//
// Under mpirun the program initializes MPI itself. Ranks 1..N-1 (the workers) first run the
// plain-MPI graph on a communicator split off rank 0 (points block-distributed, 8-byte values
// exchanged with MPI_Isend/MPI_Irecv every timestep) while rank 0 waits asleep; then every
// rank calls ferry::Init with head_cpus = 0 and num_cpus = 1, the workers serve tasks inside
// it, and rank 0 drives the same graphs as ferry tasks (each task's inputs are the ObjectRefs
// of the previous timestep's outputs, so ferry resolves the dependencies). Both systems must
// produce the same last-timestep values, and the same values as a sequential reference for a
// check run; a mismatch prints an error and the exit status is 1.
#include <ferry/ferry.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/taskbench/graph.h"

#if FERRY_TASKBENCH_WITH_MPI
#include <mpi.h>
#endif

namespace {

using ferry_bench::JsonString;
using ferry_bench::LaunchedByMpi;
using ferry_bench::Median;

using taskbench::Graph;
using taskbench::kMaxDeps;
using taskbench::Pattern;
using Clock = std::chrono::steady_clock;

// ---- The remote functions: one task of the graph, with 0..3 inputs -------------------------
// `tp` packs the timestep (high 32 bits) and the point (low 32 bits).

int64_t PackTp(int64_t t, int64_t p) { return (t << 32) | p; }
uint64_t RunTask(int64_t tp, int64_t iters, const uint64_t* in, int n) {
  return taskbench::TaskValue(tp >> 32, tp & 0xffffffff, iters, in, n);
}
uint64_t Point0(int64_t tp, int64_t iters) { return RunTask(tp, iters, nullptr, 0); }
uint64_t Point1(int64_t tp, int64_t iters, uint64_t a) {
  const uint64_t in[] = {a};
  return RunTask(tp, iters, in, 1);
}
uint64_t Point2(int64_t tp, int64_t iters, uint64_t a, uint64_t b) {
  const uint64_t in[] = {a, b};
  return RunTask(tp, iters, in, 2);
}
uint64_t Point3(int64_t tp, int64_t iters, uint64_t a, uint64_t b, uint64_t c) {
  const uint64_t in[] = {a, b, c};
  return RunTask(tp, iters, in, 3);
}
FERRY_REMOTE(Point0, Point1, Point2, Point3);

// ---- Options --------------------------------------------------------------------------------

struct Options {
  std::vector<Pattern> patterns;  // empty: all four
  bool quick = false;
  bool self_check = false;
  bool affinity = true;  // ferry: each point's tasks on the worker MPI gives that point
  int64_t width = 0;     // 0: 2 x the ranks (or CPUs) that run tasks
  int64_t steps = 0;     // 0: from quick
  // Derived from quick:
  double max_kernel_us = 4096;  // the sweep starts here and halves down to min_kernel_us
  double min_kernel_us = 1;
  double budget_s = 6;   // timed seconds one sweep (one pattern, one system) may take
  double point_s = 0.5;  // a kernel duration is run again while its runs took less than this
  int max_reps = 3;      // ... and at most this often (the median wall time counts)
};

// Stays quiet on every rank but the first of an MPI launch (the arguments are parsed before
// MPI is initialized, so the launcher's environment says which rank this is).
bool QuietRank() {
  for (const char* n : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    const char* v = std::getenv(n);
    if (v != nullptr && *v != '\0') return std::atoi(v) != 0;
  }
  return false;
}

void Usage(FILE* f) {
  if (QuietRank()) return;
  std::fprintf(
      f,
      "usage: ferry-taskbench [--pattern P[,P...]] [--quick] [--width W] [--steps T]\n"
      "                       [--self-check] [--no-affinity] [--ferry-<knob>=value ...]\n"
      "  --pattern P    trivial, stencil_1d, fft, tree (repeatable or a comma list; default "
      "all)\n"
      "  --quick        fewer timesteps and a shorter sweep (about 15 s)\n"
      "  --width W      points per timestep (default 2 x the ranks or CPUs that run tasks)\n"
      "  --steps T      timesteps (default 100, --quick 50)\n"
      "  --self-check   check the dependence functions and that both systems compute the\n"
      "                 sequential reference's values on small graphs; no timing\n"
      "  --no-affinity  let ferry's scheduler place tasks (default: point p's tasks run on\n"
      "                 the worker that owns p in the MPI block distribution)\n"
      "Run under mpirun -n N for the plain-MPI figures (ranks 1..N-1 run both graphs);\n"
      "without a launcher only ferry runs, embedded.\n");
}

[[noreturn]] void BadArg(const std::string& why) {
  if (!QuietRank()) std::fprintf(stderr, "ferry-taskbench: %s\n", why.c_str());
  Usage(stderr);
  std::exit(2);
}

int64_t ParseInt(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || v < lo || v > hi)
    BadArg(flag + " wants a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
           "], got '" + text + "'");
  return v;
}

// Removes this program's flags from argv, leaving argv[0] and the --ferry-* flags for
// ferry::Init. Exits 2 with usage on anything else.
Options ParseArgs(int& argc, char**& argv) {
  Options o;
  int out = 1;
  // "--flag value" or "--flag=value": the value, advancing i past it.
  auto value = [&](int& i, const std::string& a, const std::string& flag, std::string* v) {
    if (a == flag) {
      if (i + 1 >= argc) BadArg(flag + " needs a value");
      *v = argv[++i];
      return true;
    }
    if (a.rfind(flag + "=", 0) == 0) {
      *v = a.substr(flag.size() + 1);
      return true;
    }
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--self-check") {
      o.self_check = true;
    } else if (a == "--no-affinity") {
      o.affinity = false;
    } else if (a == "--help" || a == "-h") {
      Usage(stdout);
      std::exit(0);
    } else if (value(i, a, "--pattern", &v)) {
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        const std::string name = v.substr(start, comma - start);
        Pattern p;
        if (!taskbench::ParsePattern(name, &p))
          BadArg("unknown pattern '" + name + "' (trivial, stencil_1d, fft, tree)");
        if (std::find(o.patterns.begin(), o.patterns.end(), p) == o.patterns.end())
          o.patterns.push_back(p);
        start = comma + 1;
      }
    } else if (value(i, a, "--width", &v)) {
      o.width = ParseInt("--width", v, 1, 4096);
    } else if (value(i, a, "--steps", &v)) {
      o.steps = ParseInt("--steps", v, 1, 100000);
    } else if (a.rfind("--ferry-", 0) == 0) {
      argv[out++] = argv[i];
      // "--ferry-name value": keep the value with its flag.
      if (a.find('=') == std::string::npos && i + 1 < argc &&
          std::strncmp(argv[i + 1], "--", 2) != 0)
        argv[out++] = argv[++i];
    } else {
      BadArg("unknown argument '" + a + "'");
    }
  }
  argc = out;
  argv[argc] = nullptr;
  if (o.patterns.empty()) o.patterns = taskbench::AllPatterns();
  if (o.steps == 0) o.steps = o.quick ? 50 : 100;
  if (o.quick) {
    o.max_kernel_us = 2048;
    o.budget_s = 2;
    o.point_s = 0.2;
    o.max_reps = 3;
  }
  return o;
}

// ---- Output ---------------------------------------------------------------------------------

void Note(const std::string& s) {
  std::fprintf(stderr, "ferry-taskbench: %s\n", s.c_str());
  std::fflush(stderr);
}

std::string Num(double v, int digits = 4) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

// One JSON line on stdout, from fields already encoded.
void Line(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) s += ", ";
    s += JsonString(fields[i].first) + ": " + fields[i].second;
  }
  s += "}\n";
  std::fputs(s.c_str(), stdout);
  std::fflush(stdout);
}

void Skip(const std::string& name, const std::string& why) {
  Line({{"name", JsonString(name)}, {"skipped", JsonString(why)}});
}

// ---- Calibration, sweeps and METG -----------------------------------------------------------

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Kernel iterations per microsecond on this core: the fastest of many ~1 ms runs spread over
// about 0.2 s. The fastest, and short runs, because on a shared machine most runs lose part of
// their time slice to a neighbour, and a slowed run is not the kernel's speed (a calibration
// that is too slow would report efficiencies above 1).
double CalibrateIterationsPerUs() {
  int64_t iters = 256;
  volatile uint64_t sink = 0;
  for (int i = 0; i < 40; ++i) {  // grow until one run takes >= 1 ms
    auto t0 = Clock::now();
    sink = sink + taskbench::Kernel(static_cast<uint64_t>(i), iters);
    if (Seconds(t0, Clock::now()) >= 0.001) break;
    iters *= 2;
  }
  double best = 0;
  const auto until = Clock::now() + std::chrono::milliseconds(200);
  for (int i = 0; i < 400 && (i < 5 || Clock::now() < until); ++i) {
    auto t0 = Clock::now();
    sink = sink + taskbench::Kernel(static_cast<uint64_t>(i), iters);
    const double us = Seconds(t0, Clock::now()) * 1e6;
    if (us > 0) best = std::max(best, static_cast<double>(iters) / us);
  }
  return best > 0 ? best : 1;
}

// The kernel durations of a sweep, longest first: max_kernel_us halved down to min_kernel_us.
std::vector<double> KernelList(const Options& o) {
  std::vector<double> us;
  for (double k = o.max_kernel_us; k >= o.min_kernel_us * 0.999 && us.size() < 40; k /= 2)
    us.push_back(k);
  return us;
}

// A check run's kernel: short, so the sequential reference is cheap.
constexpr int64_t kCheckIters = 16;

// One kernel duration of a sweep.
struct Point {
  int64_t iters = 0;
  double wall_s = 0;  // median over the repetitions
  int64_t tasks = 0;
  std::vector<uint64_t> row;  // the last timestep's values
};

// One pattern's results for one system.
struct Sweep {
  std::vector<uint64_t> check_row;  // the check run's last timestep (kCheckIters)
  std::vector<Point> points;
  std::string error;  // non-empty: the sweep failed
};

double Efficiency(const Point& p, double ipu, double cores) {
  const double kernel_us = static_cast<double>(p.iters) / ipu;
  return static_cast<double>(p.tasks) * kernel_us / (p.wall_s * 1e6 * cores);
}
double Granularity(const Point& p, double cores) {
  return p.wall_s * 1e6 * cores / static_cast<double>(p.tasks);
}

// Whether a sweep goes on to a shorter kernel. Not past 1.5x the budget; past the budget only
// while the last duration still reached 50% (the shorter ones cost less and METG lies
// further on). After a duration reached 50%: not once efficiency fell far below it or stayed
// below it twice in a row. Before any did (a noisy start): not after four durations below 50%.
bool KeepSweeping(const std::vector<double>& eff, double used_s, double budget_s) {
  if (eff.empty() || used_s >= 1.5 * budget_s) return false;
  const size_t n = eff.size();
  if (used_s >= budget_s && eff[n - 1] < 0.5) return false;
  const bool reached = std::any_of(eff.begin(), eff.end(), [](double e) { return e >= 0.5; });
  if (!reached) return n < 4;
  if (eff[n - 1] < 0.25) return false;
  return !(n >= 2 && eff[n - 1] < 0.5 && eff[n - 2] < 0.5);
}

// Whether a kernel duration runs once more (its runs so far took `used_s`).
bool AnotherRep(int reps, double used_s, const Options& o) {
  return reps < o.max_reps && used_s < o.point_s;
}

struct Metg {
  bool ok = false;
  double us = 0;
  bool upper_bound = false;  // every duration reached 50%: METG is at most `us`
  std::string why;           // when !ok
};

// Task Bench's METG: the task granularity at the shortest kernel that still reaches 50%
// efficiency, interpolated (in log granularity) towards the next shorter kernel, which fell
// below 50%. Points are ordered longest kernel first.
Metg ComputeMetg(const std::vector<Point>& pts, double ipu, double cores) {
  Metg m;
  if (pts.empty()) {
    m.why = "no kernel duration was measured";
    return m;
  }
  std::optional<size_t> last_ok;
  double best = 0;
  size_t best_i = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    const double e = Efficiency(pts[i], ipu, cores);
    if (e >= 0.5) last_ok = i;
    if (e > best) {
      best = e;
      best_i = i;
    }
  }
  if (!last_ok) {
    char b[200];
    std::snprintf(b, sizeof(b),
                  "no kernel duration reached 50%% efficiency (best %.1f%%, at %.0f us, of %zu "
                  "durations from %.0f us)",
                  100 * best, static_cast<double>(pts[best_i].iters) / ipu, pts.size(),
                  static_cast<double>(pts[0].iters) / ipu);
    m.why = b;
    return m;
  }
  const size_t a = *last_ok;
  m.ok = true;
  if (a + 1 == pts.size()) {  // the sweep ended while still at or above 50%
    m.upper_bound = true;
    m.us = Granularity(pts[a], cores);
    return m;
  }
  const double ea = Efficiency(pts[a], ipu, cores);
  const double eb = Efficiency(pts[a + 1], ipu, cores);
  const double ga = std::log(Granularity(pts[a], cores));
  const double gb = std::log(Granularity(pts[a + 1], cores));
  const double f = ea > eb ? (ea - 0.5) / (ea - eb) : 0;
  m.us = std::exp(ga + f * (gb - ga));
  return m;
}

// ---- ferry ----------------------------------------------------------------------------------

template <typename F, typename... Args>
ferry::ObjectRef<uint64_t> Submit(F fn, const ferry::NodeId* node, Args&&... args) {
  auto call = ferry::Task(fn);
  if (node != nullptr) call.SetNodeAffinity(*node);
  return call.Remote(std::forward<Args>(args)...);
}

// Submits the whole graph, then gets the last timestep. `owners[p]` (when not empty) is the
// node point p's tasks run on. Returns the wall seconds from the first submission to the
// values; throws what ferry throws (a timeout included).
double RunFerry(const Graph& g, int64_t iters, const std::vector<ferry::NodeId>& owners,
                double expected_s, std::vector<uint64_t>* row) {
  const size_t w = static_cast<size_t>(g.width);
  std::vector<ferry::ObjectRef<uint64_t>> prev(w), next(w);
  const auto t0 = Clock::now();
  for (int64_t t = 0; t < g.steps; ++t) {
    for (int64_t p = 0; p < g.WidthAt(t); ++p) {
      int64_t d[kMaxDeps];
      const int n = g.Deps(t, p, d);
      const ferry::NodeId* node = owners.empty() ? nullptr : &owners[static_cast<size_t>(p)];
      const int64_t tp = PackTp(t, p);
      auto& out = next[static_cast<size_t>(p)];
      auto in = [&](int i) -> const ferry::ObjectRef<uint64_t>& {
        return prev[static_cast<size_t>(d[i])];
      };
      switch (n) {
        case 0:
          out = Submit(Point0, node, tp, iters);
          break;
        case 1:
          out = Submit(Point1, node, tp, iters, in(0));
          break;
        case 2:
          out = Submit(Point2, node, tp, iters, in(0), in(1));
          break;
        default:
          out = Submit(Point3, node, tp, iters, in(0), in(1), in(2));
          break;
      }
    }
    prev.swap(next);
  }
  prev.resize(static_cast<size_t>(g.WidthAt(g.steps - 1)));
  const int64_t timeout_ms = static_cast<int64_t>(60000 + 20000 * expected_s);
  auto values = ferry::Get(prev, timeout_ms);
  const double wall = Seconds(t0, Clock::now());
  row->clear();
  for (const auto& v : values) row->push_back(*v);
  return wall;
}

// The nodes that run tasks (offering CPUs), by rank, and their CPUs in all.
std::vector<ferry::NodeInfo> TaskNodes(double* cpus) {
  std::vector<ferry::NodeInfo> nodes;
  *cpus = 0;
  for (const auto& n : ferry::GetNodes()) {
    auto c = n.resources.find("CPU");
    if (!n.alive || c == n.resources.end() || c->second <= 0) continue;
    nodes.push_back(n);
    *cpus += c->second;
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const ferry::NodeInfo& a, const ferry::NodeInfo& b) { return a.rank < b.rank; });
  return nodes;
}

Sweep FerrySweep(const Options& o, const Graph& g, double ipu, double cores,
                 const std::vector<ferry::NodeId>& owners) {
  Sweep s;
  try {
    // The check run also warms up ferry (connections, function tables) for this pattern.
    RunFerry(g, kCheckIters, owners, 1, &s.check_row);
    if (o.self_check) return s;
    std::vector<double> eff;
    const auto start = Clock::now();
    for (double kernel_us : KernelList(o)) {
      Point pt;
      pt.iters = std::max<int64_t>(1, std::llround(kernel_us * ipu));
      pt.tasks = g.Tasks();
      const double expected = static_cast<double>(pt.tasks) * kernel_us * 1e-6 / cores;
      std::vector<double> walls;
      double used = 0;
      do {
        std::vector<uint64_t> row;
        const double wall = RunFerry(g, pt.iters, owners, expected, &row);
        if (walls.empty()) pt.row = std::move(row);
        walls.push_back(wall);
        used += wall;
      } while (AnotherRep(static_cast<int>(walls.size()), used, o));
      pt.wall_s = Median(walls);
      s.points.push_back(pt);
      eff.push_back(Efficiency(pt, ipu, cores));
      if (!KeepSweeping(eff, Seconds(start, Clock::now()), o.budget_s)) break;
    }
  } catch (const std::exception& e) {
    s.error = e.what();
  }
  return s;
}

// ---- Plain MPI ------------------------------------------------------------------------------

#if FERRY_TASKBENCH_WITH_MPI

constexpr int kResultTag = 7301;

// What one worker sends and receives at each timestep, for a block distribution.
struct MpiPlan {
  std::vector<std::vector<std::pair<int64_t, int>>> recvs;  // [t]: (point, from worker)
  std::vector<std::vector<std::pair<int64_t, int>>> sends;  // [t]: (point, to worker)
  int64_t first = 0, last = 0;                              // points owned: [first, last)
};

MpiPlan BuildPlan(const Graph& g, int me, int parts) {
  MpiPlan plan;
  plan.first = taskbench::BlockFirst(me, g.width, parts);
  plan.last = taskbench::BlockFirst(me + 1, g.width, parts);
  plan.recvs.resize(static_cast<size_t>(g.steps));
  plan.sends.resize(static_cast<size_t>(g.steps));
  for (int64_t t = 1; t < g.steps; ++t) {
    auto& rv = plan.recvs[static_cast<size_t>(t)];
    auto& sd = plan.sends[static_cast<size_t>(t)];
    for (int64_t p = 0; p < g.WidthAt(t); ++p) {
      const int op = static_cast<int>(taskbench::BlockOwner(p, g.width, parts));
      int64_t d[kMaxDeps];
      const int n = g.Deps(t, p, d);
      for (int i = 0; i < n; ++i) {
        const int od = static_cast<int>(taskbench::BlockOwner(d[i], g.width, parts));
        if (op == me && od != me) rv.emplace_back(d[i], od);
        if (od == me && op != me) sd.emplace_back(d[i], op);
      }
    }
    // One message per value and peer, however many of the peer's tasks use it.
    for (auto* v : {&rv, &sd}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
  }
  return plan;
}

// Runs the graph on the workers of `comm`; returns the wall seconds (barrier to barrier) and,
// on worker 0, the last timestep's values in `row`.
double ProcessCpuSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double RunMpi(const Graph& g, const MpiPlan& plan, int64_t iters, MPI_Comm comm,
              std::vector<uint64_t>* row, double* cpu_s = nullptr) {
  const size_t w = static_cast<size_t>(g.width);
  std::vector<uint64_t> prev(w, 0), next(w, 0);
  std::vector<MPI_Request> reqs;
  reqs.reserve(2 * w * kMaxDeps);
  MPI_Barrier(comm);
  const double c0 = ProcessCpuSeconds();
  const double t0 = MPI_Wtime();
  for (int64_t t = 0; t < g.steps; ++t) {
    const auto& rv = plan.recvs[static_cast<size_t>(t)];
    const auto& sd = plan.sends[static_cast<size_t>(t)];
    if (!rv.empty() || !sd.empty()) {
      reqs.clear();
      // The tag is the point: one value per point, peer and timestep, and every timestep's
      // messages complete before the next timestep's are posted.
      for (const auto& [p, from] : rv) {
        reqs.emplace_back();
        MPI_Irecv(&prev[static_cast<size_t>(p)], 1, MPI_UINT64_T, from, static_cast<int>(p),
                  comm, &reqs.back());
      }
      for (const auto& [p, to] : sd) {
        reqs.emplace_back();
        MPI_Isend(&prev[static_cast<size_t>(p)], 1, MPI_UINT64_T, to, static_cast<int>(p), comm,
                  &reqs.back());
      }
      MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    }
    const int64_t end = std::min(plan.last, g.WidthAt(t));
    for (int64_t p = plan.first; p < end; ++p) {
      int64_t d[kMaxDeps];
      uint64_t in[kMaxDeps];
      const int n = g.Deps(t, p, d);
      for (int i = 0; i < n; ++i) in[i] = prev[static_cast<size_t>(d[i])];
      next[static_cast<size_t>(p)] = taskbench::TaskValue(t, p, iters, in, n);
    }
    prev.swap(next);
  }
  MPI_Barrier(comm);
  const double wall = MPI_Wtime() - t0;
  if (cpu_s != nullptr) *cpu_s = ProcessCpuSeconds() - c0;
  // Outside the timed region: the last timestep's values to worker 0 (each worker
  // contributes its own points, zeros elsewhere).
  const size_t last_w = static_cast<size_t>(g.WidthAt(g.steps - 1));
  std::vector<uint64_t> mine(last_w, 0), all(last_w, 0);
  for (int64_t p = plan.first; p < std::min<int64_t>(plan.last, static_cast<int64_t>(last_w)); ++p)
    mine[static_cast<size_t>(p)] = prev[static_cast<size_t>(p)];
  MPI_Reduce(mine.data(), all.data(), static_cast<int>(last_w), MPI_UINT64_T, MPI_BXOR, 0, comm);
  *row = std::move(all);
  return wall;
}

// The MPI sweep of one pattern on the workers of `comm`; worker 0 decides when to repeat and
// when to stop, and tells the others. The result is complete on worker 0 only.
Sweep MpiSweep(const Options& o, const Graph& g, double ipu, MPI_Comm comm) {
  int me = 0, parts = 1;
  MPI_Comm_rank(comm, &me);
  MPI_Comm_size(comm, &parts);
  const MpiPlan plan = BuildPlan(g, me, parts);
  Sweep s;
  RunMpi(g, plan, kCheckIters, comm, &s.check_row);
  if (o.self_check) return s;
  std::vector<double> eff;
  const double cores = parts;
  const auto start = Clock::now();
  double cpu_sum = 0, wall_sum = 0;  // worker 0's CPU time against wall time, for a note
  for (double kernel_us : KernelList(o)) {
    Point pt;
    pt.iters = std::max<int64_t>(1, std::llround(kernel_us * ipu));
    pt.tasks = g.Tasks();
    std::vector<double> walls;
    double used = 0;
    int go = 1;  // from worker 0: 1 another repetition, 0 done with this duration
    do {
      std::vector<uint64_t> row;
      double cpu = 0;
      const double wall = RunMpi(g, plan, pt.iters, comm, &row, &cpu);
      cpu_sum += cpu;
      wall_sum += wall;
      if (walls.empty()) pt.row = std::move(row);
      walls.push_back(wall);
      used += wall;
      go = AnotherRep(static_cast<int>(walls.size()), used, o) ? 1 : 0;
      MPI_Bcast(&go, 1, MPI_INT, 0, comm);
    } while (go == 1);
    pt.wall_s = Median(walls);
    s.points.push_back(pt);
    eff.push_back(Efficiency(pt, ipu, cores));
    int more = KeepSweeping(eff, Seconds(start, Clock::now()), o.budget_s) ? 1 : 0;
    MPI_Bcast(&more, 1, MPI_INT, 0, comm);
    if (more == 0) break;
  }
  // A worker that got much less than its core (a busy machine) cannot reach 50% efficiency.
  if (me == 0 && wall_sum > 0 && cpu_sum < 0.8 * wall_sum)
    Note(std::string("mpi ") + taskbench::PatternName(g.pattern) + ": worker 1 ran on " +
         Num(100 * cpu_sum / wall_sum, 0) + "% of a core during its timed runs (a busy machine)");
  return s;
}

// The sweeps travel from worker 0 to rank 0 as 64-bit words.
void PutDouble(std::vector<uint64_t>* b, double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof(u));
  b->push_back(u);
}
double GetDouble(uint64_t u) {
  double v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}
void PutRow(std::vector<uint64_t>* b, const std::vector<uint64_t>& row) {
  b->push_back(row.size());
  b->insert(b->end(), row.begin(), row.end());
}

std::vector<uint64_t> Encode(double ipu, const std::vector<Sweep>& sweeps) {
  std::vector<uint64_t> b;
  PutDouble(&b, ipu);
  b.push_back(sweeps.size());
  for (const auto& s : sweeps) {
    PutRow(&b, s.check_row);
    b.push_back(s.points.size());
    for (const auto& p : s.points) {
      b.push_back(static_cast<uint64_t>(p.iters));
      PutDouble(&b, p.wall_s);
      b.push_back(static_cast<uint64_t>(p.tasks));
      PutRow(&b, p.row);
    }
  }
  return b;
}

// False if the words are malformed.
bool Decode(const std::vector<uint64_t>& b, double* ipu, std::vector<Sweep>* sweeps) {
  size_t i = 0;
  auto next = [&](uint64_t* v) {
    if (i >= b.size()) return false;
    *v = b[i++];
    return true;
  };
  auto row = [&](std::vector<uint64_t>* r) {
    uint64_t n;
    if (!next(&n) || n > b.size() - i) return false;
    r->assign(b.begin() + static_cast<ptrdiff_t>(i), b.begin() + static_cast<ptrdiff_t>(i + n));
    i += n;
    return true;
  };
  uint64_t u, ns;
  if (!next(&u) || !next(&ns) || ns > 64) return false;
  *ipu = GetDouble(u);
  sweeps->assign(ns, Sweep());
  for (auto& s : *sweeps) {
    uint64_t np;
    if (!row(&s.check_row) || !next(&np) || np > 1000) return false;
    s.points.resize(np);
    for (auto& p : s.points) {
      uint64_t it, wall, tasks;
      if (!next(&it) || !next(&wall) || !next(&tasks) || !row(&p.row)) return false;
      p.iters = static_cast<int64_t>(it);
      p.wall_s = GetDouble(wall);
      p.tasks = static_cast<int64_t>(tasks);
    }
  }
  return i == b.size();
}

// Rank 0 while the workers run the MPI graphs: waits for worker 0's results without keeping a
// core busy (a probe every 200 us, asleep in between), for at most `limit_s`.
bool AwaitResults(double limit_s, std::vector<uint64_t>* words) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(limit_s);
  MPI_Status st;
  int flag = 0;
  while (true) {
    MPI_Iprobe(1, kResultTag, MPI_COMM_WORLD, &flag, &st);
    if (flag) break;
    if (Clock::now() > deadline) return false;
    const struct timespec nap = {0, 200 * 1000};
    nanosleep(&nap, nullptr);
  }
  int count = 0;
  MPI_Get_count(&st, MPI_UINT64_T, &count);
  words->assign(static_cast<size_t>(count), 0);
  MPI_Recv(words->data(), count, MPI_UINT64_T, 1, kResultTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return true;
}

#endif  // FERRY_TASKBENCH_WITH_MPI

#if FERRY_TASKBENCH_WITH_MPI
void FinalizeMpi() {
  int init = 0, finalized = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&finalized);
  if (init && !finalized) MPI_Finalize();
}
#endif

// Efficiency counts against the kernel's calibrated speed on an idle core: say so when other
// processes keep the machine busy.
void WarnIfBusy() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return;
  double load = 0;
  const bool ok = std::fscanf(f, "%lf", &load) == 1;
  std::fclose(f);
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (ok && cpus > 0 && load > static_cast<double>(cpus))
    Note("warning: the machine is busy (load average " + Num(load, 2) + " on " +
         std::to_string(cpus) + " CPUs): efficiencies read low");
}

// ---- Reporting ------------------------------------------------------------------------------

struct Shape {
  int ranks = 1;
  int64_t width = 1;
  int64_t steps = 1;
};

void PrintCurve(const std::string& pattern, const char* system, const Sweep& s, double ipu,
                double cores, const Shape& sh) {
  for (const auto& p : s.points) {
    Line({{"name", JsonString("taskbench_" + pattern + "_efficiency")},
          {"system", JsonString(system)},
          {"task_us", Num(Granularity(p, cores))},
          {"kernel_us", Num(static_cast<double>(p.iters) / ipu)},
          {"value", Num(Efficiency(p, ipu, cores))},
          {"unit", "\"fraction\""},
          {"ranks", std::to_string(sh.ranks)},
          {"width", std::to_string(sh.width)},
          {"steps", std::to_string(sh.steps)},
          {"cores", Num(cores)}});
  }
}

// Prints the METG line of one system (or a skipped line); returns the figure when there is one.
std::optional<double> PrintMetg(const std::string& name, const std::string& pattern,
                                const char* system, const Sweep& s, double ipu, double cores,
                                const Shape& sh) {
  if (!s.error.empty()) {
    Skip(name, "failed: " + s.error);
    return std::nullopt;
  }
  const Metg m = ComputeMetg(s.points, ipu, cores);
  if (!m.ok) {
    Skip(name, m.why);
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> f = {
      {"name", JsonString(name)},          {"value", Num(m.us)},
      {"unit", "\"us\""},                  {"ranks", std::to_string(sh.ranks)},
      {"pattern", JsonString(pattern)},    {"system", JsonString(system)},
      {"width", std::to_string(sh.width)}, {"steps", std::to_string(sh.steps)},
      {"cores", Num(cores)}};
  if (m.upper_bound)
    f.emplace_back("note", "\"every kernel duration reached 50% efficiency: METG is at most "
                           "this\"");
  Line(f);
  return m.us;
}

// Compares two last-timestep rows; false (and a message) if they differ.
bool SameRow(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b,
             const std::string& what) {
  if (a == b) return true;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  char msg[256];
  std::snprintf(msg, sizeof(msg), "error: %s: the last timestep differs (%zu vs %zu values; "
                "first difference at point %zu)", what.c_str(), a.size(), b.size(), i);
  Note(msg);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);

  // The dependence functions first: pure, and the same on every rank.
  for (Pattern p : taskbench::AllPatterns()) {
    for (int64_t w = 1; w <= 17; ++w) {
      const std::string bad = taskbench::CheckGraph(Graph{p, w, 12});
      if (!bad.empty()) {
        Note("error: dependence function: " + bad);
        return 1;
      }
    }
  }

  if (!QuietRank()) WarnIfBusy();  // before this program adds to the load
  const bool under_mpi = LaunchedByMpi();
  int rank = 0, size = 1;
  bool mpi_ran = false;  // the MPI sweeps ran (and their results are in mpi_sweeps)
  std::string mpi_skip = "needs mpirun (run under mpirun -n N, N >= 2)";
  double ipu = 0;
  std::vector<Sweep> mpi_sweeps;
#if FERRY_TASKBENCH_WITH_MPI
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
    std::atexit(FinalizeMpi);
    if (size < 2) mpi_skip = "needs at least 2 MPI ranks (rank 0 only drives)";
  }
  if (under_mpi && size >= 2) {
    // 1. Plain MPI on ranks 1..N-1; rank 0 (ferry's driver later) sleeps meanwhile.
    const int64_t workers = size - 1;
    const int64_t width = opt.width > 0 ? opt.width : 2 * workers;
    MPI_Comm wc = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &wc);
    if (rank != 0) {
      int wrank = 0;
      MPI_Comm_rank(wc, &wrank);
      // Every worker calibrates, all at once as they will run the graphs; the kernels use the
      // mean.
      const double mine = CalibrateIterationsPerUs();
      double sum = 0;
      MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, wc);
      const double mean = sum / static_cast<double>(workers);
      std::vector<Sweep> sweeps;
      for (Pattern p : opt.patterns)
        sweeps.push_back(MpiSweep(opt, Graph{p, width, opt.steps}, mean, wc));
      if (wrank == 0) {
        std::vector<uint64_t> words = Encode(mean, sweeps);
        MPI_Send(words.data(), static_cast<int>(words.size()), MPI_UINT64_T, 0, kResultTag,
                 MPI_COMM_WORLD);
      }
      MPI_Comm_free(&wc);
    } else {
      std::vector<uint64_t> words;
      const double limit_s =
          120 + 4.0 * static_cast<double>(opt.patterns.size()) * (opt.budget_s + 10);
      if (!AwaitResults(limit_s, &words)) {
        Note("error: the MPI graphs did not finish within " + Num(limit_s) + " s");
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      if (!Decode(words, &ipu, &mpi_sweeps) || mpi_sweeps.size() != opt.patterns.size()) {
        Note("error: malformed results from the MPI workers");
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      mpi_ran = true;
    }
  }
#else
  (void)rank;
  if (under_mpi) {
    mpi_skip = "ferry-taskbench built without MPI";
    Note("launched under MPI, but this ferry-taskbench was built without MPI");
  }
#endif

  // 2. ferry. Under MPI every worker offers one CPU (as it ran one MPI process) and the head
  // none: rank 0 only drives.
  ferry::Config config;
  if (under_mpi && size >= 2) {
    config.head_cpus = 0;
    config.num_cpus = 1;
  }
  ferry::Init(config, argc, argv);  // ranks other than 0 serve here and never return

  if (ipu <= 0) ipu = CalibrateIterationsPerUs();  // embedded: this process runs the tasks
  double ferry_cores = 0;
  const std::vector<ferry::NodeInfo> nodes = TaskNodes(&ferry_cores);
  if (nodes.empty() || ferry_cores <= 0) {
    Note("error: no node offers CPUs to tasks");
    ferry::Shutdown();
    return 1;
  }
  const int64_t task_ranks = under_mpi && size >= 2 ? size - 1 : static_cast<int64_t>(ferry_cores);
  const int64_t width = opt.width > 0 ? opt.width : 2 * std::max<int64_t>(1, task_ranks);
  const double mpi_cores = static_cast<double>(size - 1);
  Note("kernel: " + Num(ipu, 1) + " iterations per us; width " + std::to_string(width) + ", " +
       std::to_string(opt.steps) + " steps; ferry on " + std::to_string(nodes.size()) +
       " node(s) with " + Num(ferry_cores, 1) + " CPUs" +
       (opt.affinity && nodes.size() > 1 ? ", points pinned block-wise" : ""));
  // Point p's tasks go where MPI runs point p (only meaningful with several nodes).
  std::vector<ferry::NodeId> owners;
  if (opt.affinity && nodes.size() > 1) {
    for (int64_t p = 0; p < width; ++p)
      owners.push_back(
          nodes[static_cast<size_t>(
                    taskbench::BlockOwner(p, width, static_cast<int64_t>(nodes.size())))]
              .id);
  }

  const Shape shape{size, width, opt.steps};
  int errors = 0;
  for (size_t i = 0; i < opt.patterns.size(); ++i) {
    const Pattern pat = opt.patterns[i];
    const std::string name = taskbench::PatternName(pat);
    const Graph g{pat, width, opt.steps};
    const std::vector<uint64_t> want = taskbench::Reference(g, kCheckIters);
    const Sweep fs = FerrySweep(opt, g, ipu, ferry_cores, owners);

    // Correctness: the check runs against the reference, and every duration both systems ran
    // against each other.
    if (fs.error.empty() && !SameRow(fs.check_row, want, name + " ferry check run vs reference"))
      ++errors;
    if (mpi_ran) {
      const Sweep& ms = mpi_sweeps[i];
      if (!SameRow(ms.check_row, want, name + " MPI check run vs reference")) ++errors;
      for (const auto& fp : fs.points)
        for (const auto& mp : ms.points)
          if (fp.iters == mp.iters &&
              !SameRow(fp.row, mp.row,
                       name + " ferry vs MPI at " + std::to_string(fp.iters) + " iterations"))
            ++errors;
    }
    if (opt.self_check) {
      Note(name + ": dependence function ok; ferry check run " +
           (fs.error.empty() ? "ran" : "failed: " + fs.error) +
           (mpi_ran ? "; MPI check run ran" : ""));
      if (!fs.error.empty()) ++errors;
      continue;
    }

    PrintCurve(name, "ferry", fs, ipu, ferry_cores, shape);
    if (mpi_ran) PrintCurve(name, "mpi", mpi_sweeps[i], ipu, mpi_cores, shape);
    std::optional<double> mpi_metg;
    const std::string mpi_name = "mpi_taskbench_" + name + "_metg_us";
    if (mpi_ran) {
      mpi_metg = PrintMetg(mpi_name, name, "mpi", mpi_sweeps[i], ipu, mpi_cores, shape);
    } else {
      Skip(mpi_name, mpi_skip);
    }
    const std::string ferry_name = "taskbench_" + name + "_metg_us";
    std::optional<double> ferry_metg =
        PrintMetg(ferry_name, name, "ferry", fs, ipu, ferry_cores, shape);
    if (!fs.error.empty()) ++errors;
    if (ferry_metg && mpi_metg && *mpi_metg > 0) {
      Line({{"name", JsonString(ferry_name)},
            {"value", Num(*ferry_metg / *mpi_metg)},
            {"unit", "\"ratio\""},
            {"ratio_to", JsonString(mpi_name)},
            {"ranks", std::to_string(size)},
            {"pattern", JsonString(name)}});
    }
  }
  if (opt.self_check && errors == 0) Note("self-check ok");

  ferry::Shutdown();  // MPI is finalized at exit (registered after MPI_Init_thread)
  return errors == 0 ? 0 : 1;
}
