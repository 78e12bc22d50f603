// RMSNorm as Qwen2: y = x · rsqrt(mean(x²) + eps) · w, statistics in f32.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kThreads = 256;

// One block per row t.
__global__ void rmsnorm_forward_kernel(FloatRef out, float* rstd, FloatRef x, const float* w,
                                       int64_t H, float eps) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const float v = x.get(t * H + i);
    ss += v * v;
  }
  ss = block_sum(ss, red);
  const float rs = 1.0f / sqrtf(ss / float(H) + eps);
  if (threadIdx.x == 0) rstd[t] = rs;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    out.set(t * H + i, x.get(t * H + i) * rs * w[i]);
}

// One block per row t: dx += rs·(dy·w) − x·rs³/H·Σ(dy·w·x).
__global__ void rmsnorm_backward_dx_kernel(FloatRef dx, FloatRef dy, FloatRef x, const float* w,
                                           const float* rstd, int64_t H) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  float dot = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    dot += dy.get(t * H + i) * w[i] * x.get(t * H + i);
  dot = block_sum(dot, red);
  const float rs = rstd[t];
  const float c = dot * rs * rs * rs / float(H);
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const int64_t e = t * H + i;
    dx.set(e, dx.get(e) + rs * dy.get(e) * w[i] - x.get(e) * c);
  }
}

// Block of 32×32 threads per 32 columns: thread (tx, ty) sums rows ty, ty+32, … of column tx,
// then the 32 partials are added in a fixed order (deterministic, no atomics).
__global__ void rmsnorm_backward_dw_kernel(float* dw, FloatRef dy, FloatRef x, const float* rstd,
                                           int64_t T, int64_t H) {
  __shared__ float part[32][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  float acc = 0.0f;
  if (c < H)
    for (int64_t t = threadIdx.y; t < T; t += 32) acc += dy.get(t * H + c) * x.get(t * H + c) * rstd[t];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < H) {
    float s = 0.0f;
    for (int r = 0; r < 32; ++r) s += part[r][threadIdx.x];
    dw[c] += s;
  }
}

}  // namespace

// out[T,H], rstd[T], x[T,H], weight[H]
void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
  const int64_t T = x.dim(0), H = x.dim(1);
  SR_ASSERT(weight.numel() == H && out.numel() == x.numel() && rstd.numel() >= T,
            "rmsnorm_forward: shapes");
  if (T == 0) return;
  rmsnorm_forward_kernel<<<unsigned(T), kThreads, 0, kStream>>>(
      float_ref(out, "rmsnorm_forward"), f32_ref(rstd, "rmsnorm_forward"),
      float_ref(x, "rmsnorm_forward"), f32_ref(weight, "rmsnorm_forward"), H, eps);
  SR_CHECK_LAUNCH();
}

// dx[T,H] +=, dweight[H] +=; dout[T,H], x[T,H], weight[H], rstd[T]
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  const int64_t T = x.dim(0), H = x.dim(1);
  SR_ASSERT(weight.numel() == H && dweight.numel() == H && dx.numel() == x.numel() &&
                dout.numel() == x.numel(), "rmsnorm_backward: shapes");
  if (T == 0) return;
  const FloatRef dy = float_ref(dout, "rmsnorm_backward"), xr = float_ref(x, "rmsnorm_backward");
  const float* rs = f32_ref(rstd, "rmsnorm_backward");
  rmsnorm_backward_dx_kernel<<<unsigned(T), kThreads, 0, kStream>>>(
      float_ref(dx, "rmsnorm_backward"), dy, xr, f32_ref(weight, "rmsnorm_backward"), rs, H);
  SR_CHECK_LAUNCH();
  rmsnorm_backward_dw_kernel<<<unsigned((H + 31) / 32), dim3(32, 32), 0, kStream>>>(
      f32_ref(dweight, "rmsnorm_backward"), dy, xr, rs, T, H);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
