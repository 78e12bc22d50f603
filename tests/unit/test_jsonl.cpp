// The strict JSON parser and the JSONL record reader: values, every escape, error positions,
// and one test per class of bad record, each naming file:line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "dataset/json.h"
#include "dataset/jsonl.h"

namespace sr {
namespace {

TEST(Json, ParsesEveryKindOfValue) {
  JsonValue v = parse_json(
      R"( {"s": "x", "n": -12.5e1, "i": 42, "t": true, "f": false, "z": null, "a": [1, [], {}]} )");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.find("s")->as_string(), "x");
  EXPECT_DOUBLE_EQ(v.find("n")->as_double(), -125.0);
  int64_t i = 0;
  EXPECT_TRUE(v.find("i")->to_int64(i));
  EXPECT_EQ(i, 42);
  EXPECT_FALSE(v.find("n")->to_int64(i));
  EXPECT_TRUE(v.find("t")->as_bool());
  EXPECT_FALSE(v.find("f")->as_bool());
  EXPECT_TRUE(v.find("z")->is_null());
  ASSERT_EQ(v.find("a")->as_array().size(), 3u);
  EXPECT_TRUE(v.find("a")->as_array()[1].is_array());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(v.as_object()[0].first, "s");  // file order
}

TEST(Json, DecodesEveryEscape) {
  EXPECT_EQ(parse_json(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(parse_json(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  // U+1F600 as a surrogate pair, and the same character raw in UTF-8.
  EXPECT_EQ(parse_json(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_json("\"\xF0\x9F\x98\x80\"").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_json(R"("\u0000")").as_string(), std::string(1, '\0'));
}

// The error's column for `text`, and that its message contains `what`.
size_t error_column(const std::string& text, const std::string& what) {
  try {
    parse_json(text);
  } catch (const JsonError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    return e.column;
  }
  ADD_FAILURE() << "no error for " << text;
  return 0;
}

TEST(Json, RejectsWhatTheRfcRejectsWithAColumn) {
  EXPECT_EQ(error_column(R"({"a": 1,})", "member name"), 9u);
  EXPECT_EQ(error_column(R"([1, 2,])", "trailing comma"), 7u);
  EXPECT_EQ(error_column(R"({"a" 1})", "expected ':'"), 6u);
  EXPECT_EQ(error_column(R"({"a": 01})", "leading zero"), 7u);
  EXPECT_EQ(error_column(R"({"a": .5})", "expected a value"), 7u);
  EXPECT_EQ(error_column(R"({"a": 1.})", "digit after '.'"), 7u);
  EXPECT_EQ(error_column(R"({"a": tru})", "'true'"), 7u);
  EXPECT_EQ(error_column(R"({"a": "x\q"})", "invalid escape"), 9u);
  EXPECT_EQ(error_column(R"("\u12g4")", "hex digits"), 6u);
  EXPECT_EQ(error_column(R"("\ud83d")", "low surrogate"), 2u);
  EXPECT_EQ(error_column(R"("\ude00")", "lone low surrogate"), 2u);
  EXPECT_EQ(error_column("\"a\tb\"", "control character"), 3u);
  EXPECT_EQ(error_column("\"\xC3\x28\"", "UTF-8"), 2u);
  EXPECT_EQ(error_column("\"\xED\xA0\x80\"", "UTF-8"), 2u);  // an encoded surrogate
  EXPECT_EQ(error_column(R"({"a": "x)", "unterminated string"), 7u);
  EXPECT_EQ(error_column(R"({"a": 1)", "unterminated object"), 8u);
  EXPECT_EQ(error_column(R"({"a": 1} x)", "after the JSON value"), 10u);
  EXPECT_EQ(error_column(R"({"a": 1, "a": 2})", "duplicate key 'a'"), 10u);
  EXPECT_EQ(error_column("// c\n1", "expected a value"), 1u);
  EXPECT_EQ(error_column("", "text ended"), 1u);
  EXPECT_EQ(error_column(std::string(600, '[') + std::string(600, ']'), "nesting"), 514u);
  try {
    parse_json("[1,\n  x]");
  } catch (const JsonError& e) {
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.column, 3u);
    EXPECT_EQ(e.offset, 6u);
  }
}

class JsonlFile : public ::testing::Test {
 protected:
  std::string path_ = ::testing::TempDir() + "sr_test_records.jsonl";
  void write(const std::string& text) {
    std::ofstream f(path_, std::ios::binary);
    f << text;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  // The message of the UserError raised while reading every record.
  std::string error_of(const std::string& text) {
    write(text);
    try {
      JsonlReader r(path_);
      ReadingRecord rec;
      while (r.next(rec)) {
      }
    } catch (const UserError& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(JsonlFile, ReadsRecordsWithOptionalFields) {
  write("\xEF\xBB\xBF{\"question\": \"Q1\", \"context\": \"a b\\nc\", \"answer\": \"A1\"}\r\n"
        "\n"
        "{\"question\": \"Q2\", \"context\": \"x\", \"answer\": \"A2\", \"summaries\": [\"s1\", "
        "\"s\\u00e92\"], \"stop_round\": 1, \"id\": 7}\n");
  JsonlReader r(path_);
  ReadingRecord rec;
  ASSERT_TRUE(r.next(rec));
  EXPECT_EQ(rec.question, "Q1");
  EXPECT_EQ(rec.context, "a b\nc");
  EXPECT_EQ(rec.answer, "A1");
  EXPECT_FALSE(rec.has_summaries);
  EXPECT_EQ(rec.stop_round, -1);
  EXPECT_EQ(rec.line, 1u);
  ASSERT_TRUE(r.next(rec));
  EXPECT_EQ(rec.line, 3u);  // the blank line is skipped but counted
  EXPECT_TRUE(rec.has_summaries);
  EXPECT_EQ(rec.summaries, (std::vector<std::string>{"s1", "s\xC3\xA9" "2"}));
  EXPECT_EQ(rec.stop_round, 1);
  EXPECT_FALSE(r.next(rec));
}

TEST_F(JsonlFile, EachBadRecordNamesFileAndLine) {
  const std::string ok = R"({"question": "q", "context": "c", "answer": "a"})" "\n";
  const std::string p = path_ + ":2: ";
  EXPECT_EQ(error_of(ok + R"({"question": "q", "context": "c"})"),
            p + "missing field 'answer'");
  EXPECT_EQ(error_of(ok + R"({"question": "q", "context": "c", "answer": "a",})"),
            p + "invalid JSON at column 49: expected a member name in double quotes, found '}'");
  EXPECT_EQ(error_of(ok + R"({"question": 3, "context": "c", "answer": "a"})"),
            p + "field 'question' must be a string, found a number");
  EXPECT_EQ(error_of(ok + R"(["q", "c", "a"])"), p + "expected a JSON object, found an array");
  EXPECT_EQ(error_of(ok + R"({"question": "q", "context": "c", "answer": "a", "summaries": "s"})"),
            p + "field 'summaries' must be an array of strings, found a string");
  EXPECT_EQ(
      error_of(ok + R"({"question": "q", "context": "c", "answer": "a", "summaries": ["s", 1]})"),
      p + "field 'summaries' must be an array of strings, element 1 is a number");
  for (const char* bad : {"-1", "1.5", "\"2\"", "1e3"})
    EXPECT_EQ(error_of(ok + R"({"question": "q", "context": "c", "answer": "a", "stop_round": )" +
                       bad + "}"),
              p + "field 'stop_round' must be an integer >= 0 (a 0-based chunk index)")
        << bad;
  EXPECT_NE(error_of(ok + "{\"question\": \"q\", \"context\": \"c\", \"answer\": \"\xFF\"}")
                .find(p + "invalid JSON at column 46: invalid UTF-8"),
            std::string::npos);
}

TEST(Jsonl, MissingFileIsAUserError) {
  try {
    JsonlReader r("/nonexistent/records.jsonl");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open /nonexistent/records.jsonl"), std::string::npos);
  }
}

}  // namespace
}  // namespace sr
