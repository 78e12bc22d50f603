// Tensor-parallel inference under mpirun: an engine split over TP ranks (heads, MLP columns and
// vocab rows, partial sums all-reduced, logits gathered) gives every rank the logits of one
// unsplit engine with the same weights, through prefill, decode and ring wraps.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <vector>

#include "comm/process_grid.h"
#include "core/rng.h"
#include "infer/engine.h"
#include "test_fixtures.h"

namespace sr {
namespace {

ModelConfig tp_config(int64_t window) {
  ModelConfig c = testfix::tiny_model_config(32, 48, 48, window);
  c.num_key_value_heads = 4;  // TP 4 splits the kv heads
  c.tie_word_embeddings = false;
  return c;
}

void check_tp_engine(int64_t window) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const ModelConfig cfg = tp_config(window);
  EngineShape es;
  es.batch = 2;
  es.max_step_tokens = 8;
  es.max_context = 64;
  Engine single(cfg, es);
  single.init_weights(3, 0.2f);
  for (int tp = 2; tp <= world && tp <= 4; tp *= 2) {
    if (world % tp) continue;
    SCOPED_TRACE("tp " + std::to_string(tp) + " window " + std::to_string(window));
    std::unique_ptr<ProcessGrid> grid = make_process_grid(tp, Device::cpu, 60.0);
    EngineShape ts = es;
    ts.tp_comm = grid->tp_group.get();
    ts.tp_rank = grid->tp_rank;
    ts.tp_size = tp;
    Engine split(cfg, ts);
    split.init_weights(3, 0.2f);
    single.reset_all();
    Rng rng(11, 2);  // the same tokens on every rank
    for (int step = 0; step < 14; ++step) {
      std::vector<std::vector<uint32_t>> tokens(2);
      const int n0 = step == 0 ? 11 : 1, n1 = step % 4 == 0 ? 5 : (step % 2 ? 1 : 0);
      for (int i = 0; i < n0; ++i) tokens[0].push_back(uint32_t(rng.below(48)));
      for (int i = 0; i < n1; ++i) tokens[1].push_back(uint32_t(rng.below(48)));
      single.step(tokens);
      split.step(tokens);
      for (int s = 0; s < 2; ++s) {
        if (tokens[size_t(s)].empty()) continue;
        for (int64_t v = 0; v < 48; ++v)
          ASSERT_NEAR(split.logits(s)[v], single.logits(s)[v], 2e-5)
              << "step " << step << " sequence " << s << " token " << v;
      }
    }
    EXPECT_EQ(split.position(0), 24);
  }
}

TEST(InferTensorParallel, WindowMatchesOneRank) { check_tp_engine(6); }
TEST(InferTensorParallel, FullAttentionMatchesOneRank) { check_tp_engine(0); }

}  // namespace
}  // namespace sr
