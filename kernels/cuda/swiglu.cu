// SwiGLU activation: out = silu(gate) · up, silu(g) = g · σ(g).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

// silu(g) · u, rounded as the CPU kernel does.
__device__ __forceinline__ float silu_times(float g, float u) {
  const float sig = 1.0f / (1.0f + expf(-g));
  return g * sig * u;
}

// dgate and dup of one element.
__device__ __forceinline__ void swiglu_grad(float d, float g, float u, float& dg, float& du) {
  const float sig = 1.0f / (1.0f + expf(-g));
  du = d * g * sig;
  dg = d * u * sig * (1.0f + g * (1.0f - sig));
}

// 4-wide accesses (16-byte f32 / 8-byte bf16) when every array allows them (`vec4`).
__global__ void swiglu_forward_kernel(FloatRef out, FloatRef gate, FloatRef up, int64_t n, bool vec4) {
  if (vec4) {
    SR_FOR_EACH(q, n / 4) {
      const float4 g = gate.get4(q), u = up.get4(q);
      out.set4(q, make_float4(silu_times(g.x, u.x), silu_times(g.y, u.y), silu_times(g.z, u.z),
                              silu_times(g.w, u.w)));
    }
    return;
  }
  SR_FOR_EACH(i, n) out.set(i, silu_times(gate.get(i), up.get(i)));
}

__global__ void swiglu_backward_kernel(FloatRef dgate, FloatRef dup, FloatRef dout, FloatRef gate,
                                       FloatRef up, int64_t n, bool vec4) {
  if (vec4) {
    SR_FOR_EACH(q, n / 4) {
      const float4 g = gate.get4(q), u = up.get4(q), d = dout.get4(q);
      float4 dg, du;
      swiglu_grad(d.x, g.x, u.x, dg.x, du.x);
      swiglu_grad(d.y, g.y, u.y, dg.y, du.y);
      swiglu_grad(d.z, g.z, u.z, dg.z, du.z);
      swiglu_grad(d.w, g.w, u.w, dg.w, du.w);
      dgate.set4(q, dg);
      dup.set4(q, du);
    }
    return;
  }
  SR_FOR_EACH(i, n) {
    float dg, du;
    swiglu_grad(dout.get(i), gate.get(i), up.get(i), dg, du);
    dgate.set(i, dg);
    dup.set(i, du);
  }
}

}  // namespace

// out[T,I], gate[T,I], up[T,I]
void swiglu_forward(Tensor out, Tensor gate, Tensor up) {
  const int64_t n = out.numel();
  SR_ASSERT(gate.numel() == n && up.numel() == n, "swiglu_forward: shapes");
  const FloatRef o = float_ref(out, "swiglu_forward"), g = float_ref(gate, "swiglu_forward"),
                 u = float_ref(up, "swiglu_forward");
  const bool vec4 = o.vec4_ok(n) && g.vec4_ok(n) && u.vec4_ok(n);
  swiglu_forward_kernel<<<grid_for(vec4 ? n / 4 : n, 256), 256, 0, kStream>>>(o, g, u, n, vec4);
  SR_CHECK_LAUNCH();
}

// dgate[T,I], dup[T,I] overwritten
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  const int64_t n = dout.numel();
  SR_ASSERT(dgate.numel() == n && dup.numel() == n && gate.numel() == n && up.numel() == n,
            "swiglu_backward: shapes");
  const FloatRef dg = float_ref(dgate, "swiglu_backward"), du = float_ref(dup, "swiglu_backward"),
                 d = float_ref(dout, "swiglu_backward"), g = float_ref(gate, "swiglu_backward"),
                 u = float_ref(up, "swiglu_backward");
  const bool vec4 = dg.vec4_ok(n) && du.vec4_ok(n) && d.vec4_ok(n) && g.vec4_ok(n) && u.vec4_ok(n);
  swiglu_backward_kernel<<<grid_for(vec4 ? n / 4 : n, 256), 256, 0, kStream>>>(dg, du, d, g, u, n,
                                                                                vec4);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
