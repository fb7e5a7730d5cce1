// JoinBootstrapper: a process started with FERRY_ADDRESS joins a running cluster as one more
// raylet instead of starting one. It reaches the head through the head's join listener
// (host:port, from the session directory's `head` file or given directly), presents the session
// token and its function table, and the head answers at this process's transport address with
// its node id and every live member, or with the reason it refused. Node ids are the head's to
// give, so until the answer this process sends from a random provisional index.
// Thread-compatible; used by the main thread only, before the runtime's event loop starts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "launch/bootstrapper.h"

namespace ferry::launch {

struct JoinOptions {
  std::string address;  // a session directory, or host:port of the head's listener
  std::string token;    // overrides the session directory's token
  std::chrono::milliseconds timeout{30000};
  std::string launch_id;  // the autoscaler's, when it started this process
};

Result<std::unique_ptr<Bootstrapper>> CreateJoinBootstrapper(const JoinOptions& options);

}  // namespace ferry::launch
