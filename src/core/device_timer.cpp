#include "core/device_timer.h"

#include <chrono>

#include "core/error.h"

namespace sr {

#ifdef SMOOTHREAD_HAVE_CUDA
namespace cuda {
void* event_create();
void event_destroy(void* e);
void event_record(void* e);
double event_elapsed_ms(void* start, void* end);
}  // namespace cuda
#endif

namespace {
double host_now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

DeviceEvent::DeviceEvent(Device device) : device_(device) {
#ifdef SMOOTHREAD_HAVE_CUDA
  if (device_ == Device::cuda) event_ = cuda::event_create();
#else
  if (device_ == Device::cuda)
    fatal("DeviceEvent", __FILE__, __LINE__, "this smoothread was built without CUDA",
          "rebuild with nvcc on PATH, or set device = cpu");
#endif
}

DeviceEvent::~DeviceEvent() {
#ifdef SMOOTHREAD_HAVE_CUDA
  if (event_) cuda::event_destroy(event_);
#endif
}

DeviceEvent::DeviceEvent(DeviceEvent&& o) noexcept
    : device_(o.device_), event_(o.event_), host_ms_(o.host_ms_) {
  o.event_ = nullptr;
}

void DeviceEvent::record() {
#ifdef SMOOTHREAD_HAVE_CUDA
  if (event_) return cuda::event_record(event_);
#endif
  host_ms_ = host_now_ms();
}

double DeviceEvent::ms_since(const DeviceEvent& start) const {
#ifdef SMOOTHREAD_HAVE_CUDA
  if (event_ && start.event_) return cuda::event_elapsed_ms(start.event_, event_);
#endif
  return host_ms_ - start.host_ms_;
}

}  // namespace sr
