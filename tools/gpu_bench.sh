#!/usr/bin/env bash
# On a GPU host (see README): build, run the GPU tests, and the benchmarks recorded in
# docs/perf.md. Logs go to ${OUT:-gpu-out}/. Usage: tools/gpu_bench.sh [quick|memory]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null &&
  cmake --build build-gpu -j "$(nproc)" --target smoothread gpu_tests 2>&1 | tail -3 || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
build-gpu/tests/gpu_tests 2>&1 | tee "$out/gpu_tests.log" | tail -4
bench() {  # bench <name> <args...>
  local name=$1
  shift
  build-gpu/smoothread bench train --parallel.device cuda --train.global_batch_tokens 1048576 "$@" 2>&1 | tee "$out/$name.log" | grep -E "bench train:"
}
bench small_f32 --config configs/model/small.ini --train.micro_batch_tokens 8192 --train.steps 10 --train.precision f32
bench small_bf16 --config configs/model/small.ini --train.micro_batch_tokens 8192 --train.steps 10
if [ "${1:-quick}" == "memory" ]; then
  # DESIGN §9 / issue: a 64k-token sample of the 3B shape on one 80 GB card, with recomputation.
  bench swa3b_64k --config configs/model/swa-3b-4k.ini --train.micro_batch_tokens 65536 \
    --model.recompute full --model.lm_head_chunk 2048 --train.steps 1
  bench qwen3b_64k --config configs/model/qwen2.5-3b.ini --train.micro_batch_tokens 65536 \
    --model.recompute full --model.lm_head_chunk 2048 --train.steps 1
fi
