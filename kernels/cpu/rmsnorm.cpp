// RMSNorm as Qwen2: y = x · rsqrt(mean(x²) + eps) · w, statistics in f32.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// out[T,H], rstd[T], x[T,H], weight[H]
void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
  const int64_t T = x.dim(0), H = x.dim(1);
  const float* px = x.f32();
  const float* w = weight.f32();
  float* o = out.f32();
  float* r = rstd.f32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = px + t * H;
    float ss = 0.0f;
    for (int64_t i = 0; i < H; ++i) ss += xr[i] * xr[i];
    const float rs = 1.0f / std::sqrt(ss / float(H) + eps);
    r[t] = rs;
    for (int64_t i = 0; i < H; ++i) o[t * H + i] = xr[i] * rs * w[i];
  }
}

// dx[T,H] += rs·(dy·w) − x·rs³/H·Σ(dy·w·x);  dweight[H] += Σ_t dy·x·rs
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  const int64_t T = x.dim(0), H = x.dim(1);
  const float* px = x.f32();
  const float* w = weight.f32();
  const float* dy = dout.f32();
  const float* r = rstd.f32();
  float* pdx = dx.f32();
  float* dw = dweight.f32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = px + t * H;
    const float* dr = dy + t * H;
    float dot = 0.0f;
    for (int64_t i = 0; i < H; ++i) dot += dr[i] * w[i] * xr[i];
    const float rs = r[t];
    const float c = dot * rs * rs * rs / float(H);
    for (int64_t i = 0; i < H; ++i) pdx[t * H + i] += rs * dr[i] * w[i] - xr[i] * c;
  }
  // Weight gradient: columns split over threads, tokens summed in order.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < H; ++i) {
    float acc = 0.0f;
    for (int64_t t = 0; t < T; ++t) acc += dy[t * H + i] * px[t * H + i] * r[t];
    dw[i] += acc;
  }
}

}  // namespace sr::cpu
