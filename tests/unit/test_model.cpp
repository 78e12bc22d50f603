// The whole model: gradients by finite differences, window semantics, recomputation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "dataset/batch.h"
#include "model/transformer.h"
#include "test_fixtures.h"

namespace sr {
namespace {

// Window 3, shorter than the samples, so the window is exercised.
ModelConfig micro_config() { return testfix::tiny_model_config(16, 24, 40, 3); }

// Packed samples (by default two, of lengths 5 and 7) of micro_config's vocabulary.
Batch micro_batch(uint64_t seed, std::vector<int64_t> lengths = {5, 7}) {
  return testfix::random_packed_batch(seed, 7, lengths, 40);
}

double loss_of(Transformer& m) { return m.forward_backward(false); }

void expect_gradients_match_finite_differences(const ModelConfig& cfg, Recompute rc) {
  RunShape shape;
  shape.max_tokens = 16;
  shape.lm_head_chunk = 5;  // several chunks, the last one partial
  shape.recompute = rc;
  Transformer m(cfg, shape, {});
  m.init_parameters(11, 0.3f);
  const Batch b = micro_batch(3);
  m.set_batch(ModelBatch(b), 1.0f);
  m.zero_grads();
  m.forward_backward(true);
  const auto& specs = m.specs();
  int checked = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    float* p = m.params().all[i].f32();
    const float* g = m.grads().all[i].f32();
    const int64_t n = specs[i].local_numel();
    for (int64_t k = 0; k < n; k += std::max<int64_t>(1, n / 7)) {
      const float saved = p[k];
      const float h = 2e-3f;
      p[k] = saved + h;
      const double up = loss_of(m);
      p[k] = saved - h;
      const double down = loss_of(m);
      p[k] = saved;
      const double fd = (up - down) / (2.0 * h);
      EXPECT_NEAR(g[k], fd, 2e-3 + 2e-2 * std::fabs(fd)) << specs[i].name << "[" << k << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(Model, GradientsMatchFiniteDifferences) {
  expect_gradients_match_finite_differences(micro_config(), Recompute::none);
}

TEST(Model, GradientsMatchFiniteDifferencesUntiedNoBiasFullAttention) {
  ModelConfig c = micro_config();
  c.tie_word_embeddings = false;
  c.attention_bias = false;
  c.sliding_window = 0;
  expect_gradients_match_finite_differences(c, Recompute::none);
}

std::vector<std::vector<float>> gradients(const ModelConfig& cfg, Recompute rc, const Batch& b) {
  RunShape shape;
  shape.max_tokens = 16;
  shape.lm_head_chunk = 8;
  shape.recompute = rc;
  Transformer m(cfg, shape, {});
  m.init_parameters(5, 0.2f);
  m.zero_grads();
  m.set_batch(ModelBatch(b), 0.1f);
  m.forward_backward(true);
  std::vector<std::vector<float>> out;
  for (const Tensor& g : m.grads().all) out.emplace_back(g.f32(), g.f32() + g.numel());
  return out;
}

// The run shape's attention settings (train.cudnn_attention, train.deterministic) are what the
// GPU attention ops follow once the model exists.
TEST(Model, ConstructorAppliesAttentionSettings) {
  RunShape shape;
  shape.max_tokens = 8;
  shape.attention = {false, true};
  { Transformer m(micro_config(), shape, {}); }
  EXPECT_FALSE(ops::attention_settings().use_cudnn);
  EXPECT_TRUE(ops::attention_settings().deterministic);
  shape.attention = {};
  { Transformer m(micro_config(), shape, {}); }
  EXPECT_TRUE(ops::attention_settings().use_cudnn);
  EXPECT_FALSE(ops::attention_settings().deterministic);
}

TEST(Model, PlannedBytesAreWhatTheArenasHold) {
  // planned_bytes (bench compare's memory estimate) follows the constructor's own plan, so it
  // must equal a real model's arenas for every recomputation mode and shape, and change with them.
  ModelConfig untied = micro_config();
  untied.tie_word_embeddings = false;
  size_t none_bytes = 0, full_bytes = 0;
  for (const ModelConfig& cfg : {micro_config(), untied})
    for (Recompute rc : {Recompute::none, Recompute::attn, Recompute::full, Recompute::except_attention})
      for (int64_t tokens : {int64_t(8), int64_t(100)}) {
        RunShape shape;
        shape.max_tokens = tokens;
        shape.lm_head_chunk = 5;
        shape.recompute = rc;
        const Transformer::PlannedBytes planned = Transformer::planned_bytes(cfg, shape, {});
        const Transformer m(cfg, shape, {});
        const Transformer::PlannedBytes real = m.arena_bytes();
        EXPECT_EQ(planned.params, real.params) << recompute_name(rc) << " " << tokens;
        EXPECT_EQ(planned.grads, real.grads);
        EXPECT_EQ(planned.compute_weights, real.compute_weights);
        EXPECT_EQ(planned.activations, real.activations) << recompute_name(rc) << " " << tokens;
        EXPECT_GT(real.params, 0u);
        if (tokens == 100 && rc == Recompute::none) none_bytes = planned.activations;
        if (tokens == 100 && rc == Recompute::full) full_bytes = planned.activations;
      }
  EXPECT_GT(none_bytes, full_bytes);  // keeping every layer's activations costs more
}

TEST(Model, RecomputationChangesNoGradient) {
  const Batch b = micro_batch(9);
  const auto none = gradients(micro_config(), Recompute::none, b);
  for (Recompute rc : {Recompute::attn, Recompute::full, Recompute::except_attention}) {
    const auto other = gradients(micro_config(), rc, b);
    ASSERT_EQ(none.size(), other.size());
    for (size_t i = 0; i < none.size(); ++i) EXPECT_EQ(none[i], other[i]) << recompute_name(rc);
  }
}

double loss_with_window(int64_t window, const Batch& b) {
  ModelConfig c = micro_config();
  c.sliding_window = window;
  RunShape shape;
  shape.max_tokens = 16;
  Transformer m(c, shape, {});
  m.init_parameters(5, 0.3f);
  m.set_batch(ModelBatch(b), 1.0f);
  return m.forward_backward(false);
}

TEST(Model, WindowMattersOnlyForSamplesLongerThanIt) {
  const Batch short_samples = micro_batch(4, {5, 6});
  // Every sample shorter than the window: windowed and full attention agree exactly.
  EXPECT_EQ(loss_with_window(8, short_samples), loss_with_window(0, short_samples));
  // Samples longer than the window: they differ.
  EXPECT_NE(loss_with_window(3, short_samples), loss_with_window(0, short_samples));
}

TEST(Model, PackedSamplesDoNotSeeEachOther) {
  // The loss of two packed samples equals the sum of their losses run alone.
  const Batch both = micro_batch(21, {5, 7});
  Batch first, second;
  std::vector<uint32_t> a(both.tokens.begin(), both.tokens.begin() + 5);
  std::vector<uint32_t> c(both.tokens.begin() + 5, both.tokens.end());
  std::vector<uint8_t> ma{0, 1, 1, 1, 1}, mc{0, 1, 1, 1, 1, 1, 1};
  first.append_sample(0, a.data(), ma.data(), 5);
  second.append_sample(1, c.data(), mc.data(), 7);
  EXPECT_NEAR(loss_with_window(0, both), loss_with_window(0, first) + loss_with_window(0, second),
              1e-4);
}

TEST(Model, FlopsMatchTheDesignAnchors) {
  ModelConfig q;  // qwen2.5-3b
  q.hidden_size = 2048;
  q.num_hidden_layers = 36;
  q.num_attention_heads = 16;
  q.num_key_value_heads = 2;
  q.intermediate_size = 11008;
  q.vocab_size = 151936;
  EXPECT_NEAR(q.train_flops_per_token(65536) / 1e9, 47.5, 0.1);
  q.sliding_window = 4096;
  EXPECT_NEAR(q.train_flops_per_token(65536) / 1e9, 22.0, 0.1);
}

TEST(Model, InconsistentShapesAreUserErrors) {
  ModelConfig c = micro_config();
  c.num_attention_heads = 5;
  EXPECT_THROW(c.validate(), UserError);
  c = micro_config();
  c.num_key_value_heads = 3;
  EXPECT_THROW(c.validate(), UserError);
  c = micro_config();
  EXPECT_THROW(c.validate(4), UserError);  // 4 does not divide 2 kv heads
  try {
    c.num_attention_heads = 5;
    c.validate();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model.num_attention_heads = 5"), std::string::npos);
  }
}

}  // namespace
}  // namespace sr
