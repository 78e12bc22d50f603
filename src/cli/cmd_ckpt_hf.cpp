// `smoothread ckpt import-hf DIR --out CKPT` and `smoothread ckpt export-hf CKPT --out DIR`:
// Hugging Face Qwen2 folders to and from smoothread checkpoints (docs/formats.md).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>

#include "cli/commands.h"
#include "cli/data_commands.h"
#include "comm/process_grid.h"
#include "core/error.h"
#include "core/log.h"
#include "infer/load.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/hf.h"
#include "train/optimizer.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace sr {

namespace {

// The shortest decimal text that reads back as x.
std::string shortest(double x) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

// The [model] section of a run config for this model (what `train --config` reads).
std::string model_ini(const ModelConfig& c) {
  std::ostringstream s;
  s << "# The shape of the imported model: pass it to train with --config.\n[model]\n"
    << "hidden_size = " << c.hidden_size << "\nnum_hidden_layers = " << c.num_hidden_layers
    << "\nnum_attention_heads = " << c.num_attention_heads << "\nnum_key_value_heads = " << c.num_key_value_heads
    << "\nintermediate_size = " << c.intermediate_size << "\nvocab_size = " << c.vocab_size
    << "\nrope_theta = " << shortest(c.rope_theta) << "\nrms_norm_eps = " << shortest(c.rms_norm_eps)
    << "\nsliding_window = " << c.sliding_window
    << "\ntie_word_embeddings = " << (c.tie_word_embeddings ? "true" : "false")
    << "\nattention_bias = " << (c.attention_bias ? "true" : "false") << "\n";
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.flush();
  if (!f) throw UserError(path + ": cannot write");
}

}  // namespace

int cmd_ckpt_import_hf(const std::vector<std::string>& args) {
  const char* usage =
      "DIR --out CKPT [--sliding-window W] [--tp N]\n"
      "  DIR: a Hugging Face Qwen2 folder: config.json and model.safetensors (or\n"
      "  model-0000i-of-0000n.safetensors shards with model.safetensors.index.json), and\n"
      "  tokenizer.json (BPE) when it has one: stored in the checkpoint with the Smooth Reading\n"
      "  special tokens added (the embedding grows when needed). Writes CKPT/checkpoints/step_00000000\n"
      "  (step 0, zero AdamW moments) and CKPT/model.ini (the model section for train --config);\n"
      "  train starts from it with checkpoint.init_from = CKPT.\n"
      "Exit code 0: written; 2: a bad folder or option, with nothing written.";
  std::string dir, out;
  int64_t window = -1, tp = 1;
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "out", po::value<std::string>(&out)->required(), "the run directory to create")(
      "sliding-window", po::value<int64_t>(&window),
      "the window of the imported model (0: full attention); default: the folder's")(
      "tp", po::value<int64_t>(&tp)->default_value(1),
      "check that the model splits over N tensor-parallel ranks (any checkpoint loads into any TP "
      "layout, so the checkpoint itself is written unsplit)");
  po::options_description hidden;
  hidden.add_options()("dir", po::value<std::string>(&dir));
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  if (!parse_command_line("ckpt import-hf", usage, args, desc, hidden, pos, vm)) return kExitOk;
  if (dir.empty()) throw UserError("ckpt import-hf: expected a Hugging Face model folder (see smoothread ckpt import-hf --help)");
  if (vm.count("sliding-window") && window < 0)
    throw UserError("ckpt import-hf: --sliding-window " + std::to_string(window) + ": expected 0 (full attention) or a window");
  if (tp < 1) throw UserError("ckpt import-hf: --tp " + std::to_string(tp) + ": expected a positive rank count");
  if (out.empty()) throw UserError("ckpt import-hf: --out is empty, expected a directory to create");
  std::error_code ec;
  if (fs::exists(out, ec)) throw UserError("--out " + out + ": already exists (import-hf creates a new directory)");

  const ModelConfig folder_cfg = read_hf_config(dir, window);
  ModelConfig cfg = folder_cfg;
  // The tokenizer, with the Smooth Reading tokens added: the embedding (and an untied head) grows
  // when their ids pass the folder's vocab_size (to a multiple of --tp, which splits its rows).
  const std::optional<HfTokenizer> tok = read_hf_tokenizer(dir, folder_cfg.vocab_size);
  if (tok && tok->vocab_needed > cfg.vocab_size) cfg.vocab_size = (tok->vocab_needed + tp - 1) / tp * tp;
  if (tp > 1) {
    try {
      cfg.validate(int(tp));
    } catch (const UserError& e) {
      throw UserError("--tp " + std::to_string(tp) + ": " + e.what());
    }
  }
  // Everything about the weights but their values is checked before a model of config.json's
  // sizes is allocated: a config that lies about its sizes gets a message, not an allocation.
  check_hf_weights(dir, folder_cfg);
  RunShape rs;
  rs.max_tokens = 1;
  rs.lm_head_chunk = 1;
  rs.device = Device::cpu;
  Transformer model(cfg, rs, TensorParallel{});
  const std::vector<ParamSpec>& specs = model.specs();
  std::vector<float*> dst;
  for (const Tensor& t : model.params().all) dst.push_back(t.f32());
  // The folder's tensors have the folder's vocab_size: read the vocabulary-sized ones (embedding,
  // untied head) into buffers of that size, the rest straight into the model.
  const std::vector<ParamSpec> folder_specs = parameter_specs(folder_cfg, 0, 1);
  std::vector<std::vector<float>> vocab_rows;
  std::vector<float*> folder_dst = dst;
  for (size_t i = 0; i < specs.size(); ++i)
    if (folder_specs[i].global_shape != specs[i].global_shape) {
      vocab_rows.emplace_back(size_t(folder_specs[i].global_numel()));
      folder_dst[i] = vocab_rows.back().data();
    }
  read_hf_weights(dir, folder_cfg, folder_specs, folder_dst);
  if (tok) {
    // Rows of the new ids (and of rows the growth adds) start as the mean row of the original
    // vocabulary, so the new tokens start as an average token rather than as noise.
    const int64_t H = cfg.hidden_size, n0 = tok->original_vocab;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].name != "model.embed_tokens.weight" && specs[i].name != "lm_head.weight") continue;
      float* rows = dst[i];
      if (folder_dst[i] != dst[i]) std::copy_n(folder_dst[i], size_t(folder_cfg.vocab_size * H), rows);
      std::vector<double> mean(size_t(H), 0.0);
      for (int64_t r = 0; r < n0; ++r)
        for (int64_t k = 0; k < H; ++k) mean[size_t(k)] += rows[r * H + k];
      std::vector<float> m(static_cast<size_t>(H), 0.0f);
      for (int64_t k = 0; k < H; ++k) m[size_t(k)] = float(mean[size_t(k)] / double(n0));
      for (const auto& [name, id] : tok->added)
        if (id >= n0) std::copy(m.begin(), m.end(), rows + id * H);
      for (int64_t r = folder_cfg.vocab_size; r < cfg.vocab_size; ++r) std::copy(m.begin(), m.end(), rows + r * H);
    }
  }

  // Written under a temporary name next to CKPT and renamed at the end: nothing at CKPT unless
  // complete.
  const fs::path target = fs::absolute(fs::path(out)).lexically_normal();
  const std::string final_dir = target.has_filename() ? target.string() : target.parent_path().string();
  if (!fs::is_directory(fs::path(final_dir).parent_path(), ec))
    throw UserError("--out " + out + ": its parent directory does not exist");
  const std::string tmp = final_dir + ".tmp-import-" + std::to_string(::getpid());
  auto grid = make_process_grid(1, Device::cpu, 0.0, MPI_COMM_SELF);
  AdamW optimizer(AdamWConfig{}, specs, whole_segments(specs), Device::cpu);
  TrainState state;
  state.step = 0;
  state.run_id = "import-hf";
  if (tok) {
    state.tokenizer = tok->identity;
    state.tokenizer_json = tok->json;
  }
  try {
    fs::remove_all(tmp);
    save_checkpoint(tmp, *grid, model, optimizer, state, CheckpointPolicy{});
    write_file(tmp + "/model.ini", model_ini(cfg));
    // Next to model.ini: the file to tokenize training data with.
    if (tok) write_file(tmp + "/tokenizer.json", tok->json);
    if (fs::exists(final_dir)) throw UserError("--out " + out + ": appeared while importing; left untouched");
    fs::rename(tmp, final_dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw UserError("--out " + out + ": " + e.code().message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  if (log_rank() == 0) {
    std::printf("imported %s (%s) into %s/checkpoints/step_00000000; model config %s/model.ini\n",
                dir.c_str(), cfg.summary().c_str(), out.c_str(), out.c_str());
    if (tok) {
      std::string added;
      for (const auto& [name, id] : tok->added) added += " " + name + "=" + std::to_string(id);
      std::printf("tokenizer %s: %s/tokenizer.json (tokenize training data with it); %zu special token(s) added%s%s\n",
                  tok->identity.c_str(), out.c_str(), tok->added.size(), added.empty() ? "" : ":", added.c_str());
      if (cfg.vocab_size != folder_cfg.vocab_size)
        std::printf("vocab_size %lld -> %lld (new embedding rows start as the mean row)\n",
                    (long long)folder_cfg.vocab_size, (long long)cfg.vocab_size);
    } else {
      std::printf("no tokenizer.json in %s: the checkpoint records none (datasets of the byte tokenizer fit it)\n",
                  dir.c_str());
    }
  }
  return kExitOk;
}

int cmd_ckpt_export_hf(const std::vector<std::string>& args) {
  const char* usage =
      "CKPT --out DIR [--dtype f32|bf16] [--max-shard-bytes N]\n"
      "  CKPT: a checkpoint (step directory, checkpoints/ or a run directory), any layout. Writes\n"
      "  the Hugging Face Qwen2 folder DIR: config.json, safetensors, and the checkpoint's\n"
      "  tokenizer.json when it has one.\n"
      "Exit code 0: written; 2: a bad checkpoint or option, with nothing written.";
  std::string ckpt, out, dtype;
  HfExportOptions opt;
  int64_t max_shard_bytes = 0;
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "out", po::value<std::string>(&out)->required(), "the Hugging Face folder to create")(
      "dtype", po::value<std::string>(&dtype)->default_value("f32"),
      "the weights' dtype: f32 (exactly the checkpoint's values) or bf16")(
      "max-shard-bytes", po::value<int64_t>(&max_shard_bytes)->default_value(int64_t(opt.max_shard_bytes)),
      "tensor bytes per safetensors shard; more than one shard adds model.safetensors.index.json");
  po::options_description hidden;
  hidden.add_options()("checkpoint", po::value<std::string>(&ckpt));
  po::positional_options_description pos;
  pos.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse_command_line("ckpt export-hf", usage, args, desc, hidden, pos, vm)) return kExitOk;
  if (ckpt.empty()) throw UserError("ckpt export-hf: expected a checkpoint (see smoothread ckpt export-hf --help)");
  if (dtype == "f32")
    opt.dtype = SafetensorsDType::f32;
  else if (dtype == "bf16")
    opt.dtype = SafetensorsDType::bf16;
  else
    throw UserError("ckpt export-hf: --dtype " + dtype + ": expected f32 or bf16");
  if (max_shard_bytes < 1)
    throw UserError("ckpt export-hf: --max-shard-bytes " + std::to_string(max_shard_bytes) + ": expected a positive byte count");
  opt.max_shard_bytes = uint64_t(max_shard_bytes);
  if (out.empty()) throw UserError("ckpt export-hf: --out is empty, expected a folder to create");
  std::error_code ec;
  if (fs::exists(out, ec)) throw UserError("--out " + out + ": already exists (export-hf creates a new folder)");
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(ckpt);
  } catch (const UserError& e) {
    // Its messages name the option of read and eval.
    std::string m = e.what();
    if (m.rfind("--checkpoint ", 0) == 0) m = "ckpt export-hf " + m.substr(13);
    throw UserError(m);
  }
  RunShape rs;
  rs.max_tokens = 1;
  rs.lm_head_chunk = 1;
  rs.device = Device::cpu;
  Transformer model(info.config, rs, TensorParallel{});
  auto grid = make_process_grid(1, Device::cpu, 0.0, MPI_COMM_SELF);
  TrainState tokenizer;
  load_checkpoint_params(info.dir, *grid, model, &tokenizer);
  opt.tokenizer_json = tokenizer.tokenizer_json;
  std::vector<const float*> src;
  for (const Tensor& t : model.params().all) src.push_back(t.f32());
  write_hf_folder(out, info.config, model.specs(), src, opt);
  if (log_rank() == 0)
    std::printf("exported %s (step %lld) to %s\n", info.dir.c_str(), (long long)info.step, out.c_str());
  return kExitOk;
}

}  // namespace sr
