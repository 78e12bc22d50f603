// Mixed precision on GPU: bf16 weights copy and activations, f32 master parameters, gradients
// and statistics, against the f32 CPU model; and training that only works if the bf16 copy
// follows every update.
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

ModelConfig bf16_config() { return testfix::tiny_model_config(128, 256, 272, 32); }  // head dim 32

Batch random_batch(uint64_t seed) { return testfix::random_packed_batch(seed, 5, {90, 50, 40}, 272); }

RunShape shape(Device d, DType compute) {
  RunShape s;
  s.max_tokens = 192;
  s.lm_head_chunk = 64;
  s.recompute = Recompute::attn;
  s.device = d;
  s.compute = compute;
  return s;
}

std::vector<float> host(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  device_copy(Device::cpu, v.data(), t.device, t.data, v.size() * 4);
  return v;
}

TEST(CudaBf16, LossAndGradientsMatchF32Cpu) {
  SR_REQUIRE_GPU();
  Transformer cpu_m(bf16_config(), shape(Device::cpu, DType::f32), {});
  Transformer gpu_m(bf16_config(), shape(Device::cuda, DType::bf16), {});
  cpu_m.init_parameters(3, 0.05f);
  gpu_m.init_parameters(3, 0.05f);
  const Batch b = random_batch(1);
  const float scale = 1.0f / float(b.num_targets());
  for (Transformer* m : {&cpu_m, &gpu_m}) {
    m->set_batch(ModelBatch(b), scale);
    m->zero_grads();
  }
  const double lc = cpu_m.forward_backward(true), lg = gpu_m.forward_backward(true);
  EXPECT_NEAR(lg, lc, 1e-2 * lc);
  EXPECT_EQ(gpu_m.grads().all[0].dtype, DType::f32);  // master gradients stay f32
  for (size_t i = 0; i < cpu_m.specs().size(); ++i) {
    const double err = gputest::rel_err(host(gpu_m.grads().all[i]), host(cpu_m.grads().all[i]));
    EXPECT_LT(err, 5e-2) << cpu_m.specs()[i].name;
  }
}

TEST(CudaBf16, TrainsAFixedBatchDown) {
  SR_REQUIRE_GPU();
  Transformer m(bf16_config(), shape(Device::cuda, DType::bf16), {});
  m.init_parameters(4);
  AdamWConfig oc;
  oc.weight_decay = 0.0f;
  AdamW opt(oc, m.specs(), whole_segments(m.specs()), Device::cuda);
  const Batch b = random_batch(2);
  const float scale = 1.0f / float(b.num_targets());
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    m.set_batch(ModelBatch(b), scale);
    m.zero_grads();
    last = m.forward_backward(true) * scale;
    if (step == 0) first = last;
    opt.step(m.params().all, m.grads().all, 3e-3f, 1.0f);
    m.refresh_weights();
  }
  EXPECT_NEAR(first, std::log(272.0), 0.2);
  EXPECT_LT(last, 0.5 * first);
}

}  // namespace
}  // namespace sr
