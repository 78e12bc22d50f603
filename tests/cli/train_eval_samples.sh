#!/usr/bin/env bash
# Held-out tasks read during training (train.eval_samples): at every eval_every-th step a
# metrics record with the accuracy, rounds and tokens per answer of each task x length, the
# same figures `smoothread eval` gives for the checkpoint of that step (data seed 4321, the same
# tasks, lengths and mode), also under TP=2; reading them leaves training bitwise unchanged; bad settings end
# with one line and exit 2 before training starts.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.bash"
cd "$work" || exit 1
lic=/usr/share/common-licenses
"$SR_BIN" data from-text "$lic/GPL-3" "$lic/Apache-2.0" --out train.h5 --sample-tokens 512 >/dev/null || exit 1

args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --model.sliding_window 512 --train.threads 1
      --train.log_every 1 --train.steps 4 --train.warmup_steps 1 --train.global_batch_tokens 2048
      --checkpoint.every 0 --data.path train.h5)
sample_args=(--train.eval_every 2 --train.eval_samples 2 --train.eval_tasks passkey,vartrack
             --train.eval_context_tokens 1k --train.eval_mode sr)

"$SR_BIN" train "${args[@]}" --train.out_dir off >off.log 2>&1 || { echo "FAIL: run without eval"; cat off.log; exit 1; }
"$SR_BIN" train "${args[@]}" "${sample_args[@]}" --train.out_dir on >on.log 2>&1 ||
  { echo "FAIL: run with train.eval_samples"; cat on.log; exit 1; }
mpirun -np 2 --oversubscribe "$SR_BIN" train "${args[@]}" "${sample_args[@]}" --parallel.tp 2 --train.out_dir tp2 \
  >tp2.log 2>&1 || { echo "FAIL: run with train.eval_samples under TP=2"; cat tp2.log; exit 1; }
"$SR_BIN" eval --checkpoint on --tasks passkey,vartrack --context-tokens 1k --samples 2 --data-seed 4321 \
  --mode sr --threads 1 --out-json eval.json --out-md eval.md >eval.log 2>&1 ||
  { echo "FAIL: smoothread eval of the step-4 checkpoint"; cat eval.log; exit 1; }

"$SR_PYTHON" - <<'PY' || fails=$((fails + 1))
import json, sys
def rows(run):
    return [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
bad = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        bad.append(what)
on, off = rows("on"), rows("off")
evals = [r for r in on if "eval_accuracy" in r]
check([r["step"] for r in evals] == [2, 4], "records at steps 2 and 4")
check(all(r["eval_samples"] == 4 and r["eval_read_mode"] == "sr" and len(r["eval_cells"]) == 2 for r in evals),
      "4 samples, mode sr, a cell per task")
check(all(0 <= r["eval_accuracy"] <= 1 and r["eval_rounds"] >= 1 and r["eval_tokens_per_answer"] > 0 for r in evals),
      "accuracy in [0, 1], at least one round and some tokens per answer")
strip = lambda r: {k: v for k, v in r.items() if k not in ("tokens_per_s", "model_tflops_per_s", "elapsed_s")}
steps_on = [strip(r) for r in on if "loss" in r]
steps_off = [strip(r) for r in off if "loss" in r]
check(steps_on == steps_off and len(steps_on) == 4, "training unchanged by the reading: the same 4 step records, bitwise")
want = json.load(open("eval.json"))["results"]
got = evals[-1]["eval_cells"]
same = [(w["task"], w["context_tokens"], w["accuracy"], w["mean_rounds"], w["mean_tokens"]) for w in want] == \
       [(g["task"], g["context_tokens"], g["accuracy"], g["mean_rounds"], g["mean_tokens"]) for g in got]
check(same, f"step 4 matches smoothread eval of the step-4 checkpoint: {got} vs {want}")
tp2 = [r for r in rows("tp2") if "eval_accuracy" in r]
check([r["step"] for r in tp2] == [2, 4] and all(len(r["eval_cells"]) == 2 for r in tp2),
      "TP=2 (the engine split as the model): records at steps 2 and 4, a cell per task")
sys.exit(1 if bad else 0)
PY
grep -q "eval step      2 | eval_samples 4 | eval_accuracy" on.log && echo "ok   progress line" ||
  { echo "FAIL: no 'eval step 2' progress line"; grep eval on.log; fails=$((fails + 1)); }

bad_args=("${args[@]}" --train.steps 2)
expect_user_error "eval_samples without eval_every" \
  "train.eval_samples = 2: expected 0 while train.eval_every = 0" \
  "$SR_BIN" train "${bad_args[@]}" --train.eval_samples 2 --train.out_dir bad1
expect_user_error "negative eval_samples" "train.eval_samples = -1: expected 0 (off) to 100000" \
  "$SR_BIN" train "${bad_args[@]}" "${sample_args[@]}" --train.eval_samples -1 --train.out_dir bad2
expect_user_error "unknown task" "train.eval_tasks" \
  "$SR_BIN" train "${bad_args[@]}" "${sample_args[@]}" --train.eval_tasks passkey,nosuchtask --train.out_dir bad3
expect_user_error "bad context list" "train.eval_context_tokens" \
  "$SR_BIN" train "${bad_args[@]}" "${sample_args[@]}" --train.eval_context_tokens 1k,,2k --train.out_dir bad4
expect_user_error "bad mode" "train.eval_mode" \
  "$SR_BIN" train "${bad_args[@]}" "${sample_args[@]}" --train.eval_mode twice --train.out_dir bad5
for d in bad1 bad2 bad3 bad4 bad5; do
  [ -e "$d/metrics.jsonl" ] && { echo "FAIL $d: training started (metrics.jsonl written)"; fails=$((fails + 1)); }
done

[ "$fails" -eq 0 ] && echo "OK: held-out tasks read during training"
exit "$fails"
