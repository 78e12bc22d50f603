// ProcessGrid: rank layout (world = DP × TP), local rank and GPU choice, the group
// communicators, and the start-up table of who runs where.
#include "comm/process_grid.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <vector>

#include "comm/mpi_check.h"
#include "core/error.h"
#include "core/device_memory.h"

namespace sr {

ProcessGrid::~ProcessGrid() {
  // The communicators go first: they hold duplicates of the MPI communicators below.
  world_comm.reset();
  dp_group.reset();
  tp_group.reset();
  host_world.reset();
  host_dp.reset();
  host_tp.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (dp_comm != MPI_COMM_NULL) MPI_Comm_free(&dp_comm);
  if (tp_comm != MPI_COMM_NULL) MPI_Comm_free(&tp_comm);
}

namespace {

std::string processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  SR_CHECK_MPI(MPI_Get_processor_name(name, &len));
  return std::string(name, size_t(len));
}

// Every rank learns whether any rank lacks its GPU, so all of them throw the same UserError
// (one rank throwing alone would leave the others waiting in the next collective).
void check_gpus_visible(const ProcessGrid& g, int visible) {
  int mine[2] = {g.local_rank, visible};  // [2] per rank
  std::vector<int> all(2 * size_t(g.world_size));
  g.host_world->all_gather_bytes(mine, all.data(), sizeof mine, "GPUs visible per rank");
  int bad = -1;
  for (int r = 0; r < g.world_size && bad < 0; ++r)
    if (all[2 * r] >= all[2 * r + 1]) bad = r;
  if (bad < 0) return;
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  std::strncpy(host, g.host.c_str(), sizeof host - 1);
  g.host_world->broadcast_bytes(host, sizeof host, bad, "host name of the rank without a GPU");
  user_error("device = cuda: rank " + std::to_string(bad) + " on host " + host + " needs GPU " +
             std::to_string(all[2 * bad]) + " but only " + std::to_string(all[2 * bad + 1]) +
             " are visible (start at most as many ranks per node as GPUs, or set device = cpu)");
}

}  // namespace

std::unique_ptr<ProcessGrid> make_process_grid(int tp, Device device, double watchdog_seconds,
                                               MPI_Comm world) {
  auto g = std::make_unique<ProcessGrid>();
  g->world = world;
  SR_CHECK_MPI(MPI_Comm_rank(g->world, &g->world_rank));
  SR_CHECK_MPI(MPI_Comm_size(g->world, &g->world_size));
  if (tp < 1 || g->world_size % tp != 0)
    user_error("parallel.tp = " + std::to_string(tp) + " does not divide the " +
               std::to_string(g->world_size) + " ranks (the world size must be a multiple of tp)");
  g->tp = tp;
  g->dp = g->world_size / tp;
  // rank = dp_rank · tp + tp_rank: a TP group is tp consecutive ranks, which mpirun and
  // Slurm place on the same node.
  g->tp_rank = g->world_rank % tp;
  g->dp_rank = g->world_rank / tp;
  g->host = processor_name();

  MPI_Comm local = MPI_COMM_NULL;
  SR_CHECK_MPI(
      MPI_Comm_split_type(g->world, MPI_COMM_TYPE_SHARED, g->world_rank, MPI_INFO_NULL, &local));
  SR_CHECK_MPI(MPI_Comm_rank(local, &g->local_rank));
  SR_CHECK_MPI(MPI_Comm_size(local, &g->local_size));
  SR_CHECK_MPI(MPI_Comm_free(&local));

  // Messages name the rank in the job, also for a grid over a sub-communicator.
  ErrorContext& ctx = error_context();
  SR_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &ctx.rank));
  ctx.host = g->host;

  g->host_world = std::make_unique<HostCommunicator>(g->world, watchdog_seconds);
  if (device == Device::cuda) {
    check_gpus_visible(*g, cuda_device_count());
    g->device_index = g->local_rank;
    cuda_set_device(g->device_index);
    ctx.device = g->device_index;
  }

  SR_CHECK_MPI(MPI_Comm_split(g->world, g->tp_rank, g->dp_rank, &g->dp_comm));
  SR_CHECK_MPI(MPI_Comm_split(g->world, g->dp_rank, g->tp_rank, &g->tp_comm));

  auto make = device == Device::cuda ? make_nccl_communicator : make_mpi_communicator;
  g->world_comm = make(g->world, watchdog_seconds);
  g->dp_group = make(g->dp_comm, watchdog_seconds);
  g->tp_group = make(g->tp_comm, watchdog_seconds);
  g->host_dp = std::make_unique<HostCommunicator>(g->dp_comm, watchdog_seconds);
  g->host_tp = std::make_unique<HostCommunicator>(g->tp_comm, watchdog_seconds);
  return g;
}

namespace {

// One row of the table, fixed size so that MPI_Gather moves it as bytes.
struct GridRow {
  int rank, local_rank, device_index, dp_rank, tp_rank, pid;
  char host[MPI_MAX_PROCESSOR_NAME];
  char device[96];
};

// "cuda:0 NVIDIA H100 80GB HBM3" from cuda_device_summary's line for this device.
std::string device_label(int index) {
  if (index < 0) return "cpu";
  std::istringstream lines(cuda_device_summary());
  std::string line;
  for (int i = 0; std::getline(lines, line); ++i) {
    if (i != index) continue;
    size_t colon = line.find(": "), comma = line.find(',');
    if (colon != std::string::npos)
      return "cuda:" + std::to_string(index) + " " + line.substr(colon + 2, comma - colon - 2);
  }
  return "cuda:" + std::to_string(index);
}

}  // namespace

void print_grid_table(const ProcessGrid& grid) {
  GridRow mine{};
  mine.rank = grid.world_rank;
  mine.local_rank = grid.local_rank;
  mine.device_index = grid.device_index;
  mine.dp_rank = grid.dp_rank;
  mine.tp_rank = grid.tp_rank;
  mine.pid = int(getpid());
  std::strncpy(mine.host, grid.host.c_str(), sizeof mine.host - 1);
  std::strncpy(mine.device, device_label(grid.device_index).c_str(), sizeof mine.device - 1);
  std::vector<GridRow> rows(size_t(grid.world_size));  // [world]
  grid.host_world->all_gather_bytes(&mine, rows.data(), sizeof mine, "process grid table");
  if (grid.world_rank != 0) return;
  std::printf("# process grid: %d ranks = dp %d x tp %d\n", grid.world_size, grid.dp, grid.tp);
  std::printf("# %5s %8s %-20s %5s %3s %3s  %s\n", "rank", "pid", "host", "local", "dp", "tp",
              "device");
  for (const GridRow& r : rows)
    std::printf("# %5d %8d %-20s %5d %3d %3d  %s\n", r.rank, r.pid, r.host, r.local_rank,
                r.dp_rank, r.tp_rank, r.device);
  std::fflush(stdout);
}

}  // namespace sr
