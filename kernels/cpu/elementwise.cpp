// Elementwise CPU kernels: fill, copy, add, scale, sum of squares.
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

void fill_zero(Tensor x) { std::memset(x.data, 0, x.bytes()); }

void copy(Tensor dst, Tensor src) {
  SR_ASSERT(dst.numel() == src.numel(), "copy: element counts differ");
  SR_ASSERT(dst.dtype == src.dtype, "copy: the CPU backend copies same-dtype tensors only");
  std::memcpy(dst.data, src.data, src.bytes());
}

void add_inplace(Tensor y, Tensor x) {
  SR_ASSERT(y.numel() == x.numel(), "add_inplace: element counts differ");
  float* py = y.f32();
  const float* px = x.f32();
  const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) py[i] += px[i];
}

void scale_inplace(Tensor x, float s) {
  float* p = x.f32();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) p[i] *= s;
}

double sum_squares(Tensor x) {
  // Sequential in double: exact enough and independent of the thread count.
  const float* p = x.f32();
  double s = 0.0;
  for (int64_t i = 0, n = x.numel(); i < n; ++i) s += double(p[i]) * p[i];
  return s;
}

}  // namespace sr::cpu
