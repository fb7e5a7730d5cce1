// heat_sweep: ferry's main example. A parameter sweep of 2-D heat diffusion on a square plate,
// run as three stages of tasks linked by ObjectRef arguments:
//
//   stage 1  Simulate(params)            -> the final temperature field (std::vector<double>;
//                                           above the inline threshold it stays in the producing
//                                           rank's store and travels out of band)
//   stage 2  Analyze(field_ref, params)  -> Stats (mean / max / min temperature, hot-area
//                                           fraction, excess heat, distance from steady state)
//   stage 3  per diffusivity, a tree reduction of the row's Stats refs -> RowSummary
//
// The driver only submits tasks and Gets the small results at the end; fields never pass
// through it. The physics: dT/dt = alpha * laplacian(T) + s * w(x, y) on the unit square, the
// edges held at the boundary temperature, the plate starting at that temperature, w a smooth
// bump of radius 0.2 at the centre. Explicit Euler in time, 5-point stencil in space, with
// dt = 0.9 * dx^2 / (4 * alpha_max), so alpha * dt / dx^2 <= 0.225 < 1/4 for every run.
//
//   heat_sweep [--alphas 16] [--sources 16] [--grid 96] [--steps 500] ...   (--help lists all)
//   mpirun --allow-run-as-root --oversubscribe -n 4 heat_sweep
//
// The checksum it prints is a sum of the results in a fixed order on the driver: the same
// whatever the number of ranks or the order in which tasks ran.
#include <ferry/ferry.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace {

// ---- The model ------------------------------------------------------------------------------

// One point of the sweep. Travels to the tasks by value.
struct SimParams {
  int ia = 0;            // index of the diffusivity in the sweep
  int is = 0;            // index of the source strength in the sweep
  double alpha = 0;      // thermal diffusivity
  double source = 0;     // heating rate at the plate's centre (degrees per unit time)
  double dt = 0;         // time step
  int grid = 0;          // points per side, edges included
  int steps = 0;         // time steps
  double boundary = 20;  // temperature of the edges, and the initial temperature
  double hot = 30;       // a cell above this temperature counts as hot

  template <class Ar>
  void serialize(Ar& ar, unsigned /*version*/) {
    ar& ia& is& alpha& source& dt& grid& steps& boundary& hot;
  }
};

// What stage 2 makes of one field.
struct Stats {
  int ia = 0;
  int is = 0;
  double alpha = 0;
  double source = 0;
  double mean_temp = 0;  // over the interior
  double max_temp = 0;
  double min_temp = 0;
  double hot_fraction = 0;   // share of interior cells above params.hot
  double total_heat = 0;     // integral of (T - boundary) over the plate
  double injected_heat = 0;  // what the source put in; the difference left through the edges
  double residual = 0;       // max |dT/dt| left at the end: 0 at steady state

  template <class Ar>
  void serialize(Ar& ar, unsigned /*version*/) {
    ar& ia& is& alpha& source& mean_temp& max_temp& min_temp& hot_fraction& total_heat&
        injected_heat& residual;
  }
};

// What stage 3 makes of a row (one diffusivity, all source strengths).
struct RowSummary {
  int ia = -1;
  double alpha = 0;
  int count = 0;
  double mean_temp_sum = 0;
  double hot_fraction_sum = 0;
  double heat_sum = 0;
  double injected_sum = 0;
  double max_temp = -std::numeric_limits<double>::infinity();
  double min_temp = std::numeric_limits<double>::infinity();
  int hottest_is = -1;  // source index of max_temp (the lowest index on a tie)
  double hottest_source = 0;
  double max_residual = 0;

  template <class Ar>
  void serialize(Ar& ar, unsigned /*version*/) {
    ar& ia& alpha& count& mean_temp_sum& hot_fraction_sum& heat_sum& injected_sum& max_temp&
        min_temp& hottest_is& hottest_source& max_residual;
  }
};

constexpr double kBumpRadius = 0.2;

// The source's shape at grid point (i, j): (1 - r^2/R^2)^2 inside radius R of the centre, else 0.
// Plain arithmetic only (no libm), so every rank computes the same bits.
double SourceShape(int i, int j, double dx) {
  double x = i * dx - 0.5;
  double y = j * dx - 0.5;
  double r2 = (x * x + y * y) / (kBumpRadius * kBumpRadius);
  if (r2 >= 1.0) return 0.0;
  double u = 1.0 - r2;
  return u * u;
}

// Stage 1: integrates the heat equation; returns the final field, row-major, grid x grid.
std::vector<double> Simulate(SimParams p) {
  if (p.grid < 3 || p.steps < 0) throw std::invalid_argument("Simulate: bad grid or step count");
  const int n = p.grid;
  const double dx = 1.0 / (n - 1);
  const double c = p.alpha * p.dt / (dx * dx);
  if (!(c > 0.0 && c <= 0.25))
    throw std::domain_error("Simulate: unstable step, alpha*dt/dx^2 = " + std::to_string(c) +
                            " is outside (0, 0.25]");
  const size_t cells = static_cast<size_t>(n) * n;
  std::vector<double> t(cells, p.boundary);
  std::vector<double> next(t);
  std::vector<double> q(cells, 0.0);  // the source's contribution per step
  for (int i = 1; i < n - 1; ++i)
    for (int j = 1; j < n - 1; ++j)
      q[static_cast<size_t>(i) * n + j] = p.dt * p.source * SourceShape(i, j, dx);

  for (int s = 0; s < p.steps; ++s) {
    for (int i = 1; i < n - 1; ++i) {
      const double* up = &t[static_cast<size_t>(i - 1) * n];
      const double* mid = &t[static_cast<size_t>(i) * n];
      const double* down = &t[static_cast<size_t>(i + 1) * n];
      const double* qi = &q[static_cast<size_t>(i) * n];
      double* out = &next[static_cast<size_t>(i) * n];
      for (int j = 1; j < n - 1; ++j) {
        double lap = (mid[j - 1] + mid[j + 1] + up[j] + down[j]) - 4.0 * mid[j];
        out[j] = mid[j] + c * lap + qi[j];
      }
    }
    t.swap(next);  // the edges of both buffers stay at the boundary temperature
  }
  return t;
}

// Stage 2: statistics of one final field.
Stats Analyze(std::vector<double> field, SimParams p) {
  const int n = p.grid;
  if (field.size() != static_cast<size_t>(n) * n)
    throw std::invalid_argument("Analyze: field has " + std::to_string(field.size()) +
                                " values, expected " + std::to_string(n) + "^2");
  const double dx = 1.0 / (n - 1);
  const double inv_dx2 = 1.0 / (dx * dx);
  Stats st;
  st.ia = p.ia;
  st.is = p.is;
  st.alpha = p.alpha;
  st.source = p.source;
  st.max_temp = -std::numeric_limits<double>::infinity();
  st.min_temp = std::numeric_limits<double>::infinity();
  double sum = 0, excess = 0, shape = 0;
  size_t hot = 0;
  for (int i = 1; i < n - 1; ++i) {
    for (int j = 1; j < n - 1; ++j) {
      const size_t k = static_cast<size_t>(i) * n + j;
      const double v = field[k];
      sum += v;
      excess += v - p.boundary;
      st.max_temp = std::max(st.max_temp, v);
      st.min_temp = std::min(st.min_temp, v);
      if (v > p.hot) ++hot;
      const double lap =
          ((field[k - 1] + field[k + 1] + field[k - n] + field[k + n]) - 4.0 * v) * inv_dx2;
      const double w = SourceShape(i, j, dx);
      shape += w;
      const double rate = p.alpha * lap + p.source * w;
      st.residual = std::max(st.residual, std::fabs(rate));
    }
  }
  const double interior = static_cast<double>(n - 2) * (n - 2);
  st.mean_temp = sum / interior;
  st.hot_fraction = static_cast<double>(hot) / interior;
  st.total_heat = excess * dx * dx;
  st.injected_heat = p.source * (p.steps * p.dt) * shape * dx * dx;
  return st;
}

// Stage 3 helpers: a row summary of one analysis, and the merge of two (associative; the tree
// shape fixed by the driver makes the floating-point sums deterministic).
RowSummary Lift(const Stats& s) {
  RowSummary r;
  r.ia = s.ia;
  r.alpha = s.alpha;
  r.count = 1;
  r.mean_temp_sum = s.mean_temp;
  r.hot_fraction_sum = s.hot_fraction;
  r.heat_sum = s.total_heat;
  r.injected_sum = s.injected_heat;
  r.max_temp = s.max_temp;
  r.min_temp = s.min_temp;
  r.hottest_is = s.is;
  r.hottest_source = s.source;
  r.max_residual = s.residual;
  return r;
}

RowSummary Combine(const RowSummary& a, const RowSummary& b) {
  if (a.ia != b.ia) throw std::logic_error("Combine: summaries of different rows");
  RowSummary r = a;
  r.count = a.count + b.count;
  r.mean_temp_sum = a.mean_temp_sum + b.mean_temp_sum;
  r.hot_fraction_sum = a.hot_fraction_sum + b.hot_fraction_sum;
  r.heat_sum = a.heat_sum + b.heat_sum;
  r.injected_sum = a.injected_sum + b.injected_sum;
  if (b.max_temp > a.max_temp || (b.max_temp == a.max_temp && b.hottest_is < a.hottest_is)) {
    r.max_temp = b.max_temp;
    r.hottest_is = b.hottest_is;
    r.hottest_source = b.hottest_source;
  }
  r.min_temp = std::min(a.min_temp, b.min_temp);
  r.max_residual = std::max(a.max_residual, b.max_residual);
  return r;
}

RowSummary SummarizeOne(Stats a) { return Lift(a); }
RowSummary SummarizePair(Stats a, Stats b) { return Combine(Lift(a), Lift(b)); }
RowSummary MergeSummaries(RowSummary a, RowSummary b) { return Combine(a, b); }

}  // namespace

FERRY_REMOTE(Simulate, Analyze, SummarizeOne, SummarizePair, MergeSummaries);

namespace {

// ---- The driver -----------------------------------------------------------------------------

struct Options {
  int alphas = 16;
  int sources = 16;
  int grid = 96;
  int steps = 500;
  double alpha_min = 0.1;
  double alpha_max = 1.0;
  double source_max = 5000.0;
  double boundary = 20.0;
  double hot = 30.0;
};

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: heat_sweep [options] [--ferry-<knob>=value ...]\n"
               "  2-D heat diffusion swept over diffusivity x source strength, as ferry tasks.\n"
               "  --alphas N        diffusivities in the sweep (default 16)\n"
               "  --sources N       source strengths in the sweep, the first one 0 (default 16)\n"
               "  --grid N          points per side of the plate, edges included (default 96)\n"
               "  --steps N         explicit time steps per simulation (default 500)\n"
               "  --alpha-min X     smallest diffusivity (default 0.1)\n"
               "  --alpha-max X     largest diffusivity (default 1.0)\n"
               "  --source-max X    largest heating rate at the centre (default 5000)\n"
               "  --boundary X      edge and initial temperature (default 20)\n"
               "  --hot X           temperature above which a cell counts as hot (default 30)\n"
               "  -h, --help        this text\n"
               "Options take 'value' as the next argument or as --name=value. Exit status: 0 when\n"
               "the run and its sanity checks pass, 1 when a check fails, 2 on bad flags.\n");
}

bool ParseInt(const std::string& s, int lo, int hi, int& out) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool ParseDouble(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// Returns 0 when the flags are good, 1 for --help, 2 (with `err` set) for bad flags.
int ParseFlags(int argc, char** argv, Options& o, std::string& err) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return 1;
    if (arg.rfind("--", 0) != 0) {
      err = "unexpected argument '" + arg + "'";
      return 2;
    }
    std::string name = arg, value;
    bool have_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      have_value = true;
    }
    auto need_value = [&]() -> bool {
      if (have_value) return true;
      if (i + 1 >= argc) {
        err = name + " needs a value";
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto bad = [&](const char* what) {
      err = "bad value '" + value + "' for " + name + " (" + what + ")";
      return 2;
    };
    if (name == "--alphas") {
      if (!need_value()) return 2;
      if (!ParseInt(value, 1, 4096, o.alphas)) return bad("an integer in [1, 4096]");
    } else if (name == "--sources") {
      if (!need_value()) return 2;
      if (!ParseInt(value, 1, 4096, o.sources)) return bad("an integer in [1, 4096]");
    } else if (name == "--grid") {
      if (!need_value()) return 2;
      if (!ParseInt(value, 3, 8192, o.grid)) return bad("an integer in [3, 8192]");
    } else if (name == "--steps") {
      if (!need_value()) return 2;
      if (!ParseInt(value, 0, 100000000, o.steps)) return bad("an integer in [0, 1e8]");
    } else if (name == "--alpha-min") {
      if (!need_value()) return 2;
      if (!ParseDouble(value, o.alpha_min) || o.alpha_min <= 0) return bad("a number > 0");
    } else if (name == "--alpha-max") {
      if (!need_value()) return 2;
      if (!ParseDouble(value, o.alpha_max) || o.alpha_max <= 0) return bad("a number > 0");
    } else if (name == "--source-max") {
      if (!need_value()) return 2;
      if (!ParseDouble(value, o.source_max) || o.source_max < 0) return bad("a number >= 0");
    } else if (name == "--boundary") {
      if (!need_value()) return 2;
      if (!ParseDouble(value, o.boundary)) return bad("a number");
    } else if (name == "--hot") {
      if (!need_value()) return 2;
      if (!ParseDouble(value, o.hot)) return bad("a number");
    } else {
      err = "unknown option '" + name + "'";
      return 2;
    }
  }
  if (o.alpha_max < o.alpha_min) {
    err = "--alpha-max must be >= --alpha-min";
    return 2;
  }
  if (static_cast<int64_t>(o.alphas) * o.sources > 1000000) {
    err = "at most 1,000,000 sweep points (--alphas x --sources)";
    return 2;
  }
  return 0;
}

// Point k of n evenly spaced values in [lo, hi] (lo alone when n == 1).
double Linspace(double lo, double hi, int k, int n) {
  return n == 1 ? lo : lo + (hi - lo) * static_cast<double>(k) / static_cast<double>(n - 1);
}

// FNV-1a over the bits of the results: equal digests mean bit-identical results.
struct Digest {
  uint64_t h = 1469598103934665603ULL;
  void Add(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  }
  void Add(double v) { Add(&v, sizeof v); }
  void Add(int v) { Add(&v, sizeof v); }
};

std::string LauncherDescription() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return std::string(v) + " ranks (" + var + ")";
  }
  return "none: the embedded cluster in this process";
}

int Run(const Options& o) {
  const int n = o.grid;
  const double dx = 1.0 / (n - 1);
  const double dt = 0.9 * dx * dx / (4.0 * o.alpha_max);  // stability: alpha*dt/dx^2 <= 1/4
  const double courant_max = o.alpha_max * dt / (dx * dx);
  const size_t field_bytes = static_cast<size_t>(n) * n * sizeof(double);
  const int points = o.alphas * o.sources;

  std::printf(
      "ferry heat_sweep: 2-D heat diffusion, explicit 5-point stencil on the unit square\n");
  std::printf(
      "  sweep:     %d diffusivities in [%g, %g] x %d source strengths in [0, %g] = %d "
      "simulations\n",
      o.alphas, o.alpha_min, o.alpha_max, o.sources, o.sources == 1 ? 0.0 : o.source_max, points);
  std::printf(
      "  plate:     %d x %d points (dx = %.6g), edges held at %g, %d steps of dt = %.4g (t_end = "
      "%.4g)\n",
      n, n, dx, o.boundary, o.steps, dt, o.steps * dt);
  std::printf("  stability: alpha*dt/dx^2 <= %.4f for every run (explicit limit 0.25)\n",
              courant_max);
  std::printf("  fields:    %zu bytes each (one std::vector<double> result per simulation)\n",
              field_bytes);
  std::printf("  launcher:  %s\n", LauncherDescription().c_str());
  std::fflush(stdout);
  if (!(courant_max <= 0.25)) {
    std::fprintf(stderr, "heat_sweep: internal error: unstable time step\n");
    return 1;
  }

  const auto t0 = std::chrono::steady_clock::now();

  // Stages 1 and 2: one Simulate and one Analyze per point; Analyze takes Simulate's ref, so
  // the runtime runs it once the field exists, on any rank, fetching the field if needed.
  // The driver keeps no ref to the fields (the pending Analyze holds one), except the first
  // zero-source field, which it reads back for the sanity check.
  std::vector<ferry::ObjectRef<Stats>> stats_refs;  // row-major: ia * sources + is
  stats_refs.reserve(points);
  ferry::ObjectRef<std::vector<double>> zero_field;
  for (int ia = 0; ia < o.alphas; ++ia) {
    for (int is = 0; is < o.sources; ++is) {
      SimParams p;
      p.ia = ia;
      p.is = is;
      p.alpha = Linspace(o.alpha_min, o.alpha_max, ia, o.alphas);
      p.source = Linspace(0.0, o.source_max, is, o.sources);
      p.dt = dt;
      p.grid = n;
      p.steps = o.steps;
      p.boundary = o.boundary;
      p.hot = o.hot;
      auto field = ferry::Task(Simulate).SetName("simulate").Remote(p);
      stats_refs.push_back(ferry::Task(Analyze).SetName("analyze").Remote(field, p));
      if (ia == 0 && is == 0) zero_field = field;
    }
  }

  // Stage 3: per diffusivity, a pairwise tree over the row's Stats refs (SummarizePair at the
  // leaves, MergeSummaries above); every edge of the tree is an ObjectRef argument.
  int64_t stage3_tasks = 0;
  std::vector<ferry::ObjectRef<RowSummary>> row_refs;
  row_refs.reserve(o.alphas);
  for (int ia = 0; ia < o.alphas; ++ia) {
    const auto* row = &stats_refs[static_cast<size_t>(ia) * o.sources];
    std::vector<ferry::ObjectRef<RowSummary>> level;
    for (int is = 0; is < o.sources; is += 2) {
      if (is + 1 < o.sources)
        level.push_back(
            ferry::Task(SummarizePair).SetName("summarize").Remote(row[is], row[is + 1]));
      else
        level.push_back(ferry::Task(SummarizeOne).SetName("summarize").Remote(row[is]));
      ++stage3_tasks;
    }
    while (level.size() > 1) {
      std::vector<ferry::ObjectRef<RowSummary>> up;
      for (size_t k = 0; k < level.size(); k += 2) {
        if (k + 1 < level.size()) {
          up.push_back(
              ferry::Task(MergeSummaries).SetName("summarize").Remote(level[k], level[k + 1]));
          ++stage3_tasks;
        } else {
          up.push_back(level[k]);  // an odd one out moves up unchanged
        }
      }
      level.swap(up);
    }
    row_refs.push_back(level.front());
  }

  // The driver waits for the small results only.
  std::vector<std::shared_ptr<RowSummary>> rows = ferry::Get(row_refs);
  std::vector<std::shared_ptr<Stats>> stats = ferry::Get(stats_refs);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t tasks = 2 * static_cast<int64_t>(points) + stage3_tasks;

  // ---- Tables ----
  std::printf("\nper diffusivity (stage 3: tree reduction of each row's %d analyses)\n", o.sources);
  std::printf("  %8s %9s %9s %9s %8s %10s %8s %11s\n", "alpha", "a*dt/dx2", "mean T", "max T",
              "hot %", "heat", "lost %", "max dT/dt");
  for (const auto& r : rows) {
    const double lost = r->injected_sum > 0 ? 100.0 * (1.0 - r->heat_sum / r->injected_sum) : 0.0;
    std::printf("  %8.4f %9.4f %9.3f %9.3f %8.2f %10.4f %8.3f %11.4g\n", r->alpha,
                r->alpha * dt / (dx * dx), r->mean_temp_sum / r->count, r->max_temp,
                100.0 * r->hot_fraction_sum / r->count, r->heat_sum / r->count, lost,
                r->max_residual);
  }
  std::printf(
      "  (row means over the sources; heat: integral of T - %g; lost: heat that left through\n"
      "   the edges, as a share of what the sources put in; max dT/dt: distance from steady "
      "state)\n",
      o.boundary);
  constexpr int kMaxMatrixColumns = 24;
  if (o.sources <= kMaxMatrixColumns) {
    std::printf("\nmax temperature: alpha (rows) x source strength (columns)\n  %8s", "alpha");
    for (int is = 0; is < o.sources; ++is)
      std::printf(" %6.0f", Linspace(0.0, o.source_max, is, o.sources));
    std::printf("\n");
    for (int ia = 0; ia < o.alphas; ++ia) {
      std::printf("  %8.4f", stats[static_cast<size_t>(ia) * o.sources]->alpha);
      for (int is = 0; is < o.sources; ++is)
        std::printf(" %6.2f", stats[static_cast<size_t>(ia) * o.sources + is]->max_temp);
      std::printf("\n");
    }
  } else {
    std::printf("\n(max-temperature matrix left out: more than %d source strengths)\n",
                kMaxMatrixColumns);
  }

  // ---- Hottest configuration, checksum and digest, all in a fixed order ----
  const RowSummary* hottest = rows.front().get();
  for (const auto& r : rows)
    if (r->max_temp > hottest->max_temp) hottest = r.get();
  double checksum = 0;
  Digest digest;
  for (const auto& s : stats) {
    checksum += s->mean_temp + s->max_temp + s->min_temp + s->hot_fraction + s->total_heat +
                s->injected_heat;
    for (double v : {s->alpha, s->source, s->mean_temp, s->max_temp, s->min_temp, s->hot_fraction,
                     s->total_heat, s->injected_heat, s->residual})
      digest.Add(v);
  }
  for (const auto& r : rows) {
    digest.Add(r->count);
    digest.Add(r->hottest_is);
    for (double v : {r->mean_temp_sum, r->hot_fraction_sum, r->heat_sum, r->injected_sum,
                     r->max_temp, r->min_temp, r->max_residual})
      digest.Add(v);
  }

  std::printf("\nsummary\n");
  std::printf("  simulations: %d\n", points);
  std::printf("  tasks:       %lld (%d simulate, %d analyze, %lld summarize)\n",
              static_cast<long long>(tasks), points, points, static_cast<long long>(stage3_tasks));
  std::printf("  wall time:   %.3f s   (%.1f tasks/s, %.1f simulations/s)\n", wall_s,
              tasks / wall_s, points / wall_s);
  std::printf("  hottest:     alpha = %.4f, source = %g -> max T = %.4f\n", hottest->alpha,
              hottest->hottest_source, hottest->max_temp);

  // ---- Sanity checks ----
  bool ok = true;
  // 1. With no source the plate stays at the boundary temperature: every zero-source run, and
  //    one whole field read back from wherever it was computed.
  const double tol = 1e-9 * std::max(1.0, std::fabs(o.boundary));
  double zero_dev = 0;
  for (int ia = 0; ia < o.alphas; ++ia) {
    const Stats& s = *stats[static_cast<size_t>(ia) * o.sources];
    zero_dev = std::max({zero_dev, std::fabs(s.max_temp - o.boundary),
                         std::fabs(s.min_temp - o.boundary), std::fabs(s.total_heat), s.residual});
  }
  auto field = ferry::Get(zero_field);
  for (double v : *field) zero_dev = std::max(zero_dev, std::fabs(v - o.boundary));
  const bool zero_ok = zero_dev <= tol && field->size() == static_cast<size_t>(n) * n;
  std::printf(
      "sanity: zero-source plates stay at the boundary temperature %g (%d runs + one whole field, "
      "max deviation %.3g): %s\n",
      o.boundary, o.alphas, zero_dev, zero_ok ? "OK" : "FAILED");
  ok = ok && zero_ok;

  // 2. A heat source never cools (min T >= boundary), a stronger source is never cooler, the plate
  //    keeps no more heat than the source put in (the rest left through the edges), and the
  //    stage-3 rows agree with the stage-2 results they were reduced from.
  bool principle_ok = true, monotone_ok = true, rows_ok = true, heat_ok = true;
  for (int ia = 0; ia < o.alphas; ++ia) {
    double row_max = -std::numeric_limits<double>::infinity();
    for (int is = 0; is < o.sources; ++is) {
      const Stats& s = *stats[static_cast<size_t>(ia) * o.sources + is];
      if (s.ia != ia || s.is != is) rows_ok = false;
      if (s.min_temp < o.boundary - tol) principle_ok = false;
      if (s.total_heat > s.injected_heat * (1 + 1e-9) + 1e-12) heat_ok = false;
      if (is > 0) {
        const Stats& prev = *stats[static_cast<size_t>(ia) * o.sources + is - 1];
        if (s.max_temp < prev.max_temp - tol) monotone_ok = false;
      }
      row_max = std::max(row_max, s.max_temp);
    }
    const RowSummary& r = *rows[ia];
    if (r.ia != ia || r.count != o.sources || r.max_temp != row_max) rows_ok = false;
  }
  auto word = [](bool b) { return b ? "OK" : "FAILED"; };
  std::printf(
      "sanity: min T >= boundary: %s; max T non-decreasing in source: %s; heat kept <= heat put "
      "in: %s; "
      "stage 3 agrees with stage 2: %s\n",
      word(principle_ok), word(monotone_ok), word(heat_ok), word(rows_ok));
  ok = ok && principle_ok && monotone_ok && heat_ok && rows_ok;

  std::printf("digest: %016llx\n", static_cast<unsigned long long>(digest.h));
  std::printf("checksum: %.6f\n", checksum);
  std::printf("heat_sweep: %s\n", ok ? "all checks passed" : "a sanity check FAILED");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    ferry::Init(
        argc, argv);  // consumes --ferry-* flags; on worker ranks it serves tasks and never returns
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heat_sweep: %s\n", e.what());
    Usage(stderr);
    return 2;
  }
  Options opt;
  std::string err;
  const int parsed = ParseFlags(argc, argv, opt, err);
  if (parsed != 0) {
    if (parsed == 1) {
      Usage(stdout);
    } else {
      std::fprintf(stderr, "heat_sweep: %s\n", err.c_str());
      Usage(stderr);
    }
    ferry::Shutdown();
    return parsed == 1 ? 0 : 2;
  }
  int rc = 1;
  try {
    rc = Run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heat_sweep: %s\n", e.what());
    rc = 1;
  }
  ferry::Shutdown();
  return rc;
}
