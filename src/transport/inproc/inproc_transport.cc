#include "src/transport/inproc/inproc_transport.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace ferry::transport {

struct InprocTransport::Inbox {
  struct Item {
    PeerIndex from;
    uint16_t type;
    Buffer data;
    std::function<void()> local;  // a completion to run instead of a message
  };
  explicit Inbox(int fd) : efd(fd) {}
  ~Inbox() { close(efd); }
  // The eventfd is written only while the consumer sleeps (armed): a syscall per message
  // would cost more than the message.
  void Push(Item item) {
    q.Push(std::move(item));
    if (armed.load(std::memory_order_seq_cst)) Wake();  // see EventLoop::Post
  }
  void Wake() {
    uint64_t one = 1;
    ssize_t n = write(efd, &one, sizeof(one));
    (void)n;
  }
  MpscQueue<Item> q;
  const int efd;
  std::atomic<bool> armed{false};
};

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<InprocTransport::Inbox>> by_address;
  uint64_t next = 1;
};
Registry& GetRegistry() {
  static Registry* r = new Registry();
  return *r;
}

class InprocRegistration final : public MemoryRegistration {
 public:
  InprocRegistration(const void* addr, size_t len)
      : addr_(reinterpret_cast<uint64_t>(addr)), len_(len), rkey_("inproc") {}
  const std::string& rkey() const override { return rkey_; }
  uint64_t address() const override { return addr_; }
  size_t size() const override { return len_; }

 private:
  uint64_t addr_;
  size_t len_;
  std::string rkey_;
};

}  // namespace

Result<std::unique_ptr<InprocTransport>> InprocTransport::Create(const TransportOptions& options) {
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return InternalError(std::string("eventfd: ") + std::strerror(errno));
  auto inbox = std::make_shared<Inbox>(efd);
  Registry& reg = GetRegistry();
  std::string address;
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    address = "inproc:" + std::to_string(reg.next++);
    reg.by_address[address] = inbox;
  }
  return std::unique_ptr<InprocTransport>(
      new InprocTransport(options.self, std::move(address), std::move(inbox)));
}

InprocTransport::InprocTransport(PeerIndex self, std::string address, std::shared_ptr<Inbox> inbox)
    : self_(self), address_(std::move(address)), inbox_(std::move(inbox)) {}

InprocTransport::~InprocTransport() { Close(); }

void InprocTransport::SetHandlers(MessageHandler on_message, PeerErrorHandler on_error) {
  on_message_ = std::move(on_message);
  on_error_ = std::move(on_error);
}

Status InprocTransport::Connect(PeerIndex peer, const std::string& address) {
  Registry& reg = GetRegistry();
  std::lock_guard<std::mutex> lock(reg.mu);
  auto it = reg.by_address.find(address);
  if (it == reg.by_address.end() || it->second.expired())
    return UnavailableError("inproc: no transport at address '" + address + "'");
  peers_[peer] = it->second;
  return Status::Ok();
}

Status InprocTransport::Send(PeerIndex peer, uint16_t type, Buffer data) {
  if (closed_) return UnavailableError("inproc: transport closed");
  auto it = peers_.find(peer);
  if (it == peers_.end())
    return NotFoundError("inproc: peer " + std::to_string(peer) + " not connected");
  auto inbox = it->second.lock();
  if (!inbox) return UnavailableError("inproc: peer " + std::to_string(peer) + " is gone");
  inbox->Push({self_, type, std::move(data), nullptr});
  return Status::Ok();
}

Result<std::unique_ptr<MemoryRegistration>> InprocTransport::Register(const void* addr,
                                                                      size_t len) {
  return std::unique_ptr<MemoryRegistration>(new InprocRegistration(addr, len));
}

Status InprocTransport::Get(PeerIndex peer, uint64_t remote_addr, const std::string& rkey,
                            void* dst, size_t len, std::function<void(Status)> done) {
  if (peers_.find(peer) == peers_.end() && peer != self_)
    return NotFoundError("inproc: peer " + std::to_string(peer) + " not connected");
  if (len != 0) std::memcpy(dst, reinterpret_cast<const void*>(remote_addr), len);
  inbox_->Push({self_, 0, Buffer(), [done = std::move(done)] { done(Status::Ok()); }});
  return Status::Ok();
}

EventLoop::Poller InprocTransport::MakePoller() {
  EventLoop::Poller p;
  p.progress = [this] { return Progress(); };
  p.arm = [this] { return Arm(); };
  p.fd = inbox_->efd;
  return p;
}

bool InprocTransport::Arm() {
  uint64_t v;
  ssize_t n = read(inbox_->efd, &v, sizeof(v));  // drain wake-ups of the last sleep
  (void)n;
  inbox_->armed.store(true, std::memory_order_seq_cst);
  if (!inbox_->q.Empty()) {
    inbox_->armed.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool InprocTransport::Progress() {
  inbox_->armed.store(false, std::memory_order_relaxed);
  bool did = false;
  for (int i = 0; i < 1024; ++i) {
    auto item = inbox_->q.Pop();
    if (!item) break;
    did = true;
    if (item->local) {
      item->local();
    } else if (on_message_) {
      on_message_(item->from, item->type, std::move(item->data));
    }
  }
  return did;
}

void InprocTransport::Close() {
  if (closed_) return;
  closed_ = true;
  Registry& reg = GetRegistry();
  std::lock_guard<std::mutex> lock(reg.mu);
  reg.by_address.erase(address_);
}

}  // namespace ferry::transport
