#include "core/error.h"

#include <mpi.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sr {

ErrorContext& error_context() {
  static ErrorContext ctx;
  return ctx;
}

std::string errno_text() { return std::strerror(errno); }

void fatal(const char* call, const char* file, int line, const std::string& msg, const char* hint) {
  const ErrorContext& ctx = error_context();
  char host[256] = "?";
  if (ctx.host.empty()) gethostname(host, sizeof host);
  std::fprintf(stderr, "smoothread: fatal: %s\n  at %s:%d in `%s` (rank %d, host %s, device %d)\n",
               msg.c_str(), file, line, call, ctx.rank, ctx.host.empty() ? host : ctx.host.c_str(),
               ctx.device);
  if (hint) std::fprintf(stderr, "  hint: %s\n", hint);
  std::fflush(stderr);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, kExitInternal);
  std::_Exit(kExitInternal);
}

void user_error(const std::string& msg) { throw UserError(msg); }

}  // namespace sr
