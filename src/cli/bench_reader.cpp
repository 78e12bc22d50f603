// `smoothread bench reader X.h5`: Loader throughput (one rank, one prefetch thread) in tokens/s
// and GB/s, where a token is 5 bytes as stored uncompressed (uint32 id + uint8 loss mask); per
// second of wall time, and per second of CPU time (user + system, all threads), which a machine
// shared with other work does not distort.
// --make-bytes N first writes X.h5 with about N such bytes of text-like random samples.
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/data_commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dataset/loader.h"
#include "dataset/tokenizer.h"

namespace po = boost::program_options;

namespace sr {

namespace {

constexpr double kBytesPerToken = 5.0;  // uint32 id + uint8 loss mask

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// About `bytes` / 5 tokens of lowercase letters, spaces and newlines in samples whose lengths are
// uniform in [max_len / 2, max_len], each <bos> ... <eos>.
void make_file(const std::string& path, int64_t bytes, int64_t max_len, bool compress,
               uint64_t seed, const Tokenizer& tok) {
  static const char kAlphabet[33] = "abcdefghijklmnopqrstuvwxyz   \n  ";
  Rng rng(seed, hash_name("bench.reader.make"));
  TokenDatasetWriter w(path, tok, compress);
  w.set_attribute("source", "bench reader --make-bytes " + std::to_string(bytes));
  std::vector<uint32_t> ids;  // [<= max_len]
  std::vector<uint8_t> mask;  // [<= max_len]
  const uint64_t target = uint64_t(bytes / kBytesPerToken);
  while (w.num_tokens() < target) {
    int64_t len = rng.range(std::max<int64_t>(3, max_len / 2), std::max<int64_t>(3, max_len));
    ids.assign(1, tok.id(Special::bos));
    for (int64_t t = 1; t + 1 < len; t += 8) {
      uint64_t r = rng.next_u64();
      for (int64_t j = 0; j < 8 && t + j + 1 < len; ++j) ids.push_back(uint8_t(kAlphabet[(r >> (8 * j)) & 31]));
    }
    ids.push_back(tok.id(Special::eos));
    mask.assign(ids.size(), 1);
    mask[0] = 0;
    w.add_sample(ids, mask);
  }
  w.close();
}

}  // namespace

int bench_reader(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "print this help")(
      "micro-batch-tokens", po::value<int64_t>()->default_value(8192), "tokens per micro-batch")(
      "global-batch-tokens", po::value<int64_t>()->default_value(65536), "tokens per step")(
      "steps", po::value<int64_t>()->default_value(0), "steps to time (0: one epoch)")(
      "seed", po::value<uint64_t>()->default_value(1234), "shuffle seed")(
      "no-shuffle", po::bool_switch(), "read in file order")(
      "prefetch", po::value<int>()->default_value(2), "steps prefetched by the reader thread")(
      "make-bytes", po::value<int64_t>()->default_value(0),
      "first write the file with about this many bytes of tokens + masks (5 bytes a token)")(
      "no-compress", po::bool_switch(), "with --make-bytes: store without gzip");
  po::options_description hidden;
  hidden.add_options()("input", po::value<std::string>()->required());
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  const char* usage =
      "X.h5 [--micro-batch-tokens N] [--steps N] [--make-bytes N]\n"
      "Times the training reader (one rank) over a token dataset and prints one result line:\n"
      "tokens/s and GB/s counting 5 bytes a token (uint32 id + uint8 loss mask).";
  if (!parse_command_line("bench reader", usage, args, opts, hidden, pos, vm)) return kExitOk;

  const std::string path = vm["input"].as<std::string>();
  LoaderConfig cfg;
  cfg.path = path;
  cfg.seed = vm["seed"].as<uint64_t>();
  cfg.shuffle = !vm["no-shuffle"].as<bool>();
  cfg.micro_batch_tokens = vm["micro-batch-tokens"].as<int64_t>();
  cfg.global_batch_tokens = vm["global-batch-tokens"].as<int64_t>();
  cfg.prefetch_steps = vm["prefetch"].as<int>();
  // The file is made of byte-tokenizer ids.
  const Tokenizer tokenizer;
  cfg.model_vocab_size = tokenizer.vocab_size();
  const int64_t steps = vm["steps"].as<int64_t>();
  const int64_t make_bytes = vm["make-bytes"].as<int64_t>();
  if (make_bytes > 0) {
    Timer t;
    make_file(path, make_bytes, cfg.micro_batch_tokens, !vm["no-compress"].as<bool>(), cfg.seed,
              tokenizer);
    std::printf("bench reader: wrote %s (%.1f MB on disk) in %.1f s\n", path.c_str(),
                double(std::filesystem::file_size(path)) / 1e6, t.seconds());
  }

  Timer timer;
  const double cpu0 = cpu_seconds();
  Loader loader(cfg, 0, 1, LoaderState{});
  int64_t done = 0, tokens = 0, samples = 0;
  while ((steps > 0 && done < steps) || (steps == 0 && loader.state().epoch == 0)) {
    for (const Batch& b : loader.next_step()) {
      tokens += b.num_tokens();
      samples += b.num_samples();
    }
    ++done;
  }
  const double s = timer.seconds(), cpu = cpu_seconds() - cpu0;
  const double disk = double(std::filesystem::file_size(path));
  std::printf("bench reader: %s: %lld steps, %lld samples, %lld tokens in %.2f s (%.2f s CPU): "
              "%.3g tokens/s, %.3f GB/s; per CPU second %.3g tokens, %.3f GB "
              "(file %.1f MB, %.2f bytes/token on disk, micro %lld, shuffle %s)\n",
              path.c_str(), (long long)done, (long long)samples, (long long)tokens, s, cpu,
              double(tokens) / s, double(tokens) * kBytesPerToken / s / 1e9, double(tokens) / cpu,
              double(tokens) * kBytesPerToken / cpu / 1e9, disk / 1e6,
              disk / double(loader.dataset().num_tokens()), (long long)cfg.micro_batch_tokens,
              cfg.shuffle ? "on" : "off");
  return kExitOk;
}

}  // namespace sr
