// SwiGLU activation: out = silu(gate) · up, silu(g) = g · σ(g).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

__global__ void swiglu_forward_kernel(FloatRef out, FloatRef gate, FloatRef up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = gate.get(i);
    const float sig = 1.0f / (1.0f + expf(-g));
    out.set(i, g * sig * up.get(i));
  }
}

__global__ void swiglu_backward_kernel(FloatRef dgate, FloatRef dup, FloatRef dout, FloatRef gate,
                                       FloatRef up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = gate.get(i), u = up.get(i), d = dout.get(i);
    const float sig = 1.0f / (1.0f + expf(-g));
    dup.set(i, d * g * sig);
    dgate.set(i, d * u * sig * (1.0f + g * (1.0f - sig)));
  }
}

}  // namespace

// out[T,I], gate[T,I], up[T,I]
void swiglu_forward(Tensor out, Tensor gate, Tensor up) {
  const int64_t n = out.numel();
  SR_ASSERT(gate.numel() == n && up.numel() == n, "swiglu_forward: shapes");
  swiglu_forward_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(
      float_ref(out, "swiglu_forward"), float_ref(gate, "swiglu_forward"),
      float_ref(up, "swiglu_forward"), n);
  SR_CHECK_LAUNCH();
}

// dgate[T,I], dup[T,I] overwritten
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  const int64_t n = dout.numel();
  SR_ASSERT(dgate.numel() == n && dup.numel() == n && gate.numel() == n && up.numel() == n,
            "swiglu_backward: shapes");
  swiglu_backward_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(
      float_ref(dgate, "swiglu_backward"), float_ref(dup, "swiglu_backward"),
      float_ref(dout, "swiglu_backward"), float_ref(gate, "swiglu_backward"),
      float_ref(up, "swiglu_backward"), n);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
