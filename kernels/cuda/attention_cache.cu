// Inference attention against per-sequence KV caches (kernels/ops.h: attention_cache_forward,
// kv_cache_append), on CUDA cores, f32 math over f32 or bf16 operands.
//
// Blocks of 4 warps per (new token, query head, key split). The keys a token sees (cached
// positions from the ring, then the new tokens up to itself) are cut into `splits` contiguous
// ranges, one per block, and each block's range into 4, one per warp; a lane holds head dims
// lane, lane + 32, ..., each key's score is a warp sum, and every warp keeps its own online
// softmax. A block merges its warps in a fixed order; with one split it writes the output,
// with several it writes (max, sum, unnormalised output) to scratch and a second kernel merges
// the splits in order. Splitting keys is what gives a decode step (a few tokens x heads) enough
// blocks to keep the memory system busy; a prefill has enough rows and runs unsplit. Every
// order is fixed, so results are deterministic. A GQA group reads its keys once per query head.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head dims up to 256

__device__ __forceinline__ int sequence_of(const int32_t* cu, int S, int t) {
  int lo = 0, hi = S - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

__global__ void __launch_bounds__(kWarps * 32)
attention_cache_kernel(FloatRef out, float* part, FloatRef q, FloatRef kn, FloatRef vn, FloatRef kc,
                       FloatRef vc, const int32_t* cu, const int32_t* past, int S, int nh, int nkv,
                       int hd, int64_t cap, int window, float scale) {
  __shared__ float sm_m[kWarps], sm_l[kWarps], sm_acc[kWarps][kMaxPerLane * 32];
  const int t = blockIdx.x, h = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int s = sequence_of(cu, S, t), hk = h / (nh / nkv);
  const int64_t p0 = past[s], row0 = cu[s], i = p0 + (t - row0);
  const int64_t first = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
  const int per = (hd + 31) / 32;
  float qv[kMaxPerLane], acc[kMaxPerLane];
  for (int r = 0; r < kMaxPerLane; ++r) {
    const int d = lane + 32 * r;
    qv[r] = r < per && d < hd ? q.get((int64_t(t) * nh + h) * hd + d) : 0.0f;
    acc[r] = 0.0f;
  }
  // This block's keys: a contiguous part of [first, i]; this warp's: a quarter of that.
  const int64_t n = i - first + 1, bpart = (n + splits - 1) / splits;
  const int64_t b0 = first + bpart * split, b1 = min(i + 1, b0 + bpart);
  const int64_t wpart = b1 > b0 ? (b1 - b0 + kWarps - 1) / kWarps : 0;
  const int64_t j0 = b0 + wpart * warp, j1 = min(b1, j0 + wpart);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    const bool cached = j < p0;
    const int64_t base = cached ? ((int64_t(s) * cap + j % cap) * nkv + hk) * hd
                                : ((row0 + j - p0) * nkv + hk) * hd;
    const FloatRef& K = cached ? kc : kn;
    const FloatRef& V = cached ? vc : vn;
    float dot = 0.0f;
    for (int r = 0; r < per; ++r) {
      const int d = lane + 32 * r;
      if (d < hd) dot += qv[r] * K.get(base + d);
    }
    const float sc = warp_sum(dot) * scale;
    const float m_new = fmaxf(m, sc);
    const float alpha = expf(m - m_new), p = expf(sc - m_new);
    l = l * alpha + p;
    for (int r = 0; r < per; ++r) {
      const int d = lane + 32 * r;
      acc[r] = acc[r] * alpha + (d < hd ? p * V.get(base + d) : 0.0f);
    }
    m = m_new;
  }
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
  for (int r = 0; r < per; ++r) sm_acc[warp][lane + 32 * r] = acc[r];
  __syncthreads();
  if (warp != 0) return;
  float M = -INFINITY;
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm_m[w]);
  float L = 0.0f;
  for (int w = 0; w < kWarps; ++w) L += sm_m[w] == -INFINITY ? 0.0f : sm_l[w] * expf(sm_m[w] - M);
  const int64_t row = int64_t(t) * nh + h;
  // Partials of split z of (t, h): part[(row·splits + z)·(hd + 2)] = max, sum, output[hd].
  float* pp = part ? part + (row * splits + split) * (hd + 2) : nullptr;
  if (pp && lane == 0) {
    pp[0] = M;
    pp[1] = L;
  }
  for (int r = 0; r < per; ++r) {
    const int d = lane + 32 * r;
    if (d >= hd) continue;
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (sm_m[w] != -INFINITY) o += sm_acc[w][d] * expf(sm_m[w] - M);
    if (pp)
      pp[2 + d] = o;
    else
      out.set(row * hd + d, o / L);
  }
}

// One warp per (token, head): merges its splits in order.
__global__ void attention_cache_merge_kernel(FloatRef out, const float* part, int nh, int hd,
                                             int splits) {
  const int64_t row = int64_t(blockIdx.x) * nh + blockIdx.y;
  const float* pp = part + row * splits * (hd + 2);
  float M = -INFINITY;
  for (int z = 0; z < splits; ++z) M = fmaxf(M, pp[z * (hd + 2)]);
  float L = 0.0f;
  for (int z = 0; z < splits; ++z) {
    const float mz = pp[z * (hd + 2)];
    if (mz != -INFINITY) L += pp[z * (hd + 2) + 1] * expf(mz - M);
  }
  for (int d = threadIdx.x; d < hd; d += 32) {
    float o = 0.0f;
    for (int z = 0; z < splits; ++z) {
      const float mz = pp[z * (hd + 2)];
      if (mz != -INFINITY) o += pp[z * (hd + 2) + 2 + d] * expf(mz - M);
    }
    out.set(row * hd + d, o / L);
  }
}

__global__ void kv_cache_append_kernel(FloatRef kc, FloatRef vc, FloatRef kn, FloatRef vn,
                                       const int32_t* cu, const int32_t* past, int S, int64_t T,
                                       int64_t row, int64_t cap) {
  SR_FOR_EACH(e, T * row) {
    const int64_t t = e / row, c = e % row;
    const int s = sequence_of(cu, S, int(t));
    const int64_t local = t - cu[s], n = cu[s + 1] - cu[s];
    if (local < n - cap) continue;  // overwritten by a later token of the same call
    const int64_t slot = (int64_t(s) * cap + (past[s] + local) % cap) * row + c;
    kc.set(slot, kn.get(e));
    vc.set(slot, vn.get(e));
  }
}

}  // namespace

void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window) {
  const char* op = "attention_cache_forward";
  const int64_t T = q.dim(0), nh = q.dim(1), hd = q.dim(2), nkv = k_new.dim(1);
  const int64_t S = cu_q.numel() - 1, cap = k_cache.dim(1);
  SR_ASSERT(hd <= kMaxPerLane * 32, "attention_cache_forward: head_dim above 256");
  SR_ASSERT(nh % nkv == 0 && k_cache.dim(0) == S && k_cache.dim(2) == nkv && k_cache.dim(3) == hd &&
                out.numel() == q.numel(),
            "attention_cache_forward: shapes");
  if (T == 0) return;
  // Key splits: enough blocks for a decode step (aim ~2048), ~64 keys at least per split.
  const int64_t keys = window > 0 ? window : cap + T;
  int64_t splits = std::min<int64_t>((keys + 63) / 64, 64);
  splits = std::min<int64_t>(splits, (2048 + T * nh - 1) / (T * nh));
  splits = std::max<int64_t>(splits, 1);
  float* part = nullptr;
  if (splits > 1)
    part = static_cast<float*>(scratch(sizeof(float) * size_t(T * nh * splits * (hd + 2))));
  const dim3 grid{unsigned(T), unsigned(nh), unsigned(splits)};
  attention_cache_kernel<<<grid, kWarps * 32, 0, kStream>>>(
      float_ref(out, op), part, float_ref(q, op), float_ref(k_new, op), float_ref(v_new, op),
      float_ref(k_cache, op), float_ref(v_cache, op), i32_ref(cu_q, op), i32_ref(past, op), int(S),
      int(nh), int(nkv), int(hd), cap, window, 1.0f / std::sqrt(float(hd)));
  SR_CHECK_LAUNCH();
  if (splits == 1) return;
  attention_cache_merge_kernel<<<dim3{unsigned(T), unsigned(nh), 1u}, 32, 0, kStream>>>(
      float_ref(out, op), part, int(nh), int(hd), int(splits));
  SR_CHECK_LAUNCH();
}

void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past) {
  const char* op = "kv_cache_append";
  const int64_t S = cu_q.numel() - 1, cap = k_cache.dim(1), row = k_cache.dim(2) * k_cache.dim(3);
  const int64_t T = k_new.dim(0);
  SR_ASSERT(k_cache.dim(0) == S && k_new.dim(1) * k_new.dim(2) == row, "kv_cache_append: shapes");
  if (T == 0) return;
  kv_cache_append_kernel<<<grid_for(T * row, 256), 256, 0, kStream>>>(
      float_ref(k_cache, op), float_ref(v_cache, op), float_ref(k_new, op), float_ref(v_new, op),
      i32_ref(cu_q, op), i32_ref(past, op), int(S), T, row, cap);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
