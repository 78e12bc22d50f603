// Byte-level tokenizer: ids 0..255 are the bytes of UTF-8 text, followed by the special tokens
// of the Smooth Reading format. No vocabulary file and no download; any text round-trips.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sr {

enum class Special : uint32_t {
  bos = 256,
  eos,
  query,
  chunk,
  summary,
  read,
  stop,
  answer,
  pad,
};

class ByteTokenizer {
 public:
  static constexpr uint32_t kFirstSpecial = 256;
  static constexpr uint32_t kVocabSize = uint32_t(Special::pad) + 1;  // 265

  static const char* name() { return "byte"; }
  uint32_t vocab_size() const { return kVocabSize; }
  static uint32_t id(Special s) { return uint32_t(s); }

  std::vector<uint32_t> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<uint32_t>& out) const;
  // Specials are written as their names, e.g. "<summary>".
  std::string decode(const std::vector<uint32_t>& ids) const;
  std::string decode_one(uint32_t id) const;
  static bool is_special(uint32_t id) { return id >= kFirstSpecial; }

  // Name and id of every special token, for dataset attributes and `data inspect`.
  static std::vector<std::pair<std::string, uint32_t>> specials();
};

}  // namespace sr
