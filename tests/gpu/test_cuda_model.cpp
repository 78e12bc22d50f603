// The whole Transformer on Device::cuda against Device::cpu (f32): loss, every gradient, and a
// few AdamW training steps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "dataset/batch.h"
#include "gpu_test_util.h"
#include "test_fixtures.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace sr {
namespace {

ModelConfig tiny_config(bool tied) {
  ModelConfig c = testfix::tiny_model_config(64, 176, 272, 24);  // head dim 16
  c.tie_word_embeddings = tied;
  return c;
}

// Three packed samples.
Batch packed_batch(uint64_t seed) { return testfix::random_packed_batch(seed, 3, {70, 33, 20}, 272); }

std::vector<float> to_host(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  device_copy(Device::cpu, v.data(), t.device, t.data, v.size() * 4);
  return v;
}

RunShape shape_on(Device d, Recompute rc) {
  RunShape s;
  s.max_tokens = 128;
  s.lm_head_chunk = 48;  // several chunks, the last one partial
  s.recompute = rc;
  s.device = d;
  return s;
}

void expect_same_model(const ModelConfig& cfg, Recompute rc) {
  Transformer cpu_m(cfg, shape_on(Device::cpu, rc), {});
  Transformer gpu_m(cfg, shape_on(Device::cuda, rc), {});
  cpu_m.init_parameters(5, 0.1f);
  gpu_m.init_parameters(5, 0.1f);
  const Batch b = packed_batch(9);
  const float scale = 1.0f / float(b.num_targets());
  AdamWConfig oc;
  AdamW cpu_opt(oc, cpu_m.specs(), whole_segments(cpu_m.specs()), Device::cpu),
      gpu_opt(oc, gpu_m.specs(), whole_segments(gpu_m.specs()), Device::cuda);
  for (int step = 0; step < 3; ++step) {
    for (Transformer* m : {&cpu_m, &gpu_m}) {
      m->set_batch(ModelBatch(b), scale);
      m->zero_grads();
    }
    const double lc = cpu_m.forward_backward(true), lg = gpu_m.forward_backward(true);
    EXPECT_NEAR(lg, lc, 1e-5 * std::fabs(lc)) << "step " << step;
    for (size_t i = 0; i < cpu_m.specs().size(); ++i) {
      const auto gc = to_host(cpu_m.grads().all[i]), gg = to_host(gpu_m.grads().all[i]);
      EXPECT_LT(gputest::rel_err(gg, gc), 1e-4) << cpu_m.specs()[i].name << " step " << step;
    }
    cpu_opt.step(cpu_m.params().all, cpu_m.grads().all, 1e-2f, 1.0f);
    gpu_opt.step(gpu_m.params().all, gpu_m.grads().all, 1e-2f, 1.0f);
  }
  // AdamW normalises every element by its own gradient scale, so an element whose gradient is
  // near zero turns a rounding-level gradient difference into up to lr: parameters that
  // started at zero (biases) are compared at 1e-3.
  for (size_t i = 0; i < cpu_m.specs().size(); ++i) {
    const auto pc = to_host(cpu_m.params().all[i]), pg = to_host(gpu_m.params().all[i]);
    EXPECT_LT(gputest::rel_err(pg, pc), 1e-3) << cpu_m.specs()[i].name;
  }
}

TEST(CudaModel, MatchesCpuTied) {
  SR_REQUIRE_GPU();
  expect_same_model(tiny_config(true), Recompute::none);
}

TEST(CudaModel, MatchesCpuUntiedFullRecompute) {
  SR_REQUIRE_GPU();
  expect_same_model(tiny_config(false), Recompute::full);
}

TEST(CudaModel, Deterministic) {
  SR_REQUIRE_GPU();
  const ModelConfig cfg = tiny_config(true);
  Transformer m(cfg, shape_on(Device::cuda, Recompute::attn), {});
  m.init_parameters(7, 0.1f);
  const Batch b = packed_batch(4);
  std::vector<std::vector<float>> first;
  double loss0 = 0;
  for (int run = 0; run < 2; ++run) {
    m.set_batch(ModelBatch(b), 0.01f);
    m.zero_grads();
    const double loss = m.forward_backward(true);
    if (run == 0) loss0 = loss;
    EXPECT_EQ(loss, loss0);
    for (size_t i = 0; i < m.specs().size(); ++i) {
      const auto g = to_host(m.grads().all[i]);
      if (run == 0) first.push_back(g);
      else EXPECT_TRUE(gputest::bitwise_equal(g, first[i])) << m.specs()[i].name;
    }
  }
}

}  // namespace
}  // namespace sr
