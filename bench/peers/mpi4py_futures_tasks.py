#!/usr/bin/env python3
"""mpi4py.futures on ferry's two task figures, for comparison in the same run.

  python3 bench/peers/mpi4py_futures_tasks.py [--workers 2] [--quick] [--timeout 120]
      starts itself as: mpirun -n WORKERS+1 python3 -m mpi4py.futures THIS_SCRIPT ...
  mpirun -n 3 python3 -m mpi4py.futures bench/peers/mpi4py_futures_tasks.py [--quick]
      the same, launched by hand: rank 0 runs this script, the other ranks are the workers

An MPIPoolExecutor on the launch's worker ranks, driven from rank 0:
  mpi4py_futures_tasks_sync   one empty task submitted and its result awaited, repeated
                              (ferry: single_client_tasks_sync)
  mpi4py_futures_tasks_async  1,000 empty tasks submitted, then all awaited, repeated
                              (ferry: single_client_tasks_async)
Each prints {"name", "value", "unit": "per_s", "workers", "system": "mpi4py.futures", "cores"};
if mpi4py or mpirun is missing, or a figure does not finish in --timeout seconds, a skipped
line instead. Environment: MPIRUN (default mpirun) for the first form.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

NAMES = ["mpi4py_futures_tasks_sync", "mpi4py_futures_tasks_async"]
RANK_ENV = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALNRANKS")


def empty(i=None):
    return None


def under_mpi():
    return any(v in os.environ for v in RANK_ENV)


def launch(args):
    """Runs this script under mpirun with WORKERS + 1 ranks, relaying its JSON lines and
    filling in a skipped line for every figure it did not print."""
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        pc.emit_skipped(NAMES, "python3-mpi4py is not installed")
        return 0
    mpirun = os.environ.get("MPIRUN", "mpirun")
    if shutil.which(mpirun) is None:
        pc.emit_skipped(NAMES, "%s not found" % mpirun)
        return 0
    cmd = [mpirun]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["--oversubscribe", "-n", str(args.workers + 1), sys.executable, "-m",
            "mpi4py.futures", os.path.abspath(__file__)] + sys.argv[1:]
    print("mpi4py_futures_tasks: " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=args.timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
    import json
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            pc.emit(json.loads(line))
        except ValueError:
            print(line, file=sys.stderr)
    why = ("timed out" if proc.returncode in (-9, 124, 137)
           else "mpirun exited with status %s" % proc.returncode)
    pc.emit_skipped(NAMES, why)
    return 0


def main():
    args = pc.parse_args(sys.argv[1:], "mpi4py.futures task rates (ferry's peers)")
    if not under_mpi():
        return launch(args)
    from mpi4py import MPI
    from mpi4py.futures import MPIPoolExecutor
    workers = MPI.COMM_WORLD.Get_size() - 1
    if workers < 1:
        pc.emit_skipped(NAMES, "needs at least 2 ranks (python3 -m mpi4py.futures)")
        return 0
    pc.watchdog(args.timeout, NAMES)
    common = {"unit": "per_s", "workers": workers, "system": "mpi4py.futures",
              "cores": pc.cores()}
    with MPIPoolExecutor() as executor:
        executor.bootup(wait=True)

        def sync_once():
            executor.submit(empty).result()
            return 1

        def async_once():
            futures = [executor.submit(empty, i) for i in range(args.batch)]
            for f in futures:
                f.result()
            return args.batch

        warm = 0.1 if args.quick else 0.5
        pc.emit(dict(name="mpi4py_futures_tasks_sync",
                     value=round(pc.rate(sync_once, args.seconds, warm), 1), **common))
        pc.emit(dict(name="mpi4py_futures_tasks_async",
                     value=round(pc.rate(async_once, args.seconds, warm), 1), **common))
    return 0


if __name__ == "__main__":
    sys.exit(main())
