// Rotary position embedding, rotate-half layout (Hugging Face / Qwen2): dimension k pairs with
// k + hd/2 and turns by positions[t] · theta^(−2k/hd).
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr int kMaxHalf = 128;  // head dims up to 256

// Inverse frequencies computed on the host with the CPU kernel's std::pow: at positions of
// 10⁴–10⁵ one ulp of inv_freq moves the angle by ~10⁻³ rad, so they must be bit-identical.
struct InvFreq {
  float v[kMaxHalf];
};

// One thread per (t, k): the angle's sine and cosine (the costly part: angles reach 10⁵ rad,
// where range reduction is slow) are computed once and applied to pair k of every head.
// Consecutive threads take consecutive k, so each head's loads and stores are contiguous.
__global__ void rope_kernel(FloatRef x, const int32_t* pos, int64_t T, int64_t nh, int64_t hd,
                            InvFreq inv, float sign) {
  const int64_t half = hd / 2, n = T * half;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = e % half, t = e / half;
    const float angle = float(pos[t]) * inv.v[k];
    const float c = cosf(angle), s = sign * sinf(angle);
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t base = (t * nh + h) * hd;
      const float a = x.get(base + k), b = x.get(base + k + half);
      x.set(base + k, a * c - b * s);
      x.set(base + k + half, b * c + a * s);
    }
  }
}

}  // namespace

// x[T,nh,hd] in place, positions[T] i32
void rope(Tensor x, Tensor positions, float theta, bool inverse) {
  const int64_t T = x.dim(0), nh = x.dim(1), hd = x.dim(2);
  SR_ASSERT(x.ndim == 3 && hd % 2 == 0 && positions.numel() >= T, "rope: shapes");
  SR_ASSERT(hd / 2 <= kMaxHalf, "rope: head_dim above 256");
  const int64_t n = T * (hd / 2);
  if (n == 0 || nh == 0) return;
  InvFreq inv{};
  for (int64_t k = 0; k < hd / 2; ++k) inv.v[k] = 1.0f / std::pow(theta, float(2 * k) / float(hd));
  rope_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(float_ref(x, "rope"), i32_ref(positions, "rope"),
                                                     T, nh, hd, inv, inverse ? -1.0f : 1.0f);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
