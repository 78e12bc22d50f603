// Training pieces: the learning-rate schedule, AdamW's decay policy, and that the model and
// optimizer together overfit a small fixed batch.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "dataset/batch.h"
#include "model/params.h"
#include "model/transformer.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "test_fixtures.h"

namespace sr {
namespace {

TEST(LrSchedule, WarmsUpLinearlyThenDecaysByCosine) {
  LrSchedule s{1.0, 0.1, 10, 110};
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // half-way down the cosine
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(500), 0.1, 1e-12);  // stays at the floor
  for (int64_t t = 11; t < 110; ++t) EXPECT_LE(s.at(t + 1), s.at(t));
}

TEST(AdamW, DecaysWeightsButNotNormsOrBiases) {
  ModelConfig c;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.intermediate_size = 8;
  c.vocab_size = 16;
  RunShape shape;
  shape.max_tokens = 4;
  Transformer m(c, shape, {});
  m.init_parameters(1);
  m.zero_grads();  // zero gradients: only weight decay moves parameters
  AdamWConfig oc;
  oc.weight_decay = 0.5f;
  AdamW opt(oc, m.specs(), whole_segments(m.specs()), Device::cpu);
  std::vector<std::vector<float>> before;
  for (const Tensor& p : m.params().all) before.emplace_back(p.f32(), p.f32() + p.numel());
  opt.step(m.params().all, m.grads().all, 0.1f, 1.0f);
  for (size_t i = 0; i < m.specs().size(); ++i) {
    const float* p = m.params().all[i].f32();
    const float factor = m.specs()[i].weight_decay ? 1.0f - 0.1f * 0.5f : 1.0f;
    for (int64_t k = 0; k < m.params().all[i].numel(); ++k)
      ASSERT_FLOAT_EQ(p[k], before[i][size_t(k)] * factor) << m.specs()[i].name;
  }
}

// The per-block flat ranges the DP gradient sync reduces come from the layout itself: they
// tile the flat buffer in order (embedding, layers, tail) and each holds exactly its own
// block's tensors, whatever the padding (ZeRO-1's multiple) and tying.
TEST(ParamLayout, PublishesEachBlocksFlatRange) {
  for (const bool tied : {true, false})
    for (const int64_t multiple : {int64_t(1), int64_t(3 * 64)}) {
      ModelConfig c = testfix::tiny_model_config(32, 64, 40, 8);
      c.num_hidden_layers = 3;
      c.tie_word_embeddings = tied;
      const std::vector<ParamSpec> specs = parameter_specs(c, 0, 1);
      Arena arena("parameters");
      ModelParams p;
      arena.plan([&](Arena& a) { p = plan_params(a, c, specs, multiple); });
      SCOPED_TRACE(std::string(tied ? "tied" : "untied") + ", multiple " + std::to_string(multiple));
      ASSERT_EQ(p.layer_range.size(), 3u);
      EXPECT_EQ(p.embed_range.begin, 0);
      EXPECT_EQ(p.embed_range.end, p.layer_range[0].begin);
      for (size_t l = 0; l + 1 < 3; ++l) EXPECT_EQ(p.layer_range[l].end, p.layer_range[l + 1].begin);
      EXPECT_EQ(p.layer_range[2].end, p.tail_range.begin);
      EXPECT_EQ(p.tail_range.end, p.flat.numel());
      for (size_t i = 0; i < specs.size(); ++i) {
        const std::string& name = specs[i].name;
        ModelParams::Range want = p.tail_range;
        if (name == "model.embed_tokens.weight") want = p.embed_range;
        for (size_t l = 0; l < 3; ++l)
          if (name.rfind("model.layers." + std::to_string(l) + ".", 0) == 0) want = p.layer_range[l];
        EXPECT_GE(p.flat_offset[i], want.begin) << name;
        EXPECT_LE(p.flat_offset[i] + specs[i].local_numel(), want.end) << name;
      }
    }
}

TEST(Training, OverfitsASmallFixedBatch) {
  const ModelConfig c = testfix::tiny_model_config(32, 64, 32, 8);
  RunShape shape;
  shape.max_tokens = 48;
  Transformer m(c, shape, {});
  m.init_parameters(3);
  AdamWConfig oc;
  oc.weight_decay = 0.0f;
  AdamW opt(oc, m.specs(), whole_segments(m.specs()), Device::cpu);
  const Batch b = testfix::random_packed_batch(5, 0, {24, 24}, 32);
  const float scale = 1.0f / float(b.num_targets());
  double first = 0, last = 0;
  for (int step = 1; step <= 200; ++step) {
    m.zero_grads();
    m.set_batch(ModelBatch(b), scale);
    const double loss = m.forward_backward(true) * scale;
    if (step == 1) first = loss;
    last = loss;
    opt.step(m.params().all, m.grads().all, 1e-2f, 1.0f);
  }
  EXPECT_NEAR(first, std::log(32.0), 0.3);  // starts near uniform
  EXPECT_LT(last, 0.05);                    // memorised
}

}  // namespace
}  // namespace sr
