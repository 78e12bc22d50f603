// `smoothread bench <train|reader|comm>`: measurements, never pass/fail tests.
#include "cli/bench_comm.h"
#include "cli/commands.h"
#include "cli/data_commands.h"
#include "core/error.h"

namespace sr {

int bench_train(const std::vector<std::string>& args);

int cmd_bench(const std::vector<std::string>& args) {
  if (args.empty()) throw UserError("bench: expected a benchmark: train, reader or comm");
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "train") return bench_train(rest);
  if (args[0] == "reader") return bench_reader(rest);
  if (args[0] == "comm") return bench_comm(rest);
  throw UserError("bench: unknown benchmark '" + args[0] + "': expected train, reader or comm");
}

}  // namespace sr
