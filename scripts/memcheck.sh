#!/usr/bin/env bash
# memcheck.sh LOG TEST [ENV=VALUE...]: build the integration test TEST
# (tests/TEST.rs) and run it under valgrind memcheck with the given
# environment. Fails on any memcheck error (invalid reads or writes, use of
# uninitialised values, bad frees: --error-exitcode) and on definite leaks
# (the only leak kind counted as an error: GLib and GStreamer keep
# "possibly lost" type and plugin data for the process's life).
set -euo pipefail
log=$1
test=$2
shift 2
mkdir -p "$(dirname "$log")"
bin=$(cargo test --features performance --test "$test" --no-run 2>&1 |
  sed -n "s/.*Executable.*(\(.*$test-[0-9a-f]*\)).*/\1/p")
[ -n "$bin" ] || { echo "memcheck: no test binary for $test" >&2; exit 1; }
status=0
env G_SLICE=always-malloc G_DEBUG=gc-friendly GST_DEBUG=0 "$@" \
  valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --error-exitcode=99 --num-callers=40 --suppressions=tests/churn.supp --log-file="$log" \
  "$bin" --nocapture --test-threads=1 || status=$?
grep -E "definitely lost:|indirectly lost:|possibly lost:|still reachable:|ERROR SUMMARY:|no leaks are possible" "$log" || true
if [ "$status" -ne 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
  echo "memcheck $test: FAILED (exit $status), see $log" >&2
  grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Syscall param|Source and destination)" "$log" | sort | uniq -c | head -20 >&2 || true
  exit 1
fi
echo "memcheck $test: 0 errors, definitely lost: 0 bytes"
