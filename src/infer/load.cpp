#include "infer/load.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "comm/process_grid.h"
#include "core/error.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace fs = std::filesystem;

namespace sr {

namespace {

std::map<std::string, std::string> manifest_of(const std::string& dir) {
  std::ifstream in(dir + "/manifest");
  if (!in) throw UserError(dir + "/manifest: missing or unreadable (not a complete checkpoint)");
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find(" = ");
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return kv;
}

}  // namespace

CheckpointInfo read_checkpoint_info(const std::string& path) {
  if (path.empty()) throw UserError("--checkpoint: expected a checkpoint directory");
  if (!fs::exists(path)) throw UserError("--checkpoint " + path + ": no such directory");
  std::string dir;
  if (fs::exists(path + "/manifest") || fs::exists(path + "/latest"))
    dir = resolve_checkpoint_dir(path);
  else if (fs::exists(path + "/checkpoints/latest"))
    dir = resolve_checkpoint_dir(path + "/checkpoints");
  else
    throw UserError("--checkpoint " + path +
                    ": no checkpoint there (expected a step directory with a manifest, a "
                    "checkpoints/ directory with latest, or a run directory holding one)");
  std::map<std::string, std::string> kv = manifest_of(dir);
  if (kv["format"] != "smoothread-checkpoint")
    throw UserError(dir + "/manifest: not a smoothread checkpoint manifest");
  auto num = [&](const std::string& key) -> double {
    const auto it = kv.find(key);
    char* end = nullptr;
    const double v = it == kv.end() ? 0.0 : std::strtod(it->second.c_str(), &end);
    if (it == kv.end() || it->second.empty() || *end)
      throw UserError(dir + "/manifest: key '" + key + "' missing or not a number");
    return v;
  };
  auto flag = [&](const std::string& key) {
    const std::string& v = kv[key];
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    throw UserError(dir + "/manifest: key '" + key + "' missing or not true/false");
  };
  CheckpointInfo info;
  info.dir = dir;
  if (fs::exists(dir + "/tokenizer.json")) info.tokenizer_json = dir + "/tokenizer.json";
  info.step = int64_t(num("step"));
  ModelConfig& c = info.config;
  c.hidden_size = int64_t(num("model.hidden_size"));
  c.num_hidden_layers = int64_t(num("model.num_hidden_layers"));
  c.num_attention_heads = int64_t(num("model.num_attention_heads"));
  c.num_key_value_heads = int64_t(num("model.num_key_value_heads"));
  c.intermediate_size = int64_t(num("model.intermediate_size"));
  c.vocab_size = int64_t(num("model.vocab_size"));
  c.rope_theta = num("model.rope_theta");
  c.sliding_window = int64_t(num("model.sliding_window"));
  c.tie_word_embeddings = flag("model.tie_word_embeddings");
  c.attention_bias = flag("model.attention_bias");
  if (kv.count("model.rms_norm_eps")) c.rms_norm_eps = num("model.rms_norm_eps");
  c.validate(1);
  return info;
}

void load_checkpoint_weights(const CheckpointInfo& info, Engine& engine, const ProcessGrid* grid) {
  // The training loader fills a training model (and optimizer, whose moments are dropped);
  // one token of activations keeps the temporary small.
  RunShape rs;
  rs.max_tokens = 1;
  rs.lm_head_chunk = 1;
  rs.device = Device::cpu;
  const EngineShape& es = engine.shape();
  std::unique_ptr<ProcessGrid> own;
  if (!grid) {
    SR_ASSERT(es.tp_size == 1, "a tensor-parallel engine loads over its process grid");
    own = make_process_grid(1, Device::cpu, 0.0, MPI_COMM_SELF);
    grid = own.get();
  }
  SR_ASSERT(grid->tp == es.tp_size && grid->tp_rank == es.tp_rank, "grid and engine TP layouts differ");
  // The CPU model only holds the slices; its communicator is never used.
  Transformer model(info.config, rs, TensorParallel{nullptr, es.tp_rank, es.tp_size});
  const std::vector<ParamSpec>& specs = model.specs();
  AdamW optimizer(AdamWConfig{}, specs, whole_segments(specs), Device::cpu);
  TrainState state;
  // The run directory that holds the checkpoint: <out_dir>/checkpoints/step_N.
  const std::string out_dir = fs::path(info.dir).parent_path().parent_path().string();
  {
    // The loader's log lines go to stderr: `read` may be writing its results to stdout.
    std::fflush(stdout);
    const int saved = ::dup(1);
    ::dup2(2, 1);
    struct Restore {
      int fd;
      ~Restore() {
        std::fflush(stdout);
        ::dup2(fd, 1);
        ::close(fd);
      }
    } restore{saved};
    load_checkpoint(out_dir, info.dir, false, *grid, model, optimizer, state);
  }
  engine.load_weights(model.params());
}

}  // namespace sr
