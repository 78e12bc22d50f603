#!/usr/bin/env bash
# `ckpt import-hf` on folders that lie: config.json sizes the weights do not have (refused before
# a model of those sizes is allocated), integers out of range, a tokenizer.json that is a
# directory, has an id near 2^63 or an added_tokens key written with an escape, weights holding
# an infinity, a shard that is a symlink loop. Each is one line on stderr, exit 2, nothing
# written; an existing checkpoint given as --out keeps its bytes. The folders are the
# qwen2-tied fixture edited by Python scripts of the standard library.
set -u
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
py=${SR_PYTHON:-python3}
fixture="$SR_SOURCE_DIR/tests/fixtures/hf/qwen2-tied"
tok="$SR_SOURCE_DIR/tests/fixtures/tokenizer/mini_sr.json"

# edit NAME PYTHON: a copy of the fixture as NAME, then PYTHON run in it (d: the folder; cfg: its
# config.json, loaded, written back after).
edit() {
  rm -rf "$1" && cp -r "$fixture" "$1" && cp "$tok" "$1/tokenizer.json" || exit 1
  "$py" - "$1" <<PY || exit 1
import json, os, struct, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
$2
json.dump(cfg, open(d + "/config.json", "w"))
PY
}
refused() {  # refused NAME TEXT DIR
  expect_user_error "$1" "$2" "$SR_BIN" ckpt import-hf "$3" --out bad-out
  if [ -e bad-out ] || ls -a | grep -q tmp-import; then
    echo "FAIL $1: something was written"
    fails=$((fails + 1))
  fi
}

edit wide 'cfg["intermediate_size"] = 2**30'
refused "intermediate_size the weights lack" \
  "model.layers.0.mlp.gate_proj.weight' has shape [128, 64] but wide/config.json implies [1073741824, 64]" wide
edit rows 'cfg["vocab_size"] = 2**31 - 1'
refused "vocab_size the weights lack" "tensor 'model.embed_tokens.weight' has shape [384, 64]" rows
edit deep 'cfg.pop("layer_types", None); cfg["num_hidden_layers"] = 2**31 - 1'
refused "billions of layers" "deep/config.json: num_hidden_layers = 2147483647 but the weights hold only" deep
edit big 'cfg["intermediate_size"] = 2**40'
refused "size above 2^31" "big/config.json: intermediate_size = 1099511627776: expected at most 2147483647" big
edit huge 'cfg["vocab_size"] = 2**63'
refused "integer above 2^63" "huge/config.json: vocab_size = 9223372036854775808 is out of range" huge

edit tokdir 'os.remove(d + "/tokenizer.json"); os.mkdir(d + "/tokenizer.json")'
refused "tokenizer.json is a directory" "tokdir/tokenizer.json: is a directory, not a file" tokdir
edit tokid 't = json.load(open(d + "/tokenizer.json")); t["model"]["vocab"]["!"] = 2**63 - 1; json.dump(t, open(d + "/tokenizer.json", "w"))'
refused "tokenizer id 2^63-1" \
  "its vocabulary has 9223372036854775808 tokens (highest id 9223372036854775807) but config.json's vocab_size is 384" tokid
edit tokesc '
t = open(d + "/tokenizer.json").read().replace("\"added_tokens\"", "\"added\\u005ftokens\"", 1).replace("\"<bos>\"", "\"<b0s>\"")
open(d + "/tokenizer.json", "w").write(t)'
refused "added_tokens key written with an escape" "cannot add the special token <bos> to added_tokens" tokesc

edit inf '
data = bytearray(open(d + "/model.safetensors", "rb").read())
n = struct.unpack("<Q", data[:8])[0]
b = json.loads(data[8:8 + n])["model.norm.weight"]["data_offsets"][0]
data[8 + n + b:8 + n + b + 4] = struct.pack("<f", float("inf"))
open(d + "/model.safetensors", "wb").write(data)'
refused "an infinite weight" "tensor 'model.norm.weight' holds an infinite value (element 0)" inf
edit loop 'os.remove(d + "/model.safetensors"); os.symlink("model.safetensors", d + "/model.safetensors")'
refused "weights file is a symlink loop" "loop/model.safetensors: Too many levels of symbolic links" loop

# An existing checkpoint as --out: refused, its files unchanged.
"$SR_BIN" ckpt import-hf "$fixture" --out ck >/dev/null || exit 1
sums() { find ck -type f -exec md5sum {} + | sort; }
before=$(sums)
for out in ck ck/checkpoints ck/checkpoints/step_00000000; do
  expect_user_error "import into $out" "already exists" "$SR_BIN" ckpt import-hf "$fixture" --out "$out"
done
expect_user_error "export into a checkpoint" "already exists" "$SR_BIN" ckpt export-hf ck --out ck/checkpoints
if [ "$(sums)" != "$before" ]; then
  echo "FAIL the existing checkpoint changed"
  fails=$((fails + 1))
fi

[ "$fails" -eq 0 ] && echo "OK: ckpt import-hf bad input"
exit "$fails"
