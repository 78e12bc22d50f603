// `smoothread bench compare`: the paper's efficiency comparison as one command. For each
// context length it measures a training step of the model with full attention and with a
// sliding window (the same shape otherwise), and reports tokens/s, MFU and memory side by side,
// the measured speed ratio, and the FLOP ratio that bounds it when both run equally efficiently.
//
//   smoothread bench compare --model configs/model/qwen2.5-3b.ini --window 4096
//       --contexts 8k,16k,32k,64k --parallel.device cuda [--json F] [--markdown F] [--KEY V ...]
//
// Recomputation per context: `--recompute auto` (default) takes the first of none,
// except_attention, full whose planned memory fits 90 % of the device (or host) memory.
#include <omp.h>

#include <cstdio>
#include <fstream>

#include "cli/bench_train.h"
#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/options.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/threads.h"
#include "model/transformer.h"
#include "train/run_config.h"

namespace sr {
namespace {

const char* kUsage =
    "usage: smoothread bench compare [--model FILE.ini] [--window W] [--contexts 8k,16k,...]\n"
    "                                [--recompute auto|none|attn|full|except_attention]\n"
    "                                [--json FILE] [--markdown FILE] [--section.key VALUE ...]\n\n"
    "Trains one step of the model with full attention and with a W-token sliding window at each\n"
    "context, one sample per step, and prints tokens/s, MFU and memory side by side with the\n"
    "measured speed ratio and the FLOP ratio that bounds it. Other --section.key options are\n"
    "those of `smoothread train` (e.g. --parallel.device cuda, --train.steps 2).\n";


// Bytes a step holds under a recomputation mode: the model's arenas as its constructor plans
// them (f32 master weights and gradients, the bf16 copy, the activations kept) and AdamW's two
// f32 moments per parameter. Workspaces of cuBLASLt and cuDNN come on top (the 10 % margin).
double planned_bytes(const RunConfig& c, Recompute rc, int tp) {
  RunShape shape = run_shape(c);
  shape.recompute = rc;
  const Transformer::PlannedBytes b = Transformer::planned_bytes(c.model, shape, {nullptr, 0, tp});
  return double(b.total() + 2 * b.params);
}

struct Measured {
  int64_t tokens;
  int64_t window;
  Recompute recompute;
  TrainBenchResult r;
};

// The side-by-side table (Markdown) and one JSON line per measurement, for the pairs measured so
// far: rewritten after each context, so a run cut short keeps what it measured.
void write_results(const std::vector<Measured>& results, const ModelConfig& model_cfg, int64_t window,
                   const std::string& json_path, const std::string& markdown_path, bool final) {
  // Side by side, with the ratios.
  std::string md =
      "| context | full: tokens/s | MFU | memory | window " + std::to_string(window) +
      ": tokens/s | MFU | memory | measured speed-up | FLOP ratio (bound at equal efficiency) |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  Json rows = Json::array();
  char line[512];
  for (size_t i = 0; i + 1 < results.size(); i += 2) {
    const Measured &f = results[i], &s = results[i + 1];
    ModelConfig mf = model_cfg, ms = model_cfg;
    mf.sliding_window = 0, ms.sliding_window = window;
    const double flop_ratio = mf.train_flops_per_token(f.tokens) / ms.train_flops_per_token(s.tokens);
    const double speedup = s.r.tokens_per_s / f.r.tokens_per_s;
    std::snprintf(line, sizeof line,
                  "| %lld | %.0f | %.1f%% | %.1f GiB (%s) | %.0f | %.1f%% | %.1f GiB (%s) | %.2fx | %.2fx |\n",
                  (long long)f.tokens, f.r.tokens_per_s, 100 * f.r.mfu, f.r.memory_gib,
                  recompute_name(f.recompute), s.r.tokens_per_s, 100 * s.r.mfu, s.r.memory_gib,
                  recompute_name(s.recompute), speedup, flop_ratio);
    md += line;
    for (const Measured* m : {&f, &s})
      rows.push_back({{"system", "smoothread"},
                      {"attention", m->window ? "window " + std::to_string(m->window) : std::string("full")},
                      {"tokens", m->tokens},
                      {"tokens_per_s", m->r.tokens_per_s},
                      {"seconds_per_step", m->r.seconds_per_step},
                      {"mfu", m->r.mfu},
                      {"memory_gib", m->r.memory_gib},
                      {"recompute", recompute_name(m->recompute)},
                      {"speedup_vs_full", m->window ? speedup : 1.0},
                      {"flop_ratio", m->window ? flop_ratio : 1.0}});
  }
  if (final) info("bench compare: %s\n%s", model_cfg.summary().c_str(), md.c_str());
  if (log_rank() == 0) {
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      for (const Json& r : rows) f << r.dump() << "\n";
      if (!f) user_error("bench compare: cannot write " + json_path);
    }
    if (!markdown_path.empty()) {
      std::ofstream f(markdown_path);
      f << md;
      if (!f) user_error("bench compare: cannot write " + markdown_path);
    }
  }
}

}  // namespace

int bench_compare(const std::vector<std::string>& args) {
  std::string model = "configs/model/qwen2.5-3b.ini", json_path, markdown_path, recompute = "auto";
  std::string contexts = "8k,16k,32k,64k";
  int64_t window = 4096;
  std::vector<std::string> rest;  // passed on to the run configuration
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      if (log_rank() == 0) std::fputs(kUsage, stdout);
      return kExitOk;
    }
    const bool ours = a == "--model" || a == "--window" || a == "--contexts" || a == "--json" ||
                      a == "--markdown" || a == "--recompute";
    if (!ours) {
      rest.push_back(a);
      continue;
    }
    if (i + 1 >= args.size()) user_error("bench compare: " + a + " needs a value");
    const std::string& v = args[++i];
    if (a == "--model") model = v;
    if (a == "--window") window = int64_t(parse_token_count("bench compare: --window", v));
    if (a == "--contexts") contexts = v;
    if (a == "--json") json_path = v;
    if (a == "--markdown") markdown_path = v;
    if (a == "--recompute") recompute = v;
  }
  std::vector<int64_t> lengths;
  for (size_t c : parse_token_list("bench compare: --contexts", contexts)) lengths.push_back(int64_t(c));
  std::vector<std::string> base = {"--config", model};
  base.insert(base.end(), rest.begin(), rest.end());
  const LoadedConfig loaded = load_run_config("bench compare", base);
  if (loaded.help) return kExitOk;
  RunConfig cfg = loaded.run;
  auto grid = make_process_grid(cfg.tp, cfg.device, cfg.watchdog_seconds);
  omp_set_num_threads(threads_per_rank(cfg.threads, grid->local_size));
  size_t used = 0, capacity = 0;
  if (cfg.device == Device::cuda) cuda_memory_info(used, capacity);

  std::vector<Measured> results;
  for (int64_t T : lengths) {
    for (int64_t w : {int64_t(0), window}) {
      RunConfig c = cfg;
      c.model.sliding_window = w;
      c.micro_batch_tokens = T;
      c.global_batch_tokens = std::max<int64_t>(c.global_batch_tokens, T);
      c.lm_head_chunk = std::min<int64_t>(c.lm_head_chunk, T);
      if (recompute == "auto") {
        c.recompute = Recompute::full;
        for (Recompute rc : {Recompute::none, Recompute::except_attention, Recompute::full}) {
          if (capacity == 0 || planned_bytes(c, rc, c.tp) < 0.9 * double(capacity)) {
            c.recompute = rc;
            break;
          }
        }
      } else {
        c.recompute = parse_recompute(recompute);
      }
      c.model.validate(c.tp);
      const TrainBenchResult r = measure_training_step(c, *grid, false);
      info("bench compare: %6lld tokens, %-12s recompute %-16s %.3f s/step, %8.0f tokens/s, MFU "
           "%5.1f%%, %.1f GiB",
           (long long)T, w ? ("window " + std::to_string(w)).c_str() : "full", recompute_name(c.recompute),
           r.seconds_per_step, r.tokens_per_s, 100 * r.mfu, r.memory_gib);
      results.push_back({T, w, c.recompute, r});
    }
    write_results(results, cfg.model, window, json_path, markdown_path, false);
  }

  write_results(results, cfg.model, window, json_path, markdown_path, true);
  return kExitOk;
}

}  // namespace sr
