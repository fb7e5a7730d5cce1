// InprocTransport: peers inside one process (embedded mode, unit tests). Addresses are names in
// a process-wide registry; Send enqueues into the peer's inbox and wakes its eventfd; Get is a
// memcpy. Confined to its event loop thread, except that peers push into its inbox.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

#include "src/common/mpsc_queue.h"
#include "src/transport/transport.h"

namespace ferry::transport {

class InprocTransport final : public Transport {
 public:
  static Result<std::unique_ptr<InprocTransport>> Create(const TransportOptions& options);
  ~InprocTransport() override;

  std::string Name() const override { return "inproc"; }
  const std::string& Address() const override { return address_; }
  void SetHandlers(MessageHandler on_message, PeerErrorHandler on_error) override;
  Status Connect(PeerIndex peer, const std::string& address) override;
  // Listen and ConnectTo keep the base class's FailedPrecondition: in-process peers join by
  // address.
  void SetSelf(PeerIndex self) override { self_ = self; }
  Status Send(PeerIndex peer, uint16_t type, Buffer data) override;
  Result<std::unique_ptr<MemoryRegistration>> Register(const void* addr, size_t len) override;
  Status Get(PeerIndex peer, uint64_t remote_addr, const std::string& rkey, void* dst, size_t len,
             std::function<void(Status)> done) override;
  EventLoop::Poller MakePoller() override;
  void Close() override;

  // Shared with peers through the registry; public so the registry can name it.
  struct Inbox;

 private:
  InprocTransport(PeerIndex self, std::string address, std::shared_ptr<Inbox> inbox);
  bool Progress();
  bool Arm();

  PeerIndex self_;
  const std::string address_;
  std::shared_ptr<Inbox> inbox_;
  MessageHandler on_message_;
  PeerErrorHandler on_error_;
  std::unordered_map<PeerIndex, std::weak_ptr<Inbox>> peers_;
  bool closed_ = false;
};

}  // namespace ferry::transport
