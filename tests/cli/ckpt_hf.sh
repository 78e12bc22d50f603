#!/usr/bin/env bash
# `ckpt import-hf` and `ckpt export-hf`: Hugging Face Qwen2 folders made here by a Python
# script (standard library only: struct and json) are imported, exported and imported again
# with every tensor's bytes kept; a trained checkpoint exported and imported back gives the
# same training step with checkpoint.init_from (also loaded into TP=2); bad folders are refused with one line, exit 2,
# and nothing written.
set -u
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
py=${SR_PYTHON:-python3}

# hf-VARIANT: a random tiny Qwen2 folder (tests/cli/tiny_qwen2.py, transformers 4 style config):
# bf16 (tied), f16 (untied), f32-sharded (two shards and an index), f64-norm (model.norm.weight
# stored as F64), missing (no up_proj of layer 1).
tiny_qwen2() { "$py" "$SR_SOURCE_DIR/tests/cli/tiny_qwen2.py" "$@"; }
# tensors.py A B: every tensor of safetensors folder A has the same dtype, shape and bytes in B
# (and B holds no other tensor).
cat >tensors.py <<'PY'
import json, os, struct, sys
def load(folder):
    out = {}
    for fn in sorted(os.listdir(folder)):
        if not fn.endswith(".safetensors"):
            continue
        data = open(os.path.join(folder, fn), "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        for k, v in json.loads(data[8:8 + n]).items():
            if k != "__metadata__":
                b, e = v["data_offsets"]
                out[k] = (v["dtype"], v["shape"], data[8 + n + b:8 + n + e])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
print("%d tensors, %d differ %s" % (len(a), len(bad), sorted(bad)[:3]))
sys.exit(1 if bad or not a else 0)
PY


{ tiny_qwen2 hf-bf16 && tiny_qwen2 hf-f16 --dtype F16 --untied && tiny_qwen2 hf-f32-sharded --dtype F32 --shards 2 &&
  tiny_qwen2 hf-f64-norm --f64-norm && tiny_qwen2 hf-missing --drop model.layers.1.mlp.up_proj.weight; } || exit 1

# Import, export, import, export: the checkpoints hold the folder's values and the exports are
# bitwise the same; exported in the source dtype, the tensors are the source's bytes.
for v in bf16 f16 f32-sharded; do
  expect_success "import $v" "$SR_BIN" ckpt import-hf "hf-$v" --out "ck-$v"
  expect_success "export $v" "$SR_BIN" ckpt export-hf "ck-$v" --out "ex-$v"
  expect_success "re-import $v" "$SR_BIN" ckpt import-hf "ex-$v" --out "ck2-$v"
  expect_success "re-export $v" "$SR_BIN" ckpt export-hf "ck2-$v/checkpoints" --out "ex2-$v" --max-shard-bytes 100000
  expect_success "export-import-export keeps every tensor ($v)" "$py" tensors.py "ex-$v" "ex2-$v"
done
expect_success "f32 source exported as f32: its own bytes" "$py" tensors.py hf-f32-sharded ex-f32-sharded
expect_success "bf16 source exported as bf16: its own bytes" "$SR_BIN" ckpt export-hf ck-bf16 --out ex-bf16-bf16 --dtype bf16
expect_success "bf16 tensors unchanged" "$py" tensors.py hf-bf16 ex-bf16-bf16
expect_success "sharded export has an index" test -f ex2-bf16/model.safetensors.index.json -a -f ex2-bf16/model-00002-of-*.safetensors
expect_success "untied export has lm_head" grep -q '"tie_word_embeddings": false' ex-f16/config.json
expect_success "inspect the imported checkpoint" "$SR_BIN" ckpt inspect ck-bf16/checkpoints --verify
expect_success "--sliding-window sets the window" "$SR_BIN" ckpt import-hf hf-bf16 --out ck-w --sliding-window 32 --tp 2
expect_success "the window in model.ini" grep -qx "sliding_window = 32" ck-w/model.ini
expect_success "export the windowed import" "$SR_BIN" ckpt export-hf ck-w --out ex-w
expect_success "exported window" grep -q '"use_sliding_window": true' ex-w/config.json

# A trained checkpoint (tiny, window 64) exported and imported back: training from either with
# checkpoint.init_from logs the same first steps; from the import's model.ini alone too.
"$SR_BIN" data from-text /usr/share/common-licenses/GPL-3 --out data.h5 --sample-tokens 256 >/dev/null || exit 1
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path data.h5 --train.threads 1
      --train.global_batch_tokens 1024 --train.micro_batch_tokens 512 --train.log_every 1)
expect_success "train 3 steps" "$SR_BIN" train "${args[@]}" --train.steps 3 --train.out_dir trained
expect_success "export the trained run" "$SR_BIN" ckpt export-hf trained --out ex-trained
expect_success "import it" "$SR_BIN" ckpt import-hf ex-trained --out ck-trained
expect_success "its exports agree" "$SR_BIN" ckpt export-hf ck-trained --out ex-trained2
expect_success "trained tensors unchanged" "$py" tensors.py ex-trained ex-trained2
expect_success "init_from the trained run" "$SR_BIN" train "${args[@]}" --train.steps 2 --train.out_dir from-a \
  --checkpoint.init_from trained/checkpoints/step_00000003
expect_success "init_from its import" "$SR_BIN" train "${args[@]}" --config ck-trained/model.ini --train.steps 2 \
  --train.out_dir from-b --checkpoint.init_from ck-trained
expect_success "from scratch" "$SR_BIN" train "${args[@]}" --train.steps 2 --train.out_dir scratch
strip() { sed 's/, "tokens_per_s.*//' "$1/metrics.jsonl"; }
expect_success "same steps from the checkpoint and its import" cmp <(strip from-a) <(strip from-b)
expect_success "init_from started from the trained weights" test "$(strip from-a | head -1)" != "$(strip scratch | head -1)"
expect_success "init_from starts at step 1" grep -q '"step": 1,' from-a/metrics.jsonl
# The import loaded into TP=2 (re-sliced from its unsplit checkpoint): the same losses to float
# tolerance.
expect_success "init_from its import with TP=2" mpirun -np 2 --oversubscribe "$SR_BIN" train "${args[@]}" \
  --config ck-trained/model.ini --train.steps 2 --train.out_dir from-b-tp2 --parallel.tp 2 --checkpoint.init_from ck-trained
losses() { sed 's/.*"loss": \([0-9.]*\).*/\1/' "$1/metrics.jsonl" | tr '\n' ' '; }
expect_success "TP=2 losses match" awk -v a="$(losses from-b)" -v b="$(losses from-b-tp2)" 'BEGIN {
  n = split(a, x, " "); m = split(b, y, " "); if (n != 2 || m != 2) exit 1
  for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 1e-4 * x[i]) exit 1 } }'

# The fixtures transformers made (tools/make_hf_fixtures.py), when present: import and export
# give back every tensor's bytes.
fx="$SR_SOURCE_DIR/tests/fixtures/hf"
if [ -d "$fx/qwen2-untied" ]; then
  for m in qwen2-untied qwen2-tied qwen2-window qwen2-sharded; do
    expect_success "import fixture $m" "$SR_BIN" ckpt import-hf "$fx/$m" --out "fx-ck-$m"
    expect_success "export fixture $m" "$SR_BIN" ckpt export-hf "fx-ck-$m" --out "fx-ex-$m"
    expect_success "fixture $m: every tensor's bytes" "$py" tensors.py "$fx/$m" "fx-ex-$m"
  done
else
  echo "skip the transformers fixtures: $fx is absent (tools/make_hf_fixtures.py makes it)"
fi

# Bad input: one line, exit 2, nothing written.
refused() {  # refused NAME TEXT DIR [import options]
  local name=$1 want=$2 dir=$3
  shift 3
  expect_user_error "$name" "$want" "$SR_BIN" ckpt import-hf "$dir" --out bad-out "$@"
  if [ -e bad-out ] || ls -a | grep -q tmp-import; then
    echo "FAIL $name: something was written"
    fails=$((fails + 1))
  fi
}
cp -r hf-bf16 trunc && head -c -100 hf-bf16/model.safetensors >trunc/model.safetensors
refused "truncated data" "run past the end of the data section" trunc
cp -r hf-bf16 tiny && head -c 5 hf-bf16/model.safetensors >tiny/model.safetensors
refused "shorter than the length field" "truncated safetensors file" tiny
# patch.py FILE MODE: rewrite a safetensors header (hdrlen: a length past the end; oob: the
# last tensor moved past the end of the data; overlap: the second tensor moved onto the first).
cat >patch.py <<'PY'
import json, struct, sys
path, mode = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header, body = json.loads(data[8:8 + n]), data[8 + n:]
if mode == "hdrlen":
    open(path, "wb").write(struct.pack("<Q", len(data) + 1000) + data[8:])
    sys.exit(0)
ts = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
k = ts[-1][1] if mode == "oob" else ts[1][1]
shift = 8 if mode == "oob" else -4
header[k]["data_offsets"] = [x + shift for x in header[k]["data_offsets"]]
h = json.dumps(header).encode()
h += b" " * ((8 - (8 + len(h)) % 8) % 8)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + body)
PY
for m in hdrlen oob overlap; do cp -r hf-bf16 "p-$m" && "$py" patch.py "p-$m/model.safetensors" "$m"; done
refused "header length past the end" "runs past the end of the file" p-hdrlen
refused "offsets out of range" "run past the end of the data section" p-oob
refused "overlapping offsets" "overlap tensor" p-overlap
refused "unsupported dtype" "dtype F64, which is not supported" hf-f64-norm
refused "missing tensor" "'model.layers.1.mlp.up_proj.weight' is missing" hf-missing
cp -r hf-bf16 wide && sed -i 's/"intermediate_size": 176/"intermediate_size": 160/' wide/config.json
refused "wrong shape for the config" "has shape [176, 64] but" wide
cp -r hf-bf16 llama && sed -i 's/"model_type": "qwen2"/"model_type": "llama"/' llama/config.json
refused "another model_type" "model_type 'llama': only Qwen2" llama
cp -r hf-bf16 yarn && sed -i 's/"rope_scaling": null/"rope_scaling": {"type": "yarn", "factor": 4.0}/' yarn/config.json
refused "rope_scaling" "rope scaling is not implemented" yarn
cp -r hf-f32-sharded noshard && rm noshard/model-00002-of-00002.safetensors
refused "index names a missing shard" "names shard model-00002-of-00002.safetensors" noshard
refused "no config.json" "config.json: missing" trained
refused "tp that does not divide" "--tp 3: parallel.tp = 3 does not divide" hf-bf16 --tp 3
expect_user_error "existing output" "--out ck-bf16: already exists" "$SR_BIN" ckpt import-hf hf-bf16 --out ck-bf16
# The options, through the same parser as every command: one line, exit 2, nothing written.
refused "unknown option" "ckpt import-hf: unrecognised option '--bogus'" hf-bf16 --bogus 1
refused "two folders" "ckpt import-hf: too many positional options" hf-bf16 hf-f64-norm
refused "--out twice" "option '--out' cannot be specified more than once" hf-bf16 --out other-out
refused "--tp 0" "ckpt import-hf: --tp 0: expected a positive rank count" hf-bf16 --tp 0
refused "--tp not a number" "the argument ('two') for option '--tp' is invalid" hf-bf16 --tp two
refused "negative window" "ckpt import-hf: --sliding-window -3: expected 0 (full attention) or a window" hf-bf16 --sliding-window -3
expect_user_error "no folder" "ckpt import-hf: expected a Hugging Face model folder" "$SR_BIN" ckpt import-hf --out bad-out
expect_user_error "import without --out" "the option '--out' is required but missing" "$SR_BIN" ckpt import-hf hf-bf16
expect_user_error "export --dtype f16" "ckpt export-hf: --dtype f16: expected f32 or bf16" \
  "$SR_BIN" ckpt export-hf ck-bf16 --out bad-out --dtype f16
expect_user_error "export --max-shard-bytes 0" "ckpt export-hf: --max-shard-bytes 0: expected a positive byte count" \
  "$SR_BIN" ckpt export-hf ck-bf16 --out bad-out --max-shard-bytes 0
expect_user_error "export without a checkpoint" "ckpt export-hf: expected a checkpoint" "$SR_BIN" ckpt export-hf --out bad-out
[ -e bad-out ] && { echo "FAIL: an option error wrote bad-out"; fails=$((fails + 1)); }
[ -e other-out ] && { echo "FAIL: an option error wrote other-out"; fails=$((fails + 1)); }
expect_user_error "export to an existing folder" "already exists" "$SR_BIN" ckpt export-hf ck-bf16 --out ex-bf16
expect_user_error "export of a non-checkpoint" "ckpt export-hf hf-bf16: no checkpoint there" "$SR_BIN" ckpt export-hf hf-bf16 --out ex-none
[ -e ex-none ] && { echo "FAIL export wrote ex-none"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "OK: ckpt import-hf / export-hf"
exit "$fails"
