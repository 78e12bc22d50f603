// Learning rate: linear warm-up from 0, then cosine decay to min_lr at the last step.
#pragma once
#include <cmath>
#include <cstdint>

namespace sr {

struct LrSchedule {
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // step is 1-based: the rate used by the step-th optimizer update.
  double at(int64_t step) const {
    if (warmup_steps > 0 && step <= warmup_steps) return lr * double(step) / double(warmup_steps);
    if (total_steps <= warmup_steps) return lr;
    double progress = double(step - warmup_steps) / double(total_steps - warmup_steps);
    if (progress > 1.0) progress = 1.0;
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(3.14159265358979323846 * progress));
  }
};

}  // namespace sr
