// AdamW over the model's parameter list: f32 moments planned once in their own arena,
// decoupled weight decay only where the parameter asks for it (not norms or biases),
// global gradient-norm clipping folded into the update as a gradient scale.
#pragma once
#include <vector>

#include "core/arena.h"
#include "kernels/ops.h"
#include "model/params.h"

namespace sr {

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  AdamW(const AdamWConfig& cfg, const std::vector<ParamSpec>& specs, Device device);
  // One update of every parameter with learning rate lr; gradients are multiplied by grad_scale.
  void step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, float lr,
            float grad_scale);
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  size_t bytes() const { return arena_.capacity(); }

 private:
  AdamWConfig cfg_;
  std::vector<ParamSpec> specs_;
  Arena arena_;
  std::vector<Tensor> m_, v_;  // one [local numel] f32 pair per parameter
  int64_t step_ = 0;
};

}  // namespace sr
