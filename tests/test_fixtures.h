// Fixtures shared by the unit and GPU tests: small model shapes and random packed micro-batches.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "dataset/batch.h"
#include "model/config.h"

namespace sr::testfix {

// A two-layer model with 4 query heads over 2 kv heads (GQA), RoPE base 10000, and otherwise
// ModelConfig's defaults (tied embeddings, q/k/v biases); callers adjust what they test.
inline ModelConfig tiny_model_config(int64_t hidden, int64_t intermediate, int64_t vocab,
                                     int64_t window) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = intermediate;
  c.vocab_size = vocab;
  c.rope_theta = 10000;
  c.sliding_window = window;
  return c;
}

// Samples of the given lengths with token ids drawn below `vocab` from Rng(seed, stream),
// packed into one micro-batch; every target is trained.
inline Batch random_packed_batch(uint64_t seed, uint64_t stream, const std::vector<int64_t>& lengths,
                                 uint32_t vocab) {
  Batch b;
  Rng rng(seed, stream);
  uint64_t id = 0;
  for (int64_t n : lengths) {
    std::vector<uint32_t> ids(static_cast<size_t>(n));   // [n]
    std::vector<uint8_t> mask(static_cast<size_t>(n), 1);  // [n]; mask[0] is never a target
    for (auto& x : ids) x = uint32_t(rng.below(vocab));
    b.append_sample(id++, ids.data(), mask.data(), n);
  }
  return b;
}

}  // namespace sr::testfix
