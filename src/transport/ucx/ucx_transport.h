// UcxTransport: the UCX backend of Transport. Each transport (one per rank) owns a ucp_context
// and a single-threaded ucp_worker, and one endpoint per connected peer. Active messages carry a
// small header {type, sender, stream, seq} and are delivered in per-stream sequence order, also
// when UCX's rendezvous lets a large message finish after later small ones. Confined to the event
// loop thread (UCS_THREAD_MODE_SINGLE); include this header only from the ucx/ folder.
#pragma once

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/transport/transport.h"

namespace ferry::transport {

namespace ucx {

// RAII owners of UCX handles. The context is shared: a MemoryRegistration keeps it alive so
// that unmapping stays valid even if the registration is dropped after the transport.
struct WorkerDeleter {
  void operator()(ucp_worker_h w) const { ucp_worker_destroy(w); }
};
struct RkeyDeleter {
  void operator()(ucp_rkey_h k) const { ucp_rkey_destroy(k); }
};
struct ListenerDeleter {
  void operator()(ucp_listener_h l) const { ucp_listener_destroy(l); }
};
using ContextRef = std::shared_ptr<ucp_context>;
using WorkerPtr = std::unique_ptr<ucp_worker, WorkerDeleter>;
using RkeyPtr = std::unique_ptr<ucp_rkey, RkeyDeleter>;
using ListenerPtr = std::unique_ptr<ucp_listener, ListenerDeleter>;

// Owns one ucp_ep_h. Destruction (or ForceClose) releases it without waiting for the peer;
// a graceful close flushes it first (UcxTransport::Close does). Move-only.
class Endpoint {
 public:
  Endpoint() = default;
  explicit Endpoint(ucp_ep_h ep) : ep_(ep) {}
  Endpoint(Endpoint&& o) noexcept : ep_(o.ep_) { o.ep_ = nullptr; }
  Endpoint& operator=(Endpoint&& o) noexcept;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint();

  ucp_ep_h get() const { return ep_; }
  explicit operator bool() const { return ep_ != nullptr; }
  // Starts a forced close; outstanding operations complete with UCS_ERR_CANCELED on a later
  // worker progress. Returns the close request (the caller may wait on it and must free it)
  // or nullptr when the close finished at once. Idempotent.
  void* ForceClose();

 private:
  ucp_ep_h ep_ = nullptr;
};

}  // namespace ucx

// Confined to the event loop thread. The transport must outlive the Poller it hands out, and
// must not be destroyed from inside one of its own callbacks.
class UcxTransport final : public Transport {
 public:
  static Result<std::unique_ptr<UcxTransport>> Create(const TransportOptions& options);
  ~UcxTransport() override;
  UcxTransport(const UcxTransport&) = delete;
  UcxTransport& operator=(const UcxTransport&) = delete;

  std::string Name() const override { return "ucx"; }
  // A framed worker address: a short envelope (magic, length, checksum) around the bytes of
  // ucp_worker_get_address, so that Connect() can refuse garbage before UCX parses it.
  const std::string& Address() const override { return address_; }
  void SetHandlers(MessageHandler on_message, PeerErrorHandler on_error) override;
  // Endpoints use UCP_ERR_HANDLING_MODE_PEER, so UCX 1.13 only picks transports that detect
  // peer failure (tcp, IB): not shared memory, cma or self, even on one node; there RMA is
  // emulated over active messages, so a Get also needs the remote worker to progress.
  // Connecting a peer that is already connected replaces its endpoint (a reconnect): the old
  // endpoint is force-closed and the new one starts a fresh message stream.
  Status Connect(PeerIndex peer, const std::string& address) override;
  // A ucp_listener (UCX's tcp sockcm) on an ephemeral port. Each connection request gets a
  // receive-only server endpoint with UCP_ERR_HANDLING_MODE_PEER; when its remote closes it or
  // it fails, it is closed quietly (a debug line). At most 64 are kept: beyond, the oldest goes.
  Result<std::string> Listen(const std::string& host) override;
  // A client-server endpoint, always with UCP_ERR_HANDLING_MODE_PEER: UCX 1.13 refuses a pair
  // whose modes differ. A refused connection reaches the error handler within milliseconds; a
  // host that drops the SYN only after the kernel's SYN retries (UCX_TCP_CM_SYN_CNT). Resolves
  // `host` with getaddrinfo, which may block on DNS. A failure of ucp_ep_create itself is
  // returned at once.
  Status ConnectTo(PeerIndex peer, const std::string& host_port) override;
  // Every peer's stream restarts (new generation, sequence 0), so receivers never wait for the
  // earlier sequence numbers under the new index.
  void SetSelf(PeerIndex self) override;
  Status Send(PeerIndex peer, uint16_t type, Buffer data) override;
  // The registration keeps the UCX context alive, so it may be dropped after the transport;
  // like the transport it is confined to the loop thread (the context is single-threaded).
  // REQUIRES: [addr, addr+len) stays mapped while registered; len > 0.
  Result<std::unique_ptr<MemoryRegistration>> Register(const void* addr, size_t len) override;
  // A non-OK return (peer unknown or failed, bad rkey, closed) means `done` will not run.
  // Once the read is issued, every outcome, an immediate failure included, goes to `done`,
  // which always runs from poller().progress() (or from Close()), never inside Get().
  Status Get(PeerIndex peer, uint64_t remote_addr, const std::string& rkey, void* dst, size_t len,
             std::function<void(Status)> done) override;
  EventLoop::Poller MakePoller() override;
  // Stops listening (refusing joins not yet accepted), flushes every peer's endpoint (bounded
  // by ~2 s: a flush may need the peer to progress), then force-closes them and every accepted
  // endpoint, and drops cached rkeys. Runs the `done` of every accepted Get that has
  // not been answered yet (Cancelled if the read did not finish) before returning. After Close
  // no message is delivered. Idempotent.
  void Disconnect(PeerIndex peer, const Status& why) override;
  void Close() override;

 private:
  struct Op;
  struct SendOp;
  struct GetOp;
  struct RecvOp;
  struct Peer;
  struct AmHeader;

  // A server endpoint made for a connection request. The transport never sends on it.
  struct Accepted {
    ucx::Endpoint ep;
    bool failed = false;  // set inside UCX's error callback; closed after progress
  };

  // One message of a sender's stream, waiting for its turn (or for its rendezvous data).
  struct Slot {
    uint16_t type = 0;
    Buffer data;
    bool ready = false;    // bytes are there (or the message is given up: `dropped`)
    bool dropped = false;  // could not be received; skipped so the stream goes on
  };
  // Receive side of one stream (one Connect() of one sender): delivers seq next, next+1, ...
  // and nothing else.
  struct RecvStream {
    uint64_t next = 0;
    std::map<uint64_t, Slot> pending;  // arrived out of order or awaiting rendezvous data
  };
  // The streams of one sender index, all from its current incarnation (process lifetime).
  struct SenderStreams {
    uint64_t incarnation = 0;
    std::unordered_map<uint32_t, RecvStream> by_generation;
  };
  // Work for users, queued inside UCX callbacks and run after ucp_worker_progress returns.
  struct Event {
    enum class Kind { kMessage, kGetDone, kPeerError } kind;
    PeerIndex peer = 0;
    uint16_t type = 0;
    Buffer data;
    Status status;
    std::function<void(Status)> done;
  };

  UcxTransport(PeerIndex self, ucx::ContextRef context, ucx::WorkerPtr worker, std::string address,
               int efd);

  // UCX callbacks (may run inside ucp_worker_progress): they only record, never call users.
  static ucs_status_t OnAmRecv(void* arg, const void* header, size_t header_length, void* data,
                               size_t length, const ucp_am_recv_param_t* param);
  static void OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);
  static void OnConnRequest(ucp_conn_request_h request, void* arg);
  static void OnSendDone(void* request, ucs_status_t status, void* user_data);
  static void OnGetDone(void* request, ucs_status_t status, void* user_data);
  static void OnRecvDone(void* request, ucs_status_t status, size_t length, void* user_data);

  ucs_status_t HandleAm(const AmHeader& h, void* data, size_t length, bool rndv);
  RecvStream* StreamFor(const AmHeader& h);  // never null
  void FinishRecv(PeerIndex from, uint64_t incarnation, uint32_t generation, uint64_t seq, bool ok);
  void DrainStream(PeerIndex from, RecvStream& s);
  void FailPeer(ucp_ep_h ep, ucs_status_t status);
  // Replaces `peer`'s endpoint with a new one made from `ep` (plus our error handler).
  Status InstallEndpoint(PeerIndex peer, ucp_ep_params_t ep);
  // Creates server endpoints for queued connection requests and closes failed ones.
  // Outside ucp_worker_progress only.
  bool ServiceAccepted();

  Op* Track(std::unique_ptr<Op> op);
  void Untrack(Op* op);

  bool Progress();
  unsigned ProgressWorker(unsigned max_rounds);
  bool DeliverEvents(size_t budget);
  bool Arm();
  // Progresses until `done()` or `deadline`; returns done().
  bool ProgressUntil(const std::function<bool()>& done,
                     std::chrono::steady_clock::time_point deadline);
  void CancelOutstandingGets();

  // Immutable after construction.
  bool peer_error_handling_ = false;  // set once in Create()
  const uint64_t incarnation_;        // random per transport: lets receivers tell restarts apart
  const ucx::ContextRef context_;
  ucx::WorkerPtr worker_;  // reset in the destructor, before context_ goes
  const std::string address_;
  const int efd_;  // owned by the worker

  // Confined to the loop thread.
  PeerIndex self_;
  MessageHandler on_message_;
  PeerErrorHandler on_error_;
  std::unordered_map<PeerIndex, std::unique_ptr<Peer>> peers_;
  std::unordered_map<PeerIndex, SenderStreams> streams_;  // by sender index
  std::deque<Event> ready_;  // produced inside UCX callbacks, consumed after progress
  std::unordered_map<Op*, std::unique_ptr<Op>> ops_;  // requests UCX still holds
  uint32_t next_generation_ = 1;
  ucx::ListenerPtr listener_;                      // destroyed in Close(), before the worker
  std::vector<ucp_conn_request_h> conn_requests_;  // from OnConnRequest, not yet accepted
  std::deque<Accepted> accepted_;                  // oldest first
  bool accepted_failed_ = false;                   // some entry of accepted_ is failed
  bool closed_ = false;
};

}  // namespace ferry::transport
