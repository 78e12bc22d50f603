#include "core/arena.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/device_memory.h"

namespace sr {

namespace {
constexpr size_t kAlign = 256;  // keeps every tensor aligned for vector loads on any device
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

Arena::Arena(std::string name, Device device) : name_(std::move(name)), device_(device) {}

Arena::~Arena() {
  if (base_) device_free(device_, base_);
}

void Arena::reserve(size_t bytes) {
  SR_ASSERT(base_ == nullptr, "arena '" + name_ + "' is already reserved");
  capacity_ = align_up(bytes);
  used_ = 0;
  if (capacity_ == 0) return;
  base_ = static_cast<char*>(device_alloc(device_, capacity_));
  device_memset_zero(device_, base_, capacity_);
}

Tensor Arena::alloc(DType dtype, std::initializer_list<int64_t> dims) {
  Tensor t(nullptr, dtype, dims, device_);
  size_t need = align_up(t.bytes());
  if (base_) {
    SR_ASSERT(used_ + need <= capacity_, "arena '" + name_ + "' overflows its plan");
    t.data = base_ + used_;
  }
  used_ += need;
  return t;
}

void Arena::plan(const std::function<void(Arena&)>& plan_fn) {
  SR_ASSERT(base_ == nullptr && used_ == 0, "arena '" + name_ + "' is planned once");
  plan_fn(*this);
  size_t total = used_;
  used_ = 0;
  reserve(total);
  plan_fn(*this);
}

void Arena::measure(const std::function<void(Arena&)>& plan_fn) {
  SR_ASSERT(base_ == nullptr && used_ == 0, "arena '" + name_ + "' is planned once");
  plan_fn(*this);
  capacity_ = align_up(used_);
  used_ = 0;
}

std::string format_bytes(size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", v, units[u]);
  return buf;
}

}  // namespace sr
