#!/usr/bin/env bash
# Reproduces the Smooth Reading paper's central result at small scale: three systems of the
# same size, trained from scratch on the same number of tokens of synthetic long-context tasks,
# then evaluated on held-out tasks far beyond their training length.
#
#   (a) full     full attention, trained on one-round samples      eval --mode one-round
#   (b) window   sliding window, trained on the same samples       eval --mode one-round
#   (c) sr       the window model of (b), trained on Smooth Reading eval --mode sr
#                trajectories (chunks <= W/2, a summary per chunk)
#
#   tools/replicate.sh [--tiny] [--out DIR] [options] [-- TRAIN-ARGS]
#
# Steps: (1) `smoothread data synth` writes the training sets (one-round and sr formats, the same
# tasks and context lengths, seed 1234, train split); (2) `smoothread train` trains each system
# from scratch with configs/replicate/<system>.ini (configs/replicate/tiny/ with --tiny); (3)
# `smoothread eval` reads held-out tasks (the test split of another seed) at each context
# length; (4) tools/replicate_report.py writes DIR/results.md and the SVG plots.
#
# DIR (default runs/replicate, runs/replicate-tiny with --tiny) ends up holding:
#   data/train-one-round.h5, data/train-sr.h5     training sets
#   runs/<system>/metrics.jsonl, checkpoints/     one training run per system
#   eval/<system>.json, eval/<system>.md          smoothread eval --out-json / --out-md
#   eval/<system>-samples.jsonl                   every reading: expected and given answer, summaries
#   timings.jsonl                                 wall-clock seconds per system and phase
#   run.json, commands.sh, logs/                  commit, card, versions; every command run; logs
#   results.md, loss.svg, accuracy.svg            tools/replicate_report.py DIR
#
# A system whose run already reached its last step is not trained again (delete
# DIR/runs/<system> to retrain it); an interrupted run resumes from its latest checkpoint.
#
# Options:
#   --tiny             the `tiny` model on CPU with contexts of a few hundred tokens (a test of
#                      the pipeline, minutes on 2 cores; its scores mean nothing)
#   --out DIR          where everything goes
#   --systems LIST     comma-separated subset of full,window,sr (default: all three)
#   --steps N          training steps for every system (default: the configs' train.steps)
#   --train-context LIST  training context lengths in tokens, each sample's drawn from the list
#                      (default 1k,2k,4k,8k; tiny 128,256). Short contexts hold more needles per
#                      trained token (docs/results.md, attempt 5)
#   --lengths LIST     evaluation context lengths (default 4k,16k,64k,128k; tiny 512,1k)
#   --samples N        held-out samples per task and length (default 50; tiny 2)
#   --tasks LIST       tasks trained on (in turn) and evaluated (default
#                      passkey,niah-multikey,niah-multivalue,vartrack)
#   --device D         cpu or cuda (default cuda; tiny cpu)
#   --threads N        CPU threads per process of train and eval (train.threads, eval --threads;
#                      default 0: automatic, OMP_NUM_THREADS else the cores; tiny 1)
#   --jobs N           systems trained and evaluated at once (default 1, which keeps each
#                      system's wall-clock its own; >1 shares the card and says so in run.json)
#   --words FILE       word list for the haystacks and keys, for both synth and eval (default:
#                      smoothread's, /usr/share/dict/words where it exists, else built in)
#   --pretrain-steps N  first train one model for N steps on copy-rich text (tools/recall_text.py:
#                      key-value records recalled in another order, the loss on every token),
#                      and start all three systems from it (checkpoint.init_from): the
#                      retrieval skill the paper's pretrained models bring (docs/results.md).
#                      The same for every system, on top of their budget (default 0: none)
#   --init-from HF     start all three systems from a Hugging Face Qwen2 folder instead of from
#                      scratch, as the paper does (`smoothread ckpt import-hf`, once, into
#                      DIR/runs/start): its shape, weights and tokenizer (the training sets are
#                      written in it; eval reads it from the checkpoint). The windows stay the
#                      systems' own, and the learning rate drops to a fine-tuning rate (2e-5 to
#                      2e-6; -- --train.lr X overrides it). A re-run must name the same folder.
#                      Not with --pretrain-steps
#   --no-report        skip step (4)
#   -- ARGS            passed on to every `smoothread train` (e.g. --train.lr 5e-4), after the
#                      configs; they count in the data budget too
#
# Environment: SR_BIN (default build/smoothread), SR_PYTHON (default python3).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
invocation=$(printf ' %q' "$@")
die() { echo "replicate.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

tiny=0 out="" systems="full,window,sr" steps="" train_ctx="" lengths="" samples="" device=""
tasks="passkey,niah-multikey,niah-multivalue,vartrack" jobs=1 threads="" words="" report=1 train_extra=()
pretrain_steps=0 hf=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --tiny) tiny=1; shift ;;
    --out|--systems|--steps|--train-context|--lengths|--samples|--tasks|--device|--jobs|--threads|--words|--pretrain-steps|--init-from)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      v=$2
      case $1 in
        --out) out=$v ;; --systems) systems=$v ;; --steps) steps=$v ;;
        --train-context) train_ctx=$v ;; --lengths) lengths=$v ;; --samples) samples=$v ;;
        --tasks) tasks=$v ;; --device) device=$v ;; --jobs) jobs=$v ;; --threads) threads=$v ;;
        --words) words=$v ;; --pretrain-steps) pretrain_steps=$v ;; --init-from) hf=$v ;;
      esac
      shift 2 ;;
    --no-report) report=0; shift ;;
    --) shift; train_extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Sizes of the two variants. Chunks are at most half the window, leaving room in it for the
# previous summary and the one being written (summaries run to ~100-250 tokens).
if [[ $tiny -eq 1 ]]; then
  cfgdir=$root/configs/replicate/tiny
  : "${out:=runs/replicate-tiny}" "${train_ctx:=128,256}" "${lengths:=512,1k}" "${samples:=2}" "${device:=cpu}"
  train_chunks=32:64         # W = 128
  eval_chunk=64
  # One thread per process: the tiny model's steps are too small to gain from a second thread,
  # and on a busy machine (CI runs two tests at once on 2 cores) OpenMP's waiting threads cost
  # 3-4x.
  : "${threads:=1}"
  # An untrained tiny model rarely writes <read> or <eos>: cap what it writes.
  eval_opts=(--max-summary-tokens 32 --max-answer-tokens 16)
  window_batch=64 full_batch=64
  recall_block=96 recall_sample=256   # blocks (records + recall, or a repeat) inside the window of 128
  recall_eval_tokens=1024
else
  cfgdir=$root/configs/replicate
  : "${out:=runs/replicate}" "${train_ctx:=1k,2k,4k,8k}" "${lengths:=4k,16k,64k,128k}" "${samples:=50}" "${device:=cuda}"
  train_chunks=256:512       # W = 1024
  eval_chunk=512
  # Decoding is batched across samples; a forward pass takes up to 32k tokens of prefill.
  eval_opts=(--max-summary-tokens 256 --max-answer-tokens 64 --max-step-tokens 32768)
  # Inputs read at once: a window model's KV cache is a ring of W positions per input, full
  # attention's holds the longest context (~0.5 GiB per input at 128k in bf16).
  window_batch=200 full_batch=50
  # Short blocks in short samples: an untrained head spreads its attention over every earlier
  # position of the sample, so the gradient that would teach it to find the copy shrinks with
  # the sample's length. With them, copying by content began near step 4,500 (docs/results.md,
  # attempt 5).
  recall_block=200 recall_sample=256
  recall_eval_tokens=65536
fi
train_seed=1234   # data synth --seed (train split)
eval_seed=4321    # eval --data-seed (test split): another seed and another stream

bin=${SR_BIN:-$root/build/smoothread}
py=${SR_PYTHON:-python3}
[[ -f $bin && -x $bin ]] || die "no smoothread binary at $bin (build it: tools/build.sh, or set SR_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[[ $device == cpu || $device == cuda ]] || die "--device $device: expected cpu or cuda"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs $jobs: expected a positive count"
: "${threads:=0}"
[[ $threads =~ ^(0|[1-9][0-9]*)$ ]] || die "--threads $threads: expected 0 (automatic) or a positive count"
[[ -z $steps || $steps =~ ^[1-9][0-9]*$ ]] || die "--steps $steps: expected a positive count"
[[ $pretrain_steps =~ ^(0|[1-9][0-9]*)$ ]] || die "--pretrain-steps $pretrain_steps: expected 0 (none) or a positive count"
[[ -z $hf || $pretrain_steps -eq 0 ]] || die "--init-from and --pretrain-steps: choose one start for the systems"
[[ -z $hf || -f $hf/config.json ]] || die "--init-from $hf: not a Hugging Face model folder (no config.json)"
[[ $train_ctx =~ ^[1-9][0-9]*[kK]?(,[1-9][0-9]*[kK]?)*$ ]] ||
  die "--train-context $train_ctx: expected token counts such as 8192 or 8k,16k"
# The training lengths in tokens (8k -> 8192), each once.
train_ctx=$(tr ',' '\n' <<<"$train_ctx" | awk '{ n = $0 + 0; if ($0 ~ /[kK]$/) n *= 1024; print n }' | paste -sd, -)
[[ $(tr ',' '\n' <<<"$train_ctx" | sort -u | wc -l) -eq $(tr ',' '\n' <<<"$train_ctx" | wc -l) ]] ||
  die "--train-context: a length is listed twice ($train_ctx)"
[[ $tasks =~ ^[a-z-]+(,[a-z-]+)*$ ]] || die "--tasks $tasks: expected a comma-separated list of task names"
[[ $samples =~ ^[1-9][0-9]*$ ]] || die "--samples $samples: expected a positive count"
[[ -z $words || -r $words ]] || die "--words $words: not a readable file"
IFS=, read -r -a sys_list <<<"$systems"
for s in "${sys_list[@]}"; do
  case $s in full|window|sr) ;; *) die "--systems: unknown system '$s' (full, window, sr)" ;; esac
  [[ -r $cfgdir/$s.ini ]] || die "missing config $cfgdir/$s.ini"
done

# --- (0) a pretrained start (--init-from) ---------------------------------------------------
# Imported once, first into a scratch folder: a folder that does not import, or a config that
# then does not load, leaves DIR untouched. A re-run reuses DIR/runs/start.
# start_args: where every system starts (this import, or the pre-training below), as train options.
start_args=() start_new=""
if [[ -n $hf ]]; then
  start=$out/runs/start
  start_ini=$start/model.ini
  hf_abs=$(cd "$hf" && pwd)
  if [[ -f $start_ini ]]; then
    # A re-run: the start must be the same folder's, or the systems would mix two starts.
    was=$(cat "$start/imported_from" 2>/dev/null || echo unknown)
    [[ $was == "$hf_abs" ]] || die "--init-from $hf: $start holds an import of $was (another --out, or delete it)"
  else
    start_new=$(mktemp -d)
    trap 'rm -rf "$start_new"' EXIT
    err=$("$bin" ckpt import-hf "$hf" --out "$start_new/start" 2>&1 >/dev/null) ||
      die "--init-from $hf: $(grep -m1 . <<<"$err" | sed 's/^smoothread: error: //')"
    start_ini=$start_new/start/model.ini
  fi
  # The imported shape overrides the configs' model section, all but the window (the systems').
  mapfile -t start_args < <(awk -F' = ' '/^\[/ { sec = $0 } sec == "[model]" && NF == 2 && $1 != "sliding_window" {
    print "--model." $1; print $2 }' "$start_ini")
  [[ ${#start_args[@]} -gt 0 ]] || die "--init-from $hf: the import wrote no model shape ($start_ini)"
  start_args+=(--checkpoint.init_from "$start/checkpoints" --train.lr 2e-5 --train.min_lr 2e-6)
fi

for s in "${sys_list[@]}"; do  # each system's config, with the arguments given, before any work
  extra=()
  [[ -n $steps ]] && extra=(--train.steps "$steps")
  err=$("$bin" train --config "$cfgdir/$s.ini" "${extra[@]}" "${start_args[@]}" "${train_extra[@]}" --print-config 2>&1 >/dev/null) ||
    die "the $s config does not load: $err"
done

if [[ $pretrain_steps -gt 0 ]]; then
  [[ -r $cfgdir/pretrain.ini ]] || die "missing config $cfgdir/pretrain.ini"
  err=$("$bin" train --config "$cfgdir/pretrain.ini" --train.steps "$pretrain_steps" "${train_extra[@]}" --print-config 2>&1 >/dev/null) ||
    die "the pretrain config does not load: $err"
fi

mkdir -p "$out"/{data,runs,eval,logs}
out=$(cd "$out" && pwd)
cmds=$out/commands.sh
timings=$out/timings.jsonl
[[ -f $cmds ]] || printf '#!/usr/bin/env bash\n# Commands run by tools/replicate.sh, in order (appended by each invocation).\n' >"$cmds"
echo "# $(date -u +%FT%TZ) tools/replicate.sh$invocation" >>"$cmds"
word_opt=()
[[ -n $words ]] && word_opt=(--words "$words")
tokenizer=byte
if [[ -n $hf ]]; then
  if [[ -n $start_new ]]; then
    mv "$start_new/start" "$start"
    echo "$hf_abs" >"$start/imported_from"
    printf '%q ' "$bin" ckpt import-hf "$hf" --out "$start" >>"$cmds"
    echo "  # (into a scratch folder, then moved here)" >>"$cmds"
  fi
  # The training sets are written in the start's tokenizer when it has one (import-hf stores it
  # with the Smooth Reading specials added); eval reads it from each checkpoint.
  start_step=$start/checkpoints/$(cat "$start/checkpoints/latest")
  if [[ -f $start_step/tokenizer.json ]]; then tokenizer=$start_step/tokenizer.json; fi
fi

# run LOG CMD...: appends CMD to commands.sh, runs it with its output in logs/LOG.log, shows the
# log's end if it fails.
run() {
  local log=$out/logs/$1.log
  shift
  printf '%q ' "$@" >>"$cmds"
  echo >>"$cmds"
  if ! "$@" >"$log" 2>&1; then
    echo "replicate.sh: failed: $* (log: $log)" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}
now() { date +%s.%N; }
timing() {  # SYSTEM PHASE START
  awk -v s="$1" -v p="$2" -v a="$3" -v b="$(now)" \
    'BEGIN { printf "{\"system\": \"%s\", \"phase\": \"%s\", \"seconds\": %.3f}\n", s, p, b - a }' >>"$timings"
}
# config_value SYSTEM KEY: the effective section.key of SYSTEM's training config.
config_value() {
  local extra=()
  [[ -n $steps ]] && extra=(--train.steps "$steps")
  "$bin" train --config "$cfgdir/$1.ini" "${extra[@]}" "${start_args[@]}" "${train_extra[@]}" --print-config |
    awk -v key="$2" '/^\[/ { sec = substr($0, 2, length($0) - 2) } / = / { split($0, kv, " = "); if (sec "." kv[1] == key) print kv[2] }'
}

# Run metadata (run.json, written once the data is): commit, versions, card, what was asked.
started=$(date -u +%FT%TZ)
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src kernels comm dataset configs tools 2>/dev/null | head -c1 | wc -c)
card=cpu
if [[ $device == cuda ]]; then
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)
  : "${card:=unknown GPU}"
fi

# --- (1) training data -------------------------------------------------------------------
# Every system trains on steps x global_batch_tokens tokens (the configs share both); write
# enough samples that no system repeats one: one-round samples are ~the mean training length
# (each sample's length is drawn uniformly from the list), and an sr trajectory reads until its
# clues are complete (on average about half the context) plus a summary per chunk, so twice as
# many are written. The training sets cycle through the --tasks list, the tasks evaluated.
ref=${sys_list[0]}
budget=$(( $(config_value "$ref" train.steps) * $(config_value "$ref" train.global_batch_tokens) ))
mean_ctx=$(tr ',' '\n' <<<"$train_ctx" | awk '{ s += $0 } END { printf "%d", s / NR }')
n_one=$(( budget / mean_ctx + budget / mean_ctx / 20 + 8 ))
n_sr=$(( 2 * n_one ))
need_one=0 need_sr=0
for s in "${sys_list[@]}"; do [[ $s == sr ]] && need_sr=1 || need_one=1; done
t0=$(now)
pids=()
if [[ $need_one -eq 1 ]]; then
  run synth-one-round "$bin" data synth --task "$tasks" --context-tokens "$train_ctx" --samples "$n_one" \
    --format one-round --seed "$train_seed" --split train "${word_opt[@]}" --tokenizer "$tokenizer" \
    --out "$out/data/train-one-round.h5" &
  pids+=($!)
fi
if [[ $need_sr -eq 1 ]]; then
  run synth-sr "$bin" data synth --task "$tasks" --context-tokens "$train_ctx" --samples "$n_sr" \
    --format sr --chunk-tokens "$train_chunks" --seed "$train_seed" --split train "${word_opt[@]}" --tokenizer "$tokenizer" \
    --out "$out/data/train-sr.h5" &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p" || die "data synth failed"; done
timing data synth "$t0"
echo "replicate.sh: data written ($(grep -h '^wrote' "$out"/logs/synth-*.log | sed 's/ from .*//' | paste -sd';' -))"
haystack=$(sed -n 's/^ *haystack *//p' <("$bin" data inspect "$out/data/train-$([[ $need_sr -eq 1 ]] && echo sr || echo one-round).h5" --sample -1))
variant=small
[[ $tiny -eq 1 ]] && variant=tiny
"$py" - "$out/run.json" "$variant" "$commit" "$dirty" "$("$bin" --version 2>&1 | head -n1)" "$card" \
  "$device" "$started" "$haystack" "$systems" "$jobs" "$train_ctx" "$train_chunks" "$eval_chunk" \
  "$lengths" "$samples" "$tasks" "$train_seed" "$eval_seed" "$threads" "$pretrain_steps" "$hf" "$tokenizer" <<'PY'
import json, sys
keys = ["variant", "commit", "dirty", "smoothread", "card", "device", "started_utc", "haystack", "systems",
        "jobs", "train_context_tokens", "train_chunk_tokens", "eval_chunk_tokens_sr", "eval_lengths",
        "eval_samples", "eval_tasks", "train_data_seed", "eval_data_seed", "threads", "pretrain_steps",
        "init_from", "tokenizer"]
r = dict(zip(keys, sys.argv[2:]))
r["dirty"] = r["dirty"] != "0"
for k in ("jobs", "eval_chunk_tokens_sr", "eval_samples", "train_data_seed", "eval_data_seed", "threads",
          "pretrain_steps"):
    r[k] = int(r[k])
for k in ("systems", "eval_lengths", "eval_tasks"):
    r[k] = r[k].split(",")
r["train_context_tokens"] = [int(x) for x in r["train_context_tokens"].split(",")]
r["train_tasks"] = r["eval_tasks"]
json.dump(r, open(sys.argv[1], "w"), indent=2)
PY

# trained_step RUNDIR: the step of the run's latest checkpoint, -1 when it has none.
trained_step() {
  local latest=$1/checkpoints/latest
  if [[ -f $latest ]]; then
    sed -n 's/^step = //p' "$1/checkpoints/$(cat "$latest")/manifest" 2>/dev/null || echo -1
  else
    echo -1
  fi
}

# --- (1b) pre-training on copy-rich text (--pretrain-steps) ---------------------------------
# One model, the systems' shape, trained on records recalled in another order with the loss on
# every token; the three systems then start from its weights (fresh optimizer state).
if [[ $pretrain_steps -gt 0 ]]; then
  pre=$out/runs/pretrain
  if [[ $(trained_step "$pre") -eq $pretrain_steps ]]; then
    echo "replicate.sh: pretrain: already trained to step $pretrain_steps ($pre)"
  else
    t0=$(now)
    gbt=$(config_value pretrain train.global_batch_tokens)
    # Enough text that no step repeats a sample (byte tokens: one per byte).
    run recall-text "$py" "$root/tools/recall_text.py" --bytes $((pretrain_steps * gbt * 21 / 20)) \
      --block-bytes "$recall_block" --seed "$train_seed" --out "$out/data/recall.txt" || die "recall_text.py failed"
    run pretrain-data "$bin" data from-text "$out/data/recall.txt" --sample-tokens "$recall_sample" \
      --out "$out/data/pretrain.h5" || die "data from-text failed"
    # Held out: records only (no repeats) from the test seed, the loss on them logged as
    # eval_loss. Against this text's own bounds it says whether the model retrieves by key, the
    # skill the tasks need, apart from continuing repeated text.
    run recall-heldout "$py" "$root/tools/recall_text.py" --bytes $((recall_eval_tokens * 21 / 20)) \
      --repeat-share 0 --block-bytes "$recall_block" --seed "$eval_seed" --out "$out/data/recall-heldout.txt" ||
      die "recall_text.py failed"
    run pretrain-heldout-data "$bin" data from-text "$out/data/recall-heldout.txt" --sample-tokens "$recall_sample" \
      --out "$out/data/pretrain-heldout.h5" || die "data from-text failed"
    timing pretrain data "$t0"
    echo "replicate.sh: pretrain: training ($pretrain_steps steps, log $out/logs/train-pretrain.log)"
    t0=$(now)
    run train-pretrain "$bin" train --config "$cfgdir/pretrain.ini" --data.path "$out/data/pretrain.h5" \
      --train.out_dir "$pre" --parallel.device "$device" --train.threads "$threads" \
      --train.steps "$pretrain_steps" --data.eval_path "$out/data/pretrain-heldout.h5" \
      --train.eval_every $(((pretrain_steps + 9) / 10)) --train.eval_tokens "$recall_eval_tokens" \
      "${train_extra[@]}" || die "pre-training failed"
    timing pretrain train "$t0"
  fi
  start_args=(--checkpoint.init_from "$pre/checkpoints")
fi

# --- (2) training and (3) evaluation, per system -----------------------------------------
system() {
  local s=$1 rundir=$out/runs/$1 data
  [[ $s == sr ]] && data=$out/data/train-sr.h5 || data=$out/data/train-one-round.h5
  local want
  want=$(config_value "$s" train.steps)
  local done_step
  done_step=$(trained_step "$rundir")
  local extra=()
  [[ -n $steps ]] && extra=(--train.steps "$steps")
  if [[ $done_step -eq $want ]]; then
    echo "replicate.sh: $s: already trained to step $want ($rundir)"
  else
    echo "replicate.sh: $s: training ($want steps, log $out/logs/train-$s.log)"
    local t0
    t0=$(now)
    run "train-$s" "$bin" train --config "$cfgdir/$s.ini" --data.path "$data" --train.out_dir "$rundir" \
      --parallel.device "$device" --train.threads "$threads" "${extra[@]}" "${start_args[@]}" "${train_extra[@]}" \
      || return 1
    timing "$s" train "$t0"
  fi
  local mode=one-round opts=("${eval_opts[@]}" --batch "$window_batch")
  [[ $s == sr ]] && mode=sr && opts+=(--chunk-tokens "$eval_chunk")
  [[ $s == full ]] && opts=("${eval_opts[@]}" --batch "$full_batch")
  echo "replicate.sh: $s: eval --mode $mode at $lengths (log $out/logs/eval-$s.log)"
  local t1
  t1=$(now)
  run "eval-$s" "$bin" eval --checkpoint "$rundir" --mode "$mode" --tasks "$tasks" \
    --context-tokens "$lengths" --samples "$samples" --data-seed "$eval_seed" --device "$device" \
    --threads "$threads" \
    "${word_opt[@]}" "${opts[@]}" --out-json "$out/eval/$s.json" --out-md "$out/eval/$s.md" \
    --out-samples "$out/eval/$s-samples.jsonl" || return 1
  timing "$s" eval "$t1"
}

failed=0
if [[ $jobs -eq 1 ]]; then
  for s in "${sys_list[@]}"; do system "$s" || failed=1; done
else
  running=0
  for s in "${sys_list[@]}"; do
    if [[ $running -ge $jobs ]]; then wait -n || failed=1; running=$((running - 1)); fi
    system "$s" &
    running=$((running + 1))
  done
  while [[ $running -gt 0 ]]; do wait -n || failed=1; running=$((running - 1)); done
fi
[[ $failed -eq 0 ]] || die "a system failed (logs in $out/logs)"

# --- (4) report ------------------------------------------------------------------------------
if [[ $report -eq 1 ]]; then
  run report "$py" "$root/tools/replicate_report.py" "$out" || die "the report failed"
  echo "replicate.sh: wrote $out/results.md, $out/loss.svg, $out/accuracy.svg"
fi
