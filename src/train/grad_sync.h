// GradSync: data-parallel gradient synchronisation (as Megatron's DistributedDataParallel).
// It owns the reduction ranges, taken from the model's parameter layout (one range per
// transformer layer, then the embedding and the final norm / LM head), the ZeRO-1 shard of
// the flat buffers each DP rank owns, the overlap of each layer's reduction with the rest of
// backward, and the global gradient norm.
//
// One step: begin_step(); the last micro-batch's backward calls layer_hook()(l) as layer l's
// gradients are final; reduce() finishes (or, without overlap, does) the reduction; then
// global_norm(), the optimizer update, and gather_params() (ZeRO-1: every rank gets the
// parameters the others updated).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "comm/process_grid.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace sr {

class GradSync {
 public:
  // What the model's flat buffers must be padded to (RunShape::param_flat_multiple).
  static int64_t flat_multiple(const ProcessGrid& grid, bool zero1);

  // zero1 and overlap are the config's wishes; they apply only with DP > 1 (overlap not with
  // ZeRO-1, which reduce-scatters once after backward).
  GradSync(const Transformer& model, ProcessGrid& grid, bool zero1, bool overlap);

  bool zero1() const { return zero1_; }
  bool overlap() const { return overlap_; }
  // The parameter segments whose optimizer state this rank keeps: all of them, or with ZeRO-1
  // its shard of the flat space.
  std::vector<ParamSegment> owned_segments() const;

  // Before the step's backward passes.
  void begin_step();
  // For the last micro-batch's backward: starts layer l's reduction (null without overlap).
  std::function<void(int64_t)> layer_hook();
  // Completes the reduction: every rank holds the DP sum of the gradients (ZeRO-1: of its
  // shard). Every rank starts the same ranges in the same order, also one without samples.
  void reduce();
  // The L2 norm of the whole model's reduced gradients, the same on every rank.
  double global_norm(const AdamW& optimizer);
  // ZeRO-1: after the update, every rank gathers the parameters the others updated.
  void gather_params();

 private:
  using Range = ModelParams::Range;
  Tensor owned_shard(const Tensor& flat) const;  // this DP rank's ZeRO-1 slice of a flat buffer
  void start(size_t range);

  const Transformer& model_;
  ProcessGrid& grid_;
  bool zero1_ = false, overlap_ = false;
  // Flat gradient ranges in the order they are reduced: layers L-1 .. 0 (as backward finishes
  // them), then the embedding and the tail.
  std::vector<Range> ranges_;
  std::vector<size_t> range_of_layer_;  // [L] index into ranges_
  std::vector<char> started_;           // [ranges] this step
  size_t next_ = 0;                     // every range before it was started this step
};

}  // namespace sr
