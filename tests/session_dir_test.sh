#!/usr/bin/env bash
# session_dir_test.sh MPIRUN... -- APP: runs APP on 2 ranks with FERRY_SESSION_DIR set and
# checks that each rank wrote its own log file there.
set -euo pipefail
launcher=()
while [[ $1 != -- ]]; do launcher+=("$1"); shift; done
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
FERRY_SESSION_DIR="$dir/session" FERRY_LOG_LEVEL=info "${launcher[@]}" -n 2 "$@" no-shutdown
for r in 0 1; do
  log="$dir/session/logs/rank-$r.log"
  [[ -s $log ]] || { echo "missing or empty: rank $r's log"; ls -lR "$dir"; exit 1; }
  grep -q "rank $r of 2" "$log" || { echo "rank $r's log does not name its rank:"; cat "$log"; exit 1; }
done
echo "session_dir_test: ok"
