// `smoothread train`: one process per rank (CPU core group or GPU) under mpirun or srun.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/eval_set.h"
#include "cli/options.h"
#include "cli/read_common.h"
#include "comm/process_grid.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "dataset/tokenizer.h"
#include "dataset/trajectory.h"
#include "train/preemption.h"
#include "train/trainer.h"

namespace sr {

namespace {

// train.eval_samples: held-out tasks (smoothread eval's test split, data seed 4321) read with
// the model's current weights by an inference engine made for each evaluation; logs the mean
// accuracy, the exact answers, the rounds read and each task x length cell.
Trainer::SampleEval make_sample_eval(const RunConfig& cfg, const ProcessGrid& grid, const Trainer& trainer) {
  auto tokenizer = std::make_shared<Tokenizer>();
  const std::string& identity = trainer.tokenizer_identity();
  if (!identity.empty() && identity != "byte") {
    if (trainer.tokenizer_json().empty())
      throw UserError("train.eval_samples: the data's tokenizer '" + identity +
                      "' is not held by this run (start it from a checkpoint that has its "
                      "tokenizer.json, e.g. one of smoothread ckpt import-hf)");
    *tokenizer = tokenizer_from_json(trainer.tokenizer_json(), "train.eval_samples: the checkpoint's tokenizer.json");
  }
  std::vector<int64_t> lengths;
  for (size_t l : parse_token_list("train.eval_context_tokens", cfg.eval_context_tokens))
    lengths.push_back(int64_t(l));
  constexpr uint64_t kEvalDataSeed = 4321;  // smoothread eval's held-out seed in tools/replicate.sh
  auto set = std::make_shared<EvalSet>(make_eval_set(parse_task_list(cfg.eval_tasks, "train.eval_tasks"),
                                                     lengths, cfg.eval_samples, Haystack::default_words(),
                                                     kEvalDataSeed, cfg.model, "train.eval_samples: "));
  ReadCli cli;
  cli.device = cfg.device == Device::cuda ? "cuda" : "cpu";
  cli.precision = computes_in_bf16(cfg) ? "bf16" : "f32";
  cli.batch = std::min<int64_t>(64, int64_t(set->inputs.size()));
  cli.read.mode = parse_trajectory_format(cfg.eval_mode, "train.eval_mode");
  cli.read.tokenizer = tokenizer.get();
  validate_read_options(cli.read, cfg.model);
  return [cfg, cli, set, tokenizer, &grid](const Transformer& model) {
    const std::unique_ptr<Engine> engine = make_engine(cfg.model, cli, set->inputs, &grid);
    engine->load_weights(model.params());
    const std::vector<ReadOutput> results = read_all(*engine, set->inputs, cli.read);
    const std::vector<std::vector<EvalCell>> cells = score_eval_set(*set, results);
    EvalCell all;
    Json per_cell = Json::array();
    for (size_t k = 0; k < cells.size(); ++k)
      for (size_t l = 0; l < cells[k].size(); ++l) {
        const EvalCell& c = cells[k][l];
        all.score += c.score, all.correct += c.correct, all.rounds += c.rounds, all.tokens += c.tokens;
        all.n += c.n;
        per_cell.push_back({{"task", task_kind_name(set->kinds[k])},
                            {"context_tokens", set->lengths[l]},
                            {"accuracy", c.score / double(c.n)},
                            {"mean_rounds", c.rounds / double(c.n)},
                            {"mean_tokens", c.tokens / double(c.n)}});
      }
    return Json{{"eval_read_mode", trajectory_format_name(cli.read.mode)},
                {"eval_samples", all.n},
                {"eval_accuracy", all.score / double(all.n)},
                {"eval_exact", all.correct / double(all.n)},
                {"eval_rounds", all.rounds / double(all.n)},
                {"eval_tokens_per_answer", all.tokens / double(all.n)},
                {"eval_cells", per_cell}};
  };
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  // First, so that a preemption signal arriving during start-up is not lost.
  install_preemption_handlers();
  LoadedConfig loaded = load_run_config("train", args);
  if (loaded.help) return kExitOk;
  const RunConfig& cfg = loaded.run;
  if (loaded.print_config) {
    if (log_rank() == 0) std::fputs(format_run_config(cfg).c_str(), stdout);
    return kExitOk;
  }
  cfg.model.validate(cfg.tp);
  std::unique_ptr<ProcessGrid> grid = make_process_grid(cfg.tp, cfg.device, cfg.watchdog_seconds);
  omp_set_num_threads(threads_per_rank(cfg.threads, grid->local_size));
  print_grid_table(*grid);
  Trainer trainer(cfg, *grid);
  if (cfg.eval_samples > 0) trainer.set_sample_eval(make_sample_eval(cfg, *grid, trainer));
  return trainer.run();
}

}  // namespace sr
