// Backward kernels against central finite differences of L = Σ dout·f(x) (f32, step 1e-3),
// their overwrite/accumulate contracts, and bit-identical results across OpenMP thread counts.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "tests/unit/kernel_test_util.h"

namespace sr {
namespace {

using test::dot;
using test::expect_grad_close;
using test::finite_diff;
using test::Rng;
using test::view;

// a - b elementwise: the gradient an accumulating kernel added to a prefilled buffer.
std::vector<float> minus(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// ---------------------------------------------------------------- rmsnorm

TEST(KernelGradRmsNorm, DxAndDweightMatchFiniteDifferencesAndAccumulate) {
  Rng rng(101);
  const int64_t T = 5, H = 11;
  const float eps = 1e-6f;
  std::vector<float> x = rng.vec(T * H, -2.0f, 2.0f), w = rng.vec(H, 0.5f, 1.5f);
  std::vector<float> dout = rng.vec(T * H), out(T * H), rstd(T);
  auto loss = [&] {
    ops::rmsnorm_forward(view(out, {T, H}), view(rstd, {T}), view(x, {T, H}), view(w, {H}), eps);
    return dot(dout, out);
  };
  const std::vector<double> fd_x = finite_diff(x, loss), fd_w = finite_diff(w, loss);
  loss();  // rstd of the unperturbed x

  // From zero, then onto existing values: the second must be exactly prefill + the first.
  std::vector<float> dx0(T * H, 0.0f), dw0(H, 0.0f);
  ops::rmsnorm_backward(view(dx0, {T, H}), view(dw0, {H}), view(dout, {T, H}), view(x, {T, H}),
                        view(w, {H}), view(rstd, {T}));
  expect_grad_close(dx0, fd_x, "rmsnorm dx");
  expect_grad_close(dw0, fd_w, "rmsnorm dweight");

  const std::vector<float> pre_dx = rng.vec(T * H), pre_dw = rng.vec(H);
  std::vector<float> dx = pre_dx, dw = pre_dw;
  ops::rmsnorm_backward(view(dx, {T, H}), view(dw, {H}), view(dout, {T, H}), view(x, {T, H}),
                        view(w, {H}), view(rstd, {T}));
  for (int64_t i = 0; i < T * H; ++i) ASSERT_EQ(dx[i], pre_dx[i] + dx0[i]) << "dx " << i;
  for (int64_t i = 0; i < H; ++i) ASSERT_EQ(dw[i], pre_dw[i] + dw0[i]) << "dweight " << i;
}

// ---------------------------------------------------------------- linear

TEST(KernelGradLinear, GradientsAndOverwriteAccumulateContract) {
  Rng rng(102);
  const int64_t T = 6, K = 5, N = 7;
  std::vector<float> x = rng.vec(T * K), w = rng.vec(N * K), b = rng.vec(N);
  std::vector<float> dout = rng.vec(T * N), out(T * N);
  auto loss = [&] {
    ops::linear_forward(view(out, {T, N}), view(x, {T, K}), view(w, {N, K}), view(b, {N}));
    return dot(dout, out);
  };
  const std::vector<double> fd_x = finite_diff(x, loss), fd_w = finite_diff(w, loss),
                            fd_b = finite_diff(b, loss);

  // accumulate_dx = false: garbage in dx is overwritten; dweight and dbias add to what is there.
  const std::vector<float> pre_dx = rng.vec(T * K, 5.0f, 9.0f), pre_dw = rng.vec(N * K),
                           pre_db = rng.vec(N);
  std::vector<float> dx = pre_dx, dw = pre_dw, db = pre_db;
  ops::linear_backward(view(dx, {T, K}), view(dw, {N, K}), view(db, {N}), view(dout, {T, N}),
                       view(x, {T, K}), view(w, {N, K}), false);
  expect_grad_close(dx, fd_x, "linear dx (overwrite)");
  expect_grad_close(minus(dw, pre_dw), fd_w, "linear dweight (+=)");
  expect_grad_close(minus(db, pre_db), fd_b, "linear dbias (+=)");

  // accumulate_dx = true: dx adds to its existing values.
  std::vector<float> dx_acc = pre_dx, dw2(N * K, 0.0f), db2(N, 0.0f);
  ops::linear_backward(view(dx_acc, {T, K}), view(dw2, {N, K}), view(db2, {N}), view(dout, {T, N}),
                       view(x, {T, K}), view(w, {N, K}), true);
  for (int64_t i = 0; i < T * K; ++i) ASSERT_FLOAT_EQ(dx_acc[i], pre_dx[i] + dx[i]) << "dx " << i;

  // Empty dx and dbias: only the weight gradient is produced, identical to the one above.
  std::vector<float> dw3(N * K, 0.0f);
  ops::linear_backward(Tensor(), view(dw3, {N, K}), Tensor(), view(dout, {T, N}), view(x, {T, K}),
                       view(w, {N, K}), false);
  EXPECT_EQ(dw3, dw2);
}

// ---------------------------------------------------------------- attention

struct AttnGradCase {
  std::vector<int32_t> lengths;
  int64_t nh, nkv, hd;
  int window;
};

void check_attention_grad(const AttnGradCase& c, uint32_t seed) {
  Rng rng(seed);
  std::vector<int32_t> cu = test::cu_seqlens_of(c.lengths);
  const int64_t T = cu.back(), B = int64_t(c.lengths.size()), nh = c.nh, nkv = c.nkv, hd = c.hd;
  std::vector<float> q = rng.vec(T * nh * hd), k = rng.vec(T * nkv * hd), v = rng.vec(T * nkv * hd);
  std::vector<float> dout = rng.vec(T * nh * hd), out(T * nh * hd), lse(nh * T);
  auto loss = [&] {
    ops::attention_forward(view(out, {T, nh, hd}), view(lse, {nh, T}), view(q, {T, nh, hd}),
                           view(k, {T, nkv, hd}), view(v, {T, nkv, hd}), view(cu, {B + 1}),
                           c.window);
    return dot(dout, out);
  };
  const std::vector<double> fd_q = finite_diff(q, loss), fd_k = finite_diff(k, loss),
                            fd_v = finite_diff(v, loss);
  loss();
  // Garbage in the outputs: they are overwritten.
  std::vector<float> dq = rng.vec(q.size(), 5.0f, 9.0f), dk = rng.vec(k.size(), 5.0f, 9.0f),
                     dv = rng.vec(v.size(), 5.0f, 9.0f);
  ops::attention_backward(view(dq, {T, nh, hd}), view(dk, {T, nkv, hd}), view(dv, {T, nkv, hd}),
                          view(dout, {T, nh, hd}), view(out, {T, nh, hd}), view(lse, {nh, T}),
                          view(q, {T, nh, hd}), view(k, {T, nkv, hd}), view(v, {T, nkv, hd}),
                          view(cu, {B + 1}), c.window);
  expect_grad_close(dq, fd_q, "attention dq");
  expect_grad_close(dk, fd_k, "attention dk");
  expect_grad_close(dv, fd_v, "attention dv");
}

TEST(KernelGradAttention, PackedWindowGqaGroup2) {
  check_attention_grad({{5, 9, 3}, 4, 2, 8, 4}, 103);
}
TEST(KernelGradAttention, PackedFullCausalGroup1HeadDim16) {
  check_attention_grad({{7, 6}, 2, 2, 16, 0}, 104);
}
TEST(KernelGradAttention, PackedWindowSingleKvHead) {
  check_attention_grad({{12, 1, 4}, 2, 1, 8, 3}, 105);
}

// ---------------------------------------------------------------- swiglu

TEST(KernelGradSwiGlu, DgateAndDupMatchFiniteDifferences) {
  Rng rng(106);
  const int64_t T = 4, I = 9;
  std::vector<float> g = rng.vec(T * I, -4.0f, 4.0f), u = rng.vec(T * I, -2.0f, 2.0f);
  std::vector<float> dout = rng.vec(T * I), out(T * I);
  auto loss = [&] {
    ops::swiglu_forward(view(out, {T, I}), view(g, {T, I}), view(u, {T, I}));
    return dot(dout, out);
  };
  const std::vector<double> fd_g = finite_diff(g, loss), fd_u = finite_diff(u, loss);
  std::vector<float> dg = rng.vec(T * I, 5.0f, 9.0f), du = rng.vec(T * I, 5.0f, 9.0f);
  ops::swiglu_backward(view(dg, {T, I}), view(du, {T, I}), view(dout, {T, I}), view(g, {T, I}),
                       view(u, {T, I}));
  expect_grad_close(dg, fd_g, "swiglu dgate");
  expect_grad_close(du, fd_u, "swiglu dup");
}

// ---------------------------------------------------------------- rope

TEST(KernelGradRope, InverseRotationIsTheBackward) {
  Rng rng(107);
  std::vector<int32_t> cu = test::cu_seqlens_of({6, 9});
  std::vector<int32_t> pos = test::positions_of(cu);
  const int64_t T = cu.back(), nh = 2, hd = 8;
  std::vector<float> x = rng.vec(T * nh * hd), dout = rng.vec(T * nh * hd), y(x.size());
  auto loss = [&] {
    y = x;
    ops::rope(view(y, {T, nh, hd}), view(pos, {T}), 10000.0f, false);
    return dot(dout, y);
  };
  const std::vector<double> fd = finite_diff(x, loss);
  std::vector<float> dx = dout;
  ops::rope(view(dx, {T, nh, hd}), view(pos, {T}), 10000.0f, true);
  expect_grad_close(dx, fd, "rope backward");
}

// ---------------------------------------------------------------- cross-entropy

TEST(KernelGradCrossEntropy, BackwardIsGradientOfWeightedLoss) {
  Rng rng(108);
  const int64_t T = 6, V = 13, vocab_start = 50;
  std::vector<float> logits = rng.vec(T * V, -3.0f, 3.0f);
  // One target outside this shard (only the softmax part of its gradient is here).
  std::vector<int32_t> targets = {50, 62, 55, 7, 57, 51};
  std::vector<float> weight = {1.0f, 0.5f, 0.0f, 1.5f, 1.0f, 2.0f};
  std::vector<float> row_max(T), sumexp(T), target_logit(T);
  auto loss = [&] {
    ops::logits_row_max(view(row_max, {T}), view(logits, {T, V}));
    ops::logits_row_sumexp(view(sumexp, {T}), view(logits, {T, V}), view(row_max, {T}));
    ops::logits_gather_target(view(target_logit, {T}), view(logits, {T, V}), view(targets, {T}),
                              vocab_start);
    return ops::cross_entropy_loss_sum(view(row_max, {T}), view(sumexp, {T}),
                                       view(target_logit, {T}), view(weight, {T}));
  };
  const std::vector<double> fd = finite_diff(logits, loss);
  loss();
  std::vector<float> grad = logits;
  ops::cross_entropy_backward(view(grad, {T, V}), view(row_max, {T}), view(sumexp, {T}),
                              view(targets, {T}), view(weight, {T}), vocab_start);
  expect_grad_close(grad, fd, "cross-entropy dlogits");
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(grad[2 * V + v], 0.0f) << "weight-0 row, column " << v;
}

// ---------------------------------------------------------------- embedding

TEST(KernelGradEmbedding, BackwardIsGradientWrtTable) {
  Rng rng(109);
  const int64_t V = 5, H = 6, T = 8, vocab_start = 3;
  std::vector<int32_t> ids = {3, 7, 3, 1, 9, 5, 3, 7};  // repeats and ids outside [3, 8)
  std::vector<float> table = rng.vec(V * H), dout = rng.vec(T * H), out(T * H);
  auto loss = [&] {
    ops::embedding_forward(view(out, {T, H}), view(ids, {T}), view(table, {V, H}), vocab_start);
    return dot(dout, out);
  };
  const std::vector<double> fd = finite_diff(table, loss);
  std::vector<float> dtable(V * H, 0.0f);
  ops::embedding_backward(view(dtable, {V, H}), view(dout, {T, H}), view(ids, {T}), vocab_start);
  expect_grad_close(dtable, fd, "embedding dtable");
}

// ---------------------------------------------------------------- determinism

// Runs `f` with 1 and then 2 OpenMP threads, restoring the previous setting.
template <typename F>
void with_threads(int n, F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(n);
  f();
  omp_set_num_threads(before);
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(KernelDeterminism, AttentionBackwardSameBitsWithOneAndTwoThreads) {
  Rng rng(110);
  std::vector<int32_t> cu = test::cu_seqlens_of({41, 57, 30});
  const int64_t T = cu.back(), nh = 4, nkv = 2, hd = 16;
  std::vector<float> q = rng.vec(T * nh * hd), k = rng.vec(T * nkv * hd), v = rng.vec(T * nkv * hd);
  std::vector<float> dout = rng.vec(T * nh * hd), out(T * nh * hd), lse(nh * T);
  ops::attention_forward(view(out, {T, nh, hd}), view(lse, {nh, T}), view(q, {T, nh, hd}),
                         view(k, {T, nkv, hd}), view(v, {T, nkv, hd}), view(cu, {4}), 16);
  std::vector<float> g[2][3];  // [threads-1][dq, dk, dv]
  for (int n = 1; n <= 2; ++n)
    with_threads(n, [&] {
      g[n - 1][0].assign(q.size(), 0.0f);
      g[n - 1][1].assign(k.size(), 0.0f);
      g[n - 1][2].assign(v.size(), 0.0f);
      ops::attention_backward(view(g[n - 1][0], {T, nh, hd}), view(g[n - 1][1], {T, nkv, hd}),
                              view(g[n - 1][2], {T, nkv, hd}), view(dout, {T, nh, hd}),
                              view(out, {T, nh, hd}), view(lse, {nh, T}), view(q, {T, nh, hd}),
                              view(k, {T, nkv, hd}), view(v, {T, nkv, hd}), view(cu, {4}), 16);
    });
  EXPECT_TRUE(bit_equal(g[0][0], g[1][0])) << "dq";
  EXPECT_TRUE(bit_equal(g[0][1], g[1][1])) << "dk";
  EXPECT_TRUE(bit_equal(g[0][2], g[1][2])) << "dv";
}

TEST(KernelDeterminism, LinearBackwardSameBitsWithOneAndTwoThreads) {
  Rng rng(111);
  const int64_t T = 67, K = 40, N = 38;
  std::vector<float> x = rng.vec(T * K), w = rng.vec(N * K), dout = rng.vec(T * N);
  const std::vector<float> pre_dx = rng.vec(T * K), pre_dw = rng.vec(N * K), pre_db = rng.vec(N);
  std::vector<float> g[2][3];  // [threads-1][dx, dweight, dbias]
  for (int n = 1; n <= 2; ++n)
    with_threads(n, [&] {
      g[n - 1][0] = pre_dx;
      g[n - 1][1] = pre_dw;
      g[n - 1][2] = pre_db;
      ops::linear_backward(view(g[n - 1][0], {T, K}), view(g[n - 1][1], {N, K}),
                           view(g[n - 1][2], {N}), view(dout, {T, N}), view(x, {T, K}),
                           view(w, {N, K}), true);
    });
  EXPECT_TRUE(bit_equal(g[0][0], g[1][0])) << "dx";
  EXPECT_TRUE(bit_equal(g[0][1], g[1][1])) << "dweight";
  EXPECT_TRUE(bit_equal(g[0][2], g[1][2])) << "dbias";
}

}  // namespace
}  // namespace sr
