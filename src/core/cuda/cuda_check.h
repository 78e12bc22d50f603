// CUDA members of the error-check family (see core/error.h): each failure names the call,
// file:line, rank, host and device, with a hint, and aborts all ranks.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

#define SR_CHECK_CUDA(call)                                                                   \
  do {                                                                                        \
    cudaError_t _e = (call);                                                                  \
    if (_e != cudaSuccess)                                                                    \
      ::sr::fatal(#call, __FILE__, __LINE__, std::string("CUDA error: ") + cudaGetErrorString(_e), \
                  _e == cudaErrorMemoryAllocation                                             \
                      ? "out of GPU memory: lower micro_batch_tokens or turn on recompute"    \
                      : "run with CUDA_LAUNCH_BLOCKING=1 to find the failing kernel");        \
  } while (0)

#define SR_CHECK_CUBLAS(call)                                                                 \
  do {                                                                                        \
    cublasStatus_t _s = (call);                                                               \
    if (_s != CUBLAS_STATUS_SUCCESS)                                                          \
      ::sr::fatal(#call, __FILE__, __LINE__,                                                  \
                  std::string("cuBLAS error: ") + cublasLtGetStatusString(_s),                \
                  "check the GEMM shapes and that the workspace is large enough");            \
  } while (0)

// After a kernel launch: reports launch configuration errors at the launch site.
#define SR_CHECK_LAUNCH() SR_CHECK_CUDA(cudaGetLastError())
