// The reading loop against a scripted model: what it feeds is exactly the trajectory layout the
// model was trained on (dataset/trajectory.h) for sr, one-round and multi-round; caps, a <read>
// after the last chunk, batching and bad inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataset/chunker.h"
#include "dataset/tokenizer.h"
#include "dataset/trajectory.h"
#include "infer/engine.h"
#include "infer/reader.h"

namespace sr {
namespace {

constexpr uint32_t id(Special s) { return uint32_t(s); }

// Writes the summary "R<round>" then <read>, or <stop> at round stop_at (1-based; 0: never),
// and the answer "42" then <eos>; with never_act it writes 'x' forever in a summary. Keeps what
// it was fed since each reset.
class ScriptedModel : public SequenceModel {
 public:
  ScriptedModel(int64_t batch, int stop_at, bool never_act = false)
      : stop_at_(stop_at), never_act_(never_act), fed_(size_t(batch)), logits_(size_t(batch) * 272) {
    cfg_.hidden_size = 64;
    cfg_.num_hidden_layers = 1;
    cfg_.num_attention_heads = 4;
    cfg_.num_key_value_heads = 2;
    cfg_.intermediate_size = 64;
    cfg_.vocab_size = 272;
    cfg_.sliding_window = 64;
  }
  const ModelConfig& config() const override { return cfg_; }
  int64_t batch() const override { return int64_t(fed_.size()); }
  int64_t vocab_size() const override { return 272; }
  void reset(int64_t s) override {
    if (!fed_[size_t(s)].empty()) streams.push_back(fed_[size_t(s)]);
    fed_[size_t(s)].clear();
  }
  void step(const std::vector<std::vector<uint32_t>>& tokens,
            std::vector<std::vector<float>>*) override {
    for (size_t s = 0; s < tokens.size(); ++s) {
      if (tokens[s].empty()) continue;
      std::vector<uint32_t>& f = fed_[s];
      f.insert(f.end(), tokens[s].begin(), tokens[s].end());
      std::fill(logits_.begin() + long(s * 272), logits_.begin() + long((s + 1) * 272), 0.0f);
      logits_[s * 272 + next(f)] = 10.0f;
    }
  }
  const float* logits(int64_t s) const override { return logits_.data() + s * 272; }
  void finish() {
    for (size_t s = 0; s < fed_.size(); ++s) reset(int64_t(s));
  }

  std::vector<std::vector<uint32_t>> streams;  // one per reset, in order

 private:
  uint32_t next(const std::vector<uint32_t>& f) const {
    const auto last = [&](uint32_t t) { return std::find(f.rbegin(), f.rend(), t); };
    const auto ans = last(id(Special::answer)), sum = last(id(Special::summary));
    if (ans < sum) {  // after <answer> (reverse iterators: nearer the end is smaller)
      const long written = ans - f.rbegin();
      return written == 0 ? '4' : written == 1 ? '2' : id(Special::eos);
    }
    if (never_act_) return 'x';
    // Round: <chunk>s seen (sr); multi-round: the carried summary's number + 1.
    int round = int(std::count(f.begin(), f.end(), id(Special::chunk)));
    const auto first_sum = std::find(f.begin(), f.end(), id(Special::summary));
    const auto chunk = std::find(f.begin(), f.end(), id(Special::chunk));
    if (first_sum < chunk) round = first_sum + 1 < chunk ? int(*(chunk - 1) - '0') + 1 : 1;
    const std::string text = "R" + std::to_string(round);
    const long written = sum - f.rbegin();
    if (written < long(text.size())) return uint32_t(uint8_t(text[size_t(written)]));
    return round == stop_at_ ? id(Special::stop) : id(Special::read);
  }

  ModelConfig cfg_;
  int stop_at_;
  bool never_act_;
  std::vector<std::vector<uint32_t>> fed_;
  std::vector<float> logits_;
};

const char* kContext =
    "The first line holds nothing.\nThe second line holds less.\nThe third line is here.\n"
    "The fourth line tells the key.\nThe fifth line ends it all.\n";

ReadingExample example(const std::string& q, int64_t budget, int stop_round) {
  ReadingExample ex;
  ex.question = q;
  ChunkerConfig c;
  c.hard_split = true;
  ex.chunks = chunk_text(kContext, size_t(budget), c);
  for (size_t i = 0; i < ex.chunks.size(); ++i) ex.summaries.push_back("R" + std::to_string(i + 1));
  ex.answer = "42";
  ex.stop_round = stop_round;
  return ex;
}

std::vector<uint32_t> without_last(std::vector<uint32_t> v) {
  v.pop_back();
  return v;
}

TEST(Reader, SmoothReadingFeedsTheTrainedTrajectory) {
  ReadOptions opt;
  opt.chunk_tokens = 32;
  const ReadingExample ex = example("Which key?", 32, 2);
  ASSERT_GE(ex.chunks.size(), 4u);
  ScriptedModel model(1, 3);  // stops after the third chunk
  const std::vector<ReadOutput> out = read_all(model, {{ex.question, kContext}}, opt);
  model.finish();
  ASSERT_EQ(model.streams.size(), 1u);  // the state is never reset
  // The trajectory the model was trained on, up to the <eos> it writes last.
  const TokenSample want = build_samples(ex, TrajectoryFormat::sr, StopPolicy::early)[0];
  EXPECT_EQ(model.streams[0], without_last(want.tokens));
  EXPECT_EQ(out[0].answer, "42");
  EXPECT_EQ(out[0].rounds, 3);
  EXPECT_TRUE(out[0].stopped_early);
  EXPECT_EQ(out[0].chunks, int64_t(ex.chunks.size()));
  EXPECT_EQ(out[0].summaries, (std::vector<std::string>{"R1", "R2", "R3"}));
  EXPECT_FALSE(out[0].answer_capped);
  EXPECT_TRUE(out[0].notes.empty());
  // Written: 3 × ("R<n>" + action) + "42" + <eos>; everything else was fed by the loop.
  EXPECT_EQ(out[0].decode_tokens, 3 * 3 + 3);
  EXPECT_EQ(out[0].prefill_tokens + out[0].decode_tokens, int64_t(want.tokens.size()));
}

TEST(Reader, MultiRoundStartsEveryRoundFreshWithThePreviousSummary) {
  ReadOptions opt;
  opt.mode = TrajectoryFormat::multi_round;
  opt.chunk_tokens = 32;
  const ReadingExample ex = example("Which key?", 32, 1);
  ScriptedModel model(1, 2);
  const std::vector<ReadOutput> out = read_all(model, {{ex.question, kContext}}, opt);
  model.finish();
  const std::vector<TokenSample> want = build_samples(ex, TrajectoryFormat::multi_round, StopPolicy::early);
  ASSERT_EQ(want.size(), 2u);
  ASSERT_EQ(model.streams.size(), 2u);
  EXPECT_EQ(model.streams[0], without_last(want[0].tokens));  // its <read> is never fed
  EXPECT_EQ(model.streams[1], without_last(want[1].tokens));  // nor the final <eos>
  EXPECT_EQ(out[0].rounds, 2);
  EXPECT_EQ(out[0].answer, "42");
}

TEST(Reader, OneRoundReadsTheWholeContextThenAnswers) {
  ReadOptions opt;
  opt.mode = TrajectoryFormat::one_round;
  ReadingExample ex = example("Which key?", 1000, -1);
  ScriptedModel model(1, 0);
  const std::vector<ReadOutput> out = read_all(model, {{ex.question, kContext}}, opt);
  model.finish();
  const TokenSample want = build_samples(ex, TrajectoryFormat::one_round, StopPolicy::early)[0];
  ASSERT_EQ(model.streams.size(), 1u);
  EXPECT_EQ(model.streams[0], without_last(want.tokens));
  EXPECT_EQ(out[0].answer, "42");
  EXPECT_EQ(out[0].rounds, 1);
}

TEST(Reader, SummaryCapEndsTheRoundAndSaysSo) {
  ReadOptions opt;
  opt.chunk_tokens = 64;
  opt.max_summary_tokens = 5;
  ScriptedModel model(1, 0, /*never_act=*/true);
  const std::vector<ReadOutput> out = read_all(model, {{"Which key?", kContext}}, opt);
  model.finish();
  const ReadOutput& r = out[0];
  ASSERT_GE(r.chunks, 2);
  EXPECT_EQ(r.rounds, r.chunks);
  EXPECT_FALSE(r.stopped_early);
  for (size_t i = 0; i < r.summaries.size(); ++i) {
    EXPECT_EQ(r.summaries[i], "xxxxx");
    EXPECT_TRUE(r.summary_capped[i]);
  }
  ASSERT_EQ(r.notes.size(), size_t(r.chunks));
  EXPECT_NE(r.notes[0].find("without <read> or <stop>; read on"), std::string::npos);
  EXPECT_NE(r.notes.back().find("answered"), std::string::npos);
  // The loop wrote the actions the model did not: a <read> per chunk but the last, one <stop>.
  const std::vector<uint32_t>& f = model.streams[0];
  EXPECT_EQ(std::count(f.begin(), f.end(), id(Special::read)), r.chunks - 1);
  EXPECT_EQ(std::count(f.begin(), f.end(), id(Special::stop)), 1);
  EXPECT_EQ(r.answer, "42");
}

TEST(Reader, ReadAfterTheLastChunkAnswers) {
  ReadOptions opt;
  opt.chunk_tokens = 64;
  ScriptedModel model(1, 0);  // always <read>
  const std::vector<ReadOutput> out = read_all(model, {{"Which key?", kContext}}, opt);
  EXPECT_EQ(out[0].rounds, out[0].chunks);
  ASSERT_EQ(out[0].notes.size(), 1u);
  EXPECT_NE(out[0].notes[0].find("<read> after the last chunk"), std::string::npos);
  EXPECT_EQ(out[0].answer, "42");
}

TEST(Reader, BatchGivesTheSameResultsInInputOrder) {
  ReadOptions opt;
  opt.chunk_tokens = 24;
  std::vector<ReadInput> inputs;
  for (int i = 0; i < 5; ++i)
    inputs.push_back({"Question " + std::to_string(i) + "?", std::string(kContext).substr(size_t(i * 20))});
  ScriptedModel one(1, 2), three(3, 2);
  const std::vector<ReadOutput> a = read_all(one, inputs, opt), b = read_all(three, inputs, opt);
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].summaries, b[i].summaries);
    EXPECT_EQ(a[i].answer, b[i].answer);
    EXPECT_EQ(a[i].prefill_tokens, b[i].prefill_tokens);
    EXPECT_EQ(a[i].decode_tokens, b[i].decode_tokens);
  }
}

TEST(Reader, BadInputsAndOptionsAreUserErrors) {
  ScriptedModel model(1, 1);
  ReadOptions opt;
  EXPECT_THROW(read_all(model, {{"", kContext}}, opt), UserError);
  EXPECT_THROW(read_all(model, {{"Q?", ""}}, opt), UserError);
  EXPECT_THROW(read_all(model, {{std::string(70, 'q'), kContext}}, opt), UserError);  // > window
  opt.chunk_tokens = 65;  // the window is 64
  EXPECT_THROW(read_all(model, {{"Q?", kContext}}, opt), UserError);
  opt.chunk_tokens = 64;
  opt.max_summary_tokens = 0;
  EXPECT_THROW(read_all(model, {{"Q?", kContext}}, opt), UserError);
  ModelConfig small = model.config();
  small.vocab_size = 256;  // no special tokens
  EXPECT_THROW(validate_read_options(ReadOptions{}, small), UserError);
}

}  // namespace
}  // namespace sr
