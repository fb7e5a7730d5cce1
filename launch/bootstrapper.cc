#include "launch/bootstrapper.h"

#include <cstdlib>
#include <string>

#include "launch/bootstrap_choice.h"
#include "launch/mpi_factory.h"
#include "launch/pmix_factory.h"
#include "src/wire/codec.h"

namespace ferry::launch {
namespace {

class LocalBootstrapper final : public Bootstrapper {
 public:
  std::string Name() const override { return "local"; }
  uint32_t Rank() const override { return 0; }
  uint32_t Size() const override { return 1; }
  Result<Topology> Exchange(const PeerInfo& mine) override {
    Topology t;
    t.rank = 0;
    t.peers = {mine};
    t.session_id = mine.session_id;
    return t;
  }
  void Finalize() override {}
  [[noreturn]] void Abort(int code) override { std::_Exit(code); }
};

}  // namespace

Result<std::unique_ptr<Bootstrapper>> CreateBootstrapper(const std::string& kind) {
  const EnvLookup env = [](const char* name) { return std::getenv(name); };
  FERRY_ASSIGN_OR_RETURN(std::string chosen,
                         ChooseBootstrap(kind, env, HaveMpiBootstrapper(), HavePmixBootstrapper()));
  if (chosen == "mpi") return CreateMpiBootstrapper();
  if (chosen == "pmix") return CreatePmixBootstrapper();
  return std::unique_ptr<Bootstrapper>(new LocalBootstrapper());
}

std::string EncodePeerInfo(const PeerInfo& info) {
  wire::Writer w;
  w.Put<uint8_t>(wire::kWireVersion);
  w.Put<uint32_t>(info.rank);
  w.PutString(info.address);
  w.PutString(info.hostname);
  w.Put<int32_t>(info.pid);
  w.Put<uint32_t>(static_cast<uint32_t>(info.resources.size()));
  for (const auto& [id, units] : info.resources.items()) {
    w.PutString(ferry::ResourceName(id));
    w.Put<int64_t>(units);
  }
  w.Put<uint64_t>(info.function_hash);
  w.Put<uint64_t>(info.function_count);
  w.PutString(info.session_id);
  w.PutString(info.listen_address);
  w.PutString(info.token);
  return w.Finish();
}

Status DecodePeerInfo(const uint8_t* data, size_t size, PeerInfo* out) {
  wire::Reader r(data, size);
  uint8_t version = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&version, "version"));
  if (version != wire::kWireVersion)
    return DataLossError("peer speaks wire version " + std::to_string(version) + ", this rank " +
                         std::to_string(wire::kWireVersion) + " (different ferry builds)");
  FERRY_RETURN_IF_ERROR(r.Get(&out->rank, "rank"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->address, "address"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->hostname, "hostname"));
  FERRY_RETURN_IF_ERROR(r.Get(&out->pid, "pid"));
  uint32_t nres = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&nres, 16, "resource count"));
  out->resources = ResourceSet();
  for (uint32_t i = 0; i < nres; ++i) {
    std::string name;
    int64_t units = 0;
    FERRY_RETURN_IF_ERROR(r.GetString(&name, "resource name"));
    FERRY_RETURN_IF_ERROR(r.Get(&units, "resource amount"));
    if (name.empty() || units < 0) return DataLossError("malformed peer info: bad resource");
    out->resources.SetUnits(name, units);
  }
  FERRY_RETURN_IF_ERROR(r.Get(&out->function_hash, "function hash"));
  FERRY_RETURN_IF_ERROR(r.Get(&out->function_count, "function count"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->session_id, "session id"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->listen_address, "listen address"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->token, "token"));
  return Status::Ok();
}

}  // namespace ferry::launch
