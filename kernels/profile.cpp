#include "kernels/profile.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "core/device_timer.h"

namespace sr::ops {
namespace {

struct Record {
  OpKind kind;
  int start, end;  // indices into the event pool
};

struct Profiler {
  bool on = false;
  int depth = 0;
  Device device = Device::cpu;
  std::vector<std::unique_ptr<DeviceEvent>> pool;  // reused across profiles
  int used = 0;
  std::vector<Record> records;

  int record_event() {
    if (used == int(pool.size())) pool.push_back(std::make_unique<DeviceEvent>(device));
    pool[size_t(used)]->record();
    return used++;
  }
};

Profiler& profiler() {
  static Profiler p;
  return p;
}

}  // namespace

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::attention_forward: return "attention forward";
    case OpKind::attention_backward: return "attention backward";
    case OpKind::gemm: return "GEMM";
    case OpKind::norm: return "RMSNorm";
    case OpKind::elementwise: return "elementwise";
    case OpKind::cross_entropy: return "cross-entropy";
    case OpKind::optimizer: return "optimizer";
    case OpKind::communication: return "communication";
  }
  return "?";
}

void profile_start(Device device) {
  Profiler& p = profiler();
  if (p.device != device) p.pool.clear();
  p.device = device;
  p.on = true;
  p.depth = 0;
  p.used = 0;
  p.records.clear();
}

OpTimes profile_stop() {
  Profiler& p = profiler();
  OpTimes t;
  for (const Record& r : p.records) {
    t.ms[int(r.kind)] += p.pool[size_t(r.end)]->ms_since(*p.pool[size_t(r.start)]);
    t.calls[int(r.kind)] += 1;
  }
  p.on = false;
  p.records.clear();
  p.used = 0;
  return t;
}

std::string profile_table(const OpTimes& t, double wall_seconds, int64_t steps) {
  const double step_ms = 1e3 * wall_seconds / double(steps);
  std::string out = "  kind                  ms/step   share  calls/step\n";
  char line[128];
  double device_ms = 0;
  for (int k = 0; k < kOpKinds; ++k) {
    const double ms = t.ms[k] / double(steps);
    device_ms += ms;
    if (t.calls[k] == 0) continue;
    std::snprintf(line, sizeof line, "  %-20s %9.2f %6.1f%% %11.1f\n", op_kind_name(OpKind(k)), ms,
                  100.0 * ms / step_ms, double(t.calls[k]) / double(steps));
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-20s %9.2f %6.1f%%\n  %-20s %9.2f\n",
                "host, gaps, idle", step_ms - device_ms, 100.0 * (step_ms - device_ms) / step_ms,
                "step", step_ms);
  return out + line;
}

ProfileScope::ProfileScope(OpKind kind) {
  Profiler& p = profiler();
  if (!p.on || p.depth++ > 0) return;
  record_ = int(p.records.size());
  p.records.push_back({kind, p.record_event(), -1});
}

ProfileScope::~ProfileScope() {
  Profiler& p = profiler();
  if (!p.on) return;
  --p.depth;
  if (record_ >= 0) p.records[size_t(record_)].end = p.record_event();
}

}  // namespace sr::ops
