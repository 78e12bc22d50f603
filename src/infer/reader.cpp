#include "infer/reader.h"

#include <algorithm>
#include <deque>

#include "core/error.h"
#include "core/timer.h"
#include "dataset/chunker.h"
#include "dataset/tokenizer.h"

namespace sr {

namespace {

enum class Phase { idle, summary, answer };

struct Slot {
  int64_t input = -1;
  Phase phase = Phase::idle;
  std::vector<std::string> chunks;
  size_t next_chunk = 0;               // chunks given to the model so far
  std::vector<uint32_t> question;      // Q's tokens
  std::vector<uint32_t> pending;       // fed at the next forward
  size_t sampled_in_pending = 0;       // how many of pending the model wrote (0 or 1, first)
  std::vector<uint32_t> generated;     // the summary or answer being written
  std::string previous_summary;        // multi-round: the state carried to the next round
  uint64_t counter = 0;                // sampling draws of this input
  Timer clock;
  ReadOutput out;
};

void append_text(const Tokenizer& t, std::vector<uint32_t>& v, const std::string& text) {
  t.encode_append(text, v);
}

// Tokens that open round `k` (0-based) of a slot; for sr after round 0 the model's own <read>
// comes first.
void open_round(const Tokenizer& t, Slot& s, TrajectoryFormat mode) {
  auto tok = [&](Special sp) { return t.id(sp); };
  const std::string& chunk = s.chunks[s.next_chunk];
  std::vector<uint32_t>& p = s.pending;
  if (mode == TrajectoryFormat::multi_round || s.next_chunk == 0) {
    p.push_back(tok(Special::bos));
    p.push_back(tok(Special::query));
    p.insert(p.end(), s.question.begin(), s.question.end());
  }
  if (mode == TrajectoryFormat::multi_round) {
    p.push_back(tok(Special::summary));
    append_text(t, p, s.previous_summary);
  }
  p.push_back(tok(Special::chunk));
  append_text(t, p, chunk);
  p.push_back(tok(Special::summary));
  ++s.next_chunk;
  s.generated.clear();
  s.phase = Phase::summary;
}

void open_answer(const Tokenizer& t, Slot& s) {
  s.pending.push_back(t.id(Special::answer));
  s.generated.clear();
  s.phase = Phase::answer;
}

}  // namespace

int64_t default_chunk_tokens(const ModelConfig& cfg) {
  return cfg.sliding_window > 0 ? std::max<int64_t>(1, cfg.sliding_window / 2) : 2048;
}

void validate_read_options(const ReadOptions& opt, const ModelConfig& cfg) {
  if (!opt.tokenizer || opt.tokenizer->is_byte()) {
    if (cfg.vocab_size < int64_t(ByteTokenizer::kVocabSize))
      throw UserError("the model's vocabulary (" + std::to_string(cfg.vocab_size) +
                      " ids) lacks the Smooth Reading special tokens of the byte tokenizer (ids " +
                      std::to_string(ByteTokenizer::kFirstSpecial) + ".." +
                      std::to_string(ByteTokenizer::kVocabSize - 1) + ")");
  } else {
    opt.tokenizer->require_specials("the checkpoint's tokenizer " + opt.tokenizer->name());
    if (int64_t(opt.tokenizer->vocab_size()) > cfg.vocab_size)
      throw UserError("the checkpoint's tokenizer " + opt.tokenizer->name() + " has " +
                      std::to_string(opt.tokenizer->vocab_size()) +
                      " ids, more than the model's vocabulary of " + std::to_string(cfg.vocab_size));
  }
  const int64_t budget = opt.chunk_tokens > 0 ? opt.chunk_tokens : default_chunk_tokens(cfg);
  if (opt.chunk_tokens < 0)
    throw UserError("--chunk-tokens " + std::to_string(opt.chunk_tokens) + ": expected a positive token count");
  if (cfg.sliding_window > 0 && opt.mode != TrajectoryFormat::one_round && budget > cfg.sliding_window)
    throw UserError("--chunk-tokens " + std::to_string(budget) + " is larger than the model's window of " +
                    std::to_string(cfg.sliding_window) +
                    " tokens: the model cannot hold a chunk it reads (accuracy collapses past the "
                    "window); use at most " + std::to_string(cfg.sliding_window));
  if (opt.max_summary_tokens < 1)
    throw UserError("--max-summary-tokens " + std::to_string(opt.max_summary_tokens) + ": expected at least 1");
  if (opt.max_answer_tokens < 1)
    throw UserError("--max-answer-tokens " + std::to_string(opt.max_answer_tokens) + ": expected at least 1");
  opt.sampling.validate();
}

void validate_read_input(const ReadInput& in, const ModelConfig& cfg, const std::string& where) {
  if (in.question.empty()) throw UserError(where + "the question is empty");
  if (in.context.empty()) throw UserError(where + "the context is empty");
  // <bos><query> Q <chunk> must fit the window, or the question is forgotten before the first
  // chunk is read.
  const int64_t q = int64_t(in.question.size()) + 3;
  if (cfg.sliding_window > 0 && q > cfg.sliding_window)
    throw UserError(where + "the question (" + std::to_string(in.question.size()) +
                    " tokens) does not fit the model's window of " +
                    std::to_string(cfg.sliding_window) + " tokens");
}

int64_t read_context_bound(const ReadInput& in, const ReadOptions& opt) {
  const int64_t q = int64_t(in.question.size()), c = int64_t(in.context.size());
  const int64_t budget = std::max<int64_t>(1, opt.chunk_tokens);
  // Chunks are at most `budget` bytes; a chunk boundary can only shorten them, so there are at
  // most 2·c/budget + 1 of them (every chunk but the last is over half the budget or ends at a
  // separator; the bound is generous by design).
  const int64_t chunks = std::min<int64_t>(c, 2 * c / budget + 1);
  switch (opt.mode) {
    case TrajectoryFormat::one_round: return q + c + 4 + opt.max_answer_tokens + 1;
    case TrajectoryFormat::multi_round:
      return q + 2 * budget + opt.max_summary_tokens * 2 + opt.max_answer_tokens + 16;
    case TrajectoryFormat::sr: break;
  }
  return q + c + chunks * (opt.max_summary_tokens + 3) + opt.max_answer_tokens + 8;
}

std::vector<ReadOutput> read_all(SequenceModel& engine, const std::vector<ReadInput>& inputs,
                                 const ReadOptions& opt_in,
                                 const std::function<void(const ReadProgress&)>& progress) {
  ReadOptions opt = opt_in;
  const ModelConfig& cfg = engine.config();
  if (opt.chunk_tokens == 0) opt.chunk_tokens = default_chunk_tokens(cfg);
  validate_read_options(opt, cfg);
  static const Tokenizer bytes;
  const Tokenizer& tokenizer = opt.tokenizer ? *opt.tokenizer : bytes;
  auto tok = [&](Special s) { return tokenizer.id(s); };
  // The model samples only ids the tokenizer has (an imported embedding may be padded).
  const int64_t allowed = std::min<int64_t>(engine.vocab_size(), tokenizer.vocab_size());
  ChunkerConfig chunker;
  chunker.tokenizer = &tokenizer;
  chunker.hard_split = true;  // any text reads, whatever its longest word

  std::vector<ReadOutput> results(inputs.size());
  std::vector<Slot> slots(size_t(engine.batch()));
  std::deque<int64_t> queue;
  for (size_t i = 0; i < inputs.size(); ++i) queue.push_back(int64_t(i));
  ReadProgress prog;
  prog.total = int64_t(inputs.size());
  const Timer clock;

  auto start = [&](int64_t s_index, int64_t input) {
    Slot& s = slots[size_t(s_index)];
    s = Slot{};
    s.input = input;
    const ReadInput& in = inputs[size_t(input)];
    validate_read_input(in, cfg, "input " + std::to_string(input) + ": ");
    s.question = tokenizer.encode(in.question);
    if (opt.mode == TrajectoryFormat::one_round) {
      s.chunks = {in.context};
    } else {
      s.chunks = chunk_text(in.context, size_t(opt.chunk_tokens), chunker);
    }
    s.out.chunks = int64_t(s.chunks.size());
    engine.reset(s_index);
    if (opt.mode == TrajectoryFormat::one_round) {
      s.pending = {tok(Special::bos), tok(Special::query)};
      s.pending.insert(s.pending.end(), s.question.begin(), s.question.end());
      s.pending.push_back(tok(Special::chunk));
      append_text(tokenizer, s.pending, in.context);
      s.next_chunk = 1;
      s.out.rounds = 1;
      open_answer(tokenizer, s);
    } else {
      open_round(tokenizer, s, opt.mode);
    }
  };

  // After a summary ends: the model wrote `x` = <read>/<stop>, or (capped) the summary's last
  // token, already in pending. Goes on to the next chunk or to the answer, and returns how many
  // of the tokens now pending the model wrote itself.
  auto end_round = [&](int64_t s_index, Slot& s, uint32_t x, bool capped) -> size_t {
    const std::string summary = tokenizer.decode(s.generated);
    s.out.summaries.push_back(summary);
    s.out.summary_capped.push_back(capped);
    const bool more = s.next_chunk < s.chunks.size();
    const size_t round = s.out.summaries.size();
    uint32_t action = x;
    if (capped) {
      action = more ? tok(Special::read) : tok(Special::stop);
      s.out.notes.push_back("round " + std::to_string(round) + ": the summary reached " +
                            std::to_string(opt.max_summary_tokens) +
                            " tokens without <read> or <stop>; " + (more ? "read on" : "answered"));
    } else if (action == tok(Special::read) && !more) {
      action = tok(Special::stop);
      s.out.notes.push_back("round " + std::to_string(round) +
                            ": <read> after the last chunk; answered");
    }
    const size_t own = capped ? 1 : action == x ? 1 : 0;
    if (action == tok(Special::stop)) {
      s.out.stopped_early = more;
      s.out.rounds = int64_t(round);
      s.pending.push_back(tok(Special::stop));
      open_answer(tokenizer, s);
      return own;
    }
    if (opt.mode == TrajectoryFormat::multi_round) {
      // Non-end-to-end: the next round starts from a fresh state holding only this summary.
      s.previous_summary = summary;
      s.pending.clear();
      engine.reset(s_index);
      open_round(tokenizer, s, opt.mode);
      return 0;
    }
    s.pending.push_back(tok(Special::read));
    open_round(tokenizer, s, opt.mode);
    return own;
  };

  std::vector<std::vector<uint32_t>> feed(slots.size());
  for (;;) {
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i].phase == Phase::idle && !queue.empty()) {
        const int64_t input = queue.front();
        queue.pop_front();
        start(int64_t(i), input);
      }
    int64_t fed = 0, sampled_total = 0;
    prog.active = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
      feed[i].clear();
      if (slots[i].phase == Phase::idle) continue;
      ++prog.active;
      feed[i].swap(slots[i].pending);
      fed += int64_t(feed[i].size());
      sampled_total += int64_t(slots[i].sampled_in_pending);
    }
    if (prog.active == 0) break;
    const Timer step_clock;
    engine.step(feed);
    const double dt = step_clock.seconds();
    prog.tokens += fed;
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.phase == Phase::idle) continue;
      const int64_t n = int64_t(feed[i].size()), ns = int64_t(s.sampled_in_pending);
      s.out.prefill_tokens += n - ns;
      s.out.prefill_seconds += dt * double(n - ns) / double(fed);
      s.out.decode_seconds += dt * double(ns) / double(fed);
      s.sampled_in_pending = 0;
      const uint32_t x = sample_token(engine.logits(int64_t(i)), allowed, opt.sampling,
                                      uint64_t(s.input), s.counter++);
      ++s.out.decode_tokens;
      if (s.phase == Phase::summary) {
        const bool action = x == tok(Special::read) || x == tok(Special::stop);
        if (!action) {
          s.generated.push_back(x);
          s.pending = {x};
          s.sampled_in_pending = 1;
        }
        if (action || int64_t(s.generated.size()) >= opt.max_summary_tokens)
          s.sampled_in_pending = end_round(int64_t(i), s, x, !action);
      } else {
        const bool eos = x == tok(Special::eos);
        if (!eos) s.generated.push_back(x);
        if (eos || int64_t(s.generated.size()) >= opt.max_answer_tokens) {
          s.out.answer = tokenizer.decode(s.generated);
          s.out.answer_capped = !eos;
          if (!eos)
            s.out.notes.push_back("the answer reached " + std::to_string(opt.max_answer_tokens) +
                                  " tokens without <eos>");
          s.out.seconds = s.clock.seconds();
          results[size_t(s.input)] = std::move(s.out);
          s = Slot{};
          ++prog.done;
        } else {
          s.pending = {x};
          s.sampled_in_pending = 1;
        }
      }
    }
    prog.active = 0;
    for (const Slot& s : slots) prog.active += s.phase != Phase::idle;
    prog.seconds = clock.seconds();
    if (progress) progress(prog);
  }
  return results;
}

}  // namespace sr
