#!/usr/bin/env bash
# On a GPU host (see README): build, run the single-GPU tests, and the benchmarks of
# docs/perf.md in one go: the kernels, the full-attention vs sliding-window comparison of the
# Qwen2.5-3B shape, and the PyTorch peer of the same shapes in the same run, with the ratio
# table and a plot. Logs, JSON and the plot go to ${OUT:-gpu-out}/.
#
#   tools/gpu_bench.sh [--contexts 4k,16k,64k] [--no-tests] [--no-peer] [--no-kernels]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
contexts=4k,16k,64k
tests=1 peer=1 kernels=1
while [ $# -gt 0 ]; do
  case $1 in
    --contexts) contexts=$2; shift ;;
    --no-tests) tests=0 ;;
    --no-peer) peer=0 ;;
    --no-kernels) kernels=0 ;;
    *) echo "gpu_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[gpu_bench $(($(date +%s) - start)) s] $*"; }
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/cmake.log" 2>&1 &&
  cmake --build build-gpu -j "$(nproc)" --target smoothread gpu_tests >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
grep "smoothread:" "$out/cmake.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
stamp built
if [ $tests = 1 ]; then
  build-gpu/tests/gpu_tests --gtest_filter='-Nccl*:CudaBench*' >"$out/gpu_tests.log" 2>&1
  echo "gpu tests exit $?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gpu_tests.log" | tr '\n' ' ')"
  stamp tested
fi
if [ $kernels = 1 ]; then
  build-gpu/smoothread bench kernels --json "$out/kernels.json" >"$out/kernels.log" 2>&1
  grep -E "^(attention|gemm|memory)" "$out/kernels.log"
  stamp "kernels measured"
fi
build-gpu/smoothread bench compare --model configs/model/qwen2.5-3b.ini --window 4096 \
  --contexts "$contexts" --parallel.device cuda --train.steps 2 \
  --json "$out/smoothread.jsonl" --markdown "$out/compare.md" >"$out/compare.log" 2>&1
cat "$out/compare.md"
stamp "smoothread measured"
if [ $peer = 1 ]; then
  rm -f "$out/pytorch.jsonl"
  for model in qwen2.5-3b swa-3b-4k; do
    python3 tools/peer_torch.py --config "configs/model/$model.ini" --tokens "$contexts" --steps 2 \
      --json "$out/pytorch.jsonl" 2>&1 | tee -a "$out/peer.log" | grep "^peer:"
  done
  python3 tools/plot_throughput.py "$out/smoothread.jsonl" "$out/pytorch.jsonl" \
    --out "$out/throughput.svg" | tee "$out/ratios.md"
  stamp "peer measured"
fi
