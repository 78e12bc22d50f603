#include "train/optimizer.h"

namespace sr {

AdamW::AdamW(const AdamWConfig& cfg, const std::vector<ParamSpec>& specs, Device device)
    : cfg_(cfg), specs_(specs), arena_("optimizer", device) {
  arena_.plan([&](Arena& a) {
    m_.clear();
    v_.clear();
    for (const ParamSpec& s : specs_) {
      m_.push_back(a.alloc(DType::f32, {s.local_numel()}));
      v_.push_back(a.alloc(DType::f32, {s.local_numel()}));
    }
  });
}

void AdamW::step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, float lr,
                 float grad_scale) {
  ++step_;
  for (size_t i = 0; i < specs_.size(); ++i) {
    ops::AdamWParams p;
    p.lr = lr;
    p.beta1 = cfg_.beta1;
    p.beta2 = cfg_.beta2;
    p.eps = cfg_.eps;
    p.weight_decay = specs_[i].weight_decay ? cfg_.weight_decay : 0.0f;
    p.grad_scale = grad_scale;
    p.step = step_;
    const int64_t n = specs_[i].local_numel();
    ops::adamw_step(params[i].view({n}), grads[i].view({n}), m_[i], v_[i], p);
  }
}

}  // namespace sr
