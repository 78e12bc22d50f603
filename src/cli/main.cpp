// smoothread <command> ...: MPI start-up, command dispatch and the error policy
// (user errors: one line and exit code 2 on every rank; internal errors abort all ranks).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/bench_comm.h"
#include "cli/commands.h"
#include "cli/data_commands.h"
#include "core/error.h"
#include "core/log.h"

namespace {

const char* kUsage =
    "usage: smoothread <command> [options]\n"
    "\n"
    "commands:\n"
    "  train   train a model:     smoothread train --config configs/train/demo-cpu.ini\n"
    "  data    build and inspect datasets: from-text, synth, build, inspect\n"
    "  bench   benchmarks: train (training step throughput), reader, comm\n"
    "  ckpt    inspect a checkpoint: smoothread ckpt inspect runs/demo/checkpoints\n"
    "  read    read with a trained model: smoothread read --checkpoint runs/sr --input X.jsonl\n"
    "  eval    accuracy on held-out synthetic tasks: smoothread eval --checkpoint runs/sr\n"
    "\n"
    "  --version   versions of smoothread and the libraries it was built with\n"
    "  <command> --help   the options of a command\n";

int dispatch(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
    if (sr::log_rank() == 0) std::fputs(kUsage, stdout);
    return argv.empty() ? sr::kExitUserError : sr::kExitOk;
  }
  const std::string cmd = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (cmd == "--version" || cmd == "version") {
    if (sr::log_rank() == 0) std::fputs(sr::version_text().c_str(), stdout);
    return sr::kExitOk;
  }
  if (cmd == "train") return sr::cmd_train(rest);
  if (cmd == "data") return sr::cmd_data(rest);
  if (cmd == "bench") return sr::cmd_bench(rest);
  if (cmd == "ckpt") return sr::cmd_ckpt(rest);
  if (cmd == "read") return sr::cmd_read(rest);
  if (cmd == "eval") return sr::cmd_eval(rest);
  throw sr::UserError("unknown command '" + cmd +
                      "': expected train, data, bench, ckpt, read or eval (see --help)");
}

// One line on stderr; under mpirun the rank says who saw it.
void print_error(const std::string& message, int rank, int size) {
  if (size > 1)
    std::fprintf(stderr, "smoothread: error (rank %d): %s\n", rank, message.c_str());
  else
    std::fprintf(stderr, "smoothread: error: %s\n", message.c_str());
  std::fflush(stderr);
}

int g_rank = 0, g_size = 1;

// The last resort for an exception that escapes where it cannot be caught (another thread, a
// noexcept function): the same one line, and every rank brought down, instead of abort().
[[noreturn]] void on_terminate() {
  sr::ExitReport r{sr::kExitInternal, "internal error: terminate called without an exception"};
  if (std::exception_ptr e = std::current_exception()) r = sr::explain_exception(e);
  print_error(r.message, g_rank, g_size);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized && g_size > 1) MPI_Abort(MPI_COMM_WORLD, r.code);
  std::_Exit(r.code);
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  g_rank = rank;
  g_size = size;
  std::set_terminate(on_terminate);
  sr::set_log_rank(rank);
  sr::error_context().rank = rank;
  int code = sr::kExitOk;
  try {
    code = dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (...) {
    // Every exception that ends a command ends here: bad input, a path the system refuses, an
    // allocation too large (exit 2) or a bug (exit 1). One line, and every rank is brought down
    // so that none waits forever in a collective for a rank that stopped.
    const sr::ExitReport r = sr::explain_exception(std::current_exception());
    print_error(r.message, rank, size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, r.code);
    code = r.code;
  }
  MPI_Finalize();
  return code;
}
