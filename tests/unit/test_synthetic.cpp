// Synthetic tasks: the answer is in the context, summaries complete exactly at the chunk holding
// the last needle, the checker, determinism, disjoint train/test streams and context lengths.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "dataset/chunker.h"
#include "dataset/synthetic.h"

namespace sr {
namespace {

// Last byte of every relevant needle, found by searching the text (not from task.needles).
std::vector<size_t> relevant_needle_ends(const SyntheticTask& t) {
  std::vector<size_t> ends;
  for (const std::string& v : t.values) {
    std::string tail;
    switch (t.kind) {
      case TaskKind::passkey: tail = v + " is the pass key."; break;
      case TaskKind::vartrack: tail = "VAR " + v + " = "; break;
      default: tail = " is: " + v + "."; break;
    }
    size_t at = t.context.find(tail);
    EXPECT_NE(at, std::string::npos) << tail;
    if (at == std::string::npos) continue;
    if (t.kind == TaskKind::vartrack) ends.push_back(t.context.find('.', at));
    else ends.push_back(at + tail.size() - 1);
  }
  return ends;
}

std::string clues_line(const std::string& summary) {
  size_t a = summary.find("\nClues: "), b = summary.find("\nReason: ");
  return summary.substr(a + 8, b - a - 8);
}

class EachTask : public ::testing::TestWithParam<TaskKind> {};

TEST_P(EachTask, AnswerValuesAreInTheContext) {
  const Haystack hay = Haystack::builtin_words();
  for (uint64_t i = 0; i < 5; ++i) {
    SyntheticTask t = make_task(GetParam(), 4096, hay, 11, Split::train, i);
    ASSERT_FALSE(t.values.empty());
    for (const std::string& v : t.values) {
      EXPECT_NE(t.context.find(v), std::string::npos) << v;
      EXPECT_NE(t.answer.find(v), std::string::npos) << v;
    }
    for (const Needle& n : t.needles) ASSERT_LE(n.offset + n.length, t.context.size());
    EXPECT_EQ(t.context.size(), 4096u);
  }
}

TEST_P(EachTask, CluesCompleteExactlyAtTheChunkWithTheLastNeedle) {
  const Haystack hay = Haystack::builtin_words();
  for (uint64_t i = 0; i < 6; ++i) {
    SyntheticTask t = make_task(GetParam(), 8192, hay, 5, Split::train, i);
    for (size_t budget : {128u, 333u, 1024u, 4096u}) {
      SCOPED_TRACE("sample " + std::to_string(i) + " budget " + std::to_string(budget));
      ReadingExample ex = make_reading_example(t, budget);
      std::string rebuilt;
      for (const auto& c : ex.chunks) rebuilt += c;
      ASSERT_EQ(rebuilt, t.context);
      ASSERT_EQ(ex.summaries.size(), ex.chunks.size());

      // Chunk of the last relevant needle's last byte, from the chunk sizes.
      size_t last = 0;
      for (size_t end : relevant_needle_ends(t)) last = std::max(last, end);
      int expect_round = 0;
      size_t chunk_end = ex.chunks[0].size();
      while (chunk_end <= last) chunk_end += ex.chunks[++expect_round].size();
      EXPECT_EQ(ex.stop_round, expect_round);
      const std::string complete = "clues found, ready to answer";
      EXPECT_NE(ex.summaries[expect_round].find(complete), std::string::npos)
          << ex.summaries[expect_round];
      if (expect_round > 0) {
        EXPECT_EQ(ex.summaries[expect_round - 1].find(complete), std::string::npos)
            << ex.summaries[expect_round - 1];
      }
      // Every value is among the clues once complete (variable names, or numbers).
      const std::string clues = clues_line(ex.summaries[expect_round]);
      for (const std::string& v : t.values) EXPECT_NE(clues.find(v), std::string::npos) << v;
      EXPECT_EQ(clues_line(ex.summaries[0]).empty(), false);
      EXPECT_EQ(ex.summaries[0].rfind("Target: " + t.target + "\n", 0), 0u);
    }
  }
}

TEST_P(EachTask, CheckerScoresRightAnswerOneAndWrongBelow) {
  const Haystack hay = Haystack::builtin_words();
  SyntheticTask t = make_task(GetParam(), 2048, hay, 3, Split::test, 0);
  EXPECT_DOUBLE_EQ(score(t, t.answer), 1.0);
  EXPECT_DOUBLE_EQ(score(t, "The answer is " + t.answer + "."), 1.0);
  EXPECT_DOUBLE_EQ(score(t, ""), 0.0);
  // One value replaced by another of the same shape.
  std::string wrong = t.answer;
  const std::string& v = t.values[0];
  std::string other = v;
  char& c = other.back();
  c = std::isdigit(uint8_t(c)) ? char('0' + (c - '0' + 1) % 10) : char('A' + (c - 'A' + 1) % 26);
  wrong.replace(wrong.find(v), v.size(), other);
  EXPECT_LT(score(t, wrong), 1.0);
  // Padding the answer with an extra value also scores below 1.
  std::string extra = t.kind == TaskKind::vartrack ? "QQQQQ" : "4242";
  EXPECT_LT(score(t, t.answer + ", " + extra), 1.0);
}

TEST_P(EachTask, DeterministicInTheSeed) {
  const Haystack hay = Haystack::builtin_words();
  SyntheticTask a = make_task(GetParam(), 3000, hay, 99, Split::train, 4);
  SyntheticTask b = make_task(GetParam(), 3000, hay, 99, Split::train, 4);
  SyntheticTask c = make_task(GetParam(), 3000, hay, 100, Split::train, 4);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.question, b.question);
  EXPECT_EQ(a.answer, b.answer);
  EXPECT_NE(a.context, c.context);
}

TEST_P(EachTask, TrainAndTestAreDisjoint) {
  const Haystack hay = Haystack::builtin_words();
  std::set<std::string> train;
  for (uint64_t i = 0; i < 30; ++i) train.insert(make_task(GetParam(), 1024, hay, 7, Split::train, i).context);
  EXPECT_EQ(train.size(), 30u);
  for (uint64_t i = 0; i < 30; ++i)
    EXPECT_EQ(train.count(make_task(GetParam(), 1024, hay, 7, Split::test, i).context), 0u);
}

TEST_P(EachTask, LongContextLength) {
  const Haystack hay = Haystack::default_words();
  SyntheticTask t = make_task(GetParam(), 65536, hay, 1, Split::train, 0);
  EXPECT_GE(t.context.size(), size_t(65536 * 0.95));
  EXPECT_LE(t.context.size(), size_t(65536 * 1.05));
  // Needles land all over the context, not only at its start.
  for (const std::string& v : t.values) EXPECT_NE(t.context.find(v), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Tasks, EachTask, ::testing::ValuesIn(all_task_kinds()),
                         [](const auto& info) {
                           std::string n = task_kind_name(info.param);
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Synthetic, MultiValuePartialAnswersScoreAFraction) {
  SyntheticTask t = make_task(TaskKind::niah_multivalue, 2048, Haystack::builtin_words(), 1,
                              Split::train, 0);
  ASSERT_EQ(t.values.size(), 4u);
  EXPECT_DOUBLE_EQ(score(t, t.values[0] + ", " + t.values[2]), 0.5);
  EXPECT_DOUBLE_EQ(score(t, t.values[3] + " " + t.values[1] + " " + t.values[0] + " " + t.values[2]), 1.0);
}

TEST(Synthetic, DistractorsDoNotCountAsClues) {
  const Haystack hay = Haystack::builtin_words();
  SyntheticTask t = make_task(TaskKind::niah_multikey, 4096, hay, 2, Split::train, 0);
  size_t relevant = 0, distractors = 0;
  for (const Needle& n : t.needles) (n.relevant ? relevant : distractors)++;
  EXPECT_EQ(relevant, 1u);
  EXPECT_EQ(distractors, 3u);
  ReadingExample ex = make_reading_example(t, 128);
  for (const Needle& n : t.needles)
    if (!n.relevant) {
      std::string value = t.context.substr(n.offset + n.length - 8, 7);
      for (const auto& s : ex.summaries) EXPECT_EQ(s.find(value), std::string::npos);
    }
}

TEST(Synthetic, VariableChainIsInOrder) {
  SyntheticTask t = make_task(TaskKind::vartrack, 4096, Haystack::builtin_words(), 8,
                              Split::train, 3);
  ASSERT_EQ(t.values.size(), 5u);
  size_t prev = 0;
  for (const std::string& v : t.values) {
    size_t at = t.context.find("VAR " + v + " = ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GE(at, prev);
    prev = at;
  }
}

TEST(Synthetic, TextFileHaystack) {
  const std::string path = ::testing::TempDir() + "sr_haystack.txt";
  {
    std::ofstream f(path);
    for (int i = 0; i < 40; ++i) f << "Line " << i << " of a small book. It has sentences.\n";
  }
  Haystack hay = Haystack::from_text_files({path});
  SyntheticTask t = make_task(TaskKind::niah_single, 6000, hay, 4, Split::train, 0);
  EXPECT_EQ(t.context.size(), 6000u);
  EXPECT_NE(t.context.find("of a small book"), std::string::npos);
  EXPECT_NE(t.context.find(t.values[0]), std::string::npos);
  EXPECT_NE(hay.source().find(path), std::string::npos);
  std::remove(path.c_str());
  EXPECT_THROW(Haystack::from_text_files({path}), UserError);
}

TEST(Synthetic, ParsesNames) {
  EXPECT_EQ(parse_task_kind("niah-multiquery", "--task"), TaskKind::niah_multiquery);
  EXPECT_THROW(parse_task_kind("niah", "--task"), UserError);
  EXPECT_EQ(parse_split("test", "--split"), Split::test);
  EXPECT_THROW(parse_split("dev", "--split"), UserError);
  EXPECT_NE(split_seed(1, Split::train), split_seed(1, Split::test));
}

TEST(Synthetic, ParsesTaskLists) {
  EXPECT_EQ(parse_task_list("mix", "--task"), all_task_kinds());
  EXPECT_EQ(parse_task_list("vartrack", "--task"), std::vector<TaskKind>{TaskKind::vartrack});
  EXPECT_EQ(parse_task_list("vartrack,passkey,niah-multikey", "--task"),
            (std::vector<TaskKind>{TaskKind::vartrack, TaskKind::passkey, TaskKind::niah_multikey}));
  for (const char* bad : {"passkey,niah", "passkey,passkey", "mix,passkey", "", "passkey,", ",passkey",
                          "passkey,,vartrack"})
    EXPECT_THROW(parse_task_list(bad, "--task"), UserError) << bad;
  try {
    parse_task_list("passkey,needle,vartrack", "--task");
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unknown task 'needle'"), std::string::npos) << m;
    for (TaskKind k : all_task_kinds()) EXPECT_NE(m.find(task_kind_name(k)), std::string::npos) << m;
  }
}

TEST(Synthetic, DrawsContextLengthsFromTheList) {
  EXPECT_EQ(draw_context_tokens({4096}, 1, Split::train, 7), 4096u);
  const std::vector<size_t> lengths = {1024, 2048, 4096};
  std::map<size_t, int> seen;
  std::vector<size_t> train, again, test, other_seed;
  for (uint64_t i = 0; i < 300; ++i) {
    train.push_back(draw_context_tokens(lengths, 1, Split::train, i));
    again.push_back(draw_context_tokens(lengths, 1, Split::train, i));
    test.push_back(draw_context_tokens(lengths, 1, Split::test, i));
    other_seed.push_back(draw_context_tokens(lengths, 2, Split::train, i));
    ++seen[train.back()];
  }
  EXPECT_EQ(train, again);
  EXPECT_NE(train, test);
  EXPECT_NE(train, other_seed);
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [length, n] : seen) EXPECT_GT(n, 60) << length;  // ~100 each
}

}  // namespace
}  // namespace sr
