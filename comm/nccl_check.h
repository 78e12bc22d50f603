// The NCCL member of the error-check family (see core/error.h and core/cuda/cuda_check.h):
// each failure names the call, file:line, rank, host and device, NCCL's own last message and
// a hint, and aborts all ranks.
#pragma once
#include <nccl.h>

#include <string>

#include "core/error.h"

namespace sr {

inline std::string nccl_error_text(ncclResult_t r, ncclComm_t comm) {
  std::string text = std::string("NCCL error: ") + ncclGetErrorString(r);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* last = ncclGetLastError(comm);
  if (last && *last) text += std::string(" (") + last + ")";
#endif
  return text;
}

inline const char* nccl_hint(ncclResult_t r) {
  switch (r) {
    case ncclInvalidUsage:
      return "every rank needs its own GPU (two ranks on one GPU cannot form a communicator); "
             "NCCL_DEBUG=WARN tells more";
    case ncclSystemError:
    case ncclRemoteError:
      return "a peer rank failed or the network between nodes broke: read the other ranks' "
             "logs; NCCL_DEBUG=INFO tells more";
    case ncclUnhandledCudaError:
      return "a CUDA call inside NCCL failed: check the GPU (nvidia-smi) and free memory";
    default:
      return "run with NCCL_DEBUG=WARN for details";
  }
}

}  // namespace sr

#define SR_CHECK_NCCL(call)                                                          \
  do {                                                                               \
    ncclResult_t _n = (call);                                                        \
    if (_n != ncclSuccess)                                                           \
      ::sr::fatal(#call, __FILE__, __LINE__, ::sr::nccl_error_text(_n, nullptr),     \
                  ::sr::nccl_hint(_n));                                              \
  } while (0)

// For calls on a nonblocking communicator, which may return ncclInProgress: the caller then
// polls ncclCommGetAsyncError until the call has finished.
#define SR_CHECK_NCCL_ASYNC(call)                                                    \
  do {                                                                               \
    ncclResult_t _n = (call);                                                        \
    if (_n != ncclSuccess && _n != ncclInProgress)                                   \
      ::sr::fatal(#call, __FILE__, __LINE__, ::sr::nccl_error_text(_n, nullptr),     \
                  ::sr::nccl_hint(_n));                                              \
  } while (0)
