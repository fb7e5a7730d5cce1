#include "src/transport/transport.h"

#include "src/transport/inproc/inproc_transport.h"
#include "src/transport/ucx/ucx_factory.h"

namespace ferry::transport {

Result<std::string> Transport::Listen(const std::string&) {
  return FailedPreconditionError(Name() + ": this transport cannot listen for joins");
}

Status Transport::ConnectTo(PeerIndex peer, const std::string& host_port) {
  return FailedPreconditionError(Name() + ": this transport cannot connect peer " +
                                 std::to_string(peer) + " by host:port (" + host_port + ")");
}

Result<std::unique_ptr<Transport>> CreateTransport(const std::string& name,
                                                   const TransportOptions& options) {
  if (name == "inproc") {
    FERRY_ASSIGN_OR_RETURN(auto t, InprocTransport::Create(options));
    return std::unique_ptr<Transport>(std::move(t));
  }
  if (name == "ucx") return CreateUcxTransport(options);
  return InvalidArgumentError("unknown transport '" + name + "' (known: ucx, inproc)");
}

}  // namespace ferry::transport
