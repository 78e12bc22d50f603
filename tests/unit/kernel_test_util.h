// Helpers for the kernel tests: seeded random host buffers, Tensor views of them, packed-sample
// layouts and a closeness check that names the worst element.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sr::test {

// Fixed-seed generator so a failure reproduces exactly.
struct Rng {
  std::mt19937 gen;
  explicit Rng(uint32_t seed) : gen(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  int32_t integer(int32_t lo, int32_t hi) {  // inclusive
    return std::uniform_int_distribution<int32_t>(lo, hi)(gen);
  }
  std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }
};

// Tensor views over host vectors (the vectors own the memory and must outlive the views).
inline Tensor view(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  Tensor t(v.data(), DType::f32, dims);
  SR_ASSERT(size_t(t.numel()) == v.size(), "test view: element count differs from the vector");
  return t;
}
inline Tensor view(std::vector<int32_t>& v, std::initializer_list<int64_t> dims) {
  Tensor t(v.data(), DType::i32, dims);
  SR_ASSERT(size_t(t.numel()) == v.size(), "test view: element count differs from the vector");
  return t;
}

// cu_seqlens[B+1] for samples of the given lengths, packed back to back.
inline std::vector<int32_t> cu_seqlens_of(const std::vector<int32_t>& lengths) {
  std::vector<int32_t> cu{0};
  for (int32_t n : lengths) cu.push_back(cu.back() + n);
  return cu;
}
// positions[T]: 0, 1, ... restarting at each sample.
inline std::vector<int32_t> positions_of(const std::vector<int32_t>& cu) {
  std::vector<int32_t> pos;
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    for (int32_t i = cu[b]; i < cu[b + 1]; ++i) pos.push_back(i - cu[b]);
  return pos;
}

// Every element within atol + rtol·|want|; on failure names the worst element.
template <typename G, typename W>
void expect_close(const std::vector<G>& got, const std::vector<W>& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    const double excess = std::abs(g - w) - (atol + rtol * std::abs(w));
    if (!(excess <= 0.0) && (excess > worst_excess || std::isnan(excess))) {
      worst = i;
      worst_excess = std::isnan(excess) ? INFINITY : excess;
    }
  }
  EXPECT_LT(worst_excess, 0.0) << what << ": element " << worst << " got " << double(got[worst])
                               << " want " << double(want[worst]) << " (rtol " << rtol
                               << ", atol " << atol << ")";
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Σ a·b in double: the scalar objective L = Σ dout·f(x) of the finite-difference tests.
inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Central differences of `loss` wrt every element of `x` (perturbed in place, then restored).
template <typename F>
std::vector<double> finite_diff(std::vector<float>& x, F&& loss, float step = 1e-3f) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float x0 = x[i];
    x[i] = x0 + step;
    const double up = loss();
    const float hi = x[i];
    x[i] = x0 - step;
    const double down = loss();
    const float lo = x[i];
    x[i] = x0;
    g[i] = (up - down) / (double(hi) - double(lo));  // the step actually representable in f32
  }
  return g;
}

// Analytic gradient against finite differences: 1e-2 relative, with a floor at 1e-2 of the
// gradient's largest entry so near-zero entries are judged on the tensor's scale.
inline void expect_grad_close(const std::vector<float>& analytic, const std::vector<double>& fd,
                              const std::string& what) {
  expect_close(analytic, fd, 1e-2, 1e-2 * std::max(max_abs(fd), 1e-3), what);
}

}  // namespace sr::test
