// Batch: one packed micro-batch in host memory: whole samples laid end to end, as the loader
// packs them. The trainer hands its arrays to the model as a ModelBatch (model/batch.h).
#pragma once
#include <cstdint>
#include <vector>

namespace sr {

struct Batch {
  std::vector<int32_t> tokens;       // [T] input token ids
  std::vector<int32_t> targets;      // [T] next token of the same sample (0 at a sample's end)
  std::vector<float> loss_mask;      // [T] 1 where targets[t] is a training target, else 0
  std::vector<int32_t> positions;    // [T] position within its sample (RoPE restarts per sample)
  std::vector<int32_t> cu_seqlens;   // [B+1] sample b is tokens [cu[b], cu[b+1])
  std::vector<uint64_t> sample_ids;  // [B] global sample index of each sample

  int64_t num_tokens() const { return int64_t(tokens.size()); }
  int64_t num_samples() const { return int64_t(sample_ids.size()); }
  int64_t num_targets() const {
    int64_t n = 0;
    for (float m : loss_mask) n += m != 0.0f;
    return n;
  }
  // Appends one sample: tokens[n] with loss_mask[n] (1 where that token is a target).
  // Input t predicts token t+1, so target mask = loss_mask[t+1]; the last token has none.
  void append_sample(uint64_t sample_id, const uint32_t* ids, const uint8_t* mask, int64_t n) {
    if (cu_seqlens.empty()) cu_seqlens.push_back(0);
    const size_t base = tokens.size(), end = base + size_t(n);
    // Sized once and filled by index: this is the loader's hot loop.
    tokens.resize(end);
    targets.resize(end);
    loss_mask.resize(end);
    positions.resize(end);
    for (int64_t t = 0; t + 1 < n; ++t) {
      tokens[base + size_t(t)] = int32_t(ids[t]);
      targets[base + size_t(t)] = int32_t(ids[t + 1]);
      loss_mask[base + size_t(t)] = mask[t + 1] ? 1.0f : 0.0f;
      positions[base + size_t(t)] = int32_t(t);
    }
    if (n > 0) {
      tokens[end - 1] = int32_t(ids[n - 1]);
      targets[end - 1] = 0;
      loss_mask[end - 1] = 0.0f;
      positions[end - 1] = int32_t(n - 1);
    }
    cu_seqlens.push_back(int32_t(end));
    sample_ids.push_back(sample_id);
  }
};

}  // namespace sr
