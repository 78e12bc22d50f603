// Held-out synthetic tasks as `smoothread eval` reads them, and as training evaluates them with
// train.eval_samples: the test split of the generators (seeds never met in training), one input
// per task x context length x sample, scored with the tasks' checkers.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dataset/synthetic.h"
#include "infer/reader.h"
#include "model/config.h"

namespace sr {

struct EvalSet {
  std::vector<TaskKind> kinds;
  std::vector<int64_t> lengths;
  int64_t samples = 0;
  std::vector<SyntheticTask> tasks;  // kind-major, then length, then sample
  std::vector<ReadInput> inputs;     // tasks' question and context, same order
  std::vector<std::pair<size_t, size_t>> cell_of;  // (kind index, length index) of each input
};

// The tasks and their inputs; every input is checked against the model (validate_read_input),
// messages prefixed with `what`.
EvalSet make_eval_set(const std::vector<TaskKind>& kinds, const std::vector<int64_t>& lengths,
                      int64_t samples, const Haystack& haystack, uint64_t data_seed,
                      const ModelConfig& cfg, const std::string& what);

// Sums over the samples of one task and length: score (1 exact, partial credit where the task
// gives it), exact answers, rounds read, tokens prefilled and decoded.
struct EvalCell {
  double score = 0.0, correct = 0.0, rounds = 0.0, tokens = 0.0;
  int64_t n = 0;
};

// cells[kind][length] of the results of reading set.inputs (in their order).
std::vector<std::vector<EvalCell>> score_eval_set(const EvalSet& set, const std::vector<ReadOutput>& results);

}  // namespace sr
