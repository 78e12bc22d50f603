// Checkpoints (docs/formats.md): a directory <out_dir>/checkpoints/step_NNNNNNNN/ written under
// a temporary name, fsynced, renamed, and only then named in <out_dir>/checkpoints/latest.
// Each writing rank stores the tensors it owns (parameters and AdamW moments, f32) in its own
// HDF5 shard with fletcher32 checksums and each tensor's global shape and offset; `manifest`
// holds the step, the data reader state, the seed, the layout and the model shape. Loading
// reassembles every tensor from whichever shards hold its pieces, so any (DP, TP) layout can
// resume any other.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "comm/process_grid.h"
#include "dataset/loader.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace sr {

struct TrainState {
  int64_t step = 0;
  LoaderState data;
  uint64_t seed = 0;
  // Which run wrote the checkpoint: chosen when a run starts from scratch and kept by every
  // run that resumes it. Pruning only ever removes checkpoints of this run.
  std::string run_id;
  // The tokenizer of the model's vocabulary: its identity (manifest key `tokenizer`; empty:
  // none recorded, which counts as the byte tokenizer) and, for a BPE tokenizer, the bytes of
  // its tokenizer.json (stored in the checkpoint directory; empty: none).
  std::string tokenizer;
  std::string tokenizer_json;
};

// The tokenizer a checkpoint records (TrainState::tokenizer, or "byte" when none).
std::string checkpoint_tokenizer_name(const TrainState& state);

struct CheckpointPolicy {
  int64_t keep_last = 2;   // newest checkpoints kept
  int64_t keep_every = 0;  // also keep steps divisible by this (0: none)
};

// The checkpoints directory of a run.
std::string checkpoints_dir(const std::string& out_dir);

// Collective over the grid. Writes step state.step (with state.tokenizer in the manifest and
// state.tokenizer_json as tokenizer.json when set) under a temporary name, checks every
// write, fsyncs and reads each shard back, renames it into place and only then names it in
// `latest`; then prunes by the policy the older checkpoints of state.run_id (never the new
// one, never another run's, never a higher step). Any failure on any rank is a UserError on
// every rank naming the file and the cause, with `latest` and older checkpoints untouched.
// Returns the path.
std::string save_checkpoint(const std::string& out_dir, const ProcessGrid& grid,
                            const Transformer& model, const AdamW& optimizer,
                            const TrainState& state, const CheckpointPolicy& policy);

// Collective. Resolves `resume` (auto: the newest complete checkpoint, falling back past any
// that fails to load; none: nothing; else a checkpoint directory, whose failure is an error),
// loads it into model and optimizer, and returns true with `state` filled; false when there
// is nothing to resume. A model shape that differs from the checkpoint's is a UserError.
// A checkpoint whose tensors hold NaN or infinite values, or whose tokenizer.json is not the one
// its manifest names, counts as damaged. Starting from
// scratch (or from a checkpoint of another run) over <out_dir>/checkpoints holding another
// run's checkpoints is a UserError unless `overwrite`, which deletes those first.
// state.run_id is the resumed run's, or a new one.
bool load_checkpoint(const std::string& out_dir, const std::string& resume, bool overwrite,
                     const ProcessGrid& grid, Transformer& model, AdamW& optimizer,
                     TrainState& state);

// Collective. Loads only the parameters of a checkpoint (a step directory, a checkpoints/
// directory through its latest, or a run directory holding one) into model, from any saved
// layout: what `checkpoint.init_from` and `ckpt export-hf` start from. The model's tensor
// shapes, tie, bias and rope_theta must be the checkpoint's; its sliding window may differ.
// UserError on every rank otherwise or when the checkpoint is damaged. With `tokenizer`, its
// tokenizer and tokenizer fields receive the checkpoint's (the other fields are left alone).
void load_checkpoint_params(const std::string& path, const ProcessGrid& grid, Transformer& model,
                            TrainState* tokenizer = nullptr);

// Holds <out_dir>/.lock (flock, rank 0) for a run's lifetime, so that a second run on the
// same out_dir is refused with a UserError on every rank instead of interleaving metrics and
// checkpoints. Creates out_dir. Collective.
class RunDirLock {
 public:
  RunDirLock(const std::string& out_dir, const ProcessGrid& grid);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// A checkpoint directory itself, or a checkpoints/ directory resolved through its `latest`.
std::string resolve_checkpoint_dir(const std::string& dir);

// What `smoothread ckpt inspect` prints: step, layout, tensors with global shapes; with
// verify, every shard's data is read (checksums checked). UserError on a damaged checkpoint.
std::string describe_checkpoint(const std::string& dir, bool verify);

}  // namespace sr
