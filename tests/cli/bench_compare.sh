#!/usr/bin/env bash
# `bench compare` runs both attention variants at each context and writes its table and JSON
# lines; `bench train --profile` prints the per-op table whose lines add up to the step;
# `bench kernels` without a GPU, and bad options, are one-line errors with exit code 2.
set -u
cd "$(mktemp -d)"
source "$SR_SOURCE_DIR/tests/cli/lib.bash"
cfg="$SR_SOURCE_DIR/configs/model/tiny.ini"

rc=0
"$SR_BIN" bench compare --model "$cfg" --window 32 --contexts 64,128 --train.steps 1 \
  --json c.jsonl --markdown c.md >out.txt 2>err.txt || rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: bench compare exited $rc"; cat err.txt; fails=$((fails + 1)); fi
# Two contexts x (full, window): four JSON lines, two table rows with both ratios.
[ "$(wc -l <c.jsonl)" -eq 4 ] || { echo "FAIL: want 4 JSON lines:"; cat c.jsonl; fails=$((fails + 1)); }
"$SR_PYTHON" - c.jsonl <<'PY' || fails=$((fails + 1))
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [(r["tokens"], r["attention"]) for r in rows] == \
    [(64, "full"), (64, "window 32"), (128, "full"), (128, "window 32")], rows
for r in rows:
    assert r["system"] == "smoothread" and r["tokens_per_s"] > 0, r
# The window halves at most the attention FLOPs: the bound is > 1 and grows with the context.
assert 1 < rows[1]["flop_ratio"] < rows[3]["flop_ratio"], rows
PY
grep -q "^| 128 | .* | .*x | .*x |$" c.md || { echo "FAIL: no 128-token row in c.md"; cat c.md; fails=$((fails + 1)); }

rc=0
"$SR_BIN" bench train --config "$cfg" --train.micro_batch_tokens 128 --train.steps 2 --profile \
  >out.txt 2>err.txt || rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: bench train --profile exited $rc"; cat err.txt; fails=$((fails + 1)); fi
# Every kind a CPU step runs appears, and the kinds plus the rest add up to the step.
"$SR_PYTHON" - out.txt <<'PY' || fails=$((fails + 1))
import re, sys
ms = {}
for line in open(sys.argv[1]):
    m = re.match(r"^  (.{20}) +(-?[0-9.]+)", line)
    if m:
        ms[m.group(1).strip()] = float(m.group(2))
for kind in ["attention forward", "attention backward", "GEMM", "RMSNorm", "cross-entropy", "optimizer"]:
    assert ms.get(kind, 0) > 0, (kind, ms)
step = ms.pop("step")
assert abs(sum(ms.values()) - step) <= 0.02 * step + 0.05, (ms, step)
PY

# train.profile: the same table at the end of a training run, over its steps.
"$SR_BIN" data from-text "$SR_SOURCE_DIR/README.md" --out d.h5 --sample-tokens 128 >/dev/null 2>&1 ||
  { echo "FAIL: data from-text"; fails=$((fails + 1)); }
rc=0
"$SR_BIN" train --config "$cfg" --data.path d.h5 --train.steps 3 --train.micro_batch_tokens 256 \
  --train.global_batch_tokens 256 --train.out_dir run --train.profile true >out.txt 2>err.txt || rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: train with train.profile exited $rc"; cat err.txt; fails=$((fails + 1)); fi
grep -q "profile: device time per op kind over 3 steps" out.txt &&
  grep -q "^  attention backward " out.txt ||
  { echo "FAIL: no profile table after training:"; cat out.txt; fails=$((fails + 1)); }

expect_user_error "compare bad context" "bench compare: --contexts 'lots': expected a positive token count" \
  "$SR_BIN" bench compare --model "$cfg" --contexts lots
if ! nvidia-smi >/dev/null 2>&1; then
  expect_user_error "kernels without a GPU" "bench kernels: needs a CUDA device" "$SR_BIN" bench kernels
fi
expect_user_error "kernels bad list" "bench kernels: --contexts 'x': expected a positive token count" \
  "$SR_BIN" bench kernels --contexts 4k,x
expect_user_error "kernels bad head dim" "bench kernels: --head-dims = '128,96'" \
  "$SR_BIN" bench kernels --head-dims 128,96
expect_user_error "compare bad recompute" "model.recompute = most" \
  "$SR_BIN" bench compare --model "$cfg" --contexts 64 --recompute most
expect_user_error "compare missing model" "no-such.ini: cannot open config file" \
  "$SR_BIN" bench compare --model no-such.ini --contexts 64
[ "$fails" -eq 0 ] || exit 1
echo "bench compare/profile/kernels: all checks passed"
