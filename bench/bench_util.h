// Small helpers shared by the bench programs (ferry-bench, ferry-taskbench): JSON strings,
// medians, and whether this process was started by an MPI launcher. Header-only; pure
// functions, thread-compatible.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ferry_bench {

// `s` as a JSON string literal, quotes included.
inline std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else if (c == '\t') {
      o += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

// The median (the mean of the middle two for an even count); 0 for none.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  if (n == 0) return 0;
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Whether an MPI launcher (mpirun, srun with PMI/PMIx) started this process; FERRY_BOOTSTRAP
// =local|mpi decides when set.
inline bool LaunchedByMpi() {
  if (const char* b = std::getenv("FERRY_BOOTSTRAP")) {
    if (std::strcmp(b, "local") == 0) return false;
    if (std::strcmp(b, "mpi") == 0) return true;
  }
  for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(n);
    if (v != nullptr && std::atoi(v) > 0) return true;
  }
  return std::getenv("PMIX_RANK") != nullptr;
}

}  // namespace ferry_bench
