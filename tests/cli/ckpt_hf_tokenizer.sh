#!/usr/bin/env bash
# The tokenizer of `ckpt import-hf`: a folder's tokenizer.json is stored in the checkpoint (and
# next to model.ini) with the Smooth Reading special tokens added, its identity in the manifest;
# the embedding grows when their ids pass vocab_size, new rows starting as the mean row; export-hf
# writes it back; training carries it into its checkpoints and refuses data of another
# tokenizer. Bad tokenizers (another model type, a vocabulary larger than vocab_size) are refused
# with one line, exit 2, and nothing written. Folders and tokenizers are made here by Python
# scripts of the standard library only.
set -u
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
py=${SR_PYTHON:-python3}

# make_hf OUT VOCAB tied|untied: a random tiny Qwen2 folder in f32 (tests/cli/tiny_qwen2.py,
# transformers 5 style config).
make_hf() {
  "$py" "$SR_SOURCE_DIR/tests/cli/tiny_qwen2.py" "$1" --vocab "$2" --dtype F32 --seed "$2" --config v5 \
    $([ "$3" = untied ] && echo --untied)
}
# make_tok OUT VARIANT: a byte-level BPE tokenizer.json with Qwen2's structure
# (tests/cli/tiny_bpe_tokenizer.py lists the variants).
make_tok() { "$py" "$SR_SOURCE_DIR/tests/cli/tiny_bpe_tokenizer.py" "$@"; }

# rows.py SOURCE EXPORT N0 NEW_IDS: the export's embedding (and untied head) keep the source's
# rows, and the rows NEW_IDS (comma-separated ids and a-b ranges) are the mean of rows 0..N0-1.
cat >rows.py <<'PY'
import json, struct, sys
def load(folder):
    data = open(folder + "/model.safetensors", "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    out = {}
    for k, v in json.loads(data[8:8 + n]).items():
        if k != "__metadata__" and ("embed" in k or "lm_head" in k):
            b, e = v["data_offsets"]
            vals = struct.unpack("<%df" % ((e - b) // 4), data[8 + n + b:8 + n + e])
            H = v["shape"][1]
            out[k] = [vals[i:i + H] for i in range(0, len(vals), H)]
    return out
src, exp, n0 = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
new = []
for part in sys.argv[4].split(","):
    a, _, b = part.partition("-")
    new += list(range(int(a), int(b or a) + 1))
bad = 0
for name, rows in src.items():
    got = exp[name]
    H = len(rows[0])
    mean = [sum(r[k] for r in rows[:n0]) / n0 for k in range(H)]
    bad += sum(got[i] != rows[i] for i in range(len(rows)) if i not in new)
    bad += sum(abs(got[i][k] - mean[k]) > 1e-6 for i in new for k in range(H))
    print("%s: %d rows (source %d), new rows %s" % (name, len(got), len(rows), sys.argv[4]))
sys.exit(1 if bad or not src else 0)
PY

fnv() {  # the identity of a tokenizer.json: bpe- and FNV-1a 64 of its bytes
  "$py" -c 'import sys
h = 0xcbf29ce484222325
for c in open(sys.argv[1], "rb").read():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print("bpe-%016x" % h)' "$1"
}

make_hf hf-fits 272 tied || exit 1
make_tok hf-fits/tokenizer.json plain || exit 1
make_hf hf-grow 264 untied || exit 1
cp hf-fits/tokenizer.json hf-grow/
make_hf hf-all 272 tied || exit 1
make_tok hf-all/tokenizer.json all || exit 1

# Room in vocab_size: the nine tokens take ids 261..269, rows start as the mean of 0..260.
expect_success "import with a tokenizer" "$SR_BIN" ckpt import-hf hf-fits --out ck-fits
step=ck-fits/checkpoints/step_00000000
expect_success "tokenizer.json in the checkpoint" cmp ck-fits/tokenizer.json $step/tokenizer.json
expect_success "manifest names its identity" grep -qx "tokenizer = $(fnv $step/tokenizer.json)" $step/manifest
expect_success "vocab_size unchanged" grep -qx "vocab_size = 272" ck-fits/model.ini
expect_success "special tokens added" "$py" -c 'import json, sys
t = {a["content"]: a for a in json.load(open(sys.argv[1]))["added_tokens"]}
names = ["<bos>", "<eos>", "<query>", "<chunk>", "<summary>", "<read>", "<stop>", "<answer>", "<pad>"]
assert [t[n]["id"] for n in names] == list(range(261, 270)), t
assert all(t[n]["special"] for n in names) and t["<|endoftext|>"]["id"] == 260' $step/tokenizer.json
expect_success "inspect shows the tokenizer" sh -c "\"$SR_BIN\" ckpt inspect $step | grep -q 'tokenizer   bpe-'"
expect_success "export" "$SR_BIN" ckpt export-hf ck-fits --out ex-fits
expect_success "export writes the checkpoint's tokenizer.json" cmp ex-fits/tokenizer.json $step/tokenizer.json
expect_success "new rows are the mean row, the others the source's" "$py" rows.py hf-fits ex-fits 261 261-269

# No room: the embedding and the untied head grow to 270 rows.
expect_success "import growing the vocabulary" "$SR_BIN" ckpt import-hf hf-grow --out ck-grow
expect_success "vocab_size grown" grep -qx "vocab_size = 270" ck-grow/model.ini
expect_success "export of the grown model" "$SR_BIN" ckpt export-hf ck-grow --out ex-grow
expect_success "exported config has the new vocab_size" grep -q '"vocab_size": 270' ex-grow/config.json
expect_success "grown rows (embedding and head) are the mean row" "$py" rows.py hf-grow ex-grow 261 261-269
# With --tp 2 the grown vocab_size (271 ids) is rounded up to a multiple of 2; the extra row too
# starts as the mean.
cp -r hf-grow hf-grow2 && make_tok hf-grow2/tokenizer.json two
expect_success "grown to a multiple of --tp" "$SR_BIN" ckpt import-hf hf-grow2 --out ck-grow2 --tp 2
expect_success "vocab_size 272" grep -qx "vocab_size = 272" ck-grow2/model.ini
expect_success "export it" "$SR_BIN" ckpt export-hf ck-grow2 --out ex-grow2
expect_success "rows 262..271 are the mean row" "$py" rows.py hf-grow2 ex-grow2 262 262-271

# A tokenizer that has them all is kept byte for byte.
expect_success "import a complete tokenizer" "$SR_BIN" ckpt import-hf hf-all --out ck-all
expect_success "kept byte for byte" cmp hf-all/tokenizer.json ck-all/checkpoints/step_00000000/tokenizer.json
expect_success "its identity is the source's" grep -qx "tokenizer = $(fnv hf-all/tokenizer.json)" ck-all/checkpoints/step_00000000/manifest

# Training: byte-tokenized data is refused by a checkpoint with a BPE tokenizer, naming both.
"$SR_BIN" data from-text /usr/share/common-licenses/GPL-3 --out bytes.h5 --sample-tokens 256 >/dev/null || exit 1
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --config ck-fits/model.ini --train.threads 1
      --train.global_batch_tokens 1024 --train.micro_batch_tokens 512 --train.log_every 1)
id=$(fnv $step/tokenizer.json)
expect_user_error "init_from with data of another tokenizer" \
  "data.path bytes.h5 has tokenizer 'byte' but checkpoint.init_from = ck-fits has tokenizer '$id'" \
  "$SR_BIN" train "${args[@]}" --data.path bytes.h5 --train.steps 1 --train.out_dir run-bad --checkpoint.init_from ck-fits
# A checkpoint without a tokenizer counts as byte: the same data trains from it.
cp -r hf-fits hf-notok && rm hf-notok/tokenizer.json
expect_success "import without tokenizer.json" "$SR_BIN" ckpt import-hf hf-notok --out ck-notok
expect_success "no tokenizer key" sh -c "! grep -q '^tokenizer' ck-notok/checkpoints/step_00000000/manifest"
expect_success "byte data trains from it" "$SR_BIN" train "${args[@]}" --data.path bytes.h5 --train.steps 1 \
  --train.out_dir run-byte --checkpoint.init_from ck-notok

# With data tokenized by the checkpoint's tokenizer.json (when data from-text takes one).
if "$SR_BIN" data from-text --help 2>&1 | grep -q -- "--tokenizer"; then
  expect_success "data with the checkpoint's tokenizer" "$SR_BIN" data from-text /usr/share/common-licenses/GPL-3 \
    --tokenizer ck-fits/tokenizer.json --out bpe.h5 --sample-tokens 256
  expect_success "init_from trains on it" "$SR_BIN" train "${args[@]}" --data.path bpe.h5 --train.steps 2 \
    --train.out_dir run --checkpoint.init_from ck-fits --checkpoint.every 1
  for s in 1 2; do
    d=run/checkpoints/step_0000000$s
    expect_success "step $s carries tokenizer.json" cmp $d/tokenizer.json $step/tokenizer.json
    expect_success "step $s names it" grep -qx "tokenizer = $id" $d/manifest
  done
  expect_success "resume carries it too" "$SR_BIN" train "${args[@]}" --data.path bpe.h5 --train.steps 3 --train.out_dir run
  expect_success "step 3 carries tokenizer.json" cmp run/checkpoints/step_00000003/tokenizer.json $step/tokenizer.json
  expect_user_error "resume with data of another tokenizer" \
    "data.path bytes.h5 has tokenizer 'byte' but the resumed checkpoint (step 3) has tokenizer '$id'" \
    "$SR_BIN" train "${args[@]}" --data.path bytes.h5 --train.steps 4 --train.out_dir run
  expect_success "export of the trained run" "$SR_BIN" ckpt export-hf run --out ex-run
  # Held-out tasks read during training (train.eval_samples) in the checkpoint's vocabulary; a
  # run from scratch on BPE data holds no tokenizer.json to read them with.
  sample_eval=(--train.eval_every 1 --train.eval_samples 1 --train.eval_context_tokens 512)
  expect_success "eval_samples with the checkpoint's tokenizer" "$SR_BIN" train "${args[@]}" --data.path bpe.h5 \
    --train.steps 1 --train.out_dir run-evals --checkpoint.init_from ck-fits "${sample_eval[@]}"
  expect_success "its record" "$py" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "eval_accuracy" in l]
assert len(r) == 1 and r[0]["eval_samples"] == 1 and r[0]["eval_tokens_per_answer"] > 0, r' run-evals/metrics.jsonl
  expect_user_error "eval_samples on BPE data from scratch" "train.eval_samples: the data's tokenizer '$id' is not held by this run" \
    "$SR_BIN" train "${args[@]}" --data.path bpe.h5 --train.steps 1 --train.out_dir run-evals-scratch "${sample_eval[@]}"
  expect_success "its tokenizer.json" cmp ex-run/tokenizer.json $step/tokenizer.json
else
  echo "skip training on BPE data: this build's data from-text has no --tokenizer"
fi
# A tokenizer.json edited after the checkpoint was written: a damaged checkpoint.
cp -r ck-fits ck-edited && echo " " >>ck-edited/checkpoints/step_00000000/tokenizer.json
expect_user_error "edited tokenizer.json" "tokenizer.json: its identity is" \
  "$SR_BIN" ckpt export-hf ck-edited --out ex-edited

# Bad tokenizers: one line, exit 2, nothing written.
refused() {  # refused NAME TEXT DIR
  expect_user_error "$1" "$2" "$SR_BIN" ckpt import-hf "$3" --out bad-out
  if [ -e bad-out ] || ls -a | grep -q tmp-import; then
    echo "FAIL $1: something was written"
    fails=$((fails + 1))
  fi
}
cp -r hf-fits hf-wp && make_tok hf-wp/tokenizer.json wordpiece
refused "another model type" "tokenizer.json: model type 'WordPiece': only BPE tokenizers" hf-wp
cp -r hf-fits hf-big && make_tok hf-big/tokenizer.json big
refused "vocabulary larger than vocab_size" \
  "tokenizer.json: its vocabulary has 301 tokens (highest id 300) but config.json's vocab_size is 272" hf-big
cp -r hf-fits hf-junk && echo '{"model": ' >hf-junk/tokenizer.json
refused "invalid JSON" "tokenizer.json: invalid JSON" hf-junk

[ "$fails" -eq 0 ] && echo "OK: ckpt import-hf / export-hf tokenizer"
exit "$fails"
