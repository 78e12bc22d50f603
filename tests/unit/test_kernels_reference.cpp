// Every CPU kernel against a deliberately naive double-precision reference, on awkward sizes
// (T not a multiple of 4 or 32, N not a multiple of 4, packed samples of unequal lengths,
// windows shorter than some samples, GQA groups 1 and 2, head dims 8 and 16).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ops.h"
#include "tests/unit/kernel_test_util.h"

namespace sr {
namespace {

using test::expect_close;
using test::Rng;
using test::view;

// ---------------------------------------------------------------- elementwise

TEST(KernelElementwise, AddScaleSumSquaresFillCopy) {
  Rng rng(1);
  const int64_t n = 1037;
  std::vector<float> y = rng.vec(n), x = rng.vec(n);
  std::vector<double> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = (double(y[i]) + x[i]) * -0.75;
  ops::add_inplace(view(y, {n}), view(x, {n}));
  ops::scale_inplace(view(y, {n}), -0.75f);
  expect_close(y, want, 1e-6, 1e-7, "add then scale");

  double ss = 0.0;
  for (float v : y) ss += double(v) * v;
  EXPECT_NEAR(ops::sum_squares(view(y, {n})), ss, 1e-12 * ss);

  std::vector<float> z = rng.vec(n);
  ops::copy(view(z, {n}), view(y, {n}));
  EXPECT_EQ(z, y);
  ops::fill_zero(view(z, {n}));
  EXPECT_EQ(z, std::vector<float>(n, 0.0f));
  EXPECT_EQ(ops::sum_squares(view(z, {n})), 0.0);
}

// ---------------------------------------------------------------- embedding

TEST(KernelEmbedding, ForwardZeroRowsOutsideShard) {
  Rng rng(2);
  const int64_t V = 9, H = 7, T = 13, vocab_start = 5;  // this rank holds ids [5, 14)
  std::vector<float> table = rng.vec(V * H);
  std::vector<int32_t> ids = {5, 13, 4, 0, 14, 9, 9, 20, 6, 5, 12, 3, 7};
  std::vector<float> out = rng.vec(T * H);  // garbage: must be overwritten
  ops::embedding_forward(view(out, {T, H}), view(ids, {T}), view(table, {V, H}), vocab_start);
  std::vector<double> want(T * H, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = ids[t] - vocab_start;
    if (row < 0 || row >= V) continue;
    for (int64_t h = 0; h < H; ++h) want[t * H + h] = table[row * H + h];
  }
  expect_close(out, want, 0.0, 0.0, "embedding forward");
}

TEST(KernelEmbedding, BackwardAccumulatesRepeatedIds) {
  Rng rng(3);
  const int64_t V = 6, H = 67, T = 11, vocab_start = 6;  // H > 64: more than one column block
  std::vector<int32_t> ids = {6, 11, 6, 2, 12, 8, 6, 11, 0, 9, 7};
  std::vector<float> dout = rng.vec(T * H);
  std::vector<float> dtable = rng.vec(V * H);  // existing gradient: must be added to
  std::vector<double> want(dtable.begin(), dtable.end());
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = ids[t] - vocab_start;
    if (row < 0 || row >= V) continue;
    for (int64_t h = 0; h < H; ++h) want[row * H + h] += dout[t * H + h];
  }
  ops::embedding_backward(view(dtable, {V, H}), view(dout, {T, H}), view(ids, {T}), vocab_start);
  expect_close(dtable, want, 1e-6, 1e-6, "embedding backward");
  // Row 10 - 6 = 4 is never looked up: untouched.
  EXPECT_DOUBLE_EQ(dtable[4 * H + 3], want[4 * H + 3]);
}

// ---------------------------------------------------------------- rmsnorm

TEST(KernelRmsNorm, ForwardMatchesReference) {
  Rng rng(4);
  const int64_t T = 37, H = 19;
  const float eps = 1e-6f;
  std::vector<float> x = rng.vec(T * H, -2.0f, 2.0f), w = rng.vec(H, 0.5f, 1.5f);
  std::vector<float> out(T * H), rstd(T);
  ops::rmsnorm_forward(view(out, {T, H}), view(rstd, {T}), view(x, {T, H}), view(w, {H}), eps);
  std::vector<double> want(T * H), want_rstd(T);
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0.0;
    for (int64_t h = 0; h < H; ++h) ss += double(x[t * H + h]) * x[t * H + h];
    want_rstd[t] = 1.0 / std::sqrt(ss / H + eps);
    for (int64_t h = 0; h < H; ++h) want[t * H + h] = x[t * H + h] * want_rstd[t] * w[h];
  }
  expect_close(out, want, 1e-5, 1e-6, "rmsnorm out");
  expect_close(rstd, want_rstd, 1e-5, 0.0, "rmsnorm rstd");
}

// ---------------------------------------------------------------- linear

void check_linear_forward(bool with_bias) {
  Rng rng(with_bias ? 5 : 6);
  const int64_t T = 71, K = 23, N = 14;  // T spans 3 token blocks; N has a remainder of 2
  std::vector<float> x = rng.vec(T * K), w = rng.vec(N * K), b = rng.vec(N);
  std::vector<float> out = rng.vec(T * N);
  ops::linear_forward(view(out, {T, N}), view(x, {T, K}), view(w, {N, K}),
                      with_bias ? view(b, {N}) : Tensor());
  std::vector<double> want(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double s = with_bias ? b[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(x[t * K + k]) * w[n * K + k];
      want[t * N + n] = s;
    }
  expect_close(out, want, 1e-5, 1e-5, with_bias ? "linear with bias" : "linear without bias");
}

TEST(KernelLinear, ForwardWithBias) { check_linear_forward(true); }
TEST(KernelLinear, ForwardWithoutBias) { check_linear_forward(false); }

// ---------------------------------------------------------------- rope

TEST(KernelRope, ForwardMatchesReferenceWithPositionsRestartingPerSample) {
  Rng rng(7);
  const std::vector<int32_t> cu = test::cu_seqlens_of({9, 14, 6});
  std::vector<int32_t> pos = test::positions_of(cu);
  const int64_t T = cu.back(), nh = 3, hd = 16, half = hd / 2;
  const float theta = 10000.0f;
  std::vector<float> x = rng.vec(T * nh * hd);
  const std::vector<float> x0 = x;
  ops::rope(view(x, {T, nh, hd}), view(pos, {T}), theta, false);
  std::vector<double> want(x.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t k = 0; k < hd; ++k) {
        const int64_t kk = k % half;
        const double angle = pos[t] * std::pow(double(theta), -2.0 * kk / hd);
        const float* v = &x0[(t * nh + h) * hd];
        // Hugging Face: x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1].
        const double rot = k < half ? -double(v[k + half]) : double(v[k - half]);
        want[(t * nh + h) * hd + k] = v[k] * std::cos(angle) + rot * std::sin(angle);
      }
  expect_close(x, want, 1e-4, 1e-5, "rope forward");
  // Position 0 (the first token of every sample) is not rotated.
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    for (int64_t e = 0; e < nh * hd; ++e)
      EXPECT_FLOAT_EQ(x[cu[b] * nh * hd + e], x0[cu[b] * nh * hd + e]) << "sample " << b;
}

TEST(KernelRope, InverseUndoesForward) {
  Rng rng(8);
  const std::vector<int32_t> cu = test::cu_seqlens_of({5, 30, 2});
  std::vector<int32_t> pos = test::positions_of(cu);
  const int64_t T = cu.back(), nh = 2, hd = 8;
  std::vector<float> x = rng.vec(T * nh * hd);
  const std::vector<float> x0 = x;
  ops::rope(view(x, {T, nh, hd}), view(pos, {T}), 1e6f, false);
  double moved = 0.0;
  for (size_t i = 0; i < x.size(); ++i) moved = std::max(moved, double(std::abs(x[i] - x0[i])));
  EXPECT_GT(moved, 0.1);  // the forward did rotate something
  ops::rope(view(x, {T, nh, hd}), view(pos, {T}), 1e6f, true);
  expect_close(x, x0, 0.0, 1e-5, "rope inverse(forward(x))");
}

// ---------------------------------------------------------------- attention

struct AttnCase {
  std::vector<int32_t> lengths;
  int64_t nh, nkv, hd;
  int window;
};

// Naive attention: per sample and head, the full masked score matrix, softmax, then P·V.
// out[T,nh,hd], lse[nh,T] in double.
void reference_attention(const AttnCase& c, const std::vector<float>& q,
                         const std::vector<float>& k, const std::vector<float>& v,
                         std::vector<double>& out, std::vector<double>& lse) {
  const std::vector<int32_t> cu = test::cu_seqlens_of(c.lengths);
  const int64_t T = cu.back(), nh = c.nh, nkv = c.nkv, hd = c.hd;
  out.assign(T * nh * hd, 0.0);
  lse.assign(nh * T, 0.0);
  const double scale = 1.0 / std::sqrt(double(hd));
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    const int64_t s0 = cu[b], n = cu[b + 1] - cu[b];
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t hk = h / (nh / nkv);
      std::vector<double> S(n * n, -std::numeric_limits<double>::infinity());
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const bool visible = j <= i && (c.window == 0 || i - c.window < j);
          if (!visible) continue;
          double s = 0.0;
          for (int64_t d = 0; d < hd; ++d)
            s += double(q[((s0 + i) * nh + h) * hd + d]) * k[((s0 + j) * nkv + hk) * hd + d];
          S[i * n + j] = s * scale;
        }
      for (int64_t i = 0; i < n; ++i) {
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < n; ++j) mx = std::max(mx, S[i * n + j]);
        double z = 0.0;
        for (int64_t j = 0; j < n; ++j) z += std::exp(S[i * n + j] - mx);
        lse[h * T + s0 + i] = mx + std::log(z);
        for (int64_t j = 0; j < n; ++j) {
          const double p = std::exp(S[i * n + j] - mx) / z;
          for (int64_t d = 0; d < hd; ++d)
            out[((s0 + i) * nh + h) * hd + d] += p * v[((s0 + j) * nkv + hk) * hd + d];
        }
      }
    }
  }
}

void check_attention_forward(const AttnCase& c, uint32_t seed) {
  Rng rng(seed);
  std::vector<int32_t> cu = test::cu_seqlens_of(c.lengths);
  const int64_t T = cu.back(), B = int64_t(c.lengths.size());
  std::vector<float> q = rng.vec(T * c.nh * c.hd, -2.0f, 2.0f);
  std::vector<float> k = rng.vec(T * c.nkv * c.hd, -2.0f, 2.0f);
  std::vector<float> v = rng.vec(T * c.nkv * c.hd);
  std::vector<float> out = rng.vec(T * c.nh * c.hd), lse = rng.vec(c.nh * T);
  ops::attention_forward(view(out, {T, c.nh, c.hd}), view(lse, {c.nh, T}),
                         view(q, {T, c.nh, c.hd}), view(k, {T, c.nkv, c.hd}),
                         view(v, {T, c.nkv, c.hd}), view(cu, {B + 1}), c.window);
  std::vector<double> want_out, want_lse;
  reference_attention(c, q, k, v, want_out, want_lse);
  expect_close(out, want_out, 1e-4, 1e-5, "attention out");
  expect_close(lse, want_lse, 1e-5, 1e-5, "attention lse");
}

TEST(KernelAttention, ForwardGqaGroup2WindowShorterThanSomeSamples) {
  check_attention_forward({{7, 13, 1, 12}, 4, 2, 8, 5}, 11);
}
TEST(KernelAttention, ForwardGroup1FullCausal) {
  check_attention_forward({{10, 3, 21}, 3, 3, 16, 0}, 12);
}
TEST(KernelAttention, ForwardGroup2HeadDim16Window) {
  check_attention_forward({{33, 2, 9}, 4, 2, 16, 8}, 13);
}
TEST(KernelAttention, ForwardWindowLongerThanSamplesIsCausal) {
  check_attention_forward({{6, 11}, 2, 1, 8, 64}, 14);
}

TEST(KernelAttention, WindowOneSeesOnlyItself) {
  // W = 1 keeps only j = i: out = v of the same token (its kv head), lse = the own score.
  Rng rng(15);
  std::vector<int32_t> cu = test::cu_seqlens_of({4, 7});
  const int64_t T = 11, nh = 2, nkv = 1, hd = 8;
  std::vector<float> q = rng.vec(T * nh * hd), k = rng.vec(T * nkv * hd), v = rng.vec(T * nkv * hd);
  std::vector<float> out(T * nh * hd), lse(nh * T);
  ops::attention_forward(view(out, {T, nh, hd}), view(lse, {nh, T}), view(q, {T, nh, hd}),
                         view(k, {T, nkv, hd}), view(v, {T, nkv, hd}), view(cu, {3}), 1);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t d = 0; d < hd; ++d)
        EXPECT_NEAR(out[(t * nh + h) * hd + d], v[t * hd + d], 1e-6) << "t " << t << " h " << h;
}

// ---------------------------------------------------------------- swiglu

TEST(KernelSwiGlu, ForwardMatchesReference) {
  Rng rng(16);
  const int64_t T = 13, I = 29;
  std::vector<float> g = rng.vec(T * I, -6.0f, 6.0f), u = rng.vec(T * I, -2.0f, 2.0f);
  std::vector<float> out(T * I);
  ops::swiglu_forward(view(out, {T, I}), view(g, {T, I}), view(u, {T, I}));
  std::vector<double> want(T * I);
  for (int64_t i = 0; i < T * I; ++i) want[i] = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
  expect_close(out, want, 1e-5, 1e-6, "swiglu");
}

// ---------------------------------------------------------------- cross-entropy

// Naive per-row statistics and Σ weight·CE in double over full logits[T,V].
double reference_ce_loss(const std::vector<float>& logits, const std::vector<int32_t>& targets,
                         const std::vector<float>& weight, int64_t T, int64_t V) {
  double loss = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    double mx = -INFINITY, z = 0.0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(logits[t * V + v]));
    for (int64_t v = 0; v < V; ++v) z += std::exp(logits[t * V + v] - mx);
    loss += weight[t] * (std::log(z) + mx - logits[t * V + targets[t]]);
  }
  return loss;
}

TEST(KernelCrossEntropy, PiecesMatchReference) {
  Rng rng(17);
  const int64_t T = 9, V = 23, vocab_start = 100;
  std::vector<float> logits = rng.vec(T * V, -5.0f, 5.0f);
  std::vector<int32_t> targets = {100, 122, 110, 99, 123, 105, 0, 101, 111};
  std::vector<float> row_max(T), sumexp(T), target_logit = rng.vec(T);
  ops::logits_row_max(view(row_max, {T}), view(logits, {T, V}));
  ops::logits_row_sumexp(view(sumexp, {T}), view(logits, {T, V}), view(row_max, {T}));
  ops::logits_gather_target(view(target_logit, {T}), view(logits, {T, V}), view(targets, {T}),
                            vocab_start);
  std::vector<double> want_max(T), want_sum(T), want_target(T, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    want_max[t] = -INFINITY;
    for (int64_t v = 0; v < V; ++v) want_max[t] = std::max(want_max[t], double(logits[t * V + v]));
    want_sum[t] = 0.0;
    for (int64_t v = 0; v < V; ++v) want_sum[t] += std::exp(logits[t * V + v] - want_max[t]);
    const int64_t c = targets[t] - vocab_start;
    if (c >= 0 && c < V) want_target[t] = logits[t * V + c];
  }
  expect_close(row_max, want_max, 0.0, 0.0, "row max");
  expect_close(sumexp, want_sum, 1e-5, 0.0, "row sumexp");
  expect_close(target_logit, want_target, 0.0, 0.0, "target logit (0 outside the shard)");
}

TEST(KernelCrossEntropy, TwoVocabShardsCombineToUnshardedLoss) {
  Rng rng(18);
  const int64_t T = 11, V = 17, V0 = 8, V1 = V - V0;  // shard 0: [0, 8), shard 1: [8, 17)
  std::vector<float> logits = rng.vec(T * V, -4.0f, 4.0f);
  std::vector<int32_t> targets(T);
  for (auto& y : targets) y = rng.integer(0, V - 1);
  std::vector<float> weight = rng.vec(T, 0.0f, 2.0f);
  weight[3] = 0.0f;  // a masked token

  // Shard s holds columns [start_s, start_s + V_s) of every row.
  std::vector<float> shard[2] = {std::vector<float>(T * V0), std::vector<float>(T * V1)};
  const int64_t start[2] = {0, V0}, width[2] = {V0, V1};
  for (int s = 0; s < 2; ++s)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t v = 0; v < width[s]; ++v)
        shard[s][t * width[s] + v] = logits[t * V + start[s] + v];

  std::vector<float> mx[2] = {std::vector<float>(T), std::vector<float>(T)};
  for (int s = 0; s < 2; ++s) ops::logits_row_max(view(mx[s], {T}), view(shard[s], {T, width[s]}));
  std::vector<float> gmax(T), gsum(T, 0.0f), gtarget(T, 0.0f);
  for (int64_t t = 0; t < T; ++t) gmax[t] = std::max(mx[0][t], mx[1][t]);
  for (int s = 0; s < 2; ++s) {
    std::vector<float> se(T), tl(T);
    ops::logits_row_sumexp(view(se, {T}), view(shard[s], {T, width[s]}), view(gmax, {T}));
    ops::logits_gather_target(view(tl, {T}), view(shard[s], {T, width[s]}), view(targets, {T}),
                              start[s]);
    for (int64_t t = 0; t < T; ++t) gsum[t] += se[t], gtarget[t] += tl[t];
  }
  const double sharded = ops::cross_entropy_loss_sum(view(gmax, {T}), view(gsum, {T}),
                                                     view(gtarget, {T}), view(weight, {T}));
  const double want = reference_ce_loss(logits, targets, weight, T, V);
  EXPECT_NEAR(sharded, want, 1e-5 * std::abs(want));

  // The backward of each shard with the combined statistics is that slice of the unsharded one.
  std::vector<double> want_grad(T * V);
  for (int64_t t = 0; t < T; ++t) {
    double z = 0.0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(logits[t * V + v]) - gmax[t]);
    for (int64_t v = 0; v < V; ++v)
      want_grad[t * V + v] =
          weight[t] * (std::exp(double(logits[t * V + v]) - gmax[t]) / z - (v == targets[t]));
  }
  for (int s = 0; s < 2; ++s) {
    ops::cross_entropy_backward(view(shard[s], {T, width[s]}), view(gmax, {T}), view(gsum, {T}),
                                view(targets, {T}), view(weight, {T}), start[s]);
    std::vector<double> want_s(T * width[s]);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t v = 0; v < width[s]; ++v)
        want_s[t * width[s] + v] = want_grad[t * V + start[s] + v];
    expect_close(shard[s], want_s, 1e-5, 1e-6, "sharded CE backward, shard " + std::to_string(s));
  }
}

// ---------------------------------------------------------------- adamw

TEST(KernelAdamW, ThreeStepsMatchHandWrittenUpdate) {
  Rng rng(19);
  const int64_t n = 45;
  std::vector<float> w = rng.vec(n), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> rw(w.begin(), w.end()), rm(n, 0.0), rv(n, 0.0);
  ops::AdamWParams p;
  p.lr = 0.01f;
  p.beta1 = 0.9f;
  p.beta2 = 0.95f;
  p.eps = 1e-8f;
  const float weight_decay = 0.1f;
  p.grad_scale = 0.5f;
  // A second tensor without weight decay goes through the same call (multi-tensor).
  std::vector<float> w2 = rng.vec(n), m2(n, 0.0f), v2(n, 0.0f);
  std::vector<double> rw2(w2.begin(), w2.end());
  for (int64_t step = 1; step <= 3; ++step) {
    std::vector<float> g = rng.vec(n, -3.0f, 3.0f);
    p.step = step;
    ops::adamw_step({{view(w, {n}), view(g, {n}), view(m, {n}), view(v, {n}), weight_decay},
                     {view(w2, {n}), view(g, {n}), view(m2, {n}), view(v2, {n}), 0.0f}},
                    p);
    for (int64_t i = 0; i < n; ++i) {
      const double gi = double(g[i]) * p.grad_scale;
      rm[i] = p.beta1 * rm[i] + (1.0 - p.beta1) * gi;
      rv[i] = p.beta2 * rv[i] + (1.0 - p.beta2) * gi * gi;
      const double mhat = rm[i] / (1.0 - std::pow(double(p.beta1), double(step)));
      const double vhat = rv[i] / (1.0 - std::pow(double(p.beta2), double(step)));
      // Decoupled decay (PyTorch AdamW): w ← w − lr·wd·w, then the Adam step.
      rw[i] = rw[i] - p.lr * weight_decay * rw[i] - p.lr * mhat / (std::sqrt(vhat) + p.eps);
      rw2[i] = rw2[i] - p.lr * mhat / (std::sqrt(vhat) + p.eps);
    }
    const std::string at = "after step " + std::to_string(step);
    expect_close(m, rm, 1e-5, 1e-7, "m " + at);
    expect_close(v, rv, 1e-5, 1e-7, "v " + at);
    expect_close(w, rw, 1e-5, 1e-6, "param " + at);
    expect_close(w2, rw2, 1e-5, 1e-6, "undecayed param " + at);
  }
}

}  // namespace
}  // namespace sr
