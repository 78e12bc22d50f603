// Timing of work queued on a device: an event recorded into the device's stream (CUDA events
// on GPU, where the host runs ahead of the device; the host clock on CPU, where ops are
// synchronous). Used by the kernel benchmarks and the per-op profile of a training step.
#pragma once
#include "core/dtype.h"

namespace sr {

class DeviceEvent {
 public:
  explicit DeviceEvent(Device device);
  ~DeviceEvent();
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;
  DeviceEvent(DeviceEvent&& o) noexcept;
  DeviceEvent& operator=(DeviceEvent&&) = delete;

  // Marks the point after all work queued so far.
  void record();
  // Milliseconds from `start` to this event; waits for this event to complete.
  double ms_since(const DeviceEvent& start) const;

 private:
  Device device_;
  void* event_ = nullptr;  // cudaEvent_t on CUDA
  double host_ms_ = 0;     // CPU: host clock at record()
};

}  // namespace sr
