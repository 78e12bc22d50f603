// Tensor: a non-owning view of memory (pointer, dtype, shape of up to 4 dims, device).
// Memory is owned by an Arena; a Tensor never allocates or frees.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace sr {

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  int ndim = 0;
  std::array<int64_t, 4> shape{0, 0, 0, 0};

  Tensor() = default;
  Tensor(void* p, DType t, std::initializer_list<int64_t> dims, Device dev = Device::cpu)
      : data(p), dtype(t), device(dev) {
    SR_ASSERT(dims.size() <= 4, "a Tensor has at most 4 dimensions");
    for (int64_t d : dims) shape[ndim++] = d;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return ndim == 0 ? 0 : n;
  }
  size_t bytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
  bool empty() const { return data == nullptr; }

  template <typename T> T* ptr() const { return static_cast<T*>(data); }
  float* f32() const { SR_ASSERT(dtype == DType::f32, "expected an f32 tensor"); return ptr<float>(); }
  int32_t* i32() const { SR_ASSERT(dtype == DType::i32, "expected an i32 tensor"); return ptr<int32_t>(); }

  // The same memory seen with another shape of equal element count.
  Tensor view(std::initializer_list<int64_t> dims) const {
    Tensor t(data, dtype, dims, device);
    SR_ASSERT(t.numel() == numel(), "view changes the element count");
    return t;
  }
  // Rows [begin, begin + count) along dimension 0.
  Tensor rows(int64_t begin, int64_t count) const {
    Tensor t = *this;
    int64_t row = numel() / shape[0];
    t.data = static_cast<char*>(data) + size_t(begin * row) * dtype_size(dtype);
    t.shape[0] = count;
    return t;
  }
};

}  // namespace sr
