// Raw UCX get bandwidth between rank 0 and rank 1: see raw_ucx.h.
#include "bench/raw_ucx.h"

#include <mpi.h>
#include <sys/mman.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace ferry_bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kErrLen = 256;
constexpr uint8_t kPattern = 0xA5;

// FERRY_BENCH_VERBOSE=1: UCX's endpoint configuration and every timed get on stderr.
bool Verbose() {
  const char* e = std::getenv("FERRY_BENCH_VERBOSE");
  return e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0;
}

std::string Ucs(const char* what, ucs_status_t s) {
  return std::string(what) + ": " + ucs_status_string(s);
}

// Every rank contributes its error (empty: fine); all ranks return the first one, prefixed
// with the rank it came from. This is the agreement that ends each phase.
std::string AgreeOnError(int rank, int size, const std::string& mine) {
  std::vector<char> buf(kErrLen, 0);
  std::snprintf(buf.data(), kErrLen, "%s", mine.c_str());
  std::vector<char> all(kErrLen * static_cast<size_t>(size), 0);
  MPI_Allgather(buf.data(), static_cast<int>(kErrLen), MPI_CHAR, all.data(),
                static_cast<int>(kErrLen), MPI_CHAR, MPI_COMM_WORLD);
  for (int r = 0; r < size; ++r) {
    const char* e = all.data() + static_cast<size_t>(r) * kErrLen;
    if (e[0] != '\0')
      return "rank " + std::to_string(r) + ": " + std::string(e, strnlen(e, kErrLen));
  }
  return {};
}

// A barrier that keeps the UCX worker progressing (the target of a get may have to answer,
// e.g. when UCX emulates RMA over active messages, or for endpoint wireup and close).
void ProgressingBarrier(ucp_worker_h worker) {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  while (!done) {
    if (worker != nullptr) ucp_worker_progress(worker);
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    // Poll politely: while rank 1 times its gets, a spinning rank 0 (or rank 2, 3, ...) would
    // take the CPU it copies on when ranks outnumber cores.
    if (!done) usleep(20);
  }
}

// Waits for a request returned by a *_nbx call; returns its final status.
ucs_status_t WaitRequest(ucp_worker_h worker, ucs_status_ptr_t r) {
  if (r == nullptr) return UCS_OK;
  if (UCS_PTR_IS_ERR(r)) return UCS_PTR_STATUS(r);
  ucs_status_t st;
  do {
    ucp_worker_progress(worker);
    st = ucp_request_check_status(r);
  } while (st == UCS_INPROGRESS);
  ucp_request_free(r);
  return st;
}

void* MapPages(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// The lanes UCX uses for gets on `ep`, from ucp_ep_print_info: "lane[0]:  3:sysv/memory.0 ..."
// names the transport of lane 0, "get[0]: 0..<bcopy>..(inf)" its protocols by size.
std::string GetTransports(ucp_ep_h ep) {
  char* text = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&text, &len);
  if (f == nullptr) return {};
  ucp_ep_print_info(ep, f);
  std::fclose(f);
  std::string all(text, len);
  std::free(text);
  if (Verbose()) std::fwrite(all.data(), 1, all.size(), stderr);
  std::vector<std::string> lanes;
  std::string out;
  std::istringstream in(all);
  std::string line;
  while (std::getline(in, line)) {
    size_t l = line.find("lane[");
    size_t g = line.find("get[");
    if (l != std::string::npos) {
      size_t idx = std::strtoul(line.c_str() + l + 5, nullptr, 10);
      std::istringstream ls(line.substr(line.find(':', l) + 1));
      std::string tok;
      ls >> tok;  // "3:sysv/memory.0"
      size_t c = tok.find(':');
      if (lanes.size() <= idx) lanes.resize(idx + 1);
      lanes[idx] = c == std::string::npos ? tok : tok.substr(c + 1);
    } else if (g != std::string::npos) {
      size_t idx = std::strtoul(line.c_str() + g + 4, nullptr, 10);
      std::istringstream ls(line.substr(line.find(':', g) + 1));
      std::string proto;
      ls >> proto;
      if (!out.empty()) out += ", ";
      out += (idx < lanes.size() ? lanes[idx] : "lane " + std::to_string(idx)) + " " + proto;
    }
  }
  return out;
}

struct Side {
  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  ucp_address_t* address = nullptr;
  size_t address_len = 0;
  void* buffer = nullptr;  // rank 0: the source; rank 1: the destination
  size_t bytes = 0;
  ucp_mem_h memh = nullptr;
  void* rkey_buffer = nullptr;  // rank 0
  size_t rkey_len = 0;
  ucp_ep_h ep = nullptr;      // rank 1 -> rank 0
  ucp_rkey_h rkey = nullptr;  // rank 1

  std::string Setup() {
    ucp_config_t* config = nullptr;
    ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
    if (st != UCS_OK) return Ucs("ucp_config_read", st);
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_RMA;
    st = ucp_init(&params, config, &context);
    ucp_config_release(config);
    if (st != UCS_OK) return Ucs("ucp_init", st);
    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    st = ucp_worker_create(context, &wp, &worker);
    if (st != UCS_OK) return Ucs("ucp_worker_create", st);
    st = ucp_worker_get_address(worker, &address, &address_len);
    if (st != UCS_OK) return Ucs("ucp_worker_get_address", st);
    return {};
  }

  // Allocates, touches (every page is resident before timing) and registers the buffer.
  std::string MapBuffer(size_t n, int fill) {
    bytes = n;
    buffer = MapPages(n);
    if (buffer == nullptr) return "mmap of " + std::to_string(n) + " bytes failed";
    std::memset(buffer, fill, n);
    ucp_mem_map_params_t mp{};
    mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    mp.address = buffer;
    mp.length = n;
    ucs_status_t st = ucp_mem_map(context, &mp, &memh);
    if (st != UCS_OK) return Ucs("ucp_mem_map", st);
    return {};
  }

  void Teardown() {
    if (rkey != nullptr) ucp_rkey_destroy(rkey);
    if (ep != nullptr) {
      ucp_request_param_t prm{};
      prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      prm.flags = 0;  // flush, then close
      WaitRequest(worker, ucp_ep_close_nbx(ep, &prm));
    }
  }

  void Release() {
    if (rkey_buffer != nullptr) ucp_rkey_buffer_release(rkey_buffer);
    if (memh != nullptr) ucp_mem_unmap(context, memh);
    if (buffer != nullptr) munmap(buffer, bytes);
    if (address != nullptr) ucp_worker_release_address(worker, address);
    if (worker != nullptr) ucp_worker_destroy(worker);
    if (context != nullptr) ucp_cleanup(context);
  }
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

RawUcxResult MeasureUcxGet(size_t bytes, int warmups, int reps, double budget_s) {
  RawUcxResult res;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    res.error = "needs at least 2 ranks";
    return res;
  }
  const bool active = rank == 0 || rank == 1;
  Side s;
  auto finish = [&](const std::string& err) {
    res.ok = false;
    res.error = err;
    s.Release();
    return res;
  };

  // 1. Contexts and workers on ranks 0 and 1.
  std::string err = active ? s.Setup() : std::string();
  if (!(err = AgreeOnError(rank, size, err)).empty()) return finish(err);

  // 2. Worker addresses: every rank gathers every address (others contribute nothing).
  int my_len = static_cast<int>(s.address_len);
  std::vector<int> lens(static_cast<size_t>(size));
  MPI_Allgather(&my_len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<int> displs(static_cast<size_t>(size));
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += lens[static_cast<size_t>(r)];
  }
  std::vector<char> addrs(static_cast<size_t>(std::max(total, 1)));
  MPI_Allgatherv(s.address, my_len, MPI_BYTE, addrs.data(), lens.data(), displs.data(), MPI_BYTE,
                 MPI_COMM_WORLD);

  // 3. Rank 0: the source buffer, registered, its rkey packed.
  if (rank == 0) {
    err = s.MapBuffer(bytes, kPattern);
    if (err.empty()) {
      ucs_status_t st = ucp_rkey_pack(s.context, s.memh, &s.rkey_buffer, &s.rkey_len);
      if (st != UCS_OK) err = Ucs("ucp_rkey_pack", st);
    }
  }
  if (!(err = AgreeOnError(rank, size, err)).empty()) return finish(err);

  // 4. Rank 0 broadcasts {remote address, rkey}.
  uint64_t remote_addr = reinterpret_cast<uint64_t>(s.buffer);
  int rkey_len = static_cast<int>(s.rkey_len);
  MPI_Bcast(&remote_addr, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  MPI_Bcast(&rkey_len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<char> rkey(static_cast<size_t>(std::max(rkey_len, 1)));
  if (rank == 0) std::memcpy(rkey.data(), s.rkey_buffer, static_cast<size_t>(rkey_len));
  MPI_Bcast(rkey.data(), rkey_len, MPI_BYTE, 0, MPI_COMM_WORLD);

  // 5. Rank 1: destination buffer, endpoint to rank 0, unpacked rkey.
  if (rank == 1) {
    err = s.MapBuffer(bytes, 0);
    if (err.empty()) {
      ucp_ep_params_t ep{};
      ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
      ep.address = reinterpret_cast<const ucp_address_t*>(addrs.data() + displs[0]);
      ucs_status_t st = ucp_ep_create(s.worker, &ep, &s.ep);
      if (st != UCS_OK) err = Ucs("ucp_ep_create", st);
    }
    if (err.empty()) {
      ucs_status_t st = ucp_ep_rkey_unpack(s.ep, rkey.data(), &s.rkey);
      if (st != UCS_OK) err = Ucs("ucp_ep_rkey_unpack", st);
    }
  }
  if (!(err = AgreeOnError(rank, size, err)).empty()) {
    if (rank == 1) s.Teardown();
    ProgressingBarrier(active ? s.worker : nullptr);
    return finish(err);
  }

  // 6. Rank 1 times its gets while everyone else progresses inside a barrier.
  std::vector<double> gbps;
  if (rank == 1) {
    Clock::time_point timed_start;
    double longest = 0;
    for (int i = 0; i < warmups + reps && err.empty(); ++i) {
      if (i == warmups) timed_start = Clock::now();
      ucp_request_param_t prm{};
      auto t0 = Clock::now();
      ucs_status_t st =
          WaitRequest(s.worker, ucp_get_nbx(s.ep, s.buffer, bytes, remote_addr, s.rkey, &prm));
      double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      if (st != UCS_OK) {
        err = Ucs("ucp_get_nbx", st);
        break;
      }
      if (i == 0) {  // the data really arrived (sampled every 4 KiB)
        const auto* p = static_cast<const uint8_t*>(s.buffer);
        for (size_t off = 0; off < bytes && err.empty(); off += 4096)
          if (p[off] != kPattern)
            err = "ucp_get_nbx completed but the data differs at offset " + std::to_string(off);
        if (err.empty() && p[bytes - 1] != kPattern)
          err = "ucp_get_nbx completed but the last byte differs";
      }
      if (i >= warmups) gbps.push_back(static_cast<double>(bytes) / sec / 1e9);
      if (Verbose())
        std::fprintf(stderr, "ucx_get %d: %.3f s, %.2f GB/s\n", i, sec,
                     static_cast<double>(bytes) / sec / 1e9);
      if (i >= warmups) {
        longest = std::max(longest, sec);
        if (std::chrono::duration<double>(Clock::now() - timed_start).count() + longest > budget_s)
          break;
      }
    }
    if (err.empty()) res.transports = GetTransports(s.ep);
  }
  ProgressingBarrier(active ? s.worker : nullptr);
  err = AgreeOnError(rank, size, err);

  double figures[2] = {0, 0};
  if (rank == 1 && err.empty() && !gbps.empty()) {
    figures[0] = Median(gbps);
    figures[1] = *std::max_element(gbps.begin(), gbps.end());
  }
  MPI_Bcast(figures, 2, MPI_DOUBLE, 1, MPI_COMM_WORLD);
  char tbuf[kErrLen] = {};
  std::snprintf(tbuf, sizeof(tbuf), "%s", res.transports.c_str());
  MPI_Bcast(tbuf, static_cast<int>(kErrLen), MPI_CHAR, 1, MPI_COMM_WORLD);
  res.transports = tbuf;

  // 7. Close (rank 1 flushes its endpoint while rank 0 keeps progressing), then free.
  if (rank == 1) s.Teardown();
  ProgressingBarrier(active ? s.worker : nullptr);
  if (!err.empty()) return finish(err);
  s.Release();
  res.ok = true;
  res.gb_per_s = figures[0];
  res.best_gb_per_s = figures[1];
  return res;
}

}  // namespace ferry_bench
