#!/usr/bin/env bash
# A run saved with DP=2 resumes with DP=4, and one saved with TP=2 resumes with TP=1; both
# continue the losses of an uninterrupted single-rank run to float tolerance.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
"$SR_BIN" data from-text /usr/share/common-licenses/* --out "$work/data.h5" --sample-tokens 256 >/dev/null || exit 1
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path "$work/data.h5" --train.threads 1
      --train.global_batch_tokens 2048 --train.micro_batch_tokens 512 --train.steps 6 --train.log_every 100)
run() { "$@" >"$work/log" 2>&1 || { echo "FAIL: $*"; cat "$work/log"; exit 1; }; }
losses() { sed 's/.*"loss": \([0-9.]*\).*/\1/' "$1/metrics.jsonl" | tr '\n' ' '; }

run "$SR_BIN" train "${args[@]}" --train.out_dir "$work/straight"
for pair in "2 1 4 1" "2 2 1 1"; do
  read -r np1 tp1 np2 tp2 <<<"$pair"
  out="$work/np${np1}tp${tp1}_np${np2}tp${tp2}"
  run mpirun -np "$np1" --oversubscribe "$SR_BIN" train "${args[@]}" --train.out_dir "$out" \
    --parallel.tp "$tp1" --train.steps 3
  run mpirun -np "$np2" --oversubscribe "$SR_BIN" train "${args[@]}" --train.out_dir "$out" --parallel.tp "$tp2"
  grep -q "resumed from .*step_00000003" "$work/log" || { echo "FAIL: $out did not resume"; fail=1; }
  awk -v a="$(losses "$work/straight")" -v b="$(losses "$out")" -v what="$out" 'BEGIN {
    n = split(a, x, " "); m = split(b, y, " ");
    if (n != 6 || m != 6) { print "FAIL: " what ": want 6 losses each, got " n " and " m; exit 1 }
    for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d;
      if (d > 1e-4 * x[i]) { print "FAIL: " what " step " i ": " y[i] " vs " x[i]; exit 1 } } }' || fail=1
done
[ "$fail" -eq 0 ] && echo "OK: resume across layouts (DP 2 -> 4, TP 2 -> 1)"
exit "$fail"
