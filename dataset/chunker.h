// Splits a context into chunks of at most a token budget for Smooth Reading. With the byte
// tokenizer one byte is one token, so budgets are in bytes; with a BPE tokenizer a chunk's
// tokens are those of the chunk's text encoded alone (as the trajectory builder and the reader
// encode it). Offsets are always in bytes.
//
// A chunk ends after the highest-priority separator ("\n\n\n", "\n\n", "\n", ". ", " ") that
// fits in the budget, at its last occurrence (the largest chunk for that separator); the
// separator stays at the end of the chunk, so the chunks concatenated are the context exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sr {

class Tokenizer;

struct ChunkerConfig {
  // Highest priority first.
  std::vector<std::string> separators = {"\n\n\n", "\n\n", "\n", ". ", " "};
  // A separator-free run longer than the budget is cut at the budget (backed off to a UTF-8
  // character boundary) instead of being an error.
  bool hard_split = false;
  // Counts tokens; null (or the byte tokenizer): one token per byte. Not owned.
  const Tokenizer* tokenizer = nullptr;
};

// Chunk i is context[begin, end).
struct ChunkSpan {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const { return end - begin; }
};

// Throws UserError "chunk budget N is smaller than a word of M tokens at byte offset X" when no
// separator fits in the budget (unless hard_split); M counts the word and the separator after
// it, the smallest chunk possible there. An empty context gives no chunks.
std::vector<ChunkSpan> chunk_spans(std::string_view context, size_t budget,
                                   const ChunkerConfig& config = {});
std::vector<std::string> chunk_text(std::string_view context, size_t budget,
                                    const ChunkerConfig& config = {});

// Per-sample chunk budgets, drawn log-uniformly from [min, max] so every octave (128-256, ...,
// 2048-4096) is equally common: short chunks train many rounds, long ones few.
struct ChunkBudgetRange {
  size_t min = 128;
  size_t max = 4096;
  std::string str() const;  // "MIN:MAX"
};

// "MIN:MAX" or "N" (= N:N); UserError naming `what` (e.g. "--chunk-tokens") and the value.
ChunkBudgetRange parse_chunk_budget_range(const std::string& text, const std::string& what);

// Budget of sample `index`: a pure function of (range, seed, index).
size_t draw_chunk_budget(const ChunkBudgetRange& range, uint64_t seed, uint64_t index);

}  // namespace sr
