// Parameter layout: every tensor of the model with its global shape, how tensor parallelism
// splits it, and this rank's slice. One arena holds all local parameters (and one of the same
// layout the gradients), so optimizer, gradient reduction and checkpoints walk one list.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/arena.h"
#include "model/config.h"

namespace sr {

struct ParamSpec {
  std::string name;                 // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> global_shape;
  int split_dim = -1;               // dimension split across TP ranks; -1 = replicated
  std::vector<int64_t> local_shape;
  int64_t offset = 0;               // start of this rank's slice along split_dim
  bool weight_decay = true;         // false for norms and biases
  enum class Init { normal, zeros, ones } init = Init::normal;

  int64_t local_numel() const;
  int64_t global_numel() const;
};

// The parameter list of `cfg` for TP rank tp_rank of tp_size, in a fixed order.
std::vector<ParamSpec> parameter_specs(const ModelConfig& cfg, int tp_rank, int tp_size);

// Views of one layer's parameters (or gradients) inside an arena.
struct LayerParams {
  Tensor ln1;                 // [H]
  Tensor wq, wk, wv;          // [nh_l·hd, H], [nkv_l·hd, H], [nkv_l·hd, H]
  Tensor bq, bk, bv;          // [nh_l·hd], [nkv_l·hd], [nkv_l·hd] (empty without attention_bias)
  Tensor wo;                  // [H, nh_l·hd]
  Tensor ln2;                 // [H]
  Tensor w_gate, w_up;        // [I_l, H]
  Tensor w_down;              // [H, I_l]
};

struct ModelParams {
  Tensor embed;               // [V_l, H]
  std::vector<LayerParams> layers;
  Tensor final_norm;          // [H]
  Tensor lm_head;             // [V_l, H]; the same memory as embed when tied
  std::vector<Tensor> all;    // one view per ParamSpec, same order
  Tensor flat;                // [N] every tensor above, contiguous (each padded to 64 elements)
  std::vector<int64_t> flat_offset;  // start of all[i] inside flat

  // The same layout by block, as element ranges [begin, end) of flat that together cover it:
  // what a DP reduction of one block's gradients covers (padding included).
  struct Range {
    int64_t begin = 0, end = 0;
  };
  Range embed_range;                 // the embedding (it comes before layer 0)
  std::vector<Range> layer_range;    // [L] each transformer layer
  Range tail_range;                  // final norm and untied LM head, to the end of flat
};

// Lays the specs out in `arena` (call inside Arena::plan) as one flat buffer of `dtype` whose
// length is a multiple of `flat_multiple` (ZeRO-1 shards it evenly over DP ranks), and returns
// the views.
ModelParams plan_params(Arena& arena, const ModelConfig& cfg, const std::vector<ParamSpec>& specs,
                        int64_t flat_multiple = 1, DType dtype = DType::f32);

// Fills every local slice from a counter-based RNG indexed by the *global* element position,
// so any TP layout holds exactly the slices of the same global model. Tensors on CPU.
void init_params(const std::vector<ParamSpec>& specs, const std::vector<Tensor>& tensors,
                 uint64_t seed, float std_dev);

}  // namespace sr
