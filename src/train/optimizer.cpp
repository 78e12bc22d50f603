#include "train/optimizer.h"

#include <algorithm>

namespace sr {

std::vector<ParamSegment> whole_segments(const std::vector<ParamSpec>& specs) {
  std::vector<ParamSegment> out;
  for (size_t i = 0; i < specs.size(); ++i) out.push_back({i, 0, specs[i].local_numel()});
  return out;
}

std::vector<ParamSegment> flat_range_segments(const std::vector<ParamSpec>& specs,
                                              const std::vector<int64_t>& flat_offset,
                                              int64_t begin, int64_t end) {
  std::vector<ParamSegment> out;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t a = std::max(begin, flat_offset[i]);
    const int64_t b = std::min(end, flat_offset[i] + specs[i].local_numel());
    if (a < b) out.push_back({i, a - flat_offset[i], b - a});
  }
  return out;
}

AdamW::AdamW(const AdamWConfig& cfg, const std::vector<ParamSpec>& specs,
             std::vector<ParamSegment> segments, Device device)
    : cfg_(cfg), specs_(specs), segments_(std::move(segments)), arena_("optimizer", device) {
  arena_.plan([&](Arena& a) {
    m_.clear();
    v_.clear();
    for (const ParamSegment& s : segments_) {
      m_.push_back(a.alloc(DType::f32, {s.count}));
      v_.push_back(a.alloc(DType::f32, {s.count}));
    }
  });
}

void AdamW::step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, float lr,
                 float grad_scale, const std::vector<Tensor>* compute_copies) {
  ++step_;
  ops::AdamWParams p;
  p.lr = lr;
  p.beta1 = cfg_.beta1;
  p.beta2 = cfg_.beta2;
  p.eps = cfg_.eps;
  p.grad_scale = grad_scale;
  p.step = step_;
  std::vector<ops::AdamWTensors> tensors;
  tensors.reserve(segments_.size());
  for (size_t k = 0; k < segments_.size(); ++k) {
    const ParamSegment& s = segments_[k];
    tensors.push_back({segment_view(params[s.param], s.begin, s.count),
                       segment_view(grads[s.param], s.begin, s.count), m_[k], v_[k],
                       specs_[s.param].weight_decay ? cfg_.weight_decay : 0.0f});
    if (compute_copies)
      tensors.back().compute_copy = segment_view((*compute_copies)[s.param], s.begin, s.count);
  }
  ops::adamw_step(tensors, p);
}

}  // namespace sr
