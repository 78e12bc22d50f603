// Command-line options of the commands that take plain options (not run configurations):
// Boost.Program_options without abbreviation guessing, errors as one-line UserErrors.
#pragma once
#include <boost/program_options.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sr {

// The largest token count a command takes for one sample (2^30, i.e. 1048576k).
constexpr uint64_t kMaxTokenCount = uint64_t(1) << 30;

// A token count: "65536", "64k" or "64K" (x1024), positive and at most `max`. Otherwise a
// UserError "<key> '<text>': expected a positive token count such as 65536 or 64k" (or naming
// the limit), where key names the option, e.g. "eval: --context-tokens".
size_t parse_token_count(const std::string& key, const std::string& text, uint64_t max = kMaxTokenCount);
// A comma-separated list of token counts ("8k,16k"); an empty item is an error too.
std::vector<size_t> parse_token_list(const std::string& key, const std::string& text,
                                     uint64_t max = kMaxTokenCount);

// Parses args into vm; a parse error is a UserError "<command>: <what> (see smoothread <command>
// --help)". Returns false after printing desc on rank 0 when --help was given.
bool parse_options(const std::string& command, const boost::program_options::options_description& desc,
                   const std::vector<std::string>& args, boost::program_options::variables_map& vm);

}  // namespace sr
