// Inference attention: new tokens of several independent sequences against each sequence's KV
// cache (a ring of W slots for a sliding window, or one slot per position for full attention),
// with the same online softmax as the training kernel. The cache is read before the new
// tokens are appended, so a ring of exactly W slots serves a chunk of up to W new tokens.
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_common.h"
#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

namespace {

// The sequence whose new rows hold row t.
inline int64_t sequence_of(const int32_t* cu, int64_t S, int64_t t) {
  int64_t lo = 0, hi = S - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (cu[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}
}  // namespace

// out[T,nh,hd], q[T,nh,hd], k_new/v_new[T,nkv,hd], k_cache/v_cache[S,cap,nkv,hd], cu_q[S+1], past[S]
void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window) {
  const int64_t T = q.dim(0), nh = q.dim(1), hd = q.dim(2), nkv = k_new.dim(1);
  const int64_t S = cu_q.numel() - 1, cap = k_cache.dim(1);
  SR_ASSERT(hd <= kMaxHeadDim, "attention_cache_forward: head_dim above 256");
  SR_ASSERT(nh % nkv == 0 && k_cache.dim(0) == S && k_cache.dim(2) == nkv && k_cache.dim(3) == hd,
            "attention_cache_forward: shapes");
  const int64_t group = nh / nkv;
  const int32_t *cu = cu_q.i32(), *pp = past.i32();
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = cu[s + 1] - cu[s];
    SR_ASSERT(n >= 0 && (window > 0 ? n <= cap && cap >= window : pp[s] <= cap),
              "attention_cache_forward: the cache is too small for these tokens");
  }
  const float *pq = q.f32(), *pk = k_new.f32(), *pv = v_new.f32();
  const float *kc = k_cache.f32(), *vc = v_cache.f32();
  float* po = out.f32();
  const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t s = sequence_of(cu, S, t), hk = h / group;
      const int64_t p0 = pp[s], row0 = cu[s], i = p0 + (t - row0);
      const int64_t first = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
      const float* qi = pq + (t * nh + h) * hd;
      float acc[kMaxHeadDim] = {0};
      float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
      auto visit = [&](const float* kj, const float* vj) {
        const float sc = dot(qi, kj, hd) * scale;
        if (sc > m) {
          const float r = std::exp(m - sc);
          l *= r;
          for (int64_t d = 0; d < hd; ++d) acc[d] *= r;
          m = sc;
        }
        const float p = std::exp(sc - m);
        l += p;
        for (int64_t d = 0; d < hd; ++d) acc[d] += p * vj[d];
      };
      // Positions before this call, from the cache; then the new tokens up to i.
      for (int64_t j = first; j < p0; ++j) {
        const int64_t slot = ((s * cap + j % cap) * nkv + hk) * hd;
        visit(kc + slot, vc + slot);
      }
      for (int64_t j = first > p0 ? first : p0; j <= i; ++j) {
        const int64_t row = ((row0 + j - p0) * nkv + hk) * hd;
        visit(pk + row, pv + row);
      }
      float* oi = po + (t * nh + h) * hd;
      for (int64_t d = 0; d < hd; ++d) oi[d] = acc[d] / l;
    }
  }
}

void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past) {
  const int64_t S = cu_q.numel() - 1, cap = k_cache.dim(1), nkv = k_cache.dim(2), hd = k_cache.dim(3);
  SR_ASSERT(k_cache.dim(0) == S && k_new.dim(1) == nkv && k_new.dim(2) == hd, "kv_cache_append: shapes");
  const int32_t *cu = cu_q.i32(), *pp = past.i32();
  const float *pk = k_new.f32(), *pv = v_new.f32();
  float *kc = k_cache.f32(), *vc = v_cache.f32();
  const int64_t row = nkv * hd;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = cu[s + 1] - cu[s];
    for (int64_t t = n > cap ? n - cap : 0; t < n; ++t) {
      const int64_t slot = (s * cap + (pp[s] + t) % cap) * row, src = (cu[s] + t) * row;
      for (int64_t e = 0; e < row; ++e) {
        kc[slot + e] = pk[src + e];
        vc[slot + e] = pv[src + e];
      }
    }
  }
}

}  // namespace sr::cpu
