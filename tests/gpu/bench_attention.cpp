// Timing of the fused attention kernels (not a test: disabled, so CI and ctest never run it).
// Run on a GPU host with:
//   build-gpu/tests/gpu_tests --gtest_also_run_disabled_tests --gtest_filter='CudaBench.*'
// Shape: one 16384-token sample, 16 query / 2 kv heads, head dim 128 (the Qwen-2.5-3B
// attention), full causal and window 4096. FLOPs count visible (query, key) pairs only:
// forward 4·hd per pair and head, backward 2.5× forward (FlashAttention's convention).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/ops.h"

namespace sr {
namespace {

using gputest::DeviceTensor;

// Waits for the device: a blocking copy is ordered after all earlier work on the stream.
void sync_device(const DeviceTensor& t) {
  float x;
  device_copy(Device::cpu, &x, Device::cuda, t.t().data, sizeof x);
}

template <typename F>
double median_ms(const DeviceTensor& sync_on, int reps, F&& f) {
  f();  // warm-up (module load, shared-memory attributes, scratch)
  sync_device(sync_on);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    sync_device(sync_on);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

TEST(CudaBench, DISABLED_Attention) {
  SR_REQUIRE_GPU();
  const int64_t T = 16384, nh = 16, nkv = 2, hd = 128;
  gputest::Rand r(1);
  for (DType dt : {DType::bf16, DType::f32}) {
    DeviceTensor Q(dt, {T, nh, hd}), K(dt, {T, nkv, hd}), V(dt, {T, nkv, hd}), O(dt, {T, nh, hd}),
        L(DType::f32, {nh * T}), DO(dt, {T, nh, hd}), DQ(dt, {T, nh, hd}), DK(dt, {T, nkv, hd}),
        DV(dt, {T, nkv, hd}), CU(DType::i32, {2});
    Q.put(r.vec(size_t(T * nh * hd))), K.put(r.vec(size_t(T * nkv * hd))),
        V.put(r.vec(size_t(T * nkv * hd))), DO.put(r.vec(size_t(T * nh * hd)));
    CU.put_i32({0, int32_t(T)});
    for (int window : {0, 4096}) {
      double pairs = 0;
      for (int64_t i = 0; i < T; ++i) pairs += double(window > 0 ? std::min<int64_t>(i + 1, window) : i + 1);
      const double fwd_flop = 4.0 * hd * nh * pairs, bwd_flop = 2.5 * fwd_flop;
      const double f = median_ms(L, 5, [&] { ops::attention_forward(O, L, Q, K, V, CU, window); });
      const double b = median_ms(DQ, 5, [&] { ops::attention_backward(DQ, DK, DV, DO, O, L, Q, K, V, CU, window); });
      std::printf("attention %s T=%lld nh=%lld nkv=%lld hd=%lld window=%d: forward %.2f ms (%.1f TFLOP/s), "
                  "backward %.2f ms (%.1f TFLOP/s)\n",
                  dtype_name(dt), (long long)T, (long long)nh, (long long)nkv, (long long)hd, window, f,
                  fwd_flop / f * 1e-9, b, bwd_flop / b * 1e-9);
      EXPECT_GT(f, 0.0);
    }
  }
}

}  // namespace
}  // namespace sr
