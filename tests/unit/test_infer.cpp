// Inference: attention against a KV cache against a naive reference; the engine's prefill and
// decode against the training forward (window and full attention, past ring wraps, batches);
// sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/rng.h"
#include "infer/engine.h"
#include "infer/sampler.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/ops.h"
#include "model/transformer.h"
#include "test_fixtures.h"
#include "unit/kernel_test_util.h"

namespace sr {
namespace {

// Naive attention of query position i of one sequence over its whole history k/v[n,nkv,hd].
std::vector<float> naive_attention(const float* q, const std::vector<float>& k,
                                   const std::vector<float>& v, int64_t i, int64_t nkv, int64_t hk,
                                   int64_t hd, int window) {
  const int64_t first = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
  std::vector<double> s;
  double mx = -1e300;
  for (int64_t j = first; j <= i; ++j) {
    double d = 0;
    for (int64_t e = 0; e < hd; ++e) d += double(q[e]) * k[size_t((j * nkv + hk) * hd + e)];
    s.push_back(d / std::sqrt(double(hd)));
    mx = std::max(mx, s.back());
  }
  double total = 0;
  for (double& x : s) total += x = std::exp(x - mx);
  std::vector<float> out(size_t(hd), 0.0f);
  for (int64_t j = first; j <= i; ++j)
    for (int64_t e = 0; e < hd; ++e)
      out[size_t(e)] += float(s[size_t(j - first)] / total * v[size_t((j * nkv + hk) * hd + e)]);
  return out;
}

// Sequences with different histories and new-token counts; the cache holds each history in
// slots p % cap; attention_cache_forward must equal naive attention over the whole history,
// and kv_cache_append must leave the cache holding the extended history.
void check_cache_attention(int window, int64_t cap, const std::vector<int64_t>& past,
                           const std::vector<int64_t>& fresh) {
  const int64_t S = int64_t(past.size()), nh = 4, nkv = 2, hd = 8, row = nkv * hd;
  test::Rng rng(uint32_t(window * 131 + cap));
  std::vector<std::vector<float>> hk(static_cast<size_t>(S)), hv(static_cast<size_t>(S));  // histories [n,nkv,hd]
  std::vector<float> kc(size_t(S * cap * row), 0.0f), vc = kc;
  std::vector<int32_t> cu{0}, pp;
  std::vector<float> q, kn, vn;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = past[size_t(s)] + fresh[size_t(s)];
    hk[size_t(s)] = rng.vec(size_t(n * row));
    hv[size_t(s)] = rng.vec(size_t(n * row));
    for (int64_t p = std::max<int64_t>(0, past[size_t(s)] - cap); p < past[size_t(s)]; ++p)
      for (int64_t e = 0; e < row; ++e) {
        kc[size_t((s * cap + p % cap) * row + e)] = hk[size_t(s)][size_t(p * row + e)];
        vc[size_t((s * cap + p % cap) * row + e)] = hv[size_t(s)][size_t(p * row + e)];
      }
    for (int64_t p = past[size_t(s)]; p < n; ++p)
      for (int64_t e = 0; e < row; ++e) {
        kn.push_back(hk[size_t(s)][size_t(p * row + e)]);
        vn.push_back(hv[size_t(s)][size_t(p * row + e)]);
      }
    cu.push_back(cu.back() + int32_t(fresh[size_t(s)]));
    pp.push_back(int32_t(past[size_t(s)]));
  }
  const int64_t T = cu.back();
  q = rng.vec(size_t(T * nh * hd));
  std::vector<float> out(q.size(), 0.0f);
  cpu::attention_cache_forward(test::view(out, {T, nh, hd}), test::view(q, {T, nh, hd}),
                               test::view(kn, {T, nkv, hd}), test::view(vn, {T, nkv, hd}),
                               test::view(kc, {S, cap, nkv, hd}), test::view(vc, {S, cap, nkv, hd}),
                               test::view(cu, {S + 1}), test::view(pp, {S}), window);
  std::vector<float> want;
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t = 0; t < fresh[size_t(s)]; ++t)
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t row_t = cu[size_t(s)] + t;
        const std::vector<float> o =
            naive_attention(q.data() + (row_t * nh + h) * hd, hk[size_t(s)], hv[size_t(s)],
                            past[size_t(s)] + t, nkv, h / (nh / nkv), hd, window);
        want.insert(want.end(), o.begin(), o.end());
      }
  test::expect_close(out, want, 1e-5, 1e-6, "attention_cache_forward");

  cpu::kv_cache_append(test::view(kc, {S, cap, nkv, hd}), test::view(vc, {S, cap, nkv, hd}),
                       test::view(kn, {T, nkv, hd}), test::view(vn, {T, nkv, hd}),
                       test::view(cu, {S + 1}), test::view(pp, {S}));
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = past[size_t(s)] + fresh[size_t(s)];
    for (int64_t p = std::max<int64_t>(0, n - cap); p < n; ++p)
      for (int64_t e = 0; e < row; ++e) {
        ASSERT_EQ(kc[size_t((s * cap + p % cap) * row + e)], hk[size_t(s)][size_t(p * row + e)])
            << "sequence " << s << " position " << p;
        ASSERT_EQ(vc[size_t((s * cap + p % cap) * row + e)], hv[size_t(s)][size_t(p * row + e)]);
      }
  }
}

TEST(InferKernels, CacheAttentionRingMatchesNaive) {
  // A ring of exactly W slots: fresh sequences, a decode step, a chunk that crosses the wrap,
  // a chunk of W tokens, a sequence with nothing new.
  check_cache_attention(6, 6, {0, 13, 4, 30, 9}, {5, 1, 6, 6, 0});
}

TEST(InferKernels, CacheAttentionFullMatchesNaive) {
  check_cache_attention(0, 32, {0, 13, 4, 25}, {5, 1, 7, 7});
}

TEST(InferKernels, CacheAppendKeepsLastSlotsWhenLonger) {
  // More new tokens than slots: only the last cap land (checked inside).
  check_cache_attention(4, 4, {3}, {4});
  std::vector<float> kc(4 * 2 * 8, 0.0f), vc = kc, kn(9 * 2 * 8), vn = kn;
  for (size_t i = 0; i < kn.size(); ++i) kn[i] = vn[i] = float(i / 16);  // token index
  std::vector<int32_t> cu{0, 9}, pp{2};
  cpu::kv_cache_append(test::view(kc, {1, 4, 2, 8}), test::view(vc, {1, 4, 2, 8}),
                       test::view(kn, {9, 2, 8}), test::view(vn, {9, 2, 8}), test::view(cu, {2}),
                       test::view(pp, {1}));
  // Positions 2..10; the last 4 are 7, 8, 9, 10 = tokens 5..8 at slots 3, 0, 1, 2.
  EXPECT_EQ(kc[3 * 16], 5.0f);
  EXPECT_EQ(kc[0 * 16], 6.0f);
  EXPECT_EQ(kc[1 * 16], 7.0f);
  EXPECT_EQ(kc[2 * 16], 8.0f);
}

ModelConfig infer_config(int64_t window) {
  ModelConfig c = testfix::tiny_model_config(32, 48, 24, window);
  c.tie_word_embeddings = false;
  return c;
}

// log-softmax of every position of `seq` by the training forward: the sample seq[0..t] whose
// only trained target (after token t) is v has loss lse_t - logit_t[v].
std::vector<std::vector<double>> training_log_softmax(Transformer& model,
                                                      const std::vector<uint32_t>& seq) {
  const int64_t V = model.config().vocab_size;
  std::vector<std::vector<double>> out;
  for (size_t t = 0; t < seq.size(); ++t) {
    std::vector<int32_t> tokens, targets, positions, cu{0, int32_t(t + 1)};
    std::vector<float> mask;
    for (size_t i = 0; i <= t; ++i) {
      tokens.push_back(int32_t(seq[i]));
      targets.push_back(i < t ? int32_t(seq[i + 1]) : 0);
      positions.push_back(int32_t(i));
      mask.push_back(i == t ? 1.0f : 0.0f);
    }
    std::vector<double> row;
    for (int64_t v = 0; v < V; ++v) {
      targets[t] = int32_t(v);
      model.set_batch(ModelBatch(tokens, targets, positions, mask, cu), 1.0f);
      row.push_back(-model.forward_backward(false));
    }
    out.push_back(row);
  }
  return out;
}

std::vector<double> log_softmax(const float* logits, int64_t V) {
  double mx = -1e300, total = 0;
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(logits[v]));
  for (int64_t v = 0; v < V; ++v) total += std::exp(double(logits[v]) - mx);
  std::vector<double> out;
  for (int64_t v = 0; v < V; ++v) out.push_back(double(logits[v]) - mx - std::log(total));
  return out;
}

// Prefill of the first `prefill` tokens in pieces of `chunk`, then token-by-token decode, must
// give the training forward's next-token distribution at every position. The sequence is
// longer than the window, so the ring wraps several times.
void check_engine_matches_training(int64_t window, int64_t prefill, int64_t chunk,
                                   int64_t prefill_attention_min = 0) {
  const ModelConfig cfg = infer_config(window);
  const int64_t V = cfg.vocab_size, n = 29;
  RunShape rs;
  rs.max_tokens = n;
  Transformer model(cfg, rs, {});
  model.init_parameters(5, 0.3f);
  std::vector<uint32_t> seq;
  Rng rng(17, 3);
  for (int64_t i = 0; i < n; ++i) seq.push_back(uint32_t(rng.below(uint64_t(V))));
  const std::vector<std::vector<double>> want = training_log_softmax(model, seq);

  EngineShape es;
  es.batch = 1;
  es.max_step_tokens = 16;
  es.max_context = 64;
  es.logits_rows = 16;
  es.prefill_attention_min = prefill_attention_min;
  Engine engine(cfg, es);
  engine.load_weights(model.params());
  std::vector<std::vector<double>> got;
  std::vector<std::vector<float>> all;
  for (int64_t p = 0; p < prefill; p += chunk) {
    const int64_t m = std::min(chunk, prefill - p);
    engine.step({std::vector<uint32_t>(seq.begin() + p, seq.begin() + p + m)}, &all);
    ASSERT_EQ(all[0].size(), size_t(m * V));
    for (int64_t r = 0; r < m; ++r) got.push_back(log_softmax(all[0].data() + r * V, V));
  }
  for (int64_t p = prefill; p < n; ++p) {
    engine.step({{seq[size_t(p)]}});
    got.push_back(log_softmax(engine.logits(0), V));
  }
  EXPECT_EQ(engine.position(0), n);
  ASSERT_EQ(got.size(), want.size());
  for (size_t t = 0; t < got.size(); ++t)
    for (int64_t v = 0; v < V; ++v)
      ASSERT_NEAR(got[t][size_t(v)], want[t][size_t(v)], 2e-5)
          << "position " << t << " token " << v << " (window " << window << ")";
}

TEST(InferEngine, WindowPrefillThenDecodeMatchesTrainingForward) {
  // W = 5: prefill 12 tokens in chunks of 5, 5, 2 (the ring wraps inside the prefill), then
  // 17 decode steps (it wraps again every 5).
  check_engine_matches_training(5, 12, 5);
}

TEST(InferEngine, WindowOneLongPrefillIsCutIntoPiecesOfW) {
  // One call with 20 tokens > W: the engine cuts it into pieces of W.
  check_engine_matches_training(4, 20, 20);
}

TEST(InferEngine, FullAttentionPrefillThenDecodeMatchesTrainingForward) {
  check_engine_matches_training(0, 10, 7);
}

TEST(InferEngine, PrefillThroughTrainingAttentionMatchesTrainingForward) {
  // Pieces of >= 2 new tokens attend with ops::attention_forward over the ring laid out in
  // position order (wrapped inside the prefill and again later), decoding with the cache kernel.
  check_engine_matches_training(5, 12, 5, 2);
  check_engine_matches_training(4, 20, 20, 2);
  check_engine_matches_training(0, 10, 7, 2);
  // Every piece through it, single tokens included.
  check_engine_matches_training(5, 12, 3, 1);
}

TEST(InferEngine, BatchOfSequencesAtDifferentPositionsMatchesOneAtATime) {
  // Three sequences fed different amounts per step (prefill for one while another decodes),
  // against each run alone: independent caches, each at its own position.
  const ModelConfig cfg = infer_config(6);
  EngineShape es;
  es.batch = 3;
  es.max_step_tokens = 10;  // smaller than a step's total: the step is split into pieces
  Engine batched(cfg, es);
  batched.init_weights(9, 0.3f);
  EngineShape fs = es;
  fs.prefill_attention_min = 3;  // prefills (and only they) through the training attention
  Engine fused(cfg, fs);
  fused.init_weights(9, 0.3f);
  EngineShape one = es;
  one.batch = 1;
  Engine single(cfg, one);
  single.init_weights(9, 0.3f);
  Rng rng(4, 4);
  auto draw = [&](int64_t k) {
    std::vector<uint32_t> v;
    for (int64_t i = 0; i < k; ++i) v.push_back(uint32_t(rng.below(24)));
    return v;
  };
  const std::vector<std::vector<int64_t>> plan = {{7, 0, 3}, {1, 9, 1}, {1, 1, 8}, {5, 1, 1}, {1, 1, 1}};
  std::vector<std::vector<std::vector<uint32_t>>> steps;
  for (const auto& counts : plan) {
    std::vector<std::vector<uint32_t>> st;
    for (int64_t k : counts) st.push_back(draw(k));
    steps.push_back(st);
  }
  std::vector<std::vector<std::vector<float>>> want(3);  // per sequence, per step: logits
  for (int s = 0; s < 3; ++s) {
    single.reset(0);
    for (const auto& st : steps) {
      if (st[size_t(s)].empty()) continue;
      single.step({st[size_t(s)]});
      want[size_t(s)].emplace_back(single.logits(0), single.logits(0) + 24);
    }
  }
  std::vector<size_t> seen(3, 0);
  for (const auto& st : steps) {
    batched.step(st);
    fused.step(st);
    for (int s = 0; s < 3; ++s) {
      if (st[size_t(s)].empty()) continue;
      const std::vector<float> got(batched.logits(s), batched.logits(s) + 24);
      const std::vector<float>& w = want[size_t(s)][seen[size_t(s)]++];
      test::expect_close(got, w, 1e-5, 1e-6, "sequence " + std::to_string(s));
      test::expect_close(std::vector<float>(fused.logits(s), fused.logits(s) + 24), w, 1e-5, 1e-6,
                         "prefill through attention_forward, sequence " + std::to_string(s));
    }
  }
  EXPECT_EQ(fused.position(1), 12);
  EXPECT_EQ(batched.position(0), 15);
  EXPECT_EQ(batched.position(1), 12);
  EXPECT_EQ(batched.position(2), 14);
  // A reset sequence starts over: same logits as its first step.
  batched.reset(1);
  batched.step({{}, steps[1][1], {}});
  test::expect_close(std::vector<float>(batched.logits(1), batched.logits(1) + 24), want[1][0], 1e-5,
                     1e-6, "after reset");
}

TEST(InferEngine, FullAttentionPastMaxContextIsAUserError) {
  EngineShape es;
  es.max_context = 8;
  Engine e(infer_config(0), es);
  e.init_weights(1, 0.1f);
  e.step({std::vector<uint32_t>(6, 1)});
  EXPECT_THROW(e.step({std::vector<uint32_t>(3, 1)}), UserError);
  EXPECT_THROW(e.step({{99}}), UserError);  // outside the vocabulary
}

TEST(Sampler, GreedyTakesTheFirstMaximumAndIgnoresPaddedIds) {
  const std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f, 9.0f};
  SamplingConfig greedy;
  EXPECT_EQ(sample_token(l.data(), 4, greedy, 0, 0), 1u);  // id 4 is padding beyond `allowed`
  EXPECT_EQ(sample_token(l.data(), 5, greedy, 0, 0), 4u);
}

TEST(Sampler, TopKTopPAndTemperatureFollowTheDistribution) {
  const std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto histogram = [&](SamplingConfig c) {
    std::map<uint32_t, int> h;
    for (uint64_t i = 0; i < 20000; ++i) ++h[sample_token(l.data(), 4, c, 7, i)];
    return h;
  };
  SamplingConfig c;
  c.temperature = 1.0f;
  c.seed = 3;
  auto h = histogram(c);
  EXPECT_NEAR(h[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(h[3] / 20000.0, 0.05, 0.01);
  c.top_k = 2;  // renormalised over {0, 1}: 0.625 / 0.375
  h = histogram(c);
  EXPECT_EQ(h.count(2) + h.count(3), 0u);
  EXPECT_NEAR(h[0] / 20000.0, 0.625, 0.02);
  c.top_k = 0;
  c.top_p = 0.85f;  // the nucleus is {0, 1, 2} (0.95 >= 0.85 first reached there)
  h = histogram(c);
  EXPECT_EQ(h.count(3), 0u);
  EXPECT_NEAR(h[2] / 20000.0, 0.15 / 0.95, 0.02);
  c.top_p = 1.0f;
  c.temperature = 0.01f;  // nearly greedy
  h = histogram(c);
  EXPECT_EQ(h[0], 20000);
  // Same seed, stream and counter: same draw; the draws do not depend on call order.
  c.temperature = 1.0f;
  EXPECT_EQ(sample_token(l.data(), 4, c, 5, 11), sample_token(l.data(), 4, c, 5, 11));
  SamplingConfig bad;
  bad.top_p = 0.0f;
  EXPECT_THROW(bad.validate(), UserError);
  bad.top_p = 1.0f;
  bad.temperature = -1.0f;
  EXPECT_THROW(bad.validate(), UserError);
}

}  // namespace
}  // namespace sr
