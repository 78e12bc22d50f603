// Rotary position embedding, rotate-half layout (Hugging Face / Qwen2): dimension k pairs with
// k + hd/2 and turns by positions[t] · theta^(−2k/hd).
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// x[T,nh,hd] in place, positions[T] i32
void rope(Tensor x, Tensor positions, float theta, bool inverse) {
  const int64_t T = x.dim(0), nh = x.dim(1), hd = x.dim(2), half = hd / 2;
  const int32_t* pos = positions.i32();
  float* p = x.f32();
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < half; ++k) {
      // Angles in f32 as Hugging Face computes them, so imported checkpoints agree.
      const float inv_freq = 1.0f / std::pow(theta, float(2 * k) / float(hd));
      const float angle = float(pos[t]) * inv_freq;
      const float c = std::cos(angle), s = sign * std::sin(angle);
      for (int64_t h = 0; h < nh; ++h) {
        float* v = p + (t * nh + h) * hd;
        const float a = v[k], b = v[k + half];
        v[k] = a * c - b * s;
        v[k + half] = b * c + a * s;
      }
    }
  }
}

}  // namespace sr::cpu
