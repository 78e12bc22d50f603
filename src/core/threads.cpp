#include "core/threads.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace sr {

int threads_per_rank(int configured, int local_ranks) {
  if (configured > 0) return configured;
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  // A rank bound by its launcher to some of the node's CPUs owns them; an unbound rank shares
  // all of them with the other ranks of its node.
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online > 0 && cpus < online) return std::max(1, cpus);
  return std::max(1, cpus / std::max(1, local_ranks));
}

}  // namespace sr
