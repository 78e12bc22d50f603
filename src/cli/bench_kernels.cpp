// `smoothread bench kernels`: the GPU kernels one at a time, on the shapes of a model config
// (default: the 3B shape's attention, GQA 16/2), timed with CUDA events (median of repeats after
// a warm-up) and reported as TFLOP/s (attention: only the (query, key) pairs the mask keeps;
// backward = 2.5 × forward FLOPs, FlashAttention's convention) or GB/s (memory-bound kernels:
// the bytes each must read and write once).
//
// Every output is checked before timing. Attention runs the implementation training uses
// (cuDNN where built, unless --cudnn false) and is checked (out, lse, dq, dk, dv) against
// smoothread's own kernels, which the GPU tests pin to the CPU reference; the GEMMs and the
// memory-bound kernels against the CPU reference kernels on their first rows (GEMMs: a block of
// the output, dx rows, dW rows over all tokens). A mismatch makes the command exit 1.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/device_memory.h"
#include "core/device_timer.h"
#include "core/error.h"
#include "core/half.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rng.h"
#include "kernels/ops.h"

namespace po = boost::program_options;

namespace sr {
namespace {

// Device memory for one tensor, freed with the object.
class Buf {
 public:
  Buf(DType t, std::initializer_list<int64_t> dims) : t_(nullptr, t, dims, Device::cuda) {
    t_.data = device_alloc(Device::cuda, std::max<size_t>(t_.bytes(), 16));
  }
  ~Buf() { device_free(Device::cuda, t_.data); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  operator Tensor() const { return t_; }
  const Tensor& t() const { return t_; }

 private:
  Tensor t_;
};

// Uniform values in [lo, hi) into an f32 or bf16 device tensor.
void fill_uniform(const Tensor& t, uint64_t seed, float lo, float hi) {
  const int64_t n = t.numel();
  auto value = [&](int64_t i) { return lo + (hi - lo) * float(random_uniform(seed, 7, uint64_t(i))); };
  if (t.dtype == DType::bf16) {
    std::vector<uint16_t> h(static_cast<size_t>(n));
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) h[size_t(i)] = f32_to_bf16(value(i));
    device_copy(Device::cuda, t.data, Device::cpu, h.data(), h.size() * 2);
  } else {
    std::vector<float> h(static_cast<size_t>(n));
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) h[size_t(i)] = value(i);
    device_copy(Device::cuda, t.data, Device::cpu, h.data(), h.size() * 4);
  }
}

std::vector<float> to_host(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::f32) {
    device_copy(Device::cpu, out.data(), Device::cuda, t.data, out.size() * 4);
    return out;
  }
  std::vector<uint16_t> h(out.size());
  device_copy(Device::cpu, h.data(), Device::cuda, t.data, h.size() * 2);
  for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_f32(h[i]);
  return out;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b);
// ‖got − want‖ / ‖want‖
double rel_err(const Tensor& got, const Tensor& want) { return rel_err(to_host(got), to_host(want)); }

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// A host f32 tensor over a vector (the CPU reference kernels run on these through kernels/ops.h).
Tensor host(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  Tensor t(v.data(), DType::f32, dims, Device::cpu);
  SR_ASSERT(static_cast<size_t>(t.numel()) == v.size(), "bench kernels: host tensor size");
  return t;
}

// Median milliseconds of `reps` calls after one untimed call.
double median_ms(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> ms;
  DeviceEvent start(Device::cuda), stop(Device::cuda);
  for (int i = 0; i < reps; ++i) {
    start.record();
    f();
    stop.record();
    ms.push_back(stop.ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Options {
  std::vector<int64_t> contexts{4096, 16384, 65536};
  std::vector<int64_t> head_dims{128, 64};
  int64_t heads = 16, kv_heads = 2, window = 4096;
  int64_t tokens = 8192, hidden = 2048, intermediate = 11008, vocab = 151936, lm_chunk = 1024;
  int reps = 10;
  bool cudnn = true, deterministic = false, check = true;
  std::string json_path;
};

std::vector<int64_t> parse_list(const std::string& key, const std::string& text) {
  std::vector<int64_t> out;
  for (size_t v : parse_token_list("bench kernels: --" + key, text)) out.push_back(int64_t(v));
  return out;
}

struct Report {
  Json rows = Json::array();
  bool failed = false;
  void add(Json row) {
    rows.push_back(std::move(row));
  }
  // Records a check of `what` against its reference; a miss fails the benchmark.
  double check(const std::string& what, double err, double tolerance = 2e-2) {
    if (!(err < tolerance)) {
      failed = true;
      warn("bench kernels: %s does not match the CPU reference (relative error %.2e)", what.c_str(), err);
    }
    return err;
  }
};

constexpr int64_t kCheckRows = 64;  // rows of the row-wise kernels compared with the CPU

// Pairs (i, j) with j ≤ i, i − j < W (W = 0: all) in one sample of T tokens.
double kept_pairs(int64_t T, int64_t window) {
  double pairs = 0;
  for (int64_t i = 0; i < T; ++i) pairs += double(window > 0 ? std::min<int64_t>(i + 1, window) : i + 1);
  return pairs;
}

void bench_attention(const Options& o, Report& rep) {
  for (int64_t hd : o.head_dims) {
    for (int64_t T : o.contexts) {
      const int64_t nh = o.heads, nkv = o.kv_heads;
      Buf q(DType::bf16, {T, nh, hd}), k(DType::bf16, {T, nkv, hd}), v(DType::bf16, {T, nkv, hd}),
          out(DType::bf16, {T, nh, hd}), lse(DType::f32, {nh * T}), dout(DType::bf16, {T, nh, hd}),
          dq(DType::bf16, {T, nh, hd}), dk(DType::bf16, {T, nkv, hd}), dv(DType::bf16, {T, nkv, hd}),
          cu(DType::i32, {2});
      fill_uniform(q, 1, -2, 2), fill_uniform(k, 2, -2, 2), fill_uniform(v, 3, -1, 1),
          fill_uniform(dout, 4, -1, 1);
      const int32_t cu_host[2] = {0, int32_t(T)};
      device_copy(Device::cuda, cu.t().data, Device::cpu, cu_host, sizeof cu_host);
      for (int64_t window : {int64_t(0), o.window}) {
        if (window >= T) continue;  // the same as causal
        const ops::AttentionSettings settings{o.cudnn, o.deterministic};
        auto forward = [&] { ops::attention_forward(out, lse, q, k, v, cu, int(window)); };
        auto backward = [&] {
          ops::attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu, int(window));
        };
        Json row = {{"kernel", "attention"}, {"tokens", T},        {"heads", nh},
                    {"kv_heads", nkv},       {"head_dim", hd},     {"window", window},
                    {"cudnn", o.cudnn},      {"deterministic", o.deterministic}};
        if (o.check) {
          // The reference: smoothread's own kernels on the same inputs.
          Buf out_ref(DType::bf16, {T, nh, hd}), lse_ref(DType::f32, {nh * T}),
              dq_ref(DType::bf16, {T, nh, hd}), dk_ref(DType::bf16, {T, nkv, hd}),
              dv_ref(DType::bf16, {T, nkv, hd});
          ops::set_attention_settings({false, true});
          ops::attention_forward(out_ref, lse_ref, q, k, v, cu, int(window));
          ops::attention_backward(dq_ref, dk_ref, dv_ref, dout, out_ref, lse_ref, q, k, v, cu,
                                  int(window));
          ops::set_attention_settings(settings);
          forward(), backward();
          const double errs[5] = {rel_err(out, out_ref), rel_err(lse, lse_ref), rel_err(dq, dq_ref),
                                  rel_err(dk, dk_ref), rel_err(dv, dv_ref)};
          const double worst = *std::max_element(errs, errs + 5);
          row["check_rel_err"] = worst;
          if (!(worst < 2e-2)) {
            rep.failed = true;
            warn("bench kernels: attention T %lld hd %lld window %lld does not match the reference "
                 "(relative errors out %.2e lse %.2e dq %.2e dk %.2e dv %.2e)",
                 (long long)T, (long long)hd, (long long)window, errs[0], errs[1], errs[2], errs[3],
                 errs[4]);
          }
        }
        ops::set_attention_settings(settings);
        const double fwd_ms = median_ms(o.reps, forward), bwd_ms = median_ms(o.reps, backward);
        const double fwd_flop = 4.0 * double(hd) * double(nh) * kept_pairs(T, window);
        row["forward_ms"] = fwd_ms, row["backward_ms"] = bwd_ms;
        row["forward_tflops"] = fwd_flop / fwd_ms * 1e-9;
        row["backward_tflops"] = 2.5 * fwd_flop / bwd_ms * 1e-9;
        info("attention T %6lld hd %3lld heads %lld/%lld window %5lld: forward %8.3f ms %6.1f TFLOP/s, "
             "backward %8.3f ms %6.1f TFLOP/s%s",
             (long long)T, (long long)hd, (long long)nh, (long long)nkv, (long long)window, fwd_ms,
             double(row["forward_tflops"]), bwd_ms, double(row["backward_tflops"]),
             row.contains("check_rel_err") ? "" : " (unchecked)");
        rep.add(std::move(row));
      }
    }
  }
  ops::set_attention_settings({o.cudnn, o.deterministic});
}

// The model's linear layers at `tokens` tokens: out[T,N] = x[T,K] · W[N,K]ᵀ, bf16 in, f32 acc.
void bench_gemms(const Options& o, Report& rep) {
  const int64_t T = o.tokens, H = o.hidden, hd = 128;
  struct Gemm {
    const char* name;
    int64_t rows, K, N;
  };
  const Gemm gemms[] = {{"qkv_proj", T, H, (o.heads + 2 * o.kv_heads) * hd},
                        {"o_proj", T, o.heads * hd, H},
                        {"gate_or_up_proj", T, H, o.intermediate},
                        {"down_proj", T, o.intermediate, H},
                        {"lm_head_chunk", o.lm_chunk, H, o.vocab}};
  for (const Gemm& g : gemms) {
    Buf x(DType::bf16, {g.rows, g.K}), w(DType::bf16, {g.N, g.K}), out(DType::bf16, {g.rows, g.N}),
        dx(DType::bf16, {g.rows, g.K}), dw(DType::f32, {g.N, g.K});
    fill_uniform(x, 5, -1, 1), fill_uniform(w, 6, -0.05f, 0.05f), fill_uniform(out, 7, -1, 1);
    const Tensor none;
    // Checks against the CPU reference: out rows [0, R) × columns [0, Nc); dx rows [0, R)
    // where the weight is small enough to copy; dW rows [0, 16) over every token.
    const int64_t R = std::min<int64_t>(kCheckRows, g.rows), Nc = std::min<int64_t>(256, g.N);
    ops::linear_forward(out, x, w, none);
    auto x_all = to_host(x), w_head = to_host(w.t().rows(0, Nc)), out_rows = to_host(out.t().rows(0, R));
    std::vector<float> x_head(x_all.begin(), x_all.begin() + R * g.K), want(static_cast<size_t>(R * Nc)), got;
    ops::linear_forward(host(want, {R, Nc}), host(x_head, {R, g.K}), host(w_head, {Nc, g.K}), Tensor{});
    for (int64_t r = 0; r < R; ++r)
      got.insert(got.end(), out_rows.begin() + r * g.N, out_rows.begin() + r * g.N + Nc);
    double err = rep.check(std::string("gemm ") + g.name + " forward", rel_err(got, want));
    ops::fill_zero(dw);
    ops::linear_backward(dx, dw, none, out, x, w, false);
    auto dout_all = to_host(out), dw_rows = to_host(dw.t().rows(0, 16));
    std::vector<float> dw_want(static_cast<size_t>(16 * g.K), 0.0f);
#pragma omp parallel for
    for (int64_t n = 0; n < 16; ++n)
      for (int64_t t = 0; t < g.rows; ++t) {
        const float d = dout_all[size_t(t * g.N + n)];
        for (int64_t k = 0; k < g.K; ++k) dw_want[size_t(n * g.K + k)] += d * x_all[size_t(t * g.K + k)];
      }
    err = std::max(err, rep.check(std::string("gemm ") + g.name + " dW", rel_err(dw_rows, dw_want)));
    if (g.N * g.K <= (int64_t(64) << 20)) {
      auto w_all = to_host(w), dx_rows = to_host(dx.t().rows(0, R));
      std::vector<float> dx_want(static_cast<size_t>(R * g.K), 0.0f);
#pragma omp parallel for
      for (int64_t r = 0; r < R; ++r)
        for (int64_t n = 0; n < g.N; ++n) {
          const float d = dout_all[size_t(r * g.N + n)];
          for (int64_t k = 0; k < g.K; ++k) dx_want[size_t(r * g.K + k)] += d * w_all[size_t(n * g.K + k)];
        }
      err = std::max(err, rep.check(std::string("gemm ") + g.name + " dx", rel_err(dx_rows, dx_want)));
    }
    const double flop = 2.0 * double(g.rows) * double(g.K) * double(g.N);
    const double f = median_ms(o.reps, [&] { ops::linear_forward(out, x, w, none); });
    const double b = median_ms(o.reps, [&] { ops::linear_backward(dx, dw, none, out, x, w, false); });
    info("gemm %-16s [%lld x %lld] x [%lld x %lld]^T: forward %7.3f ms %6.1f TFLOP/s, backward "
         "(dx, dW += ) %7.3f ms %6.1f TFLOP/s",
         g.name, (long long)g.rows, (long long)g.K, (long long)g.N, (long long)g.K, f,
         flop / f * 1e-9, b, 2 * flop / b * 1e-9);
    rep.add({{"kernel", std::string("gemm ") + g.name}, {"rows", g.rows}, {"k", g.K}, {"n", g.N},
             {"check_rel_err", err},
             {"forward_ms", f}, {"forward_tflops", flop / f * 1e-9}, {"backward_ms", b},
             {"backward_tflops", 2 * flop / b * 1e-9}});
  }
}

// Memory-bound kernels on bf16 activations; bytes: what each must read and write once.
void bench_memory_bound(const Options& o, Report& rep) {
  const int64_t T = o.tokens, H = o.hidden, I = o.intermediate, nh = o.heads, hd = 128;
  Buf x(DType::bf16, {T, H}), y(DType::bf16, {T, H}), dx(DType::bf16, {T, H}), xf(DType::f32, {T, H}),
      w(DType::f32, {H}), dw(DType::f32, {H}), rstd(DType::f32, {T}), q(DType::bf16, {T, nh, hd}),
      pos(DType::i32, {T}), gate(DType::bf16, {T, I}), up(DType::bf16, {T, I}), act(DType::bf16, {T, I}),
      dgate(DType::bf16, {T, I}), dup(DType::bf16, {T, I});
  fill_uniform(x, 8, -1, 1), fill_uniform(y, 9, -1, 1), fill_uniform(xf, 10, -1, 1),
      fill_uniform(w, 11, 0.5f, 1.5f), fill_uniform(q, 12, -1, 1), fill_uniform(gate, 13, -2, 2),
      fill_uniform(up, 14, -2, 2), fill_uniform(act, 15, -1, 1);
  std::vector<int32_t> positions(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions[size_t(t)] = int32_t(t);
  device_copy(Device::cuda, pos.t().data, Device::cpu, positions.data(), positions.size() * 4);
  const double a = double(T) * H * 2, m = double(T) * I * 2;  // bytes of one [T,H] / [T,I] bf16
  // Each check runs the kernel once and compares its first R rows with the CPU reference on
  // the same input rows (taken before the run: some kernels work in place).
  const int64_t R = kCheckRows;
  auto head = [&](const Tensor& t) { return to_host(t.rows(0, R)); };
  std::vector<int32_t> pos_head(positions.begin(), positions.begin() + R);
  const Tensor pos_h(pos_head.data(), DType::i32, {R}, Device::cpu);
  auto w_h = to_host(w);
  struct Case {
    const char* name;
    double bytes;
    std::function<void()> run;
    std::function<double()> check;
  };
  const Case cases[] = {
      {"rmsnorm_forward", 2 * a + T * 4.0, [&] { ops::rmsnorm_forward(y, rstd, x, w, 1e-6f); },
       [&] {
         auto xh = head(x);
         std::vector<float> out(static_cast<size_t>(R * H)), rs(static_cast<size_t>(R));
         ops::rmsnorm_forward(y, rstd, x, w, 1e-6f);
         ops::rmsnorm_forward(host(out, {R, H}), host(rs, {R}), host(xh, {R, H}), host(w_h, {H}), 1e-6f);
         return std::max(rel_err(head(y), out), rel_err(to_host(rstd.t().rows(0, R)), rs));
       }},
      {"rmsnorm_backward", 4 * a, [&] { ops::rmsnorm_backward(dx, dw, y, x, w, rstd); },
       [&] {
         ops::fill_zero(dx);
         ops::rmsnorm_backward(dx, dw, y, x, w, rstd);
         auto dy = head(y), xh = head(x), rs = to_host(rstd.t().rows(0, R));
         std::vector<float> want(static_cast<size_t>(R * H), 0.0f), dw_h(static_cast<size_t>(H), 0.0f);
         ops::rmsnorm_backward(host(want, {R, H}), host(dw_h, {H}), host(dy, {R, H}), host(xh, {R, H}),
                               host(w_h, {H}), host(rs, {R}));
         return rel_err(head(dx), want);
       }},
      {"rope", 2.0 * T * nh * hd * 2 + T * 4.0, [&] { ops::rope(q, pos, 1e6f, false); },
       [&] {
         auto want = head(q);
         ops::rope(q, pos, 1e6f, false);
         ops::rope(host(want, {R, nh, hd}), pos_h, 1e6f, false);
         return rel_err(head(q), want);
       }},
      {"swiglu_forward", 3 * m, [&] { ops::swiglu_forward(act, gate, up); },
       [&] {
         auto g = head(gate), u = head(up);
         std::vector<float> want(static_cast<size_t>(R * I));
         ops::swiglu_forward(act, gate, up);
         ops::swiglu_forward(host(want, {R, I}), host(g, {R, I}), host(u, {R, I}));
         return rel_err(head(act), want);
       }},
      {"swiglu_backward", 5 * m, [&] { ops::swiglu_backward(dgate, dup, act, gate, up); },
       [&] {
         auto d = head(act), g = head(gate), u = head(up);
         std::vector<float> dg(static_cast<size_t>(R * I)), du(static_cast<size_t>(R * I));
         ops::swiglu_backward(dgate, dup, act, gate, up);
         ops::swiglu_backward(host(dg, {R, I}), host(du, {R, I}), host(d, {R, I}), host(g, {R, I}),
                              host(u, {R, I}));
         return std::max(rel_err(head(dgate), dg), rel_err(head(dup), du));
       }},
      {"add_inplace", 3 * a, [&] { ops::add_inplace(y, x); },
       [&] {
         auto want = head(y), xh = head(x);
         ops::add_inplace(y, x);
         ops::add_inplace(host(want, {R, H}), host(xh, {R, H}));
         return rel_err(head(y), want);
       }},
      {"cast_f32_to_bf16", double(T) * H * 6, [&] { ops::copy(y, xf); },
       [&] {
         ops::copy(y, xf);
         return rel_err(head(y), head(xf));
       }},
  };
  for (const Case& c : cases) {
    const double err = rep.check(c.name, c.check());
    const double ms = median_ms(o.reps, c.run);
    info("memory %-18s %7.3f ms %7.1f GB/s (checked: relative error %.1e)", c.name, ms,
         c.bytes / ms * 1e-6, err);
    rep.add({{"kernel", c.name}, {"tokens", T}, {"ms", ms}, {"gb_s", c.bytes / ms * 1e-6},
             {"check_rel_err", err}});
  }
  // Cross-entropy over one LM-head chunk: row max, sum of exp, target logit, backward in place.
  const int64_t C = o.lm_chunk, V = o.vocab;
  Buf logits(DType::bf16, {C, V}), row_max(DType::f32, {C}), sumexp(DType::f32, {C}),
      target_logit(DType::f32, {C}), targets(DType::i32, {C}), weight(DType::f32, {C});
  fill_uniform(logits, 16, -4, 4), fill_uniform(weight, 17, 1, 1);
  std::vector<int32_t> tg(static_cast<size_t>(C));
  for (int64_t t = 0; t < C; ++t) tg[size_t(t)] = int32_t((t * 7919) % V);
  device_copy(Device::cuda, targets.t().data, Device::cpu, tg.data(), tg.size() * 4);
  auto cross_entropy = [&] {
    ops::logits_row_max(row_max, logits);
    ops::logits_row_sumexp(sumexp, logits, row_max);
    ops::logits_gather_target(target_logit, logits, targets, 0);
    ops::cross_entropy_backward(logits, row_max, sumexp, targets, weight, 0);
  };
  double ce_err = 0;
  {
    auto lg = to_host(logits.t().rows(0, R));
    std::vector<int32_t> tg_head(tg.begin(), tg.begin() + R);
    std::vector<float> wt(static_cast<size_t>(R), 1.0f), rm(static_cast<size_t>(R)), se(static_cast<size_t>(R)), tl(static_cast<size_t>(R));
    cross_entropy();
    const Tensor L = host(lg, {R, V}), tgt(tg_head.data(), DType::i32, {R}, Device::cpu);
    ops::logits_row_max(host(rm, {R}), L);
    ops::logits_row_sumexp(host(se, {R}), L, host(rm, {R}));
    ops::logits_gather_target(host(tl, {R}), L, tgt, 0);
    ops::cross_entropy_backward(L, host(rm, {R}), host(se, {R}), tgt, host(wt, {R}), 0);
    ce_err = rep.check("cross_entropy", std::max({rel_err(to_host(row_max.t().rows(0, R)), rm),
                                                  rel_err(to_host(sumexp.t().rows(0, R)), se),
                                                  rel_err(to_host(target_logit.t().rows(0, R)), tl),
                                                  rel_err(to_host(logits.t().rows(0, R)), lg)}));
  }
  const double ce_ms = median_ms(o.reps, cross_entropy);
  const double ce_bytes = 4.0 * double(C) * double(V) * 2;  // 3 reads and 1 write of the chunk
  info("memory %-18s %7.3f ms %7.1f GB/s (chunk %lld x vocab %lld, 4 passes)", "cross_entropy",
       ce_ms, ce_bytes / ce_ms * 1e-6, (long long)C, (long long)V);
  rep.add({{"kernel", "cross_entropy"}, {"tokens", C}, {"ms", ce_ms}, {"gb_s", ce_bytes / ce_ms * 1e-6},
           {"check_rel_err", ce_err}});
}

}  // namespace

int bench_kernels(const std::vector<std::string>& args) {
  Options o;
  std::string contexts = "4k,16k,64k", head_dims = "128,64", which = "attention,gemm,memory";
  po::options_description desc(
      "smoothread bench kernels: GPU kernels on the 3B shapes (CUDA events, median of repeats)");
  desc.add_options()("help", "print this help")(
      "contexts", po::value<std::string>(&contexts)->default_value(contexts),
      "attention sample lengths (one sample each)")(
      "head-dims", po::value<std::string>(&head_dims)->default_value(head_dims), "attention head dims")(
      "heads", po::value<int64_t>(&o.heads)->default_value(o.heads), "query heads")(
      "kv-heads", po::value<int64_t>(&o.kv_heads)->default_value(o.kv_heads), "key/value heads")(
      "window", po::value<int64_t>(&o.window)->default_value(o.window),
      "sliding window measured beside causal (0: causal only)")(
      "tokens", po::value<int64_t>(&o.tokens)->default_value(o.tokens),
      "tokens of the GEMM and memory-bound benchmarks")(
      "hidden", po::value<int64_t>(&o.hidden)->default_value(o.hidden), "hidden size")(
      "intermediate", po::value<int64_t>(&o.intermediate)->default_value(o.intermediate), "MLP width")(
      "vocab", po::value<int64_t>(&o.vocab)->default_value(o.vocab), "vocabulary (LM head, loss)")(
      "reps", po::value<int>(&o.reps)->default_value(o.reps), "timed repeats (median reported)")(
      "only", po::value<std::string>(&which)->default_value(which),
      "groups to run: attention, gemm, memory")(
      "cudnn", po::value<bool>(&o.cudnn)->default_value(o.cudnn),
      "attention through cuDNN where built (else own kernels)")(
      "deterministic", po::value<bool>(&o.deterministic)->default_value(o.deterministic),
      "deterministic attention backward")(
      "check", po::value<bool>(&o.check)->default_value(o.check),
      "check every output against its reference before timing")(
      "json", po::value<std::string>(&o.json_path), "also write the results as JSON to this file");
  po::variables_map vm;
  if (!parse_options("bench kernels", desc, args, vm)) return kExitOk;
  o.contexts = parse_list("contexts", contexts);
  o.head_dims = parse_list("head-dims", head_dims);
  for (int64_t hd : o.head_dims)
    if (hd != 16 && hd != 32 && hd != 64 && hd != 128)
      user_error("bench kernels: --head-dims = '" + head_dims +
                 "': the attention kernels take head dims 16, 32, 64 and 128");
  if (o.heads <= 0 || o.kv_heads <= 0 || o.heads % o.kv_heads != 0)
    user_error("bench kernels: --heads must be a positive multiple of --kv-heads");
  if (o.window < 0 || o.tokens <= 0 || o.hidden <= 0 || o.intermediate <= 0 || o.vocab <= 0 || o.reps <= 0)
    user_error("bench kernels: --window must be >= 0; --tokens, --hidden, --intermediate, --vocab "
               "and --reps > 0");
  if (cuda_device_count() == 0)
    user_error("bench kernels: needs a CUDA device (this build has no CUDA backend or no GPU is visible)");
  std::stringstream groups(which);
  for (std::string g; std::getline(groups, g, ',');)
    if (g != "attention" && g != "gemm" && g != "memory")
      user_error("bench kernels: --only = '" + which + "': expected attention, gemm and/or memory");
  info("bench kernels on %s", cuda_device_summary().c_str());
  ops::set_attention_settings({o.cudnn, o.deterministic});
  Report rep;
  if (which.find("attention") != std::string::npos) bench_attention(o, rep);
  if (which.find("gemm") != std::string::npos) bench_gemms(o, rep);
  if (which.find("memory") != std::string::npos) bench_memory_bound(o, rep);
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    f << Json{{"device", cuda_device_summary()}, {"results", rep.rows}}.dump(2) << "\n";
    if (!f) user_error("bench kernels: cannot write " + o.json_path);
  }
  if (rep.failed) {
    warn("bench kernels: an output did not match its reference (see above)");
    return 1;
  }
  return kExitOk;
}

}  // namespace sr
