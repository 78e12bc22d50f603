// Builds training samples (token ids + loss mask) from a reading example, in the Smooth Reading
// format and the two baselines' formats (DESIGN.md §5).
//
//   sr           <bos><query> Q <chunk> C1 <summary> S1* <read>* … <chunk> Ck <summary> Sk*
//                <stop>* <answer> A* <eos>*
//   one-round    <bos><query> Q <chunk> C1…Cn <answer> A* <eos>*
//   multi-round  one sample per round i (non-end-to-end: the state is the previous summary):
//                <bos><query> Q <summary> S(i-1) <chunk> Ci <summary> Si* <read|stop>*
//                and on the last round also <answer> A* <eos>*; round 1 has an empty S0.
//
// `*` marks trained tokens (loss mask 1). The <chunk>, <summary> and <answer> markers are not
// trained: the reader inserts them (after a chunk, and after <stop>), so the model only writes
// the summary text ending in <read>/<stop>, and the answer text ending in <eos>.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sr {

class Tokenizer;

enum class TrajectoryFormat { sr, one_round, multi_round };
// "sr", "one-round", "multi-round"; UserError naming `what` and the value otherwise.
TrajectoryFormat parse_trajectory_format(const std::string& text, const std::string& what);
const char* trajectory_format_name(TrajectoryFormat f);

// early: stop after the round where the clues are complete (stop_round) and leave the rest
// unread; end: always read every chunk, stopping after the last.
enum class StopPolicy { early, end };
StopPolicy parse_stop_policy(const std::string& text, const std::string& what);
const char* stop_policy_name(StopPolicy p);

struct ReadingExample {
  std::string question;
  std::vector<std::string> chunks;     // the context, in order
  std::string answer;
  std::vector<std::string> summaries;  // one per chunk; needed by sr and multi-round
  int stop_round = -1;                 // 0-based chunk after which the clues are complete; -1: none
};

struct TokenSample {
  std::vector<uint32_t> tokens;    // [n]
  std::vector<uint8_t> loss_mask;  // [n], 1 = trained
};

// "Target: …\nClues: …\nReason: …"
std::string format_summary(const std::string& target, const std::string& clues,
                           const std::string& reason);

// Summaries for a record that has none (JSONL without "summaries"): the Target restates the
// question, so it stays inside a sliding window; the clues are unknown.
//   "Target: Q\nClues: not recorded\nReason: read on"   (before the stop round)
//   "Target: Q\nClues: not recorded\nReason: ready to answer"   (from the stop round, or the
//   last chunk when there is none)
std::vector<std::string> placeholder_summaries(const std::string& question, size_t chunks,
                                               int stop_round);

// Number of rounds read under `policy`: stop_round + 1 when stopping early at a valid round,
// else every chunk.
size_t rounds_read(const ReadingExample& ex, StopPolicy policy);

// One sample (sr, one-round) or one per round read (multi-round). UserError when the example
// has no chunk, or sr/multi-round lacks one summary per chunk, or stop_round is past the end.
// Text is encoded with `tokenizer` (the byte tokenizer in the overload without one), which must
// have the Smooth Reading specials.
std::vector<TokenSample> build_samples(const ReadingExample& ex, TrajectoryFormat format,
                                       StopPolicy policy);
std::vector<TokenSample> build_samples(const ReadingExample& ex, TrajectoryFormat format,
                                       StopPolicy policy, const Tokenizer& tokenizer);

}  // namespace sr
