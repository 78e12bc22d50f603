#include "dataset/trajectory.h"

#include "core/error.h"
#include "dataset/tokenizer.h"

namespace sr {

TrajectoryFormat parse_trajectory_format(const std::string& text, const std::string& what) {
  if (text == "sr") return TrajectoryFormat::sr;
  if (text == "one-round") return TrajectoryFormat::one_round;
  if (text == "multi-round") return TrajectoryFormat::multi_round;
  throw UserError(what + " '" + text + "': expected sr, one-round or multi-round");
}

const char* trajectory_format_name(TrajectoryFormat f) {
  switch (f) {
    case TrajectoryFormat::sr: return "sr";
    case TrajectoryFormat::one_round: return "one-round";
    case TrajectoryFormat::multi_round: return "multi-round";
  }
  return "?";
}

StopPolicy parse_stop_policy(const std::string& text, const std::string& what) {
  if (text == "early") return StopPolicy::early;
  if (text == "end") return StopPolicy::end;
  throw UserError(what + " '" + text + "': expected early or end");
}

const char* stop_policy_name(StopPolicy p) { return p == StopPolicy::early ? "early" : "end"; }

std::string format_summary(const std::string& target, const std::string& clues,
                           const std::string& reason) {
  return "Target: " + target + "\nClues: " + clues + "\nReason: " + reason;
}

std::vector<std::string> placeholder_summaries(const std::string& question, size_t chunks,
                                               int stop_round) {
  const size_t ready = stop_round >= 0 && size_t(stop_round) < chunks ? size_t(stop_round)
                                                                       : chunks - (chunks > 0);
  std::vector<std::string> out;
  for (size_t i = 0; i < chunks; ++i)
    out.push_back(format_summary(question, "not recorded", i < ready ? "read on" : "ready to answer"));
  return out;
}

size_t rounds_read(const ReadingExample& ex, StopPolicy policy) {
  if (policy == StopPolicy::early && ex.stop_round >= 0 && size_t(ex.stop_round) < ex.chunks.size())
    return size_t(ex.stop_round) + 1;
  return ex.chunks.size();
}

namespace {

// Appends text or a special token with one loss flag.
struct SampleWriter {
  explicit SampleWriter(const Tokenizer& t) : tok(t) {}
  TokenSample s;
  const Tokenizer& tok;
  void text(const std::string& t, uint8_t trained) {
    tok.encode_append(t, s.tokens);
    s.loss_mask.resize(s.tokens.size(), trained);
  }
  void special(Special sp, uint8_t trained) {
    s.tokens.push_back(tok.id(sp));
    s.loss_mask.push_back(trained);
  }
};

void validate(const ReadingExample& ex, TrajectoryFormat format) {
  if (ex.chunks.empty()) throw UserError("reading example has an empty context (no chunk)");
  if (format != TrajectoryFormat::one_round && ex.summaries.size() != ex.chunks.size())
    throw UserError(std::to_string(ex.summaries.size()) + " summaries for " +
                    std::to_string(ex.chunks.size()) + " chunks: the " +
                    trajectory_format_name(format) + " format needs one summary per chunk");
  if (ex.stop_round >= int64_t(ex.chunks.size()))
    throw UserError("stop_round " + std::to_string(ex.stop_round) + " is past the last chunk (" +
                    std::to_string(ex.chunks.size()) + " chunks, counted from 0)");
}

}  // namespace

std::vector<TokenSample> build_samples(const ReadingExample& ex, TrajectoryFormat format,
                                       StopPolicy policy) {
  static const Tokenizer bytes;
  return build_samples(ex, format, policy, bytes);
}

std::vector<TokenSample> build_samples(const ReadingExample& ex, TrajectoryFormat format,
                                       StopPolicy policy, const Tokenizer& tokenizer) {
  tokenizer.require_specials("building reading samples");
  validate(ex, format);
  const size_t rounds = rounds_read(ex, policy);
  std::vector<TokenSample> out;

  if (format == TrajectoryFormat::one_round) {
    SampleWriter w(tokenizer);
    w.special(Special::bos, 0);
    w.special(Special::query, 0);
    w.text(ex.question, 0);
    w.special(Special::chunk, 0);
    for (const std::string& c : ex.chunks) w.text(c, 0);
    w.special(Special::answer, 0);
    w.text(ex.answer, 1);
    w.special(Special::eos, 1);
    out.push_back(std::move(w.s));
    return out;
  }

  if (format == TrajectoryFormat::sr) {
    SampleWriter w(tokenizer);
    w.special(Special::bos, 0);
    w.special(Special::query, 0);
    w.text(ex.question, 0);
    for (size_t i = 0; i < rounds; ++i) {
      w.special(Special::chunk, 0);
      w.text(ex.chunks[i], 0);
      w.special(Special::summary, 0);
      w.text(ex.summaries[i], 1);
      w.special(i + 1 == rounds ? Special::stop : Special::read, 1);
    }
    w.special(Special::answer, 0);
    w.text(ex.answer, 1);
    w.special(Special::eos, 1);
    out.push_back(std::move(w.s));
    return out;
  }

  // multi-round: the previous summary is the only memory of earlier rounds.
  for (size_t i = 0; i < rounds; ++i) {
    SampleWriter w(tokenizer);
    w.special(Special::bos, 0);
    w.special(Special::query, 0);
    w.text(ex.question, 0);
    w.special(Special::summary, 0);
    if (i > 0) w.text(ex.summaries[i - 1], 0);
    w.special(Special::chunk, 0);
    w.text(ex.chunks[i], 0);
    w.special(Special::summary, 0);
    w.text(ex.summaries[i], 1);
    const bool last = i + 1 == rounds;
    w.special(last ? Special::stop : Special::read, 1);
    if (last) {
      w.special(Special::answer, 0);
      w.text(ex.answer, 1);
      w.special(Special::eos, 1);
    }
    out.push_back(std::move(w.s));
  }
  return out;
}

}  // namespace sr
