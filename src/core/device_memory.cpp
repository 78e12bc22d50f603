// Host side of device memory; CUDA calls are forwarded to core/cuda when it is built.
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/device_memory.h"

namespace sr {

#ifdef SMOOTHREAD_HAVE_CUDA
namespace cuda {
void* alloc(size_t bytes);
void free(void* p);
void memset_zero(void* p, size_t bytes);
void copy(void* dst, const void* src, size_t bytes);
int device_count();
void set_device(int index);
std::string device_summary();
std::string library_versions();
void memory_info(size_t& used, size_t& total);
void synchronize();
}  // namespace cuda
#define SR_CUDA_OR_FAIL(expr) return expr
#else
#define SR_CUDA_OR_FAIL(expr)                                                              \
  ::sr::fatal("cuda", __FILE__, __LINE__, "this smoothread was built without CUDA",        \
              "rebuild with nvcc on PATH (or -DSMOOTHREAD_CUDA=ON), or set device = cpu")
#endif

void* device_alloc(Device device, size_t bytes) {
  if (device == Device::cuda) { SR_CUDA_OR_FAIL(cuda::alloc(bytes)); }
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) fatal("aligned_alloc", __FILE__, __LINE__, "out of host memory", "use a smaller config");
  return p;
}

void device_free(Device device, void* p) {
  if (device == Device::cuda) { SR_CUDA_OR_FAIL(cuda::free(p)); }
  std::free(p);
}

void device_memset_zero(Device device, void* p, size_t bytes) {
  if (device == Device::cuda) { SR_CUDA_OR_FAIL(cuda::memset_zero(p, bytes)); }
  std::memset(p, 0, bytes);
}

void device_copy(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes) {
  if (dst_device == Device::cuda || src_device == Device::cuda) {
    SR_CUDA_OR_FAIL(cuda::copy(dst, src, bytes));
  }
  std::memcpy(dst, src, bytes);
}

void device_synchronize(Device device) {
  if (device == Device::cuda) { SR_CUDA_OR_FAIL(cuda::synchronize()); }
}

int cuda_device_count() {
#ifdef SMOOTHREAD_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void cuda_set_device(int index) {
#ifdef SMOOTHREAD_HAVE_CUDA
  cuda::set_device(index);
#else
  (void)index;
#endif
}

std::string cuda_device_summary() {
#ifdef SMOOTHREAD_HAVE_CUDA
  return cuda::device_summary();
#else
  return "built without CUDA";
#endif
}

}  // namespace sr

namespace sr {
std::string cuda_library_versions() {
#ifdef SMOOTHREAD_HAVE_CUDA
  return cuda::library_versions();
#else
  return "built without CUDA";
#endif
}
}  // namespace sr

namespace sr {
void cuda_memory_info(size_t& used, size_t& total) {
#ifdef SMOOTHREAD_HAVE_CUDA
  cuda::memory_info(used, total);
#else
  used = total = 0;
#endif
}
}  // namespace sr
