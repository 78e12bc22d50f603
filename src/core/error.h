// One family of checks for every failure smoothread can meet.
//
// - UserError: bad input from the user (config, data, checkpoint). One line naming the
//   file/key/value and what was expected; the command exits with code 2.
// - SR_ASSERT / SR_CHECK_*: internal or system failures. The message names the call,
//   file:line, rank, host and device, adds a hint, and aborts *all* ranks (MPI_Abort).
#pragma once
#include <exception>
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

// Temporary files that must not outlive a failure (a dataset's `X.h5.tmp` before its rename).
// Registered paths are removed by fatal(), and by SIGINT/SIGTERM/SIGHUP once
// install_temporary_cleanup() has run (then the signal ends the process as it would have);
// an exception unwinds through the owner, whose destructor removes the file and unregisters it.
void register_temporary(const std::string& path);
void unregister_temporary(const std::string& path);
void remove_temporaries() noexcept;  // async-signal-safe
void install_temporary_cleanup();

// What the top of the program (command dispatch) says about an exception that ended a command:
// one line and the exit code. kExitUserError for what the user can act on: a UserError, a
// file-system or system call the OS refused (the message names the path and the reason), an
// allocation too large for this machine; kExitInternal for anything else (a bug: the message
// says so and names the exception).
struct ExitReport {
  int code = kExitInternal;
  std::string message;
};
ExitReport explain_exception(std::exception_ptr e);

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
