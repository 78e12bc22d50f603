// `smoothread bench comm [--device cpu|cuda] [--min-bytes N] [--max-bytes N] [--iters N]`:
// times all_reduce, all_gather and reduce_scatter of f32 buffers over every rank, doubling the
// size from min to max, and prints nccl-tests style columns. algbw = bytes / time; busbw scales
// it by the traffic each rank's link carries in a ring: 2(n-1)/n for all_reduce, (n-1)/n for
// all_gather and reduce_scatter, so busbw is comparable across rank counts and to nccl-tests.
#include "cli/bench_comm.h"
#include "cli/options.h"

#include <mpi.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "comm/mpi_check.h"
#include "comm/process_grid.h"
#include "core/error.h"
#include "core/timer.h"
#include "core/device_memory.h"

namespace po = boost::program_options;

namespace sr {
namespace {

// "4096", "64K", "32M", "1G" (powers of 1024).
size_t parse_bytes(const std::string& key, const std::string& text) {
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = pos ? text.substr(pos) : "?";
  size_t scale = unit.empty() ? 1
                 : unit == "K" || unit == "k" ? size_t(1) << 10
                 : unit == "M" || unit == "m" ? size_t(1) << 20
                 : unit == "G" || unit == "g" ? size_t(1) << 30
                                              : 0;
  if (!pos || !scale)
    user_error("bench comm: --" + key + " = '" + text +
               "' is not a byte count (expected e.g. 4096, 64K, 32M, 1G)");
  return size_t(v) * scale;
}

enum class Collective { all_reduce, all_gather, reduce_scatter };

struct Options {
  Device device = Device::cpu;
  size_t min_bytes = 8, max_bytes = size_t(32) << 20;
  int iters = 20, warmup = 5;
  double watchdog = 60;
};

// Seconds per call of one collective moving `count` f32 in total (the larger buffer), the
// slowest rank's time.
double time_collective(Communicator& comm, Collective c, Tensor a, Tensor b, int64_t count,
                       const Options& o) {
  const int n = comm.size();
  Tensor whole = a.rows(0, count);  // [count]
  Tensor part = b.rows(0, count / n);  // [count / n]
  auto once = [&] {
    switch (c) {
      case Collective::all_reduce: comm.all_reduce(whole, ReduceOp::sum); break;
      case Collective::all_gather: comm.all_gather(whole, part); break;
      case Collective::reduce_scatter: comm.reduce_scatter(part, whole); break;
    }
  };
  for (int i = 0; i < o.warmup; ++i) once();
  comm.barrier();
  Timer t;
  for (int i = 0; i < o.iters; ++i) once();
  double mine = t.seconds() / o.iters, slowest = 0;
  SR_CHECK_MPI(MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  return slowest;
}

void run(const Options& o) {
  auto grid = make_process_grid(1, o.device, o.watchdog);
  print_grid_table(*grid);
  Communicator& comm = *grid->world_comm;
  const int n = comm.size();
  const bool root = grid->world_rank == 0;
  // Two buffers of max_bytes, zeroed: sums of zeros stay finite at any iteration count.
  void* a = device_alloc(o.device, o.max_bytes);
  void* b = device_alloc(o.device, o.max_bytes);
  device_memset_zero(o.device, a, o.max_bytes);
  device_memset_zero(o.device, b, o.max_bytes);
  const int64_t max_count = int64_t(o.max_bytes / 4);
  Tensor ta(a, DType::f32, {max_count}, o.device), tb(b, DType::f32, {max_count}, o.device);

  const struct {
    Collective c;
    const char* name;
    double factor;
  } cases[] = {{Collective::all_reduce, "all_reduce", 2.0 * (n - 1) / n},
               {Collective::all_gather, "all_gather", double(n - 1) / n},
               {Collective::reduce_scatter, "reduce_scatter", double(n - 1) / n}};
  for (const auto& k : cases) {
    if (root) {
      std::printf("#\n# %s: %d ranks, device %s, f32, %d iterations after %d warm-up\n", k.name,
                  n, device_name(o.device), o.iters, o.warmup);
      std::printf("# %12s %12s %6s %12s %14s %14s\n", "size (B)", "count", "type", "time (us)",
                  "algbw (GB/s)", "busbw (GB/s)");
    }
    double busbw_sum = 0;
    int rows = 0;
    for (size_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 2) {
      // Whole elements, and a multiple of n so that every rank's slice is equal.
      int64_t count = int64_t(bytes / 4) / n * n;
      if (count == 0) continue;
      double s = time_collective(comm, k.c, ta, tb, count, o);
      double size = double(count) * 4, algbw = size / s / 1e9, busbw = algbw * k.factor;
      busbw_sum += busbw;
      ++rows;
      if (root)
        std::printf("  %12.0f %12lld %6s %12.2f %14.2f %14.2f\n", size, (long long)count, "f32",
                    s * 1e6, algbw, busbw);
    }
    if (root && rows)
      std::printf("# %s average bus bandwidth: %.3f GB/s\n", k.name, busbw_sum / rows);
    if (root) std::fflush(stdout);
  }
  device_free(o.device, a);
  device_free(o.device, b);
}

}  // namespace

int bench_comm(const std::vector<std::string>& args) {
  std::string device, min_bytes, max_bytes;
  Options o;
  po::options_description desc("smoothread bench comm: collective bandwidth over all ranks");
  desc.add_options()("help", "print this help")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu (MPI) or cuda (NCCL)")(
      "min-bytes", po::value<std::string>(&min_bytes)->default_value("8"),
      "smallest buffer (bytes; K, M, G suffixes)")(
      "max-bytes", po::value<std::string>(&max_bytes)->default_value("32M"),
      "largest buffer; sizes double from min to max")(
      "iters", po::value<int>(&o.iters)->default_value(20), "timed calls per size")(
      "warmup", po::value<int>(&o.warmup)->default_value(5), "untimed calls per size first")(
      "watchdog", po::value<double>(&o.watchdog)->default_value(60),
      "seconds before a stuck collective aborts the job (0: never)");
  po::variables_map vm;
  if (!parse_options("bench comm", desc, args, vm)) return kExitOk;
  if (device == "cpu")
    o.device = Device::cpu;
  else if (device == "cuda")
    o.device = Device::cuda;
  else
    user_error("bench comm: --device = '" + device + "' is not a device (expected cpu or cuda)");
  o.min_bytes = parse_bytes("min-bytes", min_bytes);
  o.max_bytes = parse_bytes("max-bytes", max_bytes);
  if (o.min_bytes < 1 || o.min_bytes > o.max_bytes)
    user_error("bench comm: --min-bytes = " + min_bytes + " must be at least 1 and at most "
               "--max-bytes = " + max_bytes);
  if (o.iters < 1) user_error("bench comm: --iters = " + std::to_string(o.iters) + " must be >= 1");
  if (o.warmup < 0)
    user_error("bench comm: --warmup = " + std::to_string(o.warmup) + " must be >= 0");
  run(o);
  return kExitOk;
}

}  // namespace sr
