// Token embedding, vocab-parallel: this rank owns rows [vocab_start, vocab_start + V).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kCols = 128;       // columns per backward block (one per thread)
constexpr int kRowGroups = 64;   // vocab partitions of the backward grid

// One block per token t: out[t,:] = table[row,:] or 0 outside this shard.
__global__ void embedding_forward_kernel(FloatRef out, const int32_t* ids, FloatRef table,
                                         int64_t H, int64_t V, int64_t vocab_start) {
  const int64_t t = blockIdx.x;
  const int64_t row = int64_t(ids[t]) - vocab_start;
  const bool inside = row >= 0 && row < V;
  for (int64_t c = threadIdx.x; c < H; c += blockDim.x)
    out.set(t * H + c, inside ? table.get(row * H + c) : 0.0f);
}

// Block (column chunk, vocab partition): walks all tokens in order and adds those whose row is
// in its partition, so every element is summed in token order by one thread (the CPU's order),
// without atomics.
__global__ void embedding_backward_kernel(float* dtable, FloatRef dout, const int32_t* ids,
                                          int64_t T, int64_t H, int64_t V, int64_t vocab_start,
                                          int64_t rows_per_group) {
  const int64_t c = blockIdx.x * int64_t(kCols) + threadIdx.x;
  const int64_t r0 = blockIdx.y * rows_per_group, r1 = min(V, r0 + rows_per_group);
  if (c >= H || r0 >= r1) return;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = int64_t(ids[t]) - vocab_start;
    if (row >= r0 && row < r1) dtable[row * H + c] += dout.get(t * H + c);
  }
}

}  // namespace

// out[T,H], ids[T] i32, table[V,H]
void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start) {
  const int64_t T = out.dim(0), H = out.dim(1), V = table.dim(0);
  SR_ASSERT(table.dim(1) == H && ids.numel() == T, "embedding_forward: shapes");
  if (T == 0) return;
  embedding_forward_kernel<<<unsigned(T), 256, 0, kStream>>>(
      float_ref(out, "embedding_forward"), i32_ref(ids, "embedding_forward"),
      float_ref(table, "embedding_forward"), H, V, vocab_start);
  SR_CHECK_LAUNCH();
}

// dtable[V,H] f32 += dout[T,H] rows
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start) {
  const int64_t T = dout.dim(0), H = dout.dim(1), V = dtable.dim(0);
  SR_ASSERT(dtable.dim(1) == H && ids.numel() == T, "embedding_backward: shapes");
  if (T == 0) return;
  const int64_t groups = V < kRowGroups ? V : kRowGroups;
  const int64_t per_group = (V + groups - 1) / groups;
  const dim3 grid(unsigned((H + kCols - 1) / kCols), unsigned(groups));
  embedding_backward_kernel<<<grid, kCols, 0, kStream>>>(
      f32_ref(dtable, "embedding_backward"), float_ref(dout, "embedding_backward"),
      i32_ref(ids, "embedding_backward"), T, H, V, vocab_start, per_group);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
