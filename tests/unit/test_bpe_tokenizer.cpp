// The byte-level BPE tokenizer (dataset/bpe_tokenizer.h) on hand-built tokenizer.json files, the
// Tokenizer abstraction over it, and the comparison with the `tokenizers` library's ids.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "dataset/bpe_tokenizer.h"
#include "dataset/chunker.h"
#include "dataset/tokenizer.h"
#include "dataset/trajectory.h"

namespace sr {
namespace {

const std::string kFixtureDir = std::string(SR_SOURCE_DIR) + "/tests/fixtures/tokenizer";
const std::string kMini = kFixtureDir + "/mini_sr.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json mini_json() { return nlohmann::json::parse(read_file(kMini)); }

std::shared_ptr<const BpeTokenizer> from(const nlohmann::json& j) {
  return BpeTokenizer::from_json(j.dump(), "test.json");
}

// GPT-2's byte -> character map, written independently of the tokenizer's.
std::string byte_char(uint8_t b) {
  std::vector<int> bs;
  for (int c = '!'; c <= '~'; ++c) bs.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c) bs.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c) bs.push_back(c);
  int cp = -1, n = 0;
  for (int x = 0; x < 256; ++x) {
    const bool printable = std::find(bs.begin(), bs.end(), x) != bs.end();
    if (x == b) cp = printable ? x : 256 + n;
    if (!printable) ++n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// The fixture's id of a token written in byte-level characters.
uint32_t vid(const std::string& token) {
  static const nlohmann::json j = mini_json();
  return j["model"]["vocab"].at(token).get<uint32_t>();
}
// The id of the token for these UTF-8 bytes.
uint32_t tid(const std::string& text) {
  std::string t;
  for (unsigned char c : text) t += byte_char(c);
  return vid(t);
}
uint32_t added(const std::string& content) {
  static const nlohmann::json j = mini_json();
  for (const auto& a : j["added_tokens"])
    if (a["content"] == content) return a["id"].get<uint32_t>();
  ADD_FAILURE() << "no added token " << content;
  return 0;
}

std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out;
  for (auto [b, e] : pretokenize(text)) out.push_back(text.substr(b, e - b));
  return out;
}

using V = std::vector<uint32_t>;
using S = std::vector<std::string>;

TEST(BpeTokenizer, MergesFollowRank) {
  const auto t = from(mini_json());
  EXPECT_EQ(t->encode("hello"), V({tid("hello")}));
  EXPECT_EQ(t->encode("hello world"), V({tid("hello"), tid(" world")}));
  // "world" without its space: "o r" and "l d" merge, "w or" is no merge.
  EXPECT_EQ(t->encode("world"), V({tid("w"), tid("or"), tid("ld")}));
  // With "e l" first, "el" forms before "ll" and "he", and nothing merges after it.
  nlohmann::json j = mini_json();
  auto& merges = j["model"]["merges"];
  for (size_t i = 0; i < merges.size(); ++i)
    if (merges[i] == "e l") merges.erase(i);
  merges.insert(merges.begin(), "e l");
  EXPECT_EQ(from(j)->encode("hello"), V({tid("h"), tid("el"), tid("l"), tid("o")}));
}

TEST(BpeTokenizer, MergesAsPairsReadLikeStrings) {
  nlohmann::json j = mini_json();
  for (auto& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    m = nlohmann::json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  EXPECT_EQ(from(j)->encode("hello world"), V({tid("hello"), tid(" world")}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  nlohmann::json j = mini_json();
  j["model"]["merges"].erase(j["model"]["merges"].begin() + 3);  // "hell o"
  EXPECT_EQ(from(j)->encode("hello"), V({tid("hell"), tid("o")}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(from(j)->encode("hello"), V({tid("hello")}));
}

TEST(BpeTokenizer, EveryByteRoundTrips) {
  const auto t = from(mini_json());
  std::string all;
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, char(b));
    all += one;
    const V ids = t->encode(one);
    ASSERT_EQ(ids, V({vid(byte_char(uint8_t(b)))})) << "byte " << b;
    EXPECT_EQ(t->decode(ids), one) << "byte " << b;
  }
  EXPECT_EQ(t->decode(t->encode(all)), all);
}

TEST(BpeTokenizer, PreTokenizerContractionsAnyCase) {
  EXPECT_EQ(pieces("it's I'M we'Re they'VE you'll He'D don'T"),
            S({"it", "'s", " I", "'M", " we", "'Re", " they", "'VE", " you", "'ll", " He", "'D",
               " don", "'T"}));
  // Not a contraction: the apostrophe goes with the punctuation alternative.
  EXPECT_EQ(pieces("'x 'lx"), S({"'x", " '", "lx"}));
}

TEST(BpeTokenizer, PreTokenizerLettersTakeOneLeadingNonLetter) {
  EXPECT_EQ(pieces("hello world\tfoo-bar $baz"),
            S({"hello", " world", "\tfoo", "-bar", " $", "baz"}));
  // A line break never leads a word.
  EXPECT_EQ(pieces("a\nb"), S({"a", "\n", "b"}));
}

TEST(BpeTokenizer, PreTokenizerDigitsOneByOne) {
  EXPECT_EQ(pieces("x 2024"), S({"x", " ", "2", "0", "2", "4"}));
  EXPECT_EQ(pieces("\u0663\u0664"), S({"\u0663", "\u0664"}));  // Arabic-Indic digits are \p{N}
}

TEST(BpeTokenizer, PreTokenizerPunctuationRunsKeepTrailingNewlines) {
  EXPECT_EQ(pieces("end.\n\nNext"), S({"end", ".\n\n", "Next"}));
  EXPECT_EQ(pieces("a !?!\r\nb"), S({"a", " !?!\r\n", "b"}));
  EXPECT_EQ(pieces("f(x);"), S({"f", "(x", ");"}));  // "(" leads the letters
}

TEST(BpeTokenizer, PreTokenizerWhitespaceRuns) {
  // \s*[\r\n]+ ends at the run's last line break; \s+(?!\S) leaves one space to the next word.
  EXPECT_EQ(pieces("a  \n\n  b"), S({"a", "  \n\n", " ", " b"}));
  EXPECT_EQ(pieces("a    b"), S({"a", "   ", " b"}));
  EXPECT_EQ(pieces("a   "), S({"a", "   "}));
  EXPECT_EQ(pieces("a \u3000b"), S({"a", " ", "\u3000b"}));  // U+3000 is White_Space
}

TEST(BpeTokenizer, CjkAndEmoji) {
  const auto t = from(mini_json());
  EXPECT_EQ(pieces("日本語のテキスト😀👍"), S({"日本語のテキスト", "😀👍"}));
  EXPECT_EQ(t->encode("日本"), V({tid("日本")}));
  EXPECT_EQ(t->encode("😀"), V({tid("😀")}));
  const std::string mixed = "中文 and 日本語, 한국어 😀👍🏽 Ünïcödé!";
  EXPECT_EQ(t->decode(t->encode(mixed)), mixed);
}

TEST(BpeTokenizer, CombiningMarksUnderNfc) {
  const auto t = from(mini_json());
  EXPECT_EQ(nfc_normalize("e\u0301"), "\u00e9");
  EXPECT_EQ(nfc_normalize("A\u030a \u212b"), "\u00c5 \u00c5");          // and a singleton
  EXPECT_EQ(nfc_normalize("q\u0307\u0323"), "q\u0323\u0307");            // canonical order
  EXPECT_EQ(nfc_normalize("\u1100\u1161\u11a8"), "\uac01");              // Hangul L V T
  EXPECT_EQ(nfc_normalize("\u0958"), "\u0915\u093c");                    // composition exclusion
  EXPECT_TRUE(is_nfc("plain ascii and caf\u00e9"));
  EXPECT_FALSE(is_nfc("cafe\u0301"));
  EXPECT_EQ(t->encode("e\u0301"), V({tid("\u00e9")}));
  EXPECT_EQ(t->encode("e\u0301"), t->encode("\u00e9"));
}

TEST(BpeTokenizer, AddedTokensInTheMiddleOfText) {
  const auto t = from(mini_json());
  EXPECT_EQ(t->encode("hello<chunk>world"),
            V({tid("hello"), added("<chunk>"), tid("w"), tid("or"), tid("ld")}));
  EXPECT_EQ(t->encode("<|endoftext|><tool>"), V({added("<|endoftext|>"), added("<tool>")}));
  // A normalized added token matches the NFC text; a raw one only the raw text.
  EXPECT_EQ(t->encode("cafe\u0301!"), V({added("caf\u00e9"), tid("!")}));
  EXPECT_EQ(t->decode(t->encode("a<summary>b")), "a<summary>b");
  EXPECT_TRUE(t->is_special(added("<chunk>")));
  EXPECT_FALSE(t->is_special(added("<tool>")));
  EXPECT_FALSE(t->is_special(tid("hello")));
}

TEST(BpeTokenizer, DecodeRoundTripsArbitraryUtf8) {
  const auto t = from(mini_json());
  const std::vector<std::string> pool = {"a", "Z", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "7",
                                         "é", "e\u0301", "日", "本", "語", "😀", "👍🏽", "\u3000",
                                         "<chunk>", "<tool>", "café", "hello", "!?", "\u00a0", "ſ"};
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = int(rng() % 16);
    for (int k = 0; k < n; ++k) s += pool[rng() % pool.size()];
    ASSERT_EQ(t->decode(t->encode(s)), nfc_normalize(s)) << s;
  }
  // decode_one pieces concatenate to decode, even mid-character.
  const V ids = t->encode("日本語 😀");
  std::string joined;
  for (uint32_t id : ids) joined += t->decode_one(id);
  EXPECT_EQ(joined, "日本語 😀");
}

// ---- Refusals --------------------------------------------------------------------------------

std::string error_of(const nlohmann::json& j) {
  try {
    from(j);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(BpeTokenizer, RefusesOtherModelTypes) {
  nlohmann::json j = mini_json();
  j["model"]["type"] = "WordPiece";
  EXPECT_EQ(error_of(j), "test.json: model type 'WordPiece' is not supported (only byte-level BPE, as Qwen2's)");
  j["model"]["type"] = "Unigram";
  EXPECT_NE(error_of(j).find("model type 'Unigram'"), std::string::npos);
}

TEST(BpeTokenizer, RefusesPreTokenizersAndNormalizersNotImplemented) {
  nlohmann::json j = mini_json();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(error_of(j).find("pre_tokenizer 'Whitespace' is not implemented"), std::string::npos);
  j = mini_json();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  EXPECT_NE(error_of(j).find("Split pattern is not Qwen2's"), std::string::npos);
  j = mini_json();
  j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  EXPECT_NE(error_of(j).find("add_prefix_space=true"), std::string::npos);
  j = mini_json();
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_EQ(error_of(j), "test.json: normalizer 'NFKC' is not implemented (only NFC or none)");
  j = mini_json();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(error_of(j).find("decoder 'WordPiece'"), std::string::npos);
  j = mini_json();
  j["added_tokens"][0]["lstrip"] = true;
  EXPECT_NE(error_of(j).find("sets lstrip"), std::string::npos);
  j = mini_json();
  j["model"]["dropout"] = 0.1;
  EXPECT_NE(error_of(j).find("dropout"), std::string::npos);
}

TEST(BpeTokenizer, RefusesMalformedJson) {
  try {
    BpeTokenizer::from_json("{\"model\": {\"type\": \"BPE\",", "bad.json");
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: not valid JSON at byte"), std::string::npos) << e.what();
  }
  EXPECT_THROW(BpeTokenizer::from_json("[1, 2]", "x.json"), UserError);
  EXPECT_THROW(BpeTokenizer::load("/nonexistent/tokenizer.json"), UserError);
}

TEST(BpeTokenizer, RefusesMergesNamingUnknownTokens) {
  nlohmann::json j = mini_json();
  j["model"]["merges"].push_back("q zz");
  EXPECT_EQ(error_of(j), "test.json: merge 30 names 'zz', which is not in model.vocab");
  j = mini_json();
  j["model"]["merges"].push_back("q q");  // "qq" is no token
  EXPECT_EQ(error_of(j), "test.json: merge 30 makes 'qq', which is not in model.vocab");
  j = mini_json();
  j["model"]["merges"].push_back("qq");
  EXPECT_NE(error_of(j).find("is not two tokens separated by one space"), std::string::npos);
}

// Every field is read by its type: a wrong type is refused naming the key path, never taken for
// the field's default (a string "ignore_merges" would otherwise switch the option on).
TEST(BpeTokenizer, RefusesFieldsOfTheWrongTypeNamingTheKeyPath) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& j) { j["model"]["ignore_merges"] = "yes"; }, "model.ignore_merges is a string, expected true or false"},
      {[](auto& j) { j["model"]["byte_fallback"] = 0; }, "model.byte_fallback is an integer, expected true or false"},
      {[](auto& j) { j["model"]["unk_token"] = 3; }, "model.unk_token is an integer, expected a string"},
      {[](auto& j) { j["model"]["dropout"] = "0"; }, "model.dropout is a string, expected a number or null"},
      {[](auto& j) { j["model"]["merges"] = {{"a", 1}}; }, "model.merges is an object, expected an array"},
      {[](auto& j) { j["model"]["vocab"] = nlohmann::json::array(); }, "model.vocab is an array, expected an object"},
      {[](auto& j) { j["model"].erase("merges"); }, "model.merges is missing"},
      {[](auto& j) { j["model"]["type"] = 1; }, "model.type is an integer, expected a string"},
      {[](auto& j) { j["model"] = "BPE"; }, "model is a string, expected an object"},
      {[](auto& j) { j["normalizer"] = 1.5; }, "normalizer is a number, expected an object or null"},
      {[](auto& j) { j["normalizer"] = nlohmann::json::object(); }, "normalizer.type is missing"},
      {[](auto& j) { j["decoder"] = true; }, "decoder is a boolean, expected an object or null"},
      {[](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["invert"] = "no"; },
       "pre_tokenizer.pretokenizers[0].invert is a string, expected true or false"},
      {[](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = 7; },
       "pre_tokenizer.pretokenizers[0].pattern.Regex is an integer, expected a string"},
      {[](auto& j) { j["added_tokens"] = {{"a", 1}}; }, "added_tokens is an object, expected an array"},
      {[](auto& j) { j["added_tokens"].push_back(nullptr); }, "added_tokens[12] is null, expected an object"},
      {[](auto& j) { j["added_tokens"][2]["special"] = 1; }, "added_tokens[2].special is an integer, expected true or false"},
      {[](auto& j) { j["added_tokens"][1]["normalized"] = "false"; },
       "added_tokens[1].normalized is a string, expected true or false"},
      {[](auto& j) { j["added_tokens"][0]["rstrip"] = nlohmann::json::array(); },
       "added_tokens[0].rstrip is an array, expected true or false"},
      {[](auto& j) { j["added_tokens"][3]["content"] = 5; }, "added_tokens[3].content is an integer, expected a string"},
      {[](auto& j) { j["added_tokens"][3].erase("id"); }, "added_tokens[3].id is missing"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = mini_json();
    c.edit(j);
    EXPECT_EQ(error_of(j), "test.json: " + c.message);
  }
  // null is how tokenizers writes an unset option: the default.
  nlohmann::json j = mini_json();
  j["model"]["ignore_merges"] = nullptr;
  j["added_tokens"][0]["lstrip"] = nullptr;
  j["normalizer"] = nullptr;
  EXPECT_EQ(error_of(j), "(accepted)");
}

TEST(BpeTokenizer, RefusesIdsOutOfRangeAndTokensSharingAnId) {
  const std::string range = ", expected an integer id from 0 to 16777215";
  nlohmann::json j = mini_json();
  j["model"]["vocab"]["!"] = -1;
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] is -1" + range);
  j["model"]["vocab"]["!"] = 1.5;
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] is 1.5" + range);
  j["model"]["vocab"]["!"] = "0";
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] is a string" + range);
  // A huge id would size the id tables: refused before anything is allocated.
  j["model"]["vocab"]["!"] = uint64_t(1) << 31;
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] is 2147483648" + range);
  j["model"]["vocab"]["!"] = uint64_t(-1);
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] is 18446744073709551615" + range);
  j = mini_json();
  j["added_tokens"][0]["id"] = BpeTokenizer::kMaxIds;
  EXPECT_EQ(error_of(j), "test.json: added_tokens[0].id is 16777216" + range);

  j = mini_json();
  j["model"]["vocab"]["zz"] = j["model"]["vocab"]["!"];
  EXPECT_EQ(error_of(j), "test.json: model.vocab['!'] and model.vocab['zz'] both have id 0");
  j = mini_json();
  j["added_tokens"][0]["id"] = 5;
  EXPECT_EQ(error_of(j), "test.json: added_tokens[0] '<|endoftext|>' has id 5, which model.vocab gives to '&'");
  j = mini_json();
  j["added_tokens"][1]["id"] = j["added_tokens"][0]["id"];
  EXPECT_EQ(error_of(j), "test.json: added_tokens[0] '<|endoftext|>' and added_tokens[1] '<bos>' both have id 286");
  j = mini_json();
  j["added_tokens"][1]["content"] = "<|endoftext|>";
  EXPECT_EQ(error_of(j), "test.json: added_tokens[0] and added_tokens[1] both hold '<|endoftext|>' (ids 286 and 287)");
  // An added token restating a vocabulary token (GPT-2's <|endoftext|>) is the same token.
  j = mini_json();
  j["model"]["vocab"]["<|endoftext|>"] = j["added_tokens"][0]["id"];
  const auto t = from(j);
  EXPECT_EQ(t->encode("<|endoftext|>"), V({286}));
  EXPECT_EQ(t->decode({286}), "<|endoftext|>");
}

TEST(BpeTokenizer, RefusesAVocabularyLackingByteTokensWithoutUnk) {
  nlohmann::json j = mini_json();
  j["model"]["vocab"].erase(byte_char(0));
  j["model"]["vocab"].erase(byte_char(0xFF));
  EXPECT_EQ(error_of(j), "test.json: model.vocab lacks the byte-level token '" + byte_char(0) +
                             "' of byte 0x00 (and 1 more) and there is no unk_token: text holding "
                             "it could not be encoded");
  // With an unknown token those bytes become it, as in tokenizers.
  j["model"]["unk_token"] = "!";
  EXPECT_EQ(from(j)->encode(std::string("a\xFF", 2)), V({tid("a"), tid("!")}));
}

TEST(BpeTokenizer, RefusesDirectoriesAndEmptyFiles) {
  const std::string dir = testing::TempDir() + "tokenizer_dir.json";
  std::filesystem::create_directories(dir);
  auto message = [](const std::string& path) {
    try {
      BpeTokenizer::load(path);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(message(dir), dir + ": is a directory, not a tokenizer.json file");
  EXPECT_THROW(load_tokenizer(dir), UserError);
  const std::string empty = testing::TempDir() + "empty_tokenizer.json";
  std::ofstream(empty).close();
  EXPECT_EQ(message(empty), empty + ": the file is empty (expected a tokenizer.json)");
  std::filesystem::remove(dir);
  std::filesystem::remove(empty);
}

// Every proper prefix of a real file is refused as JSON, never half-loaded.
TEST(BpeTokenizer, RefusesEveryTruncationOfTheFile) {
  const std::string bytes = read_file(kMini);
  for (size_t n = 0; n < bytes.size(); n += 97) {
    try {
      BpeTokenizer::from_json(std::string_view(bytes).substr(0, n), "cut.json");
      ADD_FAILURE() << "a prefix of " << n << " bytes was accepted";
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("cut.json: not valid JSON at byte ", 0), 0u) << e.what();
    }
  }
}

// A megabyte without a pre-tokenizer split is one BPE word: merging it must stay near-linear
// (a rescan per merge would take hours), and it round-trips.
TEST(BpeTokenizer, OneMegabyteWordEncodesQuickly) {
  const auto t = from(mini_json());
  std::string word;
  for (size_t i = 0; word.size() < (1u << 20); ++i) word += "hellowor"[i % 8];
  const auto start = std::chrono::steady_clock::now();
  const V ids = t->encode(word);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(t->decode(ids), word);
  EXPECT_LT(ids.size(), word.size());
  EXPECT_LT(seconds, 10.0);
}

// ---- Tokenizer ------------------------------------------------------------------------------

TEST(Tokenizer, ByteTokenizerIsUnchanged) {
  const Tokenizer t = load_tokenizer("byte");
  EXPECT_TRUE(t.is_byte());
  EXPECT_EQ(t.name(), "byte");
  EXPECT_EQ(t.vocab_size(), ByteTokenizer::kVocabSize);
  EXPECT_EQ(t.id(Special::summary), ByteTokenizer::id(Special::summary));
  EXPECT_EQ(t.encode("hé"), ByteTokenizer().encode("hé"));
  EXPECT_EQ(t.decode({104, 256, 264}), "h<bos><pad>");
  EXPECT_EQ(t.specials(), ByteTokenizer::specials());
}

TEST(Tokenizer, IdentityIsFnv1aOfTheFileBytes) {
  EXPECT_EQ(tokenizer_identity_of_json_bytes(""), "bpe-cbf29ce484222325");
  EXPECT_EQ(tokenizer_identity_of_json_bytes("a"), "bpe-af63dc4c8601ec8c");
  const Tokenizer t = load_tokenizer(kMini);
  EXPECT_EQ(t.name(), tokenizer_identity_of_json_bytes(read_file(kMini)));
}

TEST(Tokenizer, BpeSpecialsAreTheAddedTokensNamedSo) {
  const Tokenizer t = load_tokenizer(kMini);
  EXPECT_FALSE(t.is_byte());
  EXPECT_EQ(t.vocab_size(), 298u);
  EXPECT_EQ(t.id(Special::bos), added("<bos>"));
  EXPECT_EQ(t.id(Special::pad), added("<pad>"));
  ASSERT_EQ(t.specials().size(), kNumSpecials);
  EXPECT_EQ(t.specials()[3], std::make_pair(std::string("<chunk>"), added("<chunk>")));
  EXPECT_TRUE(t.is_special(added("<read>")));
  EXPECT_TRUE(t.is_special(added("<|endoftext|>")));
  EXPECT_FALSE(t.is_special(tid("hello")));
}

TEST(Tokenizer, RefusesAVocabularyWithoutTheSmoothReadingSpecials) {
  nlohmann::json j = mini_json();
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& a : j["added_tokens"])
    if (a["content"] != "<summary>" && a["content"] != "<stop>") kept.push_back(a);
  j["added_tokens"] = kept;
  const std::string path = testing::TempDir() + "no_specials_tokenizer.json";
  std::ofstream(path) << j.dump();
  try {
    load_tokenizer(path);
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": the tokenizer lacks the Smooth Reading special tokens <summary> <stop>; "
                     "import the model with `smoothread ckpt import-hf`, which adds them");
  }
  const Tokenizer lax = load_tokenizer(path, false);
  EXPECT_FALSE(lax.has_specials());
  EXPECT_EQ(lax.specials().size(), kNumSpecials - 2);
  std::remove(path.c_str());
}

TEST(Tokenizer, SamplesAndChunksInBpeTokens) {
  const Tokenizer t = load_tokenizer(kMini);
  ReadingExample ex;
  ex.question = "hello?";
  ex.chunks = {"hello world", "日本"};
  ex.summaries = {"s1", "s2"};
  ex.answer = "world";
  const auto samples = build_samples(ex, TrajectoryFormat::sr, StopPolicy::end, t);
  ASSERT_EQ(samples.size(), 1u);
  V expect = {t.id(Special::bos), t.id(Special::query), tid("hello"), tid("?"),
              t.id(Special::chunk), tid("hello"), tid(" world"), t.id(Special::summary)};
  EXPECT_EQ(V(samples[0].tokens.begin(), samples[0].tokens.begin() + 8), expect);
  EXPECT_EQ(samples[0].tokens.back(), t.id(Special::eos));

  // Every chunk holds at most the budget in tokens (encoded alone), and they cover the text.
  std::string context;
  for (int i = 0; i < 200; ++i) context += i % 7 == 0 ? "日本語 😀. " : "hello world. ";
  ChunkerConfig cfg;
  cfg.tokenizer = &t;
  const auto chunks = chunk_text(context, 24, cfg);
  std::string joined;
  for (const auto& c : chunks) {
    EXPECT_LE(t.encode(c).size(), 24u) << c;
    joined += c;
  }
  EXPECT_EQ(joined, context);
  EXPECT_LT(chunks.size(), context.size() / 24);  // a chunk holds more bytes than tokens
}

// ---- The `tokenizers` library's ids ---------------------------------------------------------

TEST(BpeTokenizer, MatchesHuggingFaceFixture) {
  const std::string dir = std::string(SR_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer";
  if (!std::filesystem::exists(dir + "/expected_ids.json"))
    GTEST_SKIP() << "no fixture at tests/fixtures/hf/tokenizer (made on the GPU host by tools/; "
                    "it holds tokenizer.json, corpus.txt and expected_ids.json)";
  const auto t = BpeTokenizer::load(dir + "/tokenizer.json");
  const nlohmann::json expected = nlohmann::json::parse(read_file(dir + "/expected_ids.json"));
  std::istringstream corpus(read_file(dir + "/corpus.txt"));
  std::string line;
  size_t n = 0, mismatches = 0;
  while (std::getline(corpus, line)) {
    ASSERT_LT(n, expected.size()) << "corpus.txt has more lines than expected_ids.json";
    const V want = expected[n].get<V>();
    const V got = t->encode(line);
    if (got != want && ++mismatches <= 5) ADD_FAILURE() << "line " << n + 1 << ": " << line;
    EXPECT_EQ(t->decode(got), nfc_normalize(line)) << "line " << n + 1;
    ++n;
  }
  EXPECT_EQ(n, expected.size()) << "corpus.txt and expected_ids.json differ in line count";
  EXPECT_EQ(mismatches, 0u);
}

// Texts with \n, \r\n, tabs, indentation, whitespace-only lines and added tokens next to line
// breaks, with the ids `tokenizers` gives them (the corpus test splits at \n and never sees one).
TEST(BpeTokenizer, MatchesHuggingFaceMultilineFixture) {
  const std::string dir = std::string(SR_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer";
  if (!std::filesystem::exists(dir + "/expected_multiline.json"))
    GTEST_SKIP() << "no tests/fixtures/hf/tokenizer/expected_multiline.json (made by tools/make_hf_fixtures.py)";
  const auto t = BpeTokenizer::load(dir + "/tokenizer.json");
  const nlohmann::json cases = nlohmann::json::parse(read_file(dir + "/expected_multiline.json"));
  ASSERT_FALSE(cases.empty());
  size_t with_crlf = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    with_crlf += text.find("\r\n") != std::string::npos;
    const V got = t->encode(text);
    EXPECT_EQ(got, c.at("ids").get<V>()) << text;
    EXPECT_EQ(t->decode(got), nfc_normalize(text)) << text;
  }
  EXPECT_GT(with_crlf, 0u) << "the fixture has no \\r\\n text";
}

}  // namespace
}  // namespace sr
