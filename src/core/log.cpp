#include "core/log.h"

#include <cstdio>

namespace sr {

namespace {
int g_rank = 0;
}

void set_log_rank(int rank) { g_rank = rank; }
int log_rank() { return g_rank; }

void info(const char* fmt, ...) {
  if (g_rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stdout, fmt, ap);
  va_end(ap);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void warn(const char* fmt, ...) {
  std::fprintf(stderr, "[rank %d] warning: ", g_rank);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace sr
