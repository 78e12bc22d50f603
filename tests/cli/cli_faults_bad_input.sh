#!/usr/bin/env bash
# Failures the process can explain end in one line on stderr and exit code 2 (never terminate,
# never an HDF5 error stack): file-system errors on the run directory, stray or garbled entries
# in a checkpoints directory, sizes that cannot be allocated, outputs that would replace inputs,
# interrupted writes (no temporary left behind), damaged checkpoints under `ckpt inspect --verify`.
set -uo pipefail
: "${SR_BIN:?}" "${SR_SOURCE_DIR:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# expect_ok NAME COMMAND...: exit code 0.
expect_ok() {
  local name=$1 rc=0
  shift
  "$@" >out.txt 2>err.txt || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $name: rc=$rc"
    cat err.txt
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
# no_hdf5_stack NAME: the last command printed no HDF5 diagnostic stack.
no_hdf5_stack() {
  if grep -q "HDF5-DIAG" err.txt out.txt; then
    echo "FAIL $1: HDF5's error stack was printed"
    fails=$((fails + 1))
  fi
}

printf 'one two three four five six seven eight nine ten eleven twelve\n%.0s' $(seq 1 300) > t.txt
"$SR_BIN" data from-text t.txt --out data.h5 --sample-tokens 128 >/dev/null || exit 1
cfg="$SR_SOURCE_DIR/configs/train/demo-cpu.ini"
train=("$SR_BIN" train --config "$cfg" --data.path data.h5 --train.threads 1 --train.steps 2
       --train.global_batch_tokens 1024 --train.log_every 100)

# --- the run directory (item: uncaught file-system errors) ---------------------------------
echo x > a_file
expect_user_error "out_dir is a file" "a_file" "${train[@]}" --train.out_dir a_file
expect_user_error "out_dir below a file" "a_file/run" "${train[@]}" --train.out_dir a_file/run
long=$(printf 'n%.0s' $(seq 1 300))
expect_user_error "out_dir name too long" "$long" "${train[@]}" --train.out_dir "$long"
mkdir -p cp_is_file && echo x > cp_is_file/checkpoints
expect_user_error "checkpoints is a file" "cp_is_file/checkpoints" "${train[@]}" --train.out_dir cp_is_file
if [[ $(id -u) -ne 0 ]]; then
  mkdir ro && chmod 555 ro
  expect_user_error "out_dir not writable" "ro" "${train[@]}" --train.out_dir ro/run
fi

# Under mpirun the rank that meets the error brings the others down: exit code 2, no hang.
rc=0
timeout 120 mpirun -np 2 --oversubscribe "${train[@]}" --train.out_dir a_file >out.txt 2>err.txt || rc=$?
if [[ $rc -ne 2 ]] || ! grep -q "smoothread: error (rank [01]): .*a_file" err.txt; then
  echo "FAIL out_dir is a file under mpirun -np 2: rc=$rc"; cat err.txt; fails=$((fails + 1))
else
  echo "ok   out_dir is a file under mpirun -np 2: rc 2, $(grep -c "smoothread: error" err.txt) rank(s) said why"
fi

# --- checkpoints directories with entries the run did not write ---------------------------
expect_ok "setup run" "${train[@]}" --train.out_dir run
mkdir run/checkpoints/step_backup run/checkpoints/step_12x
echo "left here" > run/checkpoints/step_backup/note
expect_ok "stray entries in checkpoints/ are left alone" "${train[@]}" --train.out_dir run --train.steps 3
[[ -f run/checkpoints/step_backup/note && -d run/checkpoints/step_12x ]] ||
  { echo "FAIL the stray entries were removed"; fails=$((fails + 1)); }
cp -r run garbled
printf 'step_\x01\x02 garbage\n' > garbled/checkpoints/latest
rc=0
"${train[@]}" --train.out_dir garbled --train.steps 4 >out.txt 2>err.txt || rc=$?
# Either a warning and the fall-back to the newest readable checkpoint, or a clear error.
if ! { [[ $rc -eq 0 ]] || { [[ $rc -eq 2 ]] && [[ $(wc -l <err.txt) -eq 1 ]]; }; }; then
  echo "FAIL garbled latest: rc=$rc"; cat err.txt; fails=$((fails + 1))
else
  echo "ok   garbled latest: rc=$rc"
fi

# --- data synth sizes are checked before any work ------------------------------------------
synth=("$SR_BIN" data synth --task passkey --out synth.h5)
expect_user_error "synth context beyond any memory" "--context-tokens '99999999999999k': expected at most" \
  "${synth[@]}" --context-tokens 99999999999999k --samples 1
expect_user_error "synth context overflowing" "--context-tokens '18446744073709551615k'" \
  "${synth[@]}" --context-tokens 18446744073709551615k --samples 1
expect_user_error "synth negative context" "--context-tokens '-5'" "${synth[@]}" --context-tokens -5 --samples 1
expect_user_error "synth negative count" "--samples '-1': expected a count" "${synth[@]}" --context-tokens 1k --samples -1
expect_user_error "synth astronomical count" "--samples '100000000000000000000'" \
  "${synth[@]}" --context-tokens 1k --samples 100000000000000000000
expect_user_error "synth count x context too large" "--samples '1000000000000'" \
  "${synth[@]}" --context-tokens 64k --samples 1000000000000
[[ ! -e synth.h5 && ! -e synth.h5.tmp ]] || { echo "FAIL synth left a file behind"; fails=$((fails + 1)); }

# --- outputs that would replace an input ---------------------------------------------------
cp t.txt keep.txt
mkdir -p outdir sub
sum=$(md5sum <keep.txt)
expect_user_error "from-text --out is the input" "refusing to overwrite an input" \
  "$SR_BIN" data from-text keep.txt --out keep.txt --sample-tokens 64
expect_user_error "from-text --out is the input spelled otherwise" "refusing to overwrite an input" \
  "$SR_BIN" data from-text t.txt keep.txt --out ./sub/../keep.txt --sample-tokens 64
ln keep.txt hardlink.txt
expect_user_error "from-text --out is a hard link to the input" "refusing to overwrite an input" \
  "$SR_BIN" data from-text hardlink.txt --out keep.txt --sample-tokens 64
[[ $(md5sum <keep.txt) == "$sum" ]] || { echo "FAIL an input was changed"; fails=$((fails + 1)); }
expect_user_error "from-text --out is a directory" "--out outdir is a directory" \
  "$SR_BIN" data from-text t.txt --out outdir --sample-tokens 64
expect_user_error "from-text --out in a missing directory" "the directory nowhere does not exist" \
  "$SR_BIN" data from-text t.txt --out nowhere/x.h5 --sample-tokens 64
expect_user_error "from-text input is a directory" "outdir: is a directory" \
  "$SR_BIN" data from-text outdir --out x.h5 --sample-tokens 64
expect_user_error "synth --out is its haystack" "refusing to overwrite an input" \
  "${synth[@]/synth.h5/keep.txt}" --context-tokens 1k --samples 1 --haystack keep.txt
[[ -z $(ls ./*.tmp sub/*.tmp outdir/* 2>/dev/null) ]] || { echo "FAIL a temporary file was left"; fails=$((fails + 1)); }

# --- an interrupted write leaves no temporary file -----------------------------------------
for sig in INT TERM; do
  "$SR_BIN" data synth --task passkey --context-tokens 64k --samples 100000 --out big.h5 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do [[ -e big.h5.tmp ]] && break; sleep 0.05; done
  [[ -e big.h5.tmp ]] || { echo "FAIL SIG$sig: the temporary never appeared"; fails=$((fails + 1)); }
  kill -"$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  if [[ -e big.h5.tmp || -e big.h5 ]]; then
    echo "FAIL SIG$sig during data synth left $(ls big.h5*)"
    fails=$((fails + 1))
    rm -f big.h5 big.h5.tmp
  else
    echo "ok   SIG$sig during data synth: no temporary left (rc $rc)"
  fi
done

# --- ckpt inspect --verify: 0 for a good checkpoint, 2 for every damaged one ---------------
good=run/checkpoints/$(cat run/checkpoints/latest)
expect_ok "verify a good checkpoint" "$SR_BIN" ckpt inspect "$good" --verify
damaged() {  # damaged NAME EXPECTED_TEXT EDIT: a copy of the good checkpoint changed by EDIT
  local name=$1 want=$2 edit=$3
  rm -rf bad && cp -r "$good" bad
  (cd bad && eval "$edit")
  expect_user_error "verify: $name" "$want" "$SR_BIN" ckpt inspect bad --verify
  no_hdf5_stack "verify: $name"
}
shard=$(cd "$good" && ls -- *.h5 | head -1)
damaged "non-numeric step" "bad/manifest: key 'step' missing or not an integer" \
  "sed -i 's/^step = .*/step = abc/' manifest"
damaged "no shards" "bad/manifest: key 'shards' lists no shard files" "sed -i 's/^shards =.*/shards =/' manifest"
damaged "missing shard" "bad/$shard: no such file" "rm $shard"
damaged "truncated shard" "bad/" "truncate -s 2000 $shard"
size=$(stat -c %s "$good/$shard")
damaged "overwritten shard" "bad/" \
  "dd if=/dev/zero of=$shard bs=1 seek=$((size / 2)) count=4096 conv=notrunc status=none"
damaged "shard not HDF5" "not an HDF5 file" "echo text > $shard"

# --- HDF5 errors in the reader's thread come back as one line ------------------------------
# HDF5 keeps its error-printing switch per thread: damage the last compressed chunk of /tokens,
# which the prefetch thread reaches only after the first steps (samples in file order).
if [[ -n ${SR_PYTHON:-} ]] && "$SR_PYTHON" -c "import h5py" 2>/dev/null; then
  cp data.h5 broken.h5
  "$SR_PYTHON" - <<'PY'
import h5py
with h5py.File("broken.h5", "r") as f:
    d = f["tokens"]
    last = d.id.get_chunk_info(d.id.get_num_chunks() - 1)
with open("broken.h5", "r+b") as g:
    g.seek(last.byte_offset + last.size // 2)
    g.write(b"\xff" * 64)
PY
  expect_user_error "damaged dataset read by the prefetch thread" "broken.h5: cannot read /tokens" \
    "${train[@]}" --train.out_dir broken_run --data.path broken.h5 --train.steps 30 --data.shuffle false
  no_hdf5_stack "damaged dataset read by the prefetch thread"
fi

echo "$fails failure(s)"
exit $((fails > 0))
