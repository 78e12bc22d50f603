// The Smooth Reading loop on an inference Engine, for many inputs at once (one engine sequence
// per input, a finished input's slot taken by the next one).
//
//   sr           <bos><query> Q, then per chunk <chunk> C <summary> and the model writes the
//                summary up to <read> or <stop>; the state (KV cache) is never reset, so the
//                summary after chunk k has seen every chunk through the model's own state.
//                On <stop>, or after the last chunk, <answer> and the model writes to <eos>.
//   one-round    <bos><query> Q <chunk> whole context <answer>, then the answer.
//   multi-round  a fresh state every round: <bos><query> Q <summary> S(k-1) <chunk> Ck
//                <summary>, the model writes Sk; only the summary is carried across rounds.
//
// These are the layouts the trajectory builder trains (dataset/trajectory.h). The context is cut
// by the data pipeline's chunker (dataset/chunker.h) at a budget no larger than the window.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dataset/trajectory.h"
#include "infer/engine.h"
#include "infer/sampler.h"

namespace sr {

struct ReadOptions {
  TrajectoryFormat mode = TrajectoryFormat::sr;
  int64_t chunk_tokens = 0;          // chunk budget; 0: default_chunk_tokens()
  int64_t max_summary_tokens = 256;  // a summary that reaches it ends the round (noted)
  int64_t max_answer_tokens = 256;   // an answer that reaches it ends (noted)
  SamplingConfig sampling;
  // Encodes questions and contexts and names the special ids; null: the byte tokenizer. Not
  // owned; must outlive read_all.
  const Tokenizer* tokenizer = nullptr;
};

// Half the window for a sliding-window model (the summary must also fit), else 2048.
int64_t default_chunk_tokens(const ModelConfig& cfg);

// UserError when the options do not fit the model: a chunk budget larger than the window
// (accuracy collapses there: the model never saw chunks it cannot hold), caps below 1, a
// vocabulary without the Smooth Reading special tokens.
void validate_read_options(const ReadOptions& opt, const ModelConfig& cfg);

struct ReadInput {
  std::string question;
  std::string context;
};

struct ReadOutput {
  std::string answer;
  std::vector<std::string> summaries;  // one per round read (sr, multi-round)
  std::vector<bool> summary_capped;    // the round ended at max_summary_tokens
  bool answer_capped = false;          // the answer ended at max_answer_tokens, not <eos>
  int64_t chunks = 0;                  // chunks of the context
  int64_t rounds = 0;                  // chunks read before answering
  bool stopped_early = false;          // <stop> before the last chunk
  std::vector<std::string> notes;      // what the loop did on the model's behalf
  int64_t prefill_tokens = 0;          // tokens the loop fed (question, chunks, markers)
  int64_t decode_tokens = 0;           // tokens the model wrote
  double prefill_seconds = 0.0;        // this input's share of each forward, by tokens
  double decode_seconds = 0.0;
  double seconds = 0.0;                // from its first forward to its last
};

struct ReadProgress {
  int64_t done = 0, total = 0, active = 0;
  int64_t tokens = 0;  // fed so far, all inputs
  double seconds = 0.0;
};

// UserError naming the input (by index, prefixed with `where(i)`) when its question or context
// is empty, or its question does not fit the window.
void validate_read_input(const ReadInput& in, const ModelConfig& cfg,
                         const std::string& where);

// Tokens input `in` may reach in one state (for sizing a full-attention cache).
int64_t read_context_bound(const ReadInput& in, const ReadOptions& opt);

// Reads every input with the engine (its batch size is the number read at once); results in
// input order. progress, when given, is called after every forward.
std::vector<ReadOutput> read_all(SequenceModel& engine, const std::vector<ReadInput>& inputs,
                                 const ReadOptions& opt,
                                 const std::function<void(const ReadProgress&)>& progress = {});

}  // namespace sr
