#!/usr/bin/env bash
# The collective watchdog: under mpirun -np 2, rank 1 never joins an all_reduce that rank 0
# waits on with a 2 s watchdog. The job must end by itself, soon, with a non-zero status, and
# stderr must name the collective and the missing rank (instead of hanging until the
# wall-clock limit).
set -u
bin="$(dirname "$SR_BIN")/tests/mpi_tests"
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
err=$(mktemp)
trap 'rm -f "$err"' EXIT

start=$SECONDS
SR_TEST_HANG=1 timeout 60 mpirun -np 2 --oversubscribe -x SR_TEST_HANG \
  "$bin" --gtest_filter='CommWatchdog.*' >/dev/null 2>"$err"
rc=$?
elapsed=$((SECONDS - start))

fail=0
if [ "$rc" -eq 0 ]; then echo "FAIL: the job exited 0"; fail=1; fi
if [ "$rc" -eq 124 ]; then echo "FAIL: the job was still running after 60 s"; fail=1; fi
if [ "$elapsed" -gt 30 ]; then echo "FAIL: the job took $elapsed s to end (want < 30)"; fail=1; fi
want='collective all_reduce(1024 f32) on 2 ranks did not finish in 2 s: rank 1 did not arrive'
if ! grep -qF "$want" "$err"; then echo "FAIL: stderr does not say: $want"; fail=1; fi
if [ "$fail" -ne 0 ]; then
  echo "--- stderr (exit $rc after $elapsed s) ---"
  cat "$err"
  exit 1
fi
echo "OK: watchdog ended the job with exit $rc after $elapsed s"
