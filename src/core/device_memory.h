// Raw memory on a device: the only allocation entry points (used by Arena at start-up).
#pragma once
#include <cstddef>
#include <string>

#include "core/dtype.h"

namespace sr {

void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* p);
void device_memset_zero(Device device, void* p, size_t bytes);
// Copies between any two devices (host<->device, device<->device, host<->host).
void device_copy(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes);

// Waits until the device has finished all queued work (a no-op on CPU).
void device_synchronize(Device device);

// Number of CUDA devices visible (0 when built without CUDA or none present).
int cuda_device_count();
// Selects the CUDA device of this process (local rank based); no-op without CUDA.
void cuda_set_device(int index);
// One line per visible CUDA device, e.g. "0: NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90".
std::string cuda_device_summary();
// Bytes in use on this process's CUDA device (total − free), and its total; 0, 0 without CUDA.
void cuda_memory_info(size_t& used, size_t& total);
// "runtime 13.0, NCCL 2.28.3" or "built without CUDA".
std::string cuda_library_versions();

}  // namespace sr
