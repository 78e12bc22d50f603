#include "dataset/jsonl.h"

#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/json.h"

namespace sr {

JsonlReader::JsonlReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw UserError("cannot open " + path + ": " + std::strerror(errno));
}

std::string JsonlReader::where() const { return path_ + ":" + std::to_string(line_) + ": "; }

bool JsonlReader::next(ReadingRecord& record) {
  std::string text;
  while (std::getline(in_, text)) {
    ++line_;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (line_ == 1 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    parse_reading_record(text, where(), record);
    record.line = line_;
    return true;
  }
  if (in_.bad()) throw UserError(path_ + ": read error after line " + std::to_string(line_));
  return false;
}

void parse_reading_record(const std::string& line_text, const std::string& where,
                          ReadingRecord& record) {
  Json v;
  try {
    v = parse_json(line_text);
  } catch (const JsonError& e) {
    throw UserError(where + "invalid JSON at column " + std::to_string(e.column) + ": " + e.what());
  }
  if (!v.is_object())
    throw UserError(where + "expected a JSON object, found " + json_type_name(v));
  // Member `key`, or nullptr.
  auto find = [&](const char* key) -> const Json* {
    const auto it = v.find(key);
    return it == v.end() ? nullptr : &*it;
  };

  auto string_field = [&](const char* key, std::string& out) {
    const Json* f = find(key);
    if (!f) throw UserError(where + "missing field '" + key + "'");
    if (!f->is_string())
      throw UserError(where + "field '" + key + "' must be a string, found " + json_type_name(*f));
    out = f->get<std::string>();
  };
  string_field("question", record.question);
  string_field("context", record.context);
  string_field("answer", record.answer);

  record.has_summaries = false;
  record.summaries.clear();
  if (const Json* f = find("summaries"); f && !f->is_null()) {
    if (!f->is_array())
      throw UserError(where + "field 'summaries' must be an array of strings, found " +
                      json_type_name(*f));
    for (size_t i = 0; i < f->size(); ++i) {
      const Json& s = (*f)[i];
      if (!s.is_string())
        throw UserError(where + "field 'summaries' must be an array of strings, element " +
                        std::to_string(i) + " is " + json_type_name(s));
      record.summaries.push_back(s.get<std::string>());
    }
    record.has_summaries = true;
  }

  record.stop_round = -1;
  if (const Json* f = find("stop_round"); f && !f->is_null()) {
    // An integer literal: 1.0 and 1e3 are floating-point numbers in JSON's grammar.
    if (!f->is_number_unsigned() || f->get<uint64_t>() > uint64_t(std::numeric_limits<int>::max()))
      throw UserError(where + "field 'stop_round' must be an integer >= 0 (a 0-based chunk index)");
    record.stop_round = int(f->get<uint64_t>());
  }
}

}  // namespace sr
