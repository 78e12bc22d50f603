// The Hugging Face fixtures (tests/fixtures/hf, tools/make_hf_fixtures.py) on CUDA in bf16:
// the engine's logits and the training forward's loss against transformers' f32 values, within
// bf16 tolerance (bf16 weights and activations, f32 accumulation and statistics: relative
// errors of about 2^-8 per rounding, a few of them compounding through two layers).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/device_memory.h"
#include "gpu_test_util.h"
#include "hf_fixture_util.h"
#include "infer/engine.h"
#include "model/transformer.h"
#include "train/hf.h"

namespace sr {
namespace {

// ‖got − want‖ / ‖want‖ over all logits, and the largest difference against max |want|.
constexpr double kLogitRelL2 = 3e-2;
constexpr double kLogitMax = 6e-2;
constexpr double kLossRel = 1e-2;

void check_fixture_bf16(const std::string& name) {
  SCOPED_TRACE(name);
  const std::string dir = hftest::fixtures_dir() + "/" + name;
  const hftest::Expected want = hftest::read_expected(dir + "/expected.json");
  const ModelConfig cfg = read_hf_config(dir);
  const int64_t B = want.logits_shape[0], T = want.logits_shape[1];

  // The f32 parameters on the host, then on the GPU.
  const std::vector<ParamSpec> specs = parameter_specs(cfg, 0, 1);
  std::vector<std::vector<float>> host;
  std::vector<float*> dst;
  for (const ParamSpec& s : specs) {
    host.emplace_back(size_t(s.global_numel()));
    dst.push_back(host.back().data());
  }
  read_hf_weights(dir, cfg, specs, dst);
  RunShape rs;
  rs.max_tokens = B * T;
  rs.lm_head_chunk = 16;
  rs.device = Device::cuda;
  rs.compute = DType::bf16;
  Transformer model(cfg, rs, {});
  for (size_t i = 0; i < specs.size(); ++i) {
    const Tensor& t = model.params().all[i];
    device_copy(t.device, t.data, Device::cpu, host[i].data(), host[i].size() * sizeof(float));
  }
  model.refresh_weights();

  const hftest::Packed p = hftest::pack(want.input_ids);
  model.set_batch(p.batch(), 1.0f);
  const double loss = model.forward_backward(false) / double(p.num_targets);
  EXPECT_NEAR(loss, want.loss, kLossRel * std::fabs(want.loss)) << "bf16 training forward's loss";

  const std::vector<float> got =
      hftest::engine_logits(cfg, model.params(), want.input_ids, Device::cuda, DType::bf16);
  ASSERT_EQ(got.size(), want.logits.size());
  double scale = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, double(std::fabs(want.logits[i])));
    worst = std::max(worst, std::fabs(double(got[i]) - double(want.logits[i])));
  }
  EXPECT_LT(gputest::rel_err(got, want.logits), kLogitRelL2) << "bf16 engine logits";
  EXPECT_LE(worst, kLogitMax * scale) << "largest logit difference (max |logit| " << scale << ")";
}

TEST(CudaHf, FixturesMatchTransformersInBf16) {
  SR_REQUIRE_GPU();
  SR_REQUIRE_HF_FIXTURES();
  for (const std::string& m : hftest::fixture_models()) check_fixture_bf16(m);
}

}  // namespace
}  // namespace sr
