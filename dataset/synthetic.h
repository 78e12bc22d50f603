// Synthetic long-context tasks whose Smooth Reading summaries follow from rules: passkey
// retrieval, needle-in-a-haystack (single, multi-key with distractor keys, multi-value,
// multi-query) and RULER-style variable tracking. Needles are whole sentences inserted at
// sentence boundaries of a haystack (words from a word list, or text files). Everything is a
// pure function of (seed, split, sample index), so a dataset is reproducible; train and test use
// disjoint seed streams.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "dataset/chunker.h"
#include "dataset/trajectory.h"

namespace sr {

enum class TaskKind { passkey, niah_single, niah_multikey, niah_multivalue, niah_multiquery, vartrack };
std::vector<TaskKind> all_task_kinds();
const char* task_kind_name(TaskKind k);  // "passkey", "niah-single", ..., "vartrack"
TaskKind parse_task_kind(const std::string& text, const std::string& what);
// `text` is one task name, "mix" (all of them, in all_task_kinds() order) or a comma-separated
// list of names, kept in the order given. UserError (naming the bad item and listing the valid
// names) for an unknown name, an empty item, "mix" inside a list or a name listed twice.
std::vector<TaskKind> parse_task_list(const std::string& text, const std::string& what);

enum class Split { train, test };
Split parse_split(const std::string& text, const std::string& what);
const char* split_name(Split s);

// Filler text for the contexts, and the words that keys are made of.
class Haystack {
 public:
  // /usr/share/dict/words when present, else the built-in list.
  static Haystack default_words();
  // A small built-in word list, so everything runs on a machine without a dictionary.
  static Haystack builtin_words();
  // Words read from a file, one per line; only lowercase ASCII words of 3-10 letters are kept.
  static Haystack from_word_file(const std::string& path);
  // Text files, concatenated; filler is taken from them verbatim. UserError when a file cannot be
  // read or all are empty.
  static Haystack from_text_files(const std::vector<std::string>& paths);

  // Exactly n bytes of filler.
  std::string filler(size_t n, Rng& rng) const;
  const std::string& word(Rng& rng) const;
  // Where the haystack comes from, for dataset attributes.
  const std::string& source() const { return source_; }

 private:
  std::vector<std::string> words_;  // filler for word haystacks, and keys
  std::string text_;                // filler for text haystacks
  std::string source_;
};

struct Needle {
  size_t offset = 0;  // byte offset of the needle sentence in the context
  size_t length = 0;
  bool relevant = false;  // false for distractors
  std::string clue;       // what a summary records once this needle is read (relevant only)
};

struct SyntheticTask {
  TaskKind kind = TaskKind::passkey;
  std::string question;
  std::string context;
  std::string answer;
  std::string target;               // the task restated, the summaries' "Target:" line
  std::vector<std::string> values;  // what a correct answer names (numbers or variable names)
  std::vector<Needle> needles;      // in context order
};

// Task `index` of the (seed, split) stream with a context of `context_tokens` tokens (bytes),
// exact unless the needles alone are longer.
SyntheticTask make_task(TaskKind kind, size_t context_tokens, const Haystack& haystack,
                        uint64_t seed, Split split, uint64_t index);

// Summaries after each chunk, from where the needles landed: a needle is read in the chunk that
// holds its last byte. stop_round is the chunk where the last relevant needle is read.
struct SummaryTrace {
  std::vector<std::string> summaries;  // [chunks.size()]
  int stop_round = -1;
};
SummaryTrace trace_summaries(const SyntheticTask& task, const std::vector<ChunkSpan>& chunks);

// The task chunked at `budget`, with its summaries, ready for build_samples().
// The task chunked at `budget` tokens of `tokenizer` (null: the byte tokenizer).
ReadingExample make_reading_example(const SyntheticTask& task, size_t budget,
                                    const Tokenizer* tokenizer = nullptr);

// 1 when the answer names exactly the needed values; otherwise the number of needed values named
// divided by max(needed, value-like tokens named), so partial or padded answers score below 1.
double score(const SyntheticTask& task, const std::string& model_answer);

// Seed of the split's stream: train and test never share one.
uint64_t split_seed(uint64_t seed, Split split);

// Context length of sample `index` of the (seed, split) stream: one of `lengths`, drawn
// uniformly (always lengths[0] when there is one).
size_t draw_context_tokens(const std::vector<size_t>& lengths, uint64_t seed, Split split,
                           uint64_t index);

}  // namespace sr
