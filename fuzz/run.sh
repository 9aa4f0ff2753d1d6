#!/usr/bin/env bash
# Run the fuzz targets (cargo-fuzz / libFuzzer, no sanitizer: stable Rust).
#   fuzz/run.sh smoke [target...]  each target for FUZZ_RUNS executions
#                                  (default 1000000), then its regressions
#   fuzz/run.sh long  [target...]  each target for FUZZ_SECONDS (default 600)
# Seeds are generated on first use (fuzz/gen-corpus.sh) into fuzz/corpus;
# findings land in fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-smoke}
shift || true
ALL="rtp_parse h264_depay h265_depay h264_pay h265_pay pcm_depay pcm_pay mp2t_depay mp2t_pay
opus_depay opus_pay vraw_depay vraw_pay simd_kernels"
targets=${*:-$ALL}
FUZZ_RUNS=${FUZZ_RUNS:-1000000}
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
# Per-input limits: a hang is an input over FUZZ_TIMEOUT seconds, a leak or
# unbounded growth one over FUZZ_RSS_MB resident / FUZZ_MALLOC_MB in one
# allocation.
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1024}
FUZZ_MALLOC_MB=${FUZZ_MALLOC_MB:-256}

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: make deps" >&2; exit 1; }
# cargo-fuzz has no --locked: check first that the committed Cargo.lock is
# what the build resolves, so a build never rewrites it.
cargo metadata --locked --format-version 1 >/dev/null || {
  echo "fuzz/Cargo.lock is out of date: run 'cargo update -w' in fuzz/ and commit it" >&2
  exit 1
}
[ -d corpus ] || ./gen-corpus.sh
# Stable Rust: no sanitizer (ASan needs nightly's -Zsanitizer); coverage
# instrumentation and libFuzzer work as they are. Debug assertions (and
# overflow checks) stay on.
cargo fuzz build -s none --release --debug-assertions
host=$(rustc -vV | sed -n 's/^host: //p')
bin=target/$host/release

dict_of() {
  case $1 in
    rtp_parse) echo rtp ;;
    h264_*) echo h264 ;;
    h265_*) echo h265 ;;
    pcm_*) echo pcm ;;
    mp2t_*) echo mp2t ;;
    opus_*) echo opus ;;
    vraw_*) echo vraw ;;
    simd_*) echo simd ;;
  esac
}
max_len_of() {
  case $1 in
    *_depay) echo 16384 ;;
    # Vector blocks are 16..64 bytes: longer inputs only slow the scalar
    # twins (instrumented byte loops) down.
    simd_kernels) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  limit=(-runs="$FUZZ_RUNS")
  [ "$mode" = long ] && limit=(-max_total_time="$FUZZ_SECONDS")
  start=$(date +%s.%N)
  log=artifacts/$t/last-run.log
  if ! "$bin/$t" "${limit[@]}" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
    -malloc_limit_mb="$FUZZ_MALLOC_MB" -max_len="$(max_len_of "$t")" \
    -dict="dict/$(dict_of "$t").dict" -artifact_prefix="artifacts/$t/" \
    -print_final_stats=1 "corpus/$t" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/, log $log)" >&2
    exit 1
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  printf 'fuzz: %-13s %9s execs in %6.1fs (%6.0f/s), %s, corpus %s\n' \
    "$t" "$runs" "$secs" "$(awk -v n="$runs" -v s="$secs" 'BEGIN { print n / s }')" "$cov" "$(ls "corpus/$t" | wc -l)"
  # Regressions: inputs that once failed, run as they are.
  if [ -d "regressions/$t" ] && [ -n "$(ls -A "regressions/$t")" ]; then
    "$bin/$t" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" regressions/"$t"/* \
      >"artifacts/$t/regressions.log" 2>&1 ||
      { tail -30 "artifacts/$t/regressions.log" >&2; echo "fuzz: $t regression FAILED" >&2; exit 1; }
  fi
done
