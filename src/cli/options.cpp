#include "cli/options.h"

#include <iostream>

#include "core/error.h"
#include "core/log.h"

namespace po = boost::program_options;

namespace sr {

bool parse_options(const std::string& command, const po::options_description& desc,
                   const std::vector<std::string>& args, po::variables_map& vm) {
  try {
    po::store(po::command_line_parser(args).options(desc).style(
                  po::command_line_style::default_style & ~po::command_line_style::allow_guessing).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    user_error(command + ": " + e.what() + " (see smoothread " + command + " --help)");
  }
  if (!vm.count("help")) return true;
  if (log_rank() == 0) std::cout << desc << "\n";
  return false;
}

}  // namespace sr
