// Helpers of the Hugging Face round-trip tests (tests/unit/test_hf_roundtrip.cpp,
// tests/gpu/test_cuda_hf.cpp): the fixtures tools/make_hf_fixtures.py writes under
// tests/fixtures/hf, their expected.json, and the packed batch of its input ids.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.h"
#include "infer/engine.h"
#include "model/batch.h"

namespace sr::hftest {

inline std::string fixtures_dir() { return std::string(SR_SOURCE_DIR) + "/tests/fixtures/hf"; }

// The model folders of the fixtures (each with expected.json).
inline std::vector<std::string> fixture_models() {
  return {"qwen2-untied", "qwen2-tied", "qwen2-window", "qwen2-sharded"};
}

// Until the fixtures are generated (on a host with transformers) the tests that need them skip.
#define SR_REQUIRE_HF_FIXTURES()                                                                    \
  do {                                                                                              \
    if (!std::filesystem::is_directory(::sr::hftest::fixtures_dir() + "/qwen2-untied"))             \
      GTEST_SKIP() << ::sr::hftest::fixtures_dir()                                                  \
                   << " is absent: make it with python3 tools/make_hf_fixtures.py --out "           \
                      "tests/fixtures/hf (torch, transformers 5, tokenizers) and commit it";        \
  } while (0)

// What transformers computed for a fixture model (expected.json).
struct Expected {
  std::vector<std::vector<uint32_t>> input_ids;  // [batch][position]
  std::vector<int64_t> logits_shape;             // [batch, position, vocab]
  std::vector<float> logits;                     // row-major logits_shape
  double loss = 0;                               // mean next-token cross-entropy
};

inline Expected read_expected(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path << ": cannot open";
  std::ostringstream s;
  s << in.rdbuf();
  const Json j = parse_json(s.str());
  Expected e;
  for (const Json& seq : j.at("input_ids")) {
    e.input_ids.emplace_back();
    for (const Json& id : seq) e.input_ids.back().push_back(id.get<uint32_t>());
  }
  for (const Json& d : j.at("logits_shape")) e.logits_shape.push_back(d.get<int64_t>());
  e.logits.reserve(j.at("logits").size());
  for (const Json& x : j.at("logits")) e.logits.push_back(x.get<float>());
  e.loss = j.at("loss").get<double>();
  EXPECT_EQ(e.logits_shape.size(), 3u) << path;
  if (e.logits_shape.size() == 3) {
    EXPECT_EQ(int64_t(e.logits.size()), e.logits_shape[0] * e.logits_shape[1] * e.logits_shape[2]) << path;
    EXPECT_EQ(int64_t(e.input_ids.size()), e.logits_shape[0]) << path;
  }
  return e;
}

// The sequences as one packed micro-batch: every position but each sequence's last is trained
// to predict the next token (what transformers' labels=input_ids loss averages over).
struct Packed {
  std::vector<int32_t> tokens, targets, positions, cu{0};
  std::vector<float> mask;
  int64_t num_targets = 0;
  ModelBatch batch() const { return ModelBatch(tokens, targets, positions, mask, cu); }
};

inline Packed pack(const std::vector<std::vector<uint32_t>>& seqs) {
  Packed p;
  for (const auto& s : seqs) {
    for (size_t t = 0; t < s.size(); ++t) {
      const bool last = t + 1 == s.size();
      p.tokens.push_back(int32_t(s[t]));
      p.targets.push_back(last ? 0 : int32_t(s[t + 1]));
      p.positions.push_back(int32_t(t));
      p.mask.push_back(last ? 0.0f : 1.0f);
      p.num_targets += last ? 0 : 1;
    }
    p.cu.push_back(int32_t(p.tokens.size()));
  }
  return p;
}

// The logits [sequence, position, vocab] (flattened) of every position of `seqs` (all of one
// length), read token by token from the inference engine holding `params` on `device`.
inline std::vector<float> engine_logits(const ModelConfig& cfg, const ModelParams& params,
                                        const std::vector<std::vector<uint32_t>>& seqs, Device device,
                                        DType compute) {
  const int64_t B = int64_t(seqs.size()), T = int64_t(seqs.front().size());
  EngineShape es;
  es.batch = B;
  es.max_step_tokens = B * T;
  es.max_context = T;
  es.logits_rows = B * T;
  es.device = device;
  es.compute = compute;
  Engine engine(cfg, es);
  engine.load_weights(params);
  std::vector<std::vector<float>> all;
  engine.step(seqs, &all);
  std::vector<float> out;
  for (const auto& s : all) out.insert(out.end(), s.begin(), s.end());
  return out;
}

}  // namespace sr::hftest
