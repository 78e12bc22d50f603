// Fused attention over packed variable-length samples: causal, GQA, sliding window, online
// softmax (FlashAttention-2 structure on CUDA cores, f32 math, f32 or bf16 inputs).
// The ops below hand bf16 cases to cuDNN first where the build has it (attention_cudnn.cu);
// these kernels are the fallback, the f32 path, the deterministic windowed backward, and the
// reference the cuDNN path is tested against.
//
// Tiles are 64 queries × 64 keys, 256 threads: thread (ty, tx) = (tid / 16, tid % 16) owns
// rows 4·ty … 4·ty + 3 of a score tile and its columns tx + 16·j, so each row's 64 scores live
// in one half-warp and its max/sum are shuffles. Output accumulators: the same rows, head dims
// tx + 16·i. Tiles start at any token (not aligned to samples): each query row masks keys
// outside [lo(i), i], lo(i) = max(sample start, i − W + 1); key tiles before lo(first query)
// (outside the window or in earlier samples) are never visited.
//
// Backward recomputes P from the saved log-sum-exp, in two deterministic passes (no atomics):
//   dq pass, a block per (query tile, head): walks its key tiles like forward; also writes
//     D_i = dout_i · out_i for the next pass;
//   dk/dv pass, a block per (key tile, kv head): walks every query head of its group and the
//     query tiles that see the key tile, accumulating in registers in a fixed order.
#include <climits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#ifdef SMOOTHREAD_HAVE_CUDNN
#include "kernels/cuda/attention_cudnn.h"
#endif

namespace sr::cuda {

namespace {

constexpr int kTile = 64;
constexpr int kThreads = 256;
constexpr int kP = kTile + 1;  // row stride of score tiles in shared memory (no bank conflicts)

__device__ __forceinline__ float ld(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float ld(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float ld(FloatRef p, int64_t i) { return p.get(i); }

// Sample b with cu[b] <= i < cu[b+1] (the last such b where samples are empty).
__device__ __forceinline__ int find_sample(const int32_t* cu, int B, int i) {
  int lo = 0, hi = B - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu[mid] <= i) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// First key query i sees.
__device__ __forceinline__ int first_key(const int32_t* cu, int B, int i, int window) {
  const int start = cu[find_sample(cu, B, i)];
  return window > 0 && i - window + 1 > start ? i - window + 1 : start;
}

// dst[64][HD+1] ← rows row0 … row0+63 of src[T, heads, HD] at `head` (0 past T).
template <int HD, typename Src>
__device__ __forceinline__ void load_tile(float* dst, Src src, int row0, int T, int heads, int head) {
  for (int e = threadIdx.x; e < kTile * HD; e += kThreads) {
    const int r = e / HD, d = e % HD, i = row0 + r;
    dst[r * (HD + 1) + d] = i < T ? ld(src, (int64_t(i) * heads + head) * HD + d) : 0.0f;
  }
}

__device__ __forceinline__ float half_warp_max(float v) {
  for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float half_warp_sum(float v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <int HD>
constexpr size_t fwd_smem() { return sizeof(float) * (3 * kTile * (HD + 1) + kTile * kP); }
template <int HD>
constexpr size_t dq_smem() { return sizeof(float) * (4 * kTile * (HD + 1) + kTile * kP); }
template <int HD>
constexpr size_t dkdv_smem() { return sizeof(float) * (4 * kTile * (HD + 1) + 2 * kTile * kP) + 3 * kTile * 4; }

// Block (query tile, head h).
template <int HD, typename TI>
__global__ void __launch_bounds__(kThreads)
attention_forward_kernel(FloatRef out, float* lse, const TI* q, const TI* k, const TI* v,
                         const int32_t* cu, int B, int T, int nh, int nkv, int window, float scale) {
  constexpr int S = HD + 1, ND = HD / 16;
  extern __shared__ float sm[];
  float *Qs = sm, *Ks = Qs + kTile * S, *Vs = Ks + kTile * S, *Ps = Vs + kTile * S;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int h = blockIdx.y, hk = h / (nh / nkv), q0 = blockIdx.x * kTile;
  const int q_last = min(q0 + kTile - 1, T - 1);
  load_tile<HD>(Qs, q, q0, T, nh, h);
  int lo[4];
  for (int ii = 0; ii < 4; ++ii) {
    const int i = q0 + ty * 4 + ii;
    lo[ii] = i < T ? first_key(cu, B, i, window) : INT_MAX;
  }
  float m[4], l[4], acc[4][ND];
  for (int ii = 0; ii < 4; ++ii) {
    m[ii] = -INFINITY;
    l[ii] = 0.0f;
    for (int i = 0; i < ND; ++i) acc[ii][i] = 0.0f;
  }
  for (int k0 = first_key(cu, B, q0, window); k0 <= q_last; k0 += kTile) {
    __syncthreads();
    load_tile<HD>(Ks, k, k0, T, nkv, hk);
    load_tile<HD>(Vs, v, k0, T, nkv, hk);
    __syncthreads();
    float s[4][4] = {};
    for (int d = 0; d < HD; ++d) {
      float a[4], b[4];
      for (int ii = 0; ii < 4; ++ii) a[ii] = Qs[(ty * 4 + ii) * S + d];
      for (int jj = 0; jj < 4; ++jj) b[jj] = Ks[(tx + 16 * jj) * S + d];
      for (int ii = 0; ii < 4; ++ii)
        for (int jj = 0; jj < 4; ++jj) s[ii][jj] += a[ii] * b[jj];
    }
    for (int ii = 0; ii < 4; ++ii) {
      const int i = q0 + ty * 4 + ii;
      float mx = -INFINITY;
      for (int jj = 0; jj < 4; ++jj) {
        const int j = k0 + tx + 16 * jj;
        s[ii][jj] = j >= lo[ii] && j <= i ? s[ii][jj] * scale : -INFINITY;
        mx = fmaxf(mx, s[ii][jj]);
      }
      const float m_new = fmaxf(m[ii], half_warp_max(mx));
      // A row with no visible key yet keeps m = -inf and contributes nothing.
      const float alpha = m_new == -INFINITY ? 1.0f : expf(m[ii] - m_new);
      float sum = 0.0f;
      for (int jj = 0; jj < 4; ++jj) {
        const float p = m_new == -INFINITY ? 0.0f : expf(s[ii][jj] - m_new);
        Ps[(ty * 4 + ii) * kP + tx + 16 * jj] = p;
        sum += p;
      }
      l[ii] = l[ii] * alpha + half_warp_sum(sum);
      m[ii] = m_new;
      for (int i2 = 0; i2 < ND; ++i2) acc[ii][i2] *= alpha;
    }
    __syncwarp();  // a row of Ps is written and read by one half-warp
    for (int c = 0; c < kTile; ++c) {
      float p[4];
      for (int ii = 0; ii < 4; ++ii) p[ii] = Ps[(ty * 4 + ii) * kP + c];
      for (int i2 = 0; i2 < ND; ++i2) {
        const float vv = Vs[c * S + tx + 16 * i2];
        for (int ii = 0; ii < 4; ++ii) acc[ii][i2] += p[ii] * vv;
      }
    }
  }
  for (int ii = 0; ii < 4; ++ii) {
    const int i = q0 + ty * 4 + ii;
    if (i >= T) continue;
    const float inv = 1.0f / l[ii];
    for (int i2 = 0; i2 < ND; ++i2) out.set((int64_t(i) * nh + h) * HD + tx + 16 * i2, acc[ii][i2] * inv);
    if (tx == 0) lse[int64_t(h) * T + i] = m[ii] + logf(l[ii]);
  }
}

// Block (query tile, head h): dq = Σ_j ds_ij k_j, ds = p (dout·v − D) · scale; writes D.
template <int HD, typename TI>
__global__ void __launch_bounds__(kThreads)
attention_dq_kernel(FloatRef dq, float* Dws, FloatRef dout, FloatRef out, const float* lse,
                    const TI* q, const TI* k, const TI* v, const int32_t* cu, int B, int T, int nh,
                    int nkv, int window, float scale) {
  constexpr int S = HD + 1, ND = HD / 16;
  extern __shared__ float sm[];
  float *Qs = sm, *dOs = Qs + kTile * S, *Ks = dOs + kTile * S, *Vs = Ks + kTile * S;
  float* DSs = Vs + kTile * S;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int h = blockIdx.y, hk = h / (nh / nkv), q0 = blockIdx.x * kTile;
  const int q_last = min(q0 + kTile - 1, T - 1);
  load_tile<HD>(Qs, q, q0, T, nh, h);
  load_tile<HD>(dOs, dout, q0, T, nh, h);
  __syncthreads();
  int lo[4];
  float D[4], L[4], acc[4][ND];
  for (int ii = 0; ii < 4; ++ii) {
    const int r = ty * 4 + ii, i = q0 + r;
    lo[ii] = i < T ? first_key(cu, B, i, window) : INT_MAX;
    float part = 0.0f;
    if (i < T)
      for (int i2 = 0; i2 < ND; ++i2)
        part += dOs[r * S + tx + 16 * i2] * out.get((int64_t(i) * nh + h) * HD + tx + 16 * i2);
    D[ii] = half_warp_sum(part);
    L[ii] = i < T ? lse[int64_t(h) * T + i] : 0.0f;
    if (tx == 0 && i < T) Dws[int64_t(h) * T + i] = D[ii];
    for (int i2 = 0; i2 < ND; ++i2) acc[ii][i2] = 0.0f;
  }
  for (int k0 = first_key(cu, B, q0, window); k0 <= q_last; k0 += kTile) {
    __syncthreads();
    load_tile<HD>(Ks, k, k0, T, nkv, hk);
    load_tile<HD>(Vs, v, k0, T, nkv, hk);
    __syncthreads();
    float s[4][4] = {}, dp[4][4] = {};
    for (int d = 0; d < HD; ++d) {
      float a[4], o[4], b[4], w[4];
      for (int ii = 0; ii < 4; ++ii) {
        a[ii] = Qs[(ty * 4 + ii) * S + d];
        o[ii] = dOs[(ty * 4 + ii) * S + d];
      }
      for (int jj = 0; jj < 4; ++jj) {
        b[jj] = Ks[(tx + 16 * jj) * S + d];
        w[jj] = Vs[(tx + 16 * jj) * S + d];
      }
      for (int ii = 0; ii < 4; ++ii)
        for (int jj = 0; jj < 4; ++jj) {
          s[ii][jj] += a[ii] * b[jj];
          dp[ii][jj] += o[ii] * w[jj];
        }
    }
    for (int ii = 0; ii < 4; ++ii) {
      const int i = q0 + ty * 4 + ii;
      for (int jj = 0; jj < 4; ++jj) {
        const int j = k0 + tx + 16 * jj;
        float ds = 0.0f;
        if (j >= lo[ii] && j <= i) {
          const float p = expf(s[ii][jj] * scale - L[ii]);
          ds = p * (dp[ii][jj] - D[ii]) * scale;
        }
        DSs[(ty * 4 + ii) * kP + tx + 16 * jj] = ds;
      }
    }
    __syncwarp();
    for (int c = 0; c < kTile; ++c) {
      float ds[4];
      for (int ii = 0; ii < 4; ++ii) ds[ii] = DSs[(ty * 4 + ii) * kP + c];
      for (int i2 = 0; i2 < ND; ++i2) {
        const float kv = Ks[c * S + tx + 16 * i2];
        for (int ii = 0; ii < 4; ++ii) acc[ii][i2] += ds[ii] * kv;
      }
    }
  }
  for (int ii = 0; ii < 4; ++ii) {
    const int i = q0 + ty * 4 + ii;
    if (i >= T) continue;
    for (int i2 = 0; i2 < ND; ++i2) dq.set((int64_t(i) * nh + h) * HD + tx + 16 * i2, acc[ii][i2]);
  }
}

// Block (key tile, kv head hk): dv_j = Σ p_ij dout_i, dk_j = Σ ds_ij q_i over the group's heads
// and the queries that see key j.
template <int HD, typename TI>
__global__ void __launch_bounds__(kThreads)
attention_dkdv_kernel(FloatRef dk, FloatRef dv, const float* Dws, FloatRef dout, const float* lse,
                      const TI* q, const TI* k, const TI* v, const int32_t* cu, int B, int T, int nh,
                      int nkv, int window, float scale) {
  constexpr int S = HD + 1, ND = HD / 16;
  extern __shared__ float sm[];
  float *Ks = sm, *Vs = Ks + kTile * S, *Qs = Vs + kTile * S, *dOs = Qs + kTile * S;
  float *Ps = dOs + kTile * S, *DSs = Ps + kTile * kP, *Ls = DSs + kTile * kP, *Ds = Ls + kTile;
  int* los = reinterpret_cast<int*>(Ds + kTile);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int hk = blockIdx.y, group = nh / nkv, kb0 = blockIdx.x * kTile;
  const int k_last = min(kb0 + kTile - 1, T - 1);
  load_tile<HD>(Ks, k, kb0, T, nkv, hk);
  load_tile<HD>(Vs, v, kb0, T, nkv, hk);
  // Last query that sees any key of this tile: that of the last key (monotone in j).
  int q_end = cu[find_sample(cu, B, k_last) + 1] - 1;
  if (window > 0) q_end = min(q_end, k_last + window - 1);
  float dka[4][ND], dva[4][ND];
  for (int ii = 0; ii < 4; ++ii)
    for (int i2 = 0; i2 < ND; ++i2) dka[ii][i2] = dva[ii][i2] = 0.0f;
  for (int h = hk * group; h < (hk + 1) * group; ++h) {
    for (int q0 = kb0; q0 <= q_end; q0 += kTile) {
      __syncthreads();
      load_tile<HD>(Qs, q, q0, T, nh, h);
      load_tile<HD>(dOs, dout, q0, T, nh, h);
      if (threadIdx.x < kTile) {
        const int i = q0 + threadIdx.x;
        Ls[threadIdx.x] = i < T ? lse[int64_t(h) * T + i] : 0.0f;
        Ds[threadIdx.x] = i < T ? Dws[int64_t(h) * T + i] : 0.0f;
        los[threadIdx.x] = i < T ? first_key(cu, B, i, window) : INT_MAX;
      }
      __syncthreads();
      float s[4][4] = {}, dp[4][4] = {};
      for (int d = 0; d < HD; ++d) {
        float a[4], w[4], b[4], o[4];
        for (int ii = 0; ii < 4; ++ii) {
          a[ii] = Ks[(ty * 4 + ii) * S + d];
          w[ii] = Vs[(ty * 4 + ii) * S + d];
        }
        for (int jj = 0; jj < 4; ++jj) {
          b[jj] = Qs[(tx + 16 * jj) * S + d];
          o[jj] = dOs[(tx + 16 * jj) * S + d];
        }
        for (int ii = 0; ii < 4; ++ii)
          for (int jj = 0; jj < 4; ++jj) {
            s[ii][jj] += a[ii] * b[jj];
            dp[ii][jj] += w[ii] * o[jj];
          }
      }
      for (int ii = 0; ii < 4; ++ii) {
        const int j = kb0 + ty * 4 + ii;
        for (int jj = 0; jj < 4; ++jj) {
          const int r = tx + 16 * jj, i = q0 + r;
          float p = 0.0f, ds = 0.0f;
          if (j < T && j >= los[r] && j <= i) {
            p = expf(s[ii][jj] * scale - Ls[r]);
            ds = p * (dp[ii][jj] - Ds[r]) * scale;
          }
          Ps[(ty * 4 + ii) * kP + r] = p;
          DSs[(ty * 4 + ii) * kP + r] = ds;
        }
      }
      __syncwarp();
      for (int r = 0; r < kTile; ++r) {
        float p[4], ds[4];
        for (int ii = 0; ii < 4; ++ii) {
          p[ii] = Ps[(ty * 4 + ii) * kP + r];
          ds[ii] = DSs[(ty * 4 + ii) * kP + r];
        }
        for (int i2 = 0; i2 < ND; ++i2) {
          const float o = dOs[r * S + tx + 16 * i2], qq = Qs[r * S + tx + 16 * i2];
          for (int ii = 0; ii < 4; ++ii) {
            dva[ii][i2] += p[ii] * o;
            dka[ii][i2] += ds[ii] * qq;
          }
        }
      }
    }
  }
  for (int ii = 0; ii < 4; ++ii) {
    const int j = kb0 + ty * 4 + ii;
    if (j >= T) continue;
    for (int i2 = 0; i2 < ND; ++i2) {
      const int64_t e = (int64_t(j) * nkv + hk) * HD + tx + 16 * i2;
      dk.set(e, dka[ii][i2]);
      dv.set(e, dva[ii][i2]);
    }
  }
}

struct Shapes {
  int T, nh, nkv, hd, B;
};

Shapes check_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu,
                    const char* op) {
  SR_ASSERT(q.ndim == 3 && k.ndim == 3 && v.ndim == 3, std::string(op) + ": expected [T,heads,hd]");
  const Shapes s{int(q.dim(0)), int(q.dim(1)), int(k.dim(1)), int(q.dim(2)), int(cu.numel() - 1)};
  SR_ASSERT(k.dim(0) == s.T && v.dim(0) == s.T && v.dim(1) == s.nkv && k.dim(2) == s.hd &&
                v.dim(2) == s.hd, std::string(op) + ": q/k/v shapes disagree");
  SR_ASSERT(s.nkv > 0 && s.nh % s.nkv == 0, std::string(op) + ": query heads must be a multiple of kv heads");
  SR_ASSERT(s.hd == 16 || s.hd == 32 || s.hd == 64 || s.hd == 128,
            std::string(op) + ": CUDA attention supports head dims 16, 32, 64, 128; got " +
                std::to_string(s.hd));
  SR_ASSERT(q.dtype == k.dtype && q.dtype == v.dtype && (q.dtype == DType::f32 || q.dtype == DType::bf16),
            std::string(op) + ": q, k, v must all be f32 or all bf16");
  SR_ASSERT(s.B >= 1, std::string(op) + ": cu_seqlens needs at least 2 entries");
  return s;
}

template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  SR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

template <int HD, typename TI>
void forward_impl(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu, int window,
                  const Shapes& s) {
  allow_smem(attention_forward_kernel<HD, TI>, fwd_smem<HD>());
  const dim3 grid(unsigned((s.T + kTile - 1) / kTile), unsigned(s.nh));
  attention_forward_kernel<HD, TI><<<grid, kThreads, fwd_smem<HD>(), kStream>>>(
      float_ref(out, "attention_forward"), f32_ref(lse, "attention_forward"),
      static_cast<const TI*>(q.data), static_cast<const TI*>(k.data), static_cast<const TI*>(v.data),
      i32_ref(cu, "attention_forward"), s.B, s.T, s.nh, s.nkv, window, 1.0f / sqrtf(float(HD)));
  SR_CHECK_LAUNCH();
}

template <int HD, typename TI>
void backward_impl(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                   Tensor k, Tensor v, Tensor cu, int window, const Shapes& s) {
  auto* D = static_cast<float*>(scratch(sizeof(float) * size_t(s.nh) * size_t(s.T)));  // [nh,T]
  const float scale = 1.0f / sqrtf(float(HD));
  const TI *pq = static_cast<const TI*>(q.data), *pk = static_cast<const TI*>(k.data),
           *pv = static_cast<const TI*>(v.data);
  const int32_t* pcu = i32_ref(cu, "attention_backward");
  const float* pl = f32_ref(lse, "attention_backward");
  const FloatRef rdo = float_ref(dout, "attention_backward");
  const unsigned tiles = unsigned((s.T + kTile - 1) / kTile);
  allow_smem(attention_dq_kernel<HD, TI>, dq_smem<HD>());
  attention_dq_kernel<HD, TI><<<dim3(tiles, unsigned(s.nh)), kThreads, dq_smem<HD>(), kStream>>>(
      float_ref(dq, "attention_backward"), D, rdo, float_ref(out, "attention_backward"), pl, pq, pk,
      pv, pcu, s.B, s.T, s.nh, s.nkv, window, scale);
  SR_CHECK_LAUNCH();
  allow_smem(attention_dkdv_kernel<HD, TI>, dkdv_smem<HD>());
  attention_dkdv_kernel<HD, TI><<<dim3(tiles, unsigned(s.nkv)), kThreads, dkdv_smem<HD>(), kStream>>>(
      float_ref(dk, "attention_backward"), float_ref(dv, "attention_backward"), D, rdo, pl, pq, pk,
      pv, pcu, s.B, s.T, s.nh, s.nkv, window, scale);
  SR_CHECK_LAUNCH();
}

// Calls F<HD, TI>::run(args…) for the tensor's head dim and dtype.
#define SR_ATTENTION_DISPATCH(fn, s, dtype, ...)                                      \
  do {                                                                                 \
    const bool bf = (dtype) == DType::bf16;                                            \
    switch ((s).hd) {                                                                  \
      case 16: bf ? fn<16, __nv_bfloat16>(__VA_ARGS__) : fn<16, float>(__VA_ARGS__); break;   \
      case 32: bf ? fn<32, __nv_bfloat16>(__VA_ARGS__) : fn<32, float>(__VA_ARGS__); break;   \
      case 64: bf ? fn<64, __nv_bfloat16>(__VA_ARGS__) : fn<64, float>(__VA_ARGS__); break;   \
      default: bf ? fn<128, __nv_bfloat16>(__VA_ARGS__) : fn<128, float>(__VA_ARGS__); break; \
    }                                                                                  \
  } while (0)

}  // namespace

// out[T,nh,hd], lse[nh,T], q[T,nh,hd], k/v[T,nkv,hd], cu_seqlens[B+1]
void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window) {
  const Shapes s = check_shapes(q, k, v, cu_seqlens, "attention_forward");
  SR_ASSERT(out.numel() == q.numel() && lse.numel() >= int64_t(s.nh) * s.T, "attention_forward: out/lse shapes");
  if (s.T == 0) return;
#ifdef SMOOTHREAD_HAVE_CUDNN
  if (ops::attention_settings().use_cudnn &&
      cudnn_attention_forward(out, lse, q, k, v, cu_seqlens, window))
    return;
#endif
  SR_ATTENTION_DISPATCH(forward_impl, s, q.dtype, out, lse, q, k, v, cu_seqlens, window, s);
}

// dq[T,nh,hd], dk/dv[T,nkv,hd] overwritten
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window) {
  const Shapes s = check_shapes(q, k, v, cu_seqlens, "attention_backward");
  SR_ASSERT(dq.numel() == q.numel() && dk.numel() == k.numel() && dv.numel() == v.numel() &&
                dout.numel() == q.numel() && out.numel() == q.numel(),
            "attention_backward: gradient shapes");
  if (s.T == 0) return;
#ifdef SMOOTHREAD_HAVE_CUDNN
  // A deterministic windowed backward stays on the own kernel, which skips work outside the
  // window; cuDNN's deterministic algorithm does not (it costs as much as full causal).
  const ops::AttentionSettings& as = ops::attention_settings();
  if (as.use_cudnn && !(as.deterministic && window > 0) &&
      cudnn_attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens, window,
                               as.deterministic))
    return;
#endif
  SR_ATTENTION_DISPATCH(backward_impl, s, q.dtype, dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens,
                        window, s);
}

}  // namespace sr::cuda
