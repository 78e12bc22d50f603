// The MPI communicator and the process grid under a real mpirun (1, 2 or 4 ranks): every
// collective for every host dtype with exactly representable values, every TP layout of the
// world, and the errors a user can cause.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/host_communicator.h"
#include "comm/process_grid.h"
#include "core/error.h"
#include "core/timer.h"
#include "core/device_memory.h"

namespace sr {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::u32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::u64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };

// Small integers: exact in every dtype, and a sum over 4 ranks still fits in u8 (≤ 10·13).
template <typename T> T value(int rank, int64_t i) { return T((rank + 1) * (i % 13 + 1)); }

template <typename T> Tensor tensor_of(std::vector<T>& v) {
  return Tensor(v.data(), DTypeOf<T>::value, {int64_t(v.size())});
}

const int64_t kSizes[] = {0, 1, 7, 40001};

template <typename T> class CommTyped : public ::testing::Test {};
using HostTypes = ::testing::Types<float, int32_t, uint32_t, uint64_t, uint8_t>;
TYPED_TEST_SUITE(CommTyped, HostTypes);

TYPED_TEST(CommTyped, AllReduceSum) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  const int n = comm->size();
  for (int64_t count : kSizes) {
    std::vector<T> x(static_cast<size_t>(count));  // [count]
    for (int64_t i = 0; i < count; ++i) x[i] = value<T>(comm->rank(), i);
    comm->all_reduce(tensor_of(x), ReduceOp::sum);
    for (int64_t i = 0; i < count; ++i) {
      // Σ_r (r + 1)·k = k·n(n+1)/2
      ASSERT_EQ(x[i], T((i % 13 + 1) * n * (n + 1) / 2)) << "count " << count << " i " << i;
    }
  }
}

TYPED_TEST(CommTyped, AllReduceMax) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  const int n = comm->size();
  for (int64_t count : kSizes) {
    std::vector<T> x(static_cast<size_t>(count));  // [count]
    // The maximum moves between ranks with i, so a rank-0-only or last-rank-only answer fails.
    for (int64_t i = 0; i < count; ++i) x[i] = T((comm->rank() + i) % n * 3 + i % 5);
    comm->all_reduce(tensor_of(x), ReduceOp::max);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(x[i], T((n - 1) * 3 + i % 5)) << "i " << i;
  }
}

TYPED_TEST(CommTyped, ReduceScatter) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  const int n = comm->size(), rank = comm->rank();
  for (int64_t count : kSizes) {
    std::vector<T> in(static_cast<size_t>(n * count));  // [n·count]
    std::vector<T> out(static_cast<size_t>(count));     // [count]
    for (int64_t j = 0; j < n * count; ++j) in[j] = value<T>(rank, j);
    comm->reduce_scatter(tensor_of(out), tensor_of(in));
    for (int64_t i = 0; i < count; ++i) {
      int64_t j = rank * count + i;
      ASSERT_EQ(out[i], T((j % 13 + 1) * n * (n + 1) / 2)) << "count " << count << " i " << i;
    }
    if (count == 0) continue;
    // In place: the output is this rank's slice of the input.
    for (int64_t j = 0; j < n * count; ++j) in[j] = value<T>(rank, j);
    Tensor whole = tensor_of(in);
    comm->reduce_scatter(whole.rows(rank * count, count), whole);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(in[rank * count + i], out[i]) << "in place";
  }
}

TYPED_TEST(CommTyped, AllGather) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  const int n = comm->size(), rank = comm->rank();
  for (int64_t count : kSizes) {
    std::vector<T> in(static_cast<size_t>(count));       // [count]
    std::vector<T> out(static_cast<size_t>(n * count));  // [n·count]
    for (int64_t i = 0; i < count; ++i) in[i] = value<T>(rank, i);
    comm->all_gather(tensor_of(out), tensor_of(in));
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < count; ++i) ASSERT_EQ(out[r * count + i], value<T>(r, i));
    if (count == 0) continue;
    // In place: the input is this rank's slice of the output.
    std::vector<T> both(size_t(n * count), T(0));  // [n·count]
    for (int64_t i = 0; i < count; ++i) both[rank * count + i] = value<T>(rank, i);
    Tensor whole = tensor_of(both);
    comm->all_gather(whole, whole.rows(rank * count, count));
    EXPECT_EQ(both, out) << "in place, count " << count;
  }
}

TYPED_TEST(CommTyped, BroadcastFromEveryRoot) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  for (int root = 0; root < comm->size(); ++root) {
    for (int64_t count : kSizes) {
      std::vector<T> x(static_cast<size_t>(count));  // [count]
      for (int64_t i = 0; i < count; ++i) x[i] = value<T>(comm->rank(), i);
      comm->broadcast(tensor_of(x), root);
      for (int64_t i = 0; i < count; ++i) ASSERT_EQ(x[i], value<T>(root, i)) << "root " << root;
    }
  }
}

// bf16 only moves over MPI (no arithmetic): its bit patterns arrive unchanged.
TEST(Comm, Bf16MovesBitPatterns) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  const int n = comm->size(), rank = comm->rank();
  const int64_t count = 9;
  std::vector<uint16_t> in(count);                           // [count] bf16 bits
  std::vector<uint16_t> out(static_cast<size_t>(n * count));  // [n·count] bf16 bits
  for (int64_t i = 0; i < count; ++i) in[i] = uint16_t(0x3f80 + 17 * rank + i);
  comm->all_gather(Tensor(out.data(), DType::bf16, {n * count}),
                   Tensor(in.data(), DType::bf16, {count}));
  for (int r = 0; r < n; ++r)
    for (int64_t i = 0; i < count; ++i)
      ASSERT_EQ(out[r * count + i], uint16_t(0x3f80 + 17 * r + i));
  comm->broadcast(Tensor(in.data(), DType::bf16, {count}), n - 1);
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(in[i], uint16_t(0x3f80 + 17 * (n - 1) + i));
}

TEST(Comm, RankAndSizeAreThoseOfTheGivenCommunicator) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  EXPECT_EQ(comm->rank(), world_rank());
  EXPECT_EQ(comm->size(), world_size());
  auto self = make_mpi_communicator(MPI_COMM_SELF, 30);
  EXPECT_EQ(self->rank(), 0);
  EXPECT_EQ(self->size(), 1);
  // One rank: the collectives are copies or nothing.
  std::vector<float> in{1, 2, 3}, out(3);  // [3], [3]
  self->all_gather(Tensor(out.data(), DType::f32, {3}), Tensor(in.data(), DType::f32, {3}));
  EXPECT_EQ(out, in);
  std::fill(out.begin(), out.end(), 0.f);
  self->reduce_scatter(Tensor(out.data(), DType::f32, {3}), Tensor(in.data(), DType::f32, {3}));
  EXPECT_EQ(out, in);
  self->all_reduce(Tensor(in.data(), DType::f32, {3}), ReduceOp::sum);
  EXPECT_EQ(in, (std::vector<float>{1, 2, 3}));
}

// The barrier holds every rank until the last one arrives.
TEST(Comm, BarrierWaitsForTheSlowestRank) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 30);
  if (comm->size() == 1) GTEST_SKIP() << "needs 2 ranks";
  comm->barrier();
  Timer t;
  if (comm->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm->barrier();
  EXPECT_GE(t.seconds(), 0.25);
}

// A peer that is late but within the deadline is not mistaken for a hang, with or without
// the watchdog.
TEST(Comm, LatePeerWithinTheDeadline) {
  for (double watchdog : {5.0, 0.0}) {
    auto comm = make_mpi_communicator(MPI_COMM_WORLD, watchdog);
    std::vector<int32_t> x{comm->rank() + 1};  // [1]
    if (comm->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    comm->all_reduce(Tensor(x.data(), DType::i32, {1}), ReduceOp::sum);
    EXPECT_EQ(x[0], comm->size() * (comm->size() + 1) / 2) << "watchdog " << watchdog;
  }
}

// Host numbers (the trainer's counts, sums and flags; checkpoint agreement) under the watchdog.
TEST(HostComm, ReducesGathersAndBroadcastsHostNumbers) {
  HostCommunicator comm(MPI_COMM_WORLD, 30);
  const int n = comm.size(), r = comm.rank();
  double d[2] = {0.5 * (r + 1), double(r)};
  comm.all_reduce(d, 2, ReduceOp::sum, "test doubles");
  EXPECT_DOUBLE_EQ(d[0], 0.25 * n * (n + 1));
  EXPECT_DOUBLE_EQ(d[1], 0.5 * n * (n - 1));
  int64_t big[1] = {(int64_t(1) << 40) + r};
  comm.all_reduce(big, 1, ReduceOp::max, "test int64");
  EXPECT_EQ(big[0], (int64_t(1) << 40) + n - 1);
  std::vector<float> f(5, 1.0f);  // [5]
  comm.all_reduce(f.data(), 5, ReduceOp::sum, "test floats");
  for (float x : f) EXPECT_EQ(x, float(n));
  EXPECT_TRUE(comm.all_true(true, "test all true"));
  EXPECT_FALSE(comm.all_true(r != n - 1, "test one false"));
  struct Row {
    int rank;
    char tag[12];
  } mine{r, "rank"};
  std::vector<Row> rows(static_cast<size_t>(n));  // [n]
  comm.all_gather_bytes(&mine, rows.data(), sizeof mine, "test rows");
  for (int i = 0; i < n; ++i) EXPECT_EQ(rows[size_t(i)].rank, i);
  char text[16] = {};
  if (r == n - 1) std::snprintf(text, sizeof text, "from %d", r);
  comm.broadcast_bytes(text, sizeof text, n - 1, "test text");
  EXPECT_EQ(std::string(text), "from " + std::to_string(n - 1));
  comm.barrier("test barrier");
}

// Run by tests/cli/comm_watchdog.sh under mpirun -np 2: rank 1 never joins the all_reduce, and
// rank 0's watchdog must end the job with a message naming the collective and rank 1.
TEST(CommWatchdog, MissingRankAbortsTheJob) {
  if (!std::getenv("SR_TEST_HANG")) GTEST_SKIP() << "run by tests/cli/comm_watchdog.sh";
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, 2);
  ASSERT_GE(comm->size(), 2);
  std::vector<float> x(1024, 1.f);  // [1024]
  if (comm->rank() != 1) comm->all_reduce(Tensor(x.data(), DType::f32, {1024}), ReduceOp::sum);
  // Rank 1 is "stuck"; the watchdog on the other ranks must end the job long before this.
  std::this_thread::sleep_for(std::chrono::seconds(120));
  FAIL() << "the watchdog did not abort the job";
}

// ---- process grid ----

TEST(ProcessGrid, EveryTpDividingTheWorld) {
  const int world = world_size(), rank = world_rank();
  for (int tp = 1; tp <= world; ++tp) {
    if (world % tp != 0) continue;
    SCOPED_TRACE("tp = " + std::to_string(tp));
    auto g = make_process_grid(tp, Device::cpu, 30);
    EXPECT_EQ(g->world_rank, rank);
    EXPECT_EQ(g->world_size, world);
    EXPECT_EQ(g->tp, tp);
    EXPECT_EQ(g->dp, world / tp);
    EXPECT_EQ(g->tp_rank, rank % tp);
    EXPECT_EQ(g->dp_rank, rank / tp);
    EXPECT_EQ(g->dp_rank * tp + g->tp_rank, rank);
    EXPECT_EQ(g->device_index, -1);
    EXPECT_FALSE(g->host.empty());
    // mpirun starts every rank of this test on one host.
    EXPECT_EQ(g->local_rank, rank);
    EXPECT_EQ(g->local_size, world);
    EXPECT_EQ(error_context().rank, rank);
    EXPECT_EQ(error_context().host, g->host);

    int n = 0;
    MPI_Comm_size(g->tp_comm, &n);
    EXPECT_EQ(n, tp);
    MPI_Comm_size(g->dp_comm, &n);
    EXPECT_EQ(n, world / tp);
    ASSERT_EQ(g->tp_group->size(), tp);
    ASSERT_EQ(g->dp_group->size(), world / tp);
    ASSERT_EQ(g->world_comm->size(), world);
    EXPECT_EQ(g->tp_group->rank(), g->tp_rank);
    EXPECT_EQ(g->dp_group->rank(), g->dp_rank);

    // The members of each group, in group-rank order.
    int32_t me = rank;
    std::vector<int32_t> tp_members(static_cast<size_t>(tp));          // [tp]
    std::vector<int32_t> dp_members(static_cast<size_t>(world / tp));  // [dp]
    g->tp_group->all_gather(Tensor(tp_members.data(), DType::i32, {tp}),
                            Tensor(&me, DType::i32, {1}));
    g->dp_group->all_gather(Tensor(dp_members.data(), DType::i32, {world / tp}),
                            Tensor(&me, DType::i32, {1}));
    for (int j = 0; j < tp; ++j) EXPECT_EQ(tp_members[j], g->dp_rank * tp + j);
    for (int j = 0; j < world / tp; ++j) EXPECT_EQ(dp_members[j], j * tp + g->tp_rank);

    // A reduction stays inside its group.
    int32_t sum = rank;
    g->tp_group->all_reduce(Tensor(&sum, DType::i32, {1}), ReduceOp::sum);
    EXPECT_EQ(sum, g->dp_rank * tp * tp + tp * (tp - 1) / 2);
    sum = rank;
    g->dp_group->all_reduce(Tensor(&sum, DType::i32, {1}), ReduceOp::sum);
    const int dp = world / tp;
    EXPECT_EQ(sum, tp * dp * (dp - 1) / 2 + dp * g->tp_rank);
    sum = 1;
    g->world_comm->all_reduce(Tensor(&sum, DType::i32, {1}), ReduceOp::sum);
    EXPECT_EQ(sum, world);
  }
}

// A grid over MPI_COMM_SELF: every rank alone, whatever the job's size.
TEST(ProcessGrid, OverASubCommunicator) {
  auto g = make_process_grid(1, Device::cpu, 30, MPI_COMM_SELF);
  EXPECT_EQ(g->world_rank, 0);
  EXPECT_EQ(g->world_size, 1);
  EXPECT_EQ(g->dp, 1);
  EXPECT_EQ(g->local_size, 1);
  EXPECT_EQ(error_context().rank, world_rank());  // messages still name the job's rank
  int32_t x = world_rank() + 5;
  g->world_comm->all_reduce(Tensor(&x, DType::i32, {1}), ReduceOp::sum);
  EXPECT_EQ(x, world_rank() + 5);
  EXPECT_THROW(make_process_grid(2, Device::cpu, 30, MPI_COMM_SELF), UserError);
}

TEST(ProcessGrid, TpNotDividingTheWorldIsAUserError) {
  const int world = world_size();
  for (int tp : {world + 1, 0, -2}) {
    try {
      make_process_grid(tp, Device::cpu, 30);
      ADD_FAILURE() << "tp = " << tp << " was accepted on " << world << " ranks";
    } catch (const UserError& e) {
      std::string want = "parallel.tp = " + std::to_string(tp) + " does not divide the " +
                         std::to_string(world) + " ranks";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  if (world == 4) EXPECT_THROW(make_process_grid(3, Device::cpu, 30), UserError);
}

// More ranks on a host than visible GPUs (always the case without a GPU): every rank throws
// the same UserError naming the first rank without a GPU.
TEST(ProcessGrid, TooFewGpusIsAUserError) {
  const int visible = cuda_device_count();
  if (visible >= world_size()) GTEST_SKIP() << visible << " GPUs are enough for these ranks";
  try {
    make_process_grid(1, Device::cuda, 30);
    ADD_FAILURE() << "device = cuda accepted with " << visible << " GPUs";
  } catch (const UserError& e) {
    std::string want = "rank " + std::to_string(visible) + " on host ";
    std::string msg = e.what();
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
    EXPECT_NE(msg.find("needs GPU " + std::to_string(visible) + " but only " +
                       std::to_string(visible) + " are visible"),
              std::string::npos)
        << msg;
  }
}

TEST(ProcessGrid, TableListsEveryRank) {
  const int world = world_size();
  auto g = make_process_grid(world, Device::cpu, 30);
  if (g->world_rank == 0) ::testing::internal::CaptureStdout();
  print_grid_table(*g);
  if (g->world_rank != 0) return;
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("# process grid: " + std::to_string(world) + " ranks = dp 1 x tp " +
                     std::to_string(world)),
            std::string::npos)
      << out;
  int rows = 0;
  for (size_t p = out.find("\n# "); p != std::string::npos; p = out.find("\n# ", p + 1)) ++rows;
  EXPECT_EQ(rows, world + 1) << out;  // the column header and one row per rank
  EXPECT_NE(out.find(g->host), std::string::npos) << out;
  EXPECT_NE(out.find(" cpu"), std::string::npos) << out;
}

}  // namespace
}  // namespace sr
