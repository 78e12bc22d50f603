#include "cli/read_common.h"

#include <mpi.h>

#include <algorithm>

#include "core/device_memory.h"
#include "core/error.h"

namespace po = boost::program_options;

namespace sr {

void add_read_options(po::options_description& desc, ReadCli& cli) {
  desc.add_options()(
      "mode", po::value<std::string>(&cli.mode)->default_value("sr"),
      "sr (Smooth Reading: state carried across rounds), one-round (whole context, then the "
      "answer) or multi-round (fresh state per round, only the summary carried)")(
      "chunk-tokens", po::value<int64_t>(&cli.read.chunk_tokens)->default_value(0),
      "chunk budget in tokens, at most the model's window (0: half the window; 2048 for full "
      "attention)")(
      "max-summary-tokens", po::value<int64_t>(&cli.read.max_summary_tokens)->default_value(256),
      "a summary that reaches this many tokens without <read>/<stop> ends its round")(
      "max-answer-tokens", po::value<int64_t>(&cli.read.max_answer_tokens)->default_value(256),
      "an answer that reaches this many tokens without <eos> ends")(
      "temperature", po::value<float>(&cli.read.sampling.temperature)->default_value(0.0f),
      "0: greedy; else sampling at this temperature")(
      "top-k", po::value<int64_t>(&cli.read.sampling.top_k)->default_value(0),
      "sample among the k most likely tokens (0: all)")(
      "top-p", po::value<float>(&cli.read.sampling.top_p)->default_value(1.0f),
      "sample within the smallest set of probability >= p (1: all)")(
      "seed", po::value<uint64_t>(&cli.read.sampling.seed)->default_value(0), "sampling seed")(
      "batch", po::value<int64_t>(&cli.batch)->default_value(8), "inputs read at once")(
      "max-step-tokens", po::value<int64_t>(&cli.max_step_tokens)->default_value(2048),
      "tokens of one forward pass (longer prefills are cut)")(
      "max-context", po::value<int64_t>(&cli.max_context)->default_value(0),
      "full-attention models: KV cache positions per input (0: enough for the longest input)")(
      "device", po::value<std::string>(&cli.device)->default_value("auto"), "auto, cpu or cuda")(
      "precision", po::value<std::string>(&cli.precision)->default_value("auto"),
      "auto (bf16 on CUDA, f32 on CPU), f32 or bf16")(
      "tp", po::value<int>(&cli.tp)->default_value(1),
      "tensor-parallel size: run under mpirun -np TP, the model split as in training");
}

void finish_read_options(ReadCli& cli, const std::string& command) {
  cli.read.mode = parse_trajectory_format(cli.mode, command + ": --mode");
  if (cli.tp < 1) throw UserError(command + ": --tp " + std::to_string(cli.tp) + ": expected 1 or more");
  if (cli.batch < 1 || cli.batch > 4096)
    throw UserError(command + ": --batch " + std::to_string(cli.batch) + ": expected 1 to 4096");
  if (cli.max_step_tokens < 1)
    throw UserError(command + ": --max-step-tokens " + std::to_string(cli.max_step_tokens) +
                    ": expected a positive token count");
  if (cli.max_context < 0)
    throw UserError(command + ": --max-context " + std::to_string(cli.max_context) +
                    ": expected 0 (from the inputs) or a positive token count");
  if (cli.device != "auto" && cli.device != "cpu" && cli.device != "cuda")
    throw UserError(command + ": --device " + cli.device + ": expected auto, cpu or cuda");
  if (cli.precision != "auto" && cli.precision != "f32" && cli.precision != "bf16")
    throw UserError(command + ": --precision " + cli.precision + ": expected auto, f32 or bf16");
  if (cli.device == "auto") cli.device = cuda_device_count() > 0 ? "cuda" : "cpu";
  if (cli.device == "cuda" && cuda_device_count() == 0)
    throw UserError(command + ": --device cuda: no CUDA device visible (or built without CUDA)");
  if (cli.precision == "auto") cli.precision = cli.device == "cuda" ? "bf16" : "f32";
  if (cli.precision == "bf16" && cli.device != "cuda")
    throw UserError(command + ": --precision bf16 needs --device cuda (the CPU computes in f32)");
  cli.read.sampling.validate();
}

std::unique_ptr<ProcessGrid> make_read_grid(const ReadCli& cli, const std::string& command) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != cli.tp)
    throw UserError(command + ": --tp " + std::to_string(cli.tp) + " needs exactly " +
                    std::to_string(cli.tp) + " processes (mpirun -np " + std::to_string(cli.tp) +
                    "), started with " + std::to_string(size));
  if (size == 1) return nullptr;
  return make_process_grid(cli.tp, cli.device == "cuda" ? Device::cuda : Device::cpu, 120.0);
}

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, const ReadCli& cli,
                                    const std::vector<ReadInput>& inputs, const ProcessGrid* grid) {
  EngineShape es;
  es.batch = std::max<int64_t>(1, std::min<int64_t>(cli.batch, int64_t(inputs.size())));
  es.max_step_tokens = cli.max_step_tokens;
  es.device = cli.device == "cuda" ? Device::cuda : Device::cpu;
  es.compute = cli.precision == "bf16" ? DType::bf16 : DType::f32;
  if (grid) {
    es.tp_comm = grid->tp_group.get();
    es.tp_rank = grid->tp_rank;
    es.tp_size = grid->tp;
  } else if (es.device == Device::cuda) {
    cuda_set_device(0);
  }
  if (cfg.sliding_window == 0) {
    ReadOptions opt = cli.read;
    if (opt.chunk_tokens == 0) opt.chunk_tokens = default_chunk_tokens(cfg);
    int64_t need = 1;
    for (const ReadInput& in : inputs) need = std::max(need, read_context_bound(in, opt));
    es.max_context = cli.max_context > 0 ? cli.max_context : need;
  }
  return std::make_unique<Engine>(cfg, es);
}

Tokenizer checkpoint_tokenizer(const CheckpointInfo& info) {
  return load_tokenizer(info.tokenizer_json.empty() ? "byte" : info.tokenizer_json);
}

std::string model_text_json_line(const Json& record) {
  return record.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json read_result_json(const ReadOutput& out, const ReadOptions& opt) {
  Json j;
  j["answer"] = out.answer;
  j["mode"] = trajectory_format_name(opt.mode);
  j["rounds"] = out.rounds;
  j["chunks"] = out.chunks;
  j["stopped_early"] = out.stopped_early;
  j["summaries"] = out.summaries;
  Json capped = Json::array();
  for (bool c : out.summary_capped) capped.push_back(c);
  j["summary_capped"] = capped;
  j["answer_capped"] = out.answer_capped;
  j["notes"] = out.notes;
  j["prefill_tokens"] = out.prefill_tokens;
  j["decode_tokens"] = out.decode_tokens;
  j["seconds"] = Json{{"prefill", out.prefill_seconds}, {"decode", out.decode_seconds},
                      {"total", out.seconds}};
  return j;
}


}  // namespace sr
