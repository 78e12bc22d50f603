#include "cli/options.h"

#include <iostream>

#include "core/error.h"
#include "core/log.h"

namespace po = boost::program_options;

namespace sr {

size_t parse_token_count(const std::string& key, const std::string& text, uint64_t max) {
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    if (!text.empty() && text[0] >= '0' && text[0] <= '9') v = std::stoull(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  const std::string unit = pos ? text.substr(pos) : "?";
  if (!pos || !(unit.empty() || unit == "k" || unit == "K") || v == 0)
    user_error(key + " '" + text + "': expected a positive token count such as 65536 or 64k");
  const uint64_t scale = unit.empty() ? 1 : 1024;
  if (v > max / scale)
    user_error(key + " '" + text + "': expected at most " + std::to_string(max) + " tokens (" +
               std::to_string(max / 1024) + "k)");
  return size_t(v * scale);
}

std::vector<size_t> parse_token_list(const std::string& key, const std::string& text, uint64_t max) {
  std::vector<size_t> out;
  size_t start = 0;
  for (bool last = false; !last;) {  // every item, also empty ones, which parse_token_count refuses
    const size_t comma = text.find(',', start);
    last = comma == std::string::npos;
    out.push_back(parse_token_count(key, text.substr(start, last ? std::string::npos : comma - start), max));
    start = comma + 1;
  }
  return out;
}

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
