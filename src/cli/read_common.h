// What `smoothread read`, `smoothread eval` and `smoothread bench read` share: the options of
// the reading loop and the engine, opening a checkpoint as an inference engine, and one result
// as a JSON object.
#pragma once
#include <boost/program_options.hpp>

#include <memory>
#include <string>
#include <vector>

#include "comm/process_grid.h"
#include "core/json.h"
#include "dataset/tokenizer.h"
#include "infer/engine.h"
#include "infer/load.h"
#include "infer/reader.h"

namespace sr {

struct ReadCli {
  std::string checkpoint;
  std::string mode = "sr";
  std::string device = "auto";      // auto: cuda when a GPU is visible, else cpu
  std::string precision = "auto";   // auto: bf16 on CUDA, f32 on CPU
  int64_t batch = 8;                // inputs read at once
  int64_t max_step_tokens = 2048;   // tokens of one forward (prefills are cut to it)
  int64_t max_context = 0;          // full attention: KV cache positions (0: from the inputs)
  int tp = 1;                       // tensor-parallel ranks (mpirun -np tp)
  ReadOptions read;
};

// Adds --mode, --chunk-tokens, --max-summary-tokens, --max-answer-tokens, --temperature,
// --top-k, --top-p, --seed, --batch, --max-step-tokens, --max-context, --device, --precision,
// --tp to `desc`.
void add_read_options(boost::program_options::options_description& desc, ReadCli& cli);
// Checks what the options alone can tell (modes, ranges, TP); `command` prefixes messages.
void finish_read_options(ReadCli& cli, const std::string& command);

// The process grid of tensor-parallel reading (every rank reads every input; the TP group splits
// the model), or null for one process. UserError when the world size is not --tp.
std::unique_ptr<ProcessGrid> make_read_grid(const ReadCli& cli, const std::string& command);

// The engine for `cfg` with the CLI's device, precision and sizes (and the grid's TP group);
// the KV cache of a full-attention model is sized for the longest of `inputs` (or --max-context).
std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, const ReadCli& cli,
                                    const std::vector<ReadInput>& inputs, const ProcessGrid* grid);

// The checkpoint's own vocabulary: its tokenizer.json, else the byte tokenizer.
Tokenizer checkpoint_tokenizer(const CheckpointInfo& info);

// One result as the JSON object `read` writes (docs/formats.md).
Json read_result_json(const ReadOutput& out, const ReadOptions& opt);

// A JSON Lines record that holds model-written text. A byte-level model can write any bytes, and
// a capped answer can end inside a character: invalid UTF-8 is written as U+FFFD, not refused.
std::string model_text_json_line(const Json& record);

}  // namespace sr
