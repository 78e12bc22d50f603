// Next-token choice from logits: greedy (argmax), or sampling with temperature, top-k and
// top-p (nucleus), from a counter-based random stream so a (seed, sequence, step) triple always
// draws the same number, whatever the batch or thread layout.
#pragma once
#include <cstdint>
#include <string>

namespace sr {

struct SamplingConfig {
  float temperature = 0.0f;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
  // Parses the keys and checks ranges; UserError naming the option.
  void validate() const;
  std::string str() const;
};

// Picks a token among ids [0, allowed) of logits (ids past `allowed`, e.g. a vocabulary padded
// beyond the tokenizer's, are never chosen). `stream` names the sequence and `counter` the step.
uint32_t sample_token(const float* logits, int64_t allowed, const SamplingConfig& cfg,
                      uint64_t stream, uint64_t counter);

}  // namespace sr
