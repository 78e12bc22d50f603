#include "cli/config_loader.h"

#include <boost/program_options.hpp>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <type_traits>
#include <utility>

#include "cli/options.h"
#include "core/error.h"
#include "dataset/synthetic.h"
#include "dataset/trajectory.h"
#include "core/log.h"

namespace po = boost::program_options;

namespace sr {

namespace {

// The kinds of value a key takes; FieldType names the RunConfig field type each one writes, so
// that a key whose kind does not match its field fails to compile (see SR_KEY).
enum class Kind { integer, unsigned_integer, int32, number, boolean, text, recompute, precision, device };

template <Kind K> struct FieldType;
template <> struct FieldType<Kind::integer> { using type = int64_t; };
template <> struct FieldType<Kind::unsigned_integer> { using type = uint64_t; };
template <> struct FieldType<Kind::int32> { using type = int; };
template <> struct FieldType<Kind::number> { using type = double; };
template <> struct FieldType<Kind::boolean> { using type = bool; };
template <> struct FieldType<Kind::text> { using type = std::string; };
template <> struct FieldType<Kind::recompute> { using type = Recompute; };
template <> struct FieldType<Kind::precision> { using type = Precision; };
template <> struct FieldType<Kind::device> { using type = Device; };

// One setting: its key, what it means, its type and where it lives in a RunConfig.
struct Key {
  const char* name;
  Kind kind;
  void* (*field)(RunConfig&);  // the address of the field in a config
  const char* help;
};

template <Kind K, class Field>
constexpr Kind checked_kind() {
  static_assert(std::is_same_v<Field, typename FieldType<K>::type>,
                "SR_KEY: the kind of a key does not match the type of its RunConfig field");
  return K;
}

#define SR_KEY(name, kind, member, help)                                                   \
  Key {                                                                                    \
    name, checked_kind<Kind::kind, decltype(std::declval<RunConfig&>().member)>(),         \
        [](RunConfig& c) -> void* { return &c.member; }, help                              \
  }

const std::vector<Key>& schema() {
  static const std::vector<Key> keys = {
      SR_KEY("model.hidden_size", integer, model.hidden_size, "hidden width H"),
      SR_KEY("model.num_hidden_layers", integer, model.num_hidden_layers, "transformer blocks"),
      SR_KEY("model.num_attention_heads", integer, model.num_attention_heads, "query heads"),
      SR_KEY("model.num_key_value_heads", integer, model.num_key_value_heads, "key/value heads (GQA)"),
      SR_KEY("model.intermediate_size", integer, model.intermediate_size, "SwiGLU MLP width"),
      SR_KEY("model.vocab_size", integer, model.vocab_size, "vocabulary size"),
      SR_KEY("model.rope_theta", number, model.rope_theta, "RoPE base θ"),
      SR_KEY("model.rms_norm_eps", number, model.rms_norm_eps, "RMSNorm epsilon"),
      SR_KEY("model.sliding_window", integer, model.sliding_window, "attention window W (0 = full attention)"),
      SR_KEY("model.tie_word_embeddings", boolean, model.tie_word_embeddings, "LM head shares the embedding"),
      SR_KEY("model.attention_bias", boolean, model.attention_bias, "biases on q/k/v projections"),
      SR_KEY("model.recompute", recompute, recompute, "activation recomputation: none|attn|full|except_attention"),
      SR_KEY("model.lm_head_chunk", integer, lm_head_chunk, "tokens per LM-head/cross-entropy chunk"),
      SR_KEY("train.steps", integer, steps, "optimizer steps"),
      SR_KEY("train.global_batch_tokens", integer, global_batch_tokens, "token budget of a global batch"),
      SR_KEY("train.micro_batch_tokens", integer, micro_batch_tokens, "token budget of a micro-batch"),
      SR_KEY("train.lr", number, lr, "peak learning rate"),
      SR_KEY("train.min_lr", number, min_lr, "learning rate at the end of the cosine decay"),
      SR_KEY("train.warmup_steps", integer, warmup_steps, "linear warm-up steps"),
      SR_KEY("train.weight_decay", number, weight_decay, "AdamW decoupled weight decay"),
      SR_KEY("train.beta1", number, beta1, "AdamW β1"),
      SR_KEY("train.beta2", number, beta2, "AdamW β2"),
      SR_KEY("train.adam_eps", number, adam_eps, "AdamW ε"),
      SR_KEY("train.grad_clip", number, grad_clip, "global gradient-norm clip (0 = off)"),
      SR_KEY("train.seed", unsigned_integer, seed, "seed of initialisation and data order"),
      SR_KEY("train.init_std", number, init_std, "standard deviation of initial weights"),
      SR_KEY("train.log_every", integer, log_every, "steps between progress lines"),
      SR_KEY("train.out_dir", text, out_dir, "run directory (metrics.jsonl, checkpoints/)"),
      SR_KEY("train.threads", int32, threads, "CPU threads per rank (0 = cores / local ranks)"),
      SR_KEY("train.peak_tflops", number, peak_tflops, "card's dense bf16 peak for MFU"),
      SR_KEY("train.precision", precision, precision, "auto (bf16 on cuda, f32 on cpu), f32 or bf16"),
      SR_KEY("train.deterministic", boolean, deterministic,
             "bitwise-reproducible GPU runs (attention backward without atomics; slower)"),
      SR_KEY("train.cudnn_attention", boolean, cudnn_attention,
             "cuDNN's fused attention on GPU where built with cuDNN (else own kernels)"),
      SR_KEY("train.profile", boolean, profile,
             "time every op with device events and print where a step's time goes"),
      SR_KEY("train.eval_every", integer, eval_every,
             "steps between losses on data.eval_path, logged to metrics.jsonl (0 = off)"),
      SR_KEY("train.eval_tokens", integer, eval_tokens,
             "tokens of data.eval_path (its first samples, in file order) each evaluation reads"),
      SR_KEY("train.eval_samples", integer, eval_samples,
             "held-out synthetic samples per task and length read (as smoothread eval) at each "
             "evaluation, accuracy logged to metrics.jsonl (0 = off)"),
      SR_KEY("train.eval_tasks", text, eval_tasks, "tasks of train.eval_samples, comma-separated"),
      SR_KEY("train.eval_context_tokens", text, eval_context_tokens,
             "context lengths of train.eval_samples, comma-separated (e.g. 4k,16k)"),
      SR_KEY("train.eval_mode", text, eval_mode, "reading of train.eval_samples: sr, one-round or multi-round"),
      SR_KEY("data.path", text, data_path, "token dataset (.h5)"),
      SR_KEY("data.eval_path", text, eval_path, "held-out token dataset for train.eval_every (.h5)"),
      SR_KEY("data.shuffle", boolean, shuffle, "shuffle samples each epoch"),
      SR_KEY("data.truncate_long", boolean, truncate_long, "cut samples longer than a micro-batch"),
      SR_KEY("data.prefetch_steps", int32, prefetch_steps, "steps read ahead by a background thread"),
      SR_KEY("parallel.tp", int32, tp, "tensor-parallel size (DP = ranks / TP)"),
      SR_KEY("parallel.zero1", boolean, zero1, "shard AdamW state across DP ranks"),
      SR_KEY("parallel.overlap_grad_reduce", boolean, overlap_grad_reduce,
             "reduce each layer's DP gradients during backward (not with zero1)"),
      SR_KEY("parallel.device", device, device, "cpu|cuda"),
      SR_KEY("parallel.watchdog_seconds", number, watchdog_seconds, "abort a collective stuck this long (0 = off)"),
      SR_KEY("checkpoint.every", integer, checkpoint_every, "steps between checkpoints (0 = end only)"),
      SR_KEY("checkpoint.keep_last", integer, keep_last, "checkpoints kept (at least 1)"),
      SR_KEY("checkpoint.keep_every", integer, keep_every, "also keep every K-th step (0 = none)"),
      SR_KEY("checkpoint.resume", text, resume, "auto|none|PATH"),
      SR_KEY("checkpoint.overwrite", boolean, overwrite,
             "a run from scratch deletes another run's checkpoints in out_dir (else refused)"),
      SR_KEY("checkpoint.init_from", text, init_from,
             "a run from scratch starts from this checkpoint's weights (fresh optimizer, step 0)"),
  };
  return keys;
}
#undef SR_KEY

const Key* find_key(const std::string& name) {
  for (const Key& k : schema())
    if (name == k.name) return &k;
  return nullptr;
}

const char* expected(Kind k) {
  switch (k) {
    case Kind::integer:
    case Kind::int32: return "an integer";
    case Kind::unsigned_integer: return "a non-negative integer";
    case Kind::number: return "a finite number";
    case Kind::boolean: return "true or false";
    case Kind::text: return "a string";
    case Kind::recompute: return "none, attn, full or except_attention";
    case Kind::precision: return "auto, f32 or bf16";
    case Kind::device: return "cpu or cuda";
  }
  return "";
}

// Converts `text` into the field of `key`; false (or a UserError) when it does not parse.
bool assign(RunConfig& cfg, const Key& key, const std::string& text) {
  void* field = key.field(cfg);
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  switch (key.kind) {
    case Kind::integer: {
      long long v = std::strtoll(s, &end, 10);
      if (end == s || *end || errno) return false;
      *static_cast<int64_t*>(field) = v;
      return true;
    }
    case Kind::unsigned_integer: {
      // strtoull takes "-1" as 2^64 - 1: only digits are accepted.
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
      unsigned long long v = std::strtoull(s, &end, 10);
      if (*end || errno) return false;
      *static_cast<uint64_t*>(field) = v;
      return true;
    }
    case Kind::int32: {
      long long v = std::strtoll(s, &end, 10);
      if (end == s || *end || errno || v < INT32_MIN || v > INT32_MAX) return false;
      *static_cast<int*>(field) = int(v);
      return true;
    }
    case Kind::number: {
      double v = std::strtod(s, &end);
      if (end == s || *end || errno || !std::isfinite(v)) return false;
      *static_cast<double*>(field) = v;
      return true;
    }
    case Kind::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") {
        *static_cast<bool*>(field) = true;
      } else if (text == "false" || text == "0" || text == "no" || text == "off") {
        *static_cast<bool*>(field) = false;
      } else {
        return false;
      }
      return true;
    case Kind::text:
      *static_cast<std::string*>(field) = text;
      return true;
    // The parsers throw a UserError naming the key and the values they take.
    case Kind::recompute: *static_cast<Recompute*>(field) = parse_recompute(text); return true;
    case Kind::precision: *static_cast<Precision*>(field) = parse_precision(text); return true;
    case Kind::device: *static_cast<Device*>(field) = parse_device(text); return true;
  }
  return false;
}

// The value of `key` in `cfg` as INI text.
std::string value_text(const RunConfig& cfg, const Key& key) {
  const void* field = key.field(const_cast<RunConfig&>(cfg));
  std::ostringstream out;
  switch (key.kind) {
    case Kind::integer: out << *static_cast<const int64_t*>(field); break;
    case Kind::unsigned_integer: out << *static_cast<const uint64_t*>(field); break;
    case Kind::int32: out << *static_cast<const int*>(field); break;
    case Kind::number: out << *static_cast<const double*>(field); break;
    case Kind::boolean: out << (*static_cast<const bool*>(field) ? "true" : "false"); break;
    case Kind::text: out << *static_cast<const std::string*>(field); break;
    case Kind::recompute: out << recompute_name(*static_cast<const Recompute*>(field)); break;
    case Kind::precision: out << precision_name(*static_cast<const Precision*>(field)); break;
    case Kind::device: out << device_name(*static_cast<const Device*>(field)); break;
  }
  return out.str();
}

// Boost's default style lets `--train.step` stand for the only key it starts (train.steps):
// a typo would silently set another key. Every option must be spelled out.
constexpr int kNoGuessing = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

po::options_description key_options() {
  po::options_description d("Settings (INI [section] key, or --section.key VALUE)");
  for (const Key& k : schema()) d.add_options()(k.name, po::value<std::string>(), k.help);
  d.add_options()("include", po::value<std::vector<std::string>>()->composing(),
                  "INI files this one builds on (paths relative to it)");
  return d;
}

// Settings of one source, in the order the sources take precedence.
struct Source {
  std::string name;  // "command line" or the file path
  std::map<std::string, std::string> values;
  std::vector<std::string> includes;
};

// The settings of one INI file; a key given twice in it is an error (which one was meant?).
Source from_parsed(const std::string& name, const po::parsed_options& parsed) {
  Source s;
  s.name = name;
  for (const po::option& o : parsed.options) {
    if (o.value.empty()) continue;
    if (o.string_key == "include") {
      s.includes.push_back(o.value.front());
    } else if (!s.values.emplace(o.string_key, o.value.front()).second) {
      throw UserError(name + ": key '" + o.string_key + "' is set twice ('" + s.values[o.string_key] +
                      "' and '" + o.value.front() + "'): keep one");
    }
  }
  return s;
}

void read_file(const std::string& path, const po::options_description& opts,
               std::vector<Source>& sources, int depth) {
  if (depth > 8) throw UserError(path + ": include nesting deeper than 8 (an include cycle?)");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UserError(path + ": is a directory, expected an INI file");
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot open config file");
  Source s;
  try {
    s = from_parsed(path, po::parse_config_file(in, opts, false));
  } catch (const po::unknown_option& e) {
    throw UserError(path + ": unknown key '" + e.get_option_name() + "'");
  } catch (const po::error& e) {
    throw UserError(path + ": " + e.what());
  }
  const std::vector<std::string> includes = s.includes;
  sources.push_back(std::move(s));
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  for (const std::string& inc : includes) read_file((dir / inc).string(), opts, sources, depth + 1);
}

// Checks the values that parse but that no run could mean. `origin` names the source of each
// key that was set, so the message says where to fix it.
void check_values(const RunConfig& r, const std::map<std::string, std::string>& origin) {
  auto need = [&](bool ok, const char* key, const std::string& what) {
    if (ok) return;
    const Key* k = find_key(key);
    auto o = origin.find(key);
    throw UserError((o != origin.end() ? o->second + ": " : std::string()) + key + " = " +
                    value_text(r, *k) + ": expected " + what);
  };
  if (r.precision == Precision::bf16 && r.device == Device::cpu) {
    auto o = origin.find("train.precision");
    throw UserError((o != origin.end() ? o->second + ": " : std::string()) +
                    "train.precision = bf16: the CPU backend computes in f32 (use parallel.device = cuda)");
  }
  need(r.steps > 0, "train.steps", "a positive integer");
  need(r.micro_batch_tokens > 0, "train.micro_batch_tokens", "a positive integer");
  need(r.global_batch_tokens >= r.micro_batch_tokens, "train.global_batch_tokens",
       "at least train.micro_batch_tokens = " + std::to_string(r.micro_batch_tokens));
  need(r.tp > 0, "parallel.tp", "a positive integer");
  need(r.lm_head_chunk > 0, "model.lm_head_chunk", "a positive integer");
  need(r.lr > 0, "train.lr", "a learning rate > 0");
  need(r.min_lr >= 0 && r.min_lr <= r.lr, "train.min_lr", "0 <= min_lr <= train.lr");
  need(r.warmup_steps >= 0, "train.warmup_steps", "0 or more steps");
  need(r.weight_decay >= 0, "train.weight_decay", "a number >= 0");
  need(r.beta1 >= 0 && r.beta1 < 1, "train.beta1", "a number in [0, 1)");
  need(r.beta2 >= 0 && r.beta2 < 1, "train.beta2", "a number in [0, 1)");
  need(r.adam_eps > 0, "train.adam_eps", "a number > 0");
  need(r.grad_clip >= 0, "train.grad_clip", "a number >= 0 (0 = off)");
  need(r.init_std >= 0, "train.init_std", "a number >= 0");
  need(r.log_every > 0, "train.log_every", "a positive integer");
  need(r.threads >= 0, "train.threads", "0 (cores / local ranks) or a positive thread count");
  need(r.peak_tflops > 0, "train.peak_tflops", "a number > 0");
  need(r.eval_every >= 0, "train.eval_every", "0 (off) or a positive step interval");
  need(r.eval_samples >= 0 && r.eval_samples <= 100000, "train.eval_samples", "0 (off) to 100000");
  need(r.eval_every == 0 || !r.eval_path.empty() || r.eval_samples > 0, "train.eval_every",
       "0 while neither data.eval_path nor train.eval_samples is set (set data.eval_path to a "
       "held-out token dataset, or train.eval_samples to read held-out tasks)");
  need(r.eval_tokens > 0, "train.eval_tokens", "a positive number of tokens");
  need(r.eval_samples == 0 || r.eval_every > 0, "train.eval_samples",
       "0 while train.eval_every = 0 (set train.eval_every to evaluate)");
  if (r.eval_samples > 0) {
    parse_task_list(r.eval_tasks, "train.eval_tasks");
    parse_token_list("train.eval_context_tokens", r.eval_context_tokens);
    parse_trajectory_format(r.eval_mode, "train.eval_mode");
  }
  need(!r.out_dir.empty(), "train.out_dir", "a directory");
  need(r.prefetch_steps >= 0, "data.prefetch_steps", "0 (no background reading) or more steps");
  need(r.watchdog_seconds >= 0, "parallel.watchdog_seconds", "a number of seconds >= 0 (0 = off)");
  need(r.checkpoint_every >= 0, "checkpoint.every", "0 (only at the end) or a positive step interval");
  need(r.keep_last > 0, "checkpoint.keep_last", "a positive count of checkpoints to keep");
  need(r.keep_every >= 0, "checkpoint.keep_every", "0 (none) or a positive step interval");
  need(!r.resume.empty(), "checkpoint.resume", "auto, none or a checkpoint directory");
}

}  // namespace

LoadedConfig load_run_config(const std::string& command, const std::vector<std::string>& args) {
  po::options_description general("Options");
  general.add_options()("help,h", "show this help")("config", po::value<std::vector<std::string>>()->composing(),
                                                     "INI file of settings (repeatable: later files win)")(
      "print-config", "print the effective configuration and exit");
  po::options_description keys = key_options();
  po::options_description all;
  all.add(general).add(keys);

  LoadedConfig out;
  std::vector<Source> sources;
  std::vector<std::string> files;
  try {
    po::parsed_options parsed = po::command_line_parser(args).options(all).style(kNoGuessing).run();
    // Read directly rather than through a variables_map, so that a key repeated on the
    // command line means its last value (as wrappers that add defaults expect).
    Source cmd;
    cmd.name = "command line";
    for (const po::option& o : parsed.options) {
      if (o.position_key >= 0 || o.string_key.empty()) {
        const std::string word = o.original_tokens.empty() ? std::string() : o.original_tokens.front();
        throw UserError(command + ": unexpected argument '" + word +
                        "' (settings are given as --section.key VALUE or in --config FILE.ini)");
      }
      if (o.string_key == "help") out.help = true;
      else if (o.string_key == "print-config") out.print_config = true;
      else if (o.string_key == "config") files.push_back(o.value.front());
      else if (o.string_key == "include") throw UserError(command + ": include is a key of INI files only");
      else if (!o.value.empty()) cmd.values[o.string_key] = o.value.front();
    }
    sources.push_back(std::move(cmd));
  } catch (const po::unknown_option& e) {
    throw UserError(command + ": unknown option '" + e.get_option_name() + "' (see --help)");
  } catch (const po::error& e) {
    throw UserError(command + ": " + e.what());
  }
  if (out.help) {
    if (log_rank() == 0)
      std::cout << "usage: smoothread " << command << " [--config FILE.ini] [--section.key VALUE ...]\n\n"
                << all << "\n";
    return out;
  }
  for (auto f = files.rbegin(); f != files.rend(); ++f) read_file(*f, keys, sources, 0);

  // Apply from the lowest precedence up, so later sources overwrite earlier ones.
  std::map<std::string, std::string> origin;  // key -> the source that set it last
  for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
    for (const auto& [name, value] : it->values) {
      const Key* key = find_key(name);
      if (!key) continue;
      bool ok = false;
      try {
        ok = assign(out.run, *key, value);
      } catch (const UserError& e) {
        throw UserError(it->name + ": " + e.what());
      }
      if (!ok) throw UserError(it->name + ": " + name + " = '" + value + "': expected " + expected(key->kind));
      origin[name] = it->name;
    }
  }
  check_values(out.run, origin);
  return out;
}

std::string format_run_config(const RunConfig& cfg) {
  std::ostringstream out;
  std::string section;
  for (const Key& k : schema()) {
    const std::string name = k.name;
    const std::string sec = name.substr(0, name.find('.'));
    if (sec != section) {
      out << (section.empty() ? "" : "\n") << "[" << sec << "]\n";
      section = sec;
    }
    out << name.substr(sec.size() + 1) << " = " << value_text(cfg, k) << "\n";
  }
  return out.str();
}

}  // namespace sr
