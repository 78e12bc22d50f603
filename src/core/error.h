// One family of checks for every failure smoothread can meet.
//
// - UserError: bad input from the user (config, data, checkpoint). One line naming the
//   file/key/value and what was expected; the command exits with code 2.
// - SR_ASSERT / SR_CHECK_*: internal or system failures. The message names the call,
//   file:line, rank, host and device, adds a hint, and aborts *all* ranks (MPI_Abort).
#pragma once
#include <stdexcept>
#include <string>

namespace sr {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& msg) : std::runtime_error(msg) {}
};

// Exit codes of the smoothread executable (documented in README).
constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitUserError = 2;
constexpr int kExitRequeue = 75;  // checkpointed after SIGUSR1/SIGTERM: requeue me

// Who we are, for error messages. Filled in once MPI and the device are known.
struct ErrorContext {
  int rank = -1;
  std::string host;
  int device = -1;
};
ErrorContext& error_context();

[[noreturn]] void fatal(const char* call, const char* file, int line, const std::string& msg,
                        const char* hint = nullptr);

// Throws UserError with the message built from its arguments.
[[noreturn]] void user_error(const std::string& msg);

}  // namespace sr

#define SR_ASSERT(cond, msg)                                             \
  do {                                                                   \
    if (!(cond)) ::sr::fatal(#cond, __FILE__, __LINE__, (msg), nullptr); \
  } while (0)

// libc / POSIX calls that return -1 and set errno.
#define SR_CHECK_SYS(call, what)                                                            \
  do {                                                                                      \
    if ((call) == -1)                                                                       \
      ::sr::fatal(#call, __FILE__, __LINE__, std::string(what) + ": " + ::sr::errno_text(), \
                  "check the path, its permissions and free disk space");                   \
  } while (0)

namespace sr {
std::string errno_text();
}
