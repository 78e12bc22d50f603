// `smoothread ckpt inspect DIR [--verify]`: a checkpoint's step, layout and tensors.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "train/checkpoint.h"

namespace sr {

int cmd_ckpt(const std::vector<std::string>& args) {
  const char* usage =
      "usage: smoothread ckpt inspect DIR [--verify]\n"
      "  DIR       a checkpoint (runs/x/checkpoints/step_00000100) or a run's checkpoints/ (its latest)\n"
      "  --verify  read every tensor back, checking the shards' checksums\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    if (log_rank() == 0) std::fputs(usage, stdout);
    return args.empty() ? kExitUserError : kExitOk;
  }
  if (args[0] != "inspect") throw UserError("ckpt: unknown subcommand '" + args[0] + "': expected inspect");
  std::string dir;
  bool verify = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--verify")
      verify = true;
    else if (args[i].rfind("--", 0) == 0)
      throw UserError("ckpt inspect: unknown option '" + args[i] + "'");
    else
      dir = args[i];
  }
  if (dir.empty()) throw UserError("ckpt inspect: expected a checkpoint directory");
  const std::string resolved = resolve_checkpoint_dir(dir);
  if (log_rank() == 0) std::fputs(describe_checkpoint(resolved, verify).c_str(), stdout);
  return kExitOk;
}

}  // namespace sr
