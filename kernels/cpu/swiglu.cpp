// SwiGLU activation: out = silu(gate) · up, silu(g) = g · σ(g).
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// out[T,I], gate[T,I], up[T,I]
void swiglu_forward(Tensor out, Tensor gate, Tensor up) {
  const float* g = gate.f32();
  const float* u = up.f32();
  float* o = out.f32();
  const int64_t n = out.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    o[i] = g[i] * sig * u[i];
  }
}

// dgate = dout · up · σ(g)(1 + g(1 − σ(g))), dup = dout · silu(g)
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  const float* g = gate.f32();
  const float* u = up.f32();
  const float* d = dout.f32();
  float* dg = dgate.f32();
  float* du = dup.f32();
  const int64_t n = dout.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    du[i] = d[i] * g[i] * sig;
    dg[i] = d[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
  }
}

}  // namespace sr::cpu
