// How many CPU threads a rank uses.
#pragma once

namespace sr {

// The configured number when > 0; else OMP_NUM_THREADS when the launcher set it (mpirun
// wrappers, Slurm's --cpus-per-task); else the CPUs this process may run on (its affinity
// mask, which respects cgroups and binding) divided by the ranks on this node; at least 1.
int threads_per_rank(int configured, int local_ranks);

}  // namespace sr
