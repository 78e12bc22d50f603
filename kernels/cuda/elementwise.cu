// Elementwise CUDA kernels: fill, copy/cast, add, scale, sum of squares; and the scratch buffer.
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

void* g_scratch = nullptr;
size_t g_scratch_bytes = 0;

// Fixed block count of the sum-of-squares partials: the summation order never depends on n.
constexpr int kSumBlocks = 264;
constexpr int kSumThreads = 256;

__global__ void cast_kernel(FloatRef dst, FloatRef src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst.set(i, src.get(i));
}

__global__ void add_kernel(FloatRef y, FloatRef x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y.set(i, y.get(i) + x.get(i));
}

__global__ void scale_kernel(FloatRef x, float s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x.set(i, x.get(i) * s);
}

// partial[b] = Σ x² over the grid-stride elements of block b, in double, fixed tree order.
__global__ void sum_squares_kernel(double* partial, FloatRef x, int64_t n) {
  __shared__ double s[kSumThreads];
  double acc = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const double v = x.get(i);
    acc += v * v;
  }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kSumThreads / 2; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

}  // namespace

void* scratch(size_t bytes) {
  if (bytes > g_scratch_bytes) {
    if (g_scratch) SR_CHECK_CUDA(cudaFree(g_scratch));
    g_scratch_bytes = (bytes + 255) / 256 * 256;
    SR_CHECK_CUDA(cudaMalloc(&g_scratch, g_scratch_bytes));
  }
  return g_scratch;
}

void fill_zero(Tensor x) {
  SR_ASSERT(x.device == Device::cuda, "fill_zero: expected a CUDA tensor");
  SR_CHECK_CUDA(cudaMemsetAsync(x.data, 0, x.bytes(), kStream));
}

void copy(Tensor dst, Tensor src) {
  SR_ASSERT(dst.numel() == src.numel(), "copy: element counts differ");
  if (dst.dtype == src.dtype) {
    SR_CHECK_CUDA(cudaMemcpyAsync(dst.data, src.data, src.bytes(), cudaMemcpyDefault, kStream));
    return;
  }
  SR_ASSERT(src.device == Device::cuda, "copy: casting copies need both tensors on CUDA");
  const int64_t n = dst.numel();
  cast_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(float_ref(dst, "copy"), float_ref(src, "copy"), n);
  SR_CHECK_LAUNCH();
}

void add_inplace(Tensor y, Tensor x) {
  SR_ASSERT(y.numel() == x.numel(), "add_inplace: element counts differ");
  const int64_t n = y.numel();
  add_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(float_ref(y, "add_inplace"),
                                                     float_ref(x, "add_inplace"), n);
  SR_CHECK_LAUNCH();
}

void scale_inplace(Tensor x, float s) {
  const int64_t n = x.numel();
  scale_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(float_ref(x, "scale_inplace"), s, n);
  SR_CHECK_LAUNCH();
}

double sum_squares(Tensor x) {
  auto* partial = static_cast<double*>(scratch(kSumBlocks * sizeof(double)));
  sum_squares_kernel<<<kSumBlocks, kSumThreads, 0, kStream>>>(partial, float_ref(x, "sum_squares"),
                                                              x.numel());
  SR_CHECK_LAUNCH();
  std::vector<double> host(kSumBlocks);  // [kSumBlocks]
  SR_CHECK_CUDA(cudaMemcpy(host.data(), partial, sizeof(double) * kSumBlocks, cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double p : host) s += p;
  return s;
}

}  // namespace sr::cuda
