// JSON through nlohmann::json (Debian's nlohmann-json3-dev). Objects keep their members in file
// (or insertion) order, so what we write reads in the order it was built.
//
// parse_json is the strict reading of untrusted inputs (JSONL records): RFC 8259 as the library
// enforces it (no trailing commas, comments, leading zeros, unescaped control characters, lone
// surrogates, invalid UTF-8 or text after the value), plus what the library would accept
// silently: a key repeated in one object, and nesting deeper than kMaxJsonDepth.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sr {

using Json = nlohmann::ordered_json;

constexpr int kMaxJsonDepth = 512;

// A syntax error: `offset` is the 0-based byte offset in the parsed text, `line` and `column`
// are 1-based (column counts bytes from the start of the line).
class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& what, size_t offset, size_t line, size_t column)
      : std::runtime_error(what), offset(offset), line(line), column(column) {}
  size_t offset, line, column;
};

// Parses exactly one JSON value (surrounding whitespace allowed); throws JsonError.
Json parse_json(std::string_view text);

// "a string", "an array", "null", ... for messages about a value's type.
const char* json_type_name(const Json& v);

}  // namespace sr
