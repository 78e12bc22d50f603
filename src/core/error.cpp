#include "core/error.h"

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <mutex>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <system_error>

namespace sr {

ErrorContext& error_context() {
  static ErrorContext ctx;
  return ctx;
}

std::string errno_text() { return std::strerror(errno); }

namespace {
// Fixed storage, so that a signal handler can walk it without locks or allocation.
constexpr int kMaxTemporaries = 16;
constexpr size_t kMaxTemporaryPath = 4096;
char g_temporaries[kMaxTemporaries][kMaxTemporaryPath];
volatile std::sig_atomic_t g_temporary_used[kMaxTemporaries];
std::mutex g_temporaries_mutex;

extern "C" void remove_temporaries_and_reraise(int sig) {
  remove_temporaries();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

void register_temporary(const std::string& path) {
  if (path.empty() || path.size() >= kMaxTemporaryPath) return;  // too long to create anyway
  std::lock_guard<std::mutex> lock(g_temporaries_mutex);
  for (int i = 0; i < kMaxTemporaries; ++i) {
    if (g_temporary_used[i]) continue;
    std::memcpy(g_temporaries[i], path.c_str(), path.size() + 1);
    g_temporary_used[i] = 1;
    return;
  }
}

void unregister_temporary(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_temporaries_mutex);
  for (int i = 0; i < kMaxTemporaries; ++i)
    if (g_temporary_used[i] && path == g_temporaries[i]) g_temporary_used[i] = 0;
}

void remove_temporaries() noexcept {
  for (int i = 0; i < kMaxTemporaries; ++i)
    if (g_temporary_used[i]) ::unlink(g_temporaries[i]);
}

void install_temporary_cleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction sa {};
    sa.sa_handler = remove_temporaries_and_reraise;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

void fatal(const char* call, const char* file, int line, const std::string& msg, const char* hint) {
  const ErrorContext& ctx = error_context();
  char host[256] = "?";
  if (ctx.host.empty()) gethostname(host, sizeof host);
  std::fprintf(stderr, "smoothread: fatal: %s\n  at %s:%d in `%s` (rank %d, host %s, device %d)\n",
               msg.c_str(), file, line, call, ctx.rank, ctx.host.empty() ? host : ctx.host.c_str(),
               ctx.device);
  if (hint) std::fprintf(stderr, "  hint: %s\n", hint);
  std::fflush(stderr);
  remove_temporaries();
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, kExitInternal);
  std::_Exit(kExitInternal);
}

void user_error(const std::string& msg) { throw UserError(msg); }

namespace {
// libstdc++ writes "filesystem error: cannot create directories: Not a directory [/x/y]".
std::string filesystem_message(const std::filesystem::filesystem_error& e) {
  std::string what = e.what();
  const std::string prefix = "filesystem error: ";
  if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
  return what + " (check the path, its permissions and free disk space)";
}
}  // namespace

ExitReport explain_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const UserError& x) {
    return {kExitUserError, x.what()};
  } catch (const std::filesystem::filesystem_error& x) {
    return {kExitUserError, filesystem_message(x)};
  } catch (const std::bad_array_new_length&) {
    return {kExitUserError, "a size too large to allocate (check the sizes in the arguments and config)"};
  } catch (const std::bad_alloc&) {
    return {kExitUserError,
            "out of memory: an allocation failed (check the sizes in the arguments and config "
            "against this machine's memory)"};
  } catch (const std::length_error& x) {
    return {kExitUserError, std::string("a size too large to allocate (") + x.what() +
                                "; check the sizes in the arguments and config)"};
  } catch (const std::system_error& x) {
    return {kExitUserError, std::string("the system refused: ") + x.what()};
  } catch (const std::exception& x) {
    return {kExitInternal, std::string("internal error: ") + x.what() + " (please report this)"};
  } catch (...) {
    return {kExitInternal, "internal error: an unknown exception (please report this)"};
  }
}

}  // namespace sr
