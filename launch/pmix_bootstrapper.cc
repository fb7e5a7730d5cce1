// PmixBootstrapper: PMIx_Init, PMIx_Put of the encoded PeerInfo under one key, PMIx_Commit, one
// PMIx_Fence that collects every rank's data, a PMIx_Get per rank, then at once PMIx_Finalize:
// PMIx is used for nothing else, and a process still connected to the PMIx server ties its fate
// to every other one (srun's pmix plugin ends the whole step when one client dies).
// PMIx_Init is reference counted: an application that initialized PMIx itself keeps it.
#include <pmix.h>

#include <cstdlib>
#include <string>

#include "launch/pmix_factory.h"
#include "src/common/logging.h"

namespace ferry::launch {
namespace {

constexpr char kPeerKey[] = "ferry.peer";

// Every failure of this file, as "<call> failed: <PMIx's words> (<code>)".
Status PmixError(const std::string& call, pmix_status_t rc) {
  return UnavailableError(call + " failed: " + PMIx_Error_string(rc) + " (" + std::to_string(rc) +
                          ")");
}

// A value PMIx_Get allocated.
struct ValueRelease {
  void operator()(pmix_value_t* v) const { PMIX_VALUE_RELEASE(v); }
};
using PmixValue = std::unique_ptr<pmix_value_t, ValueRelease>;

Result<PmixValue> Get(const char* nspace, pmix_rank_t rank, const char* key) {
  pmix_proc_t proc;
  PMIX_LOAD_PROCID(&proc, nspace, rank);
  pmix_value_t* v = nullptr;
  pmix_status_t rc = PMIx_Get(&proc, key, nullptr, 0, &v);
  const std::string call = std::string("PMIx_Get(") + key + " of rank " +
                           (rank == PMIX_RANK_WILDCARD ? "*" : std::to_string(rank)) + ")";
  if (rc != PMIX_SUCCESS) return PmixError(call, rc);
  if (v == nullptr) return InternalError(call + " returned no value");
  return PmixValue(v);
}

class PmixBootstrapper final : public Bootstrapper {
 public:
  static Result<std::unique_ptr<Bootstrapper>> Create() {
    pmix_proc_t self;
    PMIX_PROC_CONSTRUCT(&self);
    pmix_status_t rc = PMIx_Init(&self, nullptr, 0);
    if (rc != PMIX_SUCCESS)
      return PmixError("PMIx_Init (is this process started by srun --mpi=pmix?)", rc);
    std::unique_ptr<PmixBootstrapper> boot(new PmixBootstrapper(self));
    Result<PmixValue> size = Get(self.nspace, PMIX_RANK_WILDCARD, PMIX_JOB_SIZE);
    if (!size.ok()) {
      boot->Finalize();
      return size.status();
    }
    const pmix_value_t& v = **size;
    if (v.type != PMIX_UINT32 || self.rank >= v.data.uint32) {
      boot->Finalize();
      return InternalError("PMIx_Get(" PMIX_JOB_SIZE ") gave no job size that holds rank " +
                           std::to_string(self.rank));
    }
    boot->size_ = v.data.uint32;
    return std::unique_ptr<Bootstrapper>(std::move(boot));
  }

  std::string Name() const override { return "pmix"; }
  uint32_t Rank() const override { return rank_; }
  uint32_t Size() const override { return size_; }

  Result<Topology> Exchange(const PeerInfo& mine) override {
    FERRY_LOG(INFO) << "bootstrap: pmix, rank " << rank_ << " of " << size_ << " in namespace "
                    << nspace_;
    std::string blob = EncodePeerInfo(mine);
    pmix_value_t value;
    PMIX_VALUE_CONSTRUCT(&value);
    value.type = PMIX_BYTE_OBJECT;
    value.data.bo.bytes = blob.data();  // PMIx_Put copies it
    value.data.bo.size = blob.size();
    pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, kPeerKey, &value);
    if (rc != PMIX_SUCCESS) return PmixError("PMIx_Put", rc);
    rc = PMIx_Commit();
    if (rc != PMIX_SUCCESS) return PmixError("PMIx_Commit", rc);

    // Collecting the data in the fence makes every Get below local.
    pmix_proc_t all;
    PMIX_LOAD_PROCID(&all, nspace_, PMIX_RANK_WILDCARD);
    pmix_info_t collect;
    PMIX_INFO_CONSTRUCT(&collect);
    bool yes = true;
    rc = PMIx_Info_load(&collect, PMIX_COLLECT_DATA, &yes, PMIX_BOOL);
    if (rc == PMIX_SUCCESS) rc = PMIx_Fence(&all, 1, &collect, 1);
    PMIX_INFO_DESTRUCT(&collect);
    if (rc != PMIX_SUCCESS) return PmixError("PMIx_Fence", rc);

    Topology t;
    t.rank = rank_;
    t.peers.resize(size_);
    for (uint32_t i = 0; i < size_; ++i) {
      const std::string context = "bootstrap data of rank " + std::to_string(i);
      FERRY_ASSIGN_OR_RETURN(PmixValue v, Get(nspace_, i, kPeerKey));
      if (v->type != PMIX_BYTE_OBJECT)
        return DataLossError(context + ": PMIx type " + PMIx_Data_type_string(v->type) +
                             ", not a byte object");
      FERRY_RETURN_IF_ERROR(DecodePeerInfo(reinterpret_cast<const uint8_t*>(v->data.bo.bytes),
                                           v->data.bo.size, &t.peers[i])
                                .WithContext(context));
      t.peers[i].rank = i;
    }
    t.session_id = t.peers[0].session_id;
    // Every rank got here: from now on ranks fail alone, and ferry's heartbeats tell.
    Finalize();
    return t;
  }

  void Finalize() override {
    if (finalized_) return;
    finalized_ = true;
    pmix_status_t rc = PMIx_Finalize(nullptr, 0);
    if (rc != PMIX_SUCCESS) FERRY_LOG(WARNING) << PmixError("PMIx_Finalize", rc).message();
  }

  [[noreturn]] void Abort(int code) override {
    // After the exchange PMIx is gone: the other ranks see this one's death by its silence.
    if (!finalized_) PMIx_Abort(code, "ferry: a rank failed to start", nullptr, 0);
    std::_Exit(code);
  }

 private:
  explicit PmixBootstrapper(const pmix_proc_t& self) : rank_(self.rank) {
    PMIX_LOAD_NSPACE(nspace_, self.nspace);
  }
  // Immutable after Create
  const uint32_t rank_;
  uint32_t size_ = 0;
  pmix_nspace_t nspace_;

  bool finalized_ = false;  // by Exchange's end, Finalize, or a failed Create
};

}  // namespace

Result<std::unique_ptr<Bootstrapper>> CreatePmixBootstrapper() {
  return PmixBootstrapper::Create();
}

bool HavePmixBootstrapper() { return true; }

}  // namespace ferry::launch
