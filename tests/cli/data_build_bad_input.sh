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
expect_user_error bad_task "--task 'niah': unknown task 'niah' (expected one of passkey, niah-single, niah-multikey, niah-multivalue, niah-multiquery, vartrack, a comma-separated list of them, or mix)" \
  "$SR_BIN" "${s[@]}" --task niah
expect_user_error bad_task_in_list "--task 'passkey,niah_multikey,vartrack': unknown task 'niah_multikey' (expected one of passkey," \
  "$SR_BIN" "${s[@]}" --task passkey,niah_multikey,vartrack
expect_user_error task_twice "--task 'passkey,vartrack,passkey': task 'passkey' is listed twice" \
  "$SR_BIN" "${s[@]}" --task passkey,vartrack,passkey
expect_user_error mix_in_list "--task 'mix,passkey': mix stands alone" "$SR_BIN" "${s[@]}" --task mix,passkey
expect_user_error empty_task "--task 'passkey,': an empty task name" "$SR_BIN" "${s[@]}" --task passkey,
expect_user_error context_twice "--context-tokens '1k,2k,1024': 1024 tokens are listed twice" \
  "$SR_BIN" data synth --task passkey --context-tokens 1k,2k,1024 --samples 2 --out syn.h5
expect_user_error bad_context_in_list "--context-tokens '0'" "$SR_BIN" data synth --task passkey --context-tokens 1k,0 --samples 2 --out syn.h5
expect_user_error empty_context_in_list "--context-tokens '': expected a positive token count" \
  "$SR_BIN" data synth --task passkey --context-tokens 1k,,2k --samples 2 --out syn.h5
# Sizes are checked for the longest length of a list: 2^40 tokens in all at most.
expect_user_error samples_for_longest "--samples '1048577': expected a count from 1 to 1048576" \
  "$SR_BIN" data synth --task passkey --context-tokens 1k,1048576 --samples 1048577 --out syn.h5
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
# A task list and a context list (one-round: a sample is its context plus a few dozen tokens).
four=passkey,niah-multikey,niah-multivalue,vartrack
"$SR_BIN" data synth --task "$four" --context-tokens 1k,3k --samples 24 --format one-round --out list.h5 >/dev/null
"$SR_BIN" data synth --task "$four" --context-tokens 1k,3k --samples 24 --format one-round --out list2.h5 >/dev/null
"$SR_BIN" data synth --task niah-multivalue,passkey --context-tokens 2k --samples 3 --out two.h5 >/dev/null
"$SR_BIN" data inspect list.h5 >inspect.txt
if grep -qE '^ +task_mix +niah-multikey:6,niah-multivalue:6,passkey:6,vartrack:6$' inspect.txt; then
  echo "ok   data inspect: a task list yields only those tasks, in turn"
else
  echo "FAIL data inspect list.h5: task_mix"; grep -A20 '^attributes' inspect.txt; fails=$((fails + 1))
fi

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
with h5py.File("list.h5", "r") as f, h5py.File("list2.h5", "r") as g:
    assert np.array_equal(f["tokens"][:], g["tokens"][:]), "synth with lists is not deterministic"
    assert f.attrs["context_tokens"] == "1024,3072", f.attrs["context_tokens"]
    n = {1024: 0, 3072: 0}
    for length in np.diff(f["offsets"][:]):
        c = 1024 if length < 2048 else 3072
        assert c <= length < c + 200, (length, c)
        n[c] += 1
    assert n[1024] > 0 and n[3072] > 0 and sum(n.values()) == 24, n
    assert f.attrs["context_mix"] == f"1024:{n[1024]},3072:{n[3072]}", (f.attrs["context_mix"], n)
with h5py.File("two.h5", "r") as f:
    assert f.attrs["task_mix"] == "niah-multivalue:2,passkey:1", f.attrs["task_mix"]
    assert f.attrs["context_tokens"] == "2048" and f.attrs["context_mix"] == "2048:3", dict(f.attrs)
print("ok   h5py: exact layouts of sr (early, end, placeholders), one-round, multi-round; synth deterministic;"
      " task and context lists")
EOF
then fails=$((fails + 1)); fi

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all data build/synth checks passed"
