// `smoothread bench tokenizer`: encoding throughput of a tokenizer on one core (MB of text per
// second), tokens per byte, and a decode round-trip check. The text is a file (repeated up to
// --mb) or, without --text, generated mixed text (words, numbers, punctuation, code, CJK, emoji)
// that does not repeat, so the piece cache is not flattered.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/data_commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dataset/bpe_tokenizer.h"
#include "dataset/synthetic.h"
#include "dataset/tokenizer.h"

namespace po = boost::program_options;

namespace sr {

namespace {

std::string generated_text(size_t bytes) {
  static const char* const kExtra[] = {
      "中文的文本，", "日本語のテキストです。", "한국어 문장입니다. ", "Ünïcödé façade naïve ",
      "😀👍🏽 ", "Привет, мир! ", "مرحبا بالعالم ", "int main() { return 0; }\n",
      "    for (i = 0; i < n; ++i) x[i] += y[i];\n", "\n\n", "  \t", "It's they'll we've ",
  };
  const Haystack words = Haystack::default_words();
  Rng rng(1, hash_name("bench.tokenizer"));
  std::string s;
  s.reserve(bytes + 64);
  while (s.size() < bytes) {
    const uint64_t r = rng.below(100);
    if (r < 70) {
      std::string w = words.word(rng);
      if (rng.below(8) == 0 && !w.empty()) w[0] = char(w[0] - 'a' + 'A');
      s += w;
      s += rng.below(12) == 0 ? ", " : " ";
    } else if (r < 80) {
      s += std::to_string(rng.below(100000)) + " ";
    } else if (r < 88) {
      s += rng.below(2) ? ". " : ".\n";
    } else {
      s += kExtra[rng.below(sizeof kExtra / sizeof kExtra[0])];
    }
  }
  return s;
}

}  // namespace

int bench_tokenizer(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "print this help")(
      "tokenizer", po::value<std::string>()->default_value("byte"), "byte, or a tokenizer.json")(
      "text", po::value<std::string>(), "a UTF-8 text file (default: generated mixed text)")(
      "mb", po::value<double>()->default_value(16.0), "MB of text to encode (a file is repeated)");
  po::variables_map vm;
  const char* usage =
      "[--tokenizer FILE] [--text FILE] [--mb N]\n"
      "Encodes N MB of text on one core and prints MB/s, tokens per byte and whether decoding\n"
      "gives the (NFC) text back.";
  if (!parse_command_line("bench tokenizer", usage, args, opts, {}, {}, vm)) return kExitOk;
  const double mb = vm["mb"].as<double>();
  if (!(mb > 0 && mb <= 4096))
    throw UserError("bench tokenizer: --mb " + std::to_string(mb) + ": expected more than 0, at most 4096");
  const size_t bytes = size_t(mb * 1e6);
  const std::string spec = vm["tokenizer"].as<std::string>();
  const Timer load_clock;
  const Tokenizer tok = load_tokenizer(spec, false);
  const double load_s = load_clock.seconds();

  std::string text;
  std::string source = "generated mixed text";
  if (vm.count("text")) {
    source = vm["text"].as<std::string>();
    std::ifstream in(source, std::ios::binary);
    if (!in) throw UserError(source + ": cannot open the text file");
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string once = ss.str();
    if (once.empty()) throw UserError(source + ": the text file is empty");
    while (text.size() < bytes) text += once;
    text.resize(bytes);
    // Do not end inside a UTF-8 character.
    while (!text.empty() && (uint8_t(text.back()) & 0xC0) == 0x80) text.pop_back();
    if (!text.empty() && uint8_t(text.back()) >= 0xC0) text.pop_back();
  } else {
    text = generated_text(bytes);
  }

  // Encoded in pieces of 64 KiB cut after a newline or space, as the data commands feed it.
  std::vector<std::string_view> parts;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.size(), pos + (size_t(1) << 16));
    if (end < text.size()) {
      const size_t cut = text.find_last_of("\n ", end);
      if (cut != std::string::npos && cut > pos) end = cut + 1;
    }
    parts.push_back(std::string_view(text).substr(pos, end - pos));
    pos = end;
  }
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 2);
  const Timer clock;
  for (std::string_view p : parts) tok.encode_append(p, ids);
  const double seconds = clock.seconds();

  const Timer decode_clock;
  const std::string back = tok.decode(ids);
  const double decode_s = decode_clock.seconds();
  const bool round_trip = tok.is_byte() ? back == text : back == nfc_normalize(text);

  std::printf("tokenizer   %s (%s, vocab_size %u, loaded in %.2f s)\n", tok.name().c_str(),
              spec.c_str(), tok.vocab_size(), load_s);
  std::printf("text        %s, %.1f MB\n", source.c_str(), double(text.size()) / 1e6);
  std::printf("encode      %.1f MB/s on one core (%.3f s)\n", double(text.size()) / 1e6 / seconds, seconds);
  std::printf("tokens      %zu, %.3f tokens/byte (%.2f bytes/token)\n", ids.size(),
              double(ids.size()) / double(text.size()), double(text.size()) / double(std::max<size_t>(1, ids.size())));
  std::printf("decode      %.1f MB/s, round trip %s\n", double(text.size()) / 1e6 / decode_s,
              round_trip ? "ok" : "FAILED");
  if (!round_trip) throw UserError("bench tokenizer: decoding the ids did not give the text back");
  return kExitOk;
}

}  // namespace sr
