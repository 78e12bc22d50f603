// `smoothread data`: from-text (text files -> token dataset), inspect (summary and one decoded
// sample), and the dispatch to build/synth (cmd_data_sr.cpp).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "cli/data_commands.h"
#include "core/version.h"
#include "core/error.h"
#include "dataset/token_dataset.h"
#include "dataset/tokenizer.h"

namespace po = boost::program_options;

namespace sr {

bool parse_command_line(const std::string& name, const std::string& usage,
                        const std::vector<std::string>& args, const po::options_description& visible,
                        const po::options_description& hidden,
                        const po::positional_options_description& positional,
                        po::variables_map& vm) {
  po::options_description all;
  all.add(visible).add(hidden);
  try {
    // No abbreviations: `--out` must not be guessed from `--o`, nor one option taken for another.
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(all).positional(positional).style(style).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: smoothread " << name << " " << usage << "\n\n" << visible;
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UserError(name + ": " + e.what() + " (see smoothread " + name + " --help)");
  }
  return true;
}

void check_output_path(const std::string& command, const std::string& out,
                       const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (out.empty()) throw UserError(command + ": --out is empty, expected a file path (X.h5)");
  if (fs::is_directory(out, ec))
    throw UserError(command + ": --out " + out + " is a directory, expected a file path (X.h5)");
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw UserError(command + ": --out " + out + ": the directory " + parent.string() + " does not exist");
  for (const std::string& in : inputs) {
    for (const std::string& written : {out, out + ".tmp"}) {
      if (fs::exists(written, ec) && fs::exists(in, ec) && fs::equivalent(written, in, ec))
        throw UserError(command + ": --out " + out + " is the input " + in +
                        ": refusing to overwrite an input (choose another --out)");
    }
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// from-text

// Splits text into sample bodies of at most `body` bytes, cutting after the last whitespace in
// the second half of the window where there is one, so words stay whole. The bodies laid end to
// end give back the text exactly.
class TextSplitter {
 public:
  explicit TextSplitter(size_t body) : body_(body) {}

  // Calls emit(const char*, size_t) for every complete body; keeps the unfinished tail.
  template <class Emit>
  void feed(const char* data, size_t n, Emit&& emit) {
    buf_.append(data, n);
    size_t pos = 0;
    // A cut is decided only with more than a body in hand: the next byte may be whitespace.
    while (buf_.size() - pos > body_) {
      size_t cut = body_;
      for (size_t i = body_; i-- > body_ / 2;)
        if (is_space(buf_[pos + i])) {
          cut = i + 1;
          break;
        }
      emit(buf_.data() + pos, cut);
      pos += cut;
    }
    buf_.erase(0, pos);
  }
  template <class Emit>
  void finish(Emit&& emit) {
    if (!buf_.empty()) emit(buf_.data(), buf_.size());
    buf_.clear();
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
  size_t body_;
  std::string buf_;
};

// A sample longer than this is no training sample (and the model's positions are 32-bit).
constexpr int64_t kMaxSampleTokens = int64_t(1) << 30;

int data_from_text(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "print this help")(
      "out", po::value<std::string>()->required(), "the token dataset to write (.h5)")(
      "sample-tokens", po::value<int64_t>()->required(),
      "tokens per sample: <bos> + up to N-2 tokens of text + <eos>")(
      "tokenizer", po::value<std::string>()->default_value("byte"),
      "byte, or a tokenizer.json (byte-level BPE with the Smooth Reading specials)")(
      "no-compress", po::bool_switch(), "store /tokens and /loss_mask without gzip");
  po::options_description hidden;
  hidden.add_options()("input", po::value<std::vector<std::string>>()->required());
  po::positional_options_description pos;
  pos.add("input", -1);
  po::variables_map vm;
  const char* usage =
      "FILE... --out X.h5 --sample-tokens N [--tokenizer byte|tokenizer.json]\n"
      "Turns text files into a token dataset: each sample is <bos>, N-2 tokens of text and\n"
      "<eos>; the loss mask is 1 on every token but <bos>. With the byte tokenizer the text is\n"
      "cut at whitespace where possible; with a BPE tokenizer it is encoded in pieces cut at\n"
      "whitespace and the token stream is cut every N-2 tokens. Samples never span two files;\n"
      "a file's last sample may be shorter.";
  if (!parse_command_line("data from-text", usage, args, opts, hidden, pos, vm)) return kExitOk;

  const auto& inputs = vm["input"].as<std::vector<std::string>>();
  const std::string out = vm["out"].as<std::string>();
  const int64_t sample_tokens = vm["sample-tokens"].as<int64_t>();
  if (sample_tokens < 3 || sample_tokens > kMaxSampleTokens)
    throw UserError("data from-text: --sample-tokens is " + std::to_string(sample_tokens) +
                    ", expected 3 (<bos>, text, <eos>) to " + std::to_string(kMaxSampleTokens));
  for (const auto& f : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(f, ec))
      throw UserError(f + ": is a directory, expected a text file");
    if (!std::filesystem::exists(f, ec)) throw UserError(f + ": no such file");
  }
  check_output_path("data from-text", out, inputs);

  const Tokenizer tok = load_tokenizer(vm["tokenizer"].as<std::string>());
  TokenDatasetWriter writer(out, tok, !vm["no-compress"].as<bool>());
  std::string files;
  for (const auto& f : inputs) files += (files.empty() ? "" : "\n") + f;
  writer.set_attribute("source", "data from-text");
  writer.set_attribute("source_files", files);
  writer.set_attribute("sample_tokens", std::to_string(sample_tokens));
  writer.set_attribute("created_by", std::string("smoothread ") + smoothread_version() + " (" +
                                         smoothread_git_sha() + ")");

  std::vector<uint32_t> ids;   // [<= sample_tokens]
  std::vector<uint8_t> mask;   // [<= sample_tokens]
  const size_t body = size_t(sample_tokens - 2);
  auto add = [&](const uint32_t* text, size_t n) {
    ids.assign(1, tok.id(Special::bos));
    ids.insert(ids.end(), text, text + n);
    ids.push_back(tok.id(Special::eos));
    mask.assign(ids.size(), 1);
    mask[0] = 0;  // <bos> is never a target
    writer.add_sample(ids, mask);
  };
  std::vector<uint32_t> stream;  // BPE: tokens of the current file not yet in a sample
  std::vector<uint32_t> piece;
  // Byte tokenizer: one sample per piece of text. BPE: pieces of about four tokens' worth of
  // bytes per sample token are encoded and the stream is cut every `body` tokens.
  auto emit = [&](const char* text, size_t n) {
    piece.clear();
    tok.encode_append(std::string_view(text, n), piece);
    if (tok.is_byte()) {
      add(piece.data(), piece.size());
      return;
    }
    stream.insert(stream.end(), piece.begin(), piece.end());
    size_t at = 0;
    for (; stream.size() - at >= body; at += body) add(stream.data() + at, body);
    stream.erase(stream.begin(), stream.begin() + std::ptrdiff_t(at));
  };
  std::vector<char> block(size_t(1) << 20);  // [1 MiB] read buffer
  for (const auto& f : inputs) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw UserError(f + ": cannot open the text file");
    TextSplitter split(tok.is_byte() ? body : std::min<size_t>(body * 4, size_t(1) << 24));
    while (in) {
      in.read(block.data(), std::streamsize(block.size()));
      split.feed(block.data(), size_t(in.gcount()), emit);
    }
    if (in.bad()) throw UserError(f + ": read error");
    split.finish(emit);
    if (!stream.empty()) add(stream.data(), stream.size());
    stream.clear();
  }
  if (writer.num_samples() == 0) throw UserError("data from-text: the input files hold no text");
  uint64_t samples = writer.num_samples(), tokens = writer.num_tokens();
  writer.close();
  std::printf("wrote %s: %llu samples, %llu tokens from %zu file(s)\n", out.c_str(),
              (unsigned long long)samples, (unsigned long long)tokens, inputs.size());
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// inspect

// One line per attribute value: newlines (between source files) shown as "; ".
std::string one_line(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string("; ") : std::string(1, c);
  return out;
}

// Text of one token for the decoded sample: control bytes escaped so the output stays readable.
std::string show_token(uint32_t id, bool byte_tokenizer, const std::map<uint32_t, std::string>& specials) {
  auto it = specials.find(id);
  if (it != specials.end()) return it->second;
  if (!byte_tokenizer) return "[" + std::to_string(id) + "]";
  if (id == '\n' || id == '\t' || (id >= 0x20 && id != 0x7f && id < 256))
    return std::string(1, char(id));
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", id);
  return buf;
}

int data_inspect(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "print this help")(
      "sample", po::value<int64_t>()->default_value(0), "decode this sample (-1: none)")(
      "max-tokens", po::value<int64_t>()->default_value(4000),
      "decode at most this many tokens of the sample (0: all)")(
      "tokenizer", po::value<std::string>(),
      "the dataset's tokenizer.json, to decode a BPE sample as text (else ids are shown)");
  po::options_description hidden;
  hidden.add_options()("input", po::value<std::string>()->required());
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  const char* usage =
      "X.h5 [--sample N]\n"
      "Checks a token dataset and prints its size, sample lengths, attributes, special-token\n"
      "counts and loss-mask fraction, then decodes one sample with its trained tokens (loss\n"
      "mask 1) wrapped in \u27e6 \u27e7. Reads the tokens in blocks, so any size works.";
  if (!parse_command_line("data inspect", usage, args, opts, hidden, pos, vm)) return kExitOk;

  const std::string path = vm["input"].as<std::string>();
  const int64_t show = vm["sample"].as<int64_t>();
  const int64_t max_tokens = vm["max-tokens"].as<int64_t>();
  TokenDataset d(path);
  const uint64_t n = d.num_samples();
  if (show < -1 || (show >= 0 && uint64_t(show) >= n))
    throw UserError(path + ": --sample " + std::to_string(show) + " is out of range (the file has " +
                    std::to_string(n) + " samples)");
  const auto attrs = d.attributes();
  // --tokenizer is checked against the dataset before anything is printed, whatever the
  // dataset's tokenizer: a BPE file given for a byte dataset (or an unreadable one) used to be
  // ignored without a word.
  std::optional<Tokenizer> bpe;
  if (vm.count("tokenizer")) {
    const std::string spec = vm["tokenizer"].as<std::string>();
    Tokenizer t = load_tokenizer(spec, false);
    if (t.name() != d.tokenizer())
      throw UserError(path + ": the dataset's tokenizer is " + d.tokenizer() + " but --tokenizer " + spec + " is " +
                      t.name());
    if (!t.is_byte()) bpe = std::move(t);
  }

  std::printf("file        %s\n", path.c_str());
  std::printf("format      %s v%s, tokenizer %s, vocab_size %u\n", attrs.at("format").c_str(),
              attrs.at("version").c_str(), d.tokenizer().c_str(), d.vocab_size());
  std::printf("samples     %llu\n", (unsigned long long)n);
  std::printf("tokens      %llu\n", (unsigned long long)d.num_tokens());

  // Sample lengths from /offsets: min/mean/max and power-of-two buckets.
  if (n > 0) {
    uint64_t lo = UINT64_MAX, hi = 0;
    std::map<int, uint64_t> buckets;  // k -> samples with length in [2^k, 2^(k+1))
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t len = d.sample_length(i);
      lo = std::min(lo, len);
      hi = std::max(hi, len);
      int k = 63 - __builtin_clzll(len);
      ++buckets[k];
    }
    std::printf("length      min %llu, mean %.1f, max %llu\n", (unsigned long long)lo,
                double(d.num_tokens()) / double(n), (unsigned long long)hi);
    for (const auto& [k, count] : buckets) {
      std::string range = "[" + std::to_string(1ull << k) + ", " + std::to_string(2ull << k) + ")";
      std::printf("  %-22s %llu samples\n", range.c_str(), (unsigned long long)count);
    }
  }

  std::map<uint32_t, std::string> specials;  // id -> name, from the token_id.* attributes
  const std::string prefix = kSpecialTokenAttrPrefix;
  std::printf("attributes\n");
  for (const auto& [key, value] : attrs) {
    if (key.compare(0, prefix.size(), prefix) == 0) {
      char* end = nullptr;
      unsigned long id = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0')
        throw UserError(path + ": attribute " + key + " is '" + value + "', expected a token id");
      specials[uint32_t(id)] = key.substr(prefix.size());
      continue;
    }
    std::printf("  %-20s %s\n", key.c_str(), one_line(value).c_str());
  }

  // One pass over the tokens in blocks: special-token counts and the trained fraction. It also
  // checks every id against vocab_size.
  std::map<uint32_t, uint64_t> special_count;
  uint64_t trained = 0;
  std::vector<uint32_t> ids;  // [<= block]
  std::vector<uint8_t> mask;  // [<= block]
  const uint64_t block = uint64_t(1) << 20;
  for (uint64_t first = 0; first < d.num_tokens(); first += block) {
    d.read_range(first, std::min(block, d.num_tokens() - first), ids, mask);
    for (size_t t = 0; t < ids.size(); ++t) {
      trained += mask[t] != 0;
      if (specials.count(ids[t])) ++special_count[ids[t]];
    }
  }
  std::printf("loss mask   %llu of %llu tokens trained (%.2f%%)\n", (unsigned long long)trained,
              (unsigned long long)d.num_tokens(),
              d.num_tokens() ? 100.0 * double(trained) / double(d.num_tokens()) : 0.0);
  if (!specials.empty()) {
    std::printf("special tokens (id: count)\n");
    for (const auto& [id, name] : specials)
      std::printf("  %-12s %u: %llu\n", name.c_str(), id, (unsigned long long)special_count[id]);
  }

  if (show >= 0) {
    d.read_sample(uint64_t(show), ids, mask);
    size_t shown = max_tokens > 0 ? std::min(ids.size(), size_t(max_tokens)) : ids.size();
    std::printf("sample %lld (%zu tokens; trained tokens inside \u27e6 \u27e7):\n", (long long)show,
                ids.size());
    const bool bytes = d.tokenizer() == ByteTokenizer::name();
    std::string text;
    bool open = false;
    for (size_t t = 0; t < shown; ++t) {
      if (bool(mask[t]) != open) {
        text += open ? "\u27e7" : "\u27e6";
        open = !open;
      }
      text += bpe && !specials.count(ids[t]) ? bpe->decode_one(ids[t]) : show_token(ids[t], bytes, specials);
    }
    if (open) text += "\u27e7";
    if (shown < ids.size()) text += "\n... (" + std::to_string(ids.size() - shown) + " more tokens)";
    std::printf("%s\n", text.c_str());
  }
  return kExitOk;
}

void print_data_usage() {
  std::printf(
      "usage: smoothread data <subcommand> [options]\n\n"
      "subcommands:\n"
      "  from-text  text files -> token dataset (byte or BPE tokenizer)\n"
      "  inspect    check a token dataset and print a summary and one decoded sample\n"
      "  build      Smooth Reading trajectories from JSONL -> token dataset\n"
      "  synth      synthetic long-context tasks -> token dataset\n\n"
      "`smoothread data <subcommand> --help` describes each one.\n");
}

}  // namespace

int cmd_data(const std::vector<std::string>& args) {
  if (args.empty()) {
    print_data_usage();
    throw UserError("data: expected a subcommand: from-text, inspect, build or synth");
  }
  const std::string& sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "--help" || sub == "-h" || sub == "help") {
    print_data_usage();
    return kExitOk;
  }
  // Writers register their temporary files; an interrupt removes them before the process ends.
  install_temporary_cleanup();
  if (sub == "from-text") return data_from_text(rest);
  if (sub == "inspect") return data_inspect(rest);
  if (sub == "build") return data_build(rest);
  if (sub == "synth") return data_synth(rest);
  throw UserError("data: unknown subcommand '" + sub + "', expected from-text, inspect, build or synth");
}

}  // namespace sr
