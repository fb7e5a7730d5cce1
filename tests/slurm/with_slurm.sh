#!/usr/bin/env bash
# with_slurm.sh DIR -- command...
#   Starts a private Slurm cluster on this machine (munged, slurmctld and slurmd, one node
#   declaring 8 CPUs, on free ports, everything under DIR), runs the command with SLURM_CONF
#   pointing at it, stops the daemons it started (by pid) and exits with the command's status.
#   Needs root (slurmd) and Debian's slurm-wlm and munge.
set -u
dir=$1
shift
[[ ${1:-} == -- ]] && shift
for b in munged munge slurmctld slurmd sinfo srun; do
  command -v "$b" >/dev/null || { echo "with_slurm: '$b' not found (apt install slurm-wlm munge)"; exit 1; }
done
rm -rf "$dir"
mkdir -p "$dir"/state "$dir"/spool "$dir"/log
dir=$(cd "$dir" && pwd)

stop() {
  local p pids=()
  for p in slurmd slurmctld munged; do
    [[ -s $dir/$p.pid ]] && pids+=("$(cat "$dir/$p.pid")")
  done
  ((${#pids[@]} == 0)) && return
  kill "${pids[@]}" 2>/dev/null
  local alive
  for _ in $(seq 100); do  # gone within 10 s
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return
    sleep 0.1
  done
  echo "with_slurm: daemons ${pids[*]} still running 10 s after SIGTERM"
}
trap stop EXIT

dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$dir/munge.key"
munged --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
  --log-file="$dir/log/munged.log" --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" ||
  { echo "with_slurm: munged did not start"; exit 1; }

read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
host=$(hostname -s)
cat >"$dir/slurm.conf" <<CONF
ClusterName=ferrytest
FirstJobId=$((RANDOM * 50 + 1000))
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -c -i || { echo "with_slurm: slurmctld did not start"; cat "$dir/log/slurmctld.log"; exit 1; }
slurmd || { echo "with_slurm: slurmd did not start"; cat "$dir/log/slurmd.log"; exit 1; }
for _ in $(seq 60); do
  [[ $(sinfo -h -o %t 2>/dev/null) == idle ]] && break
  sleep 0.5
done
if [[ $(sinfo -h -o %t 2>/dev/null) != idle ]]; then
  echo "with_slurm: the node did not become idle within 30 s"
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log"
  exit 1
fi
echo "with_slurm: cluster up ($SLURM_CONF)"
"$@"
