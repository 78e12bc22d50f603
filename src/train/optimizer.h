// AdamW over parameter segments: f32 moments planned once in their own arena, decoupled
// weight decay only where the parameter asks for it (not norms or biases), global
// gradient-norm clipping folded into the update as a gradient scale.
//
// A segment is a run of elements of one parameter. Without ZeRO-1 every parameter is one
// segment; with ZeRO-1 a DP rank owns one contiguous slice of the flat parameter space, which
// cuts across parameters, and keeps moments for that slice only.
#pragma once
#include <vector>

#include "core/arena.h"
#include "kernels/ops.h"
#include "model/params.h"

namespace sr {

struct ParamSegment {
  size_t param = 0;   // index into the parameter list
  int64_t begin = 0;  // first element (of the parameter flattened)
  int64_t count = 0;
};

// Every parameter whole.
std::vector<ParamSegment> whole_segments(const std::vector<ParamSpec>& specs);
// The parts of the flat elements [begin, end) (ModelParams::flat) that hold parameters.
std::vector<ParamSegment> flat_range_segments(const std::vector<ParamSpec>& specs,
                                              const std::vector<int64_t>& flat_offset,
                                              int64_t begin, int64_t end);

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  AdamW(const AdamWConfig& cfg, const std::vector<ParamSpec>& specs,
        std::vector<ParamSegment> segments, Device device);
  // One update of every segment with learning rate lr; gradients are multiplied by grad_scale.
  // compute_copies (one per parameter, e.g. the model's bf16 weights), when given, receive the
  // updated values of the segments too, which replaces a separate refresh pass.
  void step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, float lr,
            float grad_scale, const std::vector<Tensor>* compute_copies = nullptr);
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  const std::vector<ParamSegment>& segments() const { return segments_; }
  // One [count] f32 tensor per segment.
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  size_t bytes() const { return arena_.capacity(); }

 private:
  AdamWConfig cfg_;
  std::vector<ParamSpec> specs_;
  std::vector<ParamSegment> segments_;
  Arena arena_;
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;
};

// Elements [begin, begin + count) of a parameter (or gradient) tensor, as a 1-D view.
inline Tensor segment_view(const Tensor& t, int64_t begin, int64_t count) {
  return t.view({t.numel()}).rows(begin, count);
}

}  // namespace sr
