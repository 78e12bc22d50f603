// Cross-entropy pieces over a chunk of (possibly vocab-sharded) logits; the model combines the
// per-row statistics across shards (global max first, then the sums relative to it).
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kLossBlocks = 64;  // fixed, so the loss summation order never depends on T

__global__ void row_max_kernel(float* row_max, FloatRef logits, int64_t V) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  float m = -INFINITY;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, logits.get(t * V + v));
  m = block_max(m, red);
  if (threadIdx.x == 0) row_max[t] = m;
}

__global__ void row_sumexp_kernel(float* sumexp, FloatRef logits, const float* row_max, int64_t V) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  const float m = row_max[t];
  float s = 0.0f;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) s += expf(logits.get(t * V + v) - m);
  s = block_sum(s, red);
  if (threadIdx.x == 0) sumexp[t] = s;
}

__global__ void gather_target_kernel(float* out, FloatRef logits, const int32_t* targets, int64_t T,
                                     int64_t V, int64_t vocab_start) {
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (t >= T) return;
  const int64_t c = int64_t(targets[t]) - vocab_start;
  out[t] = c >= 0 && c < V ? logits.get(t * V + c) : 0.0f;
}

// partial[b] = Σ over rows b, b + kLossBlocks, … of weight · (log sumexp + max − target), double.
__global__ void loss_sum_kernel(double* partial, const float* m, const float* s, const float* tl,
                                const float* w, int64_t T) {
  __shared__ double red[kThreads];
  double acc = 0.0;
  for (int64_t t = blockIdx.x * int64_t(kThreads) + threadIdx.x; t < T; t += int64_t(kLossBlocks) * kThreads)
    if (w[t] != 0.0f) acc += double(w[t]) * (log(double(s[t])) + m[t] - tl[t]);
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int k = kThreads / 2; k > 0; k >>= 1) {
    if (int(threadIdx.x) < k) red[threadIdx.x] += red[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = red[0];
}

// Block (column chunk, row t): logits[t,:] ← weight[t] · (softmax − onehot(target)).
__global__ void ce_backward_kernel(FloatRef logits, const float* m, const float* s,
                                   const int32_t* targets, const float* w, int64_t V,
                                   int64_t vocab_start) {
  const int64_t t = blockIdx.y;
  const float wt = w[t], mt = m[t], inv = 1.0f / s[t];
  const int64_t c = int64_t(targets[t]) - vocab_start;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < V;
       v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = t * V + v;
    if (wt == 0.0f) {
      logits.set(e, 0.0f);
      continue;
    }
    float g = wt * expf(logits.get(e) - mt) * inv;
    if (v == c) g -= wt;
    logits.set(e, g);
  }
}

}  // namespace

// row_max[T], logits[T,V]
void logits_row_max(Tensor row_max, Tensor logits) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  if (T == 0) return;
  row_max_kernel<<<unsigned(T), kThreads, 0, kStream>>>(f32_ref(row_max, "logits_row_max"),
                                                        float_ref(logits, "logits_row_max"), V);
  SR_CHECK_LAUNCH();
}

// sumexp[T] = Σ_v exp(logits[t,v] − row_max[t])
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  if (T == 0) return;
  row_sumexp_kernel<<<unsigned(T), kThreads, 0, kStream>>>(
      f32_ref(sumexp, "logits_row_sumexp"), float_ref(logits, "logits_row_sumexp"),
      f32_ref(row_max, "logits_row_sumexp"), V);
  SR_CHECK_LAUNCH();
}

// target_logit[T] = logits[t, targets[t] − vocab_start] inside this shard, else 0
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  if (T == 0) return;
  gather_target_kernel<<<unsigned((T + 255) / 256), 256, 0, kStream>>>(
      f32_ref(target_logit, "logits_gather_target"), float_ref(logits, "logits_gather_target"),
      i32_ref(targets, "logits_gather_target"), T, V, vocab_start);
  SR_CHECK_LAUNCH();
}

double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight) {
  const int64_t T = row_max.numel();
  auto* partial = static_cast<double*>(scratch(kLossBlocks * sizeof(double)));
  loss_sum_kernel<<<kLossBlocks, kThreads, 0, kStream>>>(
      partial, f32_ref(row_max, "cross_entropy_loss_sum"), f32_ref(sumexp, "cross_entropy_loss_sum"),
      f32_ref(target_logit, "cross_entropy_loss_sum"), f32_ref(weight, "cross_entropy_loss_sum"), T);
  SR_CHECK_LAUNCH();
  std::vector<double> host(kLossBlocks);  // [kLossBlocks]
  SR_CHECK_CUDA(cudaMemcpy(host.data(), partial, sizeof(double) * kLossBlocks, cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double p : host) s += p;
  return s;
}

// logits[T,V] ← weight[t] · (softmax − onehot(target))
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  if (T == 0) return;
  SR_ASSERT(T <= 65535, "cross_entropy_backward: at most 65535 rows per chunk");
  const int64_t chunks = (V + kThreads - 1) / kThreads;
  const dim3 grid(unsigned(chunks < 64 ? chunks : 64), unsigned(T));
  ce_backward_kernel<<<grid, kThreads, 0, kStream>>>(
      float_ref(logits, "cross_entropy_backward"), f32_ref(row_max, "cross_entropy_backward"),
      f32_ref(sumexp, "cross_entropy_backward"), i32_ref(targets, "cross_entropy_backward"),
      f32_ref(weight, "cross_entropy_backward"), V, vocab_start);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
