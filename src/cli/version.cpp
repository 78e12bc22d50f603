// `smoothread --version`: what was built, with which libraries.
#include <hdf5.h>
#include <mpi.h>

#include <string>

#include "cli/commands.h"
#include "core/version.h"
#include "core/device_memory.h"

namespace sr {

std::string version_text() {
  std::string s = std::string("smoothread ") + smoothread_version() + " (git " + smoothread_git_sha() + ")\n";
  s += std::string("compiler: ") + smoothread_compiler() + "\n";
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string mpi_line(mpi, size_t(len));
  mpi_line = mpi_line.substr(0, mpi_line.find_first_of(",\n"));
  s += "MPI: " + mpi_line + "\n";
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  s += "HDF5: " + std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel) + "\n";
  s += "CUDA: " + cuda_library_versions() + "\n";
  if (cuda_device_count() > 0) s += "CUDA devices:\n" + cuda_device_summary() + "\n";
  return s;
}

}  // namespace sr
