// The collective watchdog shared by the MPI and NCCL communicators: poll a nonblocking
// collective until it finishes or its deadline passes; on timeout, name the collective and
// abort the whole job (a collective that never finishes otherwise hangs every rank silently).
#pragma once
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/dtype.h"
#include "core/error.h"

namespace sr {

// "all_reduce(1024 f32)", or "barrier" for a collective without data.
inline std::string collective_label(const char* name, int64_t count, DType dtype) {
  if (count < 0) return name;
  return std::string(name) + "(" + std::to_string(count) + " " + dtype_name(dtype) + ")";
}

// Calls done() until it returns true or `seconds` pass (seconds <= 0: no deadline).
// Returns false on timeout.
//
// Open MPI progresses a nonblocking collective only inside MPI calls: while the data moves,
// every pause between polls stalls it (sleeping up to 1 ms between polls made a 64 MiB f32
// all_reduce of 2 ranks over shared memory take 1.56 s instead of 0.09 s). So done() is polled without sleeping for the first kBusyPollSeconds, yielding
// the core to other processes after a short spin (ranks often outnumber cores). A wait longer
// than that is a slow or missing peer, not data in flight: then it sleeps between polls with
// growing pauses (up to 1 ms), so a waiting rank does not hold a core.
constexpr double kBusyPollSeconds = 0.25;

template <typename Done>
bool poll_until(Done done, double seconds) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto pause = std::chrono::microseconds(20);
  for (int64_t i = 0;; ++i) {
    if (done()) return true;
    if (i < 1000) continue;
    const double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (seconds > 0 && waited > seconds) return false;
    if (waited < kBusyPollSeconds) {
      std::this_thread::yield();
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

// The one line a rank prints when its collective times out.
inline void print_watchdog_message(const std::string& what, int ranks, double seconds) {
  const ErrorContext& ctx = error_context();
  char host[256] = "?";
  if (ctx.host.empty()) gethostname(host, sizeof host);
  std::fprintf(stderr,
               "smoothread: collective %s on %d ranks did not finish in %g s: a rank has died or "
               "is stuck (rank %d, host %s, device %d)\n",
               what.c_str(), ranks, seconds, ctx.rank, ctx.host.empty() ? host : ctx.host.c_str(),
               ctx.device);
  std::fflush(stderr);
}

// MPI_Abort after the message: mpirun / Slurm then stop every other rank.
[[noreturn]] inline void abort_job() {
  MPI_Abort(MPI_COMM_WORLD, kExitInternal);
  std::_Exit(kExitInternal);
}

}  // namespace sr
