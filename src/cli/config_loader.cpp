#include "cli/config_loader.h"

#include <boost/program_options.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "core/error.h"

namespace po = boost::program_options;

namespace sr {

namespace {

enum class Kind { integer, int32, number, boolean, text };

// One setting: its key, what it means, its type and where it lives in a RunConfig.
struct Key {
  const char* name;
  Kind kind;
  size_t offset;  // of the field in RunConfig
  const char* help;
};

#define SR_KEY(name, kind, field, help) Key{name, Kind::kind, offsetof(RunConfig, field), help}

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
      SR_KEY("model.recompute", text, recompute, "activation recomputation: none|attn|full"),
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
      SR_KEY("train.seed", integer, seed, "seed of initialisation and data order"),
      SR_KEY("train.init_std", number, init_std, "standard deviation of initial weights"),
      SR_KEY("train.log_every", integer, log_every, "steps between progress lines"),
      SR_KEY("train.out_dir", text, out_dir, "run directory (metrics.jsonl, checkpoints/)"),
      SR_KEY("train.threads", int32, threads, "CPU threads per rank (0 = cores / local ranks)"),
      SR_KEY("train.peak_tflops", number, peak_tflops, "card's dense bf16 peak for MFU"),
      SR_KEY("train.precision", text, precision, "auto (bf16 on cuda, f32 on cpu), f32 or bf16"),
      SR_KEY("data.path", text, data_path, "token dataset (.h5)"),
      SR_KEY("data.shuffle", boolean, shuffle, "shuffle samples each epoch"),
      SR_KEY("data.truncate_long", boolean, truncate_long, "cut samples longer than a micro-batch"),
      SR_KEY("data.prefetch_steps", int32, prefetch_steps, "steps read ahead by a background thread"),
      SR_KEY("parallel.tp", int32, tp, "tensor-parallel size (DP = ranks / TP)"),
      SR_KEY("parallel.zero1", boolean, zero1, "shard AdamW state across DP ranks"),
      SR_KEY("parallel.overlap_grad_reduce", boolean, overlap_grad_reduce,
             "reduce each layer's DP gradients during backward (not with zero1)"),
      SR_KEY("parallel.device", text, device, "cpu|cuda"),
      SR_KEY("parallel.watchdog_seconds", number, watchdog_seconds, "abort a collective stuck this long (0 = off)"),
      SR_KEY("checkpoint.every", integer, checkpoint_every, "steps between checkpoints (0 = end only)"),
      SR_KEY("checkpoint.keep_last", integer, keep_last, "checkpoints kept"),
      SR_KEY("checkpoint.keep_every", integer, keep_every, "also keep every K-th step (0 = none)"),
      SR_KEY("checkpoint.resume", text, resume, "auto|none|PATH"),
  };
  return keys;
}
#undef SR_KEY

const char* expected(Kind k) {
  switch (k) {
    case Kind::integer:
    case Kind::int32: return "an integer";
    case Kind::number: return "a number";
    case Kind::boolean: return "true or false";
    case Kind::text: return "a string";
  }
  return "";
}

// Converts `text` into the field of `key`; false when it does not parse.
bool assign(RunConfig& cfg, const Key& key, const std::string& text) {
  char* field = reinterpret_cast<char*>(&cfg) + key.offset;
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  switch (key.kind) {
    case Kind::integer: {
      long long v = std::strtoll(s, &end, 10);
      if (end == s || *end || errno) return false;
      *reinterpret_cast<int64_t*>(field) = v;  // int64_t and uint64_t fields
      return true;
    }
    case Kind::int32: {
      long long v = std::strtoll(s, &end, 10);
      if (end == s || *end || errno || v < INT32_MIN || v > INT32_MAX) return false;
      *reinterpret_cast<int*>(field) = int(v);
      return true;
    }
    case Kind::number: {
      double v = std::strtod(s, &end);
      if (end == s || *end || errno) return false;
      *reinterpret_cast<double*>(field) = v;
      return true;
    }
    case Kind::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") {
        *reinterpret_cast<bool*>(field) = true;
      } else if (text == "false" || text == "0" || text == "no" || text == "off") {
        *reinterpret_cast<bool*>(field) = false;
      } else {
        return false;
      }
      return true;
    case Kind::text:
      *reinterpret_cast<std::string*>(field) = text;
      return true;
  }
  return false;
}

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

Source from_parsed(const std::string& name, const po::parsed_options& parsed) {
  Source s;
  s.name = name;
  for (const po::option& o : parsed.options) {
    if (o.value.empty()) continue;
    if (o.string_key == "include") {
      s.includes.push_back(o.value.front());
    } else if (o.string_key != "config") {
      s.values.emplace(o.string_key, o.value.front());
    }
  }
  return s;
}

void read_file(const std::string& path, const po::options_description& opts,
               std::vector<Source>& sources, int depth) {
  if (depth > 8) throw UserError(path + ": include nesting deeper than 8 (an include cycle?)");
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
    po::parsed_options parsed = po::command_line_parser(args).options(all).run();
    // Read directly rather than through a variables_map, so that a key repeated on the
    // command line means its last value (as wrappers that add defaults expect).
    Source cmd;
    cmd.name = "command line";
    for (const po::option& o : parsed.options) {
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
    std::cout << "usage: smoothread " << command << " [--config FILE.ini] [--section.key VALUE ...]\n\n"
              << all << "\n";
    return out;
  }
  for (auto f = files.rbegin(); f != files.rend(); ++f) read_file(*f, keys, sources, 0);

  // Apply from the lowest precedence up, so later sources overwrite earlier ones.
  for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
    for (const auto& [name, value] : it->values) {
      const Key* key = nullptr;
      for (const Key& k : schema())
        if (name == k.name) key = &k;
      if (!key) continue;  // "include" and the like
      if (!assign(out.run, *key, value))
        throw UserError(it->name + ": " + name + " = '" + value + "': expected " + expected(key->kind));
    }
  }
  const RunConfig& r = out.run;
  auto bad = [](const std::string& what) { throw UserError(what); };
  if (r.device != "cpu" && r.device != "cuda") bad("parallel.device = " + r.device + ": expected cpu or cuda");
  if (r.precision != "auto" && r.precision != "f32" && r.precision != "bf16")
    bad("train.precision = " + r.precision + ": expected auto, f32 or bf16");
  if (r.precision == "bf16" && r.device == "cpu")
    bad("train.precision = bf16: the CPU backend computes in f32 (use parallel.device = cuda)");
  if (r.steps <= 0) bad("train.steps = " + std::to_string(r.steps) + ": expected a positive integer");
  if (r.micro_batch_tokens <= 0)
    bad("train.micro_batch_tokens = " + std::to_string(r.micro_batch_tokens) + ": expected a positive integer");
  if (r.global_batch_tokens < r.micro_batch_tokens)
    bad("train.global_batch_tokens = " + std::to_string(r.global_batch_tokens) +
        ": expected at least train.micro_batch_tokens = " + std::to_string(r.micro_batch_tokens));
  if (r.tp <= 0) bad("parallel.tp = " + std::to_string(r.tp) + ": expected a positive integer");
  if (r.lm_head_chunk <= 0) bad("model.lm_head_chunk = " + std::to_string(r.lm_head_chunk) + ": expected a positive integer");
  if (r.lr <= 0 || r.min_lr < 0 || r.min_lr > r.lr) bad("train.lr / train.min_lr: expected 0 <= min_lr <= lr and lr > 0");
  if (r.log_every <= 0) bad("train.log_every = " + std::to_string(r.log_every) + ": expected a positive integer");
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
    const char* field = reinterpret_cast<const char*>(&cfg) + k.offset;
    out << name.substr(sec.size() + 1) << " = ";
    switch (k.kind) {
      case Kind::integer: out << *reinterpret_cast<const int64_t*>(field); break;
      case Kind::int32: out << *reinterpret_cast<const int*>(field); break;
      case Kind::number: out << *reinterpret_cast<const double*>(field); break;
      case Kind::boolean: out << (*reinterpret_cast<const bool*>(field) ? "true" : "false"); break;
      case Kind::text: out << *reinterpret_cast<const std::string*>(field); break;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace sr
