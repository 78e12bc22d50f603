// ModelBatch: the model's input, one packed micro-batch of whole samples laid end to end, in
// host memory. Transformer::set_batch copies it to the model's device and weights each target.
// A view: the arrays belong to the caller (the trainer passes the loader's packed batch).
#pragma once
#include <cstdint>
#include <vector>

#include "core/error.h"

namespace sr {

struct ModelBatch {
  int64_t num_tokens = 0;               // T
  int64_t num_samples = 0;              // B
  const int32_t* tokens = nullptr;      // [T] input token ids
  const int32_t* targets = nullptr;     // [T] next token of the same sample
  const int32_t* positions = nullptr;   // [T] position within its sample (RoPE restarts)
  const float* loss_mask = nullptr;     // [T] 1 where targets[t] is trained, else 0
  const int32_t* cu_seqlens = nullptr;  // [B+1] sample b is tokens [cu[b], cu[b+1])

  ModelBatch() = default;
  ModelBatch(const std::vector<int32_t>& tokens_, const std::vector<int32_t>& targets_,
             const std::vector<int32_t>& positions_, const std::vector<float>& loss_mask_,
             const std::vector<int32_t>& cu_seqlens_)
      : num_tokens(int64_t(tokens_.size())),
        num_samples(int64_t(cu_seqlens_.size()) - 1),
        tokens(tokens_.data()),
        targets(targets_.data()),
        positions(positions_.data()),
        loss_mask(loss_mask_.data()),
        cu_seqlens(cu_seqlens_.data()) {
    SR_ASSERT(targets_.size() == tokens_.size() && positions_.size() == tokens_.size() &&
                  loss_mask_.size() == tokens_.size() && !cu_seqlens_.empty() &&
                  cu_seqlens_.back() == num_tokens,
              "a packed batch's arrays disagree in length");
  }
  // From any packed batch holding these five vectors (the loader's Batch, a test's), without
  // the model knowing the data layer's type.
  template <class Packed>
  explicit ModelBatch(const Packed& b)
      : ModelBatch(b.tokens, b.targets, b.positions, b.loss_mask, b.cu_seqlens) {}
};

}  // namespace sr
