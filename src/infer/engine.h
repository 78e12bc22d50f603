// Inference engine: the Qwen2 decoder run token by token over KV caches, for a batch of
// independent sequences, on the op API (kernels/ops.h) like training, so CPU and CUDA share it.
//
// Each sequence has its own cache per layer. With a sliding window W the cache is a ring of W
// slots (memory independent of the context: the model's state is fixed-size, which is what
// lets Smooth Reading read any length); with full attention it holds `max_context` positions.
// Positions keep counting across calls, so RoPE is right however often the ring wraps. A call
// may bring any number of new tokens per sequence (a prefill of a chunk, or one token of a
// decode): they are cut into pieces of at most W tokens per sequence and `max_step_tokens` in
// all, which bounds the activations. Memory is planned once at construction (arenas).
//
// The block math is the training forward's (model/transformer.cpp) with the attention kernel
// swapped for attention against the cache; tests/unit/test_infer.cpp holds the two to the same
// logits, past ring-buffer wraps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/arena.h"
#include "model/config.h"
#include "model/params.h"

namespace sr {

// What the reading loop needs of a model: a batch of independent sequences fed tokens and
// giving next-token logits. Engine is the real one; tests script others.
class SequenceModel {
 public:
  virtual ~SequenceModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int64_t batch() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual void reset(int64_t s) = 0;
  // Appends tokens[s] to sequence s (empty: untouched); then logits(s) is the next-token
  // distribution of every sequence that got tokens.
  virtual void step(const std::vector<std::vector<uint32_t>>& tokens,
                    std::vector<std::vector<float>>* all_logits = nullptr) = 0;
  virtual const float* logits(int64_t s) const = 0;
};

struct EngineShape {
  int64_t batch = 1;             // independent sequences (one cache each)
  int64_t max_step_tokens = 256; // new tokens of one forward over the whole batch
  int64_t max_context = 0;       // full attention: positions a sequence may reach (cache size);
                                 // ignored for sliding-window models (the cache is W slots)
  int64_t logits_rows = 0;       // rows of logits one forward computes (0: batch); step() with
                                 // all_logits needs >= max_step_tokens
  Device device = Device::cpu;
  DType compute = DType::f32;    // bf16 on CUDA: bf16 weights, activations and cache
  // Prefill through the training attention (cuDNN's fused kernels on CUDA): a sequence bringing
  // at least this many new tokens has its visible cached keys laid out in position order before
  // its new ones and attends with ops::attention_forward (the cached rows' queries are wasted
  // work, tensor cores make up for it). Sequences with fewer tokens (decoding) use the cache
  // kernel. -1: 64 on CUDA, never on CPU (whose cache kernel is as fast); 0: never.
  int64_t prefill_attention_min = -1;
  // Tensor parallelism as in training (Megatron): this rank holds heads, MLP columns and vocab
  // rows [rank/size]; tp_comm (MPI on CPU, NCCL on CUDA) joins the partial sums and gathers the
  // logits, so every rank sees the same full logits and makes the same choices.
  Communicator* tp_comm = nullptr;
  int tp_rank = 0;
  int tp_size = 1;
};

class Engine : public SequenceModel {
 public:
  Engine(const ModelConfig& cfg, const EngineShape& shape);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const override { return cfg_; }
  const EngineShape& shape() const { return shape_; }
  int64_t batch() const override { return shape_.batch; }
  int64_t cache_capacity() const { return cap_; }  // slots per sequence and layer

  // Weights from f32 parameters laid out by parameter_specs(cfg, tp_rank, tp_size) (e.g. a
  // Transformer's params() after load_checkpoint), on any device; cast to the compute dtype.
  void load_weights(const ModelParams& src);
  // Random weights, as Transformer::init_parameters (benchmarks).
  void init_weights(uint64_t seed, float std_dev = 0.02f);

  // Forgets sequence s (its position goes back to 0; its cache is overwritten from there).
  void reset(int64_t s) override;
  void reset_all();
  // Tokens sequence s has consumed (the position of its next token).
  int64_t position(int64_t s) const { return pos_[size_t(s)]; }

  // Appends tokens[s] to sequence s for every s < batch (an empty list leaves s untouched) and
  // runs the model over them. Afterwards logits(s) holds the next-token logits after the last
  // token of each sequence that got tokens. With all_logits, (*all_logits)[s] receives the
  // logits after every new token of s, [n_s × vocab] row-major. UserError when a full-attention
  // sequence would pass max_context.
  void step(const std::vector<std::vector<uint32_t>>& tokens,
            std::vector<std::vector<float>>* all_logits = nullptr) override;
  const float* logits(int64_t s) const override {
    return logits_host_.data() + size_t(s) * size_t(vocab_);
  }
  int64_t vocab_size() const override { return vocab_; }

  // Bytes of weights, cache and activations, and a one-line plan.
  size_t weight_bytes() const;
  size_t cache_bytes() const;
  size_t activation_bytes() const;
  std::string memory_plan() const;

 private:
  void layer_forward(int64_t l, int64_t T);
  void prefill_attention(int64_t l);
  void run_piece(const std::vector<uint32_t>& ids, const std::vector<int32_t>& cu,
                 const std::vector<int32_t>& positions, const std::vector<int64_t>& logit_rows,
                 bool fused);
  int64_t visible_cached(int64_t s) const;  // cached positions the next token of s sees

  ModelConfig cfg_;
  EngineShape shape_;
  void tp_all_reduce(const Tensor& x);
  int64_t nh_, nkv_, hd_, inter_, vocab_, vocab_local_, vocab_start_, cap_, rows_;
  std::vector<ParamSpec> specs_;
  Arena weight_arena_, norm_arena_, cache_arena_, act_arena_;
  ModelParams weights_;                 // compute dtype
  std::vector<Tensor> ln1_, ln2_;       // f32 norm weights (views into weights_ when f32)
  Tensor final_norm_;
  std::vector<Tensor> k_cache_, v_cache_;  // [L] × [S, cap, nkv, hd]
  // Activations of one piece: [Tmax, ...].
  Tensor ids_, positions_, cu_, past_;  // i32 [Tmax], [Tmax], [S+1], [S]
  Tensor x_, ln_, rstd_, q_, k_, v_, attn_, proj_, gate_, up_, act_;
  Tensor last_, last_ln_, last_rstd_, logits_, logits_f32_;  // [R, H], [R, H], [R], [R, V_l] ×2
  Tensor gathered_;                     // [tp, R, V_l] f32: every rank's logits (TP > 1)
  // Prefill through the training attention: sequence s's visible cache (m rows) then its n new
  // rows, at `base` in the packed buffers fq_/fk_/fv_/fo_ [fused_cap_, heads, hd].
  struct FusedSeq {
    int64_t s, p0, m, n, row0, base;
  };
  int64_t fused_min_ = 0, fused_cap_ = 0, fused_rows_ = 0;
  bool fused_ = false;
  std::vector<FusedSeq> fused_seqs_;
  Tensor fq_, fk_, fv_, fo_, flse_, fcu_;
  std::vector<int64_t> pos_;            // per sequence
  std::vector<float> logits_host_;      // [S, V]
  std::vector<float> rows_host_;        // [R, V] staging
  std::vector<float> gathered_host_;    // [tp, R, V_l] staging (TP > 1)
};

}  // namespace sr
