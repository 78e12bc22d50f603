// The Qwen2-style decoder: forward and backward on packed micro-batches, written once over
// kernels/ops.h for every device, with Megatron tensor parallelism (column-parallel q/k/v and
// gate/up, row-parallel o and down, vocab-parallel embedding, LM head and cross-entropy).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/arena.h"
#include "kernels/ops.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/params.h"

namespace sr {

// Recompute (which activations backward recomputes) is declared with ModelConfig.

struct RunShape {
  int64_t max_tokens = 0;        // tokens of the largest micro-batch
  int64_t lm_head_chunk = 1024;  // tokens per LM-head/cross-entropy chunk (bounds logits memory)
  Recompute recompute = Recompute::none;
  Device device = Device::cpu;
  int64_t param_flat_multiple = 1;  // flat parameter/gradient length multiple (ZeRO-1 shards)
  // Activations and the weights the matmuls read. bf16 (CUDA): f32 master parameters and
  // gradients, a bf16 copy of the weights refreshed after each update, bf16 activations with
  // f32 accumulation; norm statistics, softmax statistics and the loss stay f32.
  DType compute = DType::f32;
  // How GPU attention runs (cuDNN or own kernels, deterministic backward); process-wide, set
  // by the model's constructor.
  ops::AttentionSettings attention;
};

// The tensor-parallel group this model is split over (size 1: no communication).
struct TensorParallel {
  Communicator* comm = nullptr;
  int rank = 0;
  int size = 1;
};

class Transformer {
 public:
  Transformer(const ModelConfig& cfg, const RunShape& shape, TensorParallel tp);
  ~Transformer();

  // Bytes the arenas of such a model would hold on this rank, from the same plan the
  // constructor follows, without allocating anything.
  struct PlannedBytes {
    size_t params = 0, grads = 0, compute_weights = 0, activations = 0;
    size_t total() const { return params + grads + compute_weights + activations; }
  };
  static PlannedBytes planned_bytes(const ModelConfig& cfg, const RunShape& shape, TensorParallel tp);
  PlannedBytes arena_bytes() const;  // what this model's arenas hold

  const ModelConfig& config() const { return cfg_; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ModelParams& params() const { return params_; }  // f32 master parameters
  const ModelParams& grads() const { return grads_; }    // f32

  void init_parameters(uint64_t seed, float std_dev = 0.02f);
  // The bf16 compute copy of the weights when it is separate from the master parameters (for
  // an optimizer that writes it while updating), else nullptr.
  const std::vector<Tensor>* separate_compute_weights() const {
    return weights_.flat.data == params_.flat.data ? nullptr : &weights_.all;
  }
  // After the master parameters changed (optimizer step, checkpoint load): refreshes the
  // compute copy of the weights (a no-op when computing in f32, where they are one).
  void refresh_weights();
  void zero_grads();

  // Copies a micro-batch to the device. Each target's gradient is weighted by loss_scale
  // (1 / targets of the global batch, so accumulated gradients are of the global mean loss).
  void set_batch(const ModelBatch& batch, float loss_scale);
  // Forward (and backward, accumulating into grads()) of the batch last set.
  // Returns Σ over target tokens of the cross-entropy (not scaled). When given,
  // layer_grads_done(l) is called as soon as backward has finished layer l's gradients
  // (layers in reverse order), so their reduction can overlap the rest of backward.
  double forward_backward(bool backward = true,
                          const std::function<void(int64_t)>& layer_grads_done = {});

  // Bytes of each arena (parameters, gradients, activations), for the memory plan.
  std::string memory_plan() const;

 private:
  struct AttnActs;
  struct MlpActs;
  // measure_only: the arenas are measured, not allocated (planned_bytes); such a model is
  // never run.
  Transformer(const ModelConfig& cfg, const RunShape& shape, TensorParallel tp, bool measure_only);
  void plan_activations(Arena& a);
  // recomputing: the second run in backward (which skips the attention kernel itself under
  // Recompute::except_attention, where its output is kept).
  void attention_forward(int64_t l, AttnActs& a, bool recomputing);
  void mlp_forward(int64_t l, const Tensor& mid, MlpActs& m, bool write_output);
  // Logits chunk by chunk, their row statistics, and (backward) the gradient into dln_.
  void lm_head(bool backward);
  // Σ weight · cross-entropy over the batch's rows (the one device-to-host read of a step).
  double loss_sum();
  void attention_backward(int64_t l, AttnActs& a);
  void mlp_backward(int64_t l, const Tensor& mid, MlpActs& m);
  void tp_all_reduce(Tensor x, ReduceOp op = ReduceOp::sum);
  AttnActs& attn_acts(int64_t l);
  MlpActs& mlp_acts(int64_t l);
  Tensor rows(const Tensor& t) const { return t.rows(0, T_); }

  ModelConfig cfg_;
  RunShape shape_;
  TensorParallel tp_;
  int64_t nh_, nkv_, hd_, inter_, vocab_, vocab_start_;  // local (this TP rank's) sizes
  std::vector<ParamSpec> specs_;
  Arena param_arena_, grad_arena_, weight_arena_, act_arena_;
  ModelParams params_, grads_;
  ModelParams weights_;  // what the matmuls and the embedding read: params_ itself, or its bf16 copy

  // Batch on device: tokens/targets/positions [Tmax] i32, mask/weight [Tmax] f32, cu [Tmax+1] i32.
  Tensor tokens_, targets_, positions_, mask_, weight_, cu_seqlens_;
  int64_t T_ = 0, num_samples_ = 0;
  std::vector<float> weight_host_;  // [Tmax] staging for mask · loss_scale

  std::vector<Tensor> resid_;       // [L+1] × [Tmax,H]: block inputs, then the last output
  std::vector<AttnActs> attn_;      // L sets, or 1 shared set when recomputed
  std::vector<MlpActs> mlp_;        // L sets, or 1 shared set when recomputed
  Tensor final_ln_, final_rstd_;    // [Tmax,H], [Tmax]
  // Scratch.
  Tensor proj_out_;                 // [Tmax,H] o_proj / down_proj output before the residual add
  Tensor logits_;                   // [chunk, V_l]
  Tensor row_max_, sumexp_, target_logit_;  // [T]
  Tensor dres_, dln_;               // [Tmax,H]
  Tensor dattn_, dq_, dk_, dv_;     // [Tmax,nh_l·hd], [Tmax,nh_l,hd], [Tmax,nkv_l,hd] ×2
  Tensor dact_, dgate_, dup_;       // [Tmax,I_l]
};

}  // namespace sr
