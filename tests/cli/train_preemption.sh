#!/usr/bin/env bash
# Preemption under mpirun -np 2: SIGUSR1 to one rank makes both checkpoint at the same step
# and exit 75; resuming continues from the next step and finishes. Then SIGTERM on one rank
# of a single-rank run does the same.
set -u
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
fail=0
"$SR_BIN" data from-text /usr/share/common-licenses/* --out "$work/data.h5" --sample-tokens 512 >/dev/null || exit 1
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path "$work/data.h5"
      --train.threads 1 --train.log_every 1000 --checkpoint.every 0)

wait_for_steps() {  # wait_for_steps <metrics> <n>
  for _ in $(seq 600); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

check_resume() {  # check_resume <out_dir> <launcher...>
  local out=$1 stopped resumed_out
  shift
  stopped=$(tail -n 1 "$out/metrics.jsonl" | sed 's/.*"step": \([0-9]*\).*/\1/')
  grep -q "step_$(printf %08d "$stopped")" "$out/checkpoints/latest" ||
    { echo "FAIL: latest does not name step $stopped"; fail=1; }
  resumed_out=$("$@" "$SR_BIN" train "${args[@]}" --train.out_dir "$out" --train.steps $((stopped + 3)) 2>&1)
  [ $? -eq 0 ] || { echo "FAIL: resume exited non-zero: $resumed_out"; fail=1; }
  echo "$resumed_out" | grep -q "resumed from .*step_$(printf %08d "$stopped")" ||
    { echo "FAIL: no 'resumed from' step $stopped: $resumed_out"; fail=1; }
  local steps
  steps=$(sed 's/.*"step": \([0-9]*\).*/\1/' "$out/metrics.jsonl" | tr '\n' ' ')
  local expect
  expect="$(seq -s ' ' 1 $((stopped + 3))) "
  [ "$steps" == "$expect" ] || { echo "FAIL: steps in metrics are '$steps', want '$expect'"; fail=1; }
}

# Two ranks, SIGUSR1 to rank 1 only (its pid from the printed grid table).
out="$work/mpi"
mpirun -np 2 --oversubscribe "$SR_BIN" train "${args[@]}" --train.steps 400 --train.out_dir "$out" > "$work/mpi.log" 2>&1 &
pids+=($!)
mpirun_pid=$!
wait_for_steps "$out/metrics.jsonl" 3 || { echo "FAIL: no progress"; cat "$work/mpi.log"; exit 1; }
rank1=$(awk '$1 == "#" && $2 == "1" { print $3 }' "$work/mpi.log")
[ -n "$rank1" ] || { echo "FAIL: no pid of rank 1 in the grid table"; cat "$work/mpi.log"; exit 1; }
kill -USR1 "$rank1"
wait "$mpirun_pid"
rc=$?
[ "$rc" -eq 75 ] || { echo "FAIL: preempted job exited $rc, want 75"; tail -5 "$work/mpi.log"; fail=1; }
grep -q "preempted: checkpointed step" "$work/mpi.log" || { echo "FAIL: no preemption line"; fail=1; }
check_resume "$out" mpirun -np 2 --oversubscribe

# One rank, SIGTERM.
out="$work/single"
"$SR_BIN" train "${args[@]}" --train.steps 400 --train.out_dir "$out" > "$work/single.log" 2>&1 &
pid=$!
pids+=($pid)
wait_for_steps "$out/metrics.jsonl" 2 || { echo "FAIL: no progress"; exit 1; }
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 75 ] || { echo "FAIL: SIGTERM run exited $rc, want 75"; fail=1; }
check_resume "$out"

[ "$fail" -eq 0 ] && echo "OK: preemption and resume"
exit "$fail"
