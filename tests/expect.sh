#!/usr/bin/env bash
# expect.sh EXIT WITHIN_S PATTERN COUNT -- command...
#   Runs the command; passes if its exit status is EXIT ("nonzero" for any non-zero), it ended
#   within WITHIN_S seconds, and PATTERN (grep -E) occurs at least COUNT times in its output.
set -u
want_exit=$1 within=$2 pattern=$3 count=$4
shift 5
out=$(mktemp)
start=$(date +%s)
timeout --kill-after=5 "$((within + 30))" "$@" >"$out" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
cat "$out"
n=$(grep -cE -- "$pattern" "$out" || true)
rm -f "$out"
echo "expect: exit $rc after ${elapsed}s, pattern seen $n time(s)"
if [[ $want_exit == nonzero ]]; then
  ((rc != 0 && rc != 124 && rc != 137)) || { echo "expect: wanted a non-zero exit"; exit 1; }
else
  ((rc == want_exit)) || { echo "expect: wanted exit $want_exit"; exit 1; }
fi
((elapsed <= within)) || { echo "expect: took longer than ${within}s"; exit 1; }
((n >= count)) || { echo "expect: wanted '$pattern' at least $count time(s)"; exit 1; }
echo "expect: ok"
