// Arena: memory planned once at start-up and never allocated again.
//
// Users describe their tensors with a plan function run twice: first against a measuring
// arena (no memory, only sizes), then against the real one of exactly that size. So there is
// one description of the memory layout and no allocation inside the training step.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sr {

class Arena {
 public:
  // A measuring arena: alloc() returns tensors with null data and only counts bytes.
  explicit Arena(std::string name, Device device = Device::cpu);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Turns a measuring arena into a real one holding `bytes` (zero-filled) and rewinds it.
  void reserve(size_t bytes);

  Tensor alloc(DType dtype, std::initializer_list<int64_t> dims);
  size_t capacity() const { return capacity_; }
  const std::string& name() const { return name_; }
  Device device() const { return device_; }

  // Runs `plan` against a measuring pass, reserves the total, then runs it for real.
  void plan(const std::function<void(Arena&)>& plan);
  // Only the measuring pass: capacity() is then what plan() would reserve, and nothing is
  // allocated (the tensors `plan` assigned have no data).
  void measure(const std::function<void(Arena&)>& plan);

 private:
  std::string name_;
  Device device_;
  char* base_ = nullptr;
  size_t used_ = 0;
  size_t capacity_ = 0;
};

// "1.50 MiB" style sizes for the memory plan.
std::string format_bytes(size_t bytes);

}  // namespace sr
