#include "train/hf.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "dataset/tokenizer.h"

namespace fs = std::filesystem;

namespace sr {

namespace {

std::string read_text(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st)) throw UserError(path + ": is a directory, not a file (" + what + ")");
  std::ifstream in(path, std::ios::binary);
  if (ec || !fs::exists(st) || !in) throw UserError(path + ": missing or unreadable (" + what + ")");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw UserError(path + ": cannot read");
  return s.str();
}

// Whether `path` exists; a path the system cannot even look at (a symlink loop, a component
// that is not a directory) is a UserError naming it rather than a filesystem exception.
bool path_exists(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw UserError(path + ": " + ec.message());
  return fs::exists(st);
}

Json read_json_file(const std::string& path, const std::string& what) {
  const std::string text = read_text(path, what);
  try {
    Json j = parse_json(text);
    if (!j.is_object()) throw UserError(path + ": expected a JSON object, got " + json_type_name(j));
    return j;
  } catch (const JsonError& e) {
    throw UserError(path + ": invalid JSON: " + e.what());
  }
}

std::string dims(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// A file name inside the folder: no directory part, not hidden.
bool plain_file_name(const std::string& n) {
  return !n.empty() && n.find('/') == std::string::npos && n.find('\\') == std::string::npos &&
         n[0] != '.';
}

}  // namespace

ModelConfig read_hf_config(const std::string& dir, int64_t sliding_window) {
  const std::string path = dir + "/config.json";
  if (!fs::is_directory(dir)) throw UserError(dir + ": not a directory (expected a Hugging Face model folder)");
  const Json j = read_json_file(path, "a Hugging Face model folder has one");
  auto fail = [&](const std::string& why) -> UserError { return UserError(path + ": " + why); };
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  auto integer = [&](const char* k, std::optional<int64_t> dflt = std::nullopt) -> int64_t {
    if (!has(k)) {
      if (dflt) return *dflt;
      throw fail(std::string("missing key ") + k);
    }
    if (!j[k].is_number_integer()) throw fail(std::string(k) + " is " + json_type_name(j[k]) + ", not an integer");
    if (j[k].is_number_unsigned() && j[k].get<uint64_t>() > uint64_t(INT64_MAX))
      throw fail(std::string(k) + " = " + j[k].dump() + " is out of range");
    return j[k].get<int64_t>();
  };
  // A size of the model: positive is checked by ModelConfig::validate, the bound here (each size
  // is an int in the kernels, and products of two sizes must fit in 64 bits).
  auto size = [&](const char* k, std::optional<int64_t> dflt = std::nullopt) -> int64_t {
    const int64_t v = integer(k, dflt);
    if (v > INT32_MAX) throw fail(std::string(k) + " = " + std::to_string(v) + ": expected at most " + std::to_string(INT32_MAX));
    return v;
  };
  auto number = [&](const Json& o, const char* k, double dflt) -> double {
    if (!o.contains(k) || o[k].is_null()) return dflt;
    if (!o[k].is_number()) throw fail(std::string(k) + " is " + json_type_name(o[k]) + ", not a number");
    return o[k].get<double>();
  };
  auto boolean = [&](const char* k, bool dflt) -> bool {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) throw fail(std::string(k) + " is " + json_type_name(j[k]) + ", not true/false");
    return j[k].get<bool>();
  };
  auto text = [&](const char* k) -> std::string {
    if (!has(k)) return "";
    if (!j[k].is_string()) throw fail(std::string(k) + " is " + json_type_name(j[k]) + ", not a string");
    return j[k].get<std::string>();
  };

  const std::string type = text("model_type");
  if (type != "qwen2")
    throw fail("model_type " + (type.empty() ? std::string("is missing") : "'" + type + "'") +
               ": only Qwen2 models (model_type \"qwen2\") can be imported");
  if (has("architectures")) {
    bool causal = false;
    if (j["architectures"].is_array())
      for (const Json& a : j["architectures"]) causal |= a.is_string() && a.get<std::string>() == "Qwen2ForCausalLM";
    if (!causal) throw fail("architectures " + j["architectures"].dump() + " lack Qwen2ForCausalLM");
  }
  const std::string act = text("hidden_act");
  if (!act.empty() && act != "silu") throw fail("hidden_act '" + act + "': only silu (SwiGLU) is implemented");
  // Rope: plain θ only. transformers 4 writes rope_theta and rope_scaling, 5 writes
  // rope_parameters {rope_type, rope_theta}.
  auto default_rope = [&](const char* k) {
    const Json& r = j[k];
    if (!r.is_object()) throw fail(std::string(k) + " is " + json_type_name(r) + ": rope scaling is not implemented");
    std::string t = r.contains("rope_type") && r["rope_type"].is_string() ? r["rope_type"].get<std::string>()
                    : r.contains("type") && r["type"].is_string()     ? r["type"].get<std::string>()
                                                                      : "";
    if (t != "default") throw fail(std::string(k) + " " + r.dump() + ": rope scaling is not implemented");
    for (auto it = r.begin(); it != r.end(); ++it)
      if (it.key() != "rope_type" && it.key() != "type" && it.key() != "rope_theta")
        throw fail(std::string(k) + " " + r.dump() + ": rope scaling is not implemented");
  };
  if (has("rope_scaling")) default_rope("rope_scaling");
  ModelConfig c;
  c.rope_theta = number(j, "rope_theta", 10000.0);
  if (has("rope_parameters")) {
    default_rope("rope_parameters");
    c.rope_theta = number(j["rope_parameters"], "rope_theta", c.rope_theta);
  }
  c.hidden_size = size("hidden_size");
  c.num_hidden_layers = size("num_hidden_layers");
  c.num_attention_heads = size("num_attention_heads");
  c.num_key_value_heads = size("num_key_value_heads", c.num_attention_heads);
  c.intermediate_size = size("intermediate_size");
  c.vocab_size = size("vocab_size");
  c.rms_norm_eps = number(j, "rms_norm_eps", 1e-6);
  c.tie_word_embeddings = boolean("tie_word_embeddings", false);
  c.attention_bias = true;  // Qwen2: q/k/v projections have biases, o_proj has none
  if (has("head_dim") && c.num_attention_heads > 0 && integer("head_dim") != c.hidden_size / c.num_attention_heads)
    throw fail("head_dim " + std::to_string(integer("head_dim")) +
               " is not hidden_size / num_attention_heads, which smoothread's layout assumes");

  // The window: transformers applies it to layers >= max_window_layers when use_sliding_window
  // is true (transformers 5 also writes it out as layer_types). smoothread windows all layers
  // or none.
  const int64_t L = c.num_hidden_layers;
  int64_t window = 0;
  const bool use = boolean("use_sliding_window", false);
  const int64_t w = integer("sliding_window", 0);
  int64_t windowed_layers = 0;
  if (has("layer_types")) {
    const Json& lt = j["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != L) throw fail("layer_types is not a list of num_hidden_layers entries");
    for (const Json& t : lt) {
      const std::string s = t.is_string() ? t.get<std::string>() : "";
      if (s == "sliding_attention")
        ++windowed_layers;
      else if (s != "full_attention")
        throw fail("layer_types entry " + t.dump() + ": expected full_attention or sliding_attention");
    }
  } else if (use) {
    const int64_t first = integer("max_window_layers", 28);
    windowed_layers = std::max<int64_t>(0, L - std::max<int64_t>(0, first));
  }
  if (windowed_layers > 0) {
    if (w <= 0) throw fail("layers use a sliding window but sliding_window is " + std::to_string(w));
    if (windowed_layers != L)
      throw fail(std::to_string(windowed_layers) + " of " + std::to_string(L) +
                 " layers use a sliding window (max_window_layers/layer_types): smoothread windows all "
                 "layers or none (--sliding-window W sets one for all)");
    window = w;
  }
  c.sliding_window = sliding_window >= 0 ? sliding_window : window;
  try {
    c.validate(1);
  } catch (const UserError& e) {
    throw fail(e.what());
  }
  return c;
}

namespace {

// The safetensors files of a folder and which of them holds each tensor.
struct HfWeightFiles {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsEntry*>> where;
};

HfWeightFiles open_hf_weights(const std::string& dir) {
  HfWeightFiles w;
  auto& files = w.files;
  auto& where = w.where;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  if (path_exists(index_path)) {
    const Json idx = read_json_file(index_path, "the index of a sharded model");
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      throw UserError(index_path + ": lacks a weight_map object");
    std::map<std::string, const SafetensorsFile*> by_name;
    std::map<const SafetensorsFile*, std::set<std::string>> named_in;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw UserError(index_path + ": weight_map['" + it.key() + "'] is not a file name");
      const std::string shard = it.value().get<std::string>();
      if (!plain_file_name(shard))
        throw UserError(index_path + ": weight_map['" + it.key() + "'] = '" + shard + "' is not a file of the folder");
      auto f = by_name.find(shard);
      if (f == by_name.end()) {
        const std::string p = dir + "/" + shard;
        if (!path_exists(p))
          throw UserError(index_path + ": names shard " + shard + " (for " + it.key() + "), which is missing");
        files.push_back(std::make_unique<SafetensorsFile>(p));
        f = by_name.emplace(shard, files.back().get()).first;
      }
      const SafetensorsEntry* e = f->second->find(it.key());
      if (!e) throw UserError(index_path + ": names " + shard + " for tensor '" + it.key() + "', which it lacks");
      where[it.key()] = {f->second, e};
      named_in[f->second].insert(it.key());
    }
    for (const auto& f : files)
      for (const SafetensorsEntry& e : f->tensors())
        if (!named_in[f.get()].count(e.name))
          throw UserError(f->path() + ": holds tensor '" + e.name + "', which " + index_path + " does not name for it");
  } else if (path_exists(single)) {
    files.push_back(std::make_unique<SafetensorsFile>(single));
    for (const SafetensorsEntry& e : files.back()->tensors()) where[e.name] = {files.back().get(), &e};
  } else {
    throw UserError(dir + ": neither model.safetensors nor model.safetensors.index.json (a Hugging Face "
                    "model folder with safetensors weights is expected)");
  }
  return w;
}

bool is_rotary_buffer(const std::string& name) {
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Names, shapes and dtypes against cfg, before any value is read or any model allocated.
std::vector<ParamSpec> check_weight_files(const HfWeightFiles& w, const std::string& dir, const ModelConfig& cfg) {
  // The parameter list has a dozen entries per layer: a config claiming billions of layers is
  // refused before the list is built. Once every shape equals its tensor's, the model is exactly
  // as large as the files, so nothing of config.json's sizes is allocated unchecked.
  if (cfg.num_hidden_layers > int64_t(w.where.size()))
    throw UserError(dir + "/config.json: num_hidden_layers = " + std::to_string(cfg.num_hidden_layers) +
                    " but the weights hold only " + std::to_string(w.where.size()) + " tensors");
  std::vector<ParamSpec> specs = parameter_specs(cfg, 0, 1);
  std::set<std::string> used;
  auto check = [&](const std::string& name, const std::vector<int64_t>& shape) {
    const auto& [file, e] = w.where.at(name);
    if (e->shape != shape)
      throw UserError(file->path() + ": tensor '" + name + "' has shape " + dims(e->shape) + " but " + dir +
                      "/config.json implies " + dims(shape));
    if (e->dtype != "F32" && e->dtype != "BF16" && e->dtype != "F16")
      throw UserError(file->path() + ": tensor '" + name + "' has dtype " + e->dtype +
                      ", which is not supported for weights (expected BF16, F16 or F32)");
    used.insert(name);
  };
  for (const ParamSpec& s : specs) {
    if (!w.where.count(s.name))
      throw UserError(dir + ": tensor '" + s.name + "' is missing from the weights (config.json implies it)");
    check(s.name, s.global_shape);
  }
  if (cfg.tie_word_embeddings && w.where.count("lm_head.weight")) check("lm_head.weight", specs[0].global_shape);
  for (const auto& [name, fe] : w.where) {
    if (used.count(name) || is_rotary_buffer(name)) continue;  // a buffer computed from rope_theta
    throw UserError(fe.first->path() + ": unexpected tensor '" + name + "' (not a parameter of this Qwen2 config" +
                    (name == "lm_head.weight" ? ", whose head is tied to the embedding)" : ")"));
  }
  return specs;
}

}  // namespace

void check_hf_weights(const std::string& dir, const ModelConfig& cfg) {
  check_weight_files(open_hf_weights(dir), dir, cfg);
}

void read_hf_weights(const std::string& dir, const ModelConfig& cfg, const std::vector<ParamSpec>& specs,
                     const std::vector<float*>& tensors) {
  SR_ASSERT(specs.size() == tensors.size(), "one tensor per spec");
  const HfWeightFiles w = open_hf_weights(dir);
  const std::vector<ParamSpec> expected = check_weight_files(w, dir, cfg);
  SR_ASSERT(expected.size() == specs.size(), "specs of the config");
  auto read = [&](const std::string& name) {
    const auto& [file, e] = w.where.at(name);
    std::vector<float> v = file->read_f32(*e);
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        throw UserError(file->path() + ": tensor '" + name + "' holds " + (std::isnan(v[i]) ? "a NaN" : "an infinite") +
                        " value (element " + std::to_string(i) + ")");
    return v;
  };
  for (size_t i = 0; i < specs.size(); ++i) {
    const ParamSpec& s = specs[i];
    SR_ASSERT(s.split_dim < 0 && s.local_shape == s.global_shape && s.global_shape == expected[i].global_shape,
              "HF import fills a TP-1 model");
    const std::vector<float> v = read(s.name);
    std::copy(v.begin(), v.end(), tensors[i]);
  }
  if (cfg.tie_word_embeddings && w.where.count("lm_head.weight")) {
    // Some tied checkpoints store the head anyway: accepted only as the embedding's copy.
    const std::vector<float> head = read("lm_head.weight");
    if (std::memcmp(head.data(), tensors[0], head.size() * sizeof(float)) != 0)
      throw UserError(dir + ": tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight");
  }
}

std::string tokenizer_identity_of_json(std::string_view bytes) {
  return tokenizer_identity_of_json_bytes(bytes);  // the datasets' definition: one for both
}

const std::vector<std::string>& smooth_reading_special_tokens() {
  static const std::vector<std::string> names = {"<bos>",  "<eos>", "<query>",  "<chunk>", "<summary>",
                                                 "<read>", "<stop>", "<answer>", "<pad>"};
  return names;
}

namespace {

size_t skip_json_string(const std::string& t, size_t i) {  // t[i] is the opening quote
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\')
      ++i;
    else if (t[i] == '"')
      return i + 1;
  }
  return t.size();
}

size_t skip_json_space(const std::string& t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}

// The brackets of the top-level "added_tokens" array of `t` (valid JSON): false when the top-level
// object has no such member. Found by scanning the text, so that the rest of the file keeps its
// exact bytes.
bool find_added_tokens(const std::string& t, size_t& open, size_t& close) {
  int depth = 0;
  for (size_t i = 0; i < t.size();) {
    const char c = t[i];
    if (c == '"') {
      const size_t end = skip_json_string(t, i);
      size_t j = skip_json_space(t, end);
      if (depth == 1 && j < t.size() && t[j] == ':' && t.compare(i, end - i, "\"added_tokens\"") == 0) {
        j = skip_json_space(t, j + 1);
        if (j >= t.size() || t[j] != '[') return false;
        open = j;
        int d = 0;
        for (size_t k = j; k < t.size();) {
          if (t[k] == '"') {
            k = skip_json_string(t, k);
            continue;
          }
          if (t[k] == '[' || t[k] == '{') ++d;
          if ((t[k] == ']' || t[k] == '}') && --d == 0) {
            close = k;
            return true;
          }
          ++k;
        }
        return false;
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    ++i;
  }
  return false;
}

}  // namespace

std::optional<HfTokenizer> read_hf_tokenizer(const std::string& dir, int64_t config_vocab_size) {
  const std::string path = dir + "/tokenizer.json";
  if (!path_exists(path)) return std::nullopt;
  HfTokenizer tok;
  tok.json = read_text(path, "a tokenizer");
  auto fail = [&](const std::string& why) -> UserError { return UserError(path + ": " + why); };
  // nlohmann::json (a std::map per object), not the insertion-ordered Json: a real vocabulary
  // has ~150k entries, and the ordered map's linear inserts would take minutes.
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(tok.json);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("invalid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw fail("expected a JSON object (a tokenizers tokenizer.json)");
  if (!j.contains("model") || !j["model"].is_object()) throw fail("lacks the \"model\" object");
  const nlohmann::json& model = j["model"];
  const std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "";
  if (type != "BPE")
    throw fail("model type " + (type.empty() ? std::string("is missing") : "'" + type + "'") +
               ": only BPE tokenizers (as Qwen2's byte-level BPE) can be imported");
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw fail("model.vocab is not an object");
  int64_t highest = -1;
  std::map<std::string, int64_t> vocab_ids;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw fail("model.vocab['" + it.key() + "'] is not a non-negative integer id");
    const int64_t id = it.value().get<int64_t>();
    highest = std::max(highest, id);
    if (it.key().size() < 16) vocab_ids[it.key()] = id;  // only short strings can be special names
  }
  std::set<std::string> added_contents;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) throw fail("added_tokens is not a list");
    for (const nlohmann::json& t : j["added_tokens"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0 ||
          !t.contains("content") || !t["content"].is_string())
        throw fail("added_tokens entry " + t.dump() + " lacks an integer id or a content string");
      highest = std::max(highest, t["id"].get<int64_t>());
      added_contents.insert(t["content"].get<std::string>());
    }
  }
  if (highest < 0) throw fail("the vocabulary is empty");
  // Compared before adding 1: an id of 2^63 - 1 would overflow to a negative vocabulary.
  if (highest >= config_vocab_size)
    throw fail("its vocabulary has " + std::to_string(uint64_t(highest) + 1) + " tokens (highest id " +
               std::to_string(highest) + ") but config.json's vocab_size is " + std::to_string(config_vocab_size) +
               ": the embedding has no row for the ids above");
  tok.original_vocab = highest + 1;

  std::string entries;
  for (const std::string& name : smooth_reading_special_tokens()) {
    if (added_contents.count(name)) continue;
    const auto v = vocab_ids.find(name);
    const int64_t id = v != vocab_ids.end() ? v->second : ++highest;
    tok.added.emplace_back(name, id);
    entries += std::string(entries.empty() ? "" : ",\n    ") + "{\"id\": " + std::to_string(id) +
               ", \"content\": " + nlohmann::json(name).dump() +
               ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
               "\"special\": true}";
  }
  tok.vocab_needed = highest + 1;
  if (!tok.added.empty()) {
    // Appended to the added_tokens list as text: the rest of the file keeps its bytes.
    size_t open = 0, close = 0;
    std::string& t = tok.json;
    auto cannot_add = [&](const std::string& name) {
      return fail("cannot add the special token " + name +
                  " to added_tokens (is its key written with escapes, or twice?)");
    };
    if (find_added_tokens(t, open, close)) {
      size_t last = close;
      while (last > open + 1 && std::isspace(static_cast<unsigned char>(t[last - 1]))) --last;
      if (last == open + 1)
        t.replace(open + 1, close - open - 1, "\n    " + entries + "\n  ");
      else
        t.insert(last, ",\n    " + entries);
    } else {
      const size_t brace = t.find('{');
      if (j.contains("added_tokens") && j["added_tokens"].is_null()) throw fail("added_tokens is null; expected a list");
      if (j.contains("added_tokens")) throw cannot_add(tok.added.front().first);
      t.insert(brace + 1, "\n  \"added_tokens\": [\n    " + entries + "\n  ],");
    }
    try {
      // The text edit is checked by reading the result back: a file whose "added_tokens" key the
      // scan does not see as such (written with escapes, or twice) must not lose the additions.
      const nlohmann::json check = nlohmann::json::parse(t);
      std::set<std::string> now;
      if (check.contains("added_tokens") && check["added_tokens"].is_array())
        for (const nlohmann::json& a : check["added_tokens"])
          if (a.is_object() && a.contains("content") && a["content"].is_string()) now.insert(a["content"].get<std::string>());
      for (const auto& [name, id] : tok.added)
        if (!now.count(name)) throw cannot_add(name);
    } catch (const nlohmann::json::exception& e) {
      throw fail(std::string("cannot add the special tokens (") + e.what() + ")");
    }
  }
  tok.identity = tokenizer_identity_of_json(tok.json);
  return tok;
}

Json hf_config_json(const ModelConfig& c, SafetensorsDType dtype) {
  const bool windowed = c.sliding_window > 0;
  Json j = Json::object();
  j["architectures"] = Json::array({"Qwen2ForCausalLM"});
  j["model_type"] = "qwen2";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["vocab_size"] = c.vocab_size;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = std::max<int64_t>(32768, c.sliding_window);
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  // transformers windows layers >= max_window_layers when use_sliding_window is true; smoothread's
  // window covers every layer.
  j["use_sliding_window"] = windowed;
  j["sliding_window"] = windowed ? Json(c.sliding_window) : Json(nullptr);
  j["max_window_layers"] = windowed ? int64_t(0) : c.num_hidden_layers;
  Json types = Json::array();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) types.push_back(windowed ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["torch_dtype"] = dtype == SafetensorsDType::bf16 ? "bfloat16" : "float32";
  return j;
}

void write_hf_folder(const std::string& out, const ModelConfig& cfg, const std::vector<ParamSpec>& specs,
                     const std::vector<const float*>& tensors, const HfExportOptions& opt) {
  SR_ASSERT(specs.size() == tensors.size(), "one tensor per spec");
  if (out.empty()) throw UserError("--out: expected a directory to create");
  std::error_code ec;
  if (fs::exists(out, ec)) throw UserError(out + ": already exists (export-hf creates a new folder)");
  if (opt.max_shard_bytes == 0) throw UserError("--max-shard-bytes: expected a positive size");
  const fs::path target = fs::absolute(fs::path(out)).lexically_normal();
  const fs::path parent = target.has_filename() ? target.parent_path() : target.parent_path().parent_path();
  if (!fs::is_directory(parent, ec)) throw UserError(out + ": its parent directory " + parent.string() + " does not exist");
  const std::string final_dir = target.has_filename() ? target.string() : target.parent_path().string();
  const std::string tmp = final_dir + ".tmp-export-" + std::to_string(::getpid());

  // Shards: tensors in parameter order, a new shard when the next tensor would pass the limit.
  const uint64_t esize = opt.dtype == SafetensorsDType::bf16 ? 2 : 4;
  std::vector<std::vector<SafetensorsTensor>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t bytes = uint64_t(specs[i].global_numel()) * esize;
    if (!shards.back().empty() && in_shard + bytes > opt.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    SR_ASSERT(specs[i].split_dim < 0, "HF export writes a whole (TP-1) model");
    shards.back().push_back({specs[i].name, specs[i].global_shape, tensors[i]});
    in_shard += bytes;
    total += bytes;
  }
  auto shard_name = [&](size_t k) {
    if (shards.size() == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
    return std::string(buf);
  };
  auto write_text = [](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) throw UserError(path + ": cannot write");
  };
  try {
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    write_text(tmp + "/config.json", hf_config_json(cfg, opt.dtype).dump(2) + "\n");
    Json weight_map = Json::object();
    for (size_t k = 0; k < shards.size(); ++k) {
      write_safetensors(tmp + "/" + shard_name(k), shards[k], opt.dtype, {{"format", "pt"}});
      for (const SafetensorsTensor& t : shards[k]) weight_map[t.name] = shard_name(k);
    }
    if (!opt.tokenizer_json.empty()) write_text(tmp + "/tokenizer.json", opt.tokenizer_json);
    if (shards.size() > 1) {
      Json idx = Json::object();
      idx["metadata"] = Json::object({{"total_size", total}});
      idx["weight_map"] = weight_map;
      write_text(tmp + "/model.safetensors.index.json", idx.dump(2) + "\n");
    }
    if (fs::exists(final_dir)) throw UserError(out + ": appeared while exporting; left untouched");
    fs::rename(tmp, final_dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw UserError(out + ": " + e.code().message() + " (" + e.path1().string() + ")");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace sr
