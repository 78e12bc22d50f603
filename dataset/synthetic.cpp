#include "dataset/synthetic.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "core/error.h"

namespace sr {

// ---- names ----

std::vector<TaskKind> all_task_kinds() {
  return {TaskKind::passkey,         TaskKind::niah_single,     TaskKind::niah_multikey,
          TaskKind::niah_multivalue, TaskKind::niah_multiquery, TaskKind::vartrack};
}

const char* task_kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::passkey: return "passkey";
    case TaskKind::niah_single: return "niah-single";
    case TaskKind::niah_multikey: return "niah-multikey";
    case TaskKind::niah_multivalue: return "niah-multivalue";
    case TaskKind::niah_multiquery: return "niah-multiquery";
    case TaskKind::vartrack: return "vartrack";
  }
  return "?";
}

TaskKind parse_task_kind(const std::string& text, const std::string& what) {
  for (TaskKind k : all_task_kinds())
    if (text == task_kind_name(k)) return k;
  throw UserError(what + " '" + text +
                  "': expected passkey, niah-single, niah-multikey, niah-multivalue, "
                  "niah-multiquery or vartrack");
}

std::vector<TaskKind> parse_task_list(const std::string& text, const std::string& what) {
  if (text == "mix") return all_task_kinds();
  std::string valid;
  for (TaskKind k : all_task_kinds()) valid += std::string(valid.empty() ? "" : ", ") + task_kind_name(k);
  const std::string expected = "expected one of " + valid + ", a comma-separated list of them, or mix";
  std::vector<TaskKind> kinds;
  size_t start = 0;
  for (bool last = false; !last; ) {  // every item, also empty ones ("", "a,,b", "a,")
    const size_t comma = text.find(',', start);
    last = comma == std::string::npos;
    const std::string item = text.substr(start, last ? std::string::npos : comma - start);
    start = comma + 1;
    if (item == "mix")
      throw UserError(what + " '" + text + "': mix stands alone, not in a list (" + expected + ")");
    if (item.empty()) throw UserError(what + " '" + text + "': an empty task name (" + expected + ")");
    const auto all = all_task_kinds();
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&](TaskKind k) { return item == task_kind_name(k); });
    if (it == all.end())
      throw UserError(what + " '" + text + "': unknown task '" + item + "' (" + expected + ")");
    if (std::find(kinds.begin(), kinds.end(), *it) != kinds.end())
      throw UserError(what + " '" + text + "': task '" + item + "' is listed twice");
    kinds.push_back(*it);
  }
  return kinds;
}

Split parse_split(const std::string& text, const std::string& what) {
  if (text == "train") return Split::train;
  if (text == "test") return Split::test;
  throw UserError(what + " '" + text + "': expected train or test");
}

const char* split_name(Split s) { return s == Split::train ? "train" : "test"; }

uint64_t split_seed(uint64_t seed, Split split) {
  return mix64(seed ^ (split == Split::train ? hash_name("split:train") : hash_name("split:test")));
}

size_t draw_context_tokens(const std::vector<size_t>& lengths, uint64_t seed, Split split,
                           uint64_t index) {
  SR_ASSERT(!lengths.empty(), "draw_context_tokens: no lengths");
  if (lengths.size() == 1) return lengths[0];
  return lengths[random_u64(split_seed(seed, split), hash_name("context-tokens"), index) % lengths.size()];
}

// ---- haystack ----

namespace {

const char* const kBuiltinWords[] = {
    "river",   "mountain", "garden",  "window",   "silver",  "forest",   "candle",  "harbor",
    "meadow",  "lantern",  "valley",  "orchard",  "pepper",  "thunder",  "marble",  "compass",
    "feather", "island",   "castle",  "copper",   "thistle",  "saddle",   "violet",  "canyon",
    "bridge",  "pebble",   "ribbon",  "shadow",   "timber",  "velvet",   "whisper", "anchor",
    "basket",  "cobalt",   "desert",  "ember",    "falcon",  "glacier",  "hollow",  "ivory",
    "jasmine", "kettle",   "ledger",  "mirror",   "nectar",  "oyster",   "parcel",  "quarry",
    "rocket",  "saffron",  "tunnel",  "umbrella", "vessel",  "walnut",   "yarrow",  "zephyr",
    "apple",   "bread",    "cloud",   "dance",    "eagle",   "flame",    "grape",   "house",
    "index",   "jelly",    "knife",   "lemon",    "money",   "night",    "ocean",   "piano",
    "queen",   "radio",    "stone",   "table",    "uncle",   "voice",    "water",   "youth",
    "zebra",   "amber",    "blossom", "cedar",    "drift",   "echo",     "fable",   "gravel",
    "heron",   "inlet",    "jungle",  "kayak",    "lilac",   "maple",    "noble",   "orbit",
    "prism",   "quiet",    "rapid",   "sable",    "tulip",   "unity",    "vivid",   "willow",
    "the",     "of",       "and",     "to",       "in",      "is",       "was",     "for",
    "on",      "with",     "as",      "by",       "at",      "from",     "that",    "this",
    "old",     "new",      "small",   "large",    "early",   "late",     "green",   "blue",
    "walked",  "carried",  "found",   "opened",   "watched", "painted",  "built",   "crossed",
    "slowly",  "quietly",  "always",  "often",    "never",   "again",    "under",   "above",
    "before",  "after",    "between", "around",   "through", "without",  "toward",  "beside",
};

bool is_key_word(const std::string& w) {
  if (w.size() < 3 || w.size() > 10) return false;
  for (char c : w)
    if (c < 'a' || c > 'z') return false;
  return true;
}

}  // namespace

Haystack Haystack::builtin_words() {
  Haystack h;
  h.words_.assign(std::begin(kBuiltinWords), std::end(kBuiltinWords));
  h.source_ = "words:built-in (" + std::to_string(h.words_.size()) + " words)";
  return h;
}

Haystack Haystack::from_word_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("cannot open word list " + path + ": " + std::strerror(errno));
  Haystack h;
  std::string w;
  while (std::getline(in, w))
    if (is_key_word(w)) h.words_.push_back(w);
  if (h.words_.size() < 16)
    throw UserError("word list " + path + " has " + std::to_string(h.words_.size()) +
                    " usable words (lowercase a-z, 3-10 letters), expected at least 16");
  h.source_ = "words:" + path + " (" + std::to_string(h.words_.size()) + " words)";
  return h;
}

Haystack Haystack::default_words() {
  const char* dict = "/usr/share/dict/words";
  if (std::ifstream(dict).good()) {
    try {
      return from_word_file(dict);
    } catch (const UserError&) {
      // An unusable system list is not the user's fault: use the built-in one.
    }
  }
  return builtin_words();
}

Haystack Haystack::from_text_files(const std::vector<std::string>& paths) {
  Haystack h;
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw UserError("cannot open haystack file " + p + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!h.text_.empty()) h.text_ += "\n\n";
    h.text_ += ss.str();
  }
  if (h.text_.empty()) throw UserError("haystack files are empty: expected some text");
  // Keys still come from a word list.
  h.words_ = builtin_words().words_;
  h.source_ = "text:";
  for (size_t i = 0; i < paths.size(); ++i) h.source_ += (i ? "," : "") + paths[i];
  h.source_ += " (" + std::to_string(h.text_.size()) + " bytes)";
  return h;
}

const std::string& Haystack::word(Rng& rng) const { return words_[rng.below(words_.size())]; }

std::string Haystack::filler(size_t n, Rng& rng) const {
  std::string out;
  out.reserve(n + 256);
  if (!text_.empty()) {
    // Start at a line start after a random offset, then wrap around as often as needed.
    size_t start = rng.below(text_.size());
    size_t nl = text_.find('\n', start);
    start = nl == std::string::npos ? 0 : nl + 1;
    out.append(text_, start, std::string::npos);
    while (out.size() < n) out.append("\n\n").append(text_);
  } else {
    // Sentences of 6-18 words, paragraphs of 3-8 sentences, a blank line every 3-6 paragraphs.
    int paragraphs_left = int(rng.range(3, 6));
    while (out.size() < n) {
      int sentences = int(rng.range(3, 8));
      for (int s = 0; s < sentences; ++s) {
        int words = int(rng.range(6, 18));
        for (int w = 0; w < words; ++w) {
          std::string word = this->word(rng);
          if (w == 0) word[0] = char(std::toupper(uint8_t(word[0])));
          out += word;
          out += w + 1 < words ? " " : ".";
        }
        out += s + 1 < sentences ? " " : "\n";
      }
      if (--paragraphs_left == 0) {
        out += "\n";
        paragraphs_left = int(rng.range(3, 6));
      }
    }
  }
  out.resize(n);
  return out;
}

// ---- tasks ----

namespace {

std::string number(Rng& rng, int digits) {
  uint64_t lo = 1;
  for (int i = 1; i < digits; ++i) lo *= 10;
  return std::to_string(lo + rng.below(9 * lo));
}

// Distinct random values: numbers of `digits` digits, or variable names of 5 capitals.
class Unique {
 public:
  std::string num(Rng& rng, int digits) {
    for (;;)
      if (std::string v = number(rng, digits); used_.insert(v).second) return v;
  }
  std::string var(Rng& rng) {
    for (;;) {
      std::string v(5, 'A');
      for (char& c : v) c = char('A' + rng.below(26));
      if (used_.insert(v).second) return v;
    }
  }
  // Two words of 4+ letters: "maple-harbor".
  std::string key(Rng& rng, const Haystack& h) {
    auto long_word = [&]() {
      for (;;)
        if (const std::string& w = h.word(rng); w.size() >= 4) return w;
    };
    for (;;)
      if (std::string k = long_word() + "-" + long_word(); used_.insert(k).second) return k;
  }

 private:
  std::set<std::string> used_;
};

struct NeedleSpec {
  std::string text;
  bool relevant = false;
  std::string clue;
  int group = 0;  // needles of one group keep their order in the context (a variable chain)
};

// Positions in `filler` where a sentence may be inserted: 0 and just after ". " or "\n"; after
// any space when the filler has no sentence end at all (text haystacks).
std::vector<size_t> boundaries(const std::string& filler) {
  std::vector<size_t> b{0};
  for (size_t i = 1; i < filler.size(); ++i)
    if (filler[i - 1] == '\n' || (filler[i - 1] == ' ' && i >= 2 && filler[i - 2] == '.'))
      b.push_back(i);
  if (b.size() == 1)
    for (size_t i = 1; i < filler.size(); ++i)
      if (filler[i - 1] == ' ') b.push_back(i);
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return b;
}

// Inserts the needles (each followed by a space) at random boundaries of a filler sized so the
// context has `context_tokens` bytes; records where each needle landed.
void assemble(SyntheticTask& task, const std::vector<NeedleSpec>& specs, size_t context_tokens,
              const Haystack& haystack, Rng& rng) {
  size_t needle_bytes = 0;
  for (const NeedleSpec& s : specs) needle_bytes += s.text.size() + 1;
  const std::string filler =
      haystack.filler(context_tokens > needle_bytes ? context_tokens - needle_bytes : 0, rng);
  const std::vector<size_t> bounds = boundaries(filler);

  // Each group draws its own positions and keeps its needles in order along them.
  struct Placed {
    size_t at;
    size_t order;  // tie-break: group order, then spec order
    const NeedleSpec* spec;
  };
  std::vector<Placed> placed;
  int max_group = 0;
  for (const NeedleSpec& s : specs) max_group = std::max(max_group, s.group);
  for (int g = 0; g <= max_group; ++g) {
    std::vector<const NeedleSpec*> members;
    for (const NeedleSpec& s : specs)
      if (s.group == g) members.push_back(&s);
    std::vector<size_t> at;
    for (size_t i = 0; i < members.size(); ++i) at.push_back(bounds[rng.below(bounds.size())]);
    std::sort(at.begin(), at.end());
    for (size_t i = 0; i < members.size(); ++i) placed.push_back({at[i], placed.size(), members[i]});
  }
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });

  std::string& ctx = task.context;
  ctx.clear();
  ctx.reserve(filler.size() + needle_bytes);
  size_t copied = 0;
  for (const Placed& p : placed) {
    ctx.append(filler, copied, p.at - copied);
    copied = p.at;
    Needle n;
    n.offset = ctx.size();
    n.length = p.spec->text.size();
    n.relevant = p.spec->relevant;
    n.clue = p.spec->clue;
    task.needles.push_back(n);
    ctx += p.spec->text;
    ctx += ' ';
  }
  ctx.append(filler, copied, std::string::npos);
}

std::string magic_needle(const std::string& key, const std::string& value) {
  return "One of the special magic numbers for " + key + " is: " + value + ".";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

SyntheticTask make_task(TaskKind kind, size_t context_tokens, const Haystack& haystack,
                        uint64_t seed, Split split, uint64_t index) {
  // A stream per (kind, index): sample i of two tasks shares no key or value.
  Rng rng(split_seed(seed, split), mix64(hash_name(task_kind_name(kind))) + index);
  Unique unique;
  SyntheticTask t;
  t.kind = kind;
  std::vector<NeedleSpec> specs;

  switch (kind) {
    case TaskKind::passkey: {
      std::string v = unique.num(rng, 5);
      specs.push_back({"The pass key is " + v + ". Remember it. " + v + " is the pass key.", true,
                       "the pass key is " + v, 0});
      t.question = "What is the pass key?";
      t.target = "find the pass key";
      t.values = {v};
      t.answer = v;
      break;
    }
    case TaskKind::niah_single:
    case TaskKind::niah_multikey: {
      std::string key = unique.key(rng, haystack), v = unique.num(rng, 7);
      specs.push_back({magic_needle(key, v), true, key + " is " + v, 0});
      if (kind == TaskKind::niah_multikey)
        for (int d = 0; d < 3; ++d)
          specs.push_back({magic_needle(unique.key(rng, haystack), unique.num(rng, 7)), false, "", 0});
      t.question = "What is the special magic number for " + key + "?";
      t.target = "find the special magic number for " + key;
      t.values = {v};
      t.answer = v;
      break;
    }
    case TaskKind::niah_multivalue: {
      std::string key = unique.key(rng, haystack);
      for (int i = 0; i < 4; ++i) {
        std::string v = unique.num(rng, 7);
        specs.push_back({magic_needle(key, v), true, key + " is " + v, 0});
      }
      t.question = "What are the 4 special magic numbers for " + key + "?";
      t.target = "find the 4 special magic numbers for " + key;
      break;  // values follow the context order, set below
    }
    case TaskKind::niah_multiquery: {
      std::vector<std::string> keys;
      for (int i = 0; i < 3; ++i) {
        std::string key = unique.key(rng, haystack), v = unique.num(rng, 7);
        specs.push_back({magic_needle(key, v), true, key + " is " + v, 0});
        keys.push_back(key);
        t.values.push_back(v);
      }
      specs.push_back({magic_needle(unique.key(rng, haystack), unique.num(rng, 7)), false, "", 0});
      t.question = "What are the special magic numbers for " + keys[0] + ", " + keys[1] + " and " +
                   keys[2] + "?";
      t.target = "find the special magic numbers for " + join(keys, ", ");
      t.answer = join(t.values, ", ");
      break;
    }
    case TaskKind::vartrack: {
      // The asked chain (group 0) and a distractor chain (group 1), each in order in the context.
      const int hops = 4;
      std::string value = unique.num(rng, 5);
      for (int chain = 0; chain < 2; ++chain) {
        std::string start = chain == 0 ? value : unique.num(rng, 5);
        std::string prev;
        for (int i = 0; i <= hops; ++i) {
          std::string var = unique.var(rng);
          std::string rhs = i == 0 ? start : prev;
          specs.push_back({"VAR " + var + " = " + rhs + ".", chain == 0, var + " = " + rhs, chain});
          if (chain == 0) t.values.push_back(var);
          prev = var;
        }
      }
      t.question = "Which " + std::to_string(hops + 1) + " variables are assigned the value " +
                   value + ", directly or through other variables?";
      t.target = "find the " + std::to_string(hops + 1) + " variables equal to " + value;
      t.answer = join(t.values, ", ");
      break;
    }
  }

  assemble(t, specs, context_tokens, haystack, rng);

  if (kind == TaskKind::niah_multivalue) {
    for (const Needle& n : t.needles) {
      const std::string& clue = n.clue;  // "key is value"
      t.values.push_back(clue.substr(clue.rfind(' ') + 1));
    }
    t.answer = join(t.values, ", ");
  }
  return t;
}

SummaryTrace trace_summaries(const SyntheticTask& task, const std::vector<ChunkSpan>& chunks) {
  // Chunk that holds byte `at`.
  auto chunk_of = [&](size_t at) {
    auto it = std::upper_bound(chunks.begin(), chunks.end(), at,
                               [](size_t a, const ChunkSpan& c) { return a < c.end; });
    SR_ASSERT(it != chunks.end(), "needle beyond the last chunk");
    return size_t(it - chunks.begin());
  };
  std::vector<std::vector<std::string>> found(chunks.size());  // new clues per chunk
  size_t needed = 0;
  SummaryTrace trace;
  for (const Needle& n : task.needles) {
    if (!n.relevant) continue;
    size_t c = chunk_of(n.offset + n.length - 1);
    found[c].push_back(n.clue);
    ++needed;
    trace.stop_round = std::max(trace.stop_round, int(c));
  }

  std::vector<std::string> clues;
  for (size_t c = 0; c < chunks.size(); ++c) {
    clues.insert(clues.end(), found[c].begin(), found[c].end());
    std::string reason = found[c].empty() ? "nothing new"
                                          : std::to_string(found[c].size()) +
                                                (found[c].size() == 1 ? " new clue" : " new clues");
    reason += "; " + std::to_string(clues.size()) + " of " + std::to_string(needed) +
              (clues.size() == needed ? " clues found, ready to answer" : " clues found, read on");
    trace.summaries.push_back(
        format_summary(task.target, clues.empty() ? "none yet" : join(clues, "; "), reason));
  }
  return trace;
}

ReadingExample make_reading_example(const SyntheticTask& task, size_t budget,
                                    const Tokenizer* tokenizer) {
  ChunkerConfig cfg;
  cfg.tokenizer = tokenizer;
  cfg.hard_split = true;  // filler from arbitrary text may hold runs longer than a small budget
  std::vector<ChunkSpan> spans = chunk_spans(task.context, budget, cfg);
  SummaryTrace trace = trace_summaries(task, spans);
  ReadingExample ex;
  ex.question = task.question;
  ex.answer = task.answer;
  for (const ChunkSpan& s : spans) ex.chunks.push_back(task.context.substr(s.begin, s.size()));
  ex.summaries = std::move(trace.summaries);
  ex.stop_round = trace.stop_round;
  return ex;
}

double score(const SyntheticTask& task, const std::string& model_answer) {
  const bool names = task.kind == TaskKind::vartrack;
  auto value_like = [&](const std::string& tok) {
    if (names)
      return tok.size() == 5 && std::all_of(tok.begin(), tok.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    return std::all_of(tok.begin(), tok.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::set<std::string> named;
  std::string tok;
  for (size_t i = 0; i <= model_answer.size(); ++i) {
    char c = i < model_answer.size() ? model_answer[i] : ' ';
    if (std::isalnum(uint8_t(c))) {
      tok += c;
      continue;
    }
    if (!tok.empty() && value_like(tok)) named.insert(tok);
    tok.clear();
  }
  std::set<std::string> needed(task.values.begin(), task.values.end());
  size_t hit = 0;
  for (const std::string& v : needed) hit += named.count(v);
  return double(hit) / double(std::max(needed.size(), named.size()));
}

}  // namespace sr
