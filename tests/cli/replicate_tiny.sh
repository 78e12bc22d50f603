#!/usr/bin/env bash
# tools/replicate.sh --tiny: the whole replication pipeline on CPU (data synth, three systems
# trained from scratch, their evaluation, the report). Checks that every stage ran and wrote what
# it should (runs, eval JSON with every cell, results.md tables, SVG plots), not the scores; a
# second run skips the finished training; --pretrain-steps gives the systems a shared start, and
# --init-from a Hugging Face one; bad arguments are refused.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}" "${SR_SOURCE_DIR:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
script=$SR_SOURCE_DIR/tools/replicate.sh

if ! "$script" --tiny --out out >log.txt 2>&1; then
  echo "FAIL: tools/replicate.sh --tiny"; cat log.txt; exit 1
fi
echo "ok   tools/replicate.sh --tiny ran"

# Every stage's files, in the shapes the report and docs/results.md rely on.
if "$SR_PYTHON" - out "$SR_SOURCE_DIR" <<'PY'; then echo "ok   runs, eval JSON, results.md and plots"; else fails=$((fails + 1)); fi
import json, math, os, re, sys
import xml.dom.minidom
out, src = sys.argv[1], sys.argv[2]
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
steps = int(re.search(r"^steps = (\d+)", open(f"{src}/configs/replicate/tiny/common.ini").read(), re.M).group(1))
run = json.load(open(f"{out}/run.json"))
lengths, tasks = run["eval_lengths"], run["eval_tasks"]
check(run["variant"] == "tiny" and run["device"] == "cpu", f"run.json: {run}")
check(run["train_context_tokens"] == [128, 256] and run["train_tasks"] == tasks and run["threads"] == 1,
      f"run.json: training lengths, tasks or threads: {run}")
cmds = open(f"{out}/commands.sh").read()
check(cmds.count(" --threads 1 ") == 3 and cmds.count(" --train.threads 1 ") == 3, "commands.sh: thread settings")
want = {"full": ("0", "one-round"), "window": ("128", "one-round"), "sr": ("128", "sr")}
timings = [json.loads(l) for l in open(f"{out}/timings.jsonl")]
for name, (window, mode) in want.items():
    rows = [json.loads(l) for l in open(f"{out}/runs/{name}/metrics.jsonl")]
    check([r["step"] for r in rows] == list(range(1, steps + 1)), f"{name}: steps {[r['step'] for r in rows]}")
    check(all(math.isfinite(r["loss"]) and r["tokens"] > 0 for r in rows), f"{name}: a loss or token count")
    ck = f"{out}/runs/{name}/checkpoints"
    manifest = open(f"{ck}/{open(f'{ck}/latest').read().strip()}/manifest").read()
    check(f"model.sliding_window = {window}\n" in manifest, f"{name}: window is not {window}")
    e = json.load(open(f"{out}/eval/{name}.json"))
    check(e["mode"] == mode and e["split"] == "test", f"{name}: eval mode {e['mode']}, split {e['split']}")
    cells = {(r["task"], r["context_tokens"]) for r in e["results"]}
    check(len(cells) == len(tasks) * len(lengths) == len(e["results"]), f"{name}: eval cells {sorted(cells)}")
    for r in e["results"]:
        check(r["samples"] == run["eval_samples"] and 0 <= r["accuracy"] <= 1, f"{name}: cell {r}")
        # One round for one-round; for sr at least one chunk and at most all of them (how many
        # is the model's choice, a score, not checked).
        chunks = r["context_tokens"] / run["eval_chunk_tokens_sr"]
        ok = r["mean_rounds"] == 1 if mode == "one-round" else 1 <= r["mean_rounds"] <= 2 * chunks
        check(ok, f"{name}: read {r['mean_rounds']} rounds at {r['context_tokens']}")
        # One-round feeds the whole context.
        least = 0.9 * r["context_tokens"] if mode == "one-round" else 1
        check(r["mean_tokens"] >= least, f"{name}: {r['mean_tokens']} tokens per answer")
    check(os.path.getsize(f"{out}/eval/{name}.md") > 0, f"{name}: eval markdown")
    readings = [json.loads(l) for l in open(f"{out}/eval/{name}-samples.jsonl")]
    check(len(readings) == len(e["results"]) * run["eval_samples"] and
          all(r["mode"] == mode and r["expected"] for r in readings), f"{name}: eval readings")
    phases = {t["phase"] for t in timings if t["system"] == name}
    check(phases == {"train", "eval"}, f"{name}: timings {phases}")
md = open(f"{out}/results.md").read()
for label in ("(a) full attention, one-round", "(b) sliding window, one-round", "(c) sliding window, Smooth Reading"):
    # A row in the training and wall-clock tables, one per task and the mean in the accuracy
    # table, one per task in the rounds table.
    check(md.count(f"| {label} |") == 2 * len(tasks) + 3, f"results.md: rows of {label}")
for heading in ("## Training", "## Accuracy (%)", "## Rounds read and tokens per answer", "## Wall-clock"):
    check(heading in md, f"results.md: no {heading}")
check("not run" not in md and "Not evaluated" not in md, "results.md reports a system as missing")
acc_rows = [l for l in md.splitlines() if l.startswith("| ") and l.split(" | ")[0][2:] in tasks + ["**mean**"]]
check(len(acc_rows) == 3 * (len(tasks) + 1), f"results.md: {len(acc_rows)} accuracy rows")
check(all(re.fullmatch(r"\d+\.\d", c.strip()) for l in acc_rows for c in l.strip("| ").split(" | ")[2:]),
      "results.md: an accuracy cell is not a number")
for plot, lines in (("loss.svg", 3), ("accuracy.svg", 3 * (len(tasks) + 1))):
    doc = xml.dom.minidom.parse(f"{out}/{plot}")
    n = len(doc.getElementsByTagName("polyline"))
    check(n == lines, f"{plot}: {n} lines, expected {lines}")
for line in bad:
    print("FAIL", line)
sys.exit(1 if bad else 0)
PY

# The training sets hold the evaluated tasks only, at both training lengths.
for f in one-round sr; do
  "$SR_BIN" data inspect "out/data/train-$f.h5" >inspect.txt
  if grep -qE '^ +task_mix +niah-multikey:[0-9]+,niah-multivalue:[0-9]+,passkey:[0-9]+,vartrack:[0-9]+$' inspect.txt &&
      grep -qE '^ +context_mix +128:[1-9][0-9]*,256:[1-9][0-9]*$' inspect.txt; then
    echo "ok   train-$f.h5: the four tasks at 128 and 256 tokens"
  else
    echo "FAIL train-$f.h5: tasks or lengths"; grep -A20 '^attributes' inspect.txt; fails=$((fails + 1))
  fi
done

# A second run finds the finished training and only evaluates again.
before=$(wc -l <out/runs/sr/metrics.jsonl)
if "$script" --tiny --out out --systems sr --no-report >log2.txt 2>&1 &&
    grep -q "sr: already trained to step" log2.txt && [[ $(wc -l <out/runs/sr/metrics.jsonl) -eq $before ]]; then
  echo "ok   a second run skips the finished training"
else
  echo "FAIL: second run"; cat log2.txt; fails=$((fails + 1))
fi

# --pretrain-steps: one model trained on tools/recall_text.py text (the loss on every token), the
# start of every system (checkpoint.init_from), reported in run.json and results.md; a second run
# finds it trained.
pre_ok() {
  "$SR_PYTHON" - pre <<'PY'
import json, re, sys
out = sys.argv[1]
run = json.load(open(f"{out}/run.json"))
rows = [json.loads(l) for l in open(f"{out}/runs/pretrain/metrics.jsonl") if '"loss"' in l]
inspect = open("pre-inspect.txt").read()
md = open(f"{out}/results.md").read()
assert run["pretrain_steps"] == 2 and [r["step"] for r in rows] == [1, 2], (run, rows)
assert "loss mask   " in inspect and "(100.00%)" not in inspect, inspect  # <bos> is never a target
text = open(f"{out}/data/recall.txt").read()
assert "\nRecords: " in "\n" + text and "\nRepeat: " in "\n" + text, text[:400]
assert "Repeat: " not in open(f"{out}/data/recall-heldout.txt").read()
held = re.search(r"pre-training, held-out records: eval loss [0-9.]+ \(step 1\), [0-9.]+ \(step 2\) "
                 r"\(loss bounds: ([0-9.]+) without retrieval, ([0-9.]+) with perfect retrieval\)", md)
assert held and 0 < float(held.group(2)) < float(held.group(1)), md
assert "- pre-training: 2 steps on `tools/recall_text.py` text" in md, md
bounds = re.search(r"loss bounds: ([0-9.]+) without retrieval, ([0-9.]+) with perfect retrieval", md)
assert bounds and 0 < float(bounds.group(2)) < float(bounds.group(1)), md
# pretrain.svg: the training and held-out curves, and each text's two bounds as dotted lines.
import xml.dom.minidom
doc = xml.dom.minidom.parse(f"{out}/pretrain.svg")
assert len(doc.getElementsByTagName("polyline")) == 2, "pretrain.svg: expected 2 curves"
dotted = [l for l in doc.getElementsByTagName("line") if l.getAttribute("stroke-dasharray") == "2 3"]
assert len(dotted) == 4, f"pretrain.svg: {len(dotted)} bound lines"
assert "[pretrain.svg](pretrain.svg)" in md, md
PY
}
if "$script" --tiny --out pre --systems window --pretrain-steps 2 --samples 1 --lengths 512 >log3.txt 2>&1 &&
    grep -q "checkpoint.init_from: starting at step 0" pre/logs/train-window.log &&
    "$SR_BIN" data inspect pre/data/pretrain.h5 >pre-inspect.txt && pre_ok &&
    "$script" --tiny --out pre --systems window --pretrain-steps 2 --samples 1 --lengths 512 --no-report >log4.txt 2>&1 &&
    grep -q "pretrain: already trained to step 2" log4.txt; then
  echo "ok   --pretrain-steps: a shared start for the systems"
else
  echo "FAIL: --pretrain-steps"; cat log3.txt log4.txt 2>/dev/null; fails=$((fails + 1))
fi

expect_user_error "bad pretrain steps" "--pretrain-steps -1: expected 0 (none) or a positive count" \
  "$script" --tiny --out out --pretrain-steps -1
# A broken pretrain config (in a copy of the scripts and configs) stops the run before any work.
mkdir copy && cp -r "$SR_SOURCE_DIR/tools" "$SR_SOURCE_DIR/configs" copy/
printf '\n[train]\nlr = fast\n' >>copy/configs/replicate/tiny/pretrain.ini
expect_user_error "bad pretrain config" "the pretrain config does not load" \
  copy/tools/replicate.sh --tiny --out out3 --systems window --pretrain-steps 2
[[ ! -e out3 ]] || { echo "FAIL bad pretrain config: out3 was written"; fails=$((fails + 1)); }
expect_user_error "recall text of no bytes" "recall_text.py: --bytes 0: expected a positive count" \
  "$SR_PYTHON" "$SR_SOURCE_DIR/tools/recall_text.py" --bytes 0 --out recall.txt
expect_user_error "repeat share above 1" "recall_text.py: --repeat-share 1.5: expected 0 to 1" \
  "$SR_PYTHON" "$SR_SOURCE_DIR/tools/recall_text.py" --bytes 10 --repeat-share 1.5 --out recall.txt
# A block too large for the keys there are would never end; it is refused.
expect_user_error "recall block too large" "recall_text.py: --block-bytes 1000000: expected 64 to 100000" \
  "$SR_PYTHON" "$SR_SOURCE_DIR/tools/recall_text.py" --bytes 10 --block-bytes 1000000 --out recall.txt
# Repeats only: the second copy of each string is free with copying, so the no-copy bound is
# exactly twice the other (the framing bytes cost nothing in either).
if "$SR_PYTHON" "$SR_SOURCE_DIR/tools/recall_text.py" --bytes 5000 --repeat-share 1 --block-bytes 200 \
    --out repeats.txt >repeats.log 2>&1 &&
    "$SR_PYTHON" - <<'PY'
import re
blind, seeing = map(float, re.search(r"([0-9.]+) without retrieval, ([0-9.]+) with perfect retrieval",
                                     open("repeats.log").read()).groups())
text = open("repeats.txt").read()
lines = text.splitlines()
assert lines and all(l.startswith("Repeat: ") and l[8:].split(" | ")[0] == l[8:].split(" | ")[1] for l in lines), text[:300]
# The strings' lengths vary, so the copy is not always the same distance back.
assert len({len(l) for l in lines}) > 1, text[:300]
assert abs(blind - 2 * seeing) <= 0.002, (blind, seeing)
PY
then
  echo "ok   recall_text.py --repeat-share 1: strings repeated, bounds 2:1"
else
  echo "FAIL: recall_text.py --repeat-share 1"; cat repeats.log; fails=$((fails + 1))
fi
# --init-from: the systems start from a Hugging Face Qwen2 folder (random tiny weights and a BPE
# tokenizer, made here): its shape and tokenizer, the systems' own window; the training set is
# written in its tokenizer and the report names the start.
"$SR_PYTHON" "$SR_SOURCE_DIR/tests/cli/tiny_qwen2.py" hf --vocab 272 --seed 3 --untied >/dev/null
"$SR_PYTHON" "$SR_SOURCE_DIR/tests/cli/tiny_bpe_tokenizer.py" hf/tokenizer.json plain
if "$script" --tiny --out fromhf --systems sr --init-from hf --steps 2 --samples 1 --lengths 512 >log5.txt 2>&1 &&
    "$SR_BIN" data inspect fromhf/data/train-sr.h5 --sample -1 >hf-inspect.txt &&
    "$SR_PYTHON" - fromhf "$SR_SOURCE_DIR" <<'PY'
import glob, json, re, sys
out, src = sys.argv[1], sys.argv[2]
run = json.load(open(f"{out}/run.json"))
assert run["init_from"] == "hf" and run["tokenizer"].endswith("runs/start/checkpoints/step_00000000/tokenizer.json"), run
inspect = open("hf-inspect.txt").read()
assert re.search(r"tokenizer (?!byte)", inspect), inspect  # not the byte tokenizer
manifest = open(sorted(glob.glob(f"{out}/runs/sr/checkpoints/step_*/manifest"))[-1]).read()
window = re.search(r"^sliding_window = (\d+)", open(f"{src}/configs/replicate/tiny/window.ini").read(), re.M).group(1)
# The tiny configs tie the head to the embedding; this folder does not.
for key, want in (("tie_word_embeddings", "false"), ("sliding_window", window), ("vocab_size", "272")):
    assert f"model.{key} = {want}\n" in manifest, (key, want, manifest)
log = open(f"{out}/logs/train-sr.log").read()
assert "checkpoint.init_from: starting at step 0" in log, log
# A fine-tuning learning rate (at most 2e-5), not the configs' from-scratch one.
lrs = [float(x) for x in re.findall(r"\| lr ([0-9.e+-]+) \|", log)]
assert lrs and max(lrs) <= 2.0001e-5, lrs
md = open(f"{out}/results.md").read()
assert "- start: `smoothread ckpt import-hf hf`: its shape and weights, its tokenizer" in md, md
assert json.load(open(f"{out}/eval/sr.json"))["results"], "no eval results"
PY
then
  echo "ok   --init-from: the systems start from a Hugging Face folder, in its tokenizer"
else
  echo "FAIL: --init-from"; cat log5.txt hf-inspect.txt 2>/dev/null; fails=$((fails + 1))
fi
# A re-run of that --out from another folder would mix two starts: refused.
cp -r hf hf-other
expect_user_error "init-from another folder" "fromhf/runs/start holds an import of $work/hf" \
  "$script" --tiny --out fromhf --systems sr --init-from hf-other --steps 2 --samples 1 --lengths 512
expect_user_error "init-from not a folder" "--init-from nowhere: not a Hugging Face model folder (no config.json)" \
  "$script" --tiny --out out4 --init-from nowhere
expect_user_error "init-from and pretraining" "--init-from and --pretrain-steps: choose one start" \
  "$script" --tiny --out out4 --init-from hf --pretrain-steps 2
# A folder that does not import (a tensor missing) is refused with import-hf's reason, before
# anything is written.
"$SR_PYTHON" "$SR_SOURCE_DIR/tests/cli/tiny_qwen2.py" hf-broken --vocab 272 --drop model.norm.weight >/dev/null
expect_user_error "init-from a broken folder" "--init-from hf-broken: hf-broken: tensor 'model.norm.weight' is missing" \
  "$script" --tiny --out out4 --init-from hf-broken
[[ ! -e out4 ]] || { echo "FAIL init-from: out4 was written"; fails=$((fails + 1)); }
expect_user_error "unknown system" "unknown system 'swa'" "$script" --tiny --out out --systems full,swa
expect_user_error "bad training argument" "the full config does not load" "$script" --tiny --out out2 -- --train.bogus 1
expect_user_error "bad training length" "--train-context 256,x: expected token counts" "$script" --tiny --out out --train-context 256,x
expect_user_error "training length twice" "--train-context: a length is listed twice (1024,1024)" "$script" --tiny --out out --train-context 1k,1024
expect_user_error "bad threads" "--threads -2: expected 0 (automatic) or a positive count" "$script" --tiny --out out --threads -2
expect_user_error "no binary" "no smoothread binary at" env SR_BIN="$work/none" "$script" --tiny --out out
expect_user_error "report without runs" "no runs/*/metrics.jsonl" "$SR_PYTHON" "$SR_SOURCE_DIR/tools/replicate_report.py" "$work"
[[ $fails -eq 0 ]] && echo "OK: the tiny replication pipeline"
exit "$fails"
