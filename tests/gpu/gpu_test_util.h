// Helpers of the GPU tests: the skip where no GPU is present, device copies of host data
// (f32, bf16, i32), NaN poisoning, and ‖got − want‖ / ‖want‖.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "core/device_memory.h"

namespace sr::gputest {

// Every GPU test starts with this: CI machines have no GPU and must pass by skipping.
#define SR_REQUIRE_GPU()                                                          \
  do {                                                                            \
    if (::sr::cuda_device_count() == 0)                                           \
      GTEST_SKIP() << "no CUDA device visible (or built without CUDA): skipped";  \
  } while (0)

inline uint16_t to_bf16_bits(float f) {  // round to nearest even, as __float2bfloat16
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float from_bf16_bits(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The values bf16 storage keeps of v.
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (float& x : v) x = from_bf16_bits(to_bf16_bits(x));
  return v;
}

// One device allocation of a tensor; freed with the object.
class DeviceTensor {
 public:
  DeviceTensor(DType dtype, std::initializer_list<int64_t> dims) {
    Tensor shape(nullptr, dtype, dims);
    bytes_ = shape.bytes() ? shape.bytes() : 4;
    data_ = device_alloc(Device::cuda, bytes_);
    t_ = Tensor(data_, dtype, dims, Device::cuda);
  }
  ~DeviceTensor() { device_free(Device::cuda, data_); }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;

  const Tensor& t() const { return t_; }
  operator Tensor() const { return t_; }

  // Uploads host values (converted to the tensor's dtype).
  void put(const std::vector<float>& v) {
    EXPECT_EQ(int64_t(v.size()), t_.numel());
    if (t_.dtype == DType::bf16) {
      std::vector<uint16_t> b(v.size());
      for (size_t i = 0; i < v.size(); ++i) b[i] = to_bf16_bits(v[i]);
      device_copy(Device::cuda, data_, Device::cpu, b.data(), b.size() * 2);
    } else {
      device_copy(Device::cuda, data_, Device::cpu, v.data(), v.size() * 4);
    }
  }
  void put_i32(const std::vector<int32_t>& v) {
    EXPECT_EQ(int64_t(v.size()), t_.numel());
    device_copy(Device::cuda, data_, Device::cpu, v.data(), v.size() * 4);
  }
  // Fills with NaN, so an element the kernel fails to write shows up in the comparison.
  void poison() { put(std::vector<float>(size_t(t_.numel()), std::numeric_limits<float>::quiet_NaN())); }
  std::vector<float> get() const {
    std::vector<float> v(size_t(t_.numel()));
    if (t_.dtype == DType::bf16) {
      std::vector<uint16_t> b(v.size());
      device_copy(Device::cpu, b.data(), Device::cuda, data_, b.size() * 2);
      for (size_t i = 0; i < v.size(); ++i) v[i] = from_bf16_bits(b[i]);
    } else {
      device_copy(Device::cpu, v.data(), Device::cuda, data_, v.size() * 4);
    }
    return v;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Tensor t_;
};

inline double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);  // NaN anywhere gives NaN: fails
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

struct Rand {
  std::mt19937 gen;
  explicit Rand(uint32_t seed) : gen(seed) {}
  std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(gen);
    return v;
  }
  int32_t integer(int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(gen); }
};

inline Tensor host(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  return Tensor(v.data(), DType::f32, dims);
}
inline Tensor host(std::vector<int32_t>& v, std::initializer_list<int64_t> dims) {
  return Tensor(v.data(), DType::i32, dims);
}

}  // namespace sr::gputest
