// Command-line options of the commands that take plain options (not run configurations):
// Boost.Program_options without abbreviation guessing, errors as one-line UserErrors.
#pragma once
#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace sr {

// Parses args into vm; a parse error is a UserError "<command>: <what> (see smoothread <command>
// --help)". Returns false after printing desc on rank 0 when --help was given.
bool parse_options(const std::string& command, const boost::program_options::options_description& desc,
                   const std::vector<std::string>& args, boost::program_options::variables_map& vm);

}  // namespace sr
