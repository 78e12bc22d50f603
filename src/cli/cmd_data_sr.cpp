// `smoothread data build` (JSONL records to a token dataset) and `smoothread data synth`
// (synthetic long-context tasks to a token dataset), in the Smooth Reading format or a
// baseline's. Single-process: under mpirun only rank 0 writes.
//
// JSONL records without "summaries" get placeholder summaries for the sr and multi-round formats
// (placeholder_summaries(): Target = the question, Clues = "not recorded"), so plain QA data
// still trains the read/stop actions and the answer; records with summaries must have one per
// chunk, which needs a fixed --chunk-tokens N matching how they were written.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/data_commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "dataset/chunker.h"
#include "dataset/jsonl.h"
#include "dataset/synthetic.h"
#include "dataset/token_dataset.h"
#include "dataset/tokenizer.h"
#include "dataset/trajectory.h"

namespace po = boost::program_options;

namespace sr {

namespace {

// Limits checked before any work, so that a mistyped size is an error rather than a run that
// fills the disk or an allocation that cannot succeed.
constexpr uint64_t kMaxContextTokens = uint64_t(1) << 30;  // 1G tokens (1048576k) per example
constexpr uint64_t kMaxTotalTokens = uint64_t(1) << 40;    // samples x context tokens
constexpr uint64_t kBytesPerContextToken = 16;  // haystack text, ids, mask and trajectory copies

// A comma-separated list of token counts ("8k,16k"), each listed once.
std::vector<size_t> parse_distinct_token_list(const std::string& key, const std::string& text) {
  const std::vector<size_t> out = parse_token_list(key, text, kMaxContextTokens);
  for (size_t i = 0; i < out.size(); ++i)
    if (std::find(out.begin(), out.begin() + i, out[i]) != out.begin() + i)
      user_error(key + " '" + text + "': " + std::to_string(out[i]) + " tokens are listed twice");
  return out;
}

// A positive count written in digits, at most `max` (Boost would take "-1" for 2^64 - 1).
uint64_t parse_count(const std::string& key, const std::string& text, uint64_t max) {
  unsigned long long v = 0;
  size_t pos = 0;
  try {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) v = std::stoull(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (!pos || pos != text.size() || v == 0 || v > max)
    user_error(key + " '" + text + "': expected a count from 1 to " + std::to_string(max));
  return v;
}

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

std::string join_args(const std::string& command, const std::vector<std::string>& args) {
  std::string s = "smoothread " + command;
  for (const std::string& a : args) s += " " + a;
  return s;
}

// Writes the samples of one example and keeps the totals for the closing line.
struct Totals {
  uint64_t examples = 0, chunks = 0, rounds = 0;
  void add(TokenDatasetWriter& w, const ReadingExample& ex, TrajectoryFormat format,
           StopPolicy stop, const Tokenizer& tok) {
    for (const TokenSample& s : build_samples(ex, format, stop, tok)) w.add_sample(s.tokens, s.loss_mask);
    ++examples;
    chunks += ex.chunks.size();
    rounds += format == TrajectoryFormat::one_round ? 1 : rounds_read(ex, stop);
  }
  void report(const std::string& out, const TokenDatasetWriter& w, double seconds) const {
    info("wrote %s: %llu samples, %llu tokens from %llu examples (%.1f chunks, %.1f rounds read "
         "per example) in %.2f s",
         out.c_str(), (unsigned long long)w.num_samples(), (unsigned long long)w.num_tokens(),
         (unsigned long long)examples, examples ? double(chunks) / examples : 0.0,
         examples ? double(rounds) / examples : 0.0, seconds);
  }
};

void common_attributes(TokenDatasetWriter& w, TrajectoryFormat format, StopPolicy stop,
                       const ChunkBudgetRange& range, uint64_t seed, const std::string& command) {
  w.set_attribute("trajectory_format", trajectory_format_name(format));
  w.set_attribute("stop_policy", stop_policy_name(stop));
  w.set_attribute("chunk_tokens", range.str());
  w.set_attribute("chunk_budget_distribution", "log-uniform per example");
  w.set_attribute("seed", std::to_string(seed));
  w.set_attribute("command", command);
}

}  // namespace

int data_build(const std::vector<std::string>& args) {
  std::string input, out, format_s, chunk_s, stop_s, tokenizer_s;
  uint64_t seed = 0;
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "input", po::value<std::string>(&input)->required(), "JSONL file, one record per line")(
      "out", po::value<std::string>(&out)->required(), "output token dataset (.h5)")(
      "tokenizer", po::value<std::string>(&tokenizer_s)->default_value("byte"),
      "byte, or a tokenizer.json (byte-level BPE with the Smooth Reading specials): the\n"
      "vocabulary written and the unit of the token counts")(
      "format", po::value<std::string>(&format_s)->default_value("sr"),
      "sr (end-to-end multi-round), one-round or multi-round")(
      "chunk-tokens", po::value<std::string>(&chunk_s)->default_value("128:4096"),
      "chunk budget MIN:MAX (log-uniform per record) or N")(
      "seed", po::value<uint64_t>(&seed)->default_value(1234), "seed of the chunk budgets")(
      "stop", po::value<std::string>(&stop_s)->default_value("early"),
      "early: stop at stop_round when given; end: always read every chunk")(
      "hard-split", "cut words longer than the chunk budget instead of failing");
  const char* usage =
      "--input X.jsonl --out X.h5 [--format sr|one-round|multi-round] [--chunk-tokens MIN:MAX]\n"
      "Turns JSONL records {question, context, answer, [summaries], [stop_round]} into a token\n"
      "dataset. Each record's context is chunked at a budget drawn log-uniformly from MIN:MAX;\n"
      "given summaries must number one per chunk (use a fixed --chunk-tokens N), missing ones\n"
      "become placeholders (Target: the question, Clues: not recorded). stop_round is the\n"
      "0-based chunk after which the answer is known.";
  po::variables_map vm;
  if (!parse_command_line("data build", usage, args, desc, {}, {}, vm)) return kExitOk;
  const TrajectoryFormat format = parse_trajectory_format(format_s, "data build: --format");
  const StopPolicy stop = parse_stop_policy(stop_s, "data build: --stop");
  const ChunkBudgetRange range = parse_chunk_budget_range(chunk_s, "data build: --chunk-tokens");
  const Tokenizer tok = load_tokenizer(tokenizer_s);
  ChunkerConfig chunker;
  chunker.hard_split = vm.count("hard-split") > 0;
  chunker.tokenizer = &tok;
  check_output_path("data build", out, {input});
  if (log_rank() != 0) return kExitOk;

  Timer timer;
  JsonlReader reader(input);
  TokenDatasetWriter writer(out, tok);
  common_attributes(writer, format, stop, range, seed, join_args("data build", args));
  writer.set_attribute("source", "jsonl:" + input);
  Totals totals;
  ReadingRecord rec;
  uint64_t index = 0, placeholder = 0;
  while (reader.next(rec)) {
    const std::string where = reader.where();
    if (rec.context.empty()) user_error(where + "field 'context' is empty");
    const size_t budget = draw_chunk_budget(range, seed, index++);
    ReadingExample ex;
    ex.question = rec.question;
    ex.answer = rec.answer;
    ex.stop_round = rec.stop_round;
    try {
      ex.chunks = chunk_text(rec.context, budget, chunker);
    } catch (const UserError& e) {
      throw UserError(where + e.what() + " (use a larger --chunk-tokens or --hard-split)");
    }
    if (rec.stop_round >= int64_t(ex.chunks.size()))
      user_error(where + "stop_round " + std::to_string(rec.stop_round) + " is past the last of " +
                 std::to_string(ex.chunks.size()) + " chunks at a budget of " +
                 std::to_string(budget) + " tokens (counted from 0)");
    if (rec.has_summaries) {
      if (format != TrajectoryFormat::one_round && rec.summaries.size() != ex.chunks.size())
        user_error(where + std::to_string(rec.summaries.size()) +
                   " summaries but the context splits into " + std::to_string(ex.chunks.size()) +
                   " chunks at a budget of " + std::to_string(budget) +
                   " tokens (expected one summary per chunk; fix --chunk-tokens to the budget "
                   "they were written for)");
      ex.summaries = std::move(rec.summaries);
    } else if (format != TrajectoryFormat::one_round) {
      ex.summaries = placeholder_summaries(ex.question, ex.chunks.size(), ex.stop_round);
      ++placeholder;
    }
    totals.add(writer, ex, format, stop, tok);
  }
  if (totals.examples == 0) user_error(input + ": no records (expected one JSON object per line)");
  writer.set_attribute("examples", std::to_string(totals.examples));
  writer.set_attribute("placeholder_summaries", std::to_string(placeholder));
  writer.close();
  totals.report(out, writer, timer.seconds());
  if (placeholder)
    info("%llu of %llu records had no summaries: wrote placeholder summaries (Clues: not recorded)",
         (unsigned long long)placeholder, (unsigned long long)totals.examples);
  return kExitOk;
}

int data_synth(const std::vector<std::string>& args) {
  std::string task_s, context_s, samples_s, out, format_s, chunk_s, stop_s, split_s, words, tokenizer_s;
  uint64_t samples = 0, seed = 0;
  std::vector<std::string> haystack_files;
  po::options_description desc("options");
  desc.add_options()("help,h", "print this help")(
      "task", po::value<std::string>(&task_s)->required(),
      "passkey, niah-single, niah-multikey, niah-multivalue, niah-multiquery, vartrack, a "
      "comma-separated list of them (each once; taken in turn) or mix (all in turn)")(
      "context-tokens", po::value<std::string>(&context_s)->required(),
      "context length in tokens, e.g. 65536 or 64k, or a comma-separated list (each once), "
      "e.g. 8k,16k: each example's drawn from it, uniformly and reproducibly in --seed")(
      "samples", po::value<std::string>(&samples_s)->required(), "number of examples")(
      "out", po::value<std::string>(&out)->required(), "output token dataset (.h5)")(
      "tokenizer", po::value<std::string>(&tokenizer_s)->default_value("byte"),
      "byte, or a tokenizer.json (byte-level BPE with the Smooth Reading specials): the\n"
      "vocabulary written and the unit of the token counts")(
      "format", po::value<std::string>(&format_s)->default_value("sr"),
      "sr (end-to-end multi-round), one-round or multi-round")(
      "chunk-tokens", po::value<std::string>(&chunk_s)->default_value("128:4096"),
      "chunk budget MIN:MAX (log-uniform per example) or N")(
      "seed", po::value<uint64_t>(&seed)->default_value(1234), "seed of tasks and chunk budgets")(
      "split", po::value<std::string>(&split_s)->default_value("train"),
      "train or test: disjoint seed streams")(
      "stop", po::value<std::string>(&stop_s)->default_value("early"),
      "early: stop once the clues are complete; end: always read every chunk")(
      "haystack", po::value<std::vector<std::string>>(&haystack_files)->multitoken(),
      "text files to take the filler from (default: a word list)")(
      "words", po::value<std::string>(&words),
      "word list for the filler and keys (default /usr/share/dict/words, else built in)");
  const char* usage =
      "--task T[,T...] --context-tokens N[,N...] --samples M --out X.h5\n"
      "       [--format F] [--split train|test]\n"
      "Writes synthetic long-context tasks (needles in a haystack, variable tracking) with\n"
      "summaries made by rules from where the needles landed after chunking. Example i is task\n"
      "i mod (number of tasks) of the list; its context length is drawn from the list.\n"
      "Deterministic in --seed; train and test draw from disjoint streams.";
  po::variables_map vm;
  if (!parse_command_line("data synth", usage, args, desc, {}, {}, vm)) return kExitOk;
  const std::vector<TaskKind> kinds = parse_task_list(task_s, "data synth: --task");
  const std::vector<size_t> contexts = parse_distinct_token_list("data synth: --context-tokens", context_s);
  // The sizes are checked for the longest context, as if every example had it.
  const size_t context_tokens = *std::max_element(contexts.begin(), contexts.end());
  samples = parse_count("data synth: --samples", samples_s, kMaxTotalTokens / context_tokens);
  const uint64_t memory = physical_memory_bytes();
  if (memory && uint64_t(context_tokens) * kBytesPerContextToken > memory)
    user_error("data synth: --context-tokens " +
               (contexts.size() == 1 ? context_s
                                     : std::to_string(context_tokens) + " (the longest of " + context_s + ")") +
               " needs about " +
               std::to_string(uint64_t(context_tokens) * kBytesPerContextToken >> 20) +
               " MiB of memory per example, more than this machine's " + std::to_string(memory >> 20) +
               " MiB");
  const TrajectoryFormat format = parse_trajectory_format(format_s, "data synth: --format");
  const StopPolicy stop = parse_stop_policy(stop_s, "data synth: --stop");
  const ChunkBudgetRange range = parse_chunk_budget_range(chunk_s, "data synth: --chunk-tokens");
  const Split split = parse_split(split_s, "data synth: --split");
  if (!haystack_files.empty() && !words.empty())
    user_error("data synth: give --haystack or --words, not both");
  std::vector<std::string> inputs = haystack_files;
  if (!words.empty()) inputs.push_back(words);
  const Tokenizer tok = load_tokenizer(tokenizer_s);
  check_output_path("data synth", out, inputs);
  const Haystack haystack = !haystack_files.empty() ? Haystack::from_text_files(haystack_files)
                            : !words.empty()        ? Haystack::from_word_file(words)
                                                    : Haystack::default_words();
  if (log_rank() != 0) return kExitOk;

  Timer timer;
  TokenDatasetWriter writer(out, tok);
  common_attributes(writer, format, stop, range, seed, join_args("data synth", args));
  writer.set_attribute("source", "synthetic");
  writer.set_attribute("haystack", haystack.source());
  writer.set_attribute("split", split_name(split));
  std::string contexts_s;
  for (size_t c : contexts) contexts_s += (contexts_s.empty() ? "" : ",") + std::to_string(c);
  writer.set_attribute("context_tokens", contexts_s);
  // The haystack is made to a length in bytes: with a BPE tokenizer the context lengths are
  // converted at the filler's measured bytes per token, so contexts are about that many tokens.
  double bytes_per_token = 1.0;
  if (!tok.is_byte()) {
    Rng rng(seed, hash_name("synth.bytes-per-token"));
    const std::string sample = haystack.filler(size_t(1) << 16, rng);
    bytes_per_token = double(sample.size()) / double(std::max<size_t>(1, tok.encode(sample).size()));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", bytes_per_token);
    writer.set_attribute("context_bytes_per_token", buf);
  }
  std::map<std::string, uint64_t> mix;
  std::map<size_t, uint64_t> context_mix;
  Totals totals;
  const uint64_t budget_seed = split_seed(seed, split);
  for (uint64_t i = 0; i < samples; ++i) {
    const TaskKind kind = kinds[i % kinds.size()];
    const size_t context = draw_context_tokens(contexts, seed, split, i);
    const size_t context_bytes =
        tok.is_byte() ? context : size_t(std::llround(double(context) * bytes_per_token));
    const SyntheticTask task = make_task(kind, context_bytes, haystack, seed, split, i);
    totals.add(writer, make_reading_example(task, draw_chunk_budget(range, budget_seed, i), &tok),
               format, stop, tok);
    ++mix[task_kind_name(kind)];
    ++context_mix[context];
  }
  std::string mix_s;
  for (const auto& [name, n] : mix) mix_s += (mix_s.empty() ? "" : ",") + name + ":" + std::to_string(n);
  writer.set_attribute("task_mix", mix_s);
  // Examples per context length ("8192:5,16384:7"), in increasing length.
  std::string context_mix_s;
  for (const auto& [c, n] : context_mix)
    context_mix_s += (context_mix_s.empty() ? "" : ",") + std::to_string(c) + ":" + std::to_string(n);
  writer.set_attribute("context_mix", context_mix_s);
  writer.set_attribute("examples", std::to_string(totals.examples));
  writer.close();
  totals.report(out, writer, timer.seconds());
  return kExitOk;
}

}  // namespace sr
