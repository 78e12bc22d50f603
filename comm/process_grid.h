// ProcessGrid: the layout of ranks. world = DP × TP, rank = dp_rank · TP + tp_rank, so a TP
// group is made of consecutive ranks and stays inside a node. The local rank (which GPU)
// comes from MPI_Comm_split_type(SHARED), never from rank % gpus or Slurm variables.
#pragma once
#include <mpi.h>

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/host_communicator.h"

namespace sr {

struct ProcessGrid {
  int world_rank = 0, world_size = 1;
  int dp = 1, tp = 1;
  int dp_rank = 0, tp_rank = 0;
  int local_rank = 0, local_size = 1;
  std::string host;
  int device_index = -1;  // CUDA device of this rank, -1 on CPU

  MPI_Comm world = MPI_COMM_WORLD;
  MPI_Comm dp_comm = MPI_COMM_NULL;  // ranks with the same tp_rank
  MPI_Comm tp_comm = MPI_COMM_NULL;  // ranks with the same dp_rank

  // Collectives over each group, on host memory (MPI) or device memory (NCCL) by `device`.
  std::unique_ptr<Communicator> world_comm, dp_group, tp_group;
  // Host numbers (counts, sums, flags) over the same groups, MPI under the watchdog.
  std::unique_ptr<HostCommunicator> host_world, host_dp, host_tp;

  ProcessGrid() = default;
  ProcessGrid(const ProcessGrid&) = delete;
  ProcessGrid& operator=(const ProcessGrid&) = delete;
  ~ProcessGrid();
};

// Builds the grid over `world` (MPI_COMM_WORLD for a job; tests also build grids over
// MPI_COMM_SELF). tp must divide the world size (UserError otherwise); dp = world / tp.
// On Device::cuda, selects GPU local_rank and uses NCCL groups.
std::unique_ptr<ProcessGrid> make_process_grid(int tp, Device device, double watchdog_seconds,
                                               MPI_Comm world = MPI_COMM_WORLD);

// Rank 0 prints a table of rank, host, local rank, device, dp_rank, tp_rank (collective).
void print_grid_table(const ProcessGrid& grid);

}  // namespace sr
