// Loading a RunConfig from INI files and the command line with Boost.Program_options.
//
// `--config FILE` names an INI file (repeatable; a later file wins over an earlier one); a file
// may pull in others with `include = PATH` (relative to itself) at its top. Precedence:
// command line > the last file > ... > the first file; a file > what it includes. Every key is
// `section.key` (the INI's [section] + key, or `--section.key VALUE` on the command line);
// unknown keys and unparsable values are UserErrors naming the source, key and value.
#pragma once
#include <string>
#include <vector>

#include "train/run_config.h"

namespace sr {

struct LoadedConfig {
  RunConfig run;
  bool help = false;          // --help was given: usage printed, nothing to run
  bool print_config = false;  // --print-config was given
};

LoadedConfig load_run_config(const std::string& command, const std::vector<std::string>& args);

// The effective configuration as an INI text (what --print-config shows).
std::string format_run_config(const RunConfig& cfg);

}  // namespace sr
