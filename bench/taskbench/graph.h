// The task graphs of ferry-taskbench: Task Bench's dependence patterns (trivial, stencil_1d,
// fft, tree) over a width x steps iteration space, the compute-bound kernel and the value each
// task produces. Pure functions only (no I/O, no runtime): both the ferry and the plain-MPI
// implementation, and the sequential reference they are checked against, are built on them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace taskbench {

enum class Pattern { kTrivial, kStencil1d, kFft, kTree };

inline const char* PatternName(Pattern p) {
  switch (p) {
    case Pattern::kTrivial:
      return "trivial";
    case Pattern::kStencil1d:
      return "stencil_1d";
    case Pattern::kFft:
      return "fft";
    case Pattern::kTree:
      return "tree";
  }
  return "?";
}

inline const std::vector<Pattern>& AllPatterns() {
  static const std::vector<Pattern> all = {Pattern::kTrivial, Pattern::kStencil1d, Pattern::kFft,
                                           Pattern::kTree};
  return all;
}

// False if `name` is not a pattern.
inline bool ParsePattern(const std::string& name, Pattern* out) {
  for (Pattern p : AllPatterns()) {
    if (name == PatternName(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

// The most dependencies one task has (fft and stencil_1d: 3).
constexpr int kMaxDeps = 3;

// A graph of `steps` timesteps; at timestep t the points 0 .. WidthAt(t)-1 each run one task,
// which consumes the outputs of Deps(t, p) at timestep t-1. Timestep 0 has no dependencies.
struct Graph {
  Pattern pattern = Pattern::kTrivial;
  int64_t width = 1;
  int64_t steps = 1;

  // Points that run at timestep t: the full width, except for tree, which starts from one
  // root and doubles every step until it is full.
  int64_t WidthAt(int64_t t) const {
    if (t < 0 || t >= steps) return 0;
    if (pattern == Pattern::kTree) return t >= 62 ? width : std::min(width, int64_t{1} << t);
    return width;
  }

  // fft: the number of butterfly distances, ceil(log2(width)), at least 1.
  int64_t FftStages() const {
    int64_t stages = 0;
    while ((int64_t{1} << stages) < width) ++stages;
    return std::max<int64_t>(1, stages);
  }

  // Writes the points at timestep t-1 that task (t, p) depends on into `out`, ascending and
  // without repeats; returns how many (0 .. kMaxDeps).
  //   stencil_1d: p-1, p, p+1 (those inside the width);
  //   fft: p - d, p, p + d with d = 2^((t-1) mod FftStages()) (those inside the width);
  //   tree: p / 2 (the parent; every point has exactly one).
  // REQUIRES: 0 <= p < WidthAt(t).
  int Deps(int64_t t, int64_t p, int64_t out[kMaxDeps]) const {
    if (t <= 0) return 0;
    int n = 0;
    switch (pattern) {
      case Pattern::kTrivial:
        return 0;
      case Pattern::kStencil1d:
        for (int64_t q = p - 1; q <= p + 1; ++q)
          if (q >= 0 && q < width) out[n++] = q;
        return n;
      case Pattern::kFft: {
        const int64_t d = int64_t{1} << ((t - 1) % FftStages());
        if (p - d >= 0) out[n++] = p - d;
        out[n++] = p;
        if (p + d < width) out[n++] = p + d;
        return n;
      }
      case Pattern::kTree:
        out[n++] = p / 2;
        return n;
    }
    return 0;
  }

  // Total tasks in the graph.
  int64_t Tasks() const {
    int64_t n = 0;
    for (int64_t t = 0; t < steps; ++t) n += WidthAt(t);
    return n;
  }
};

// Checks the dependence function's invariants for every task of `g`: deps ascending, unique,
// inside the previous timestep's width, and the counts the pattern defines. Returns the first
// violation in words, or an empty string.
inline std::string CheckGraph(const Graph& g) {
  for (int64_t t = 0; t < g.steps; ++t) {
    for (int64_t p = 0; p < g.WidthAt(t); ++p) {
      int64_t d[kMaxDeps];
      const int n = g.Deps(t, p, d);
      const std::string at = std::string(PatternName(g.pattern)) + " task (" +
                             std::to_string(t) + ", " + std::to_string(p) + ")";
      if (n < 0 || n > kMaxDeps) return at + ": bad dependency count";
      for (int i = 0; i < n; ++i) {
        if (d[i] < 0 || d[i] >= g.WidthAt(t - 1)) return at + ": dependency outside the width";
        if (i > 0 && d[i] <= d[i - 1]) return at + ": dependencies not ascending and unique";
      }
      if (t == 0 && n != 0) return at + ": timestep 0 has dependencies";
      if (t == 0) continue;
      int want = -1;
      switch (g.pattern) {
        case Pattern::kTrivial:
          want = 0;
          break;
        case Pattern::kStencil1d:
          want = 1 + (p > 0) + (p + 1 < g.width);
          break;
        case Pattern::kFft: {
          const int64_t dist = int64_t{1} << ((t - 1) % g.FftStages());
          want = 1 + (p - dist >= 0) + (p + dist < g.width);
          // The butterfly is symmetric: p's partner depends on p too.
          for (int i = 0; i < n; ++i) {
            int64_t back[kMaxDeps];
            const int m = g.Deps(t, d[i], back);
            if (std::find(back, back + m, p) == back + m) return at + ": fft partner not symmetric";
          }
          break;
        }
        case Pattern::kTree:
          want = 1;
          if (d[0] != p / 2) return at + ": tree dependency is not the parent";
          break;
      }
      if (n != want) return at + ": wrong dependency count";
    }
  }
  return "";
}

// splitmix64's finalizer: a cheap, well-mixed 64-bit hash step.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The compute-bound kernel: `iters` dependent multiply-add steps that the compiler can neither
// fold nor vectorize. Returns the final state, so the caller's value proves the loop ran.
inline uint64_t Kernel(uint64_t x, int64_t iters) {
  for (int64_t i = 0; i < iters; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));  // one iteration at a time: no closed form, no unrolled chains
  }
  return x;
}

// The output of task (t, p): a hash of its position and its inputs (in Deps order), run
// through the kernel.
inline uint64_t TaskValue(int64_t t, int64_t p, int64_t iters, const uint64_t* in, int n) {
  uint64_t h = Mix((static_cast<uint64_t>(t) << 32) ^ static_cast<uint64_t>(p));
  for (int i = 0; i < n; ++i) h = Mix(h ^ in[i]);
  return Mix(Kernel(h, iters));
}

// The last timestep's values, computed sequentially: the answer both systems must give.
inline std::vector<uint64_t> Reference(const Graph& g, int64_t iters) {
  std::vector<uint64_t> prev(static_cast<size_t>(g.width)), next(prev.size());
  for (int64_t t = 0; t < g.steps; ++t) {
    for (int64_t p = 0; p < g.WidthAt(t); ++p) {
      int64_t d[kMaxDeps];
      uint64_t in[kMaxDeps];
      const int n = g.Deps(t, p, d);
      for (int i = 0; i < n; ++i) in[i] = prev[static_cast<size_t>(d[i])];
      next[static_cast<size_t>(p)] = TaskValue(t, p, iters, in, n);
    }
    prev.swap(next);
  }
  prev.resize(static_cast<size_t>(g.WidthAt(g.steps - 1)));
  return prev;
}

// Block distribution of `width` points over `parts` workers: worker r owns the points
// First(r) .. First(r+1)-1.
inline int64_t BlockFirst(int64_t r, int64_t width, int64_t parts) { return r * width / parts; }
inline int64_t BlockOwner(int64_t p, int64_t width, int64_t parts) {
  int64_t r = std::min(parts - 1, p * parts / width);
  while (r > 0 && BlockFirst(r, width, parts) > p) --r;
  while (r + 1 < parts && BlockFirst(r + 1, width, parts) <= p) ++r;
  return r;
}

}  // namespace taskbench
