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

// Each kernel has a 4-wide path (16-byte f32 / 8-byte bf16 accesses) taken when every array
// allows it (`vec4`, decided on the host), and an element-wise one otherwise.
__global__ void cast_kernel(FloatRef dst, FloatRef src, int64_t n, bool vec4) {
  if (vec4) {
    SR_FOR_EACH(q, n / 4) dst.set4(q, src.get4(q));
    return;
  }
  SR_FOR_EACH(i, n) dst.set(i, src.get(i));
}

__global__ void add_kernel(FloatRef y, FloatRef x, int64_t n, bool vec4) {
  if (vec4) {
    SR_FOR_EACH(q, n / 4) {
      const float4 a = y.get4(q), b = x.get4(q);
      y.set4(q, make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w));
    }
    return;
  }
  SR_FOR_EACH(i, n) y.set(i, y.get(i) + x.get(i));
}

__global__ void scale_kernel(FloatRef x, float s, int64_t n, bool vec4) {
  if (vec4) {
    SR_FOR_EACH(q, n / 4) {
      const float4 a = x.get4(q);
      x.set4(q, make_float4(a.x * s, a.y * s, a.z * s, a.w * s));
    }
    return;
  }
  SR_FOR_EACH(i, n) x.set(i, x.get(i) * s);
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
  const FloatRef d = float_ref(dst, "copy"), s = float_ref(src, "copy");
  const bool vec4 = d.vec4_ok(n) && s.vec4_ok(n);
  cast_kernel<<<grid_for(vec4 ? n / 4 : n, 256), 256, 0, kStream>>>(d, s, n, vec4);
  SR_CHECK_LAUNCH();
}

void add_inplace(Tensor y, Tensor x) {
  SR_ASSERT(y.numel() == x.numel(), "add_inplace: element counts differ");
  const int64_t n = y.numel();
  const FloatRef fy = float_ref(y, "add_inplace"), fx = float_ref(x, "add_inplace");
  const bool vec4 = fy.vec4_ok(n) && fx.vec4_ok(n);
  add_kernel<<<grid_for(vec4 ? n / 4 : n, 256), 256, 0, kStream>>>(fy, fx, n, vec4);
  SR_CHECK_LAUNCH();
}

void scale_inplace(Tensor x, float s) {
  const int64_t n = x.numel();
  const FloatRef fx = float_ref(x, "scale_inplace");
  const bool vec4 = fx.vec4_ok(n);
  scale_kernel<<<grid_for(vec4 ? n / 4 : n, 256), 256, 0, kStream>>>(fx, s, n, vec4);
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
