// ModelConfig: the shape of a Qwen2-style decoder, with Hugging Face config.json key names so
// that real checkpoints map onto it. sliding_window = 0 is full attention (the baseline).
#pragma once
#include <cstdint>
#include <string>

namespace sr {

// Which activations a block recomputes in backward instead of keeping from forward:
// none; attn (the attention half: norm, q/k/v, attention output); full (the whole block,
// keeping only each block's input).
// none: keep every activation; attn: recompute the attention half of each block; full: the
// whole block, keeping only block inputs; except_attention: the whole block but the attention
// kernel, whose output and log-sum-exp are kept per layer (2·nh·hd + 4·nh bytes per token and
// layer buys not running the costliest op of long contexts twice).
enum class Recompute { none, attn, full, except_attention };
Recompute parse_recompute(const std::string& s);  // UserError naming model.recompute otherwise
const char* recompute_name(Recompute r);

struct ModelConfig {
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  double rope_theta = 1e6;
  double rms_norm_eps = 1e-6;
  int64_t sliding_window = 0;  // validate() checks that it fits the kernels' int
  bool tie_word_embeddings = true;
  bool attention_bias = true;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws UserError naming the offending key (prefixed with "model.") and what is expected.
  // tp is the tensor-parallel size the model will be split over.
  void validate(int tp = 1) const;
  int64_t num_parameters() const;
  // Training FLOPs per token for samples of seq_len tokens: 6·N (non-embedding matmuls and the
  // LM head) plus attention, counting only the causal (and in-window) query-key pairs.
  double train_flops_per_token(int64_t seq_len) const;
  std::string summary() const;
};

}  // namespace sr
