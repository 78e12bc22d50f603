#!/usr/bin/env bash
# Validation during training (train.eval_every, data.eval_path): eval records appear in
# metrics.jsonl at every eval_every-th step with a finite loss that falls as the model learns;
# evaluating does not change training (the same step records and bitwise the same final
# weights as a run without it); DP=2 evaluates the same held-out set to the same loss; and
# bad settings or a held-out dataset that does not fit end with one line and exit 2.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.bash"
cd "$work" || exit 1
lic=/usr/share/common-licenses
"$SR_BIN" data from-text "$lic/GPL-3" "$lic/Apache-2.0" "$lic/MPL-2.0" --out train.h5 --sample-tokens 512 >/dev/null || exit 1
"$SR_BIN" data from-text "$lic/LGPL-2.1" --out heldout.h5 --sample-tokens 512 >/dev/null || exit 1

args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --train.threads 1 --train.log_every 1
      --train.steps 12 --train.warmup_steps 2 --train.global_batch_tokens 2048 --checkpoint.every 0
      --data.path train.h5)
eval_args=(--data.eval_path heldout.h5 --train.eval_every 4 --train.eval_tokens 3000)

"$SR_BIN" train "${args[@]}" --train.out_dir off >off.log 2>&1 || { echo "FAIL: run without eval"; cat off.log; exit 1; }
"$SR_BIN" train "${args[@]}" "${eval_args[@]}" --train.out_dir on >on.log 2>&1 ||
  { echo "FAIL: run with eval"; cat on.log; exit 1; }
"$SR_BIN" train "${args[@]}" "${eval_args[@]}" --train.eval_every 0 --train.steps 4 --train.out_dir zero >zero.log 2>&1 ||
  { echo "FAIL: run with train.eval_every 0"; cat zero.log; exit 1; }
mpirun -np 2 --oversubscribe "$SR_BIN" train "${args[@]}" "${eval_args[@]}" --train.out_dir dp2 >dp2.log 2>&1 ||
  { echo "FAIL: run with eval under DP=2"; cat dp2.log; exit 1; }

"$SR_PYTHON" - <<'PY' || fails=$((fails + 1))
import glob, json, math, sys
import h5py, numpy as np

def records(run):
    rows = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
    steps = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval_loss" in r]
    return steps, evals

bad = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok: bad.append(what)

off_steps, off_evals = records("off")
on_steps, on_evals = records("on")
_, dp2_evals = records("dp2")
check(not off_evals, "no eval records without train.eval_every")
check(len(records("zero")[0]) == 4 and not records("zero")[1], "no eval records with train.eval_every = 0")
check([r["step"] for r in on_evals] == [4, 8, 12], f"eval records at steps 4, 8, 12: {[r['step'] for r in on_evals]}")
losses = [r["eval_loss"] for r in on_evals]
check(all(isinstance(x, float) and math.isfinite(x) for x in losses), f"eval losses finite: {losses}")
check(losses[-1] < losses[0], f"eval loss falls: {losses[0]} -> {losses[-1]}")
# The held-out set: the first samples of the file whose tokens fit train.eval_tokens = 3000.
with h5py.File("heldout.h5", "r") as f:
    lengths = np.diff(f["offsets"][:])
want = 0
for n in lengths:
    if want + n > 3000: break
    want += int(n)
check(len(lengths) > 6 and all(r["eval_tokens"] == want and 0 < r["eval_targets"] < want for r in on_evals),
      f"the held-out set is the first samples that fit train.eval_tokens ({want} tokens): {on_evals[0]}")
with open("want_tokens", "w") as f: f.write(str(want))
# Each eval record follows its step's record.
rows = [json.loads(l) for l in open("on/metrics.jsonl")]
order = [(r["step"], "eval" if "eval_loss" in r else "step") for r in rows]
check(all(order[order.index((s, "eval")) - 1] == (s, "step") for s in (4, 8, 12)), "each eval record follows its step")

keys = ("step", "loss", "lr", "grad_norm", "tokens", "targets", "skipped")
check([[r[k] for k in keys] for r in off_steps] == [[r[k] for k in keys] for r in on_steps],
      "step records with eval on equal those with eval off")

def weights(run):
    out = {}
    for path in sorted(glob.glob(f"{run}/checkpoints/step_*/*.h5")):
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, o: out.__setitem__(path.split("/")[-1] + "/" + name, o[()])
                         if isinstance(o, h5py.Dataset) else None)
    return out
w_off, w_on = weights("off"), weights("on")
check(len(w_off) > 0 and w_off.keys() == w_on.keys() and
      all(np.array_equal(w_off[k], w_on[k]) for k in w_off),
      f"final checkpoints bitwise equal with eval on and off ({len(w_off)} datasets)")

check([r["step"] for r in dp2_evals] == [4, 8, 12], "DP=2: eval records at steps 4, 8, 12")
check([(r["eval_tokens"], r["eval_targets"]) for r in dp2_evals] ==
      [(r["eval_tokens"], r["eval_targets"]) for r in on_evals], "DP=2: the same held-out tokens and targets")
# The step-4 evaluation follows steps whose gradients were summed in another order; at this
# size that moves losses by far less than 1e-5.
rel = max(abs(a["eval_loss"] - b["eval_loss"]) / abs(b["eval_loss"]) for a, b in zip(dp2_evals, on_evals))
check(rel < 1e-5, f"DP=2 eval losses match one rank's (max relative difference {rel:.2e})")
sys.exit(1 if bad else 0)
PY
grep -q "eval step      4 | loss [0-9.]* | tokens $(cat want_tokens) |" on.log && echo "ok   progress line" ||
  { echo "FAIL: no 'eval step 4' progress line"; grep eval on.log; fails=$((fails + 1)); }

# A held-out dataset in another vocabulary (the ids still fit it and the model), and one whose
# vocabulary exceeds the model's.
"$SR_PYTHON" - <<'PY' || { echo "FAIL: h5py"; exit 1; }
import shutil, h5py, numpy as np
for path, vocab in (("vocab270.h5", 270), ("vocab300.h5", 300)):
    shutil.copy("heldout.h5", path)
    with h5py.File(path, "r+") as f:
        f.attrs["vocab_size"] = np.uint32(vocab)
PY
bad_args=("${args[@]}" --train.steps 2)
expect_user_error "eval_every without eval_path" \
  "train.eval_every = 4: expected 0 while neither data.eval_path nor train.eval_samples is set" \
  "$SR_BIN" train "${bad_args[@]}" --train.eval_every 4 --train.out_dir bad1
expect_user_error "negative eval_every" "train.eval_every = -1: expected 0 (off) or a positive step interval" \
  "$SR_BIN" train "${bad_args[@]}" "${eval_args[@]}" --train.eval_every -1 --train.out_dir bad2
expect_user_error "eval_tokens 0" "train.eval_tokens = 0: expected a positive number of tokens" \
  "$SR_BIN" train "${bad_args[@]}" "${eval_args[@]}" --train.eval_tokens 0 --train.out_dir bad3
expect_user_error "missing eval_path" "data.eval_path: $work/missing.h5" \
  "$SR_BIN" train "${bad_args[@]}" "${eval_args[@]}" --data.eval_path "$work/missing.h5" --train.out_dir bad4
expect_user_error "eval dataset of another vocab_size" \
  "data.eval_path: vocab270.h5: tokenizer 'byte' with vocab_size 270, but data.path train.h5 has tokenizer 'byte' with vocab_size 265" \
  "$SR_BIN" train "${bad_args[@]}" "${eval_args[@]}" --data.eval_path vocab270.h5 --train.out_dir bad5
expect_user_error "eval dataset beyond the model's vocabulary" \
  "data.eval_path: vocab300.h5: vocab_size 300 exceeds the model's vocab_size 272" \
  "$SR_BIN" train "${bad_args[@]}" "${eval_args[@]}" --data.eval_path vocab300.h5 --train.out_dir bad6
for d in bad1 bad2 bad3 bad4 bad5 bad6; do
  [ -e "$d/metrics.jsonl" ] && { echo "FAIL $d: training started (metrics.jsonl written)"; fails=$((fails + 1)); }
done

[ "$fails" -eq 0 ] && echo "OK: validation during training"
exit "$fails"
