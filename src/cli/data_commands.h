// Entry points of `smoothread data ...` and `smoothread bench reader ...`; each takes the
// arguments after its command words and returns the exit code (a UserError propagates).
#pragma once
#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace sr {

// `smoothread data <from-text|inspect|build|synth> ...`: args start at the subcommand.
int cmd_data(const std::vector<std::string>& args);
// `smoothread data build ...` and `smoothread data synth ...` (src/cli/cmd_data_sr.cpp).
int data_build(const std::vector<std::string>& args);
int data_synth(const std::vector<std::string>& args);
// `smoothread bench reader ...`: args start after "reader".
int bench_reader(const std::vector<std::string>& args);

// Parses `args` of command `name` ("data inspect"): a Boost error becomes a UserError naming
// the command and the option; returns false after printing the usage when --help is given.
bool parse_command_line(const std::string& name, const std::string& usage,
                        const std::vector<std::string>& args,
                        const boost::program_options::options_description& visible,
                        const boost::program_options::options_description& hidden,
                        const boost::program_options::positional_options_description& positional,
                        boost::program_options::variables_map& vm);

// Checks the --out path of a command that writes a token dataset before any work: not empty,
// not a directory, in a directory that exists, and neither it nor its temporary (`OUT.tmp`) one
// of `inputs` (compared by file identity, so another spelling of the same file is caught).
// A UserError names the command, the path and what is expected.
void check_output_path(const std::string& command, const std::string& out,
                       const std::vector<std::string>& inputs);

}  // namespace sr
