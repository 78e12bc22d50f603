// Multi-tensor AdamW on f32 master weights and moments (the update of kernels/cpu/adamw.cpp).
// Tensors go to the kernel in groups of kGroup descriptors passed by value, so a whole model
// updates in a few launches; blockIdx.y picks the tensor, blockIdx.x strides over it, with
// 16-byte (float4) accesses where the tensor's four arrays allow them.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kGroup = 32;

struct AdamWGroup {
  float* w[kGroup];
  const float* g[kGroup];
  float* m[kGroup];
  float* v[kGroup];
  __nv_bfloat16* wb[kGroup];  // bf16 compute copy, or null
  int64_t n[kGroup];
  float wd[kGroup];
};

struct AdamWConsts {
  float lr, beta1, beta2, eps, grad_scale, bc1, bc2;
};

__device__ __forceinline__ void adamw_one(float& w, float g, float& m, float& v, float wd,
                                          const AdamWConsts& c) {
  const float gi = g * c.grad_scale;
  m = c.beta1 * m + (1.0f - c.beta1) * gi;
  v = c.beta2 * v + (1.0f - c.beta2) * gi * gi;
  const float mhat = m / c.bc1, vhat = v / c.bc2;
  w -= c.lr * (mhat / (sqrtf(vhat) + c.eps) + wd * w);
}

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

__global__ void adamw_kernel(AdamWGroup grp, AdamWConsts c) {
  const int k = blockIdx.y;
  float* w = grp.w[k];
  const float* g = grp.g[k];
  float* m = grp.m[k];
  float* v = grp.v[k];
  __nv_bfloat16* wb = grp.wb[k];
  const int64_t n = grp.n[k];
  const float wd = grp.wd[k];
  const int64_t start = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  if (n % 4 == 0 && aligned16(w) && aligned16(g) && aligned16(m) && aligned16(v) &&
      (reinterpret_cast<uintptr_t>(wb) & 7u) == 0) {
    for (int64_t i = start; i < n / 4; i += stride) {
      float4 w4 = reinterpret_cast<float4*>(w)[i];
      const float4 g4 = reinterpret_cast<const float4*>(g)[i];
      float4 m4 = reinterpret_cast<float4*>(m)[i];
      float4 v4 = reinterpret_cast<float4*>(v)[i];
      adamw_one(w4.x, g4.x, m4.x, v4.x, wd, c);
      adamw_one(w4.y, g4.y, m4.y, v4.y, wd, c);
      adamw_one(w4.z, g4.z, m4.z, v4.z, wd, c);
      adamw_one(w4.w, g4.w, m4.w, v4.w, wd, c);
      reinterpret_cast<float4*>(w)[i] = w4;
      reinterpret_cast<float4*>(m)[i] = m4;
      reinterpret_cast<float4*>(v)[i] = v4;
      if (wb) {
        const __nv_bfloat162 a = __floats2bfloat162_rn(w4.x, w4.y), b = __floats2bfloat162_rn(w4.z, w4.w);
        reinterpret_cast<__nv_bfloat162*>(wb)[2 * i] = a;
        reinterpret_cast<__nv_bfloat162*>(wb)[2 * i + 1] = b;
      }
    }
    return;
  }
  for (int64_t i = start; i < n; i += stride) {
    adamw_one(w[i], g[i], m[i], v[i], wd, c);
    if (wb) wb[i] = __float2bfloat16(w[i]);
  }
}

}  // namespace

// Each entry: param, grad, m, v: [n] f32; compute_copy: [n] bf16 or empty.
void adamw_step(const std::vector<ops::AdamWTensors>& tensors, const ops::AdamWParams& p) {
  // Bias corrections on the host, exactly as the CPU kernel computes them.
  const AdamWConsts c{p.lr, p.beta1, p.beta2, p.eps, p.grad_scale,
                      1.0f - std::pow(p.beta1, float(p.step)), 1.0f - std::pow(p.beta2, float(p.step))};
  for (size_t first = 0; first < tensors.size(); first += kGroup) {
    AdamWGroup grp{};
    int count = 0;
    int64_t largest = 0;
    for (size_t i = first; i < tensors.size() && count < kGroup; ++i, ++count) {
      const ops::AdamWTensors& t = tensors[i];
      const int64_t n = t.param.numel();
      SR_ASSERT(t.grad.numel() == n && t.m.numel() == n && t.v.numel() == n, "adamw_step: sizes differ");
      grp.w[count] = f32_ref(t.param, "adamw_step");
      grp.g[count] = f32_ref(t.grad, "adamw_step");
      grp.m[count] = f32_ref(t.m, "adamw_step");
      grp.v[count] = f32_ref(t.v, "adamw_step");
      grp.wb[count] = nullptr;
      if (!t.compute_copy.empty()) {
        SR_ASSERT(t.compute_copy.device == Device::cuda && t.compute_copy.dtype == DType::bf16 &&
                      t.compute_copy.numel() == n,
                  "adamw_step: the compute copy must be a CUDA bf16 tensor of the parameter's size");
        grp.wb[count] = static_cast<__nv_bfloat16*>(t.compute_copy.data);
      }
      grp.n[count] = n;
      grp.wd[count] = t.weight_decay;
      largest = n > largest ? n : largest;
    }
    if (largest == 0) continue;
    const dim3 grid(std::min(grid_for((largest + 3) / 4, 256), 4096u), unsigned(count));
    adamw_kernel<<<grid, 256, 0, kStream>>>(grp, c);
    SR_CHECK_LAUNCH();
  }
}

}  // namespace sr::cuda
