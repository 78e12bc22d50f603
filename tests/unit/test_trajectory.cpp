// The trajectory builder: exact token layout and loss mask of each format, early stop versus
// reading to the end, and the errors for inconsistent examples.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dataset/tokenizer.h"
#include "dataset/trajectory.h"

namespace sr {
namespace {

// The expected sample, built piece by piece: text or a special token, trained or not.
struct Expect {
  TokenSample s;
  Expect& t(const std::string& text, uint8_t trained) {
    for (unsigned char c : text) {
      s.tokens.push_back(c);
      s.loss_mask.push_back(trained);
    }
    return *this;
  }
  Expect& sp(Special x, uint8_t trained) {
    s.tokens.push_back(ByteTokenizer::id(x));
    s.loss_mask.push_back(trained);
    return *this;
  }
};

void expect_same(const TokenSample& got, const TokenSample& want) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.decode(got.tokens), tok.decode(want.tokens));
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.loss_mask, want.loss_mask);
}

ReadingExample example() {
  ReadingExample ex;
  ex.question = "Q?";
  ex.chunks = {"c1 ", "c2 ", "c3"};
  ex.answer = "A";
  ex.summaries = {"S1", "S2", "S3"};
  return ex;
}

TEST(Trajectory, SmoothReadingLayoutReadsToTheEnd) {
  ReadingExample ex = example();
  auto samples = build_samples(ex, TrajectoryFormat::sr, StopPolicy::early);  // no stop_round
  ASSERT_EQ(samples.size(), 1u);
  Expect e;
  e.sp(Special::bos, 0).sp(Special::query, 0).t("Q?", 0);
  e.sp(Special::chunk, 0).t("c1 ", 0).sp(Special::summary, 0).t("S1", 1).sp(Special::read, 1);
  e.sp(Special::chunk, 0).t("c2 ", 0).sp(Special::summary, 0).t("S2", 1).sp(Special::read, 1);
  e.sp(Special::chunk, 0).t("c3", 0).sp(Special::summary, 0).t("S3", 1).sp(Special::stop, 1);
  e.sp(Special::answer, 0).t("A", 1).sp(Special::eos, 1);
  expect_same(samples[0], e.s);
}

TEST(Trajectory, SmoothReadingEarlyStopLeavesTheRestUnread) {
  ReadingExample ex = example();
  ex.stop_round = 0;
  auto early = build_samples(ex, TrajectoryFormat::sr, StopPolicy::early);
  Expect e;
  e.sp(Special::bos, 0).sp(Special::query, 0).t("Q?", 0);
  e.sp(Special::chunk, 0).t("c1 ", 0).sp(Special::summary, 0).t("S1", 1).sp(Special::stop, 1);
  e.sp(Special::answer, 0).t("A", 1).sp(Special::eos, 1);
  expect_same(early.at(0), e.s);
  EXPECT_EQ(rounds_read(ex, StopPolicy::early), 1u);

  // Reading to the end ignores stop_round: the same as the sample without one.
  auto end = build_samples(ex, TrajectoryFormat::sr, StopPolicy::end);
  auto plain = build_samples(example(), TrajectoryFormat::sr, StopPolicy::end);
  expect_same(end.at(0), plain.at(0));
  EXPECT_EQ(rounds_read(ex, StopPolicy::end), 3u);
}

TEST(Trajectory, OneRoundLayout) {
  ReadingExample ex = example();
  ex.summaries.clear();  // not needed
  ex.stop_round = 0;     // no effect: the whole context is read at once
  auto samples = build_samples(ex, TrajectoryFormat::one_round, StopPolicy::early);
  ASSERT_EQ(samples.size(), 1u);
  Expect e;
  e.sp(Special::bos, 0).sp(Special::query, 0).t("Q?", 0);
  e.sp(Special::chunk, 0).t("c1 c2 c3", 0);
  e.sp(Special::answer, 0).t("A", 1).sp(Special::eos, 1);
  expect_same(samples[0], e.s);
}

TEST(Trajectory, MultiRoundOneSamplePerRoundWithThePreviousSummary) {
  ReadingExample ex = example();
  auto samples = build_samples(ex, TrajectoryFormat::multi_round, StopPolicy::end);
  ASSERT_EQ(samples.size(), 3u);
  const char* chunk[] = {"c1 ", "c2 ", "c3"};
  const char* prev[] = {"", "S1", "S2"};
  const char* summ[] = {"S1", "S2", "S3"};
  for (int i = 0; i < 3; ++i) {
    Expect e;
    e.sp(Special::bos, 0).sp(Special::query, 0).t("Q?", 0);
    e.sp(Special::summary, 0).t(prev[i], 0);
    e.sp(Special::chunk, 0).t(chunk[i], 0).sp(Special::summary, 0).t(summ[i], 1);
    if (i < 2) {
      e.sp(Special::read, 1);
    } else {
      e.sp(Special::stop, 1).sp(Special::answer, 0).t("A", 1).sp(Special::eos, 1);
    }
    SCOPED_TRACE(i);
    expect_same(samples[i], e.s);
  }
  // Early stop after round 2: two samples, the second one answers.
  ex.stop_round = 1;
  auto early = build_samples(ex, TrajectoryFormat::multi_round, StopPolicy::early);
  ASSERT_EQ(early.size(), 2u);
  Expect last;
  last.sp(Special::bos, 0).sp(Special::query, 0).t("Q?", 0).sp(Special::summary, 0).t("S1", 0);
  last.sp(Special::chunk, 0).t("c2 ", 0).sp(Special::summary, 0).t("S2", 1).sp(Special::stop, 1);
  last.sp(Special::answer, 0).t("A", 1).sp(Special::eos, 1);
  expect_same(early[1], last.s);
}

TEST(Trajectory, InconsistentExamplesAreUserErrors) {
  ReadingExample ex = example();
  ex.summaries.pop_back();
  EXPECT_THROW(build_samples(ex, TrajectoryFormat::sr, StopPolicy::end), UserError);
  EXPECT_THROW(build_samples(ex, TrajectoryFormat::multi_round, StopPolicy::end), UserError);
  EXPECT_NO_THROW(build_samples(ex, TrajectoryFormat::one_round, StopPolicy::end));
  ex = example();
  ex.stop_round = 3;
  EXPECT_THROW(build_samples(ex, TrajectoryFormat::sr, StopPolicy::early), UserError);
  ex = example();
  ex.chunks.clear();
  ex.summaries.clear();
  EXPECT_THROW(build_samples(ex, TrajectoryFormat::one_round, StopPolicy::end), UserError);
}

TEST(Trajectory, SummaryFieldsAndPlaceholders) {
  EXPECT_EQ(format_summary("find x", "x is 3", "done"), "Target: find x\nClues: x is 3\nReason: done");
  auto p = placeholder_summaries("Q?", 3, 1);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "Target: Q?\nClues: not recorded\nReason: read on");
  EXPECT_EQ(p[1], "Target: Q?\nClues: not recorded\nReason: ready to answer");
  auto q = placeholder_summaries("Q?", 2, -1);
  EXPECT_EQ(q[0], "Target: Q?\nClues: not recorded\nReason: read on");
  EXPECT_EQ(q[1], "Target: Q?\nClues: not recorded\nReason: ready to answer");
}

TEST(Trajectory, ParsesNames) {
  EXPECT_EQ(parse_trajectory_format("multi-round", "--format"), TrajectoryFormat::multi_round);
  EXPECT_STREQ(trajectory_format_name(parse_trajectory_format("one-round", "--format")), "one-round");
  EXPECT_THROW(parse_trajectory_format("sr2", "--format"), UserError);
  EXPECT_EQ(parse_stop_policy("end", "--stop"), StopPolicy::end);
  EXPECT_THROW(parse_stop_policy("never", "--stop"), UserError);
}

}  // namespace
}  // namespace sr
