// Without CUDA there is no NCCL communicator: asking for one is a clear failure, not a link error.
#include "comm/communicator.h"

#include "core/error.h"

namespace sr {

#ifndef SMOOTHREAD_HAVE_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm, double) {
  fatal("make_nccl_communicator", __FILE__, __LINE__,
        "NCCL communicator requested, but this smoothread was built without CUDA",
        "rebuild with nvcc on PATH (or -DSMOOTHREAD_CUDA=ON), or set device = cpu");
}
#endif

}  // namespace sr
