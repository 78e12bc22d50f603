#include "dataset/chunker.h"

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "dataset/bpe_tokenizer.h"
#include "dataset/tokenizer.h"

namespace sr {

namespace {

// End of the chunk starting at `pos` when the rest is longer than `budget`: just past the last
// occurrence, inside context[pos, pos + budget), of the highest-priority separator present.
// Returns pos when no separator fits.
size_t split_point(std::string_view context, size_t pos, size_t budget,
                   const ChunkerConfig& config) {
  std::string_view window = context.substr(pos, budget);
  for (const std::string& sep : config.separators) {
    if (sep.empty() || sep.size() > window.size()) continue;
    size_t at = window.rfind(sep);
    if (at != std::string_view::npos) return pos + at + sep.size();
  }
  return pos;
}

// Smallest chunk that could start at `pos`: the separator-free run and the separator ending it
// (or the rest of the text), for the error message.
size_t word_length(std::string_view context, size_t pos, const ChunkerConfig& config) {
  size_t end = context.size();
  for (const std::string& sep : config.separators) {
    if (sep.empty()) continue;
    size_t at = context.find(sep, pos);
    if (at != std::string_view::npos && at + sep.size() < end) end = at + sep.size();
  }
  return end - pos;
}

// Moves a hard cut back off UTF-8 continuation bytes (10xxxxxx) so a character is not split,
// unless the character alone is longer than the budget.
size_t utf8_cut(std::string_view context, size_t pos, size_t cut) {
  size_t c = cut;
  while (c > pos && c < context.size() && (uint8_t(context[c]) & 0xC0) == 0x80 && cut - c < 3) --c;
  return c > pos ? c : cut;
}

size_t token_count(const Tokenizer& tok, std::string_view text) {
  thread_local std::vector<uint32_t> ids;
  ids.clear();
  tok.encode_append(text, ids);
  return ids.size();
}

// The longest prefix of context[pos, ...) (in bytes) whose tokens, encoded alone, are about
// `budget`. Every token covers at least one byte, so the prefix is at least `budget` bytes. For
// NFC text the tokens' bytes are the text's, so one encoding of a window gives the prefix;
// otherwise it is searched by bisection. The caller checks the chunk it cuts there.
size_t token_window(const Tokenizer& tok, std::string_view context, size_t pos, size_t budget) {
  const size_t rem = context.size() - pos;
  size_t window = std::min(rem, budget * 6 + 16);
  thread_local std::vector<uint32_t> ids;
  for (;;) {
    const std::string_view w = context.substr(pos, window);
    if (!is_nfc(w)) break;
    ids.clear();
    tok.encode_append(w, ids);
    if (ids.size() <= budget) {
      if (window == rem) return rem;
      window = std::min(rem, window * 2);
      continue;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < budget; ++i) bytes += tok.decode_one(ids[i]).size();
    return std::max(bytes, budget);
  }
  size_t lo = std::min(budget, rem), hi = rem;  // tokens(lo bytes) <= budget
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (token_count(tok, context.substr(pos, mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

std::vector<ChunkSpan> chunk_spans_bpe(std::string_view context, size_t budget,
                                       const ChunkerConfig& config) {
  const Tokenizer& tok = *config.tokenizer;
  std::vector<ChunkSpan> spans;
  size_t pos = 0;
  while (pos < context.size()) {
    size_t window = token_window(tok, context, pos, budget);
    if (window == context.size() - pos && token_count(tok, context.substr(pos)) <= budget) {
      spans.push_back({pos, context.size()});
      break;
    }
    size_t end = pos;
    // Cut at the best separator in the window; a BPE prefix can hold more tokens than the text
    // it came from, so shrink until the chunk fits.
    while (window > 0) {
      end = split_point(context, pos, window, config);
      if (end == pos) {
        if (!config.hard_split) {
          const size_t word = word_length(context, pos, config);
          throw UserError("chunk budget " + std::to_string(budget) + " is smaller than a word of " +
                          std::to_string(token_count(tok, context.substr(pos, word))) +
                          " tokens at byte offset " + std::to_string(pos));
        }
        end = utf8_cut(context, pos, pos + window);
      }
      if (token_count(tok, context.substr(pos, end - pos)) <= budget) break;
      window = end - pos - 1;
    }
    if (window == 0) {  // one character, whatever its tokens
      end = pos + 1;
      while (end < context.size() && (uint8_t(context[end]) & 0xC0) == 0x80 && end - pos < 4) ++end;
    }
    spans.push_back({pos, end});
    pos = end;
  }
  return spans;
}

}  // namespace

std::vector<ChunkSpan> chunk_spans(std::string_view context, size_t budget,
                                   const ChunkerConfig& config) {
  if (budget == 0) throw UserError("chunk budget must be at least 1 token, got 0");
  if (config.tokenizer && !config.tokenizer->is_byte()) return chunk_spans_bpe(context, budget, config);
  std::vector<ChunkSpan> spans;
  size_t pos = 0;
  while (context.size() - pos > budget) {
    size_t end = split_point(context, pos, budget, config);
    if (end == pos) {
      if (!config.hard_split)
        throw UserError("chunk budget " + std::to_string(budget) + " is smaller than a word of " +
                        std::to_string(word_length(context, pos, config)) +
                        " tokens at byte offset " + std::to_string(pos));
      end = utf8_cut(context, pos, pos + budget);
    }
    spans.push_back({pos, end});
    pos = end;
  }
  if (pos < context.size()) spans.push_back({pos, context.size()});
  return spans;
}

std::vector<std::string> chunk_text(std::string_view context, size_t budget,
                                    const ChunkerConfig& config) {
  std::vector<std::string> out;
  for (const ChunkSpan& s : chunk_spans(context, budget, config))
    out.emplace_back(context.substr(s.begin, s.size()));
  return out;
}

std::string ChunkBudgetRange::str() const {
  return std::to_string(min) + ":" + std::to_string(max);
}

ChunkBudgetRange parse_chunk_budget_range(const std::string& text, const std::string& what) {
  auto bad = [&]() {
    return UserError(what + " '" + text +
                     "': expected MIN:MAX or N, positive integers with MIN <= MAX");
  };
  auto parse = [&](const std::string& s) -> size_t {
    if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos)
      throw bad();
    size_t v = std::stoull(s);
    if (v == 0) throw bad();
    return v;
  };
  size_t colon = text.find(':');
  ChunkBudgetRange r;
  if (colon == std::string::npos) {
    r.min = r.max = parse(text);
  } else {
    r.min = parse(text.substr(0, colon));
    r.max = parse(text.substr(colon + 1));
  }
  if (r.min > r.max) throw bad();
  return r;
}

size_t draw_chunk_budget(const ChunkBudgetRange& range, uint64_t seed, uint64_t index) {
  SR_ASSERT(range.min >= 1 && range.min <= range.max, "chunk budget range " + range.str());
  if (range.min == range.max) return range.min;
  double u = random_uniform(seed, hash_name("chunk-budget"), index);
  double lo = std::log(double(range.min)), hi = std::log(double(range.max) + 1.0);
  size_t b = size_t(std::exp(lo + u * (hi - lo)));
  // Rounding at the ends of the range.
  if (b < range.min) b = range.min;
  if (b > range.max) b = range.max;
  return b;
}

}  // namespace sr
