// RMSNorm as Qwen2: y = x · rsqrt(mean(x²) + eps) · w, statistics in f32.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kVecPerThread = 4;  // the vector path keeps rows of up to 256·4·4 = 4096 in registers

// One block per row t, 4-wide accesses, the row held in registers between the two passes
// (one read of x, one write of out). Where vec4_ok holds for x and out and H/4 ≤ 1024.
__global__ void rmsnorm_forward_vec_kernel(FloatRef out, float* rstd, FloatRef x, const float* w,
                                           int64_t H, float eps) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x, n4 = H / 4, row4 = t * n4;
  float4 v[kVecPerThread];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kVecPerThread; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    v[j] = i < n4 ? x.get4(row4 + i) : make_float4(0, 0, 0, 0);
    ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
  }
  ss = block_sum(ss, red);
  const float rs = 1.0f / sqrtf(ss / float(H) + eps);
  if (threadIdx.x == 0) rstd[t] = rs;
#pragma unroll
  for (int j = 0; j < kVecPerThread; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i >= n4) continue;
    const float4 wv = reinterpret_cast<const float4*>(w)[i];
    out.set4(row4 + i, make_float4(v[j].x * rs * wv.x, v[j].y * rs * wv.y, v[j].z * rs * wv.z,
                                   v[j].w * rs * wv.w));
  }
}

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

// dw partial sums over a chunk of kRowsPerChunk rows: block (column group of 32, chunk) of
// 32×8 threads; thread (tx, ty) sums rows ty, ty+8, … of column tx in the chunk, then the 8
// partials are added in a fixed order into partial[chunk, c]. Enough blocks to fill the GPU,
// and deterministic: no atomics, a fixed order everywhere.
constexpr int kRowsPerChunk = 256;
__global__ void rmsnorm_backward_dw_partial_kernel(float* partial, FloatRef dy, FloatRef x,
                                                   const float* rstd, int64_t T, int64_t H) {
  __shared__ float part[8][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x, t0 = int64_t(blockIdx.y) * kRowsPerChunk;
  const int64_t t1 = t0 + kRowsPerChunk < T ? t0 + kRowsPerChunk : T;
  float acc = 0.0f;
  if (c < H)
    for (int64_t t = t0 + threadIdx.y; t < t1; t += 8) acc += dy.get(t * H + c) * x.get(t * H + c) * rstd[t];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < H) {
    float s = 0.0f;
    for (int r = 0; r < 8; ++r) s += part[r][threadIdx.x];
    partial[int64_t(blockIdx.y) * H + c] = s;
  }
}

// dw[c] += Σ_chunks partial[chunk, c], chunks in order.
__global__ void rmsnorm_backward_dw_sum_kernel(float* dw, const float* partial, int64_t chunks,
                                               int64_t H) {
  SR_FOR_EACH(c, H) {
    float s = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * H + c];
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
  const FloatRef o = float_ref(out, "rmsnorm_forward"), xr = float_ref(x, "rmsnorm_forward");
  const float* w = f32_ref(weight, "rmsnorm_forward");
  if (xr.vec4_ok(x.numel()) && o.vec4_ok(out.numel()) && H % 4 == 0 &&
      H / 4 <= int64_t(kThreads) * kVecPerThread && reinterpret_cast<uintptr_t>(w) % 16 == 0) {
    rmsnorm_forward_vec_kernel<<<unsigned(T), kThreads, 0, kStream>>>(
        o, f32_ref(rstd, "rmsnorm_forward"), xr, w, H, eps);
  } else {
    rmsnorm_forward_kernel<<<unsigned(T), kThreads, 0, kStream>>>(
        o, f32_ref(rstd, "rmsnorm_forward"), xr, w, H, eps);
  }
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
  const int64_t chunks = (T + kRowsPerChunk - 1) / kRowsPerChunk;
  auto* partial = static_cast<float*>(scratch(sizeof(float) * size_t(chunks * H)));
  rmsnorm_backward_dw_partial_kernel<<<dim3(unsigned((H + 31) / 32), unsigned(chunks)), dim3(32, 8), 0,
                                       kStream>>>(partial, dy, xr, rs, T, H);
  SR_CHECK_LAUNCH();
  rmsnorm_backward_dw_sum_kernel<<<grid_for(H, 256), 256, 0, kStream>>>(
      f32_ref(dweight, "rmsnorm_backward"), partial, chunks, H);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
