// Factory of the UCX backend. CMake builds either the real adapter (ucx_transport.cc) or
// ucx_unavailable.cc, so no code outside this folder needs to know whether UCX was found.
#pragma once

#include <memory>

#include "src/transport/transport.h"

namespace ferry::transport {

Result<std::unique_ptr<Transport>> CreateUcxTransport(const TransportOptions& options);

}  // namespace ferry::transport
