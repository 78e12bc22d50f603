#!/usr/bin/env bash
# The main job: set up, build, turn text this machine has into a dataset, train the tiny
# sliding-window model on CPU, and report the first and last loss.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh
tools/build.sh
mkdir -p runs/demo
build/smoothread data from-text /usr/share/common-licenses/* --out runs/demo/data.h5 --sample-tokens 512
build/smoothread data inspect runs/demo/data.h5 | head -12
rm -f runs/demo/metrics.jsonl
build/smoothread train --config configs/train/demo-cpu.ini "$@"
python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("runs/demo/metrics.jsonl")]
first, last = rows[0], rows[-1]
print(f"demo: loss {first['loss']:.3f} at step {first['step']} -> {last['loss']:.3f} at step {last['step']}")
if not last["loss"] < first["loss"]:
    raise SystemExit("demo: the loss did not fall")
PY
