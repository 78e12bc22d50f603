#!/usr/bin/env bash
# `smoothread read` and `smoothread eval` on a tiny checkpoint trained here by
# configs/train/sr-cpu.ini: JSONL results with every documented field in all three modes, the
# eval tables' shape (not a score), and every class of bad input: exit code 2, one stderr line.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}" "${SR_SOURCE_DIR:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$SR_BIN" data synth --task passkey --context-tokens 512 --samples 8 --chunk-tokens 96:192 \
  --out sr.h5 >/dev/null
"$SR_BIN" train --config "$SR_SOURCE_DIR/configs/train/sr-cpu.ini" --data.path sr.h5 \
  --train.out_dir run --train.steps 2 --train.warmup_steps 1 --train.micro_batch_tokens 4096 \
  --train.global_batch_tokens 4096 --train.threads 1 >/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }
window=$(sed -n 's/^model.sliding_window = //p' run/checkpoints/step_*/manifest)

cat > in.jsonl <<'EOF'
{"id": "first", "question": "What is the passkey?", "context": "Grass is green. The passkey is 4711. Remember it. The sky is blue and the sea is wide. Birds fly over the hills and the rivers run to the sea. The end.", "answer": "4711"}

{"question": "Who met Carol?", "context": "Alice met Bob.\nBob met Carol.\nCarol met Dave."}
EOF

check_results() {  # FILE MODE: two records with the documented fields
  "$SR_PYTHON" - "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
assert rows[0]["id"] == "first" and rows[1]["id"] == 1, rows
assert rows[0]["expected"] == "4711" and "expected" not in rows[1]
for r in rows:
    for k in ("question", "answer", "mode", "rounds", "chunks", "stopped_early", "summaries",
              "summary_capped", "answer_capped", "notes", "prefill_tokens", "decode_tokens", "seconds"):
        assert k in r, (k, r)
    assert r["mode"] == sys.argv[2]
    assert r["prefill_tokens"] > len(r["question"]) and r["decode_tokens"] >= 1
    assert set(r["seconds"]) == {"prefill", "decode", "total"}
    assert len(r["summaries"]) == len(r["summary_capped"])
    if sys.argv[2] == "one-round":
        assert r["rounds"] == 1 and r["summaries"] == []
    else:
        assert 1 <= r["rounds"] <= r["chunks"] and len(r["summaries"]) == r["rounds"]
        assert r["chunks"] >= 2
PY
}

for mode in sr one-round multi-round; do
  if "$SR_BIN" read --checkpoint run --input in.jsonl --out "out_$mode.jsonl" --mode "$mode" \
      --chunk-tokens 24 --max-summary-tokens 12 --max-answer-tokens 6 --batch 2 2>err.txt &&
      check_results "out_$mode.jsonl" "$mode"; then
    echo "ok   read --mode $mode"
  else
    echo "FAIL read --mode $mode"; cat err.txt; fails=$((fails + 1))
  fi
done
grep -q "answered" err.txt || { echo "FAIL: no progress line on stderr"; fails=$((fails + 1)); }
grep -q "summaries ended at --max-summary-tokens" err.txt || { echo "FAIL: no closing line on stderr"; fails=$((fails + 1)); }
# Sampling with a seed is reproducible; results on stdout with --out - (the default).
"$SR_BIN" read --checkpoint run/checkpoints --input in.jsonl --temperature 0.8 --top-k 20 --top-p 0.9 \
  --seed 5 --chunk-tokens 48 --max-summary-tokens 12 --max-answer-tokens 6 2>/dev/null | cut -d, -f1-4 > s1.txt
"$SR_BIN" read --checkpoint run --input in.jsonl --temperature 0.8 --top-k 20 --top-p 0.9 \
  --seed 5 --chunk-tokens 48 --max-summary-tokens 12 --max-answer-tokens 6 --batch 1 2>/dev/null | cut -d, -f1-4 > s2.txt
if [[ $(wc -l <s1.txt) -eq 2 ]] && cmp -s s1.txt s2.txt; then echo "ok   seeded sampling"; else
  echo "FAIL seeded sampling differs or stdout holds more than the results"; fails=$((fails + 1)); fi

# Tensor-parallel reading (mpirun -np 2 --tp 2, the checkpoint re-sliced): the same results
# as one process, written once.
common=(--checkpoint run --input in.jsonl --chunk-tokens 24 --max-summary-tokens 12 --max-answer-tokens 6)
strip='import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); r.pop("seconds"); print(json.dumps(r))'
if "$SR_BIN" read "${common[@]}" --out tp1.jsonl 2>/dev/null &&
    timeout 120 mpirun -np 2 --oversubscribe "$SR_BIN" read "${common[@]}" --tp 2 --out tp2.jsonl 2>err.txt &&
    [[ $(wc -l <tp2.jsonl) -eq 2 ]] &&
    cmp -s <("$SR_PYTHON" -c "$strip" tp1.jsonl) <("$SR_PYTHON" -c "$strip" tp2.jsonl); then
  echo "ok   read --tp 2 matches one process"
else
  echo "FAIL read --tp 2"; cat err.txt; fails=$((fails + 1))
fi

# A model can write bytes that are not UTF-8 (a byte-level vocabulary; an answer capped inside a
# character). The random Hugging Face fixture does: eval --out-samples and read write them as
# U+FFFD, and every line stays JSON.
if "$SR_BIN" ckpt import-hf "$SR_SOURCE_DIR/tests/fixtures/hf/qwen2-tied" --out random >/dev/null 2>&1 &&
    "$SR_BIN" eval --checkpoint random --tasks passkey --context-tokens 256 --samples 1 --chunk-tokens 48 \
      --max-summary-tokens 8 --max-answer-tokens 8 --threads 1 --out-md /dev/null --out-samples raw.jsonl 2>err.txt &&
    "$SR_BIN" read --checkpoint random --input in.jsonl --chunk-tokens 48 --max-summary-tokens 8 \
      --max-answer-tokens 8 --out raw-read.jsonl 2>>err.txt &&
    "$SR_PYTHON" - <<'PY'
import json
for path in ("raw.jsonl", "raw-read.jsonl"):
    rows = [json.loads(l) for l in open(path, encoding="utf-8")]
    assert rows and any("\ufffd" in s for r in rows for s in r["summaries"] + [r["answer"]]), (path, rows)
PY
then
  echo "ok   model text that is not UTF-8 is written as U+FFFD"
else
  echo "FAIL: model text that is not UTF-8"; cat err.txt; fails=$((fails + 1))
fi

# eval: the table's shape, in Markdown and JSON (with --threads 1, which the header reports).
if "$SR_BIN" eval --checkpoint run --tasks passkey,vartrack --context-tokens 256,512 --samples 2 \
    --chunk-tokens 48 --max-summary-tokens 8 --max-answer-tokens 8 --batch 4 --threads 1 \
    --out-json eval.json --out-md eval.md --out-samples samples.jsonl 2>err.txt &&
    grep -q ", 1 CPU thread(s);" err.txt; then
  "$SR_PYTHON" - <<'PY' && echo "ok   eval tables" || { echo "FAIL eval tables"; fails=$((fails + 1)); }
import json
j = json.load(open("eval.json"))
assert j["context_tokens"] == [256, 512] and j["split"] == "test", j
cells = {(r["task"], r["context_tokens"]) for r in j["results"]}
assert cells == {(t, n) for t in ("passkey", "vartrack") for n in (256, 512)}, cells
for r in j["results"]:
    assert r["samples"] == 2 and 0 <= r["accuracy"] <= 1 and r["mean_rounds"] >= 1 and r["mean_tokens"] > 256
assert len(j["mean"]) == 2
md = open("eval.md").read().splitlines()
rows = [l for l in md if l.startswith("| passkey") or l.startswith("| vartrack")]
assert len(rows) == 4 and all(l.count("|") == 4 for l in rows), md  # task + 2 lengths
assert any(l.startswith("| task | 256 | 512 |") for l in md), md
# --out-samples: one line per input, in the cells' order, each cell's scores averaging to its
# accuracy, with the reading's own fields.
lines = [json.loads(l) for l in open("samples.jsonl")]
assert [(l["task"], l["context_tokens"]) for l in lines] == \
    [(t, n) for t in ("passkey", "vartrack") for n in (256, 512) for _ in range(2)], lines
for r in j["results"]:
    mine = [l for l in lines if (l["task"], l["context_tokens"]) == (r["task"], r["context_tokens"])]
    assert abs(sum(l["score"] for l in mine) / 2 - r["accuracy"]) < 1e-9, (r, mine)
    assert abs(sum(l["prefill_tokens"] + l["decode_tokens"] for l in mine) / 2 - r["mean_tokens"]) < 1e-6
for l in lines:
    assert l["expected"] and l["question"].endswith("?") and len(l["summaries"]) == l["rounds"], l
PY
else
  echo "FAIL eval"; cat err.txt; fails=$((fails + 1))
fi

# --threads N wins over OMP_NUM_THREADS.
if OMP_NUM_THREADS=1 "$SR_BIN" eval --checkpoint run --tasks passkey --context-tokens 256 --samples 1 \
    --chunk-tokens 48 --max-summary-tokens 4 --max-answer-tokens 4 --threads 2 --out-md eval2.md 2>err.txt &&
    grep -q ", 2 CPU thread(s);" err.txt && grep -q "^| passkey |" eval2.md; then
  echo "ok   eval --threads 2"
else
  echo "FAIL eval --threads 2"; cat err.txt; fails=$((fails + 1))
fi

# bench read on the tiny shape: one row per context, the JSON's fields.
if "$SR_BIN" bench read --config "$SR_SOURCE_DIR/configs/model/tiny.ini" --context-tokens 256,512 \
    --chunk-tokens 32 --summary-tokens 4 --answer-tokens 4 --device cpu --out-json bench.json >bench.txt 2>err.txt &&
    [[ $(grep -cE '^ +(256|512) ' bench.txt) -eq 2 ]] &&
    "$SR_PYTHON" -c '
import json; j = json.load(open("bench.json")); r = j["results"]
assert [x["context_tokens"] for x in r] == [256, 512] and r[1]["rounds"] == 16
assert all(x["decode_tokens_per_s"] > 0 and x["prefill_tokens_per_s"] > 0 and x["decode_bound_tokens_per_s"] > 0 for x in r)'; then
  echo "ok   bench read"
else
  echo "FAIL bench read"; cat bench.txt err.txt; fails=$((fails + 1))
fi
expect_user_error bench_chunk "bench read: --chunk-tokens 65 is larger than the model's window of 64" \
  "$SR_BIN" bench read --config "$SR_SOURCE_DIR/configs/model/tiny.ini" --chunk-tokens 65
expect_user_error bench_no_model "bench read: expected --config MODEL.ini" "$SR_BIN" bench read
expect_user_error bench_bad_context "bench read: --context-tokens '16q': expected a positive token count" \
  "$SR_BIN" bench read --config "$SR_SOURCE_DIR/configs/model/tiny.ini" --context-tokens 4k,16q

# Bad inputs.
printf '%s\n' '{"question": "Q?", "context": "x",}' > bad_json.jsonl
printf '%s\n' '["question", "context"]' > not_object.jsonl
printf '%s\n' '{"context": "some text"}' > no_question.jsonl
printf '%s\n' '{"question": "Q?", "context": ""}' > empty_context.jsonl
printf '%s\n' '{"question": "", "context": "text"}' > empty_question.jsonl
printf '{"question": "%s", "context": "text"}\n' "$(head -c $((window + 10)) /dev/zero | tr '\0' q)" > long_question.jsonl
printf '\n' > empty.jsonl
mkdir -p not_a_checkpoint
cp -r run/checkpoints/step_00000002 small_vocab
sed -i 's/^model.vocab_size = .*/model.vocab_size = 256/' small_vocab/manifest
r=(read --checkpoint run --chunk-tokens 48)
expect_user_error missing_checkpoint "--checkpoint nope: no such directory" "$SR_BIN" read --checkpoint nope --input in.jsonl
expect_user_error not_a_checkpoint "no checkpoint there" "$SR_BIN" read --checkpoint not_a_checkpoint --input in.jsonl
expect_user_error vocab "lacks the Smooth Reading special tokens" "$SR_BIN" read --checkpoint small_vocab --input in.jsonl
expect_user_error invalid_json "bad_json.jsonl:1: invalid JSON" "$SR_BIN" "${r[@]}" --input bad_json.jsonl
expect_user_error not_object "not_object.jsonl:1: expected a JSON object, found an array" "$SR_BIN" "${r[@]}" --input not_object.jsonl
expect_user_error no_question "no_question.jsonl:1: missing field 'question'" "$SR_BIN" "${r[@]}" --input no_question.jsonl
expect_user_error empty_context "empty_context.jsonl:1: the context is empty" "$SR_BIN" "${r[@]}" --input empty_context.jsonl
expect_user_error empty_question "empty_question.jsonl:1: the question is empty" "$SR_BIN" "${r[@]}" --input empty_question.jsonl
expect_user_error long_question "long_question.jsonl:1: the question ($((window + 10)) tokens) does not fit the model's window" \
  "$SR_BIN" "${r[@]}" --input long_question.jsonl
expect_user_error no_records "holds no record" "$SR_BIN" "${r[@]}" --input empty.jsonl
expect_user_error missing_input "cannot open --input nope.jsonl" "$SR_BIN" "${r[@]}" --input nope.jsonl
expect_user_error chunk_past_window "--chunk-tokens $((window + 1)) is larger than the model's window of $window" \
  "$SR_BIN" read --checkpoint run --input in.jsonl --chunk-tokens $((window + 1))
expect_user_error mode "--mode 'fast': expected sr, one-round or multi-round" "$SR_BIN" "${r[@]}" --input in.jsonl --mode fast
expect_user_error tp "read: --tp 2 needs exactly 2 processes (mpirun -np 2), started with 1" "$SR_BIN" "${r[@]}" --input in.jsonl --tp 2
expect_user_error top_p "--top-p" "$SR_BIN" "${r[@]}" --input in.jsonl --temperature 1 --top-p 0
expect_user_error summary_cap "--max-summary-tokens 0: expected at least 1" "$SR_BIN" "${r[@]}" --input in.jsonl --max-summary-tokens 0
expect_user_error bf16_cpu "--precision bf16 needs --device cuda" "$SR_BIN" "${r[@]}" --input in.jsonl --device cpu --precision bf16
expect_user_error out_is_input "is the input" "$SR_BIN" "${r[@]}" --input in.jsonl --out in.jsonl
expect_user_error eval_task "eval: --tasks" "$SR_BIN" eval --checkpoint run --tasks needle
expect_user_error eval_length "eval: --context-tokens 'lots'" "$SR_BIN" eval --checkpoint run --context-tokens lots
expect_user_error eval_threads "eval: --threads -1: expected 0 (cores / local ranks) or a positive thread count" \
  "$SR_BIN" eval --checkpoint run --threads -1
expect_user_error eval_threads_text "the argument ('two') for option '--threads' is invalid" \
  "$SR_BIN" eval --checkpoint run --threads two
expect_user_error eval_samples_dir "eval: nodir/s.jsonl: the directory nodir does not exist" \
  "$SR_BIN" eval --checkpoint run --out-samples nodir/s.jsonl
expect_user_error eval_chunk "is larger than the model's window" "$SR_BIN" eval --checkpoint run --chunk-tokens $((window * 2))
[[ ! -e in.jsonl.tmp ]] || { echo "FAIL: a temporary output was left"; fails=$((fails + 1)); }

[[ $fails -eq 0 ]] && echo "OK: read and eval"
exit "$fails"
