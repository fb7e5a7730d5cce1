// Messenger: routes messages by type to handlers and sends to any node, itself included
// (self-sends are posted to the loop, never through the wire). Coalesces nothing itself;
// batching is done by the senders. Confined to the event loop thread.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
#include "src/transport/transport.h"

namespace ferry::transport {

class Messenger {
 public:
  using Handler = std::function<void(NodeId from, Buffer msg)>;

  Messenger(EventLoop* loop, Transport* transport, NodeId self)
      : loop_(loop), transport_(transport), self_(self) {}

  // REQUIRES: before the loop starts.
  void Register(uint16_t type, Handler handler) { handlers_[type] = std::move(handler); }
  // Installs the transport callbacks. REQUIRES: before the loop starts.
  void Attach(PeerErrorHandler on_peer_error);

  void Send(NodeId to, uint16_t type, std::string bytes);
  NodeId self() const { return self_; }

 private:
  void Dispatch(NodeId from, uint16_t type, Buffer msg);

  EventLoop* loop_;
  Transport* transport_;
  const NodeId self_;
  std::unordered_map<uint16_t, Handler> handlers_;
};

}  // namespace ferry::transport
