// CUDA side of device memory and the device query.
#include <cstdio>
#include <string>

#include <nccl.h>

#include "core/cuda/cuda_check.h"

namespace sr::cuda {

void* alloc(size_t bytes) {
  void* p = nullptr;
  SR_CHECK_CUDA(cudaMalloc(&p, bytes));
  return p;
}

void free(void* p) { SR_CHECK_CUDA(cudaFree(p)); }

void memset_zero(void* p, size_t bytes) { SR_CHECK_CUDA(cudaMemset(p, 0, bytes)); }

void copy(void* dst, const void* src, size_t bytes) {
  SR_CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

int device_count() {
  int n = 0;
  // No driver or no device both mean "no GPU here", not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void set_device(int index) { SR_CHECK_CUDA(cudaSetDevice(index)); }

std::string device_summary() {
  int n = device_count();
  if (n == 0) return "no CUDA device";
  std::string out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    SR_CHECK_CUDA(cudaGetDeviceProperties(&prop, i));
    char line[256];
    std::snprintf(line, sizeof line, "%s%d: %s, %.1f GiB, sm_%d%d, %d SMs", i ? "\n" : "", i,
                  prop.name, double(prop.totalGlobalMem) / (1 << 30), prop.major, prop.minor,
                  prop.multiProcessorCount);
    out += line;
  }
  return out;
}

void synchronize() { SR_CHECK_CUDA(cudaDeviceSynchronize()); }

void memory_info(size_t& used, size_t& total) {
  size_t free = 0;
  SR_CHECK_CUDA(cudaMemGetInfo(&free, &total));
  used = total - free;
}

std::string library_versions() {
  int runtime = 0, nccl = 0;
  cudaRuntimeGetVersion(&runtime);
  ncclGetVersion(&nccl);
  return "runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) +
         ", NCCL " + std::to_string(nccl / 10000) + "." + std::to_string(nccl / 100 % 100) + "." +
         std::to_string(nccl % 100);
}

}  // namespace sr::cuda
