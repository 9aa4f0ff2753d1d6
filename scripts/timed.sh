#!/usr/bin/env bash
# timed.sh NAME COMMAND...: run COMMAND, append "NAME SECONDS STATUS" to
# $STEP_TIMES (default target/step-times.txt) and exit with its status, so a
# long run (make test, CI) can print where its time went.
set -u
name=$1
shift
log=${STEP_TIMES:-target/step-times.txt}
mkdir -p "$(dirname "$log")"
start=$(date +%s)
"$@"
status=$?
echo "$name $(( $(date +%s) - start )) $status" >> "$log"
exit $status
