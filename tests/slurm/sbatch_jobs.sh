#!/usr/bin/env bash
# sbatch_jobs.sh SCENARIO BUILD_DIR: ferry under a real Slurm (run inside with_slurm.sh).
#   template-srun   the sbatch template runs the heat sweep on 4 tasks with srun --mpi=pmix
#   template-mpirun the sbatch template runs it with ferry-mpirun inside the allocation
#   two-clusters    two jobs of the template at once on the one node: separate session
#                   directories (keyed by job and step), no fixed port, both right
#   walltime        a driver on this host, two worker nodes as sbatch jobs of the template
#                   joining it by the session directory; one job gets the walltime signal
#                   (USR1, as srun --signal sends it, here from scancel): it drains and its job
#                   ends 0, no result lost
#   autoscaler      the autoscaler with the Slurm provider grows the driver alone to 2
#                   sbatch-job workers under load and drains them when idle
#   autoscaler-srun the same inside one allocation: the driver runs in a batch job and its
#                   workers are srun steps of that job
# Prints every job's output; ends with "sbatch_jobs: ok" on success.
set -u
scenario=$1 build=$2
template=$build/share/ferry/slurm/ferry.sbatch
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-sbatch-XXXXXX")
# The jobs' session directories (node-local, keyed by job id) go with the work directory.
cleanup() {
  local f
  for f in "$work"/*.id; do
    [[ -e $f ]] && rm -rf "${TMPDIR:-/tmp}/ferry-$(id -u)-slurm-$(cat "$f")".*
  done
  rm -rf "$work"
}
trap cleanup EXIT
export PATH=$build/bin:$PATH
fail() { echo "sbatch_jobs: FAILED: $*"; exit 1; }

# submit NAME sbatch-args...: submits, records the job id in $work/NAME.id
submit() {
  local name=$1
  shift
  local id
  id=$(sbatch --parsable --output="$work/$name.out" "$@") || fail "sbatch $name"
  echo "${id%%;*}" >"$work/$name.id"
  echo "sbatch_jobs: $name is job $(cat "$work/$name.id")"
}
# await NAME SECONDS: waits for the job to leave the queue, prints its output and exit code.
await() {
  local name=$1 within=$2 id
  id=$(cat "$work/$name.id")
  for _ in $(seq $((within * 5))); do
    [[ -z $(squeue -h -j "$id" -o %T 2>/dev/null) ]] && break
    sleep 0.2
  done
  [[ -z $(squeue -h -j "$id" -o %T 2>/dev/null) ]] || { scancel "$id"; fail "$name still queued or running after ${within} s"; }
  echo "--- $name (job $id):"
  cat "$work/$name.out" 2>/dev/null
}
# A batch job's exit code, as its output's last line records it (no accounting here).
ran_ok() { grep -q "^sbatch_jobs: exit 0$" "$work/$1.out"; }
# wrap: the template run by a tiny batch script that prints the template's exit status.
wrap() {
  local name=$1
  shift
  cat >"$work/$name.sh" <<SCRIPT
#!/bin/bash
"$template" "\$@"
echo "sbatch_jobs: exit \$?"
SCRIPT
  chmod +x "$work/$name.sh"
  echo "$work/$name.sh"
}

heat=$build/examples/ferry-heat-sweep
case $scenario in
  template-srun)
    submit run --ntasks=4 --nodes=1 --cpus-per-task=1 "$(wrap run)" "$heat"
    await run 120
    ran_ok run && grep -q "all checks passed" "$work/run.out" || fail "the sweep did not pass"
    ;;
  template-mpirun)
    FERRY_LAUNCHER=mpirun FERRY_MPIRUN_ARGS="--allow-run-as-root --oversubscribe" \
      submit run --ntasks=4 --nodes=1 --cpus-per-task=1 "$(wrap run)" "$heat"
    await run 120
    ran_ok run && grep -q "all checks passed" "$work/run.out" || fail "the sweep did not pass"
    ;;
  two-clusters)
    FERRY_LOG_LEVEL=info submit a --ntasks=2 --nodes=1 --cpus-per-task=2 "$(wrap a)" "$heat"
    FERRY_LOG_LEVEL=info submit b --ntasks=2 --nodes=1 --cpus-per-task=2 "$(wrap b)" "$heat"
    await a 180
    await b 180
    for j in a b; do
      ran_ok $j && grep -q "all checks passed" "$work/$j.out" || fail "job $j did not pass"
    done
    # Each cluster's session directory on the node, keyed by its job and step (step 0: the
    # template's srun); each head listened on a port of its own; the two ran at the same time.
    ports=() spans=()
    for j in a b; do
      sdir=${TMPDIR:-/tmp}/ferry-$(id -u)-slurm-$(cat "$work/$j.id").0
      log=$sdir/logs/rank-0.log
      [[ -s $log ]] || fail "job $j left no session directory keyed by its job and step ($sdir)"
      ports+=("$(grep -o "accepting joining nodes at [^ ]*" "$log" | head -1)")
      spans+=("$(head -1 "$log" | awk '{print $2}') $(tail -1 "$log" | awk '{print $2}')")
      echo "sbatch_jobs: job $j: $sdir, ${ports[-1]}, ran ${spans[-1]}"
    done
    [[ -n ${ports[0]} && ${ports[0]} != "${ports[1]}" ]] || fail "the heads did not listen on ports of their own"
    read -r a0 a1 <<<"${spans[0]}"
    read -r b0 b1 <<<"${spans[1]}"
    [[ $b0 < $a1 && $a0 < $b1 ]] || fail "the two clusters did not run at the same time"
    ;;
  walltime)
    export FERRY_SESSION_DIR=$work/session FERRY_ACCEPT_JOINS=1 FERRY_HEAD_CPUS=0
    timeout 200 "$build/tests/test_membership" walltime 2 >"$work/driver.out" 2>&1 &
    driver=$!
    for _ in $(seq 200); do [[ -s $work/session/head ]] && break; sleep 0.05; done
    [[ -s $work/session/head ]] || fail "the driver wrote no head file"
    unset FERRY_SESSION_DIR FERRY_ACCEPT_JOINS FERRY_HEAD_CPUS
    for j in w1 w2; do
      FERRY_ADDRESS=$work/session submit $j --ntasks=1 --cpus-per-task=2 --time=10 \
        "$(wrap $j)" "$build/tests/test_membership"
    done
    for _ in $(seq 600); do grep -q "walltime: ready" "$work/driver.out" && break; sleep 0.2; done
    grep -q "walltime: ready" "$work/driver.out" || { kill "$driver"; cat "$work/driver.out"; fail "the driver never got going"; }
    scancel --signal=USR1 "$(cat "$work/w1.id")" || fail "scancel --signal=USR1"
    wait "$driver"
    drc=$?
    echo "--- driver exited $drc:"
    cat "$work/driver.out"
    await w1 60
    await w2 60
    ((drc == 0)) || fail "the driver exited $drc"
    ran_ok w1 || fail "the drained worker's job did not end 0"
    grep -q "draining (SIGUSR1 received)" "$work/w1.out" || fail "the worker did not drain on USR1"
    ;;
  autoscaler)
    export FERRY_SESSION_DIR=$work/session FERRY_HEAD_CPUS=1 FERRY_AUTOSCALER_PROVIDER=slurm \
      FERRY_LOG_LEVEL=info \
      FERRY_AUTOSCALER_SLURM_TEMPLATE=$template FERRY_AUTOSCALER_MAX_WORKERS=2 \
      FERRY_AUTOSCALER_IDLE_TIMEOUT_S=3 FERRY_AUTOSCALER_PERIOD_MS=200 \
      FERRY_AUTOSCALER_SLURM_ARGS="--cpus-per-task=2 --time=10"
    timeout 200 "$build/tests/test_membership" autoscale 2 >"$work/driver.out" 2>&1
    drc=$?
    echo "--- driver exited $drc:"
    cat "$work/driver.out"
    grep -h "autoscaler" "$work/session/logs/rank-0.log"
    for f in "$work"/session/logs/slurm-node-*.out; do
      [[ -e $f ]] || continue
      echo "--- $f:"
      tail -n 5 "$f"
    done
    ((drc == 0)) || fail "the driver exited $drc"
    grep -q "autoscaler: launching .* through slurm sbatch" "$work/session/logs/rank-0.log" ||
      fail "no launch through Slurm was logged"
    # The drained nodes' jobs end by themselves.
    for _ in $(seq 100); do [[ -z $(squeue -h) ]] && break; sleep 0.2; done
    [[ -z $(squeue -h) ]] || { squeue; fail "the nodes' jobs did not end"; }
    ;;
  autoscaler-srun)
    cat >"$work/driver.sh" <<SCRIPT
#!/bin/bash
export FERRY_SESSION_DIR=$work/session FERRY_HEAD_CPUS=1 FERRY_LOG_LEVEL=info
export FERRY_AUTOSCALER_PROVIDER=slurm FERRY_AUTOSCALER_SLURM_MODE=srun
export FERRY_AUTOSCALER_MAX_WORKERS=2 FERRY_AUTOSCALER_IDLE_TIMEOUT_S=3
export FERRY_AUTOSCALER_PERIOD_MS=200 FERRY_AUTOSCALER_SLURM_ARGS=--cpus-per-task=2
"$build/tests/test_membership" autoscale 2
echo "sbatch_jobs: exit \$?"
SCRIPT
    chmod +x "$work/driver.sh"
    submit run --ntasks=3 --cpus-per-task=2 "$work/driver.sh"
    await run 180
    grep -h "autoscaler" "$work/session/logs/rank-0.log"
    ran_ok run || fail "the driver's job did not end 0"
    grep -q "autoscale: ok" "$work/run.out" || fail "the driver did not pass"
    grep -q "autoscaler: launching .* through slurm srun" "$work/session/logs/rank-0.log" ||
      fail "no launch through srun was logged"
    ;;
  *) fail "unknown scenario $scenario" ;;
esac
echo "sbatch_jobs: ok"
