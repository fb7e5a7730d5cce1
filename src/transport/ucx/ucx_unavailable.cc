#include "src/transport/ucx/ucx_factory.h"

namespace ferry::transport {

Result<std::unique_ptr<Transport>> CreateUcxTransport(const TransportOptions&) {
  return FailedPreconditionError(
      "this ferry was built without UCX (install libucx-dev and rebuild with FERRY_WITH_UCX=ON)");
}

}  // namespace ferry::transport
