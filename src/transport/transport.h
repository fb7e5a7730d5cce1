// Transport: the seam between the runtime and the wire. Peers are addressed by a small index
// (the node id's value), connected with an opaque address exchanged at bootstrap. Active
// messages carry control traffic; one-sided Get reads registered memory for bulk data.
// Backends: UcxTransport (ucx/, the default between ranks), InprocTransport (inproc/: embedded
// mode and tests). Confined to the event loop thread: every method and every callback runs
// there (callbacks from inside poller().progress()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ferry/internal/buffer.h"
#include "src/common/event_loop.h"
#include "src/common/status.h"

namespace ferry::transport {

using PeerIndex = uint32_t;
using internal::Buffer;

// Called for every message received; `data` stays valid as long as the Buffer is held.
using MessageHandler = std::function<void(PeerIndex from, uint16_t type, Buffer data)>;
// Called once when a connected peer fails (endpoint error, peer gone).
using PeerErrorHandler = std::function<void(PeerIndex peer, const Status& why)>;

// Memory registered for remote reads. Unregisters on destruction. Move-only.
class MemoryRegistration {
 public:
  virtual ~MemoryRegistration() = default;
  // Packed remote key a peer passes to Get().
  virtual const std::string& rkey() const = 0;
  virtual uint64_t address() const = 0;
  virtual size_t size() const = 0;
};

struct TransportOptions {
  PeerIndex self = 0;
  // Ask the backend to detect and report failed peers on each endpoint. For UCX this is
  // UCP_ERR_HANDLING_MODE_PEER, which in UCX 1.13 restricts endpoints to transports that can
  // report peer failure (TCP here): no shared memory, no CMA, RMA emulated by messages.
  // Off by default; the GCS heartbeats detect dead ranks either way.
  bool peer_error_handling = false;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string Name() const = 0;
  // This process's address; peers pass it to Connect().
  virtual const std::string& Address() const = 0;
  // REQUIRES: before any Connect().
  virtual void SetHandlers(MessageHandler on_message, PeerErrorHandler on_error) = 0;
  virtual Status Connect(PeerIndex peer, const std::string& address) = 0;
  // Joins: a process started later reaches this one by "host:port" before it has its address.
  // Starts accepting connections on `host` (an interface address or hostname; "" means all
  // interfaces, and the returned host is then this machine's hostname) on a port the OS picks.
  // Returns the "host:port" a peer passes to ConnectTo. Accepted connections only receive: their
  // messages reach on_message like any other, with the sender index the remote put on them; they
  // belong to no peer, so their loss is never reported. Loop thread; once.
  virtual Result<std::string> Listen(const std::string& host);
  // Connects `peer` through a listener at "host:port" instead of an address. As with Connect,
  // sends may start at once (queued until the connection is up) and an existing connection to
  // `peer` is replaced. A malformed "host:port" or an unresolvable host is an InvalidArgument
  // error at once; a refused or unreachable connection goes to the PeerErrorHandler later.
  virtual Status ConnectTo(PeerIndex peer, const std::string& host_port);
  // Changes the sender index put on messages sent from now on (a joiner learns its index after
  // its first message). Loop thread.
  virtual void SetSelf(PeerIndex self) = 0;
  // Queues `data` for `peer` as a message of `type`; keeps `data` alive until it is sent.
  // Never blocks: backpressure is queueing, not failure. Messages to one peer arrive in order.
  virtual Status Send(PeerIndex peer, uint16_t type, Buffer data) = 0;
  virtual Result<std::unique_ptr<MemoryRegistration>> Register(const void* addr, size_t len) = 0;
  // Reads `len` bytes at `remote_addr` (inside a region `peer` registered, packed key `rkey`)
  // into `dst`; `done` runs on the loop when the bytes are there or the read failed.
  // REQUIRES: `dst` stays valid until `done` runs.
  virtual Status Get(PeerIndex peer, uint64_t remote_addr, const std::string& rkey, void* dst,
                     size_t len, std::function<void(Status)> done) = 0;
  // Hooks for the event loop (progress, arm, fd).
  virtual EventLoop::Poller MakePoller() = 0;
  // The runtime declared `peer` dead: stop talking to it. Its endpoint is closed by force (what
  // is outstanding to it completes with an error), later sends to it fail at once, and Close
  // does not wait to flush it. Loop thread; idempotent.
  virtual void Disconnect(PeerIndex /*peer*/, const Status& /*why*/) {}
  // Stops listening, flushes and closes every endpoint. Idempotent.
  virtual void Close() = 0;
};

// Creates a backend by name: "ucx" or "inproc". A name not built in is an InvalidArgument
// error naming the backends that are.
Result<std::unique_ptr<Transport>> CreateTransport(const std::string& name,
                                                   const TransportOptions& options);

}  // namespace ferry::transport
