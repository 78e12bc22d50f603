#include "core/json.h"

#include <iterator>
#include <set>
#include <vector>

namespace sr {
namespace {

// The input as the parser reads it, counting the bytes read: at a callback, `count` is the
// offset just past the token that triggered it.
struct CountingIterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  const char* p;
  size_t* count;
  reference operator*() const { return *p; }
  CountingIterator& operator++() {
    ++p;
    ++*count;
    return *this;
  }
  bool operator==(const CountingIterator& o) const { return p == o.p; }
  bool operator!=(const CountingIterator& o) const { return p != o.p; }
};

JsonError error_at(std::string_view text, size_t offset, const std::string& what) {
  if (offset > text.size()) offset = text.size();
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return JsonError(what, offset, line, offset - line_start + 1);
}

// The library's message without its prefix ("[json.exception.parse_error.101] parse error at
// line 1, column 9: ") and without the echo of the token read ("; last read: '...'"), which for
// a string is the whole string up to the error.
std::string library_message(const std::string& what) {
  std::string m = what;
  if (const size_t c = m.find("column "); c != std::string::npos)
    if (const size_t colon = m.find(": ", c); colon != std::string::npos) m.erase(0, colon + 2);
  if (const size_t lr = m.find("; last read: '"); lr != std::string::npos) {
    const size_t expected = m.find("'; expected ", lr + 14);
    m.erase(lr, expected == std::string::npos ? std::string::npos : expected + 1 - lr);
  }
  return m;
}

}  // namespace

Json parse_json(std::string_view text) {
  size_t count = 0;
  std::vector<std::set<std::string>> keys;  // the member names seen, per open object
  const auto strict = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth)
          throw error_at(text, count - 1, "nesting deeper than " + std::to_string(kMaxJsonDepth));
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second) {
          // Point at the key's opening quote: the last unescaped '"' before its closing one.
          size_t open = count >= 2 ? count - 2 : 0;
          while (open > 0) {
            if (text[open] == '"') {
              size_t backslashes = 0;
              while (open > backslashes && text[open - 1 - backslashes] == '\\') ++backslashes;
              if (backslashes % 2 == 0) break;
            }
            --open;
          }
          throw error_at(text, open, "duplicate key '" + parsed.get<std::string>() + "'");
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(CountingIterator{text.data(), &count},
                       CountingIterator{text.data() + text.size(), &count}, strict,
                       /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    throw error_at(text, e.byte > 0 ? e.byte - 1 : 0, library_message(e.what()));
  }
}

const char* json_type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    case Json::value_t::binary: return "binary data";
    case Json::value_t::discarded: return "a discarded value";
    default: return "a number";
  }
}

}  // namespace sr
