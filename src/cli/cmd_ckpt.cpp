// `smoothread ckpt inspect DIR [--verify]`: a checkpoint's step, layout and tensors;
// `ckpt import-hf` and `ckpt export-hf` are in cmd_ckpt_hf.cpp.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "train/checkpoint.h"

namespace sr {

int cmd_ckpt(const std::vector<std::string>& args) {
  const char* usage =
      "usage: smoothread ckpt <subcommand> [options]\n\n"
      "subcommands:\n"
      "  inspect   a checkpoint's step, layout and tensors (--verify reads every tensor back)\n"
      "  import-hf a Hugging Face Qwen2 folder into a checkpoint that train starts from\n"
      "  export-hf a checkpoint (any layout) as a Hugging Face Qwen2 folder\n\n"
      "`smoothread ckpt <subcommand> --help` describes each one.\n";
  const char* inspect_usage =
      "usage: smoothread ckpt inspect DIR [--verify]\n"
      "  DIR       a checkpoint (runs/x/checkpoints/step_00000100) or a run's checkpoints/ (its latest)\n"
      "  --verify  read every tensor back, checking the shards' checksums\n"
      "Exit code 0: readable (and verified); 2: not a checkpoint, incomplete or damaged.\n";
  auto is_help = [](const std::string& a) { return a == "--help" || a == "-h" || a == "help"; };
  if (args.empty() || is_help(args[0])) {
    if (log_rank() == 0) std::fputs(usage, stdout);
    if (args.empty()) throw UserError("ckpt: expected a subcommand: inspect, import-hf or export-hf");
    return kExitOk;
  }
  if (args[0] == "import-hf") return cmd_ckpt_import_hf({args.begin() + 1, args.end()});
  if (args[0] == "export-hf") return cmd_ckpt_export_hf({args.begin() + 1, args.end()});
  if (args[0] != "inspect")
    throw UserError("ckpt: unknown subcommand '" + args[0] + "': expected inspect, import-hf or export-hf");
  std::string dir;
  bool verify = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      if (log_rank() == 0) std::fputs(inspect_usage, stdout);
      return kExitOk;
    }
  }
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--verify")
      verify = true;
    else if (args[i].rfind("-", 0) == 0)
      throw UserError("ckpt inspect: unknown option '" + args[i] + "' (see smoothread ckpt inspect --help)");
    else if (!dir.empty())
      throw UserError("ckpt inspect: one checkpoint directory expected, got '" + dir + "' and '" + args[i] + "'");
    else
      dir = args[i];
  }
  if (dir.empty()) throw UserError("ckpt inspect: expected a checkpoint directory");
  const std::string resolved = resolve_checkpoint_dir(dir);
  const std::string text = describe_checkpoint(resolved, verify);
  if (log_rank() == 0) std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace sr
