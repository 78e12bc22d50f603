#!/usr/bin/env bash
# What a checkpoint must never do to the ones before it, and what a run must refuse:
# - a checkpoint write that fails (here the file size limit of `ulimit -f`, a real EFBIG) ends
#   the run with one line (exit 2), leaves `latest` and the previous checkpoint as they were
#   (also with keep_last 1) and leaves no temporary directory; the next run resumes from it;
# - a checkpoint whose weights are NaN (with valid checksums) is named and skipped for the
#   previous one; pruning afterwards keeps what `latest` names; a garbled `latest` or a stray
#   entry among the checkpoints does not stop a resume;
# - a fresh run (resume = none) over another run's checkpoints is refused unless
#   checkpoint.overwrite = true;
# - a second run on an out_dir in use is refused.
set -u
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.bash"
cd "$work" || exit 1
"$SR_BIN" data from-text /usr/share/common-licenses/* --out data.h5 --sample-tokens 512 >/dev/null || exit 1
base=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path data.h5 --train.threads 1
      --train.log_every 1000 --checkpoint.every 1)
verifies() { "$SR_BIN" ckpt inspect "$1" --verify >/dev/null 2>&1; }
check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

# 1. A failing write. The shards of this model (a 16k vocabulary) are ~28 MB; the limit of
# 10 MB still lets MPI start. keep_last 1: the failed write must not have pruned step 2.
big=("${base[@]}" --train.out_dir big --checkpoint.keep_last 1 --model.vocab_size 16384
     --model.hidden_size 128 --model.intermediate_size 256 --train.global_batch_tokens 512
     --train.micro_batch_tokens 512)
"$SR_BIN" train "${big[@]}" --train.steps 2 >/dev/null 2>&1 || { echo "FAIL: first run"; exit 1; }
expect_user_error "write beyond the file size limit" "checkpoint step_00000003 not written" \
  bash -c 'ulimit -f 10000; exec "$0" "$@"' "$SR_BIN" train "${big[@]}" --train.steps 4
check "the error names the cause" grep -q "File too large" err.txt
check "latest still names step 2" grep -qx step_00000002 big/checkpoints/latest
check "step 2 still verifies" verifies big/checkpoints
check "no step 3 and no temporary left" test "$(ls -A big/checkpoints | tr '\n' ' ')" = "latest step_00000002 "
"$SR_BIN" train "${big[@]}" --train.steps 3 >log.txt 2>&1
check "the next run resumes from step 2" grep -q "resumed from big/checkpoints/step_00000002" log.txt

# The same under mpirun with TP 2 (both ranks write a shard): every rank stops with the
# error, none waits for the others, and step 2 stays.
mpi=("${big[@]}" --train.out_dir bigmpi --parallel.tp 2)
mpirun -np 2 --oversubscribe "$SR_BIN" train "${mpi[@]}" --train.steps 2 >/dev/null 2>&1 ||
  { echo "FAIL: first mpirun run"; exit 1; }
bash -c 'ulimit -f 10000; exec timeout 120 mpirun -np 2 --oversubscribe "$0" "$@"' "$SR_BIN" train "${mpi[@]}" \
  --train.steps 4 >out.txt 2>err.txt
check "under mpirun: exit 2, no rank left waiting" test $? -eq 2
check "under mpirun: the error names the checkpoint" grep -q "checkpoint step_00000003 not written" err.txt
check "under mpirun: latest still names step 2" grep -qx step_00000002 bigmpi/checkpoints/latest
check "under mpirun: step 2 still verifies" verifies bigmpi/checkpoints

# 2. NaN weights with valid checksums: named, skipped; the run falls back to step 2, and
# pruning (keep_last 1) leaves latest naming a checkpoint that exists.
run=("${base[@]}" --train.out_dir nan --checkpoint.keep_last 2)
"$SR_BIN" train "${run[@]}" --train.steps 3 >/dev/null 2>&1 || { echo "FAIL: NaN setup run"; exit 1; }
"$SR_PYTHON" - nan/checkpoints/step_00000003/rank_00000.h5 <<'PY' || { echo "FAIL: h5py"; exit 1; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f["param/model.norm.weight"]
    d[3] = np.nan
PY
expect_user_error "verify refuses NaN weights" "holds NaN values" \
  "$SR_BIN" ckpt inspect nan/checkpoints --verify
"$SR_BIN" train "${run[@]}" --checkpoint.keep_last 1 --train.steps 5 >log.txt 2>&1
check "resume from NaN weights exits 0" test $? -eq 0
check "the NaN shard is named" grep -q "step_00000003/rank_00000.h5: dataset param/model.norm.weight holds NaN.*falling back" log.txt
check "it falls back to step 2" grep -q "resumed from nan/checkpoints/step_00000002" log.txt
check "latest names step 5" grep -qx step_00000005 nan/checkpoints/latest
check "which exists and verifies" verifies nan/checkpoints
check "keep_last 1 pruned the older ones of this run" test "$(ls nan/checkpoints | tr '\n' ' ')" = "latest step_00000005 "

# A garbled `latest` and a stray entry among the checkpoints: warned about or ignored, and the
# run resumes from the newest checkpoint there.
cp -r nan garbled
echo "step_oops" > garbled/checkpoints/latest
mkdir garbled/checkpoints/step_backup
"$SR_BIN" train "${run[@]}" --train.out_dir garbled --train.steps 6 >log.txt 2>&1
check "a garbled latest is named and ignored" grep -q "latest names 'step_oops', not a checkpoint" log.txt
check "the run resumes from the newest checkpoint" grep -q "resumed from garbled/checkpoints/step_00000005" log.txt
check "the stray entry is left alone" test -d garbled/checkpoints/step_backup

# 3. A fresh run over another run's checkpoints (here step 5, higher than it will write).
expect_user_error "resume = none over another run" "holds checkpoints of another run (step_00000005)" \
  "$SR_BIN" train "${run[@]}" --checkpoint.resume none --train.steps 2
check "the other run's checkpoint is intact" verifies nan/checkpoints
"$SR_BIN" train "${run[@]}" --checkpoint.resume none --checkpoint.overwrite true --train.steps 2 >log.txt 2>&1
check "overwrite = true starts afresh" grep -q "deleted 1 checkpoint(s) of another run" log.txt
check "and latest names its own step 2" grep -qx step_00000002 nan/checkpoints/latest
check "its own two (keep_last 2) and nothing else" \
  test "$(ls nan/checkpoints | tr '\n' ' ')" = "latest step_00000001 step_00000002 "

# 4. Two runs on one out_dir at once.
"$SR_BIN" train "${base[@]}" --train.out_dir busy --checkpoint.every 0 --train.steps 100000 >busy.txt 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -s busy/metrics.jsonl ] && break; sleep 0.1; done
check "the first run is training" test -s busy/metrics.jsonl
expect_user_error "a second run on a busy out_dir" "is in use by another smoothread run (pid ${pids[0]}" \
  "$SR_BIN" train "${base[@]}" --train.out_dir busy --train.steps 2
kill -TERM "${pids[0]}"
wait "${pids[0]}"
check "the first run checkpoints and exits 75 as usual" test $? -eq 75

[ "$fails" -eq 0 ] && echo "OK: checkpoint safety"
exit "$fails"
