// `smoothread eval`: accuracy of a checkpoint on held-out synthetic long-context tasks (the test
// split, whose seeds never meet training's), per task and context length, read with the same
// loop as `smoothread read`; Markdown and JSON tables, with the mean rounds read and tokens per
// answer.
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/data_commands.h"
#include "cli/eval_set.h"
#include "cli/read_common.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "dataset/synthetic.h"

namespace po = boost::program_options;

namespace sr {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}


std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * x);
  return buf;
}
std::string fixed(double x, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  ReadCli cli;
  std::string tasks_s, lengths_s, out_json, out_md, out_samples, words;
  int64_t samples = 0;
  uint64_t data_seed = 0;
  int threads = 0;
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "checkpoint", po::value<std::string>(&cli.checkpoint)->required(),
      "a checkpoint: step directory, checkpoints/ directory or run directory")(
      "tasks", po::value<std::string>(&tasks_s)->default_value("all"),
      "comma-separated tasks (passkey, niah-single, niah-multikey, niah-multivalue, "
      "niah-multiquery, vartrack) or all")(
      "context-tokens", po::value<std::string>(&lengths_s)->default_value("1k,4k"),
      "comma-separated context lengths, e.g. 16k,32k,64k")(
      "samples", po::value<int64_t>(&samples)->default_value(20), "examples per task and length")(
      "data-seed", po::value<uint64_t>(&data_seed)->default_value(1234),
      "seed of the tasks (the test split of it, disjoint from training's)")(
      "threads", po::value<int>(&threads)->default_value(0),
      "CPU threads per rank (0: automatic, as train.threads: OMP_NUM_THREADS, else the cores "
      "/ local ranks)")(
      "words", po::value<std::string>(&words),
      "word list for the filler and keys (default /usr/share/dict/words, else built in)")(
      "out-json", po::value<std::string>(&out_json), "write the results as JSON here")(
      "out-md", po::value<std::string>(&out_md), "write the Markdown tables here (default: stdout)")(
      "out-samples", po::value<std::string>(&out_samples),
      "write every input's reading as JSONL here: task, length, question, expected and given "
      "answer, score, summaries");
  add_read_options(desc, cli);
  const char* usage =
      "--checkpoint DIR [--tasks all] [--context-tokens 1k,4k] [--samples 20] [--mode sr]\n"
      "Reads held-out synthetic tasks (the test split) with the model and scores the answers\n"
      "with the tasks' checkers: accuracy per task and context length, mean rounds read and\n"
      "tokens per answer.";
  po::variables_map vm;
  if (!parse_command_line("eval", usage, args, desc, {}, {}, vm)) return kExitOk;
  finish_read_options(cli, "eval");
  if (threads < 0)
    throw UserError("eval: --threads " + std::to_string(threads) +
                    ": expected 0 (cores / local ranks) or a positive thread count");
  const std::unique_ptr<ProcessGrid> grid = make_read_grid(cli, "eval");
  omp_set_num_threads(threads_per_rank(threads, grid ? grid->local_size : 1));
  // Every rank reads every input (the TP group splits the model); rank 0 reports and writes.
  const bool writer = !grid || grid->world_rank == 0;
  std::vector<TaskKind> kinds;
  for (const std::string& t : split_list(tasks_s)) {
    if (t == "all") {
      for (TaskKind k : all_task_kinds()) kinds.push_back(k);
    } else {
      kinds.push_back(parse_task_kind(t, "eval: --tasks"));
    }
  }
  if (kinds.empty()) throw UserError("eval: --tasks is empty");
  std::vector<int64_t> lengths;
  for (size_t l : parse_token_list("eval: --context-tokens", lengths_s)) lengths.push_back(int64_t(l));
  if (lengths.empty()) throw UserError("eval: --context-tokens is empty");
  if (samples < 1 || samples > 100000)
    throw UserError("eval: --samples " + std::to_string(samples) + ": expected 1 to 100000");
  for (const std::string& o : {out_json, out_md, out_samples}) {
    const auto parent = std::filesystem::path(o).parent_path();
    std::error_code ec;
    if (!o.empty() && !parent.empty() && !std::filesystem::is_directory(parent, ec))
      throw UserError("eval: " + o + ": the directory " + parent.string() + " does not exist");
  }

  const CheckpointInfo info = read_checkpoint_info(cli.checkpoint);
  const Tokenizer tokenizer = checkpoint_tokenizer(info);
  cli.read.tokenizer = &tokenizer;
  validate_read_options(cli.read, info.config);
  const Haystack haystack = words.empty() ? Haystack::default_words() : Haystack::from_word_file(words);
  const EvalSet set = make_eval_set(kinds, lengths, samples, haystack, data_seed, info.config, "eval: ");
  const std::vector<ReadInput>& inputs = set.inputs;

  std::unique_ptr<Engine> engine = make_engine(info.config, cli, inputs, grid.get());
  load_checkpoint_weights(info, *engine, grid.get());
  if (writer)
    std::fprintf(stderr, "eval: %s (step %lld), %zu tasks x %zu lengths x %lld samples, mode %s, %s, %d CPU thread(s); %s\n",
               info.dir.c_str(), (long long)info.step, kinds.size(), lengths.size(),
               (long long)samples, cli.mode.c_str(), cli.device.c_str(), omp_get_max_threads(),
               engine->memory_plan().c_str());
  double last_print = 0.0;
  const Timer timer;
  auto progress = [&](const ReadProgress& p) {
    if (!writer) return;
    if (p.seconds - last_print < 5.0 && p.done < p.total) return;
    last_print = p.seconds;
    std::fprintf(stderr, "eval: %lld/%lld answered, %.1fk tokens, %.0f tok/s, %.1f s\n",
                 (long long)p.done, (long long)p.total, p.tokens / 1e3,
                 p.seconds > 0 ? p.tokens / p.seconds : 0.0, p.seconds);
  };
  const std::vector<ReadOutput> results = read_all(*engine, inputs, cli.read, progress);
  if (!writer) return kExitOk;

  const std::vector<std::vector<EvalCell>> cells = score_eval_set(set, results);

  // Markdown: accuracy (mean score, %) per task x length, then rounds and tokens per answer.
  std::ostringstream md;
  md << "Accuracy (%) of " << info.dir << " (step " << info.step << "), mode " << cli.mode << ", "
     << samples << " held-out samples per cell, " << cli.read.sampling.str() << "\n\n";
  auto header = [&](const char* first) {
    md << "| " << first << " |";
    for (int64_t l : lengths) md << " " << l << " |";
    md << "\n|---|";
    for (size_t l = 0; l < lengths.size(); ++l) md << "---:|";
    md << "\n";
  };
  header("task");
  std::vector<EvalCell> total(lengths.size());
  for (size_t k = 0; k < kinds.size(); ++k) {
    md << "| " << task_kind_name(kinds[k]) << " |";
    for (size_t l = 0; l < lengths.size(); ++l) {
      const EvalCell& c = cells[k][l];
      md << " " << percent(c.score / double(c.n)) << " |";
      total[l].score += c.score;
      total[l].correct += c.correct;
      total[l].rounds += c.rounds;
      total[l].tokens += c.tokens;
      total[l].n += c.n;
    }
    md << "\n";
  }
  md << "| **mean** |";
  for (const EvalCell& c : total) md << " " << percent(c.score / double(c.n)) << " |";
  md << "\n\nMean rounds read / tokens per answer (prefilled + decoded)\n\n";
  header("task");
  for (size_t k = 0; k < kinds.size(); ++k) {
    md << "| " << task_kind_name(kinds[k]) << " |";
    for (const EvalCell& c : cells[k])
      md << " " << fixed(c.rounds / double(c.n), 1) << " / " << fixed(c.tokens / double(c.n), 0) << " |";
    md << "\n";
  }

  Json j;
  j["checkpoint"] = info.dir;
  j["step"] = info.step;
  j["mode"] = cli.mode;
  j["chunk_tokens"] = cli.read.chunk_tokens > 0 ? cli.read.chunk_tokens : default_chunk_tokens(info.config);
  j["samples_per_cell"] = samples;
  j["data_seed"] = data_seed;
  j["split"] = "test";
  j["sampling"] = cli.read.sampling.str();
  j["context_tokens"] = lengths;
  j["seconds"] = timer.seconds();
  Json rows = Json::array();
  for (size_t k = 0; k < kinds.size(); ++k)
    for (size_t l = 0; l < lengths.size(); ++l) {
      const EvalCell& c = cells[k][l];
      rows.push_back(Json{{"task", task_kind_name(kinds[k])},
                          {"context_tokens", lengths[l]},
                          {"samples", c.n},
                          {"accuracy", c.score / double(c.n)},
                          {"exact", c.correct / double(c.n)},
                          {"mean_rounds", c.rounds / double(c.n)},
                          {"mean_tokens", c.tokens / double(c.n)}});
    }
  j["results"] = rows;
  Json means = Json::array();
  for (size_t l = 0; l < lengths.size(); ++l)
    means.push_back(Json{{"context_tokens", lengths[l]},
                         {"accuracy", total[l].score / double(total[l].n)},
                         {"mean_rounds", total[l].rounds / double(total[l].n)},
                         {"mean_tokens", total[l].tokens / double(total[l].n)}});
  j["mean"] = means;

  auto write = [](const std::string& path, const std::string& text) {
    std::ofstream f(path + ".tmp", std::ios::trunc);
    f << text;
    f.close();
    if (!f) throw UserError("eval: cannot write " + path);
    std::filesystem::rename(path + ".tmp", path);
  };
  if (!out_json.empty()) write(out_json, j.dump(2) + "\n");
  if (!out_samples.empty()) {
    // One line per input, in the order read (task, then length, then sample): what the model
    // wrote beside what was expected, to see why a cell scores as it does.
    std::string lines;
    for (size_t i = 0; i < results.size(); ++i) {
      const SyntheticTask& task = set.tasks[i];
      Json line{{"task", task_kind_name(task.kind)},
                {"context_tokens", lengths[set.cell_of[i].second]},
                {"question", task.question},
                {"expected", task.answer},
                {"score", score(task, results[i].answer)}};
      const Json reading = read_result_json(results[i], cli.read);
      for (const auto& [key, value] : reading.items()) line[key] = value;
      lines += model_text_json_line(line);
    }
    write(out_samples, lines);
  }
  if (!out_md.empty())
    write(out_md, md.str());
  else
    std::cout << md.str();
  return kExitOk;
}

}  // namespace sr
