// Counter-based random numbers: the value at (seed, stream, index) is a pure function, so any
// rank can generate any slice of a global tensor, and a run's randomness needs no saved state
// beyond the seed and counters.
#pragma once
#include <cmath>
#include <cstdint>

namespace sr {

// SplitMix64 finaliser: a strong 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t random_u64(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(seed ^ mix64(stream + 0x632be59bd9b4e019ull)) + index);
}

// Uniform in [0, 1) with 53 random bits.
inline double random_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return double(random_u64(seed, stream, index) >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller over two counters.
inline double random_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  double u1 = random_uniform(seed, stream, 2 * index);
  double u2 = random_uniform(seed, stream, 2 * index + 1);
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Stable 64-bit hash of a name, to derive a stream per tensor.
inline uint64_t hash_name(const char* s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ uint8_t(*s++)) * 1099511628211ull;
  return h;
}

// Sequential generator over one stream (for data generation and shuffles).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint64_t next_u64() { return random_u64(seed_, stream_, counter_++); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next_u64() % n : 0; }
  // Uniform integer in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo + 1))); }

 private:
  uint64_t seed_, stream_, counter_ = 0;
};

}  // namespace sr
