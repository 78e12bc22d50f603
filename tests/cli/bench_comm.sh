#!/usr/bin/env bash
# `smoothread bench comm`: under mpirun -np 2 it prints every collective's columns with the
# bus-bandwidth factors of nccl-tests; each bad option is a one-line error with exit code 2.
set -u
fail=0
out=$(mpirun -np 2 --oversubscribe "$SR_BIN" bench comm --min-bytes 1K --max-bytes 64K \
      --iters 2 --warmup 1 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: bench comm exited $rc"; echo "$out"; exit 1; fi
for c in all_reduce all_gather reduce_scatter; do
  echo "$out" | grep -q "^# $c: 2 ranks, device cpu" || { echo "FAIL: no $c block"; fail=1; }
done
echo "$out" | grep -q "algbw (GB/s) *busbw (GB/s)" || { echo "FAIL: no column header"; fail=1; }
# The 64 KiB rows (16384 f32), in the order all_reduce, all_gather, reduce_scatter: on 2 ranks
# busbw = algbw for all_reduce (2(n-1)/n = 1) and algbw / 2 for the others ((n-1)/n).
rows=$(echo "$out" | awk '$1 == 65536 && $2 == 16384 && $3 == "f32"')
[ "$(echo "$rows" | wc -l)" -eq 3 ] || { echo "FAIL: want three 64 KiB rows, got: $rows"; fail=1; }
echo "$rows" | awk 'NR == 1 { want = $5 } NR > 1 { want = $5 / 2 }
  { d = $6 - want; if (d < 0) d = -d; if (d > 0.011) { print "FAIL: busbw " $6 " for algbw " $5; bad = 1 } }
  END { exit bad }' || fail=1

bad() {  # bad <words...> <expected stderr text>: exit 2 and the text on stderr
  local want="${!#}" err rc
  err=$("$SR_BIN" bench comm "${@:1:$#-1}" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then echo "FAIL: '${*:1:$#-1}' exited $rc, want 2"; fail=1; fi
  if ! echo "$err" | grep -qF -- "$want"; then echo "FAIL: '${*:1:$#-1}' said: $err"; fail=1; fi
}
bad --device gpu "--device = 'gpu' is not a device (expected cpu or cuda)"
bad --max-bytes 3X "--max-bytes = '3X' is not a byte count"
bad --min-bytes 8M --max-bytes 1M "--min-bytes = 8M must be at least 1 and at most --max-bytes = 1M"
bad --iters 0 "--iters = 0 must be >= 1"
bad --warmup -1 "--warmup = -1 must be >= 0"
bad --bogus 1 "unrecognised option '--bogus'"

[ "$fail" -eq 0 ] && echo "OK: bench comm"
exit "$fail"
