#!/usr/bin/env bash
# Training that cannot learn must not report success: a dataset without trained tokens (loss
# mask all zero), one of single-token samples (nothing to predict), a dataset truncated in
# place while a run reads it (single rank and under mpirun), and a run whose loss stays
# non-finite each end with one line and exit 2.
set -u
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.bash"
cd "$work" || exit 1
"$SR_BIN" data from-text /usr/share/common-licenses/* --out data.h5 --sample-tokens 512 >/dev/null || exit 1
"$SR_PYTHON" - <<'PY' || { echo "FAIL: h5py"; exit 1; }
import h5py, numpy as np
with h5py.File("data.h5", "r") as src:
    attrs = dict(src.attrs)
    tokens = src["tokens"][:]
    offsets = src["offsets"][:]
def write(path, tokens, mask, offsets):
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        f["tokens"] = tokens.astype(np.uint32)
        f["loss_mask"] = mask.astype(np.uint8)
        f["offsets"] = offsets.astype(np.uint64)
write("unmasked.h5", tokens, np.zeros_like(tokens, dtype=np.uint8), offsets)
n = 200
write("single.h5", tokens[:n], np.ones(n, dtype=np.uint8), np.arange(n + 1))
PY
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --train.threads 1 --train.log_every 1000
      --checkpoint.every 0)

expect_user_error "loss mask all zero" "has no trained tokens" \
  "$SR_BIN" train "${args[@]}" --data.path unmasked.h5 --train.out_dir unmasked --train.steps 3
expect_user_error "single-token samples" "has no trained tokens" \
  "$SR_BIN" train "${args[@]}" --data.path single.h5 --train.out_dir single --train.steps 3
expect_user_error "loss not finite 5 steps in a row" "not finite 5 steps in a row" \
  "$SR_BIN" train "${args[@]}" --data.path data.h5 --train.out_dir diverged --train.steps 20 \
  --train.lr 1e30 --train.warmup_steps 0
# Its skipped steps are still JSON lines in metrics.jsonl: a non-finite loss is null (JSON has
# no NaN; a reader that rejects NaN must be able to read the file).
if "$SR_PYTHON" - diverged/metrics.jsonl <<'PY'; then
import json, sys
def refuse(c): raise ValueError("not JSON: " + c)
rows = [json.loads(line, parse_constant=refuse) for line in open(sys.argv[1])]
assert any(r["skipped"] and r["loss"] is None for r in rows), rows
PY
  echo "ok   skipped steps in metrics.jsonl are JSON with a null loss"
else
  echo "FAIL skipped steps in metrics.jsonl are not JSON"
  fails=$((fails + 1))
fi

# Truncated in place while training reads it. Without compression HDF5 reads the missing part
# as zeros, without an error of its own.
"$SR_BIN" data from-text /usr/share/common-licenses/* --out plain.h5 --sample-tokens 512 --no-compress >/dev/null || exit 1
for launcher in "" "mpirun -np 2 --oversubscribe"; do
  name="truncated in place${launcher:+ under $launcher}"
  cp plain.h5 cut.h5
  rm -rf cut
  $launcher "$SR_BIN" train "${args[@]}" --data.path cut.h5 --train.out_dir cut --train.steps 100000 \
    >out.txt 2>err.txt &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 600); do [ -s cut/metrics.jsonl ] && break; sleep 0.1; done
  truncate -s 400000 cut.h5
  wait "$pid"
  rc=$?
  if [[ $rc -eq 2 ]] && grep -q "cut.h5: the file changed size from .* while it was being read" err.txt; then
    echo "ok   $name: $(grep -m1 'changed size' err.txt)"
  else
    echo "FAIL $name: rc=$rc"
    cat err.txt
    fails=$((fails + 1))
  fi
done

[ "$fails" -eq 0 ] && echo "OK: training that learns nothing is an error"
exit "$fails"
