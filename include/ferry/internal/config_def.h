// The one configuration table. Each row: FERRY_CONFIG(type, name, default, help).
// It generates ferry::Config, the FERRY_<NAME> environment overrides, the --ferry-<name>
// command-line flags and `ferry-config --dump`. No include guard on purpose: X-macro file.
// NOLINTBEGIN
FERRY_CONFIG(
    int, num_cpus, -1,
    "CPUs this rank offers to tasks; -1 means the CPUs the process may use (affinity mask, "
    "cgroup quota, SLURM_CPUS_PER_TASK)")
FERRY_CONFIG(int, head_cpus, -1, "CPUs the head (rank 0) offers to tasks; -1 means num_cpus")
FERRY_CONFIG(int, num_gpus, -1,
             "GPUs this rank offers; -1: CUDA_VISIBLE_DEVICES, else Slurm's GPU allocation, else "
             "the devices the CUDA driver reports (none without CUDA)")
FERRY_CONFIG(std::string, resources, "",
             "custom resources of this rank as a JSON object, e.g. {\"licenses\": 2}; names "
             "given here (CPU, GPU too) replace the detected amounts")
FERRY_CONFIG(int, resource_report_ms, 20,
             "how often a raylet reports its free resources and queue to the head when they "
             "changed, and the head broadcasts the changed cluster view")
FERRY_CONFIG(int, max_spillbacks, 2,
             "how often one task may be forwarded by a raylet that has no room for it to a node "
             "that has (0: never)")
FERRY_CONFIG(std::string, bootstrap, "auto",
             "how ranks find each other: auto, local (embedded), mpi")
FERRY_CONFIG(std::string, transport, "auto",
             "transport between ranks: auto (ucx when more than one rank), ucx, inproc")
FERRY_CONFIG(std::string, session_dir, "",
             "session directory (logs); empty means a new directory under $TMPDIR or /tmp")
FERRY_CONFIG(std::string, log_level, "warning", "debug, info, warning or error")
FERRY_CONFIG(int64_t, inline_threshold_bytes, 65536,
             "results up to this size travel inline to the owner; larger ones stay in the store")
FERRY_CONFIG(int64_t, object_store_memory, -1,
             "bytes of this rank's shared-memory object arena; -1: 30% of the memory available "
             "to the rank (the host's available memory, cgroup and Slurm limits, shared among the "
             "host's ranks)")
FERRY_CONFIG(std::string, spill_dir, "",
             "where a full object store writes objects; empty: the session directory's spill/")
FERRY_CONFIG(int, ucx_peer_errors, 0,
             "1: UCX endpoints detect peer failure (UCX then avoids shared memory and CMA)")
FERRY_CONFIG(int, spin_us, -1,
             "event loop: microseconds to poll before sleeping on its fds; -1: 20, or 0 when "
             "the ranks on this host outnumber half its cores (polling would steal them)")
FERRY_CONFIG(int, executor_spin_us, -1,
             "an idle executor thread polls this long for new tasks before sleeping; -1: as "
             "spin_us's automatic choice")
FERRY_CONFIG(int, get_spin_us, 0,
             "a caller of Get/Wait polls this long for the result before sleeping")
FERRY_CONFIG(int, heartbeat_period_ms, 500,
             "period of the heartbeats between the head and every worker (both ways)")
FERRY_CONFIG(int, heartbeat_timeout_ms, 5000,
             "a worker the head has not heard for this long is declared dead (and every rank "
             "told); a worker that has not heard the head for this long exits non-zero")
FERRY_CONFIG(int64_t, max_lineage_bytes, 1073741824,
             "most bytes of task specs an owner keeps to rebuild lost objects; beyond, the "
             "oldest lineage is dropped and objects that needed it can no longer be rebuilt")
FERRY_CONFIG(double, memory_usage_threshold, 0.95,
             "fraction of the node's memory in use (cgroup limit or host) above which its raylet "
             "starts no new tasks until use falls; 1 or more: never")
FERRY_CONFIG(int, memory_monitor_ms, 250,
             "how often a raylet reads the node's memory use (0: never)")
FERRY_CONFIG(int, shutdown_timeout_ms, 10000, "how long Shutdown waits for workers to confirm")
FERRY_CONFIG(int, max_batch, 512, "most task specs or completions sent in one message")
// NOLINTEND
