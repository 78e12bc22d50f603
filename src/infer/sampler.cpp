#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/rng.h"

namespace sr {

void SamplingConfig::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    throw UserError("--temperature " + std::to_string(temperature) + ": expected a number >= 0");
  if (top_k < 0) throw UserError("--top-k " + std::to_string(top_k) + ": expected 0 (off) or more");
  if (!(top_p > 0.0f && top_p <= 1.0f))
    throw UserError("--top-p " + std::to_string(top_p) + ": expected a number in (0, 1]");
}

std::string SamplingConfig::str() const {
  if (temperature == 0.0f) return "greedy";
  char buf[128];
  std::snprintf(buf, sizeof buf, "temperature %g, top-k %lld, top-p %g, seed %llu", temperature,
                (long long)top_k, top_p, (unsigned long long)seed);
  return buf;
}

uint32_t sample_token(const float* logits, int64_t allowed, const SamplingConfig& cfg,
                      uint64_t stream, uint64_t counter) {
  SR_ASSERT(allowed > 0, "sample_token: empty vocabulary");
  if (cfg.temperature == 0.0f) {
    // First maximum: ties go to the lower id.
    return uint32_t(std::max_element(logits, logits + allowed) - logits);
  }
  std::vector<int64_t> idx(static_cast<size_t>(allowed), 0);
  std::iota(idx.begin(), idx.end(), 0);
  // Candidates by decreasing logit (ties: lower id first), cut to top-k.
  const int64_t k = cfg.top_k > 0 ? std::min(cfg.top_k, allowed) : allowed;
  auto by_logit = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), by_logit);
  idx.resize(size_t(k));
  const double mx = logits[idx[0]];
  std::vector<double> p(idx.size());
  double total = 0.0;
  for (size_t i = 0; i < idx.size(); ++i) total += p[i] = std::exp((logits[idx[i]] - mx) / cfg.temperature);
  // Nucleus: the smallest prefix whose probability reaches top_p.
  size_t keep = idx.size();
  if (cfg.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t i = 0; i < idx.size(); ++i) {
      cum += p[i] / total;
      if (cum >= cfg.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i) kept += p[i];
  const double u = random_uniform(cfg.seed, stream, counter) * kept;
  double cum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return uint32_t(idx[i]);
  }
  return uint32_t(idx[keep - 1]);
}

}  // namespace sr
