// Raw UCX floors between rank 0 and rank 1 (get bandwidth, tagged round trip): see raw_ucx.h.
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
// `spin`: poll without sleeping (see UcxGetPlan::target_polls).
void ProgressingBarrier(ucp_worker_h worker, bool spin = false) {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  while (!done) {
    if (worker != nullptr) ucp_worker_progress(worker);
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    // Poll politely: while rank 1 times its gets, a spinning rank 0 (or rank 2, 3, ...) would
    // take the CPU it copies on when ranks outnumber cores. A rank without a worker has
    // nothing to serve: it wakes rarely, so as not to disturb the two that measure.
    if (!done && worker == nullptr) usleep(1000);
    if (!done && worker != nullptr && !spin) usleep(20);
  }
}

// How long one operation may take before the peer counts as lost. Generous: a 1 GiB get on
// a loaded machine takes seconds, and a peer may be descheduled for a while.
constexpr double kOpTimeoutS = 120;
// How long a ping-pong message may take: the peer answers within microseconds when it runs.
constexpr double kPingTimeoutS = 10;

// Waits for a request returned by a *_nbx call, polling the worker; returns its final status,
// or UCS_ERR_TIMED_OUT (the request cancelled) after `timeout_s`, so that a peer that failed
// on its side cannot hang this one.
ucs_status_t WaitRequest(ucp_worker_h worker, ucs_status_ptr_t r, double timeout_s = kOpTimeoutS) {
  if (r == nullptr) return UCS_OK;
  if (UCS_PTR_IS_ERR(r)) return UCS_PTR_STATUS(r);
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  ucs_status_t st;
  unsigned polls = 0;
  do {
    ucp_worker_progress(worker);
    st = ucp_request_check_status(r);
    // Reading the clock on every poll would add to a sub-microsecond round trip.
    if (st == UCS_INPROGRESS && ++polls % 1024 == 0 && Clock::now() > deadline) {
      ucp_request_cancel(worker, r);
      ucp_worker_progress(worker);
      ucp_request_free(r);  // released by UCX once the cancel completes
      return UCS_ERR_TIMED_OUT;
    }
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

  std::string Setup(uint64_t features) {
    ucp_config_t* config = nullptr;
    ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
    if (st != UCS_OK) return Ucs("ucp_config_read", st);
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = features;
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
      WaitRequest(worker, ucp_ep_close_nbx(ep, &prm), kPingTimeoutS);
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

// Every rank gathers every worker address (ranks without a worker contribute nothing);
// `displs[r]` is where rank r's address starts in `all`.
void ExchangeAddresses(const Side& s, int size, std::vector<char>& all, std::vector<int>& displs) {
  int my_len = static_cast<int>(s.address_len);
  std::vector<int> lens(static_cast<size_t>(size));
  MPI_Allgather(&my_len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
  displs.assign(static_cast<size_t>(size), 0);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += lens[static_cast<size_t>(r)];
  }
  all.assign(static_cast<size_t>(std::max(total, 1)), 0);
  MPI_Allgatherv(s.address, my_len, MPI_BYTE, all.data(), lens.data(), displs.data(), MPI_BYTE,
                 MPI_COMM_WORLD);
}

std::string CreateEndpoint(Side& s, const char* remote_address) {
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
  ep.address = reinterpret_cast<const ucp_address_t*>(remote_address);
  ucs_status_t st = ucp_ep_create(s.worker, &ep, &s.ep);
  return st == UCS_OK ? std::string() : Ucs("ucp_ep_create", st);
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Rank 1's side of MeasureUcxGets: plans [begin, end) in turn; fills `out` (3 doubles per
// plan: median, best, samples). Returns the first error.
std::string TimeGets(Side& s, const std::vector<UcxGetPlan>& plans, size_t begin, size_t end,
                     uint64_t remote_addr, std::vector<double>& out) {
  for (size_t p = begin; p < end; ++p) {
    const UcxGetPlan& plan = plans[p];
    const size_t bytes = plan.bytes;
    const int batch = std::max(plan.batch, 1);
    // An earlier plan left the pattern in the destination: clear it, so that the check below
    // sees this plan's bytes arrive.
    if (p > 0) std::memset(s.buffer, 0, bytes);
    std::vector<double> gbps;
    Clock::time_point timed_start;
    double longest = 0;
    for (int i = 0; i < plan.warmups + plan.reps; ++i) {
      if (i == plan.warmups) timed_start = Clock::now();
      auto t0 = Clock::now();
      for (int b = 0; b < batch; ++b) {
        ucp_request_param_t prm{};
        ucs_status_t st =
            WaitRequest(s.worker, ucp_get_nbx(s.ep, s.buffer, bytes, remote_addr, s.rkey, &prm));
        if (st != UCS_OK) return Ucs("ucp_get_nbx", st);
      }
      double sec = SecondsSince(t0);
      if (i == 0) {  // the data really arrived (sampled every 4 KiB)
        const auto* d = static_cast<const uint8_t*>(s.buffer);
        for (size_t off = 0; off < bytes; off += 4096)
          if (d[off] != kPattern)
            return "ucp_get_nbx completed but the data differs at offset " + std::to_string(off);
        if (d[bytes - 1] != kPattern) return "ucp_get_nbx completed but the last byte differs";
      }
      double rate = static_cast<double>(bytes) * batch / sec / 1e9;
      if (Verbose())
        std::fprintf(stderr, "ucx_get %zu B x %d, sample %d: %.6f s, %.2f GB/s\n", bytes, batch, i,
                     sec, rate);
      if (i >= plan.warmups) {
        gbps.push_back(rate);
        longest = std::max(longest, sec);
        if (SecondsSince(timed_start) + longest > plan.budget_s) break;
      }
    }
    if (!gbps.empty()) {
      out[3 * p] = Median(gbps);
      out[3 * p + 1] = *std::max_element(gbps.begin(), gbps.end());
      out[3 * p + 2] = static_cast<double>(gbps.size());
    }
  }
  return {};
}

}  // namespace

RawUcxSweepResult MeasureUcxGets(const std::vector<UcxGetPlan>& plans) {
  RawUcxSweepResult res;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  size_t bytes = 0;
  for (const UcxGetPlan& p : plans) bytes = std::max(bytes, p.bytes);
  // Every rank sees the same plans, so every rank returns here alike.
  if (size < 2) {
    res.error = "needs at least 2 ranks";
    return res;
  }
  if (plans.empty() || bytes == 0) {
    res.error = "nothing to measure (no plan, or a plan of 0 bytes)";
    return res;
  }
  for (const UcxGetPlan& p : plans)
    if (p.bytes == 0) {
      res.error = "a plan of 0 bytes";
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
  std::string err = active ? s.Setup(UCP_FEATURE_RMA) : std::string();
  if (!(err = AgreeOnError(rank, size, err)).empty()) return finish(err);

  // 2. Worker addresses.
  std::vector<char> addrs;
  std::vector<int> displs;
  ExchangeAddresses(s, size, addrs, displs);

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
    if (err.empty()) err = CreateEndpoint(s, addrs.data() + displs[0]);
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

  // 6. Rank 1 times its gets while everyone else progresses inside a barrier: one barrier per
  // run of consecutive plans alike in target_polls, in which rank 0 polls as they ask.
  std::vector<double> figures(3 * plans.size(), 0.0);
  for (size_t begin = 0; begin < plans.size();) {
    size_t end = begin;
    while (end < plans.size() && plans[end].target_polls == plans[begin].target_polls) ++end;
    if (rank == 1 && err.empty()) err = TimeGets(s, plans, begin, end, remote_addr, figures);
    ProgressingBarrier(active ? s.worker : nullptr, rank == 0 && plans[begin].target_polls);
    begin = end;
  }
  if (rank == 1 && err.empty()) res.transports = GetTransports(s.ep);
  err = AgreeOnError(rank, size, err);

  MPI_Bcast(figures.data(), static_cast<int>(figures.size()), MPI_DOUBLE, 1, MPI_COMM_WORLD);
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
  for (size_t p = 0; p < plans.size(); ++p)
    res.figures.push_back(
        {figures[3 * p], figures[3 * p + 1], static_cast<int>(figures[3 * p + 2])});
  return res;
}

RawUcxResult MeasureUcxGet(size_t bytes, int warmups, int reps, double budget_s) {
  UcxGetPlan plan;
  plan.bytes = bytes;
  plan.warmups = warmups;
  plan.reps = reps;
  plan.batch = 1;
  plan.budget_s = budget_s;
  RawUcxSweepResult sweep = MeasureUcxGets({plan});
  RawUcxResult res;
  res.ok = sweep.ok;
  res.error = sweep.error;
  res.transports = sweep.transports;
  if (sweep.ok && !sweep.figures.empty()) {
    res.gb_per_s = sweep.figures[0].gb_per_s;
    res.best_gb_per_s = sweep.figures[0].best_gb_per_s;
  }
  return res;
}

namespace {

constexpr ucp_tag_t kPingTag = 1;
constexpr ucp_tag_t kPongTag = 2;
constexpr ucp_tag_t kFullMask = ~ucp_tag_t{0};

ucs_status_t SendValue(Side& s, int64_t* v, ucp_tag_t tag) {
  ucp_request_param_t prm{};
  return WaitRequest(s.worker, ucp_tag_send_nbx(s.ep, v, sizeof(*v), tag, &prm), kPingTimeoutS);
}

// Posts the receive before the caller sends, so that the answer finds it waiting.
ucs_status_ptr_t PostReceive(Side& s, int64_t* v, ucp_tag_t tag) {
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_DATATYPE;
  prm.datatype = ucp_dt_make_contig(1);
  return ucp_tag_recv_nbx(s.worker, v, sizeof(*v), tag, kFullMask, &prm);
}

// Rank 0: sends i, expects i back; after the last, sends -1 (stop). Fills `us` with the timed
// round trips.
std::string PingSide(Side& s, int warmups, int iterations, double budget_s,
                     std::vector<double>& us) {
  std::string err;
  Clock::time_point timed_start;
  for (int i = 0; i < warmups + iterations; ++i) {
    if (i == warmups) timed_start = Clock::now();
    if (i > warmups && SecondsSince(timed_start) > budget_s) break;
    int64_t out = i, in = -2;
    auto t0 = Clock::now();
    ucs_status_ptr_t r = PostReceive(s, &in, kPongTag);
    ucs_status_t st = SendValue(s, &out, kPingTag);
    if (st != UCS_OK) {
      WaitRequest(s.worker, r, 0);  // cancels the receive
      return Ucs("ucp_tag_send_nbx", st);
    }
    st = WaitRequest(s.worker, r, kPingTimeoutS);
    double sec = SecondsSince(t0);
    if (st != UCS_OK) {
      err = Ucs("ucp_tag_recv_nbx (rank 1's answer)", st);
      break;
    }
    if (in != i) {
      err = "ucp_tag_recv_nbx: got " + std::to_string(in) + " back for " + std::to_string(i);
      break;
    }
    if (i >= warmups) us.push_back(sec * 1e6);
  }
  int64_t stop = -1;
  ucs_status_t st = SendValue(s, &stop, kPingTag);
  if (err.empty() && st != UCS_OK) err = Ucs("ucp_tag_send_nbx (stop)", st);
  return err;
}

// Rank 1: answers every value until -1, at most `limit` messages.
std::string PongSide(Side& s, int limit) {
  for (int n = 0; n < limit; ++n) {
    int64_t v = -2;
    ucs_status_t st = WaitRequest(s.worker, PostReceive(s, &v, kPingTag), kPingTimeoutS);
    if (st != UCS_OK) return Ucs("ucp_tag_recv_nbx (rank 0's message)", st);
    if (v < 0) return {};
    st = SendValue(s, &v, kPongTag);
    if (st != UCS_OK) return Ucs("ucp_tag_send_nbx", st);
  }
  return "rank 0 sent more messages than agreed";
}

}  // namespace

RawUcxPingPong MeasureUcxPingPong(int warmups, int iterations, double budget_s) {
  RawUcxPingPong res;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    res.error = "needs at least 2 ranks";
    return res;
  }
  warmups = std::max(warmups, 0);
  iterations = std::max(iterations, 1);
  const bool active = rank == 0 || rank == 1;
  Side s;
  auto finish = [&](const std::string& err) {
    res.ok = false;
    res.error = err;
    s.Release();
    return res;
  };

  std::string err = active ? s.Setup(UCP_FEATURE_TAG) : std::string();
  if (!(err = AgreeOnError(rank, size, err)).empty()) return finish(err);
  std::vector<char> addrs;
  std::vector<int> displs;
  ExchangeAddresses(s, size, addrs, displs);
  if (active) err = CreateEndpoint(s, addrs.data() + displs[rank == 0 ? 1 : 0]);
  if (!(err = AgreeOnError(rank, size, err)).empty()) {
    if (active) s.Teardown();
    ProgressingBarrier(active ? s.worker : nullptr);
    return finish(err);
  }

  std::vector<double> us;
  if (rank == 0) err = PingSide(s, warmups, iterations, budget_s, us);
  if (rank == 1) err = PongSide(s, warmups + iterations + 1);
  ProgressingBarrier(active ? s.worker : nullptr);
  err = AgreeOnError(rank, size, err);

  double figures[3] = {0, 0, 0};
  if (rank == 0 && err.empty() && !us.empty()) {
    figures[0] = Median(us);
    figures[1] = *std::min_element(us.begin(), us.end());
    figures[2] = static_cast<double>(us.size());
  }
  MPI_Bcast(figures, 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);

  // Both sides close their endpoint while the other keeps progressing.
  if (active) s.Teardown();
  ProgressingBarrier(active ? s.worker : nullptr);
  if (!err.empty()) return finish(err);
  s.Release();
  res.ok = true;
  res.median_us = figures[0];
  res.min_us = figures[1];
  res.iterations = static_cast<int>(figures[2]);
  return res;
}

}  // namespace ferry_bench
