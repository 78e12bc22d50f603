#include "cli/eval_set.h"

#include "core/error.h"

namespace sr {

EvalSet make_eval_set(const std::vector<TaskKind>& kinds, const std::vector<int64_t>& lengths,
                      int64_t samples, const Haystack& haystack, uint64_t data_seed,
                      const ModelConfig& cfg, const std::string& what) {
  EvalSet set;
  set.kinds = kinds;
  set.lengths = lengths;
  set.samples = samples;
  for (size_t k = 0; k < kinds.size(); ++k)
    for (size_t l = 0; l < lengths.size(); ++l)
      for (int64_t i = 0; i < samples; ++i) {
        set.tasks.push_back(
            make_task(kinds[k], size_t(lengths[l]), haystack, data_seed, Split::test, uint64_t(i)));
        set.inputs.push_back({set.tasks.back().question, set.tasks.back().context});
        validate_read_input(set.inputs.back(), cfg, what + "task " + task_kind_name(kinds[k]) + ": ");
        set.cell_of.emplace_back(k, l);
      }
  return set;
}

std::vector<std::vector<EvalCell>> score_eval_set(const EvalSet& set, const std::vector<ReadOutput>& results) {
  SR_ASSERT(results.size() == set.tasks.size(), "score_eval_set: one result per task");
  std::vector<std::vector<EvalCell>> cells(set.kinds.size(), std::vector<EvalCell>(set.lengths.size()));
  for (size_t i = 0; i < results.size(); ++i) {
    EvalCell& c = cells[set.cell_of[i].first][set.cell_of[i].second];
    const double s = score(set.tasks[i], results[i].answer);
    c.score += s;
    c.correct += s == 1.0;
    c.rounds += double(results[i].rounds);
    c.tokens += double(results[i].prefill_tokens + results[i].decode_tokens);
    ++c.n;
  }
  return cells;
}

}  // namespace sr
