// The Hugging Face round trip on the CPU in f32: a Qwen2 folder read by read_hf_config and
// read_hf_weights gives transformers' logits and loss (expected.json) within 1e-4 relative, and
// write_hf_folder of the import gives back every tensor bit for bit. The fixtures transformers
// made (tests/fixtures/hf, tools/make_hf_fixtures.py) are checked when present; folders built
// here, whose expected.json comes from a naive double-precision Qwen2 forward written from
// transformers' definitions, check the same path always. Also the tokenizer.json handling of
// import-hf (read_hf_tokenizer).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "hf_fixture_util.h"
#include "infer/engine.h"
#include "model/transformer.h"
#include "train/hf.h"
#include "train/safetensors.h"

namespace sr {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = (fs::temp_directory_path() / ("sr_hf_rt_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// ---------------------------------------------------------------------------------------------
// A naive Qwen2 forward in double, straight from transformers' modeling_qwen2 (RMSNorm, q/k/v
// with biases, rotate-half RoPE, GQA by repeating kv heads, causal softmax attention limited to
// the last `window` keys, SwiGLU MLP, tied or untied head), over tensors by their HF names.

using Tensors = std::map<std::string, std::vector<float>>;

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double r = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
  return y;
}

// y = W x (+ b), W [out, in] row-major.
std::vector<double> linear(const std::vector<float>& w, const std::vector<float>* b, const std::vector<double>& x) {
  const size_t in = x.size(), out = w.size() / in;
  std::vector<double> y(out);
  for (size_t o = 0; o < out; ++o) {
    double s = b ? double((*b)[o]) : 0.0;
    for (size_t i = 0; i < in; ++i) s += double(w[o * in + i]) * x[i];
    y[o] = s;
  }
  return y;
}

// Logits [T][V] of one sequence.
std::vector<std::vector<double>> reference_logits(const ModelConfig& c, const Tensors& p,
                                                  const std::vector<uint32_t>& ids) {
  const int64_t H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = H / nh;
  const int64_t T = int64_t(ids.size()), rep = nh / nkv;
  const std::vector<float>& emb = p.at("model.embed_tokens.weight");
  std::vector<std::vector<double>> x(static_cast<size_t>(T), std::vector<double>(static_cast<size_t>(H), 0.0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < H; ++k) x[size_t(t)][size_t(k)] = emb[size_t(ids[size_t(t)] * H + k)];
  auto rope = [&](std::vector<double>& v, int64_t heads, int64_t pos) {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i) {
        const double inv = std::pow(c.rope_theta, -2.0 * double(i) / double(hd));
        const double a = v[size_t(h * hd + i)], b = v[size_t(h * hd + i + hd / 2)];
        const double cs = std::cos(double(pos) * inv), sn = std::sin(double(pos) * inv);
        v[size_t(h * hd + i)] = a * cs - b * sn;
        v[size_t(h * hd + i + hd / 2)] = b * cs + a * sn;
      }
  };
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(static_cast<size_t>(T)), k(static_cast<size_t>(T)), v(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      const auto h = rms_norm(x[size_t(t)], p.at(pre + "input_layernorm.weight"), c.rms_norm_eps);
      q[size_t(t)] = linear(p.at(pre + "self_attn.q_proj.weight"), &p.at(pre + "self_attn.q_proj.bias"), h);
      k[size_t(t)] = linear(p.at(pre + "self_attn.k_proj.weight"), &p.at(pre + "self_attn.k_proj.bias"), h);
      v[size_t(t)] = linear(p.at(pre + "self_attn.v_proj.weight"), &p.at(pre + "self_attn.v_proj.bias"), h);
      rope(q[size_t(t)], nh, t);
      rope(k[size_t(t)], nkv, t);
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> attn(size_t(nh * hd), 0.0);
      const int64_t first = c.sliding_window > 0 ? std::max<int64_t>(0, t - c.sliding_window + 1) : 0;
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t g = h / rep;
        std::vector<double> s;
        double mx = -1e300;
        for (int64_t j = first; j <= t; ++j) {
          double d = 0;
          for (int64_t e = 0; e < hd; ++e) d += q[size_t(t)][size_t(h * hd + e)] * k[size_t(j)][size_t(g * hd + e)];
          s.push_back(d / std::sqrt(double(hd)));
          mx = std::max(mx, s.back());
        }
        double z = 0;
        for (double& e : s) z += e = std::exp(e - mx);
        for (int64_t j = first; j <= t; ++j)
          for (int64_t e = 0; e < hd; ++e)
            attn[size_t(h * hd + e)] += s[size_t(j - first)] / z * v[size_t(j)][size_t(g * hd + e)];
      }
      const auto o = linear(p.at(pre + "self_attn.o_proj.weight"), nullptr, attn);
      for (int64_t e = 0; e < H; ++e) x[size_t(t)][size_t(e)] += o[size_t(e)];
    }
    for (int64_t t = 0; t < T; ++t) {
      const auto h = rms_norm(x[size_t(t)], p.at(pre + "post_attention_layernorm.weight"), c.rms_norm_eps);
      auto gate = linear(p.at(pre + "mlp.gate_proj.weight"), nullptr, h);
      const auto up = linear(p.at(pre + "mlp.up_proj.weight"), nullptr, h);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const auto down = linear(p.at(pre + "mlp.down_proj.weight"), nullptr, gate);
      for (int64_t e = 0; e < H; ++e) x[size_t(t)][size_t(e)] += down[size_t(e)];
    }
  }
  const std::vector<float>& head = c.tie_word_embeddings ? emb : p.at("lm_head.weight");
  std::vector<std::vector<double>> out;
  for (int64_t t = 0; t < T; ++t)
    out.push_back(linear(head, nullptr, rms_norm(x[size_t(t)], p.at("model.norm.weight"), c.rms_norm_eps)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Folders built here: random weights of a config, config.json as transformers 5 writes it,
// safetensors in one file or two shards with an index, expected.json from the reference.

struct Built {
  ModelConfig cfg;
  Tensors tensors;
};

Built build_folder(const std::string& dir, ModelConfig c, bool sharded, uint64_t seed) {
  Built b{c, {}};
  const std::vector<ParamSpec> specs = parameter_specs(c, 0, 1);
  Rng rng(seed, 1);
  auto uniform = [&] { return float(double(rng.next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); };
  std::vector<SafetensorsTensor> all;
  for (const ParamSpec& s : specs) {
    std::vector<float> v(size_t(s.global_numel()));
    const bool norm = s.name.find("norm") != std::string::npos;
    const bool bias = s.name.find(".bias") != std::string::npos;
    const float scale = norm ? 0.2f : bias ? 0.5f : s.global_shape.size() == 2 && s.name.find("embed") == std::string::npos &&
                                                            s.name != "lm_head.weight"
                                                        ? 1.7f / std::sqrt(float(s.global_shape[1]))
                                                        : 0.7f;
    for (float& x : v) x = (norm ? 1.0f : 0.0f) + scale * uniform();
    b.tensors[s.name] = std::move(v);
  }
  for (const ParamSpec& s : specs) all.push_back({s.name, s.global_shape, b.tensors[s.name].data()});
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  if (sharded) {
    const size_t half = all.size() / 2;
    const std::vector<SafetensorsTensor> a(all.begin(), all.begin() + long(half)), z(all.begin() + long(half), all.end());
    write_safetensors(dir + "/model-00001-of-00002.safetensors", a, SafetensorsDType::f32, meta);
    write_safetensors(dir + "/model-00002-of-00002.safetensors", z, SafetensorsDType::f32, meta);
    Json wm = Json::object();
    for (const auto& t : a) wm[t.name] = "model-00001-of-00002.safetensors";
    for (const auto& t : z) wm[t.name] = "model-00002-of-00002.safetensors";
    Json idx = Json::object();
    idx["metadata"] = Json::object({{"total_size", 0}});
    idx["weight_map"] = wm;
    spit(dir + "/model.safetensors.index.json", idx.dump(2));
  } else {
    write_safetensors(dir + "/model.safetensors", all, SafetensorsDType::f32, meta);
  }
  // config.json the way transformers 5 writes a Qwen2Config: rope_parameters, layer_types, dtype.
  Json j = Json::object();
  j["architectures"] = Json::array({"Qwen2ForCausalLM"});
  j["attention_dropout"] = 0.0;
  j["dtype"] = "float32";
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = c.intermediate_size;
  Json types = Json::array();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    types.push_back(c.sliding_window > 0 ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  j["max_position_embeddings"] = 4096;
  j["max_window_layers"] = c.sliding_window > 0 ? 0 : c.num_hidden_layers;
  j["model_type"] = "qwen2";
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_parameters"] = Json::object({{"rope_theta", c.rope_theta}, {"rope_type", "default"}});
  j["sliding_window"] = c.sliding_window > 0 ? Json(c.sliding_window) : Json(nullptr);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["transformers_version"] = "5.0.0";
  j["use_cache"] = true;
  j["use_sliding_window"] = c.sliding_window > 0;
  j["vocab_size"] = c.vocab_size;
  spit(dir + "/config.json", j.dump(2));

  // expected.json in the fixtures' format, from the reference forward.
  Rng ids_rng(seed, 2);
  std::vector<std::vector<uint32_t>> ids(2);
  for (auto& s : ids)
    for (int t = 0; t < 13; ++t) s.push_back(uint32_t(ids_rng.below(uint64_t(c.vocab_size))));
  std::ostringstream logits;
  double loss = 0;
  int64_t targets = 0;
  logits.precision(9);
  for (const auto& s : ids) {
    const auto lg = reference_logits(c, b.tensors, s);
    for (size_t t = 0; t < lg.size(); ++t) {
      for (double x : lg[t]) logits << (logits.tellp() > 0 ? "," : "") << x;
      if (t + 1 < lg.size()) {
        double mx = -1e300, z = 0;
        for (double x : lg[t]) mx = std::max(mx, x);
        for (double x : lg[t]) z += std::exp(x - mx);
        loss += std::log(z) + mx - lg[t][s[t + 1]];
        ++targets;
      }
    }
  }
  Json e = Json::object();
  e["model"] = "built-in-test";
  e["input_ids"] = ids;
  e["loss"] = loss / double(targets);
  e["logits_shape"] = Json::array({2, 13, c.vocab_size});
  std::string text = e.dump(1);
  text.insert(text.rfind('}'), ",\n \"logits\": [" + logits.str() + "]\n");
  spit(dir + "/expected.json", text);
  return b;
}

// ---------------------------------------------------------------------------------------------
// The check: smoothread's logits and loss for the folder against expected.json, then the export.

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// Every tensor of a folder (single file or shards), by name, with its dtype.
std::map<std::string, std::pair<std::string, std::vector<float>>> folder_tensors(const std::string& dir) {
  std::map<std::string, std::pair<std::string, std::vector<float>>> out;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".safetensors") continue;
    SafetensorsFile file(f.path().string());
    for (const SafetensorsEntry& e : file.tensors()) out[e.name] = {e.dtype, file.read_f32(e)};
  }
  return out;
}

void check_folder(const std::string& dir, const std::string& what) {
  SCOPED_TRACE(what);
  const hftest::Expected want = hftest::read_expected(dir + "/expected.json");
  const ModelConfig cfg = read_hf_config(dir);
  ASSERT_EQ(want.logits_shape.size(), 3u);
  ASSERT_EQ(want.logits_shape[2], cfg.vocab_size);
  const int64_t B = want.logits_shape[0], T = want.logits_shape[1], V = cfg.vocab_size;

  RunShape rs;
  rs.max_tokens = B * T;
  rs.lm_head_chunk = 16;  // several chunks, the last one partial
  Transformer model(cfg, rs, {});
  std::vector<float*> dst;
  for (const Tensor& t : model.params().all) dst.push_back(t.f32());
  read_hf_weights(dir, cfg, model.specs(), dst);

  // Loss: the training forward over the packed sequences.
  const hftest::Packed p = hftest::pack(want.input_ids);
  model.set_batch(p.batch(), 1.0f);
  const double loss = model.forward_backward(false) / double(p.num_targets);
  EXPECT_NEAR(loss, want.loss, 1e-4 * std::fabs(want.loss)) << "loss";

  // Logits: the inference engine (the training forward's math over KV caches) after every token.
  const std::vector<float> got =
      hftest::engine_logits(cfg, model.params(), want.input_ids, Device::cpu, DType::f32);
  ASSERT_EQ(got.size(), want.logits.size());
  const double scale = max_abs(want.logits);
  double worst = 0;
  int64_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want.logits[i]));
    if (d > worst) worst = d, worst_at = int64_t(i);
  }
  EXPECT_LE(worst, 1e-4 * scale) << "logits differ most at sequence " << worst_at / (T * V) << " position "
                                 << worst_at / V % T << " token " << worst_at % V << ": " << got[size_t(worst_at)]
                                 << " vs " << want.logits[size_t(worst_at)] << " (max |logit| " << scale << ")";

  // Export of the import: the same config as transformers reads it and every tensor bit for bit.
  TempDir tmp;
  const std::string out = tmp.path() + "/export";
  std::vector<const float*> src(dst.begin(), dst.end());
  HfExportOptions opt;
  opt.max_shard_bytes = 40000;  // several shards even for tiny models
  write_hf_folder(out, cfg, model.specs(), src, opt);
  const ModelConfig back = read_hf_config(out);
  EXPECT_EQ(back.summary(), cfg.summary());
  EXPECT_EQ(back.sliding_window, cfg.sliding_window);
  EXPECT_EQ(back.tie_word_embeddings, cfg.tie_word_embeddings);
  EXPECT_EQ(back.rope_theta, cfg.rope_theta);
  EXPECT_EQ(back.rms_norm_eps, cfg.rms_norm_eps);
  const auto a = folder_tensors(dir), z = folder_tensors(out);
  EXPECT_EQ(a.size(), z.size());
  for (const auto& [name, dv] : a) {
    const auto it = z.find(name);
    if (it == z.end()) {
      ADD_FAILURE() << name << " missing from the export";
      continue;
    }
    EXPECT_EQ(dv.first, "F32") << name << " (the fixtures are float32)";
    EXPECT_EQ(it->second.first, "F32") << name;
    ASSERT_EQ(dv.second.size(), it->second.second.size()) << name;
    EXPECT_EQ(std::memcmp(dv.second.data(), it->second.second.data(), dv.second.size() * sizeof(float)), 0)
        << name << " changed by the round trip";
  }
}

ModelConfig built_config(bool tied, int64_t window, double theta, double eps) {
  ModelConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 48;
  c.vocab_size = 40;
  c.rope_theta = theta;
  c.rms_norm_eps = eps;
  c.sliding_window = window;
  c.tie_word_embeddings = tied;
  c.attention_bias = true;
  return c;
}

TEST(HfRoundTrip, BuiltFoldersMatchTheReferenceForward) {
  struct Case {
    const char* name;
    ModelConfig cfg;
    bool sharded;
  };
  const Case cases[] = {
      {"untied, full attention", built_config(false, 0, 10000.0, 1e-6), false},
      {"tied, window 5", built_config(true, 5, 10000.0, 1e-6), false},
      {"untied, window 4, theta 1e6, sharded", built_config(false, 4, 1e6, 1e-5), true},
  };
  uint64_t seed = 40;
  for (const Case& c : cases) {
    TempDir tmp;
    build_folder(tmp.path(), c.cfg, c.sharded, ++seed);
    check_folder(tmp.path(), c.name);
  }
}

// The reference and the comparison notice what they must: a window changes logits past it, and
// a perturbed weight fails the check.
TEST(HfRoundTrip, ReferenceSeesTheWindowAndTheCheckSeesAWrongWeight) {
  TempDir tmp;
  const Built b = build_folder(tmp.path(), built_config(false, 3, 10000.0, 1e-6), false, 7);
  ModelConfig full = b.cfg;
  full.sliding_window = 0;
  const std::vector<uint32_t> ids = {1, 5, 9, 2, 7, 30, 11, 4};
  const auto w = reference_logits(b.cfg, b.tensors, ids), f = reference_logits(full, b.tensors, ids);
  EXPECT_EQ(w[2], f[2]);  // inside the first window: the same keys
  EXPECT_GT(std::fabs(w[7][0] - f[7][0]), 1e-6);

  // The same folder with one bias changed by 1%: the logits no longer match expected.json.
  Tensors t = b.tensors;
  for (float& x : t.at("model.layers.1.self_attn.k_proj.bias")) x *= 1.01f;
  std::vector<SafetensorsTensor> all;
  for (const ParamSpec& s : parameter_specs(b.cfg, 0, 1)) all.push_back({s.name, s.global_shape, t[s.name].data()});
  write_safetensors(tmp.path() + "/model.safetensors", all, SafetensorsDType::f32, {{"format", "pt"}});
  const ModelConfig cfg = read_hf_config(tmp.path());
  const hftest::Expected want = hftest::read_expected(tmp.path() + "/expected.json");
  RunShape rs;
  rs.max_tokens = 26;
  Transformer model(cfg, rs, {});
  std::vector<float*> dst;
  for (const Tensor& x : model.params().all) dst.push_back(x.f32());
  read_hf_weights(tmp.path(), cfg, model.specs(), dst);
  const std::vector<float> got =
      hftest::engine_logits(cfg, model.params(), want.input_ids, Device::cpu, DType::f32);
  ASSERT_EQ(got.size(), want.logits.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - want.logits[i]));
  EXPECT_GT(worst, 1e-4 * max_abs(want.logits));
}

TEST(HfRoundTrip, FixtureModelsMatchTransformers) {
  SR_REQUIRE_HF_FIXTURES();
  for (const std::string& m : hftest::fixture_models()) check_folder(hftest::fixtures_dir() + "/" + m, m);
}

// The fixtures are what their names say (a broken generator would otherwise pass unnoticed).
TEST(HfRoundTrip, FixtureModelsHaveTheirShapes) {
  SR_REQUIRE_HF_FIXTURES();
  const std::string d = hftest::fixtures_dir();
  EXPECT_FALSE(read_hf_config(d + "/qwen2-untied").tie_word_embeddings);
  EXPECT_TRUE(read_hf_config(d + "/qwen2-tied").tie_word_embeddings);
  EXPECT_EQ(read_hf_config(d + "/qwen2-window").sliding_window, 8);
  EXPECT_EQ(read_hf_config(d + "/qwen2-untied").sliding_window, 0);
  EXPECT_TRUE(fs::exists(d + "/qwen2-sharded/model.safetensors.index.json"));
  for (const std::string& m : hftest::fixture_models()) {
    const ModelConfig c = read_hf_config(d + "/" + m);
    EXPECT_EQ(c.num_attention_heads, 4) << m;
    EXPECT_EQ(c.num_key_value_heads, 2) << m;
    EXPECT_TRUE(c.attention_bias) << m;
  }
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json in import-hf.

std::string tokenizer_json(const std::string& type, const std::string& vocab, const std::string& added) {
  return "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [" + added +
         "],\n  \"normalizer\": {\"type\": \"NFC\"},\n  \"model\": {\n    \"type\": \"" + type +
         "\",\n    \"vocab\": {" + vocab + "},\n    \"merges\": []\n  }\n}\n";
}

TEST(HfTokenizer, IdentityIsFnv1a64OfTheBytes) {
  EXPECT_EQ(tokenizer_identity_of_json(""), "bpe-cbf29ce484222325");
  EXPECT_EQ(tokenizer_identity_of_json("a"), "bpe-af63dc4c8601ec8c");
  EXPECT_EQ(tokenizer_identity_of_json("foobar"), "bpe-85944171f73967e8");
}

TEST(HfTokenizer, AddsTheMissingSpecialTokensAfterTheHighestId) {
  TempDir tmp;
  const std::string added =
      "\n    {\"id\": 5, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, "
      "\"rstrip\": false, \"normalized\": false, \"special\": true},\n    {\"id\": 6, \"content\": \"<eos>\", "
      "\"special\": true}\n  ";
  // "<pad>" is an ordinary vocabulary entry: it becomes a special token with its own id.
  const std::string original = tokenizer_json("BPE", "\"a\": 0, \"b\": 1, \"<pad>\": 2, \"ab\": 3, \"c\": 4", added);
  spit(tmp.path() + "/tokenizer.json", original);
  const auto tok = read_hf_tokenizer(tmp.path(), 100);
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(tok->original_vocab, 7);
  const std::vector<std::pair<std::string, int64_t>> want = {{"<bos>", 7},     {"<query>", 8}, {"<chunk>", 9},
                                                             {"<summary>", 10}, {"<read>", 11}, {"<stop>", 12},
                                                             {"<answer>", 13}, {"<pad>", 2}};
  EXPECT_EQ(tok->added, want);
  EXPECT_EQ(tok->vocab_needed, 14);
  EXPECT_EQ(tok->identity, tokenizer_identity_of_json(tok->json));
  // Everything but the added_tokens list keeps its bytes.
  const size_t cut = original.find("\n  ]");
  ASSERT_NE(cut, std::string::npos);
  EXPECT_EQ(tok->json.substr(0, cut), original.substr(0, cut));
  EXPECT_EQ(tok->json.substr(tok->json.size() - (original.size() - cut)), original.substr(cut));
  const Json j = parse_json(tok->json);
  std::map<std::string, int64_t> ids;
  for (const Json& t : j["added_tokens"]) {
    ids[t["content"].get<std::string>()] = t["id"].get<int64_t>();
    if (t["content"].get<std::string>().front() == '<' && t["content"].get<std::string>() != "<|endoftext|>")
      EXPECT_TRUE(t["special"].get<bool>()) << t.dump();
  }
  EXPECT_EQ(ids.size(), 10u);  // the two of the file and the eight added
  for (const auto& [name, id] : want) EXPECT_EQ(ids[name], id) << name;
  EXPECT_EQ(ids["<eos>"], 6);
}

TEST(HfTokenizer, KeepsAFileThatHasThemAll) {
  TempDir tmp;
  std::string added;
  int id = 3;
  for (const std::string& n : smooth_reading_special_tokens())
    added += std::string(added.empty() ? "" : ",") + "{\"id\": " + std::to_string(id++) + ", \"content\": \"" + n +
             "\", \"special\": true}";
  const std::string original = tokenizer_json("BPE", "\"a\": 0, \"b\": 1, \"ab\": 2", added);
  spit(tmp.path() + "/tokenizer.json", original);
  const auto tok = read_hf_tokenizer(tmp.path(), 12);
  ASSERT_TRUE(tok.has_value());
  EXPECT_TRUE(tok->added.empty());
  EXPECT_EQ(tok->json, original);
  EXPECT_EQ(tok->identity, tokenizer_identity_of_json(original));
  EXPECT_EQ(tok->vocab_needed, 12);
}

TEST(HfTokenizer, EmptyAddedTokensAndNoTokenizer) {
  TempDir tmp;
  EXPECT_FALSE(read_hf_tokenizer(tmp.path(), 10).has_value());
  spit(tmp.path() + "/tokenizer.json", tokenizer_json("BPE", "\"a\": 0, \"b\": 1", ""));
  const auto tok = read_hf_tokenizer(tmp.path(), 10);
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(tok->added.size(), 9u);
  EXPECT_EQ(tok->added.front(), (std::pair<std::string, int64_t>("<bos>", 2)));
  EXPECT_EQ(tok->vocab_needed, 11);  // more than the 10 rows: import-hf grows the embedding
  EXPECT_EQ(parse_json(tok->json)["added_tokens"].size(), 9u);
}

TEST(HfTokenizer, RefusesAnotherModelTypeAndATooLargeVocabulary) {
  TempDir tmp;
  spit(tmp.path() + "/tokenizer.json", tokenizer_json("WordPiece", "\"a\": 0", ""));
  try {
    read_hf_tokenizer(tmp.path(), 10);
    ADD_FAILURE() << "a WordPiece tokenizer was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model type 'WordPiece': only BPE"), std::string::npos) << e.what();
  }
  spit(tmp.path() + "/tokenizer.json", tokenizer_json("BPE", "\"a\": 0, \"b\": 11", ""));
  try {
    read_hf_tokenizer(tmp.path(), 10);
    ADD_FAILURE() << "a vocabulary larger than vocab_size was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("its vocabulary has 12 tokens (highest id 11) but config.json's vocab_size is 10"),
              std::string::npos)
        << e.what();
  }
  spit(tmp.path() + "/tokenizer.json", "{\"model\": ");
  EXPECT_THROW(read_hf_tokenizer(tmp.path(), 10), UserError);
}

// An id near 2^63 must not overflow the highest id + 1 into a vocabulary that "fits"; a
// directory named tokenizer.json is named as such; an added_tokens key the text scan cannot see
// (written with an escape) must not silently lose the additions.
TEST(HfTokenizer, RefusesOverflowingIdsDirectoriesAndKeysItCannotEdit) {
  TempDir tmp;
  auto error = [&](int64_t vocab) {
    try {
      read_hf_tokenizer(tmp.path(), vocab);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  spit(tmp.path() + "/tokenizer.json", tokenizer_json("BPE", "\"a\": 0, \"b\": 9223372036854775807", ""));
  EXPECT_NE(error(10).find("its vocabulary has 9223372036854775808 tokens (highest id 9223372036854775807) but "
                           "config.json's vocab_size is 10"),
            std::string::npos)
      << error(10);
  std::string escaped = tokenizer_json("BPE", "\"a\": 0, \"b\": 1", "");
  escaped.replace(escaped.find("\"added_tokens\""), 14, "\"added\\u005ftokens\"");
  spit(tmp.path() + "/tokenizer.json", escaped);
  EXPECT_NE(error(20).find("cannot add the special token <bos> to added_tokens"), std::string::npos) << error(20);
  std::filesystem::remove(tmp.path() + "/tokenizer.json");
  std::filesystem::create_directory(tmp.path() + "/tokenizer.json");
  EXPECT_EQ(error(10), tmp.path() + "/tokenizer.json: is a directory, not a file (a tokenizer)");
}

// The tokenizer of the fixtures (Qwen2's structure, ~2000 entries) takes the special tokens too.
TEST(HfTokenizer, FixtureTokenizerTakesTheSpecialTokens) {
  SR_REQUIRE_HF_FIXTURES();
  const std::string dir = hftest::fixtures_dir() + "/tokenizer";
  const auto tok = read_hf_tokenizer(dir, 4096);
  ASSERT_TRUE(tok.has_value());
  EXPECT_GT(tok->original_vocab, 1000);
  ASSERT_EQ(tok->added.size(), 9u);
  for (size_t i = 0; i < tok->added.size(); ++i) EXPECT_EQ(tok->added[i].second, tok->original_vocab + int64_t(i));
  const Json j = parse_json(tok->json);
  EXPECT_EQ(j["added_tokens"].size(), 12u);
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"], parse_json(slurp(dir + "/tokenizer.json"))["pre_tokenizer"]);
}

}  // namespace
}  // namespace sr
