// safetensors reading and writing, and Hugging Face Qwen2 folders to and from the model.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "dataset/batch.h"
#include "model/transformer.h"
#include "test_fixtures.h"
#include "train/hf.h"
#include "train/safetensors.h"

namespace fs = std::filesystem;

namespace sr {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sr_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file of the 8-byte length, the header text and `data` bytes; header_len overrides the
  // length field when not -1.
  std::string raw(const std::string& name, const std::string& header, const std::string& data,
                  int64_t header_len = -1) {
    const std::string p = path(name);
    std::ofstream f(p, std::ios::binary);
    uint64_t n = header_len >= 0 ? uint64_t(header_len) : header.size();
    for (int i = 0; i < 8; ++i) f.put(char(n >> (8 * i)));
    f << header << data;
    return p;
  }

  fs::path dir_;
};

std::string read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// The UserError message of f, or "" when it does not throw one.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, HalfConversions) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc020), -2.5f);
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc100), -2.5f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_TRUE(std::isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // Round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 and goes to 1 (even);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 and goes up.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST_F(SafetensorsTest, WritesAndReadsBack) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 1e-3f, 7.0f, -0.1f};
  std::vector<float> b = {0.3f, 123.456f, -9e-5f};
  const std::vector<SafetensorsTensor> ts = {{"a", {2, 3}, a.data()}, {"b.bias", {3}, b.data()}};
  for (SafetensorsDType dt : {SafetensorsDType::f32, SafetensorsDType::bf16}) {
    const std::string p = path(dt == SafetensorsDType::f32 ? "f32.safetensors" : "bf16.safetensors");
    write_safetensors(p, ts, dt, {{"format", "pt"}});
    EXPECT_EQ(fs::file_size(p), safetensors_file_size(ts, dt, {{"format", "pt"}}));
    const std::string bytes = read_bytes(p);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
    EXPECT_EQ((8 + n) % 8, 0u) << "data section aligned to 8 bytes";
    SafetensorsFile f(p);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    ASSERT_EQ(f.tensors().size(), 2u);
    const SafetensorsEntry* ea = f.find("a");
    ASSERT_NE(ea, nullptr);
    EXPECT_EQ(ea->dtype, dt == SafetensorsDType::f32 ? "F32" : "BF16");
    EXPECT_EQ(ea->shape, (std::vector<int64_t>{2, 3}));
    const std::vector<float> ra = f.read_f32(*ea), rb = f.read_f32(*f.find("b.bias"));
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(ra[i], dt == SafetensorsDType::f32 ? a[i] : bf16_to_f32(f32_to_bf16(a[i])));
    for (size_t i = 0; i < b.size(); ++i)
      EXPECT_EQ(rb[i], dt == SafetensorsDType::f32 ? b[i] : bf16_to_f32(f32_to_bf16(b[i])));
    EXPECT_EQ(f.find("missing"), nullptr);
  }
}

TEST_F(SafetensorsTest, ReadsF16AndEmptyTensors) {
  // Two F16 values (1.0, -2.5), an empty tensor, no metadata; header padded with spaces.
  const std::string h =
      R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[4,4]}})";
  const std::string p = raw("f16.safetensors", h + "   ", std::string("\x00\x3c\x00\xc1", 4));
  SafetensorsFile f(p);
  EXPECT_EQ(f.read_f32(*f.find("x")), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_TRUE(f.read_f32(*f.find("e")).empty());
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(SafetensorsTest, RefusesBadFiles) {
  const std::string ok = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');
  struct Case {
    std::string name, header, data;
    int64_t header_len;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"header length past the end", ok, eight, 4096, "runs past the end of the file"},
      {"data cut short", ok, std::string(4, '\0'), -1, "run past the end of the data section"},
      {"offset out of range", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", eight, -1,
       "run past the end of the data section"},
      {"overlap",
       R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, -1, "overlap tensor 'x'"},
      {"gap",
       R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       std::string(12, '\0'), -1, "belong to no tensor"},
      {"trailing bytes", ok, std::string(12, '\0'), -1, "bytes after the last tensor"},
      {"size disagrees with shape", R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, -1,
       "needs 12"},
      {"end before begin", R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight, -1,
       "end before they begin"},
      {"unknown dtype", R"({"x":{"dtype":"F128","shape":[1],"data_offsets":[0,8]}})", eight, -1,
       "unknown dtype 'F128'"},
      {"negative shape", R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, -1,
       "non-negative integers"},
      {"invalid JSON", R"({"x":{"dtype":"F32",})", eight, -1, "invalid JSON header"},
      {"repeated key",
       R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, -1, "invalid JSON header"},
      {"metadata value not a string", R"({"__metadata__":{"n":1},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       eight, -1, "not a string"},
      {"not an object", R"([1,2])", "", -1, "not a JSON object"},
      {"extra field", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"crc":1}})", eight, -1,
       "unknown header field 'crc'"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string p = raw("bad" + std::to_string(n++) + ".safetensors", c.header, c.data, c.header_len);
    const std::string msg = error_of([&] { SafetensorsFile f(p); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(p), std::string::npos) << c.name << ": the message names the file";
  }
  // Shorter than the length field itself.
  const std::string tiny = path("tiny.safetensors");
  std::ofstream(tiny, std::ios::binary) << "abc";
  EXPECT_NE(error_of([&] { SafetensorsFile f(tiny); }).find("truncated"), std::string::npos);
  // A well-formed file whose tensor has an integer dtype: readable, but not as weights.
  const std::string ints = raw("i64.safetensors", R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", eight);
  SafetensorsFile f(ints);
  EXPECT_NE(error_of([&] { f.read_f32(*f.find("x")); }).find("dtype I64, which is not supported"), std::string::npos);
}

// ---- Hugging Face folders ----

ModelConfig hf_tiny(bool tied, int64_t window) {
  ModelConfig c = testfix::tiny_model_config(32, 48, 40, window);
  c.tie_word_embeddings = tied;
  c.rms_norm_eps = 1e-5;
  return c;
}

// Every parameter random (norms and biases too), so that a misplaced tensor shows.
void randomise(Transformer& m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.2f);
  for (const Tensor& t : m.params().all) {
    float* p = t.f32();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = nd(rng);
  }
}

std::vector<const float*> const_views(const Transformer& m) {
  std::vector<const float*> v;
  for (const Tensor& t : m.params().all) v.push_back(t.f32());
  return v;
}

std::vector<float*> views(Transformer& m) {
  std::vector<float*> v;
  for (const Tensor& t : m.params().all) v.push_back(t.f32());
  return v;
}

double loss(Transformer& m, const Batch& b) {
  m.set_batch(ModelBatch(b), 1.0f);
  return m.forward_backward(false);
}

RunShape small_shape() {
  RunShape s;
  s.max_tokens = 16;
  return s;
}

TEST_F(SafetensorsTest, HfRoundTripIsBitwise) {
  for (bool tied : {true, false}) {
    for (int64_t window : {int64_t(0), int64_t(3)}) {
      SCOPED_TRACE("tied " + std::to_string(tied) + " window " + std::to_string(window));
      const ModelConfig c = hf_tiny(tied, window);
      Transformer a(c, small_shape(), {});
      randomise(a, 5);
      const std::string tag = std::to_string(tied) + "_" + std::to_string(window);
      const std::string out1 = path("hf1_" + tag), out2 = path("hf2_" + tag);
      // A small shard limit: several shards and an index.
      HfExportOptions opt;
      opt.max_shard_bytes = 8000;
      write_hf_folder(out1, c, a.specs(), const_views(a), opt);
      ASSERT_TRUE(fs::exists(out1 + "/model.safetensors.index.json"));
      int shards = 0;
      for (auto& e : fs::directory_iterator(out1)) shards += e.path().extension() == ".safetensors";
      ASSERT_GE(shards, 2);
      char first[64];
      std::snprintf(first, sizeof first, "/model-00001-of-%05d.safetensors", shards);
      EXPECT_TRUE(fs::exists(out1 + first));
      const ModelConfig back = read_hf_config(out1);
      EXPECT_EQ(back.hidden_size, c.hidden_size);
      EXPECT_EQ(back.num_hidden_layers, c.num_hidden_layers);
      EXPECT_EQ(back.num_attention_heads, c.num_attention_heads);
      EXPECT_EQ(back.num_key_value_heads, c.num_key_value_heads);
      EXPECT_EQ(back.intermediate_size, c.intermediate_size);
      EXPECT_EQ(back.vocab_size, c.vocab_size);
      EXPECT_EQ(back.rope_theta, c.rope_theta);
      EXPECT_EQ(back.rms_norm_eps, c.rms_norm_eps);
      EXPECT_EQ(back.sliding_window, c.sliding_window);
      EXPECT_EQ(back.tie_word_embeddings, c.tie_word_embeddings);
      EXPECT_TRUE(back.attention_bias);
      Transformer b(back, small_shape(), {});
      read_hf_weights(out1, back, b.specs(), views(b));
      ASSERT_EQ(a.params().all.size(), b.params().all.size());
      for (size_t i = 0; i < a.params().all.size(); ++i)
        EXPECT_EQ(std::memcmp(a.params().all[i].data, b.params().all[i].data, a.params().all[i].bytes()), 0)
            << a.specs()[i].name;
      const Batch batch = testfix::random_packed_batch(3, 7, {5, 7}, 40);
      EXPECT_EQ(loss(a, batch), loss(b, batch));
      // Exported again: the same files, byte for byte.
      write_hf_folder(out2, back, b.specs(), const_views(b), opt);
      for (auto& e : fs::directory_iterator(out1))
        EXPECT_EQ(read_bytes(e.path().string()), read_bytes(out2 + "/" + e.path().filename().string()))
            << e.path().filename();
    }
  }
}

TEST_F(SafetensorsTest, HfBf16ExportRoundsEachValue) {
  const ModelConfig c = hf_tiny(true, 0);
  Transformer a(c, small_shape(), {});
  randomise(a, 9);
  HfExportOptions opt;
  opt.dtype = SafetensorsDType::bf16;
  write_hf_folder(path("bf16"), c, a.specs(), const_views(a), opt);
  EXPECT_TRUE(fs::exists(path("bf16/model.safetensors")));
  EXPECT_FALSE(fs::exists(path("bf16/model.safetensors.index.json")));
  Transformer b(c, small_shape(), {});
  read_hf_weights(path("bf16"), c, b.specs(), views(b));
  for (size_t i = 0; i < a.params().all.size(); ++i) {
    const float* x = a.params().all[i].f32();
    const float* y = b.params().all[i].f32();
    for (int64_t k = 0; k < a.params().all[i].numel(); ++k) ASSERT_EQ(y[k], bf16_to_f32(f32_to_bf16(x[k])));
  }
}

TEST_F(SafetensorsTest, HfConfigMapping) {
  auto config = [&](const std::string& name, const std::string& extra, const std::string& type = "qwen2") {
    const std::string d = path(name);
    fs::create_directories(d);
    std::ofstream(d + "/config.json")
        << R"({"model_type":")" << type << R"(","hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,)"
        << R"("num_key_value_heads":2,"intermediate_size":48,"vocab_size":40)" << extra << "}";
    return d;
  };
  // transformers' defaults where keys are absent: untied, theta 10000, no window.
  ModelConfig c = read_hf_config(config("defaults", ""));
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_TRUE(c.attention_bias);
  // A window is used only with use_sliding_window, on layers >= max_window_layers.
  EXPECT_EQ(read_hf_config(config("off", R"(,"use_sliding_window":false,"sliding_window":8)")).sliding_window, 0);
  EXPECT_EQ(read_hf_config(config("all", R"(,"use_sliding_window":true,"sliding_window":8,"max_window_layers":0)"))
                .sliding_window,
            8);
  EXPECT_EQ(read_hf_config(config("none", R"(,"use_sliding_window":true,"sliding_window":8,"max_window_layers":2)"))
                .sliding_window,
            0);
  EXPECT_NE(error_of([&] {
              read_hf_config(config("mixed", R"(,"use_sliding_window":true,"sliding_window":8,"max_window_layers":1)"));
            }).find("1 of 2 layers use a sliding window"),
            std::string::npos);
  EXPECT_EQ(read_hf_config(config("types", R"(,"sliding_window":6,"layer_types":["sliding_attention","sliding_attention"])"))
                .sliding_window,
            6);
  // --sliding-window replaces the folder's.
  EXPECT_EQ(read_hf_config(path("off"), 16).sliding_window, 16);
  EXPECT_EQ(read_hf_config(path("all"), 0).sliding_window, 0);
  // transformers 5's rope_parameters, default type.
  EXPECT_EQ(read_hf_config(config("rp", R"(,"rope_parameters":{"rope_type":"default","rope_theta":1000000.0})")).rope_theta,
            1e6);
  EXPECT_NE(error_of([&] { read_hf_config(config("llama", "", "llama")); }).find("only Qwen2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read_hf_config(config("yarn", R"(,"rope_scaling":{"type":"yarn","factor":4.0})"));
            }).find("rope scaling is not implemented"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_hf_config(config("gelu", R"(,"hidden_act":"gelu")")); }).find("only silu"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_hf_config(config("hd", R"(,"head_dim":16)")); }).find("head_dim 16"),
            std::string::npos);
}

// config.json sizes out of range are refused naming the key, and sizes the weights do not have
// are refused by check_hf_weights before anything of those sizes is allocated (import-hf runs it
// before building the model: an intermediate_size of 2^40 used to end in "out of host memory").
TEST_F(SafetensorsTest, HfConfigSizesAreCheckedBeforeAllocation) {
  const ModelConfig c = hf_tiny(true, 0);
  Transformer a(c, small_shape(), {});
  randomise(a, 4);
  write_hf_folder(path("sizes"), c, a.specs(), const_views(a), {});
  const Json good = parse_json(read_bytes(path("sizes/config.json")));
  auto with = [&](const std::string& key, const Json& v) {
    Json j = good;
    j[key] = v;
    if (key == "num_hidden_layers") j.erase("layer_types");
    std::ofstream(path("sizes/config.json"), std::ios::trunc) << j.dump();
    return error_of([&] { check_hf_weights(path("sizes"), read_hf_config(path("sizes"))); });
  };
  EXPECT_NE(with("vocab_size", uint64_t(1) << 63).find("config.json: vocab_size = 9223372036854775808 is out of range"),
            std::string::npos);
  EXPECT_NE(with("intermediate_size", int64_t(1) << 31).find("config.json: intermediate_size = 2147483648: expected at most 2147483647"),
            std::string::npos);
  EXPECT_NE(with("intermediate_size", int64_t(1) << 30)
                .find("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [48, 32] but"),
            std::string::npos);
  EXPECT_NE(with("vocab_size", int64_t(1) << 30).find("tensor 'model.embed_tokens.weight' has shape [40, 32] but"),
            std::string::npos);
  EXPECT_NE(with("num_hidden_layers", INT32_MAX)
                .find("config.json: num_hidden_layers = 2147483647 but the weights hold only"),
            std::string::npos);
  EXPECT_EQ(with("vocab_size", 40), "");  // the folder as written
}

TEST_F(SafetensorsTest, HfWeightsRefusedWhenTheyDoNotFitTheConfig) {
  const ModelConfig c = hf_tiny(true, 0);
  Transformer a(c, small_shape(), {});
  randomise(a, 2);
  write_hf_folder(path("good"), c, a.specs(), const_views(a), {});
  // The same weights under a config whose MLP is wider: the first MLP tensor's shape is wrong.
  ModelConfig wide = c;
  wide.intermediate_size = 64;
  Transformer w(wide, small_shape(), {});
  EXPECT_NE(error_of([&] { read_hf_weights(path("good"), wide, w.specs(), views(w)); })
                .find("'model.layers.0.mlp.gate_proj.weight' has shape [48, 32] but"),
            std::string::npos);
  // An untied config wants lm_head.weight, which a tied export lacks.
  ModelConfig untied = c;
  untied.tie_word_embeddings = false;
  Transformer u(untied, small_shape(), {});
  EXPECT_NE(error_of([&] { read_hf_weights(path("good"), untied, u.specs(), views(u)); })
                .find("tensor 'lm_head.weight' is missing"),
            std::string::npos);
  // An untied export read as tied: lm_head.weight differs from the embedding.
  Transformer a2(untied, small_shape(), {});
  randomise(a2, 3);
  write_hf_folder(path("untied"), untied, a2.specs(), const_views(a2), {});
  Transformer t(c, small_shape(), {});
  EXPECT_NE(error_of([&] { read_hf_weights(path("untied"), c, t.specs(), views(t)); })
                .find("lm_head.weight differs"),
            std::string::npos);
  // A folder without weights.
  fs::create_directories(path("empty"));
  EXPECT_NE(error_of([&] { read_hf_weights(path("empty"), c, t.specs(), views(t)); })
                .find("neither model.safetensors nor"),
            std::string::npos);
  // Export refuses an existing folder and leaves it alone.
  EXPECT_NE(error_of([&] { write_hf_folder(path("good"), c, a.specs(), const_views(a), {}); }).find("already exists"),
            std::string::npos);
}

}  // namespace
}  // namespace sr
