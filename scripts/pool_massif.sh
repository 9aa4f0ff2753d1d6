#!/usr/bin/env bash
# Peak heap and heap allocations per buffer of the rsrtpfast pool, measured
# with valgrind (memcheck for the malloc count, massif for the peak) and,
# when installed, heaptrack. Compares pool::acquire with gst::Buffer::with_size
# on the same workload (tests/pool_alloc.rs `steady_child`: 60 header
# packets + payload memory per frame, one 256 KiB access unit per frame).
# G_SLICE=always-malloc so GLib 2.74's slice magazines do not hide
# GstBuffer/GstMemory allocations.
#   usage: scripts/pool_massif.sh [frames_small] [frames_large]
set -euo pipefail
cd "$(dirname "$0")/.."
F1=${1:-100}
F2=${2:-600}
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
BIN=$(cargo test --release --test pool_alloc --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*pool_alloc[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$BIN" ] || { echo "could not build tests/pool_alloc.rs" >&2; exit 1; }
export G_SLICE=always-malloc
OUT=$(mktemp -d)
allocs() { # $1 frames, $2 plain?
  POOL_STEADY_FRAMES=$1 POOL_STEADY_PLAIN=$2 valgrind --tool=memcheck --leak-check=no \
    "$BIN" --ignored --exact steady_child --test-threads=1 2>&1 >/dev/null \
    | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,
}
for mode in pool plain; do
  if [ $mode = plain ]; then P=1; else P=; fi
  [ -z "$P" ] && unset POOL_STEADY_PLAIN || true
  a1=$(allocs "$F1" "$P"); a2=$(allocs "$F2" "$P")
  per=$(awk -v a="$a1" -v b="$a2" -v f1="$F1" -v f2="$F2" 'BEGIN{printf "%.4f", (b-a)/((f2-f1)*61)}')
  POOL_STEADY_FRAMES=$F2 POOL_STEADY_PLAIN=$P valgrind --tool=massif --pages-as-heap=no \
    --massif-out-file="$OUT/massif.$mode" "$BIN" --ignored --exact steady_child --test-threads=1 >/dev/null 2>&1
  peak=$(grep mem_heap_B "$OUT/massif.$mode" | cut -d= -f2 | sort -n | tail -1)
  echo "$mode: allocations per buffer $per ($a1 allocs for $F1 frames, $a2 for $F2); peak heap $((peak / 1024)) KiB (massif, mmap'd slabs not included)"
done
if command -v heaptrack >/dev/null; then
  POOL_STEADY_FRAMES=$F2 heaptrack -o "$OUT/heaptrack.pool" "$BIN" --ignored --exact steady_child --test-threads=1 >/dev/null 2>&1 || true
  f=$(ls "$OUT"/heaptrack.pool* 2>/dev/null | head -1)
  [ -n "$f" ] && heaptrack_print "$f" 2>/dev/null | grep -E "^(calls to allocation functions|peak heap memory consumption)" | sed 's/^/heaptrack pool: /'
fi
rm -rf "$OUT"
