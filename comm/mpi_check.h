// The MPI member of the error-check family (see core/error.h): a failing MPI call names the
// call, file:line, rank, host and device, with MPI's own error text, and aborts all ranks.
// It only sees errors on communicators whose handler is MPI_ERRORS_RETURN (ours are);
// elsewhere MPI's default handler aborts first.
#pragma once
#include <mpi.h>

#include <string>

#include "core/error.h"

namespace sr {
inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, size_t(len));
}
}  // namespace sr

#define SR_CHECK_MPI(call)                                                                \
  do {                                                                                    \
    int _m = (call);                                                                      \
    if (_m != MPI_SUCCESS)                                                                \
      ::sr::fatal(#call, __FILE__, __LINE__, "MPI error: " + ::sr::mpi_error_text(_m),    \
                  "check that every rank calls the same collectives with the same counts"); \
  } while (0)
