#!/usr/bin/env bash
# Faults around checkpoints: kill -9 at arbitrary moments (also while a checkpoint is being
# written) never leaves `latest` naming a damaged checkpoint; a shard with flipped bytes is
# detected by its checksums, named, and resume falls back to the previous checkpoint.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
"$SR_BIN" data from-text /usr/share/common-licenses/* --out "$work/data.h5" --sample-tokens 512 >/dev/null || exit 1
out="$work/run"
args=(--config "$SR_SOURCE_DIR/configs/train/demo-cpu.ini" --data.path "$work/data.h5"
      --train.out_dir "$out" --train.threads 1 --train.log_every 1000 --checkpoint.every 1
      --checkpoint.keep_last 3 --train.global_batch_tokens 1024)

# Kill moments follow the run's progress, not the clock (a slow machine must not kill before the
# first step): N more steps logged, and for N:mid the next checkpoint being written from then on
# (its .tmp_ directory exists).
logged() { if [ -f "$out/metrics.jsonl" ]; then wc -l < "$out/metrics.jsonl"; else echo 0; fi; }
for moment in 1 1:mid 2 2:mid 3; do
  n=${moment%:mid}
  before=$(logged)
  "$SR_BIN" train "${args[@]}" --train.steps 1000 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 3000); do [ "$(logged)" -ge $((before + n)) ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.01; done
  [ "$moment" = "$n" ] || for _ in $(seq 30000); do compgen -G "$out/checkpoints/.tmp_*" >/dev/null || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.001; done
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  if [ -f "$out/checkpoints/latest" ]; then
    "$SR_BIN" ckpt inspect "$out/checkpoints" --verify >/dev/null 2>"$work/err" ||
      { echo "FAIL: after kill -9 at moment $moment, latest is damaged: $(cat "$work/err")"; fail=1; }
  fi
done
[ -f "$out/checkpoints/latest" ] || { echo "FAIL: no checkpoint was ever completed"; exit 1; }

# Flip bytes inside the data of the newest checkpoint's embedding.
latest="$out/checkpoints/$(cat "$out/checkpoints/latest")"
shard="$latest/rank_00000.h5"
offset=$("$SR_PYTHON" -c "
import h5py, sys
d = h5py.File(sys.argv[1], 'r')['param/model.embed_tokens.weight']
print(d.id.get_chunk_info(0).byte_offset + 1000)" "$shard") || { echo "FAIL: h5py cannot read $shard"; exit 1; }
printf '\xde\xad\xbe\xef' | dd of="$shard" bs=1 seek="$offset" conv=notrunc status=none
"$SR_BIN" ckpt inspect "$latest" --verify >/dev/null 2>"$work/err"
[ $? -eq 2 ] || { echo "FAIL: verify accepted a damaged shard"; fail=1; }
grep -q "rank_00000.h5" "$work/err" || { echo "FAIL: verify did not name the shard: $(cat "$work/err")"; fail=1; }

stopped=$(sed 's/step_0*//' "$out/checkpoints/latest")
log=$("$SR_BIN" train "${args[@]}" --train.steps $((stopped + 2)) 2>&1)
rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: resume after corruption exited $rc: $log"; fail=1; }
echo "$log" | grep -q "rank_00000.h5.*falling back" || { echo "FAIL: the damaged file was not named: $log"; fail=1; }
echo "$log" | grep -q "resumed from .*step_$(printf %08d $((stopped - 1)))" ||
  { echo "FAIL: did not fall back to step $((stopped - 1)): $log"; fail=1; }
[ "$fail" -eq 0 ] && echo "OK: checkpoint faults"
exit "$fail"
