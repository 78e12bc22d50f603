// Tokenizers. ByteTokenizer: ids 0..255 are the bytes of UTF-8 text, followed by the special
// tokens of the Smooth Reading format; no vocabulary file, any text round-trips. Tokenizer: the
// one the rest of the code takes, either the byte tokenizer or a byte-level BPE loaded from a
// Hugging Face tokenizer.json (dataset/bpe_tokenizer.h).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sr {

class BpeTokenizer;

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
constexpr size_t kNumSpecials = 9;
// "<bos>", "<eos>", ... "<pad>": the tokens' names, and their contents in a tokenizer.json.
const char* special_name(Special s);

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

// The identity recorded in datasets (attribute `tokenizer`) and checkpoints: "byte", or for a
// tokenizer.json "bpe-" + 16 lowercase hex digits of the FNV-1a 64-bit hash of its bytes.
std::string tokenizer_identity_of_json_bytes(std::string_view bytes);

class Tokenizer {
 public:
  // The byte tokenizer.
  Tokenizer();
  // A BPE tokenizer; `identity` as tokenizer_identity_of_json_bytes gives it.
  Tokenizer(std::shared_ptr<const BpeTokenizer> bpe, std::string identity);

  bool is_byte() const { return bpe_ == nullptr; }
  const BpeTokenizer* bpe() const { return bpe_.get(); }
  // The identity ("byte" or "bpe-<hash>").
  const std::string& name() const { return identity_; }
  uint32_t vocab_size() const;

  // Whether every Smooth Reading special token is in the vocabulary (always, for bytes).
  bool has_specials() const { return missing_.empty(); }
  // The names of the special tokens a BPE vocabulary lacks.
  const std::vector<std::string>& missing_specials() const { return missing_; }
  // UserError when a special is missing: "`what`: ... lacks ...; import it with smoothread ckpt
  // import-hf, which adds them".
  void require_specials(const std::string& what) const;
  // Id of a Smooth Reading special (require_specials first: a missing one is an internal error).
  uint32_t id(Special s) const;

  std::vector<uint32_t> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<uint32_t>& out) const;
  std::string decode(const std::vector<uint32_t>& ids) const;
  std::string decode_one(uint32_t id) const;
  // A Smooth Reading special, or (BPE) an added token marked special.
  bool is_special(uint32_t id) const;
  // Name and id of each Smooth Reading special present, for dataset attributes.
  std::vector<std::pair<std::string, uint32_t>> specials() const;

 private:
  std::shared_ptr<const BpeTokenizer> bpe_;
  std::string identity_ = "byte";
  std::array<uint32_t, kNumSpecials> special_ids_{};
  std::vector<std::string> missing_;
};

// "byte" (or an empty string): the byte tokenizer; otherwise the path of a tokenizer.json.
// With require_specials, a vocabulary lacking a Smooth Reading special is a UserError.
Tokenizer load_tokenizer(const std::string& spec, bool require_specials = true);
// The same from a tokenizer.json's bytes (e.g. a checkpoint's, held in memory); `where` names
// it in messages.
Tokenizer tokenizer_from_json(std::string_view bytes, const std::string& where, bool require_specials = true);

}  // namespace sr
