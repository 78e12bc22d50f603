#!/usr/bin/env bash
# `smoothread train` with bad input: each case exits 2 with one line on stderr naming the
# file/key/value, and an existing checkpoint of the run is left untouched.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cfg="$SR_SOURCE_DIR/configs/train/demo-cpu.ini"
fail=0

"$SR_BIN" data from-text /usr/share/common-licenses/GPL-3 --out "$work/data.h5" --sample-tokens 256 >/dev/null || exit 1
common=(--config "$cfg" --train.out_dir "$work/run" --train.threads 1)
data=(--data.path "$work/data.h5")
"$SR_BIN" train "${common[@]}" "${data[@]}" --train.steps 2 --train.global_batch_tokens 1024 >/dev/null 2>&1 || { echo "FAIL: setup run"; exit 1; }
before=$(cd "$work/run/checkpoints" && find . -type f -exec md5sum {} + | sort)

expect_error() {  # expect_error <stderr text> <train args...>
  local want="$1" err rc
  shift
  err=$("$SR_BIN" train "${common[@]}" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then echo "FAIL: [$*] exited $rc, want 2: $err"; fail=1; return; fi
  if [ "$(echo "$err" | wc -l)" -ne 1 ]; then echo "FAIL: [$*] printed more than one line: $err"; fail=1; fi
  if ! echo "$err" | grep -qF -- "$want"; then echo "FAIL: [$*] said '$err', want '$want'"; fail=1; fi
}

printf '[model]\nhiden_size = 64\n' > "$work/typo.ini"
expect_error "typo.ini: unknown key 'model.hiden_size'" --config "$work/typo.ini" "${data[@]}"
printf '[model]\nhidden_size = sixty-four\n' > "$work/nan.ini"
expect_error "nan.ini: model.hidden_size = 'sixty-four': expected an integer" --config "$work/nan.ini" "${data[@]}"
expect_error "unknown option '--train.bogus'" "${data[@]}" --train.bogus 1
expect_error "model.num_attention_heads = 5 does not divide model.hidden_size = 64" --model.num_attention_heads 5 "${data[@]}"
expect_error "model.num_key_value_heads = 3 does not divide model.num_attention_heads = 4" --model.num_key_value_heads 3 "${data[@]}"
expect_error "parallel.tp = 3 does not divide" --parallel.tp 3 "${data[@]}"
expect_error "model.recompute = most: expected none, attn, full or except_attention" --model.recompute most "${data[@]}"
expect_error "$work/missing.h5" --data.path "$work/missing.h5"
echo "not hdf5" > "$work/text.h5"
expect_error "$work/text.h5: not an HDF5 file" --data.path "$work/text.h5"
# The dataset's 265 byte-level ids do not fit a 200-token vocabulary.
expect_error "exceeds the model's vocab_size 200" "${data[@]}" --model.vocab_size 200 --train.out_dir "$work/fresh"
expect_error "train.precision = bf16: the CPU backend computes in f32" "${data[@]}" --train.precision bf16
expect_error "train.precision = half: expected auto, f32 or bf16" "${data[@]}" --train.precision half
# A checkpoint path that is not one.
err=$("$SR_BIN" ckpt inspect "$work/nowhere" 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 2 ] && echo "$err" | grep -qF "$work/nowhere: no such checkpoint directory" ||
  { echo "FAIL: ckpt inspect of a missing directory: rc $rc, '$err'"; fail=1; }
# Resuming with another model shape names the key and leaves the checkpoint alone.
expect_error "checkpoint has model.hidden_size = 64 but the config says 32" "${data[@]}" --model.hidden_size 32 --model.num_attention_heads 4

after=$(cd "$work/run/checkpoints" && find . -type f -exec md5sum {} + | sort)
[ "$before" == "$after" ] || { echo "FAIL: the checkpoint changed"; fail=1; }
[ "$fail" -eq 0 ] && echo "OK: train bad input"
exit "$fail"
