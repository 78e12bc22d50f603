// Every CUDA kernel against the CPU reference kernels on fresh random inputs: outputs poisoned
// with NaN before each run where the op overwrites, compared by ‖got − ref‖ / ‖ref‖ (f32 ~1e-5,
// bf16 ~1e-2), and determinism (two runs bitwise equal) where the kernel reduces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/ops.h"
#ifdef SMOOTHREAD_HAVE_CUDNN
#include "kernels/cuda/attention_cudnn.h"
#endif

namespace sr {
namespace {

using gputest::DeviceTensor;
using gputest::host;
using gputest::Rand;
using gputest::rel_err;

constexpr double kF32 = 1e-5;
constexpr double kBF16 = 1e-2;

// n = 100000 takes the 4-wide (vectorised) paths, n = 100003 the element-wise ones.
class CudaElementwise : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaElementwise, AddScaleSumCopyCast) {
  SR_REQUIRE_GPU();
  Rand r(1);
  const int64_t n = GetParam();
  auto x = r.vec(n), y = r.vec(n);
  DeviceTensor dx(DType::f32, {n}), dy(DType::f32, {n}), db(DType::bf16, {n}), dz(DType::f32, {n});
  dx.put(x);
  dy.put(y);
  ops::add_inplace(dy, dx);
  ops::scale_inplace(dy, 0.5f);
  std::vector<float> want = y;
  cpu::add_inplace(host(want, {n}), host(x, {n}));
  cpu::scale_inplace(host(want, {n}), 0.5f);
  EXPECT_LT(rel_err(dy.get(), want), 1e-7);
  // sum of squares: deterministic and as exact as the CPU's double sum.
  const double s1 = ops::sum_squares(dx), s2 = ops::sum_squares(dx);
  EXPECT_EQ(s1, s2);
  EXPECT_NEAR(s1, cpu::sum_squares(host(x, {n})), 1e-10 * s1);
  // f32 -> bf16 rounds to nearest even; bf16 -> f32 is exact; same-dtype copy is exact.
  db.poison();
  ops::copy(db, dx);
  EXPECT_TRUE(gputest::bitwise_equal(db.get(), gputest::round_bf16(x)));
  dz.poison();
  ops::copy(dz, db);
  EXPECT_TRUE(gputest::bitwise_equal(dz.get(), gputest::round_bf16(x)));
  dz.poison();
  ops::copy(dz, dx);
  EXPECT_TRUE(gputest::bitwise_equal(dz.get(), x));
  ops::fill_zero(dz);
  EXPECT_TRUE(gputest::bitwise_equal(dz.get(), std::vector<float>(size_t(n), 0.0f)));
  // bf16 in-place add.
  ops::add_inplace(db, dx);
  auto bsum = gputest::round_bf16(x);
  for (int64_t i = 0; i < n; ++i) bsum[size_t(i)] += x[size_t(i)];
  EXPECT_LT(rel_err(db.get(), bsum), kBF16);
}

INSTANTIATE_TEST_SUITE_P(CudaKernels, CudaElementwise, ::testing::Values(100000, 100003));

TEST(CudaKernels, Embedding) {
  SR_REQUIRE_GPU();
  Rand r(2);
  const int64_t T = 301, H = 200, V = 50, start = 20;  // ids in [0, 100): many outside the shard
  std::vector<int32_t> ids(T);
  for (auto& i : ids) i = r.integer(0, 99);
  ids[7] = ids[100] = ids[200] = 25;  // repeated rows
  auto table = r.vec(V * H), dout = r.vec(T * H), dtab = r.vec(V * H);
  DeviceTensor dids(DType::i32, {T}), dtable(DType::f32, {V, H}), dout_d(DType::f32, {T, H}),
      out(DType::f32, {T, H}), dtab_d(DType::f32, {V, H});
  dids.put_i32(ids);
  dtable.put(table);
  dout_d.put(dout);
  out.poison();
  ops::embedding_forward(out, dids, dtable, start);
  std::vector<float> want(static_cast<size_t>(T * H));
  cpu::embedding_forward(host(want, {T, H}), host(ids, {T}), host(table, {V, H}), start);
  EXPECT_TRUE(gputest::bitwise_equal(out.get(), want));
  dtab_d.put(dtab);
  ops::embedding_backward(dtab_d, dout_d, dids, start);
  cpu::embedding_backward(host(dtab, {V, H}), host(dout, {T, H}), host(ids, {T}), start);
  // Same order of additions as the CPU: bitwise equal.
  EXPECT_TRUE(gputest::bitwise_equal(dtab_d.get(), dtab));
  // bf16 table and output.
  DeviceTensor btable(DType::bf16, {V, H}), bout(DType::bf16, {T, H});
  btable.put(table);
  bout.poison();
  ops::embedding_forward(bout, dids, btable, start);
  EXPECT_TRUE(gputest::bitwise_equal(bout.get(), gputest::round_bf16(want)));
}

TEST(CudaKernels, RMSNorm) {
  SR_REQUIRE_GPU();
  Rand r(3);
  for (int64_t H : {64, 200, 2048}) {
    const int64_t T = 77;
    auto x = r.vec(T * H, -2, 2), w = r.vec(H, 0.5, 1.5), dy = r.vec(T * H), dx = r.vec(T * H),
         dw = r.vec(H);
    DeviceTensor X(DType::f32, {T, H}), W(DType::f32, {H}), O(DType::f32, {T, H}), R(DType::f32, {T}),
        DY(DType::f32, {T, H}), DX(DType::f32, {T, H}), DW(DType::f32, {H});
    X.put(x), W.put(w), DY.put(dy), DX.put(dx), DW.put(dw);
    O.poison(), R.poison();
    ops::rmsnorm_forward(O, R, X, W, 1e-6f);
    std::vector<float> o(static_cast<size_t>(T * H)), rs(static_cast<size_t>(T));
    cpu::rmsnorm_forward(host(o, {T, H}), host(rs, {T}), host(x, {T, H}), host(w, {H}), 1e-6f);
    EXPECT_LT(rel_err(O.get(), o), kF32) << H;
    EXPECT_LT(rel_err(R.get(), rs), kF32) << H;
    ops::rmsnorm_backward(DX, DW, DY, X, W, R);
    cpu::rmsnorm_backward(host(dx, {T, H}), host(dw, {H}), host(dy, {T, H}), host(x, {T, H}),
                          host(w, {H}), host(rs, {T}));
    EXPECT_LT(rel_err(DX.get(), dx), kF32) << H;
    EXPECT_LT(rel_err(DW.get(), dw), kF32) << H;
    // bf16 activations, f32 weight and statistics.
    DeviceTensor XB(DType::bf16, {T, H}), OB(DType::bf16, {T, H});
    XB.put(x);
    OB.poison(), R.poison();
    ops::rmsnorm_forward(OB, R, XB, W, 1e-6f);
    auto xr = gputest::round_bf16(x);
    cpu::rmsnorm_forward(host(o, {T, H}), host(rs, {T}), host(xr, {T, H}), host(w, {H}), 1e-6f);
    EXPECT_LT(rel_err(OB.get(), o), kBF16) << H;
    EXPECT_LT(rel_err(R.get(), rs), kF32) << H;
  }
}


TEST(CudaKernels, LinearF32) {
  SR_REQUIRE_GPU();
  Rand r(4);
  const int64_t T = 37, K = 48, N = 40;
  for (bool with_bias : {false, true}) {
    for (bool acc : {false, true}) {
      auto x = r.vec(T * K), w = r.vec(N * K), b = r.vec(N), dout = r.vec(T * N), dx = r.vec(T * K),
           dw = r.vec(N * K), db = r.vec(N);
      DeviceTensor X(DType::f32, {T, K}), W(DType::f32, {N, K}), B(DType::f32, {N}),
          O(DType::f32, {T, N}), DO(DType::f32, {T, N}), DX(DType::f32, {T, K}),
          DW(DType::f32, {N, K}), DB(DType::f32, {N});
      X.put(x), W.put(w), B.put(b), DO.put(dout), DW.put(dw), DB.put(db);
      O.poison();
      ops::linear_forward(O, X, W, with_bias ? B.t() : Tensor{});
      std::vector<float> o(static_cast<size_t>(T * N));
      cpu::linear_forward(host(o, {T, N}), host(x, {T, K}), host(w, {N, K}),
                          with_bias ? host(b, {N}) : Tensor{});
      EXPECT_LT(rel_err(O.get(), o), kF32);
      if (acc) DX.put(dx); else DX.poison();
      ops::linear_backward(DX, DW, with_bias ? DB.t() : Tensor{}, DO, X, W, acc);
      cpu::linear_backward(host(dx, {T, K}), host(dw, {N, K}), with_bias ? host(db, {N}) : Tensor{},
                           host(dout, {T, N}), host(x, {T, K}), host(w, {N, K}), acc);
      EXPECT_LT(rel_err(DX.get(), dx), kF32);
      EXPECT_LT(rel_err(DW.get(), dw), kF32);
      EXPECT_LT(rel_err(DB.get(), db), kF32);
    }
  }
}

TEST(CudaKernels, LinearBF16) {
  SR_REQUIRE_GPU();
  Rand r(5);
  const int64_t T = 130, K = 256, N = 96;
  auto x = gputest::round_bf16(r.vec(T * K)), w = gputest::round_bf16(r.vec(N * K)), b = r.vec(N),
       dout = gputest::round_bf16(r.vec(T * N)), dw = r.vec(N * K), db = r.vec(N);
  DeviceTensor X(DType::bf16, {T, K}), W(DType::bf16, {N, K}), B(DType::f32, {N}),
      OB(DType::bf16, {T, N}), OF(DType::f32, {T, N}), DO(DType::bf16, {T, N}),
      DX(DType::bf16, {T, K}), DW(DType::f32, {N, K}), DB(DType::f32, {N});
  X.put(x), W.put(w), B.put(b), DO.put(dout), DW.put(dw), DB.put(db);
  std::vector<float> o(static_cast<size_t>(T * N)), dx(static_cast<size_t>(T * K));
  cpu::linear_forward(host(o, {T, N}), host(x, {T, K}), host(w, {N, K}), host(b, {N}));
  OF.poison(), OB.poison();
  ops::linear_forward(OF, X, W, B);  // f32 out: only the accumulation order differs
  EXPECT_LT(rel_err(OF.get(), o), kF32);
  ops::linear_forward(OB, X, W, B);  // bf16 out, f32 bias added by a kernel
  EXPECT_LT(rel_err(OB.get(), o), kBF16);
  DX.poison();
  ops::linear_backward(DX, DW, DB, DO, X, W, false);
  cpu::linear_backward(host(dx, {T, K}), host(dw, {N, K}), host(db, {N}), host(dout, {T, N}),
                       host(x, {T, K}), host(w, {N, K}), false);
  EXPECT_LT(rel_err(DX.get(), dx), kBF16);
  EXPECT_LT(rel_err(DW.get(), dw), kF32);
  EXPECT_LT(rel_err(DB.get(), db), kF32);
}

TEST(CudaKernels, Rope) {
  SR_REQUIRE_GPU();
  Rand r(6);
  const int64_t T = 90, nh = 3, hd = 64;
  std::vector<int32_t> pos(T);
  for (auto& p : pos) p = r.integer(0, 40000);
  auto x = r.vec(T * nh * hd);
  DeviceTensor X(DType::f32, {T, nh, hd}), P(DType::i32, {T}), XB(DType::bf16, {T, nh, hd});
  P.put_i32(pos);
  for (bool inverse : {false, true}) {
    X.put(x);
    XB.put(x);
    ops::rope(X, P, 10000.0f, inverse);
    ops::rope(XB, P, 10000.0f, inverse);
    auto want = x;
    cpu::rope(host(want, {T, nh, hd}), host(pos, {T}), 10000.0f, inverse);
    EXPECT_LT(rel_err(X.get(), want), kF32);
    EXPECT_LT(rel_err(XB.get(), want), kBF16);
  }
}

// I = 1000 takes the 4-wide paths, I = 999 (33 · 999 elements) the element-wise ones.
class CudaSwiGLU : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaSwiGLU, ForwardBackwardF32AndBF16) {
  SR_REQUIRE_GPU();
  Rand r(7);
  const int64_t T = 33, I = GetParam();
  auto g = r.vec(T * I, -4, 4), u = r.vec(T * I), d = r.vec(T * I);
  DeviceTensor G(DType::f32, {T, I}), U(DType::f32, {T, I}), D(DType::f32, {T, I}),
      O(DType::f32, {T, I}), DG(DType::f32, {T, I}), DU(DType::f32, {T, I}), GB(DType::bf16, {T, I}),
      UB(DType::bf16, {T, I}), OB(DType::bf16, {T, I});
  G.put(g), U.put(u), D.put(d), GB.put(g), UB.put(u);
  O.poison(), DG.poison(), DU.poison(), OB.poison();
  ops::swiglu_forward(O, G, U);
  ops::swiglu_backward(DG, DU, D, G, U);
  ops::swiglu_forward(OB, GB, UB);
  std::vector<float> o(static_cast<size_t>(T * I)), dg(static_cast<size_t>(T * I)), du(static_cast<size_t>(T * I));
  cpu::swiglu_forward(host(o, {T, I}), host(g, {T, I}), host(u, {T, I}));
  cpu::swiglu_backward(host(dg, {T, I}), host(du, {T, I}), host(d, {T, I}), host(g, {T, I}),
                       host(u, {T, I}));
  EXPECT_LT(rel_err(O.get(), o), kF32);
  EXPECT_LT(rel_err(DG.get(), dg), kF32);
  EXPECT_LT(rel_err(DU.get(), du), kF32);
  EXPECT_LT(rel_err(OB.get(), o), kBF16);
}

INSTANTIATE_TEST_SUITE_P(CudaKernels, CudaSwiGLU, ::testing::Values(1000, 999));

TEST(CudaKernels, CrossEntropy) {
  SR_REQUIRE_GPU();
  Rand r(8);
  const int64_t T = 45, V = 3000, start = 1000;  // a middle vocab shard of [0, 5000)
  auto logits = r.vec(T * V, -8, 8), w = r.vec(T, 0, 1);
  std::vector<int32_t> y(T);
  for (auto& t : y) t = r.integer(0, 4999);
  w[3] = w[10] = 0.0f;
  DeviceTensor L(DType::f32, {T, V}), Y(DType::i32, {T}), W(DType::f32, {T}), M(DType::f32, {T}),
      S(DType::f32, {T}), TL(DType::f32, {T});
  L.put(logits), Y.put_i32(y), W.put(w);
  M.poison(), S.poison(), TL.poison();
  ops::logits_row_max(M, L);
  ops::logits_row_sumexp(S, L, M);
  ops::logits_gather_target(TL, L, Y, start);
  std::vector<float> m(T), s(T), tl(T);
  cpu::logits_row_max(host(m, {T}), host(logits, {T, V}));
  cpu::logits_row_sumexp(host(s, {T}), host(logits, {T, V}), host(m, {T}));
  cpu::logits_gather_target(host(tl, {T}), host(logits, {T, V}), host(y, {T}), start);
  EXPECT_TRUE(gputest::bitwise_equal(M.get(), m));
  EXPECT_LT(rel_err(S.get(), s), kF32);
  EXPECT_TRUE(gputest::bitwise_equal(TL.get(), tl));
  // The loss from the CPU's statistics on both sides: only the summation differs.
  M.put(m), S.put(s);
  const double loss = ops::cross_entropy_loss_sum(M, S, TL, W);
  EXPECT_EQ(loss, ops::cross_entropy_loss_sum(M, S, TL, W));
  const double want = cpu::cross_entropy_loss_sum(host(m, {T}), host(s, {T}), host(tl, {T}), host(w, {T}));
  EXPECT_NEAR(loss, want, 1e-12 * std::fabs(want));
  ops::cross_entropy_backward(L, M, S, Y, W, start);
  cpu::cross_entropy_backward(host(logits, {T, V}), host(m, {T}), host(s, {T}), host(y, {T}),
                              host(w, {T}), start);
  EXPECT_LT(rel_err(L.get(), logits), kF32);
}

// Multi-tensor AdamW: more tensors than one launch group holds, sizes that do and do not
// allow float4 access, views that start off a 16-byte boundary, decay on some tensors only.
TEST(CudaKernels, AdamW) {
  SR_REQUIRE_GPU();
  Rand r(9);
  const int64_t n = 5000;
  const int kTensors = 40;
  auto p = r.vec(n), g = r.vec(n), m = r.vec(n, -0.1f, 0.1f), v = r.vec(n, 0.0f, 0.1f);
  DeviceTensor P(DType::f32, {n}), G(DType::f32, {n}), M(DType::f32, {n}), Vv(DType::f32, {n}),
      WB(DType::bf16, {n});
  P.put(p), G.put(g), M.put(m), Vv.put(v);
  WB.put(std::vector<float>(size_t(n), 0.0f));
  std::vector<ops::AdamWTensors> gpu_ts, cpu_ts;
  std::vector<std::pair<int64_t, int64_t>> copied;  // (start, length) of tensors with a bf16 copy
  int64_t at = 0;
  for (int k = 0; k < kTensors && at < n; ++k) {
    const int64_t len = std::min<int64_t>(n - at, k % 3 == 0 ? 128 : 37 + k);  // 128: float4 path
    auto slice = [&](const Tensor& t) { return t.view({t.numel()}).rows(at, len); };
    const float wd = k % 2 ? 0.1f : 0.0f;
    gpu_ts.push_back({slice(P), slice(G), slice(M), slice(Vv), wd});
    if (k % 4 < 2) {  // some tensors also write their bf16 compute copy, on both access paths
      gpu_ts.back().compute_copy = slice(WB);
      copied.push_back({at, len});
    }
    cpu_ts.push_back({slice(host(p, {n})), slice(host(g, {n})), slice(host(m, {n})), slice(host(v, {n})), wd});
    at += len + (k % 5 == 4 ? 1 : 0);  // a gap now and then: later slices start misaligned
  }
  ASSERT_GT(int(gpu_ts.size()), 32);
  ops::AdamWParams a;
  a.lr = 1e-2f, a.grad_scale = 0.7f, a.step = 3;
  ops::adamw_step(gpu_ts, a);
  cpu::adamw_step(cpu_ts, a);
  EXPECT_LT(rel_err(P.get(), p), 1e-6);
  EXPECT_LT(rel_err(M.get(), m), 1e-6);
  EXPECT_LT(rel_err(Vv.get(), v), 1e-6);
  // The compute copy is the updated parameter rounded to bf16, as a separate cast would give.
  const auto p_gpu = P.get(), wb = WB.get(), p_bf16 = gputest::round_bf16(p_gpu);
  for (const auto& [start, len] : copied)
    for (int64_t i = start; i < start + len; ++i)
      ASSERT_EQ(wb[size_t(i)], p_bf16[size_t(i)]) << "element " << i;
}

// ---- attention ----

struct AttnCase {
  int64_t nh, nkv, hd;
  std::vector<int32_t> lengths;
  int window;
};

// Which implementation a case runs: smoothread's own kernels, or cuDNN's fused attention with
// its default (fast) or deterministic backward, called directly so that a declined case fails.
enum class AttnImpl { own, cudnn, cudnn_deterministic };

void forward_with(AttnImpl impl, Tensor o, Tensor l, Tensor q, Tensor k, Tensor v, Tensor cu,
                  int window) {
  if (impl == AttnImpl::own) {
    ops::set_attention_settings({false, true});
    ops::attention_forward(o, l, q, k, v, cu, window);
    ops::set_attention_settings({});
    return;
  }
#ifdef SMOOTHREAD_HAVE_CUDNN
  ASSERT_TRUE(cuda::cudnn_attention_forward(o, l, q, k, v, cu, window)) << "cuDNN declined";
#endif
}

void backward_with(AttnImpl impl, Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor o, Tensor l,
                   Tensor q, Tensor k, Tensor v, Tensor cu, int window) {
  if (impl == AttnImpl::own) {
    ops::set_attention_settings({false, true});
    ops::attention_backward(dq, dk, dv, dout, o, l, q, k, v, cu, window);
    ops::set_attention_settings({});
    return;
  }
#ifdef SMOOTHREAD_HAVE_CUDNN
  ASSERT_TRUE(cuda::cudnn_attention_backward(dq, dk, dv, dout, o, l, q, k, v, cu, window,
                                             impl == AttnImpl::cudnn_deterministic))
      << "cuDNN declined";
#endif
}

void run_attention_case(const AttnCase& c, DType dtype, uint32_t seed, AttnImpl impl) {
  Rand r(seed);
  std::vector<int32_t> cu{0};
  for (int32_t n : c.lengths) cu.push_back(cu.back() + n);
  const int64_t T = cu.back(), B = int64_t(c.lengths.size()), nh = c.nh, nkv = c.nkv, hd = c.hd;
  const bool bf = dtype == DType::bf16;
  auto round = [&](std::vector<float> v) { return bf ? gputest::round_bf16(std::move(v)) : v; };
  auto q = round(r.vec(T * nh * hd, -2, 2)), k = round(r.vec(T * nkv * hd, -2, 2)),
       v = round(r.vec(T * nkv * hd)), dout = round(r.vec(T * nh * hd));
  std::vector<float> out(static_cast<size_t>(T * nh * hd)), lse(static_cast<size_t>(nh * T)), dq(q.size()), dk(k.size()),
      dv(v.size());
  cpu::attention_forward(host(out, {T, nh, hd}), host(lse, {nh * T}), host(q, {T, nh, hd}),
                         host(k, {T, nkv, hd}), host(v, {T, nkv, hd}), host(cu, {B + 1}), c.window);
  cpu::attention_backward(host(dq, {T, nh, hd}), host(dk, {T, nkv, hd}), host(dv, {T, nkv, hd}),
                          host(dout, {T, nh, hd}), host(out, {T, nh, hd}), host(lse, {nh * T}),
                          host(q, {T, nh, hd}), host(k, {T, nkv, hd}), host(v, {T, nkv, hd}),
                          host(cu, {B + 1}), c.window);
  DeviceTensor Q(dtype, {T, nh, hd}), K(dtype, {T, nkv, hd}), Vd(dtype, {T, nkv, hd}),
      O(dtype, {T, nh, hd}), L(DType::f32, {nh * T}), DO(dtype, {T, nh, hd}), DQ(dtype, {T, nh, hd}),
      DK(dtype, {T, nkv, hd}), DV(dtype, {T, nkv, hd}), CU(DType::i32, {B + 1});
  Q.put(q), K.put(k), Vd.put(v), DO.put(dout), CU.put_i32(cu);
  O.poison(), L.poison();
  forward_with(impl, O, L, Q, K, Vd, CU, c.window);
  const double tol = bf ? kBF16 : kF32;
  const std::string what = "hd " + std::to_string(hd) + " nh " + std::to_string(nh) + " nkv " +
                           std::to_string(nkv) + " window " + std::to_string(c.window) + " " +
                           dtype_name(dtype) + " impl " + std::to_string(int(impl));
  EXPECT_LT(rel_err(O.get(), out), tol) << what;
  EXPECT_LT(rel_err(L.get(), lse), bf ? 1e-4 : kF32) << what;
  // Backward from the CPU's out and lse (as stored in this dtype) so only the kernel is measured.
  O.put(out), L.put(lse);
  DQ.poison(), DK.poison(), DV.poison();
  backward_with(impl, DQ, DK, DV, DO, O, L, Q, K, Vd, CU, c.window);
  const auto dq1 = DQ.get(), dk1 = DK.get(), dv1 = DV.get();
  EXPECT_LT(rel_err(dq1, dq), tol) << what;
  EXPECT_LT(rel_err(dk1, dk), tol) << what;
  EXPECT_LT(rel_err(dv1, dv), tol) << what;
  if (impl == AttnImpl::cudnn) return;  // cuDNN's fast backward accumulates dq with atomics
  // Deterministic: a second run is bitwise equal.
  DQ.poison(), DK.poison(), DV.poison();
  backward_with(impl, DQ, DK, DV, DO, O, L, Q, K, Vd, CU, c.window);
  EXPECT_TRUE(gputest::bitwise_equal(DQ.get(), dq1)) << what;
  EXPECT_TRUE(gputest::bitwise_equal(DK.get(), dk1)) << what;
  EXPECT_TRUE(gputest::bitwise_equal(DV.get(), dv1)) << what;
}

// Several packed samples (lengths around and across the 64-token tiles, a 1-token sample).
const std::vector<AttnCase> kAttnCases = {
    {4, 2, 64, {37, 150, 1, 64, 90}, 0},
    {4, 2, 64, {37, 150, 1, 64, 90}, 40},
    {8, 1, 128, {200, 13, 129}, 0},
    {4, 4, 128, {200, 13, 129}, 70},
    {4, 2, 16, {20, 70, 9}, 3},
    {6, 3, 32, {130, 5, 66}, 64},
};

// The shapes the 3B models use (GQA 16/2, head dims 128 and 64), samples shorter and longer
// than the window, batch sizes that are and are not powers of two.
const std::vector<AttnCase> kModelAttnCases = {
    {16, 2, 128, {300, 60, 500}, 128},
    {16, 2, 128, {300, 60, 500}, 0},
    {16, 2, 64, {1, 133, 400, 64, 217}, 96},
    {16, 2, 64, {1024}, 0},
    {8, 8, 128, {130, 257}, 128},
};

TEST(CudaKernels, AttentionF32) {
  SR_REQUIRE_GPU();
  uint32_t seed = 100;
  for (const AttnCase& c : kAttnCases) run_attention_case(c, DType::f32, seed++, AttnImpl::own);
}

TEST(CudaKernels, AttentionBF16) {
  SR_REQUIRE_GPU();
  uint32_t seed = 200;
  for (const AttnCase& c : kAttnCases) run_attention_case(c, DType::bf16, seed++, AttnImpl::own);
  for (const AttnCase& c : kModelAttnCases) run_attention_case(c, DType::bf16, seed++, AttnImpl::own);
}

#ifdef SMOOTHREAD_HAVE_CUDNN
TEST(CudaKernels, AttentionCudnn) {
  SR_REQUIRE_GPU();
  uint32_t seed = 300;
  for (AttnImpl impl : {AttnImpl::cudnn, AttnImpl::cudnn_deterministic}) {
    for (const AttnCase& c : kAttnCases) run_attention_case(c, DType::bf16, seed++, impl);
    for (const AttnCase& c : kModelAttnCases) run_attention_case(c, DType::bf16, seed++, impl);
  }
}

// The ops route bf16 through cuDNN, and a deterministic windowed backward through the own
// kernel: bitwise equal to it.
TEST(CudaKernels, AttentionSettingsRoute) {
  SR_REQUIRE_GPU();
  const AttnCase c{16, 2, 64, {300, 77}, 128};
  Rand r(400);
  std::vector<int32_t> cu{0, 300, 377};
  const int64_t T = 377, nh = c.nh, nkv = c.nkv, hd = c.hd;
  DeviceTensor Q(DType::bf16, {T, nh, hd}), K(DType::bf16, {T, nkv, hd}), Vd(DType::bf16, {T, nkv, hd}),
      O(DType::bf16, {T, nh, hd}), L(DType::f32, {nh * T}), DO(DType::bf16, {T, nh, hd}),
      DQ(DType::bf16, {T, nh, hd}), DK(DType::bf16, {T, nkv, hd}), DV(DType::bf16, {T, nkv, hd}),
      O2(DType::bf16, {T, nh, hd}), DQ2(DType::bf16, {T, nh, hd}), CU(DType::i32, {3});
  Q.put(gputest::round_bf16(r.vec(T * nh * hd))), K.put(gputest::round_bf16(r.vec(T * nkv * hd)));
  Vd.put(gputest::round_bf16(r.vec(T * nkv * hd))), DO.put(gputest::round_bf16(r.vec(T * nh * hd)));
  CU.put_i32(cu);
  ops::set_attention_settings({true, true});
  ops::attention_forward(O, L, Q, K, Vd, CU, c.window);
  ASSERT_TRUE(cuda::cudnn_attention_forward(O2, L, Q, K, Vd, CU, c.window));
  EXPECT_TRUE(gputest::bitwise_equal(O.get(), O2.get())) << "forward goes through cuDNN";
  ops::attention_backward(DQ, DK, DV, DO, O, L, Q, K, Vd, CU, c.window);
  ops::set_attention_settings({false, true});
  ops::attention_backward(DQ2, DK, DV, DO, O, L, Q, K, Vd, CU, c.window);
  ops::set_attention_settings({});
  EXPECT_TRUE(gputest::bitwise_equal(DQ.get(), DQ2.get())) << "deterministic window: own kernel";
}
#endif

}  // namespace
}  // namespace sr
