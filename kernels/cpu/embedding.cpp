// Token embedding, vocab-parallel: this rank owns rows [vocab_start, vocab_start + V).
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// out[T,H], ids[T] i32, table[V,H]
void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start) {
  const int64_t T = out.dim(0), H = out.dim(1), V = table.dim(0);
  const int32_t* id = ids.i32();
  const float* tab = table.f32();
  float* o = out.f32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    int64_t row = int64_t(id[t]) - vocab_start;
    if (row >= 0 && row < V)
      std::memcpy(o + t * H, tab + row * H, size_t(H) * sizeof(float));
    else
      std::memset(o + t * H, 0, size_t(H) * sizeof(float));
  }
}

// dtable[V,H] += dout[T,H] rows; threads split the H columns so each element is summed over t
// in token order by one thread (deterministic).
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start) {
  const int64_t T = dout.dim(0), H = dout.dim(1), V = dtable.dim(0);
  const int32_t* id = ids.i32();
  const float* d = dout.f32();
  float* g = dtable.f32();
  constexpr int64_t kCols = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < H; c0 += kCols) {
    const int64_t c1 = c0 + kCols < H ? c0 + kCols : H;
    for (int64_t t = 0; t < T; ++t) {
      int64_t row = int64_t(id[t]) - vocab_start;
      if (row < 0 || row >= V) continue;
      for (int64_t c = c0; c < c1; ++c) g[row * H + c] += d[t * H + c];
    }
  }
}

}  // namespace sr::cpu
