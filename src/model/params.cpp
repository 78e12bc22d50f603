#include "model/params.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/device_memory.h"

namespace sr {

int64_t ParamSpec::local_numel() const {
  int64_t n = 1;
  for (int64_t d : local_shape) n *= d;
  return n;
}

int64_t ParamSpec::global_numel() const {
  int64_t n = 1;
  for (int64_t d : global_shape) n *= d;
  return n;
}

namespace {

ParamSpec make_spec(std::string name, std::vector<int64_t> shape, int split_dim, int tp_rank,
                    int tp_size, bool decay, ParamSpec::Init init) {
  ParamSpec s;
  s.name = std::move(name);
  s.global_shape = shape;
  s.split_dim = tp_size > 1 ? split_dim : -1;
  s.local_shape = shape;
  if (s.split_dim >= 0) {
    const int64_t part = shape[s.split_dim] / tp_size;
    s.local_shape[s.split_dim] = part;
    s.offset = part * tp_rank;
  }
  s.weight_decay = decay;
  s.init = init;
  return s;
}

}  // namespace

std::vector<ParamSpec> parameter_specs(const ModelConfig& c, int tp_rank, int tp_size) {
  using Init = ParamSpec::Init;
  const int64_t H = c.hidden_size, hd = c.head_dim();
  const int64_t q = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
  std::vector<ParamSpec> s;
  auto add = [&](std::string name, std::vector<int64_t> shape, int split, bool decay, Init init) {
    s.push_back(make_spec(std::move(name), std::move(shape), split, tp_rank, tp_size, decay, init));
  };
  add("model.embed_tokens.weight", {c.vocab_size, H}, 0, true, Init::normal);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H}, -1, false, Init::ones);
    add(p + "self_attn.q_proj.weight", {q, H}, 0, true, Init::normal);
    add(p + "self_attn.k_proj.weight", {kvd, H}, 0, true, Init::normal);
    add(p + "self_attn.v_proj.weight", {kvd, H}, 0, true, Init::normal);
    if (c.attention_bias) {
      add(p + "self_attn.q_proj.bias", {q}, 0, false, Init::zeros);
      add(p + "self_attn.k_proj.bias", {kvd}, 0, false, Init::zeros);
      add(p + "self_attn.v_proj.bias", {kvd}, 0, false, Init::zeros);
    }
    add(p + "self_attn.o_proj.weight", {H, q}, 1, true, Init::normal);
    add(p + "post_attention_layernorm.weight", {H}, -1, false, Init::ones);
    add(p + "mlp.gate_proj.weight", {c.intermediate_size, H}, 0, true, Init::normal);
    add(p + "mlp.up_proj.weight", {c.intermediate_size, H}, 0, true, Init::normal);
    add(p + "mlp.down_proj.weight", {H, c.intermediate_size}, 1, true, Init::normal);
  }
  add("model.norm.weight", {H}, -1, false, Init::ones);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, H}, 0, true, Init::normal);
  return s;
}

ModelParams plan_params(Arena& arena, const ModelConfig& c, const std::vector<ParamSpec>& specs,
                        int64_t flat_multiple, DType dtype) {
  constexpr int64_t kPad = 64;  // 256-byte alignment of every tensor inside the flat buffer
  ModelParams p;
  int64_t n = 0;
  for (const ParamSpec& s : specs) {
    p.flat_offset.push_back(n);
    n += (s.local_numel() + kPad - 1) / kPad * kPad;
  }
  const int64_t multiple = std::max<int64_t>(1, flat_multiple);
  n = (n + multiple - 1) / multiple * multiple;
  p.flat = arena.alloc(dtype, {n});
  for (size_t i = 0; i < specs.size(); ++i) {
    const ParamSpec& s = specs[i];
    void* at = p.flat.data ? static_cast<char*>(p.flat.data) + p.flat_offset[i] * dtype_size(dtype)
                           : nullptr;
    p.all.push_back(s.local_shape.size() == 1
                        ? Tensor(at, dtype, {s.local_shape[0]}, arena.device())
                        : Tensor(at, dtype, {s.local_shape[0], s.local_shape[1]}, arena.device()));
  }
  size_t i = 0;
  // Flat offset where the tensor about to be taken starts (the end of flat after the last).
  auto here = [&] { return i < specs.size() ? p.flat_offset[i] : n; };
  p.embed = p.all[i++];
  p.layers.resize(size_t(c.num_hidden_layers));
  p.embed_range = {0, here()};
  for (LayerParams& L : p.layers) {
    p.layer_range.push_back({here(), 0});
    L.ln1 = p.all[i++];
    L.wq = p.all[i++];
    L.wk = p.all[i++];
    L.wv = p.all[i++];
    if (c.attention_bias) {
      L.bq = p.all[i++];
      L.bk = p.all[i++];
      L.bv = p.all[i++];
    }
    L.wo = p.all[i++];
    L.ln2 = p.all[i++];
    L.w_gate = p.all[i++];
    L.w_up = p.all[i++];
    L.w_down = p.all[i++];
    p.layer_range.back().end = here();
  }
  p.tail_range = {here(), n};
  p.final_norm = p.all[i++];
  p.lm_head = c.tie_word_embeddings ? p.embed : p.all[i++];
  SR_ASSERT(i == specs.size(), "parameter layout and specs disagree");
  return p;
}

void init_params(const std::vector<ParamSpec>& specs, const std::vector<Tensor>& tensors,
                 uint64_t seed, float std_dev) {
  std::vector<float> host;
  for (size_t n = 0; n < specs.size(); ++n) {
    const ParamSpec& s = specs[n];
    const int64_t rows = s.local_shape[0];
    const int64_t cols = s.local_shape.size() > 1 ? s.local_shape[1] : 1;
    const int64_t gcols = s.global_shape.size() > 1 ? s.global_shape[1] : 1;
    const uint64_t stream = hash_name(s.name.c_str());
    host.assign(size_t(rows * cols), 0.0f);
    // Rows are independent draws of a counter-based RNG: any thread order gives the same values.
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t gr = r + (s.split_dim == 0 ? s.offset : 0);
        const int64_t gc = c + (s.split_dim == 1 ? s.offset : 0);
        float v = 0.0f;
        if (s.init == ParamSpec::Init::ones) v = 1.0f;
        if (s.init == ParamSpec::Init::normal)
          v = float(random_normal(seed, stream, uint64_t(gr * gcols + gc))) * std_dev;
        host[size_t(r * cols + c)] = v;
      }
    }
    device_copy(tensors[n].device, tensors[n].data, Device::cpu, host.data(), host.size() * sizeof(float));
  }
}

}  // namespace sr
