// The strict JSON reading (core/json.h over nlohmann::json) and the JSONL record reader:
// values, every escape, one rejection per class of bad text with its position, and one test
// per class of bad record, each naming file:line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/json.h"
#include "dataset/jsonl.h"

namespace sr {
namespace {

TEST(Json, ParsesEveryKindOfValue) {
  const Json v = parse_json(
      R"( {"s": "x", "n": -12.5e1, "i": 42, "t": true, "f": false, "z": null, "a": [1, [], {}]} )");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v["s"].get<std::string>(), "x");
  EXPECT_DOUBLE_EQ(v["n"].get<double>(), -125.0);
  EXPECT_TRUE(v["i"].is_number_integer());
  EXPECT_EQ(v["i"].get<int64_t>(), 42);
  EXPECT_FALSE(v["n"].is_number_integer());
  EXPECT_TRUE(v["t"].get<bool>());
  EXPECT_FALSE(v["f"].get<bool>());
  EXPECT_TRUE(v["z"].is_null());
  ASSERT_EQ(v["a"].size(), 3u);
  EXPECT_TRUE(v["a"][1].is_array());
  EXPECT_FALSE(v.contains("missing"));
  EXPECT_EQ(v.begin().key(), "s");  // file order
  EXPECT_EQ(json_type_name(v["a"]), std::string("an array"));
  // Objects nested in different places may repeat a key.
  EXPECT_EQ(parse_json(R"([{"a": 1}, {"a": 2, "b": {"a": 3}}])").size(), 2u);
}

TEST(Json, DecodesEveryEscape) {
  EXPECT_EQ(parse_json(R"("\"\\\/\b\f\n\r\t")").get<std::string>(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(parse_json(R"("\u0041\u00e9\u20AC")").get<std::string>(), "A\xC3\xA9\xE2\x82\xAC");
  // U+1F600 as a surrogate pair, and the same character raw in UTF-8.
  EXPECT_EQ(parse_json(R"("\ud83d\ude00")").get<std::string>(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_json("\"\xF0\x9F\x98\x80\"").get<std::string>(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_json(R"("\u0000")").get<std::string>(), std::string(1, '\0'));
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
  EXPECT_EQ(error_column(R"({"a": 1,})", "expected string literal"), 9u);  // trailing comma
  EXPECT_EQ(error_column(R"([1, 2,])", "unexpected ']'"), 7u);
  EXPECT_EQ(error_column(R"({"a" 1})", "expected ':'"), 6u);
  EXPECT_EQ(error_column(R"({"a": 01})", "unexpected number literal"), 8u);  // leading zero
  EXPECT_EQ(error_column(R"({"a": .5})", "invalid literal"), 7u);
  EXPECT_EQ(error_column(R"({"a": 1.})", "expected digit after '.'"), 9u);
  EXPECT_EQ(error_column(R"({"a": tru})", "invalid literal"), 10u);
  EXPECT_EQ(error_column(R"({"a": "x\q"})", "forbidden character after backslash"), 10u);
  EXPECT_EQ(error_column(R"("\u12g4")", "4 hex digits"), 6u);
  EXPECT_EQ(error_column(R"("\ud83d")", "must be followed by U+DC00..U+DFFF"), 8u);
  EXPECT_EQ(error_column(R"("\ude00")", "must follow U+D800..U+DBFF"), 7u);
  EXPECT_EQ(error_column("\"a\tb\"", "control character U+0009"), 3u);
  EXPECT_EQ(error_column("\"\xC3\x28\"", "ill-formed UTF-8"), 3u);
  EXPECT_EQ(error_column("\"\xED\xA0\x80\"", "ill-formed UTF-8"), 3u);  // an encoded surrogate
  EXPECT_EQ(error_column(R"({"a": "x)", "missing closing quote"), 9u);
  EXPECT_EQ(error_column(R"({"a": 1)", "unexpected end of input; expected '}'"), 8u);
  // Trailing garbage; the library's echo of the text read is left out of the message.
  EXPECT_EQ(error_column(R"({"a": 1} x)", "invalid literal; expected end of input"), 10u);
  EXPECT_EQ(error_column(R"({"a": 1, "a": 2})", "duplicate key 'a'"), 10u);
  // Keys compare decoded: "\u0061" is "a".
  EXPECT_EQ(error_column(R"({"b": {"\u0061": 1, "a": 2}})", "duplicate key 'a'"), 21u);
  EXPECT_EQ(error_column("// c\n1", "invalid literal"), 1u);  // no comments
  EXPECT_EQ(error_column("", "unexpected end of input"), 1u);
  EXPECT_EQ(error_column(std::string(600, '[') + std::string(600, ']'), "nesting deeper than 512"),
            513u);
  try {
    parse_json("[1,\n  x]");
    ADD_FAILURE() << "no error";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.column, 3u);
    EXPECT_EQ(e.offset, 6u);
  }
  // A long string with an error at its end: the message does not repeat the string.
  try {
    parse_json("\"" + std::string(10000, 'x') + "\\q\"");
    ADD_FAILURE() << "no error";
  } catch (const JsonError& e) {
    EXPECT_LT(std::string(e.what()).size(), 200u) << e.what();
    EXPECT_EQ(e.column, 10003u);
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
            p + "invalid JSON at column 49: syntax error while parsing object key - unexpected "
              "'}'; expected string literal");
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
                .find(p + "invalid JSON at column 46: syntax error while parsing value - invalid "
                      "string: ill-formed UTF-8 byte"),
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
