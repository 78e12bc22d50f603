// Attention over packed variable-length samples, causal, GQA, optional sliding window.
//
// Forward keeps an online softmax (running max, running sum, rescaled accumulator), so it
// needs no score buffer and saves only the log-sum-exp per (head, query) for backward, the
// same contract as the fused CUDA kernel. Work outside the window is never visited.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/attention_common.h"
#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

namespace {

// First key visible from query i of a sample starting at `start`.
inline int64_t first_key(int64_t i, int64_t start, int window) {
  return window > 0 && i - window + 1 > start ? i - window + 1 : start;
}
}  // namespace

// out[T,nh,hd], lse[nh,T], q[T,nh,hd], k/v[T,nkv,hd], cu_seqlens[B+1]
void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window) {
  const int64_t T = q.dim(0), nh = q.dim(1), hd = q.dim(2), nkv = k.dim(1);
  SR_ASSERT(hd <= kMaxHeadDim, "attention: head_dim above 256");
  SR_ASSERT(nh % nkv == 0, "attention: query heads must be a multiple of kv heads");
  const int64_t group = nh / nkv, B = cu_seqlens.numel() - 1;
  const int32_t* cu = cu_seqlens.i32();
  const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32();
  float* po = out.f32();
  float* pl = lse.f32();
  const float scale = 1.0f / std::sqrt(float(hd));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = cu[b], end = cu[b + 1];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t h = 0; h < nh; ++h) {
      for (int64_t i = start; i < end; ++i) {
        const int64_t hk = h / group;
        const float* qi = pq + (i * nh + h) * hd;
        float acc[kMaxHeadDim] = {0};
        float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
        for (int64_t j = first_key(i, start, window); j <= i; ++j) {
          const float s = dot(qi, pk + (j * nkv + hk) * hd, hd) * scale;
          if (s > m) {
            const float r = std::exp(m - s);
            l *= r;
            for (int64_t d = 0; d < hd; ++d) acc[d] *= r;
            m = s;
          }
          const float p = std::exp(s - m);
          l += p;
          const float* vj = pv + (j * nkv + hk) * hd;
          for (int64_t d = 0; d < hd; ++d) acc[d] += p * vj[d];
        }
        float* oi = po + (i * nh + h) * hd;
        for (int64_t d = 0; d < hd; ++d) oi[d] = acc[d] / l;
        pl[h * T + i] = m + std::log(l);
      }
    }
  }
}

// dq[T,nh,hd], dk/dv[T,nkv,hd] (overwritten). Threads split the kv heads, so every dk/dv
// element is accumulated by one thread in a fixed order.
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window) {
  const int64_t T = q.dim(0), nh = q.dim(1), hd = q.dim(2), nkv = k.dim(1);
  const int64_t group = nh / nkv, B = cu_seqlens.numel() - 1;
  const int32_t* cu = cu_seqlens.i32();
  const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *pdo = dout.f32(), *po = out.f32();
  const float* pl = lse.f32();
  float *pdq = dq.f32(), *pdk = dk.f32(), *pdv = dv.f32();
  const float scale = 1.0f / std::sqrt(float(hd));
  std::memset(pdq, 0, dq.bytes());
  std::memset(pdk, 0, dk.bytes());
  std::memset(pdv, 0, dv.bytes());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = cu[b], end = cu[b + 1];
#pragma omp parallel for schedule(static)
    for (int64_t hk = 0; hk < nkv; ++hk) {
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        for (int64_t i = start; i < end; ++i) {
          const float* qi = pq + (i * nh + h) * hd;
          const float* doi = pdo + (i * nh + h) * hd;
          float* dqi = pdq + (i * nh + h) * hd;
          const float Di = dot(doi, po + (i * nh + h) * hd, hd);
          const float li = pl[h * T + i];
          for (int64_t j = first_key(i, start, window); j <= i; ++j) {
            const float* kj = pk + (j * nkv + hk) * hd;
            const float* vj = pv + (j * nkv + hk) * hd;
            const float p = std::exp(dot(qi, kj, hd) * scale - li);
            const float ds = p * (dot(doi, vj, hd) - Di) * scale;
            float* dkj = pdk + (j * nkv + hk) * hd;
            float* dvj = pdv + (j * nkv + hk) * hd;
            for (int64_t d = 0; d < hd; ++d) {
              dqi[d] += ds * kj[d];
              dkj[d] += ds * qi[d];
              dvj[d] += p * doi[d];
            }
          }
        }
      }
    }
  }
}

}  // namespace sr::cpu
