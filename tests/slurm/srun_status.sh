#!/usr/bin/env bash
# srun_status.sh srun-arguments...
#   Runs srun and exits with the ferry driver's (rank 0's) exit status, which ranks record in
#   FERRY_EXIT_STATUS_DIR: srun's own status reflects every task, the killed ones too.
set -u
status_dir=$(mktemp -d)
export FERRY_EXIT_STATUS_DIR=$status_dir
srun "$@"
srun_rc=$?
if [[ -r $status_dir/rank-0 ]]; then
  rc=$(cat "$status_dir/rank-0")
else
  echo "srun_status: rank 0 left no exit status (srun exited $srun_rc)"
  rc=1
fi
rm -rf "$status_dir"
exit "$rc"
