// Hugging Face Qwen2 folders (config.json and safetensors weights) to and from smoothread's
// model (docs/formats.md, "Hugging Face checkpoints"). Parameter names are the same on both
// sides and layouts are the same ([out, in] row-major weights, rotate-half RoPE), so a tensor
// maps to the parameter of its name unchanged.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "model/config.h"
#include "model/params.h"
#include "train/safetensors.h"

namespace sr {

// DIR/config.json as a ModelConfig: model_type qwen2, no rope scaling, SiLU, a window on all
// layers or none. sliding_window >= 0 replaces the folder's window (0: full attention).
// UserError naming the file and the key otherwise.
ModelConfig read_hf_config(const std::string& dir, int64_t sliding_window = -1);

// Reads DIR's weights (model.safetensors, or the shards model.safetensors.index.json names),
// checks that they are exactly the parameters of cfg (names, shapes, dtypes BF16/F16/F32,
// finite values) and copies them into `tensors` (f32 on the CPU, one per spec of
// parameter_specs(cfg, 0, 1), same order). A tied model may also hold lm_head.weight when it
// equals the embedding; rotary inv_freq buffers are skipped. UserError otherwise.
void read_hf_weights(const std::string& dir, const ModelConfig& cfg, const std::vector<ParamSpec>& specs,
                     const std::vector<float*>& tensors);

// The checks of read_hf_weights that need no values (files, index, names, shapes, dtypes, and
// config.json's sizes against what the files hold), for a caller to run before it allocates a
// model of cfg's sizes. UserError otherwise.
void check_hf_weights(const std::string& dir, const ModelConfig& cfg);

// config.json of cfg as transformers reads it.
Json hf_config_json(const ModelConfig& cfg, SafetensorsDType dtype);

struct HfExportOptions {
  SafetensorsDType dtype = SafetensorsDType::f32;
  uint64_t max_shard_bytes = 5000000000ull;  // a shard holds at most this much tensor data (one
                                             // larger tensor gets a shard of its own)
  std::string tokenizer_json;  // written as tokenizer.json when not empty (the exact bytes)
};

// The identity of a tokenizer.json, as datasets and checkpoints record it: "bpe-" and the
// FNV-1a 64-bit hash of the file's exact bytes in 16 lowercase hex digits
// (tokenizer_identity_of_json_bytes of dataset/tokenizer.h).
std::string tokenizer_identity_of_json(std::string_view json_bytes);

// The Smooth Reading special tokens every checkpoint's vocabulary holds (the byte tokenizer's
// ids 256..264, in this order).
const std::vector<std::string>& smooth_reading_special_tokens();

// A Hugging Face folder's tokenizer.json made ready for a checkpoint.
struct HfTokenizer {
  std::string json;             // what the checkpoint stores: the folder's bytes unchanged, or with
                                // the missing Smooth Reading tokens appended to added_tokens
  std::string identity;         // tokenizer_identity_of_json(json)
  int64_t original_vocab = 0;   // highest id of the folder's tokenizer + 1
  int64_t vocab_needed = 0;     // highest id after the additions + 1
  std::vector<std::pair<std::string, int64_t>> added;  // the tokens added, with their ids
};

// Reads DIR/tokenizer.json; nullopt when the folder has none. Its model must be BPE and its
// vocabulary (highest id + 1, over model.vocab and added_tokens) at most config_vocab_size. Each
// Smooth Reading token not among its added tokens becomes one ("special": true), with the id of
// the same string in model.vocab when there is one, else the next id after the highest. UserError
// naming the file otherwise.
std::optional<HfTokenizer> read_hf_tokenizer(const std::string& dir, int64_t config_vocab_size);

// Writes the folder `out` (which must not exist): config.json and model.safetensors, or
// model-0000i-of-0000n.safetensors shards with model.safetensors.index.json. Everything is
// written under a temporary name and renamed to `out` at the end: on any error nothing is
// left at `out`. `tensors` hold the whole (TP-1) parameters of `specs`.
void write_hf_folder(const std::string& out, const ModelConfig& cfg, const std::vector<ParamSpec>& specs,
                     const std::vector<const float*>& tensors, const HfExportOptions& opt);

}  // namespace sr
