// `smoothread read`: Smooth Reading (or a baseline paradigm) over JSONL inputs with a trained
// checkpoint, one JSON result per input (docs/formats.md, "Reading").
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_commands.h"
#include "cli/read_common.h"
#include "core/error.h"
#include "core/timer.h"

namespace po = boost::program_options;

namespace sr {

namespace {

struct ReadRecord {
  ReadInput input;
  Json id;               // the input's "id", or its 0-based record index
  bool has_answer = false;
  std::string answer;
  std::string where;     // "FILE:LINE: "
};

std::vector<ReadRecord> read_inputs(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("read: cannot open --input " + path);
  std::vector<ReadRecord> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    Json v;
    try {
      v = parse_json(line);
    } catch (const JsonError& e) {
      throw UserError(where + "invalid JSON at column " + std::to_string(e.column) + ": " + e.what());
    }
    if (!v.is_object()) throw UserError(where + "expected a JSON object, found " + json_type_name(v));
    ReadRecord r;
    r.where = where;
    auto field = [&](const char* key, std::string& dst, bool required) {
      const auto it = v.find(key);
      if (it == v.end()) {
        if (required) throw UserError(where + "missing field '" + key + "'");
        return false;
      }
      if (!it->is_string())
        throw UserError(where + "field '" + key + "' must be a string, found " + json_type_name(*it));
      dst = it->get<std::string>();
      return true;
    };
    field("question", r.input.question, true);
    field("context", r.input.context, true);
    r.has_answer = field("answer", r.answer, false);
    const auto id = v.find("id");
    r.id = id != v.end() ? *id : Json(out.size());
    out.push_back(std::move(r));
  }
  if (out.empty()) throw UserError("read: --input " + path + " holds no record");
  return out;
}

}  // namespace

int cmd_read(const std::vector<std::string>& args) {
  ReadCli cli;
  std::string input, out = "-";
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "checkpoint", po::value<std::string>(&cli.checkpoint)->required(),
      "a checkpoint: step directory, checkpoints/ directory or run directory")(
      "input", po::value<std::string>(&input)->required(),
      "JSONL, one {\"question\", \"context\", [\"answer\"], [\"id\"]} object per line")(
      "out", po::value<std::string>(&out)->default_value("-"), "results as JSONL (-: stdout)");
  add_read_options(desc, cli);
  const char* usage =
      "--checkpoint DIR --input X.jsonl [--out Y.jsonl] [--mode sr|one-round|multi-round]\n"
      "Reads each input's context chunk by chunk: the model writes a summary after each chunk\n"
      "and reads on (<read>) or stops and answers (<stop>), its state carried across rounds.\n"
      "Progress goes to stderr.";
  po::variables_map vm;
  if (!parse_command_line("read", usage, args, desc, {}, {}, vm)) return kExitOk;
  finish_read_options(cli, "read");
  const std::unique_ptr<ProcessGrid> grid = make_read_grid(cli, "read");
  // Every rank reads every input (the TP group splits the model); rank 0 reports and writes.
  const bool writer = !grid || grid->world_rank == 0;

  const CheckpointInfo info = read_checkpoint_info(cli.checkpoint);
  const Tokenizer tokenizer = checkpoint_tokenizer(info);
  cli.read.tokenizer = &tokenizer;
  validate_read_options(cli.read, info.config);
  const std::vector<ReadRecord> records = read_inputs(input);
  std::vector<ReadInput> inputs;
  for (size_t i = 0; i < records.size(); ++i) {
    validate_read_input(records[i].input, info.config, records[i].where);
    inputs.push_back(records[i].input);
  }
  if (out != "-") {
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(out, input, ec))
      throw UserError("read: --out " + out + " is the input: refusing to overwrite it");
    const auto parent = std::filesystem::path(out).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      throw UserError("read: --out " + out + ": the directory " + parent.string() + " does not exist");
  }

  std::unique_ptr<Engine> engine = make_engine(info.config, cli, inputs, grid.get());
  load_checkpoint_weights(info, *engine, grid.get());
  if (writer)
    std::fprintf(stderr, "read: %s (step %lld), %zu inputs, mode %s, %s, %s; %s\n", info.dir.c_str(),
               (long long)info.step, inputs.size(), cli.mode.c_str(), cli.device.c_str(),
               cli.read.sampling.str().c_str(), engine->memory_plan().c_str());
  double last_print = 0.0;
  auto progress = [&](const ReadProgress& p) {
    if (!writer) return;
    if (p.seconds - last_print < 2.0 && p.done < p.total) return;
    last_print = p.seconds;
    std::fprintf(stderr, "read: %lld/%lld answered, %lld reading, %.1fk tokens, %.0f tok/s, %.1f s\n",
                 (long long)p.done, (long long)p.total, (long long)p.active, p.tokens / 1e3,
                 p.seconds > 0 ? p.tokens / p.seconds : 0.0, p.seconds);
  };
  const std::vector<ReadOutput> results = read_all(*engine, inputs, cli.read, progress);
  if (!writer) return kExitOk;
  {
    int64_t rounds = 0, capped = 0, answers_capped = 0;
    for (const ReadOutput& r : results) {
      rounds += r.rounds;
      capped += std::count(r.summary_capped.begin(), r.summary_capped.end(), true);
      answers_capped += r.answer_capped;
    }
    std::fprintf(stderr,
                 "read: done: %zu inputs, %.1f rounds per input; %lld summaries ended at "
                 "--max-summary-tokens without <read>/<stop>, %lld answers at --max-answer-tokens\n",
                 results.size(), double(rounds) / double(results.size()), (long long)capped,
                 (long long)answers_capped);
  }

  const std::string tmp = out == "-" ? "" : out + ".tmp";
  std::ofstream file;
  if (out != "-") {
    file.open(tmp, std::ios::trunc);
    if (!file) throw UserError("read: cannot write " + tmp);
  }
  std::ostream& os = out == "-" ? std::cout : file;
  for (size_t i = 0; i < results.size(); ++i) {
    Json j;
    j["id"] = records[i].id;
    j["question"] = records[i].input.question;
    if (records[i].has_answer) j["expected"] = records[i].answer;
    const Json result = read_result_json(results[i], cli.read);
    for (auto it = result.begin(); it != result.end(); ++it) j[it.key()] = it.value();
    os << model_text_json_line(j);
  }
  os.flush();
  if (out != "-") {
    file.close();
    if (!file) throw UserError("read: cannot write " + tmp);
    std::filesystem::rename(tmp, out);
  }
  return kExitOk;
}

}  // namespace sr
