#include "train/grad_sync.h"

#include <algorithm>
#include <cmath>

#include "comm/host_communicator.h"
#include "core/error.h"
#include "kernels/ops.h"

namespace sr {

namespace {
constexpr int64_t kBucketElements = int64_t(4) << 20;  // 16 MiB of f32 per gradient bucket
}

int64_t GradSync::flat_multiple(const ProcessGrid& grid, bool zero1) {
  return zero1 && grid.dp > 1 ? int64_t(grid.dp) * 64 : 1;
}

GradSync::GradSync(const Transformer& model, ProcessGrid& grid, bool zero1, bool overlap)
    : model_(model), grid_(grid) {
  zero1_ = zero1 && grid_.dp > 1;
  overlap_ = overlap && grid_.dp > 1 && !zero1_;
  const ModelParams& g = model_.grads();
  const size_t L = g.layer_range.size();
  for (size_t l = L; l-- > 0;) {
    range_of_layer_.insert(range_of_layer_.begin(), ranges_.size());
    ranges_.push_back(g.layer_range[l]);
  }
  ranges_.push_back(g.embed_range);
  ranges_.push_back(g.tail_range);
  started_.assign(ranges_.size(), 0);
  if (zero1_)
    SR_ASSERT(g.flat.numel() % grid_.dp == 0,
              "ZeRO-1: the flat gradient buffer must be padded to a multiple of the DP size");
}

std::vector<ParamSegment> GradSync::owned_segments() const {
  if (!zero1_) return whole_segments(model_.specs());
  const int64_t shard = model_.params().flat.numel() / grid_.dp;
  return flat_range_segments(model_.specs(), model_.params().flat_offset, shard * grid_.dp_rank,
                             shard * (grid_.dp_rank + 1));
}

Tensor GradSync::owned_shard(const Tensor& flat) const {
  const int64_t shard = flat.numel() / grid_.dp;
  return flat.rows(shard * grid_.dp_rank, shard);
}

void GradSync::begin_step() {
  std::fill(started_.begin(), started_.end(), 0);
  next_ = 0;
}

void GradSync::start(size_t i) {
  SR_ASSERT(!started_[i], "a gradient range was reduced twice in one step");
  // Ranges start in one fixed order on every rank (the collectives must match).
  SR_ASSERT(i == next_, "layer gradients finished out of order: the DP reduction needs them "
                        "from the last layer to the first");
  started_[i] = 1;
  ++next_;
  const Range r = ranges_[i];
  grid_.dp_group->start_all_reduce(model_.grads().flat.rows(r.begin, r.end - r.begin));
}

std::function<void(int64_t)> GradSync::layer_hook() {
  if (!overlap_) return nullptr;
  return [this](int64_t layer) {
    SR_ASSERT(layer >= 0 && size_t(layer) < range_of_layer_.size(),
              "backward reported layer " + std::to_string(layer) + " of " +
                  std::to_string(range_of_layer_.size()));
    start(range_of_layer_[size_t(layer)]);
  };
}

void GradSync::reduce() {
  if (grid_.dp == 1) return;
  const Tensor flat = model_.grads().flat;
  if (overlap_) {
    // The rest in the same order on every rank (one with no micro-batches starts them all).
    while (next_ < ranges_.size()) start(next_);
    grid_.dp_group->finish_all_reduces();
    return;
  }
  if (zero1_) {
    // Each DP rank receives the summed gradients of the slice whose optimizer state it owns.
    grid_.dp_group->reduce_scatter(owned_shard(flat), flat);
    return;
  }
  // All gradients are one flat buffer; reduce it in fixed-size buckets.
  for (int64_t off = 0; off < flat.numel(); off += kBucketElements)
    grid_.dp_group->all_reduce(flat.rows(off, std::min(kBucketElements, flat.numel() - off)),
                               ReduceOp::sum);
}

double GradSync::global_norm(const AdamW& optimizer) {
  // Split tensors hold disjoint slices on the TP ranks; replicated ones are identical there
  // and count once. With ZeRO-1 each DP rank holds the reduced gradients of its own segments.
  double sums[2] = {0, 0};  // split, replicated
  const auto& specs = model_.specs();
  for (const ParamSegment& s : optimizer.segments()) {
    const double sq = ops::sum_squares(segment_view(model_.grads().all[s.param], s.begin, s.count));
    sums[specs[s.param].split_dim >= 0 ? 0 : 1] += sq;
  }
  if (zero1_) grid_.host_dp->all_reduce(sums, 2, ReduceOp::sum, "gradient norm over DP shards");
  if (grid_.tp > 1) grid_.host_tp->all_reduce(&sums[0], 1, ReduceOp::sum, "gradient norm over TP");
  return std::sqrt(sums[0] + sums[1]);
}

void GradSync::gather_params() {
  if (!zero1_) return;
  const Tensor flat = model_.params().flat;
  grid_.dp_group->all_gather(flat, owned_shard(flat));
}

}  // namespace sr
