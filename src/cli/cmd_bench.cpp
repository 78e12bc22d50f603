// `smoothread bench <train|compare|kernels|reader|read|comm|tokenizer>`: measurements, never pass/fail tests.
#include "cli/bench_comm.h"
#include "cli/commands.h"
#include "cli/data_commands.h"
#include "core/error.h"
#include "core/log.h"

#include <cstdio>

namespace sr {

int bench_train(const std::vector<std::string>& args);
int bench_kernels(const std::vector<std::string>& args);
int bench_read(const std::vector<std::string>& args);
int bench_compare(const std::vector<std::string>& args);
int bench_tokenizer(const std::vector<std::string>& args);

namespace {
const char* kBenchUsage =
    "usage: smoothread bench <benchmark> [options]\n\n"
    "subcommands:\n"
    "  train   training-step throughput of a config on synthetic tokens (tokens/s, MFU)\n"
    "  compare full attention vs a sliding window, trained at each context (the paper's claim)\n"
    "  kernels GPU kernels alone: attention, GEMMs, memory-bound (TFLOP/s, GB/s)\n"
    "  reader  training-reader throughput over a token dataset (tokens/s, GB/s)\n"
    "  read    inference: time to answer, prefill/decode tokens/s, memory (Smooth Reading or one-round)\n"
    "  comm    collective bandwidth over all ranks (MPI or NCCL)\n"
    "  tokenizer encoding throughput of a tokenizer on one core (MB/s), tokens per byte\n\n"
    "`smoothread bench <benchmark> --help` describes each one.\n";
}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  if (args.empty()) {
    if (log_rank() == 0) std::fputs(kBenchUsage, stdout);
    throw UserError("bench: expected a benchmark: train, compare, kernels, reader, read, comm or tokenizer");
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (log_rank() == 0) std::fputs(kBenchUsage, stdout);
    return kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "train") return bench_train(rest);
  if (args[0] == "kernels") return bench_kernels(rest);
  if (args[0] == "compare") return bench_compare(rest);
  if (args[0] == "reader") return bench_reader(rest);
  if (args[0] == "read") return bench_read(rest);
  if (args[0] == "comm") return bench_comm(rest);
  if (args[0] == "tokenizer") return bench_tokenizer(rest);
  throw UserError("bench: unknown benchmark '" + args[0] + "': expected train, compare, kernels, reader, read, comm or tokenizer");
}

}  // namespace sr
