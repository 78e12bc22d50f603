// Reads reading-comprehension records from JSONL, one JSON object per line:
//   {"question": str, "context": str, "answer": str,
//    "summaries": [str, ...] (optional), "stop_round": int >= 0 (optional, 0-based chunk)}
// Other members are ignored (ids, metadata). Blank lines are skipped; CRLF and a UTF-8 BOM are
// accepted. Errors are UserError "FILE:LINE: what is wrong".
#pragma once
#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

namespace sr {

struct ReadingRecord {
  std::string question;
  std::string context;
  std::string answer;
  bool has_summaries = false;
  std::vector<std::string> summaries;
  int stop_round = -1;  // -1: not given
  size_t line = 0;      // 1-based line in the file, for error messages
};

class JsonlReader {
 public:
  explicit JsonlReader(const std::string& path);  // UserError when it cannot be opened
  // The next record; false at the end of the file.
  bool next(ReadingRecord& record);
  const std::string& path() const { return path_; }
  // "FILE:LINE: " of the last line read.
  std::string where() const;

 private:
  std::string path_;
  std::ifstream in_;
  size_t line_ = 0;
};

// Parses one line (its text without the newline) into `record`; `where` prefixes errors.
void parse_reading_record(const std::string& line_text, const std::string& where,
                          ReadingRecord& record);

}  // namespace sr
