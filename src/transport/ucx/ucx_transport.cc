#include "src/transport/ucx/ucx_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "src/common/logging.h"
#include "src/transport/ucx/ucx_factory.h"

namespace ferry::transport {

namespace {

using Clock = std::chrono::steady_clock;

// The one AM id ferry uses; the message type travels in our own header.
constexpr unsigned kAmId = 7;
constexpr uint32_t kAmMagic = 0x31595246;  // "FRY1" little-endian
constexpr uint16_t kAmVersion = 1;

// Envelopes around the worker address and packed rkeys: UCX parses both without a length and
// without bounds checks, so garbage must be refused before it reaches UCX.
constexpr uint32_t kAddressMagic = 0x58435546;  // "FUCX"
constexpr uint32_t kRkeyMagic = 0x594b5246;     // "FRKY"
constexpr size_t kEnvelopeBytes = 4 + 4 + 8;    // magic, length, checksum

// A rendezvous message longer than this is refused (the runtime sends at most a few MiB).
constexpr size_t kMaxMessageBytes = size_t{4} << 30;
// How far ahead of the next expected sequence number a message may arrive.
constexpr uint64_t kMaxReorderWindow = uint64_t{1} << 20;
// Streams kept per sender: its live connection plus a few replaced ones.
constexpr size_t kMaxStreamsPerSender = 8;
// ucp_worker_progress rounds per poller progress() call, and events delivered per call.
constexpr unsigned kProgressRounds = 256;
constexpr size_t kDeliverBudget = 4096;
constexpr auto kFlushDeadline = std::chrono::seconds(2);
constexpr auto kForceCloseDeadline = std::chrono::milliseconds(500);
// Accepted (join) endpoints kept at once: a flood of connections closes the oldest instead of
// exhausting memory. A join needs its endpoint only until its first exchange is done.
constexpr size_t kMaxAccepted = 64;

// The one place UCX status codes become ferry Status. Backpressure (UCS_INPROGRESS,
// UCS_ERR_NO_RESOURCE: UCX queued the work) is not failure.
Status FromUcs(ucs_status_t s, std::string_view what) {
  if (s == UCS_OK || s == UCS_INPROGRESS || s == UCS_ERR_NO_RESOURCE) return Status::Ok();
  std::string m = "ucx: " + std::string(what) + ": " + ucs_status_string(s);
  switch (s) {
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
    case UCS_ERR_OUT_OF_RANGE:
    case UCS_ERR_BUFFER_TOO_SMALL:
      return InvalidArgumentError(std::move(m));
    case UCS_ERR_NO_ELEM:
      return NotFoundError(std::move(m));
    case UCS_ERR_ALREADY_EXISTS:
      return AlreadyExistsError(std::move(m));
    case UCS_ERR_NO_MEMORY:
    case UCS_ERR_EXCEEDS_LIMIT:
      return ResourceExhaustedError(std::move(m));
    case UCS_ERR_CANCELED:
      return CancelledError(std::move(m));
    case UCS_ERR_TIMED_OUT:
      return DeadlineExceededError(std::move(m));
    case UCS_ERR_MESSAGE_TRUNCATED:
      return DataLossError(std::move(m));
    case UCS_ERR_UNSUPPORTED:
    case UCS_ERR_NOT_IMPLEMENTED:
      return FailedPreconditionError(std::move(m));
    case UCS_ERR_NO_MESSAGE:
    case UCS_ERR_IO_ERROR:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_NO_PROGRESS:
    case UCS_ERR_SOME_CONNECTS_FAILED:
    case UCS_ERR_NO_DEVICE:
    case UCS_ERR_BUSY:
    case UCS_ERR_SHMEM_SEGMENT:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_CONNECTION_RESET:
      return UnavailableError(std::move(m));
    default:
      if (s <= UCS_ERR_FIRST_LINK_FAILURE && s >= UCS_ERR_LAST_ENDPOINT_FAILURE)
        return UnavailableError(std::move(m));
      return InternalError(std::move(m));
  }
}

// For a status the caller already knows is a failure: never Ok, even for a backpressure code
// where none can be (a constructor that gets UCS_ERR_NO_RESOURCE did fail).
Status UcsError(ucs_status_t s, std::string_view what) {
  Status st = FromUcs(s, what);
  if (st.ok()) {
    st = UnavailableError("ucx: " + std::string(what) + ": " + ucs_status_string(s));
  }
  return st;
}

// For the status of a completed operation.
Status CompletionStatus(ucs_status_t s, std::string_view what) {
  return s == UCS_OK ? Status::Ok() : UcsError(s, what);
}

std::string PeerName(PeerIndex peer) { return "peer " + std::to_string(peer); }

uint64_t Fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

std::string Frame(uint32_t magic, const void* bytes, size_t n) {
  std::string out(kEnvelopeBytes + n, '\0');
  const uint32_t len = static_cast<uint32_t>(n);
  const uint64_t sum = Fnv1a(static_cast<const char*>(bytes), n);
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &len, 4);
  std::memcpy(out.data() + 8, &sum, 8);
  if (n != 0) std::memcpy(out.data() + kEnvelopeBytes, bytes, n);
  return out;
}

// Returns the framed bytes as a fresh (suitably aligned) string, or InvalidArgument.
Result<std::string> Unframe(uint32_t magic, const std::string& framed, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("ucx: not a valid " + std::string(what) + " (" +
                                std::to_string(framed.size()) + " bytes): " + std::string(why));
  };
  if (framed.size() <= kEnvelopeBytes) return bad("too short");
  uint32_t m, len;
  uint64_t sum;
  std::memcpy(&m, framed.data(), 4);
  std::memcpy(&len, framed.data() + 4, 4);
  std::memcpy(&sum, framed.data() + 8, 8);
  if (m != magic) return bad("wrong magic");
  if (len != framed.size() - kEnvelopeBytes) return bad("length mismatch");
  std::string payload = framed.substr(kEnvelopeBytes);
  if (Fnv1a(payload.data(), payload.size()) != sum) return bad("checksum mismatch");
  return payload;
}

// ---- host:port

struct HostPort {
  std::string host;
  std::string port;  // decimal, 1..65535
};

// Splits "host:port" or "[v6 address]:port"; refuses anything else.
Result<HostPort> SplitHostPort(const std::string& s) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("ucx: '" + s + "' is not host:port: " + std::string(why));
  };
  HostPort hp;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return bad("expected [address]:port");
    hp.host = s.substr(1, close - 1);
    hp.port = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    hp.host = s.substr(0, colon);
    hp.port = s.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) return bad("an IPv6 address needs [brackets]");
  }
  if (hp.host.empty()) return bad("no host");
  if (hp.port.empty() || hp.port.size() > 5 ||
      !std::all_of(hp.port.begin(), hp.port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad("the port is not a number");
  const int port = std::stoi(hp.port);
  if (port < 1 || port > 65535) return bad("the port is not in 1..65535");
  return hp;
}

std::string JoinHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

// Resolves `host` for TCP. IPv4 first, as UCX's tcp transport prefers it: a listener on all
// interfaces is an IPv4 one, and a name that also has an IPv6 address must still reach it.
Result<SockAddr> Resolve(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    return InvalidArgumentError("ucx: cannot resolve host '" + host + "': " + gai_strerror(rc));
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
    if (a->ai_family == AF_INET6 && pick == nullptr) pick = a;
  }
  SockAddr out;
  if (pick != nullptr && pick->ai_addrlen <= sizeof(out.storage)) {
    std::memcpy(&out.storage, pick->ai_addr, pick->ai_addrlen);
    out.len = pick->ai_addrlen;
  }
  freeaddrinfo(list);
  if (out.len == 0) return InvalidArgumentError("ucx: host '" + host + "' has no IP address");
  return out;
}

uint16_t PortOf(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

std::string NumericHost(const sockaddr_storage& ss) {
  char buf[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&ss), sizeof(ss), buf, sizeof(buf), nullptr, 0,
                  NI_NUMERICHOST) != 0)
    return "?";
  return buf;
}

Result<std::string> LocalHostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
    return UnavailableError(std::string("ucx: gethostname: ") + std::strerror(errno));
  }
  return std::string(name);
}

uint64_t RandomIncarnation() {
  uint64_t v = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  try {
    std::random_device rd;
    v ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // Time alone still tells restarts apart.
  }
  return v;
}

class UcxRegistration final : public MemoryRegistration {
 public:
  UcxRegistration(ucx::ContextRef context, ucp_mem_h memh, std::string rkey, uint64_t addr,
                  size_t len)
      : context_(std::move(context)), memh_(memh), rkey_(std::move(rkey)), addr_(addr), len_(len) {}
  ~UcxRegistration() override {
    ucs_status_t st = ucp_mem_unmap(context_.get(), memh_);
    if (st != UCS_OK) {
      FERRY_LOG(WARNING) << FromUcs(st, "ucp_mem_unmap").ToString();
    }
  }
  UcxRegistration(const UcxRegistration&) = delete;
  UcxRegistration& operator=(const UcxRegistration&) = delete;

  const std::string& rkey() const override { return rkey_; }
  uint64_t address() const override { return addr_; }
  size_t size() const override { return len_; }

 private:
  const ucx::ContextRef context_;
  const ucp_mem_h memh_;
  const std::string rkey_;  // framed ucp_rkey_pack output
  const uint64_t addr_;
  const size_t len_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Endpoint

namespace ucx {

Endpoint& Endpoint::operator=(Endpoint&& o) noexcept {
  if (this != &o) {
    if (void* r = ForceClose()) ucp_request_free(r);
    ep_ = o.ep_;
    o.ep_ = nullptr;
  }
  return *this;
}

Endpoint::~Endpoint() {
  if (void* r = ForceClose()) ucp_request_free(r);  // completes inside UCX later
}

void* Endpoint::ForceClose() {
  if (ep_ == nullptr) return nullptr;
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  prm.flags = UCP_EP_CLOSE_FLAG_FORCE;
  void* r = ucp_ep_close_nbx(ep_, &prm);
  ep_ = nullptr;
  if (UCS_PTR_IS_ERR(r)) {
    FERRY_LOG(DEBUG) << FromUcs(UCS_PTR_STATUS(r), "ucp_ep_close_nbx(force)").ToString();
    return nullptr;
  }
  return r;
}

}  // namespace ucx

// ---------------------------------------------------------------------------------------------
// Private types

// The AM header. Host byte order: every rank runs the same binary on the same architecture.
struct UcxTransport::AmHeader {
  uint32_t magic;
  uint16_t type;
  uint16_t version;
  uint32_t sender;      // the sender's PeerIndex
  uint32_t generation;  // which Connect() of the sender this stream belongs to
  uint64_t incarnation;
  uint64_t seq;  // per (sender, stream), from 0
};

// A request UCX holds. user_data points at it; the completion callback untracks it.
struct UcxTransport::Op {
  explicit Op(UcxTransport* transport) : t(transport) {}
  virtual ~Op() = default;
  UcxTransport* const t;
};

struct UcxTransport::SendOp final : Op {
  using Op::Op;
  AmHeader hdr{};  // UCX 1.13 reads the header until completion (no COPY_HEADER flag)
  Buffer data;
  PeerIndex peer = 0;
};

struct UcxTransport::GetOp final : Op {
  using Op::Op;
  PeerIndex peer = 0;
  std::function<void(Status)> done;  // null once it ran (or was handed to an event)
};

struct UcxTransport::RecvOp final : Op {
  using Op::Op;
  PeerIndex from = 0;
  uint64_t incarnation = 0;
  uint32_t generation = 0;
  uint64_t seq = 0;
  Buffer data;  // also held by the slot; kept here so UCX never writes into freed memory
};

struct UcxTransport::Peer {
  // Destroyed bottom-up: rkeys before the endpoint they were unpacked for.
  ucx::Endpoint ep;
  uint32_t generation = 0;
  uint64_t next_seq = 0;
  bool failed = false;
  Status failure;
  // Unpacked rkeys by framed key bytes. Grows by one per remote registration used; ranks
  // register one arena, so it stays tiny.
  std::unordered_map<std::string, ucx::RkeyPtr> rkeys;
};

// ---------------------------------------------------------------------------------------------
// Creation and teardown

Result<std::unique_ptr<UcxTransport>> UcxTransport::Create(const TransportOptions& options) {
  static_assert(sizeof(AmHeader) == 32, "AM header layout changed");
  ucp_config_t* config = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) return UcsError(st, "ucp_config_read");
  ucp_params_t params{};
  params.field_mask =
      UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  params.name = "ferry";
  ucp_context_h ctx = nullptr;
  st = ucp_init(&params, config, &ctx);
  ucp_config_release(config);
  if (st != UCS_OK) return UcsError(st, "ucp_init");
  ucx::ContextRef context(ctx, [](ucp_context_h c) { ucp_cleanup(c); });

  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SINGLE;
  ucp_worker_h w = nullptr;
  st = ucp_worker_create(ctx, &wp, &w);
  if (st != UCS_OK) return UcsError(st, "ucp_worker_create");
  ucx::WorkerPtr worker(w);

  ucp_worker_attr_t attr{};
  attr.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER;
  st = ucp_worker_query(w, &attr);
  if (st != UCS_OK) return UcsError(st, "ucp_worker_query");
  if (attr.max_am_header < sizeof(AmHeader)) {
    return FailedPreconditionError("ucx: worker allows AM headers of " +
                                   std::to_string(attr.max_am_header) + " bytes, ferry needs " +
                                   std::to_string(sizeof(AmHeader)));
  }

  ucp_address_t* raw_addr = nullptr;
  size_t raw_len = 0;
  st = ucp_worker_get_address(w, &raw_addr, &raw_len);
  if (st != UCS_OK) return UcsError(st, "ucp_worker_get_address");
  std::string address = Frame(kAddressMagic, raw_addr, raw_len);
  ucp_worker_release_address(w, raw_addr);

  int efd = -1;
  st = ucp_worker_get_efd(w, &efd);
  if (st != UCS_OK) return UcsError(st, "ucp_worker_get_efd");

  std::unique_ptr<UcxTransport> t(new UcxTransport(options.self, std::move(context),
                                                   std::move(worker), std::move(address), efd));
  t->peer_error_handling_ = options.peer_error_handling;
  ucp_am_handler_param_t hp{};
  hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                  UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
  hp.id = kAmId;
  hp.flags = UCP_AM_FLAG_WHOLE_MSG;
  hp.cb = &UcxTransport::OnAmRecv;
  hp.arg = t.get();
  st = ucp_worker_set_am_recv_handler(t->worker_.get(), &hp);
  if (st != UCS_OK) return UcsError(st, "ucp_worker_set_am_recv_handler");
  return t;
}

UcxTransport::UcxTransport(PeerIndex self, ucx::ContextRef context, ucx::WorkerPtr worker,
                           std::string address, int efd)
    : incarnation_(RandomIncarnation()),
      context_(std::move(context)),
      worker_(std::move(worker)),
      address_(std::move(address)),
      efd_(efd),
      self_(self) {}

UcxTransport::~UcxTransport() {
  Close();
  ready_.clear();
  // Destroying the worker may still complete requests; their callbacks find ops_ intact.
  worker_.reset();
  ops_.clear();  // whatever UCX never completed
}

void UcxTransport::SetHandlers(MessageHandler on_message, PeerErrorHandler on_error) {
  on_message_ = std::move(on_message);
  on_error_ = std::move(on_error);
}

// ---------------------------------------------------------------------------------------------
// Connect / Send / Register / Get

Status UcxTransport::Connect(PeerIndex peer, const std::string& address) {
  if (closed_) return UnavailableError("ucx: transport closed; cannot connect " + PeerName(peer));
  FERRY_ASSIGN_OR_RETURN(std::string raw, Unframe(kAddressMagic, address, "ucx worker address"));
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
  ep.address = reinterpret_cast<const ucp_address_t*>(raw.data());
  ep.err_mode = peer_error_handling_ ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  return InstallEndpoint(peer, ep);
}

Status UcxTransport::ConnectTo(PeerIndex peer, const std::string& host_port) {
  if (closed_) return UnavailableError("ucx: transport closed; cannot connect " + PeerName(peer));
  FERRY_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(host_port));
  FERRY_ASSIGN_OR_RETURN(SockAddr addr, Resolve(hp.host, hp.port));
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
  ep.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  ep.sockaddr.addr = reinterpret_cast<const sockaddr*>(&addr.storage);
  ep.sockaddr.addrlen = addr.len;
  // UCX 1.13 refuses a client-server pair whose error modes differ; accepted endpoints use PEER.
  ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  FERRY_RETURN_IF_ERROR(InstallEndpoint(peer, ep));
  FERRY_LOG(INFO) << "ucx: connecting " << PeerName(peer) << " through " << host_port;
  return Status::Ok();
}

Status UcxTransport::InstallEndpoint(PeerIndex peer, ucp_ep_params_t ep) {
  ep.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
  ep.err_handler.cb = &UcxTransport::OnEndpointError;
  ep.err_handler.arg = this;
  ucp_ep_h h = nullptr;
  ucs_status_t st = ucp_ep_create(worker_.get(), &ep, &h);
  if (st != UCS_OK) return UcsError(st, "ucp_ep_create for " + PeerName(peer));
  auto p = std::make_unique<Peer>();
  p->ep = ucx::Endpoint(h);
  p->generation = next_generation_++;
  std::unique_ptr<Peer>& slot = peers_[peer];
  if (slot) {
    FERRY_LOG(INFO) << "ucx: reconnecting " << PeerName(peer) << "; the old endpoint is closed";
  }
  slot = std::move(p);  // the old Peer, if any, force-closes its endpoint
  return Status::Ok();
}

void UcxTransport::SetSelf(PeerIndex self) {
  if (self == self_) return;
  self_ = self;
  for (auto& [index, p] : peers_) {
    p->generation = next_generation_++;
    p->next_seq = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Listening for joins

Result<std::string> UcxTransport::Listen(const std::string& host) {
  if (closed_) return UnavailableError("ucx: transport closed; cannot listen");
  if (listener_) return FailedPreconditionError("ucx: already listening");
  SockAddr addr;
  std::string name = host;
  if (host.empty()) {
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    std::memcpy(&addr.storage, &any, sizeof(any));
    addr.len = sizeof(any);
    FERRY_ASSIGN_OR_RETURN(name, LocalHostName());
  } else {
    FERRY_ASSIGN_OR_RETURN(addr, Resolve(host, "0"));
  }
  ucp_listener_params_t lp{};
  lp.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
  lp.sockaddr.addr = reinterpret_cast<const sockaddr*>(&addr.storage);
  lp.sockaddr.addrlen = addr.len;
  lp.conn_handler.cb = &UcxTransport::OnConnRequest;
  lp.conn_handler.arg = this;
  ucp_listener_h l = nullptr;
  ucs_status_t st = ucp_listener_create(worker_.get(), &lp, &l);
  if (st != UCS_OK) {
    return UcsError(st, "listening on " + (host.empty() ? std::string("all interfaces") : host));
  }
  ucx::ListenerPtr listener(l);
  ucp_listener_attr_t attr{};
  attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
  st = ucp_listener_query(l, &attr);
  if (st != UCS_OK) return UcsError(st, "ucp_listener_query");
  listener_ = std::move(listener);
  std::string out = JoinHostPort(name, PortOf(attr.sockaddr));
  FERRY_LOG(INFO) << "ucx: listening for joins at " << out;
  return out;
}

void UcxTransport::OnConnRequest(ucp_conn_request_h request, void* arg) {
  // Runs inside ucp_worker_progress; the endpoint is made after it (ServiceAccepted).
  static_cast<UcxTransport*>(arg)->conn_requests_.push_back(request);
}

bool UcxTransport::ServiceAccepted() {
  bool did = false;
  if (accepted_failed_) {
    accepted_failed_ = false;
    std::erase_if(accepted_, [](const Accepted& a) { return a.failed; });  // closes them
    did = true;
  }
  std::vector<ucp_conn_request_h> requests;
  requests.swap(conn_requests_);
  for (ucp_conn_request_h r : requests) {
    did = true;
    ucp_conn_request_attr_t ra{};
    ra.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
    const std::string from =
        ucp_conn_request_query(r, &ra) == UCS_OK
            ? JoinHostPort(NumericHost(ra.client_address), PortOf(ra.client_address))
            : std::string("?");
    ucp_ep_params_t ep{};
    ep.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                    UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.conn_request = r;
    // PEER: the remote closing it reaches OnEndpointError, so it is closed here too. A client
    // must use PEER as well (UCX 1.13 refuses mismatched modes): ConnectTo does.
    ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep.err_handler.cb = &UcxTransport::OnEndpointError;
    ep.err_handler.arg = this;
    ucp_ep_h h = nullptr;
    ucs_status_t st = ucp_ep_create(worker_.get(), &ep, &h);
    if (st != UCS_OK) {
      FERRY_LOG_RATE_LIMITED(WARNING)
          << UcsError(st, "accepting a connection from " + from).ToString();
      continue;
    }
    if (accepted_.size() >= kMaxAccepted) {
      FERRY_LOG_RATE_LIMITED(WARNING)
          << "ucx: " << kMaxAccepted << " accepted connections open; closing the oldest";
      accepted_.pop_front();
    }
    accepted_.push_back(Accepted{ucx::Endpoint(h)});
    FERRY_LOG(DEBUG) << "ucx: accepted a connection from " << from;
  }
  return did;
}

Status UcxTransport::Send(PeerIndex peer, uint16_t type, Buffer data) {
  if (closed_) return UnavailableError("ucx: transport closed; cannot send to " + PeerName(peer));
  auto it = peers_.find(peer);
  if (it == peers_.end()) return NotFoundError("ucx: " + PeerName(peer) + " is not connected");
  Peer& p = *it->second;
  if (p.failed)
    return UnavailableError("ucx: " + PeerName(peer) + " failed: " + p.failure.message());

  auto owned = std::make_unique<SendOp>(this);
  SendOp* op = owned.get();
  op->hdr = AmHeader{kAmMagic, type, kAmVersion, self_, p.generation, incarnation_, p.next_seq};
  op->data = std::move(data);
  op->peer = peer;
  Track(std::move(owned));  // before the call: UCX may hold the header and bytes after it

  ucp_request_param_t prm{};
  prm.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  prm.cb.send = &UcxTransport::OnSendDone;
  prm.user_data = op;
  prm.memory_type = UCS_MEMORY_TYPE_HOST;
  ucs_status_ptr_t r = ucp_am_send_nbx(p.ep.get(), kAmId, &op->hdr, sizeof(AmHeader),
                                       op->data.data(), op->data.size(), &prm);
  if (UCS_PTR_IS_ERR(r)) {
    Untrack(op);  // nothing left: the sequence number is not used, so the stream has no gap
    return UcsError(UCS_PTR_STATUS(r), "send to " + PeerName(peer));
  }
  ++p.next_seq;
  if (r == nullptr) Untrack(op);  // sent at once; otherwise OnSendDone untracks it
  return Status::Ok();
}

Result<std::unique_ptr<MemoryRegistration>> UcxTransport::Register(const void* addr, size_t len) {
  if (addr == nullptr || len == 0)
    return InvalidArgumentError("ucx: Register needs a non-empty range");
  ucp_mem_map_params_t mp{};
  mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  mp.address = const_cast<void*>(addr);
  mp.length = len;
  ucp_mem_h memh = nullptr;
  ucs_status_t st = ucp_mem_map(context_.get(), &mp, &memh);
  if (st != UCS_OK || memh == nullptr) {
    if (st == UCS_OK) return InternalError("ucx: ucp_mem_map returned no handle");
    return UcsError(st, "ucp_mem_map of " + std::to_string(len) + " bytes");
  }
  void* packed = nullptr;
  size_t packed_len = 0;
  st = ucp_rkey_pack(context_.get(), memh, &packed, &packed_len);
  if (st != UCS_OK) {
    ucs_status_t un = ucp_mem_unmap(context_.get(), memh);
    (void)un;
    return UcsError(st, "ucp_rkey_pack");
  }
  std::string rkey = Frame(kRkeyMagic, packed, packed_len);
  ucp_rkey_buffer_release(packed);
  return std::unique_ptr<MemoryRegistration>(
      new UcxRegistration(context_, memh, std::move(rkey), reinterpret_cast<uint64_t>(addr), len));
}

Status UcxTransport::Get(PeerIndex peer, uint64_t remote_addr, const std::string& rkey, void* dst,
                         size_t len, std::function<void(Status)> done) {
  if (closed_) return UnavailableError("ucx: transport closed; cannot read from " + PeerName(peer));
  auto it = peers_.find(peer);
  if (it == peers_.end()) return NotFoundError("ucx: " + PeerName(peer) + " is not connected");
  Peer& p = *it->second;
  if (p.failed)
    return UnavailableError("ucx: " + PeerName(peer) + " failed: " + p.failure.message());
  if (len != 0 && dst == nullptr) return InvalidArgumentError("ucx: Get into a null buffer");

  auto rk = p.rkeys.find(rkey);
  if (rk == p.rkeys.end()) {
    FERRY_ASSIGN_OR_RETURN(std::string packed, Unframe(kRkeyMagic, rkey, "ucx remote key"));
    ucp_rkey_h h = nullptr;
    ucs_status_t st = ucp_ep_rkey_unpack(p.ep.get(), packed.data(), &h);
    if (st != UCS_OK) return UcsError(st, "unpacking the remote key of " + PeerName(peer));
    rk = p.rkeys.emplace(rkey, ucx::RkeyPtr(h)).first;
  }

  auto owned = std::make_unique<GetOp>(this);
  GetOp* op = owned.get();
  op->peer = peer;
  op->done = std::move(done);
  Track(std::move(owned));
  ucp_request_param_t prm{};
  prm.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  prm.cb.send = &UcxTransport::OnGetDone;
  prm.user_data = op;
  prm.memory_type = UCS_MEMORY_TYPE_HOST;
  ucs_status_ptr_t r = ucp_get_nbx(p.ep.get(), dst, len, remote_addr, rk->second.get(), &prm);
  if (r == nullptr || UCS_PTR_IS_ERR(r)) {
    // Finished (or failed) at once: `done` still runs from progress, not under the caller.
    Status s = UCS_PTR_IS_ERR(r) ? UcsError(UCS_PTR_STATUS(r), "read from " + PeerName(peer))
                                 : Status::Ok();
    ready_.push_back(
        Event{Event::Kind::kGetDone, peer, 0, Buffer(), std::move(s), std::move(op->done)});
    Untrack(op);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// UCX callbacks

ucs_status_t UcxTransport::OnAmRecv(void* arg, const void* header, size_t header_length, void* data,
                                    size_t length, const ucp_am_recv_param_t* param) {
  auto* t = static_cast<UcxTransport*>(arg);
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  if (header == nullptr || header_length != sizeof(AmHeader)) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "ucx: dropping a message with a malformed header ("
                                  << header_length << " bytes)";
    return UCS_OK;
  }
  AmHeader h;
  std::memcpy(&h, header, sizeof(h));  // the header may be unaligned
  if (h.magic != kAmMagic || h.version != kAmVersion) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "ucx: dropping a message with an unknown header (magic "
                                  << h.magic << ", version " << h.version << ")";
    return UCS_OK;
  }
  return t->HandleAm(h, data, length, rndv);
}

ucs_status_t UcxTransport::HandleAm(const AmHeader& h, void* data, size_t length, bool rndv) {
  if (closed_) return UCS_OK;
  RecvStream* s = StreamFor(h);
  if (h.seq < s->next || s->pending.count(h.seq) != 0) {
    FERRY_LOG(WARNING) << "ucx: dropping duplicate message " << h.seq << " from "
                       << PeerName(h.sender);
    return UCS_OK;
  }
  if (h.seq - s->next > kMaxReorderWindow) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "ucx: dropping message " << h.seq << " from "
                                  << PeerName(h.sender) << ": too far ahead of " << s->next;
    return UCS_OK;
  }
  if (!rndv) {
    Buffer copy = Buffer::CopyOf(data, length);
    if (h.seq == s->next && s->pending.empty()) {  // the common case: in order, nothing waits
      ready_.push_back(Event{Event::Kind::kMessage, h.sender, h.type, std::move(copy), {}, {}});
      ++s->next;
      return UCS_OK;
    }
    Slot& slot = s->pending[h.seq];
    slot.type = h.type;
    slot.data = std::move(copy);
    slot.ready = true;
    DrainStream(h.sender, *s);
    return UCS_OK;
  }

  // Rendezvous: only the header is here; fetch the bytes into a fresh buffer. The slot keeps
  // the message's place in the stream until the data arrives.
  Slot& slot = s->pending[h.seq];
  slot.type = h.type;
  Buffer buf;
  ucs_status_t refuse = UCS_OK;
  if (length > kMaxMessageBytes) {
    refuse = UCS_ERR_EXCEEDS_LIMIT;
  } else {
    try {
      buf = Buffer::Allocate(length);
    } catch (const std::bad_alloc&) {
      refuse = UCS_ERR_NO_MEMORY;
    }
  }
  if (refuse != UCS_OK) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "ucx: refusing a " << length << "-byte message from "
                                  << PeerName(h.sender) << ": " << ucs_status_string(refuse);
    slot.ready = slot.dropped = true;
    DrainStream(h.sender, *s);
    return refuse;  // UCX drops the data and fails the sender's request with this status
  }
  slot.data = buf;
  auto owned = std::make_unique<RecvOp>(this);
  RecvOp* op = owned.get();
  op->from = h.sender;
  op->incarnation = h.incarnation;
  op->generation = h.generation;
  op->seq = h.seq;
  op->data = buf;
  Track(std::move(owned));
  ucp_request_param_t prm{};
  prm.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  prm.cb.recv_am = &UcxTransport::OnRecvDone;
  prm.user_data = op;
  prm.memory_type = UCS_MEMORY_TYPE_HOST;
  // Allowed inside the AM callback: UCX notices that the receive was started here.
  ucs_status_ptr_t r = ucp_am_recv_data_nbx(worker_.get(), data, buf.mutable_data(), length, &prm);
  if (r == nullptr || UCS_PTR_IS_ERR(r)) {
    if (UCS_PTR_IS_ERR(r)) {
      FERRY_LOG(ERROR) << "ucx: receiving a " << length << "-byte message from "
                       << PeerName(h.sender) << " failed: " << ucs_status_string(UCS_PTR_STATUS(r));
    }
    Untrack(op);
    FinishRecv(h.sender, h.incarnation, h.generation, h.seq, !UCS_PTR_IS_ERR(r));
  }
  return UCS_OK;
}

void UcxTransport::OnRecvDone(void* request, ucs_status_t status, size_t length, void* user_data) {
  auto* op = static_cast<RecvOp*>(user_data);
  ucp_request_free(request);
  bool ok = status == UCS_OK && length == op->data.size();
  if (!ok) {
    FERRY_LOG(ERROR) << "ucx: receiving message " << op->seq << " from " << PeerName(op->from)
                     << " failed: " << ucs_status_string(status) << " (" << length << " of "
                     << op->data.size() << " bytes)";
  }
  UcxTransport* t = op->t;
  t->FinishRecv(op->from, op->incarnation, op->generation, op->seq, ok);
  t->Untrack(op);
}

void UcxTransport::OnSendDone(void* request, ucs_status_t status, void* user_data) {
  auto* op = static_cast<SendOp*>(user_data);
  ucp_request_free(request);
  if (status != UCS_OK) {
    // A failing endpoint reports itself once through the error handler; this is per message.
    FERRY_LOG(DEBUG) << "ucx: send to " << PeerName(op->peer)
                     << " failed: " << ucs_status_string(status);
  }
  op->t->Untrack(op);
}

void UcxTransport::OnGetDone(void* request, ucs_status_t status, void* user_data) {
  auto* op = static_cast<GetOp*>(user_data);
  ucp_request_free(request);
  UcxTransport* t = op->t;
  if (op->done) {
    Status s = CompletionStatus(status, "read from " + PeerName(op->peer));
    t->ready_.push_back(
        Event{Event::Kind::kGetDone, op->peer, 0, Buffer(), std::move(s), std::move(op->done)});
  }
  t->Untrack(op);
}

void UcxTransport::OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status) {
  static_cast<UcxTransport*>(arg)->FailPeer(ep, status);
}

void UcxTransport::FailPeer(ucp_ep_h ep, ucs_status_t status) {
  for (auto& [index, p] : peers_) {
    if (p->ep.get() != ep) continue;
    if (p->failed) return;  // report once
    Status why = UcsError(status, "endpoint to " + PeerName(index) + " failed");
    // While closing, peers going away first is expected; otherwise the runtime decides how
    // loud a lost peer is.
    FERRY_LOG(INFO) << why.ToString();
    p->failed = true;
    p->failure = why;
    // Closing the endpoint waits until we are out of UCX's progress (DeliverEvents).
    ready_.push_back(Event{Event::Kind::kPeerError, index, 0, Buffer(), std::move(why), {}});
    return;
  }
  for (Accepted& a : accepted_) {
    if (a.ep.get() != ep) continue;
    // Expected once a joiner has reconnected by address: it belongs to no peer, so it is quiet.
    if (!a.failed) {
      FERRY_LOG(DEBUG) << "ucx: an accepted connection closed: " << ucs_status_string(status);
    }
    a.failed = true;
    accepted_failed_ = true;
    return;
  }
  // An endpoint we no longer track (closed or replaced): nothing to report.
}

// ---------------------------------------------------------------------------------------------
// Ordering

UcxTransport::RecvStream* UcxTransport::StreamFor(const AmHeader& h) {
  auto [it, inserted] = streams_.try_emplace(h.sender);
  SenderStreams& ss = it->second;
  if (inserted) {
    ss.incarnation = h.incarnation;
  } else if (ss.incarnation != h.incarnation) {
    // The sender restarted: its previous process will send nothing more.
    FERRY_LOG(INFO) << "ucx: " << PeerName(h.sender) << " restarted; dropping what its previous "
                    << "incarnation left undelivered";
    ss.by_generation.clear();
    ss.incarnation = h.incarnation;
  }
  auto [sit, fresh] = ss.by_generation.try_emplace(h.generation);
  if (fresh && ss.by_generation.size() > kMaxStreamsPerSender) {
    // Streams of replaced connections linger (a message may still be in flight on them);
    // beyond a few, the oldest goes.
    auto oldest = ss.by_generation.end();
    for (auto g = ss.by_generation.begin(); g != ss.by_generation.end(); ++g) {
      if (g->first != h.generation &&
          (oldest == ss.by_generation.end() || g->first < oldest->first))
        oldest = g;
    }
    ss.by_generation.erase(oldest);
    sit = ss.by_generation.find(h.generation);
  }
  return &sit->second;
}

void UcxTransport::FinishRecv(PeerIndex from, uint64_t incarnation, uint32_t generation,
                              uint64_t seq, bool ok) {
  if (closed_) return;
  auto it = streams_.find(from);
  if (it == streams_.end() || it->second.incarnation != incarnation) return;  // stale
  auto sit = it->second.by_generation.find(generation);
  if (sit == it->second.by_generation.end()) return;
  RecvStream& s = sit->second;
  auto slot = s.pending.find(seq);
  if (slot == s.pending.end()) return;
  slot->second.ready = true;
  slot->second.dropped = !ok;
  DrainStream(from, s);
}

void UcxTransport::DrainStream(PeerIndex from, RecvStream& s) {
  while (!s.pending.empty()) {
    auto it = s.pending.begin();
    if (it->first != s.next || !it->second.ready) break;
    if (it->second.dropped) {
      FERRY_LOG(ERROR) << "ucx: message " << it->first << " from " << PeerName(from)
                       << " was lost; delivering the ones after it";
    } else {
      ready_.push_back(
          Event{Event::Kind::kMessage, from, it->second.type, std::move(it->second.data), {}, {}});
    }
    s.pending.erase(it);
    ++s.next;
  }
}

// ---------------------------------------------------------------------------------------------
// Progress

UcxTransport::Op* UcxTransport::Track(std::unique_ptr<Op> op) {
  Op* raw = op.get();
  ops_.emplace(raw, std::move(op));
  return raw;
}

void UcxTransport::Untrack(Op* op) { ops_.erase(op); }

EventLoop::Poller UcxTransport::MakePoller() {
  EventLoop::Poller p;
  p.progress = [this] { return Progress(); };
  p.arm = [this] { return Arm(); };
  p.fd = efd_;
  return p;
}

unsigned UcxTransport::ProgressWorker(unsigned max_rounds) {
  unsigned total = 0;
  for (unsigned i = 0; i < max_rounds; ++i) {
    unsigned n = ucp_worker_progress(worker_.get());
    if (n == 0) break;
    total += n;
  }
  return total;
}

bool UcxTransport::Progress() {
  bool did = ProgressWorker(kProgressRounds) != 0;
  if (!closed_ && ServiceAccepted()) did = true;
  if (DeliverEvents(kDeliverBudget)) did = true;
  return did;
}

bool UcxTransport::DeliverEvents(size_t budget) {
  size_t n = 0;
  // A handler may Send, Get, Connect or Close; each event is taken off the queue first.
  while (!closed_ && !ready_.empty() && n < budget) {
    Event ev = std::move(ready_.front());
    ready_.pop_front();
    ++n;
    switch (ev.kind) {
      case Event::Kind::kMessage:
        if (on_message_) on_message_(ev.peer, ev.type, std::move(ev.data));
        break;
      case Event::Kind::kGetDone:
        if (ev.done) ev.done(ev.status);
        break;
      case Event::Kind::kPeerError: {
        auto it = peers_.find(ev.peer);
        if (it != peers_.end() && it->second->failed) {  // not reconnected meanwhile
          it->second->rkeys.clear();
          if (void* r = it->second->ep.ForceClose()) ucp_request_free(r);
        }
        if (on_error_) on_error_(ev.peer, ev.status);
        break;
      }
    }
  }
  return n != 0;
}

bool UcxTransport::Arm() {
  if (!closed_ && (!ready_.empty() || !conn_requests_.empty() || accepted_failed_)) return false;
  ucs_status_t st = ucp_worker_arm(worker_.get());
  if (st == UCS_ERR_BUSY) return false;
  if (st != UCS_OK) {
    // Not sleeping is the safe answer: a missed wake-up would hang the loop.
    FERRY_LOG(ERROR) << FromUcs(st, "ucp_worker_arm").ToString();
    return false;
  }
  return true;
}

bool UcxTransport::ProgressUntil(const std::function<bool()>& done, Clock::time_point deadline) {
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    ucp_worker_progress(worker_.get());
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Close

void UcxTransport::Disconnect(PeerIndex peer, const Status& why) {
  auto it = peers_.find(peer);
  if (closed_ || it == peers_.end() || it->second->failed) return;
  Peer& p = *it->second;
  p.failed = true;
  p.failure = why;
  p.rkeys.clear();
  if (void* r = p.ep.ForceClose()) ucp_request_free(r);
}

void UcxTransport::Close() {
  if (closed_) return;
  closed_ = true;

  // 0. No more joins: refuse those not yet accepted, before the listener goes.
  for (ucp_conn_request_h r : conn_requests_) {
    ucs_status_t st = ucp_listener_reject(listener_.get(), r);
    if (st != UCS_OK) FERRY_LOG(DEBUG) << FromUcs(st, "ucp_listener_reject").ToString();
  }
  conn_requests_.clear();
  listener_.reset();

  // 1. Flush what is in flight on healthy endpoints, for a bounded time. (ucp_ep_close_nbx in
  //    flush mode could not be cut short: a closed endpoint cannot be closed again by force.)
  std::vector<void*> flushes;
  for (auto& [index, p] : peers_) {
    if (!p->ep || p->failed) continue;
    ucp_request_param_t prm{};  // no callback: polled below
    void* r = ucp_ep_flush_nbx(p->ep.get(), &prm);
    if (UCS_PTR_IS_ERR(r)) {
      FERRY_LOG(DEBUG) << FromUcs(UCS_PTR_STATUS(r), "flushing " + PeerName(index)).ToString();
    } else if (r != nullptr) {
      flushes.push_back(r);
    }
  }
  auto all_done = [](const std::vector<void*>& reqs) {
    return [&reqs] {
      return std::all_of(reqs.begin(), reqs.end(),
                         [](void* r) { return ucp_request_check_status(r) != UCS_INPROGRESS; });
    };
  };
  if (!ProgressUntil(all_done(flushes), Clock::now() + kFlushDeadline)) {
    FERRY_LOG(WARNING) << "ucx: endpoints did not flush within 2 s; closing them by force";
  }
  for (void* r : flushes) ucp_request_free(r);

  // 2. Drop unpacked rkeys, then force-close every endpoint: what is still outstanding
  //    completes with UCS_ERR_CANCELED.
  std::vector<void*> closes;
  for (auto& [index, p] : peers_) {
    p->rkeys.clear();
    if (void* r = p->ep.ForceClose()) closes.push_back(r);
  }
  for (Accepted& a : accepted_) {
    if (void* r = a.ep.ForceClose()) closes.push_back(r);
  }
  if (!ProgressUntil(all_done(closes), Clock::now() + kForceCloseDeadline)) {
    FERRY_LOG(WARNING) << "ucx: " << closes.size() << " endpoint(s) still closing; leaving them to "
                       << "the worker's destruction";
  }
  for (void* r : closes) ucp_request_free(r);
  peers_.clear();
  accepted_.clear();
  streams_.clear();

  // 3. Every Get hears back before Close returns; undelivered messages are dropped.
  CancelOutstandingGets();
}

void UcxTransport::CancelOutstandingGets() {
  std::vector<std::pair<std::function<void(Status)>, Status>> dones;
  for (Event& ev : ready_) {
    if (ev.kind == Event::Kind::kGetDone && ev.done)
      dones.emplace_back(std::move(ev.done), ev.status);
  }
  ready_.clear();
  for (auto& [raw, op] : ops_) {
    auto* g = dynamic_cast<GetOp*>(op.get());
    if (g == nullptr || !g->done) continue;
    dones.emplace_back(std::move(g->done),
                       CancelledError("ucx: transport closed before the read from " +
                                      PeerName(g->peer) + " finished"));
    g->done = nullptr;
  }
  for (auto& [done, status] : dones) done(status);
}

Result<std::unique_ptr<Transport>> CreateUcxTransport(const TransportOptions& options) {
  FERRY_ASSIGN_OR_RETURN(auto t, UcxTransport::Create(options));
  return std::unique_ptr<Transport>(std::move(t));
}

}  // namespace ferry::transport
