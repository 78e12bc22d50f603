#!/usr/bin/env bash
# A stopped rank under mpirun -np 2 with watchdog_seconds 5: SIGSTOP to one rank in the middle
# of training must end the job every time (wherever the other rank waits: a tensor collective
# or a host scalar), with a message naming the collective and the rank that did not arrive.
# Tried on each rank in turn.
set -u
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
fail=0
"$SR_BIN" data from-text /usr/share/common-licenses/* --out "$work/data.h5" --sample-tokens 512 >/dev/null || exit 1

wait_for_steps() {  # wait_for_steps <metrics> <n>
  for _ in $(seq 600); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

for victim in 1 0; do
  out="$work/run$victim"
  mpirun -np 2 --oversubscribe "$SR_BIN" train --config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" \
    --data.path "$work/data.h5" --train.out_dir "$out" --train.threads 1 --train.log_every 1000 \
    --train.steps 100000 --checkpoint.every 0 --parallel.watchdog_seconds 5 \
    >"$work/log$victim" 2>"$work/err$victim" &
  mpirun_pid=$!
  pids+=("$mpirun_pid")
  wait_for_steps "$out/metrics.jsonl" $((2 + 3 * victim)) ||
    { echo "FAIL: no progress"; cat "$work/err$victim"; exit 1; }
  pid=$(awk -v r="$victim" '$1 == "#" && $2 == r { print $3 }' "$work/log$victim")
  [ -n "$pid" ] || { echo "FAIL: no pid of rank $victim in the grid table"; exit 1; }
  pids+=("$pid")
  start=$SECONDS
  kill -STOP "$pid"
  # The job must end by itself: 5 s of watchdog plus the time to ask who is missing.
  for _ in $(seq 600); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$mpirun_pid" 2>/dev/null; then
    echo "FAIL: SIGSTOP of rank $victim: the job still runs after $((SECONDS - start)) s"
    fail=1
    kill -CONT "$pid"
    kill -9 "$mpirun_pid" "$pid" 2>/dev/null
    continue
  fi
  wait "$mpirun_pid"
  rc=$?
  [ "$rc" -ne 0 ] || { echo "FAIL: SIGSTOP of rank $victim: the job exited 0"; fail=1; }
  grep -q "did not finish in 5 s: rank $victim did not arrive" "$work/err$victim" ||
    { echo "FAIL: SIGSTOP of rank $victim: stderr does not name it:"; cat "$work/err$victim"; fail=1; }
  grep -q "smoothread: collective [a-z_]*(" "$work/err$victim" ||
    { echo "FAIL: SIGSTOP of rank $victim: stderr does not name the collective"; fail=1; }
  echo "ok   SIGSTOP of rank $victim: exit $rc after $((SECONDS - start)) s: $(grep -m1 'did not arrive' "$work/err$victim")"
done
[ "$fail" -eq 0 ] && echo "OK: a stopped rank ends the job"
exit "$fail"
