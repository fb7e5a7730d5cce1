#!/usr/bin/env python3
"""Dask distributed on ferry's two task figures, for comparison in the same run.

  python3 bench/peers/dask_tasks.py [--workers 2] [--quick] [--timeout 120]

A LocalCluster of --workers worker processes with one thread each (Dask's nanny per worker),
and a client in this process:
  dask_tasks_sync   one empty task submitted and its result awaited, repeated
                    (ferry: single_client_tasks_sync)
  dask_tasks_async  1,000 empty tasks submitted, then all awaited, repeated
                    (ferry: single_client_tasks_async)
Each prints {"name", "value", "unit": "per_s", "workers", "system": "dask", "cores"}; if Dask
is not importable, or a figure does not finish in --timeout seconds, a skipped line instead.
Tasks are submitted with pure=False so that Dask runs every one (equal keys would be run once).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

NAMES = ["dask_tasks_sync", "dask_tasks_async"]


def empty(i=None):
    return None


def main():
    args = pc.parse_args(sys.argv[1:], "Dask distributed task rates (ferry's peers)")
    try:
        import distributed
    except ImportError:
        pc.emit_skipped(NAMES, "python3-distributed is not installed")
        return 0
    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)

    state = {}

    def cleanup():
        if "cluster" in state:
            state["cluster"].close(timeout=5)

    pc.watchdog(args.timeout, NAMES, cleanup)
    cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
    state["cluster"] = cluster
    client = distributed.Client(cluster)
    client.wait_for_workers(args.workers, timeout=60)
    common = {"unit": "per_s", "workers": args.workers, "system": "dask", "cores": pc.cores()}

    def sync_once():
        client.submit(empty, pure=False).result()
        return 1

    def async_once():
        futures = client.map(empty, range(args.batch), pure=False)
        client.gather(futures)
        del futures
        return args.batch

    warm = 0.1 if args.quick else 0.5
    pc.emit(dict(name="dask_tasks_sync", value=round(pc.rate(sync_once, args.seconds, warm), 1),
                 **common))
    pc.emit(dict(name="dask_tasks_async",
                 value=round(pc.rate(async_once, args.seconds, warm), 1), **common))
    client.close()
    cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
