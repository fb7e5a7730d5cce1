#include "launch/bootstrapper.h"

#include <cstdlib>
#include <string>

#include "launch/mpi_factory.h"
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

long EnvInt(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? -1 : std::strtol(v, nullptr, 10);
}

}  // namespace

bool LaunchedByMpi() {
  for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (EnvInt(n) > 0) return true;
  // PMIx servers (srun --mpi=pmix, prterun) always set PMIX_RANK.
  return std::getenv("PMIX_RANK") != nullptr;
}

Result<std::unique_ptr<Bootstrapper>> CreateBootstrapper(const std::string& kind) {
  if (kind == "local") return std::unique_ptr<Bootstrapper>(new LocalBootstrapper());
  if (kind == "mpi") return CreateMpiBootstrapper();
  if (kind == "auto") {
    if (LaunchedByMpi()) return CreateMpiBootstrapper();
    return std::unique_ptr<Bootstrapper>(new LocalBootstrapper());
  }
  return InvalidArgumentError("unknown bootstrap '" + kind + "' (known: auto, local, mpi)");
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
  return Status::Ok();
}

}  // namespace ferry::launch
