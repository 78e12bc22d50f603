// A small strict JSON parser (RFC 8259) for JSONL inputs: objects, arrays, strings with every
// escape (\uXXXX to UTF-8, surrogate pairs joined), numbers, true/false/null. Rejects what the
// RFC rejects (trailing commas, comments, leading zeros, control characters in strings, lone
// surrogates, invalid UTF-8, trailing text) and duplicate object keys.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sr {

// A syntax error: `offset` is the 0-based byte offset in the parsed text, `line` and `column`
// are 1-based (column counts bytes from the start of the line).
class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& what, size_t offset, size_t line, size_t column)
      : std::runtime_error(what), offset(offset), line(line), column(column) {}
  size_t offset, line, column;
};

class JsonValue {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_number() const { return type_ == Type::number; }
  bool is_string() const { return type_ == Type::string; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }
  static const char* type_name(Type t);

  bool as_bool() const;
  double as_double() const;
  // The number as an integer; false when it has a fraction/exponent part or is out of range.
  bool to_int64(int64_t& out) const;
  const std::string& as_string() const;
  const std::vector<JsonValue>& as_array() const;
  // Members in file order.
  const std::vector<std::pair<std::string, JsonValue>>& as_object() const;
  // Member `key` of an object, or nullptr.
  const JsonValue* find(std::string_view key) const;

 private:
  friend class JsonParser;
  Type type_ = Type::null;
  bool bool_ = false;
  std::string text_;  // the string's value, or the number's literal text
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

// Parses exactly one JSON value (surrounding whitespace allowed); throws JsonError.
JsonValue parse_json(std::string_view text);

}  // namespace sr
