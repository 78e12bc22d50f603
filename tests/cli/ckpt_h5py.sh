#!/usr/bin/env bash
# The h5py snippet of docs/formats.md reassembles parameters from a TP=2 checkpoint that match
# the same run's TP=1 checkpoint.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$SR_BIN" data from-text /usr/share/common-licenses/GPL-3 --out "$work/data.h5" --sample-tokens 256 >/dev/null || exit 1
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path "$work/data.h5" --train.threads 1
      --train.steps 2 --train.global_batch_tokens 1024 --train.micro_batch_tokens 512)
"$SR_BIN" train "${args[@]}" --train.out_dir "$work/tp1" >/dev/null 2>&1 || { echo "FAIL: tp1 run"; exit 1; }
mpirun -np 2 --oversubscribe "$SR_BIN" train "${args[@]}" --train.out_dir "$work/tp2" --parallel.tp 2 \
  >/dev/null 2>&1 || { echo "FAIL: tp2 run"; exit 1; }
snippet=$(awk '/^Reading a parameter with h5py/ { on = 1 } on && /^```python/ { grab = 1; next }
               grab && /^```/ { exit } grab { print }' "$SR_SOURCE_DIR/docs/formats.md")
[ -n "$snippet" ] || { echo "FAIL: no snippet in docs/formats.md"; exit 1; }
"$SR_PYTHON" - "$work/tp1/checkpoints/step_00000002" "$work/tp2/checkpoints/step_00000002" <<PY
import sys
$snippet
a, b = sys.argv[1], sys.argv[2]
bad = 0
for name in ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
             "model.norm.weight"]:
    x, y = load(a, name), load(b, name)
    if x is None or y is None or x.shape != y.shape or abs(x - y).max() > 1e-5:
        print("FAIL:", name, None if x is None else x.shape, None if y is None else y.shape); bad = 1
if not bad: print("OK: checkpoint snippet reassembles TP=2 shards")
sys.exit(bad)
PY
