// `smoothread bench read`: inference speed of a model shape with random weights, at given
// context lengths. Smooth Reading (--mode sr): per chunk a prefill of <chunk> C <summary>, a
// fixed number of decoded summary tokens, <read>; then <answer> and a fixed number of answer
// tokens. One-round (--mode one-round, the full-attention baseline): the whole context in one
// prefill, then the answer. Random weights write random tokens, so the summary and answer lengths
// are fixed here rather than left to the model. Reports time to answer, prefill and decode
// tokens/s, decode against the memory-bandwidth bound (weights and the KV cache read once per
// decoded token, over --bandwidth-gbs), and peak memory.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/config_loader.h"
#include "cli/data_commands.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dataset/tokenizer.h"
#include "infer/engine.h"

namespace po = boost::program_options;

namespace sr {

int bench_read(const std::vector<std::string>& args);

namespace {


// Peak resident memory of this process (CPU), from /proc.
size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return size_t(std::stoull(line.substr(6))) * 1024;
  return 0;
}

struct Phase {
  double seconds = 0.0;
  int64_t tokens = 0;
};

}  // namespace

int bench_read(const std::vector<std::string>& raw_args) {
  // Keys of the model shape go to the config loader (--config FILE, --model.KEY VALUE).
  std::vector<std::string> model_args, args;
  for (size_t i = 0; i < raw_args.size(); ++i) {
    const std::string& a = raw_args[i];
    if ((a == "--config" || a.rfind("--model.", 0) == 0) && i + 1 < raw_args.size()) {
      model_args.push_back(a);
      model_args.push_back(raw_args[++i]);
    } else {
      args.push_back(a);
    }
  }
  std::string contexts_s, mode_s, device_s, precision_s, out_json;
  int64_t chunk_tokens = 0, summary_tokens = 0, answer_tokens = 0, question_tokens = 0, batch = 0;
  int64_t max_step_tokens = 0, prefill_attention = -1;
  double bandwidth = 0.0;
  po::options_description desc("options (and --config MODEL.ini, --model.KEY VALUE)");
  desc.add_options()("help,h", "print this help")(
      "context-tokens", po::value<std::string>(&contexts_s)->default_value("16k,32k,64k"),
      "comma-separated context lengths")(
      "mode", po::value<std::string>(&mode_s)->default_value("sr"), "sr or one-round")(
      "chunk-tokens", po::value<int64_t>(&chunk_tokens)->default_value(0),
      "sr: chunk size (0: half the window)")(
      "summary-tokens", po::value<int64_t>(&summary_tokens)->default_value(128),
      "sr: tokens the model writes per chunk (the summary and its <read>)")(
      "answer-tokens", po::value<int64_t>(&answer_tokens)->default_value(32), "answer tokens decoded")(
      "question-tokens", po::value<int64_t>(&question_tokens)->default_value(32), "question length")(
      "batch", po::value<int64_t>(&batch)->default_value(1), "sequences read at once")(
      "max-step-tokens", po::value<int64_t>(&max_step_tokens)->default_value(4096),
      "tokens per forward (prefills are cut to it)")(
      "prefill-attention", po::value<int64_t>(&prefill_attention)->default_value(-1),
      "prefills of at least this many tokens use the training attention kernel (cuDNN) over the "
      "cache laid out in order; -1: 64 on CUDA, never on CPU; 0: always the cache kernel")(
      "device", po::value<std::string>(&device_s)->default_value("auto"), "auto, cpu or cuda")(
      "precision", po::value<std::string>(&precision_s)->default_value("auto"),
      "auto (bf16 on CUDA, f32 on CPU), f32 or bf16")(
      "bandwidth-gbs", po::value<double>(&bandwidth)->default_value(4800.0),
      "memory bandwidth in GB/s for the decode bound (H200: 4800; H100 SXM: 3350)")(
      "out-json", po::value<std::string>(&out_json), "also write the results as JSON here");
  const char* usage =
      "--config configs/model/swa-3b-4k.ini [--mode sr|one-round] [--context-tokens 16k,32k,64k]\n"
      "Times reading with random weights: time to answer, prefill and decode tokens/s, decode\n"
      "against the memory-bandwidth bound, peak memory.";
  po::variables_map vm;
  if (!parse_command_line("bench read", usage, args, desc, {}, {}, vm)) return kExitOk;
  if (model_args.empty())
    throw UserError("bench read: expected --config MODEL.ini (e.g. configs/model/swa-3b-4k.ini)");
  const ModelConfig cfg = load_run_config("bench read", model_args).run.model;
  cfg.validate(1);
  if (mode_s != "sr" && mode_s != "one-round")
    throw UserError("bench read: --mode '" + mode_s + "': expected sr or one-round");
  const bool sr_mode = mode_s == "sr";
  std::vector<int64_t> contexts;
  for (size_t c : parse_token_list("bench read: --context-tokens", contexts_s)) contexts.push_back(int64_t(c));
  if (chunk_tokens == 0) chunk_tokens = cfg.sliding_window > 0 ? cfg.sliding_window / 2 : 2048;
  if (sr_mode && cfg.sliding_window > 0 && chunk_tokens > cfg.sliding_window)
    throw UserError("bench read: --chunk-tokens " + std::to_string(chunk_tokens) +
                    " is larger than the model's window of " + std::to_string(cfg.sliding_window));
  for (int64_t v : {chunk_tokens, summary_tokens, answer_tokens, question_tokens, batch, max_step_tokens})
    if (v < 1) throw UserError("bench read: token counts and --batch must be positive");
  if (device_s == "auto") device_s = cuda_device_count() > 0 ? "cuda" : "cpu";
  if (device_s != "cpu" && device_s != "cuda")
    throw UserError("bench read: --device " + device_s + ": expected auto, cpu or cuda");
  if (device_s == "cuda" && cuda_device_count() == 0)
    throw UserError("bench read: --device cuda: no CUDA device visible (or built without CUDA)");
  if (precision_s == "auto") precision_s = device_s == "cuda" ? "bf16" : "f32";
  if (precision_s != "f32" && precision_s != "bf16")
    throw UserError("bench read: --precision " + precision_s + ": expected auto, f32 or bf16");
  if (precision_s == "bf16" && device_s != "cuda")
    throw UserError("bench read: --precision bf16 needs --device cuda");
  const Device device = device_s == "cuda" ? Device::cuda : Device::cpu;
  if (device == Device::cuda) cuda_set_device(0);
  const int64_t max_context = *std::max_element(contexts.begin(), contexts.end());

  EngineShape es;
  es.batch = batch;
  es.max_step_tokens = max_step_tokens;
  es.device = device;
  es.compute = precision_s == "bf16" ? DType::bf16 : DType::f32;
  es.prefill_attention_min = prefill_attention;
  const int64_t chunks_max = (max_context + chunk_tokens - 1) / chunk_tokens;
  es.max_context = question_tokens + max_context + answer_tokens + 8 +
                   (sr_mode ? chunks_max * (summary_tokens + 3) : 0);
  Engine engine(cfg, es);
  engine.init_weights(1234);
  const size_t act_bytes = dtype_size(es.compute);
  std::printf("bench read: %s, mode %s, %s %s, batch %lld, chunk %lld, %lld summary + %lld answer "
              "tokens; %s\n",
              cfg.summary().c_str(), mode_s.c_str(), device_s.c_str(), precision_s.c_str(),
              (long long)batch, (long long)chunk_tokens, (long long)summary_tokens,
              (long long)answer_tokens, engine.memory_plan().c_str());
  std::printf("%8s %10s %8s %12s %12s %12s %7s %10s\n", "context", "answer_s", "rounds", "prefill_t/s",
              "decode_t/s", "bound_t/s", "of_bnd", "peak_GiB");

  // Random printable bytes stand for text: the byte tokenizer's ids.
  const Tokenizer tok;
  const int64_t S = batch, allowed = tok.vocab_size();
  Rng rng(7, 7);
  auto text = [&](int64_t n) {
    std::vector<uint32_t> v(static_cast<size_t>(n));
    for (uint32_t& x : v) x = uint32_t(32 + rng.below(95));
    return v;
  };
  const uint32_t kChunk = tok.id(Special::chunk), kSummary = tok.id(Special::summary);
  const uint32_t kRead = tok.id(Special::read), kStop = tok.id(Special::stop);
  const uint32_t kAnswer = tok.id(Special::answer);
  Json rows = Json::array();
  for (int64_t C : contexts) {
    engine.reset_all();
    std::vector<std::vector<uint32_t>> context(static_cast<size_t>(S)), question(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) {
      context[size_t(s)] = text(C);
      question[size_t(s)] = text(question_tokens);
    }
    Phase prefill, decode;
    double cache_read_bytes = 0.0;  // KV cache bytes read by the decoded tokens, summed
    const int64_t kv_row = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim() *
                           int64_t(act_bytes);
    auto run = [&](const std::vector<std::vector<uint32_t>>& feed, Phase& phase) {
      device_synchronize(device);
      const Timer t;
      engine.step(feed);
      device_synchronize(device);
      phase.seconds += t.seconds();
      for (const auto& f : feed) phase.tokens += int64_t(f.size());
    };
    // Decodes n tokens per sequence, each fed back; returns the last token of each.
    auto decode_n = [&](std::vector<std::vector<uint32_t>> feed, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t s = 0; s < S; ++s) {
          const int64_t seen = engine.position(s) + 1;
          cache_read_bytes += double(cfg.sliding_window > 0 ? std::min(seen, cfg.sliding_window) : seen) *
                              double(kv_row);
        }
        run(feed, decode);
        for (int64_t s = 0; s < S; ++s) {
          const float* l = engine.logits(s);
          feed[size_t(s)] = {uint32_t(std::max_element(l, l + allowed) - l)};
        }
      }
      return feed;
    };
    const Timer total;
    int64_t rounds = 0;
    std::vector<std::vector<uint32_t>> feed(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) {
      feed[size_t(s)] = {tok.id(Special::bos), tok.id(Special::query)};
      feed[size_t(s)].insert(feed[size_t(s)].end(), question[size_t(s)].begin(), question[size_t(s)].end());
    }
    if (sr_mode) {
      for (int64_t c0 = 0; c0 < C; c0 += chunk_tokens, ++rounds) {
        for (int64_t s = 0; s < S; ++s) {
          std::vector<uint32_t>& f = feed[size_t(s)];
          if (c0 > 0) f = {kRead};
          f.push_back(kChunk);
          const auto& ctx = context[size_t(s)];
          f.insert(f.end(), ctx.begin() + c0, ctx.begin() + std::min(C, c0 + chunk_tokens));
          f.push_back(kSummary);
        }
        run(feed, prefill);
        feed = decode_n([&] {
          std::vector<std::vector<uint32_t>> next(static_cast<size_t>(S));
          for (int64_t s = 0; s < S; ++s) {
            const float* l = engine.logits(s);
            next[size_t(s)] = {uint32_t(std::max_element(l, l + allowed) - l)};
          }
          return next;
        }(), summary_tokens - 1);
      }
      for (auto& f : feed) f = {kStop, kAnswer};
    } else {
      rounds = 1;
      for (int64_t s = 0; s < S; ++s) {
        feed[size_t(s)].push_back(kChunk);
        feed[size_t(s)].insert(feed[size_t(s)].end(), context[size_t(s)].begin(), context[size_t(s)].end());
        feed[size_t(s)].push_back(kAnswer);
      }
    }
    run(feed, prefill);
    std::vector<std::vector<uint32_t>> next(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) {
      const float* l = engine.logits(s);
      next[size_t(s)] = {uint32_t(std::max_element(l, l + allowed) - l)};
    }
    decode_n(next, answer_tokens - 1);
    const double answer_s = total.seconds();
    // Decode is bound by reading every weight once per step (shared by the batch) and each
    // sequence's visible cache.
    const int64_t decode_steps = decode.tokens / S;
    const double bytes = double(engine.weight_bytes()) * double(decode_steps) + cache_read_bytes;
    const double bound = bytes > 0 ? double(decode.tokens) / (bytes / (bandwidth * 1e9)) : 0.0;
    const double dec_tps = decode.seconds > 0 ? decode.tokens / decode.seconds : 0.0;
    const double pre_tps = prefill.seconds > 0 ? prefill.tokens / prefill.seconds : 0.0;
    size_t used = 0, total_mem = 0;
    if (device == Device::cuda) cuda_memory_info(used, total_mem); else used = peak_rss_bytes();
    const double peak_gib = double(used) / double(size_t(1) << 30);
    std::printf("%8lld %10.3f %8lld %12.0f %12.1f %12.1f %6.0f%% %10.2f\n", (long long)C, answer_s,
                (long long)rounds, pre_tps, dec_tps, bound, bound > 0 ? 100.0 * dec_tps / bound : 0.0,
                peak_gib);
    std::fflush(stdout);
    rows.push_back(Json{{"context_tokens", C}, {"seconds_to_answer", answer_s}, {"rounds", rounds},
                        {"prefill_tokens", prefill.tokens}, {"prefill_seconds", prefill.seconds},
                        {"prefill_tokens_per_s", pre_tps}, {"decode_tokens", decode.tokens},
                        {"decode_seconds", decode.seconds}, {"decode_tokens_per_s", dec_tps},
                        {"decode_bound_tokens_per_s", bound}, {"memory_gib", peak_gib}});
  }
  std::printf("memory: %s; peak is %s\n", engine.memory_plan().c_str(),
              device == Device::cuda ? "device memory in use after the run (cudaMemGetInfo)"
                                     : "the process's peak resident set");
  if (!out_json.empty()) {
    Json j{{"model", cfg.summary()}, {"mode", mode_s}, {"device", device_s}, {"precision", precision_s},
           {"batch", batch}, {"chunk_tokens", chunk_tokens}, {"summary_tokens", summary_tokens},
           {"answer_tokens", answer_tokens}, {"bandwidth_gbs", bandwidth},
           {"weight_bytes", engine.weight_bytes()}, {"cache_bytes", engine.cache_bytes()},
           {"activation_bytes", engine.activation_bytes()}, {"results", rows}};
    std::ofstream f(out_json, std::ios::trunc);
    f << j.dump(2) << "\n";
    if (!f) throw UserError("bench read: cannot write " + out_json);
  }
  return kExitOk;
}

}  // namespace sr
