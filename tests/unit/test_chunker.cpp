// The chunker: boundaries at the highest-priority separator, budgets never exceeded, exact
// reconstruction, deterministic budgets, and the error for a word longer than the budget.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "dataset/chunker.h"

namespace sr {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x;
  return s;
}

TEST(Chunker, PrefersTheHighestPrioritySeparatorInBudget) {
  // "\n\n" fits in the first 21 bytes, so it wins over the later "\n" and ". " splits.
  const std::string text = "aa bb\n\ncc. dd\nee ff gg hh ii";
  auto chunks = chunk_text(text, 21);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], "aa bb\n\n");
  EXPECT_EQ(chunks[1], "cc. dd\nee ff gg hh ii");
}

TEST(Chunker, GreedyLastOccurrenceOfTheChosenSeparator) {
  // No newline: the last ". " within 16 bytes, kept at the end of the chunk.
  const std::string text = "ab. cd. ef gh. ij kl mn";
  auto chunks = chunk_text(text, 16);
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], "ab. cd. ef gh. ");
  // Falls back to spaces when no ". " fits.
  auto words = chunk_text("one two three four", 9);
  EXPECT_EQ(words, (std::vector<std::string>{"one two ", "three ", "four"}));
}

TEST(Chunker, TripleNewlineBeatsDoubleNewline) {
  const std::string text = "a\n\n\nb\n\nc d e f g h";
  auto chunks = chunk_text(text, 12);
  EXPECT_EQ(chunks[0], "a\n\n\n");
}

TEST(Chunker, SeparatorStraddlingTheBudgetIsNotUsed) {
  // ". " would end at byte 9, one past the budget of 8: the split falls back to the space.
  EXPECT_EQ(chunk_text("abc def. ghi", 8)[0], "abc ");
  EXPECT_EQ(chunk_text("abc def. ghi", 9)[0], "abc def. ");
}

TEST(Chunker, BudgetsNeverExceededAndTextReconstructedExactly) {
  Rng rng(7, 1);
  // Words of at most 6 bytes, each followed by a separator of at most 2 bytes (or newlines, which
  // split after their first byte), so every budget >= 8 works.
  const char* words[] = {"word", "x", "longer", "\xC3\xA9t\xC3\xA9", "z."};
  const char* seps[] = {" ", ". ", "\n", "\n\n", "\n\n\n"};
  for (int trial = 0; trial < 50; ++trial) {
    std::string text;
    int n = int(rng.range(0, 200));
    for (int i = 0; i < n; ++i) text += std::string(words[rng.below(5)]) + seps[rng.below(5)];
    for (size_t budget : {8u, 13u, 64u, 500u}) {
      auto spans = chunk_spans(text, budget);
      std::string rebuilt;
      size_t expect_begin = 0;
      for (const ChunkSpan& s : spans) {
        EXPECT_LE(s.size(), budget);
        EXPECT_GT(s.size(), 0u);
        EXPECT_EQ(s.begin, expect_begin);
        expect_begin = s.end;
        rebuilt += text.substr(s.begin, s.size());
      }
      EXPECT_EQ(rebuilt, text);
    }
  }
}

TEST(Chunker, ShortTextIsOneChunkAndEmptyTextNone) {
  EXPECT_EQ(chunk_text("short text", 100), std::vector<std::string>{"short text"});
  EXPECT_TRUE(chunk_text("", 100).empty());
}

TEST(Chunker, WordLongerThanBudgetIsAUserError) {
  const std::string text = "tiny words then supercalifragilistic end";
  try {
    chunk_text(text, 10);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "chunk budget 10 is smaller than a word of 21 tokens at byte offset 16");
  }
  // The word fits but its separator does not: M counts both.
  try {
    chunk_text("abcdef. ghi", 7);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "chunk budget 7 is smaller than a word of 8 tokens at byte offset 0");
  }
  EXPECT_THROW(chunk_text("abc", 0), UserError);
}

TEST(Chunker, HardSplitCutsLongWordsOnCharacterBoundaries) {
  ChunkerConfig cfg;
  cfg.hard_split = true;
  const std::string text = "abcdefghij klm";
  auto chunks = chunk_text(text, 4, cfg);
  EXPECT_EQ(chunks, (std::vector<std::string>{"abcd", "efgh", "ij ", "klm"}));
  // "é" is two bytes: a cut after 3 bytes of "aéé" would split the second one.
  auto utf8 = chunk_text("a\xC3\xA9\xC3\xA9", 4, cfg);
  EXPECT_EQ(utf8[0], "a\xC3\xA9");
  EXPECT_EQ(join(utf8), "a\xC3\xA9\xC3\xA9");
}

TEST(ChunkBudget, DeterministicWithinRangeAndSpread) {
  ChunkBudgetRange r{128, 4096};
  size_t below_256 = 0, above_2048 = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    size_t b = draw_chunk_budget(r, 42, i);
    EXPECT_EQ(b, draw_chunk_budget(r, 42, i));
    EXPECT_GE(b, 128u);
    EXPECT_LE(b, 4096u);
    below_256 += b < 256;
    above_2048 += b >= 2048;
  }
  // Log-uniform: each of the five octaves gets about a fifth.
  EXPECT_GT(below_256, 300u);
  EXPECT_GT(above_2048, 300u);
  size_t differ = 0;
  for (uint64_t i = 0; i < 100; ++i) differ += draw_chunk_budget(r, 42, i) != draw_chunk_budget(r, 43, i);
  EXPECT_GT(differ, 90u);
  EXPECT_EQ(draw_chunk_budget({512, 512}, 1, 5), 512u);
}

TEST(ChunkBudget, ParsesRanges) {
  auto r = parse_chunk_budget_range("128:4096", "--chunk-tokens");
  EXPECT_EQ(r.min, 128u);
  EXPECT_EQ(r.max, 4096u);
  EXPECT_EQ(parse_chunk_budget_range("512", "--chunk-tokens").max, 512u);
  for (const char* bad : {"", "0:5", "9:3", "a:b", "12:", "-3:4", "1:2:3"}) {
    try {
      parse_chunk_budget_range(bad, "--chunk-tokens");
      FAIL() << bad;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--chunk-tokens '") + bad + "'"),
                std::string::npos);
    }
  }
}

}  // namespace
}  // namespace sr
