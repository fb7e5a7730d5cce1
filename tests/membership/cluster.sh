#!/usr/bin/env bash
# cluster.sh [options] -- APP ARGS...
#   Starts APP ARGS... as the driver of a cluster that accepts joins (its session directory in a
#   fresh temporary directory), then starts joiners of the same or another binary pointed at that
#   directory, waits for everything (bounded) and checks every exit status.
#   --join N[:ENV=V,...]      N joiners of APP with these extra environment variables (repeatable;
#                             "@head" in a value stands for the head's host:port)
#   --refused BIN[:ENV=V,...] one joiner that must be refused, started (and awaited) before the
#                             others: BIN (default APP) exits non-zero and says why; the driver
#                             names the refusal too
#   --within S                every process is given S seconds (default 120)
# Exits 0 when the driver exited 0, every joiner as expected; prints every process's output.
set -u
joins=() refused=() within=120
while [[ $1 != -- ]]; do
  case $1 in
    --join) joins+=("$2"); shift 2 ;;
    --refused) refused+=("$2"); shift 2 ;;
    --within) within=$2; shift 2 ;;
    *) echo "cluster.sh: unknown option $1"; exit 2 ;;
  esac
done
shift
app=$1
dir=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

FERRY_SESSION_DIR=$dir/session FERRY_ACCEPT_JOINS=1 FERRY_HEAD_CPUS=${FERRY_HEAD_CPUS:-0} \
  timeout -k 5 "$within" "$@" >"$dir/driver.out" 2>&1 &
driver=$!
pids+=("$driver")
for _ in $(seq 200); do [[ -s $dir/session/head ]] && break; sleep 0.05; done
[[ -s $dir/session/head ]] || { echo "cluster.sh: the driver wrote no head file in 10 s"; cat "$dir/driver.out"; exit 1; }
echo "cluster.sh: session $(cat "$dir/session/head"), token file mode $(stat -c %a "$dir/session/token")"

# start_joiner NAME BIN ENVSPEC: a joiner pointed at the session directory.
start_joiner() {
  local name=$1 bin=$2 spec=$3 envs=()
  [[ -n $spec ]] && IFS=, read -ra envs <<<"${spec//@head/$(cat "$dir/session/head")}"
  env FERRY_ADDRESS="$dir/session" "${envs[@]}" timeout -k 5 "$within" "$bin" joiner \
    >"$dir/$name.out" 2>&1 &
  pids+=("$!")
  eval "pid_$name=$!"
}
bad=0
r=0
for spec in "${refused[@]}"; do
  bin=${spec%%:*} envspec=""
  [[ $spec == *:* ]] && envspec=${spec#*:}
  [[ -z $bin ]] && bin=$app
  r=$((r + 1))
  start_joiner "refused$r" "$bin" "$envspec"
  eval "p=\$pid_refused$r"
  wait "$p"
  rc=$?
  echo "--- refused$r ($bin) exited $rc:"
  cat "$dir/refused$r.out"
  if ((rc == 0 || rc == 124 || rc == 137)); then echo "cluster.sh: refused$r was not refused"; bad=1; fi
  grep -q "refused this process" "$dir/refused$r.out" || { echo "cluster.sh: refused$r does not say it was refused"; bad=1; }
done

names=()
k=0
for spec in "${joins[@]}"; do
  n=${spec%%:*} envspec=""
  [[ $spec == *:* ]] && envspec=${spec#*:}
  for _ in $(seq "$n"); do
    k=$((k + 1))
    start_joiner "joiner$k" "$app" "$envspec"
    names+=("joiner$k")
  done
done
wait "$driver"
drc=$?
echo "--- driver exited $drc:"
cat "$dir/driver.out"
((drc == 0)) || bad=1
for name in "${names[@]}"; do
  eval "p=\$pid_$name"
  wait "$p"
  rc=$?
  echo "--- $name exited $rc (last lines):"
  tail -n 5 "$dir/$name.out"
  ((rc == 0)) || { echo "cluster.sh: $name exited $rc"; bad=1; }
done
if ((${#refused[@]} > 0)); then
  grep -q "refused a node joining" "$dir/driver.out" || { echo "cluster.sh: the driver did not name the refusal"; bad=1; }
fi
((bad == 0)) && echo "cluster.sh: ok"
exit "$bad"
