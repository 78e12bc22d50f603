// Rank-aware logging: info() prints on rank 0 only, warn() on every rank with its rank number.
#pragma once
#include <cstdarg>

namespace sr {

void set_log_rank(int rank);
int log_rank();
// printf-style line on rank 0 (stdout).
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// printf-style line on any rank (stderr), prefixed with the rank.
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace sr
