// The streaming reader for training: a token dataset cut into global batches that do not depend
// on the number of data-parallel ranks, each rank reading and packing only its share.
//
// - The order of an epoch is a pure function of (seed, epoch): Fisher-Yates over sr::Rng, or
//   the file's order when !shuffle.
// - A global batch is the next samples of that order while their tokens fit
//   global_batch_tokens (at least one sample); it never spans two epochs, so the last batch of
//   an epoch may be smaller.
// - Sample k of a global batch goes to DP rank k % dp_size, which packs its samples in order
//   into micro-batches of at most micro_batch_tokens tokens (a rank may get none).
// - The state (epoch, samples consumed of that epoch's order) sits on a global-batch boundary
//   after every step, so a run resumes exactly, also with another DP size.
// A background thread prefetches the next prefetch_steps steps (0: read in next_step itself).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataset/batch.h"
#include "dataset/token_dataset.h"

namespace sr {

struct LoaderConfig {
  std::string path;
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t global_batch_tokens = 0;
  int64_t micro_batch_tokens = 0;
  bool truncate_long = false;  // cut samples longer than micro_batch_tokens instead of failing
  int prefetch_steps = 2;
  uint32_t model_vocab_size = 0;
};

struct LoaderState {
  uint64_t epoch = 0;
  uint64_t samples_consumed = 0;  // of the current epoch's order
  bool operator==(const LoaderState& o) const {
    return epoch == o.epoch && samples_consumed == o.samples_consumed;
  }
};

// The sample order of one epoch: [n] a permutation of 0..n-1.
std::vector<uint64_t> epoch_order(uint64_t n, uint64_t seed, uint64_t epoch, bool shuffle);

class Loader {
 public:
  // UserError for a dataset the model cannot train on (vocab too large, a sample longer than a
  // micro-batch without truncate_long, no samples) or a state beyond the dataset.
  Loader(const LoaderConfig& config, int dp_rank, int dp_size, LoaderState start);
  ~Loader();  // stops the prefetch thread
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // This rank's micro-batches of the next global batch (possibly none). An error met while
  // reading (also in the prefetch thread) is thrown here, and again on every later call.
  std::vector<Batch> next_step();
  // The state after the last step next_step returned (what a checkpoint saves).
  LoaderState state() const;
  const TokenDataset& dataset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sr
