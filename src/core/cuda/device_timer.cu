// CUDA events for core/device_timer.h, on the stream every kernel uses (the legacy default).
#include <cuda_runtime.h>

#include "core/cuda/cuda_check.h"

namespace sr::cuda {

void* event_create() {
  cudaEvent_t e;
  SR_CHECK_CUDA(cudaEventCreate(&e));
  return e;
}

void event_destroy(void* e) { cudaEventDestroy(static_cast<cudaEvent_t>(e)); }

void event_record(void* e) { SR_CHECK_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(e), 0)); }

double event_elapsed_ms(void* start, void* end) {
  SR_CHECK_CUDA(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0;
  SR_CHECK_CUDA(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return double(ms);
}

}  // namespace sr::cuda
