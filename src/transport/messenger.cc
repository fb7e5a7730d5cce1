#include "src/transport/messenger.h"

#include "src/common/logging.h"

namespace ferry::transport {

void Messenger::Attach(PeerErrorHandler on_peer_error) {
  transport_->SetHandlers([this](PeerIndex from, uint16_t type,
                                 Buffer data) { Dispatch(NodeId(from), type, std::move(data)); },
                          std::move(on_peer_error));
}

void Messenger::Send(NodeId to, uint16_t type, std::string bytes) {
  if (to == self_) {
    loop_->Post([this, type, b = Buffer::FromString(std::move(bytes))]() mutable {
      Dispatch(self_, type, std::move(b));
    });
    return;
  }
  Status st = transport_->Send(to.value(), type, Buffer::FromString(std::move(bytes)));
  if (!st.ok())
    FERRY_LOG_RATE_LIMITED(WARNING) << "send of message type " << type << " to " << to
                                    << " failed: " << st.ToString();
}

void Messenger::Dispatch(NodeId from, uint16_t type, Buffer msg) {
  auto it = handlers_.find(type);
  if (it == handlers_.end()) {
    FERRY_LOG_RATE_LIMITED(WARNING)
        << "dropped a message of unknown type " << type << " from " << from;
    return;
  }
  it->second(from, std::move(msg));
}

}  // namespace ferry::transport
