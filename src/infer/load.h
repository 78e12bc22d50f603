// A trained model for inference: its shape from the checkpoint's manifest (docs/formats.md),
// its parameters through the training checkpoint loader (any saved TP/DP layout, re-sliced to
// one rank), copied into an inference Engine.
#pragma once
#include <memory>
#include <string>

#include "comm/process_grid.h"
#include "infer/engine.h"
#include "model/config.h"

namespace sr {

struct CheckpointInfo {
  std::string dir;  // the step directory
  int64_t step = 0;
  ModelConfig config;
  // The step directory's tokenizer.json when it holds one (the model's BPE vocabulary), else
  // empty: the byte tokenizer.
  std::string tokenizer_json;
};

// `path`: a step directory, a checkpoints/ directory (its `latest`) or a run's out_dir.
// UserError when there is no checkpoint there or its manifest lacks a model key.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Loads the checkpoint's parameters into `engine`, whose config must be info.config: on CPU,
// through the training loader (any saved layout, re-sliced to the engine's TP rank). Without a
// grid it runs on this process alone (MPI_COMM_SELF); with one (tensor-parallel reading) it is
// collective over the grid, whose TP layout must be the engine's.
void load_checkpoint_weights(const CheckpointInfo& info, Engine& engine,
                             const ProcessGrid* grid = nullptr);

}  // namespace sr
