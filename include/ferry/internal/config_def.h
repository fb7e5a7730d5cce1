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
             "how ranks find each other: auto (join when address is set, else mpi, else pmix, "
             "from the launcher's environment; local when there is none), local (embedded), "
             "mpi, pmix, join")
FERRY_CONFIG(std::string, transport, "auto",
             "transport between ranks: auto (ucx when more than one rank), ucx, inproc")
FERRY_CONFIG(std::string, session_dir, "",
             "session directory (logs, the head's address, the token); empty: "
             "$TMPDIR (or /tmp)/ferry-<uid>-slurm-<job>.<step> under Slurm, else "
             "ferry-<uid>-<session id>")
FERRY_CONFIG(std::string, address, "",
             "join a running cluster instead of starting one: its session directory, or the "
             "host:port of its head (then the token comes from FERRY_TOKEN)")
FERRY_CONFIG(std::string, token, "",
             "the session token to present when joining; empty: read from the session "
             "directory given as address")
FERRY_CONFIG(int, accept_joins, -1,
             "the head listens for joining nodes: 1 yes, 0 no, -1 when launched on several "
             "ranks (an embedded one-process cluster listens only when asked)")
FERRY_CONFIG(std::string, listen_host, "",
             "interface or host name of the head's join listener; empty: every interface, "
             "published as this host's name")
FERRY_CONFIG(std::string, launch_id, "",
             "set by the autoscaler on the nodes it starts, which present it when they join")
FERRY_CONFIG(std::string, autoscaler_provider, "",
             "the head adds and removes worker nodes with demand: local (processes of this "
             "program on this host), slurm (see autoscaler_slurm_mode); empty: no autoscaler")
FERRY_CONFIG(int, autoscaler_min_workers, 0, "the autoscaler keeps at least this many workers")
FERRY_CONFIG(int, autoscaler_max_workers, 4, "the autoscaler starts no more workers than this")
FERRY_CONFIG(int, autoscaler_idle_timeout_s, 60,
             "a worker with no task for this long is drained and leaves (down to min_workers)")
FERRY_CONFIG(int, autoscaler_period_ms, 1000, "how often the autoscaler looks at demand")
FERRY_CONFIG(int, autoscaler_launch_timeout_s, 300,
             "a node started that has not joined after this long is ended (a job stuck in the "
             "queue counts)")
FERRY_CONFIG(double, autoscaler_node_cpus, 0,
             "CPUs one new node offers, to size requests; 0: as the largest worker known, else 1")
FERRY_CONFIG(std::string, autoscaler_slurm_mode, "sbatch",
             "sbatch: each node is a job of its own from the sbatch template; srun: each node is "
             "a step inside this allocation (SLURM_JOB_ID)")
FERRY_CONFIG(std::string, autoscaler_slurm_template, "",
             "the sbatch template for sbatch mode; empty: the installed "
             "share/ferry/slurm/ferry.sbatch")
FERRY_CONFIG(std::string, autoscaler_slurm_args, "",
             "extra sbatch or srun options for the nodes, e.g. \"--time=00:30:00 "
             "--cpus-per-task=4\"")
FERRY_CONFIG(int, join_timeout_ms, 30000,
             "how long a joining process waits for the head's answer, and the head for a "
             "joiner to become ready")
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
FERRY_CONFIG(int, drain_grace_ms, 30000,
             "a draining node lets its running tasks finish for this long, then hands them back "
             "to their owners to run elsewhere")
FERRY_CONFIG(int, drain_on_signal, 1,
             "1: a worker drains and leaves on SIGTERM or SIGUSR1 (what srun --signal sends "
             "before the walltime), and the head logs SIGUSR1 instead of dying of it (unless "
             "the application handles it); 0: those signals keep their actions")
FERRY_CONFIG(int, shutdown_timeout_ms, 10000, "how long Shutdown waits for workers to confirm")
FERRY_CONFIG(int, max_batch, 512, "most task specs or completions sent in one message")
// NOLINTEND
