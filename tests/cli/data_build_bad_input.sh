#!/usr/bin/env bash
# `smoothread data build` / `data synth`: every class of bad input exits with code 2 and one
# stderr line naming the file:line or the value; a failed build leaves no output file and does
# not touch an existing one. A valid build is checked token by token with h5py.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

good='{"question": "Q", "context": "aaa bbb ccc ddd eee fff ggg", "answer": "A"}'
printf '%s\n%s\n' "$good" '{"question": "Q", "context": "x", "answer": "A",}' > bad_json.jsonl
printf '%s\n%s\n%s\n' "$good" "$good" '{"question": "Q", "context": "x"}' > missing.jsonl
printf '%s\n' '{"question": "Q", "context": "aaa bbb ccc ddd eee fff ggg", "answer": "A", "summaries": ["s1", "s2", "s3"]}' > summaries.jsonl
printf '%s\n%s\n' "$good" '{"question": "Q", "context": "short supercalifragilistic word", "answer": "A"}' > word.jsonl
printf '%s\n' '{"question": "Q", "context": "aaa bbb ccc ddd eee fff ggg", "answer": "A", "stop_round": 5}' > stop.jsonl
printf '%s\n' '{"question": "Q", "context": "", "answer": "A"}' > empty_context.jsonl
printf '\n\n' > no_records.jsonl
printf '%s\n' '{"question": "Q", "context": "c", "answer": 7}' > answer_type.jsonl

b=(data build --chunk-tokens 16 --out out.h5)
expect_user_error invalid_json "bad_json.jsonl:2: invalid JSON at column 49:" "$SR_BIN" "${b[@]}" --input bad_json.jsonl
expect_user_error missing_field "missing.jsonl:3: missing field 'answer'" "$SR_BIN" "${b[@]}" --input missing.jsonl
expect_user_error field_type "answer_type.jsonl:1: field 'answer' must be a string, found a number" "$SR_BIN" "${b[@]}" --input answer_type.jsonl
expect_user_error summaries_count "summaries.jsonl:1: 3 summaries but the context splits into 2 chunks at a budget of 16 tokens" \
  "$SR_BIN" "${b[@]}" --input summaries.jsonl
expect_user_error small_budget "word.jsonl:2: chunk budget 16 is smaller than a word of 21 tokens at byte offset 6" \
  "$SR_BIN" "${b[@]}" --input word.jsonl
expect_user_error stop_round "stop.jsonl:1: stop_round 5 is past the last of 2 chunks" "$SR_BIN" "${b[@]}" --input stop.jsonl
expect_user_error empty_context "empty_context.jsonl:1: field 'context' is empty" "$SR_BIN" "${b[@]}" --input empty_context.jsonl
expect_user_error no_records "no_records.jsonl: no records" "$SR_BIN" "${b[@]}" --input no_records.jsonl
expect_user_error missing_file "cannot open nope.jsonl" "$SR_BIN" "${b[@]}" --input nope.jsonl
expect_user_error bad_format "--format 'sr2': expected sr, one-round or multi-round" \
  "$SR_BIN" data build --input word.jsonl --out out.h5 --format sr2
expect_user_error bad_range "--chunk-tokens '0:5'" "$SR_BIN" data build --input word.jsonl --out out.h5 --chunk-tokens 0:5
expect_user_error bad_stop "--stop 'never': expected early or end" \
  "$SR_BIN" data build --input word.jsonl --out out.h5 --stop never
expect_user_error no_input "data build:" "$SR_BIN" data build --out out.h5
[[ ! -e out.h5 && ! -e out.h5.tmp ]] || { echo "FAIL: a failed build left out.h5 or out.h5.tmp"; fails=$((fails + 1)); }

s=(data synth --context-tokens 2k --samples 2 --out syn.h5)
expect_user_error bad_task "--task 'niah': expected passkey" "$SR_BIN" "${s[@]}" --task niah
expect_user_error bad_context "--context-tokens '0'" "$SR_BIN" data synth --task passkey --context-tokens 0 --samples 2 --out syn.h5
expect_user_error bad_tokens "--context-tokens '12q'" "$SR_BIN" data synth --task passkey --context-tokens 12q --samples 2 --out syn.h5
expect_user_error bad_split "--split 'dev': expected train or test" "$SR_BIN" "${s[@]}" --task passkey --split dev
expect_user_error no_samples "--samples '0': expected a count" "$SR_BIN" data synth --task passkey --context-tokens 2k --samples 0 --out syn.h5
expect_user_error missing_haystack "cannot open haystack file none.txt" "$SR_BIN" "${s[@]}" --task passkey --haystack none.txt

# A valid build, then a failed one to the same path leaves the first file as it was.
printf '%s\n' '{"question": "Q", "context": "aaa bbb ccc ddd eee fff ggg", "answer": "A", "summaries": ["s1", "s2"], "stop_round": 0}' > ok.jsonl
"$SR_BIN" data build --input ok.jsonl --out early.h5 --chunk-tokens 16 >/dev/null
"$SR_BIN" data build --input ok.jsonl --out end.h5 --chunk-tokens 16 --stop end >/dev/null
"$SR_BIN" data build --input ok.jsonl --out one.h5 --chunk-tokens 16 --format one-round >/dev/null
printf '%s\n' "$good" > nosum.jsonl
"$SR_BIN" data build --input nosum.jsonl --out nosum.h5 --chunk-tokens 16 >/dev/null
"$SR_BIN" data build --input ok.jsonl --out multi.h5 --chunk-tokens 16 --format multi-round --stop end >/dev/null
sum_before=$(cksum <early.h5)
expect_user_error keeps_existing "missing.jsonl:3: missing field 'answer'" \
  "$SR_BIN" data build --input missing.jsonl --out early.h5 --chunk-tokens 16
[[ "$(cksum <early.h5)" == "$sum_before" ]] || { echo "FAIL: a failed build changed early.h5"; fails=$((fails + 1)); }

"$SR_BIN" data synth --task mix --context-tokens 4k --samples 12 --out syn.h5 --seed 5 >/dev/null
"$SR_BIN" data synth --task mix --context-tokens 4k --samples 12 --out syn2.h5 --seed 5 >/dev/null

if ! "$SR_PYTHON" - <<'EOF'
import h5py
import numpy as np

sp = {"<bos>": 256, "<eos>": 257, "<query>": 258, "<chunk>": 259, "<summary>": 260,
      "<read>": 261, "<stop>": 262, "<answer>": 263}

def seq(*parts):
    """(ids, mask) from (text or special name, trained) pairs."""
    ids, mask = [], []
    for p, m in parts:
        t = [sp[p]] if p in sp else list(p.encode())
        ids += t
        mask += [m] * len(t)
    return ids, mask

def samples(path):
    with h5py.File(path, "r") as f:
        assert f.attrs["tokenizer"] == "byte" and int(f.attrs["vocab_size"]) == 265, dict(f.attrs)
        o, t, m = f["offsets"][:], f["tokens"][:], f["loss_mask"][:]
        return [(t[o[i]:o[i + 1]].tolist(), m[o[i]:o[i + 1]].tolist()) for i in range(len(o) - 1)]

head = [("<bos>", 0), ("<query>", 0), ("Q", 0)]
c1, c2 = "aaa bbb ccc ddd ", "eee fff ggg"
tail = [("<answer>", 0), ("A", 1), ("<eos>", 1)]
r1 = [("<chunk>", 0), (c1, 0), ("<summary>", 0), ("s1", 1)]
r2 = [("<chunk>", 0), (c2, 0), ("<summary>", 0), ("s2", 1)]
assert samples("early.h5") == [seq(*head, *r1, ("<stop>", 1), *tail)], samples("early.h5")
assert samples("end.h5") == [seq(*head, *r1, ("<read>", 1), *r2, ("<stop>", 1), *tail)]
assert samples("one.h5") == [seq(*head, ("<chunk>", 0), (c1 + c2, 0), *tail)]
# Without summaries: placeholders that restate the question.
p1, p2 = "Target: Q\nClues: not recorded\nReason: read on", "Target: Q\nClues: not recorded\nReason: ready to answer"
assert samples("nosum.h5") == [seq(*head, ("<chunk>", 0), (c1, 0), ("<summary>", 0), (p1, 1), ("<read>", 1),
                                   ("<chunk>", 0), (c2, 0), ("<summary>", 0), (p2, 1), ("<stop>", 1), *tail)]
m = samples("multi.h5")
assert len(m) == 2 and m[1] == seq(*head, ("<summary>", 0), ("s1", 0), *r2, ("<stop>", 1), *tail), m

with h5py.File("syn.h5", "r") as f, h5py.File("syn2.h5", "r") as g:
    assert np.array_equal(f["tokens"][:], g["tokens"][:]), "synth is not deterministic"
    assert f.attrs["task_mix"] == ("niah-multikey:2,niah-multiquery:2,niah-multivalue:2,"
                                   "niah-single:2,passkey:2,vartrack:2"), f.attrs["task_mix"]
    assert f.attrs["split"] == "train" and f.attrs["seed"] == "5" and f.attrs["chunk_tokens"] == "128:4096"
    assert len(f["offsets"]) == 13
print("ok   h5py: exact layouts of sr (early, end, placeholders), one-round, multi-round; synth deterministic")
EOF
then fails=$((fails + 1)); fi

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all data build/synth checks passed"
