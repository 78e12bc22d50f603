#include "dataset/json.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace sr {

const char* JsonValue::type_name(Type t) {
  switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "a boolean";
    case Type::number: return "a number";
    case Type::string: return "a string";
    case Type::array: return "an array";
    case Type::object: return "an object";
  }
  return "?";
}

bool JsonValue::as_bool() const {
  SR_ASSERT(is_bool(), "JSON value is not a boolean");
  return bool_;
}

double JsonValue::as_double() const {
  SR_ASSERT(is_number(), "JSON value is not a number");
  return std::strtod(text_.c_str(), nullptr);
}

bool JsonValue::to_int64(int64_t& out) const {
  SR_ASSERT(is_number(), "JSON value is not a number");
  if (text_.find_first_of(".eE") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text_.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  out = v;
  return true;
}

const std::string& JsonValue::as_string() const {
  SR_ASSERT(is_string(), "JSON value is not a string");
  return text_;
}

const std::vector<JsonValue>& JsonValue::as_array() const {
  SR_ASSERT(is_array(), "JSON value is not an array");
  return array_;
}

const std::vector<std::pair<std::string, JsonValue>>& JsonValue::as_object() const {
  SR_ASSERT(is_object(), "JSON value is not an object");
  return object_;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  SR_ASSERT(is_object(), "JSON value is not an object");
  for (const auto& kv : object_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

// Recursive descent over the text; `pos_` is the next byte.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : s_(text) {}

  JsonValue parse_document() {
    skip_ws();
    JsonValue v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 512;  // deep nesting would overflow the stack
  std::string_view s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < at && i < s_.size(); ++i)
      if (s_[i] == '\n') ++line, line_start = i + 1;
    throw JsonError(what, at, line, at - line_start + 1);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  static std::string describe(char c) {
    if (uint8_t(c) >= 0x20 && uint8_t(c) < 0x7f) return std::string("'") + c + "'";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", unsigned(uint8_t(c)));
    return buf;
  }

  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (at_end()) fail(std::string("expected '") + c + "' but the text ended");
    if (s_[pos_] != c) fail(std::string("expected '") + c + "', found " + describe(s_[pos_]));
    ++pos_;
  }

  void literal(const char* word) {
    size_t start = pos_;
    for (const char* p = word; *p; ++p, ++pos_)
      if (at_end() || s_[pos_] != *p) fail_at(start, std::string("invalid literal, expected '") + word + "'");
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 512 levels");
    if (at_end()) fail("expected a value but the text ended");
    JsonValue v;
    char c = s_[pos_];
    switch (c) {
      case '{': parse_object(v, depth); break;
      case '[': parse_array(v, depth); break;
      case '"':
        v.type_ = JsonValue::Type::string;
        v.text_ = parse_string();
        break;
      case 't':
      case 'f':
        literal(c == 't' ? "true" : "false");
        v.type_ = JsonValue::Type::boolean;
        v.bool_ = c == 't';
        break;
      case 'n': literal("null"); break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          v.type_ = JsonValue::Type::number;
          v.text_ = parse_number();
        } else {
          fail("expected a value, found " + describe(c));
        }
    }
    return v;
  }

  void parse_object(JsonValue& v, int depth) {
    v.type_ = JsonValue::Type::object;
    ++pos_;  // '{'
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') {
        if (at_end()) fail("expected a member name but the text ended");
        fail("expected a member name in double quotes, found " + describe(peek()));
      }
      size_t key_at = pos_;
      std::string key = parse_string();
      for (const auto& kv : v.object_)
        if (kv.first == key) fail_at(key_at, "duplicate key '" + key + "'");
      skip_ws();
      expect(':');
      skip_ws();
      JsonValue member = parse_value(depth + 1);
      v.object_.emplace_back(std::move(key), std::move(member));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return;
      }
      if (at_end()) fail("unterminated object: expected ',' or '}' but the text ended");
      fail("expected ',' or '}' in object, found " + describe(peek()));
    }
  }

  void parse_array(JsonValue& v, int depth) {
    v.type_ = JsonValue::Type::array;
    ++pos_;  // '['
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      if (peek() == ']') fail("trailing comma in array");
      v.array_.push_back(parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return;
      }
      if (at_end()) fail("unterminated array: expected ',' or ']' but the text ended");
      fail("expected ',' or ']' in array, found " + describe(peek()));
    }
  }

  std::string parse_number() {
    size_t start = pos_;
    auto digits = [&]() {
      size_t n = 0;
      while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_, ++n;
      return n;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') fail_at(start, "invalid number: leading zero");
    } else if (digits() == 0) {
      fail_at(start, "invalid number: expected a digit");
    }
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) fail_at(start, "invalid number: expected a digit after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) fail_at(start, "invalid number: expected a digit in the exponent");
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (at_end()) fail("unterminated \\u escape");
      char c = s_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else fail("invalid \\u escape: expected 4 hex digits, found " + describe(c));
    }
    return v;
  }

  // Copies one raw UTF-8 character, rejecting invalid sequences (overlong, surrogates, > U+10FFFF).
  void copy_utf8(std::string& out) {
    const size_t start = pos_;
    const uint8_t b0 = uint8_t(s_[pos_]);
    size_t n;
    uint32_t cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2, cp = b0 & 0x1F, min = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF) n = 3, cp = b0 & 0x0F, min = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4) n = 4, cp = b0 & 0x07, min = 0x10000;
    else fail("invalid UTF-8 byte " + describe(char(b0)) + " in string");
    for (size_t i = 1; i < n; ++i) {
      if (start + i >= s_.size() || (uint8_t(s_[start + i]) & 0xC0) != 0x80)
        fail("invalid UTF-8 sequence in string");
      cp = (cp << 6) | (uint8_t(s_[start + i]) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      fail("invalid UTF-8 sequence in string");
    out.append(s_.substr(start, n));
    pos_ += n;
  }

  std::string parse_string() {
    const size_t open = pos_;
    ++pos_;  // '"'
    std::string out;
    for (;;) {
      if (at_end()) fail_at(open, "unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (uint8_t(c) < 0x20) fail("control character " + describe(c) + " in string (escape it)");
      if (uint8_t(c) >= 0x80) {
        copy_utf8(out);
        continue;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const size_t esc = pos_;
      ++pos_;
      if (at_end()) fail_at(open, "unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(esc, "lone low surrogate \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(pos_, 2) != "\\u") fail_at(esc, "high surrogate \\u escape without its low surrogate");
            pos_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at(esc, "high surrogate \\u escape without its low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(esc, "invalid escape '\\" + std::string(1, e) + "'");
      }
    }
  }
};

JsonValue parse_json(std::string_view text) { return JsonParser(text).parse_document(); }

}  // namespace sr
