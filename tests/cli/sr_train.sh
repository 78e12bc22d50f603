#!/usr/bin/env bash
# The demo model trains on a synthetic Smooth Reading dataset: synth builds it, inspect shows
# its trajectories, two training steps run on it with falling loss.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
# Chunks of 128-256 tokens, as for configs/train/sr-cpu.ini: they fit its 512-token window.
"$SR_BIN" data synth --task mix --context-tokens 1024 --samples 24 --chunk-tokens 128:256 \
  --out "$work/sr.h5" >/dev/null || { echo "FAIL: synth"; exit 1; }
"$SR_BIN" data inspect "$work/sr.h5" --sample 0 > "$work/inspect.txt" || { echo "FAIL: inspect"; exit 1; }
for tok in '<query>' '<chunk>' '<summary>' '<answer>' '<eos>'; do
  grep -qF "$tok" "$work/inspect.txt" || { echo "FAIL: inspect shows no $tok"; fail=1; }
done
grep -qE '<read>|<stop>' "$work/inspect.txt" || { echo "FAIL: no actions in the trajectory"; fail=1; }
"$SR_BIN" train --config "$SR_SOURCE_DIR/configs/train/sr-cpu.ini" --data.path "$work/sr.h5" \
  --train.out_dir "$work/run" --train.steps 6 --train.warmup_steps 1 --train.micro_batch_tokens 4096 \
  --train.global_batch_tokens 4096 --train.threads 1 >/dev/null 2>"$work/train.err" || { echo "FAIL: train"; exit 1; }
# Its 512-token window holds the chunks: no warning.
grep -q "longer than the model's" "$work/train.err" && { echo "FAIL: warned though the chunks fit"; fail=1; }
first=$(head -n 1 "$work/run/metrics.jsonl" | sed 's/.*"loss": \([0-9.]*\).*/\1/')
last=$(tail -n 1 "$work/run/metrics.jsonl" | sed 's/.*"loss": \([0-9.]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || { echo "FAIL: loss $first -> $last did not fall"; fail=1; }
# The same data on the tiny model, whose 64-token window is shorter than the chunks: a warning.
"$SR_BIN" train --config "$SR_SOURCE_DIR/configs/model/tiny.ini" --data.path "$work/sr.h5" \
  --train.out_dir "$work/tiny" --train.steps 1 --train.micro_batch_tokens 4096 \
  --train.global_batch_tokens 4096 --train.threads 1 >/dev/null 2>"$work/tiny.err" || { echo "FAIL: train tiny"; fail=1; }
grep -q "chunks of up to 256 tokens (128:256) are longer than the model's 64-token window" "$work/tiny.err" ||
  { echo "FAIL: no warning for chunks longer than the window:"; cat "$work/tiny.err"; fail=1; }
[ "$fail" -eq 0 ] && echo "OK: trains on Smooth Reading data (loss $first -> $last)"
exit "$fail"
