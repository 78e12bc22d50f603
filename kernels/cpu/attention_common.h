// Shared by the CPU attention kernels (training and KV-cache): the head-dim bound of their
// stack accumulators and the vectorised dot product of one query with one key.
#pragma once
#include <cstdint>

namespace sr::cpu {

constexpr int64_t kMaxHeadDim = 256;

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace sr::cpu
