// `smoothread train`: one process per rank (CPU core group or GPU) under mpirun or srun.
#include <omp.h>

#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/config_loader.h"
#include "comm/process_grid.h"
#include "core/log.h"
#include "core/threads.h"
#include "train/preemption.h"
#include "train/trainer.h"

namespace sr {

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
  return trainer.run();
}

}  // namespace sr
