// Where a step's device time goes: while profiling is on, every op of kernels/ops.h (and any
// scope marked with ProfileScope, such as a collective) records a device event before and after
// itself (CUDA events on GPU, the host clock on CPU), and profile_stop() sums the time per kind.
// Off by default: then an op pays one branch. Events are recorded into the stream, so the host
// never waits inside a step; the waiting happens once, in profile_stop().
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace sr::ops {

enum class OpKind {
  attention_forward,
  attention_backward,
  gemm,
  norm,
  elementwise,  // casts, adds, scales, RoPE, SwiGLU, embedding
  cross_entropy,
  optimizer,
  communication,
};
constexpr int kOpKinds = 8;
const char* op_kind_name(OpKind k);

struct OpTimes {
  double ms[kOpKinds] = {};
  int64_t calls[kOpKinds] = {};
};

// Starts collecting on `device` (clears earlier records).
void profile_start(Device device);
// Waits for the recorded work, stops collecting, and returns the time per kind.
OpTimes profile_stop();

// A table of device time per kind over `steps` steps that took `wall_seconds` in all: ms per
// step, share of the step, calls per step; the rest of the step (the host, launch gaps, idle)
// as its own line.
std::string profile_table(const OpTimes& t, double wall_seconds, int64_t steps);

// Times its lifetime as `kind` while profiling is on (nested scopes count once, as the outer).
class ProfileScope {
 public:
  explicit ProfileScope(OpKind kind);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  int record_ = -1;
};

}  // namespace sr::ops
