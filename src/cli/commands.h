// Entry points of the smoothread subcommands. Each takes the words after its command and
// returns the exit code; a UserError propagates to main, which prints it and exits with 2.
#pragma once
#include <string>
#include <vector>

namespace sr {

int cmd_train(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_ckpt(const std::vector<std::string>& args);
int cmd_ckpt_import_hf(const std::vector<std::string>& args);  // ckpt import-hf ...
int cmd_ckpt_export_hf(const std::vector<std::string>& args);  // ckpt export-hf ...
int cmd_read(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
std::string version_text();

}  // namespace sr
