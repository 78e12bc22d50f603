// Shared helpers of the CUDA kernels: f32/bf16 element access, launch sizes, the stream.
//
// Every kernel runs on the legacy default stream (0), so ops are ordered like the CPU calls and
// the model needs no synchronisation of its own.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "core/cuda/cuda_check.h"

namespace sr::cuda {

constexpr cudaStream_t kStream = 0;

// An f32 or bf16 array whose element type is decided at run time (one uniform branch per
// access), so one kernel serves every mix of f32 and bf16 operands; math is always f32.
struct FloatRef {
  void* p = nullptr;
  bool bf16 = false;
  __device__ __forceinline__ float get(int64_t i) const {
    return bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i])
                : static_cast<const float*>(p)[i];
  }
  __device__ __forceinline__ void set(int64_t i, float v) const {
    if (bf16)
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
    else
      static_cast<float*>(p)[i] = v;
  }
  // Elements 4·q .. 4·q+3 in one access: 16 bytes of f32 or 8 bytes of bf16. Only where
  // vec4_ok() holds for every array of the kernel.
  __device__ __forceinline__ float4 get4(int64_t q) const {
    if (!bf16) return static_cast<const float4*>(p)[q];
    const uint2 raw = static_cast<const uint2*>(p)[q];
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    return make_float4(a.x, a.y, b.x, b.y);
  }
  __device__ __forceinline__ void set4(int64_t q, float4 v) const {
    if (!bf16) {
      static_cast<float4*>(p)[q] = v;
      return;
    }
    const __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
    uint2 raw;
    raw.x = *reinterpret_cast<const unsigned*>(&a);
    raw.y = *reinterpret_cast<const unsigned*>(&b);
    static_cast<uint2*>(p)[q] = raw;
  }
  // Whether get4/set4 may be used on this array for n elements.
  bool vec4_ok(int64_t n) const {
    return n % 4 == 0 && reinterpret_cast<uintptr_t>(p) % (bf16 ? 8 : 16) == 0;
  }
};

// A grid-stride loop over i in [0, n).
#define SR_FOR_EACH(i, n)                                                  \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// The FloatRef of a CUDA f32/bf16 tensor; anything else is a programming error named by `op`.
inline FloatRef float_ref(const Tensor& t, const char* op) {
  SR_ASSERT(t.device == Device::cuda, std::string(op) + ": expected a CUDA tensor");
  SR_ASSERT(t.dtype == DType::f32 || t.dtype == DType::bf16,
            std::string(op) + ": expected an f32 or bf16 tensor, got " + dtype_name(t.dtype));
  return FloatRef{t.data, t.dtype == DType::bf16};
}

inline const int32_t* i32_ref(const Tensor& t, const char* op) {
  SR_ASSERT(t.device == Device::cuda && t.dtype == DType::i32,
            std::string(op) + ": expected a CUDA i32 tensor");
  return static_cast<const int32_t*>(t.data);
}

inline float* f32_ref(const Tensor& t, const char* op) {
  SR_ASSERT(t.device == Device::cuda && t.dtype == DType::f32,
            std::string(op) + ": expected a CUDA f32 tensor");
  return static_cast<float*>(t.data);
}

// Blocks of `threads` covering n elements, capped (kernels loop grid-stride beyond that).
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x (a multiple of 32, ≤ 1024) threads in a fixed order, so the
// result is deterministic; every thread gets it. `shared` holds ≥ 32 floats.
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < nwarps ? shared[lane] : 0.0f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < nwarps ? shared[lane] : -INFINITY;
  return warp_max(v);
}

// Device scratch memory, grown on first use and kept (so the training step allocates only in
// its first iteration). Stream-ordered: one user at a time on the default stream.
void* scratch(size_t bytes);

}  // namespace sr::cuda
