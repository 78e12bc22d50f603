// `smoothread bench comm`: bandwidth of the collectives over every rank of the job.
#pragma once
#include <string>
#include <vector>

namespace sr {

// args: the words after `bench comm`. MPI must be initialised; a bad option throws UserError.
// Prints nccl-tests style columns on rank 0 and returns the exit code.
int bench_comm(const std::vector<std::string>& args);

}  // namespace sr
