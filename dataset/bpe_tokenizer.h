// Qwen2's byte-level BPE tokenizer, loaded from a Hugging Face tokenizer.json, giving the ids
// the `tokenizers` library gives with add_special_tokens=False:
//
//   1. added tokens (special or not) are split out of the text first: those with
//      "normalized": false on the raw text, then those with "normalized": true on the NFC text,
//      leftmost-longest, as tokenizers' AddedVocabulary does;
//   2. normalizer NFC (generated Unicode tables; already-NFC text is passed through untouched);
//   3. pre-tokenizer Split(Qwen2's regex, Isolated), matched by hand over code points (see
//      pretokenize()), then ByteLevel (bytes -> GPT-2's printable characters, no regex);
//   4. BPE merges by rank on each piece (lowest rank first, leftmost first), with a per-thread
//      cache of recent pieces, and the model's ignore_merges;
//   5. decoding through the ByteLevel decoder: each token's characters back to bytes (an added
//      token decodes to its content as written, so that any text round-trips).
//
// Anything else in a tokenizer.json (another model type, normalizer, pre-tokenizer or decoder,
// dropout, subword prefixes, byte fallback, stripped added tokens) is refused with a UserError
// naming the file, rather than tokenized differently from the library.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sr {

// Qwen2's pre-tokenizer pattern, the only one implemented.
extern const char* const kQwen2SplitPattern;

// NFC of UTF-8 text. Invalid UTF-8 bytes are kept as they are (they never compose).
std::string nfc_normalize(std::string_view text);
// True when nfc_normalize(text) == text, decided by the quick check alone where it can.
bool is_nfc(std::string_view text);

// Qwen2's pre-tokenizer split: the byte ranges [begin, end) of the pieces of `text`, which
// cover it in order. Invalid UTF-8 bytes count as punctuation, one byte each.
std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text);

// The bytes of a tokenizer.json; UserError naming the path for a missing, unreadable or empty
// file or a directory.
std::string read_tokenizer_file(const std::string& path);

class BpeTokenizer {
 public:
  // Ids (model vocabulary and added tokens) are below this: each id up to the largest has a
  // table entry, so a stray huge id would otherwise allocate gigabytes. Real vocabularies have
  // at most a few hundred thousand ids.
  static constexpr uint32_t kMaxIds = uint32_t(1) << 24;
  struct AddedToken {
    uint32_t id = 0;
    std::string content;
    bool special = false;
    bool normalized = false;
  };

  // UserError "FILE: <what is wrong>" for an unreadable file, malformed JSON, a field of the
  // wrong type (named by its key path), ids of kMaxIds or more, two tokens on one id, an added
  // token on the id of another vocabulary token, a vocabulary lacking byte tokens without an
  // unk_token, or anything not implemented (see the file comment).
  static std::shared_ptr<const BpeTokenizer> load(const std::string& path);
  // The same from the file's bytes; `where` names it in messages.
  static std::shared_ptr<const BpeTokenizer> from_json(std::string_view json_bytes,
                                                       const std::string& where);

  // Largest id (model vocabulary or added token) + 1.
  uint32_t vocab_size() const { return vocab_size_; }
  void encode_append(std::string_view text, std::vector<uint32_t>& out) const;
  std::vector<uint32_t> encode(std::string_view text) const;
  // The bytes of the tokens concatenated: the ByteLevel decoder for the model's tokens, the
  // content as written for an added token.
  // Invalid UTF-8 is returned as is, so decoding token by token gives the same bytes.
  std::string decode(const std::vector<uint32_t>& ids) const;
  // One token's bytes; ids no token has give "<unk:ID>".
  std::string decode_one(uint32_t id) const;

  const std::vector<AddedToken>& added_tokens() const { return added_; }
  std::optional<uint32_t> added_token_id(std::string_view content) const;
  bool is_special(uint32_t id) const;
  bool ignore_merges() const { return ignore_merges_; }

  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;
  ~BpeTokenizer();

 private:
  BpeTokenizer();
  struct Matcher;  // the added tokens of one kind (raw or normalized), by first byte
  void encode_normalized(std::string_view text, std::vector<uint32_t>& out) const;
  void encode_pieces(std::string_view text, std::vector<uint32_t>& out) const;
  void bpe_piece(std::string_view piece, std::vector<uint32_t>& out) const;
  void merge_word(std::string_view piece, std::vector<uint32_t>& out) const;

  uint32_t vocab_size_ = 0;
  uint64_t serial_ = 0;  // tells one tokenizer's cache entries from another's
  bool normalize_nfc_ = false;
  bool ignore_merges_ = false;
  std::optional<uint32_t> unk_id_;
  std::array<uint32_t, 256> byte_id_{};  // the token of each byte's character; kNone if absent
  // (left id << 32 | right id) -> (rank << 32 | merged id)
  std::unordered_map<uint64_t, uint64_t> merges_;
  // Token bytes -> id, for ignore_merges.
  std::unordered_map<std::string, uint32_t> by_bytes_;
  std::vector<std::string> decoded_;  // [vocab_size] bytes of each id
  std::vector<uint8_t> has_token_;    // [vocab_size]
  std::vector<uint8_t> special_;      // [vocab_size]
  std::vector<AddedToken> added_;
  std::unique_ptr<Matcher> raw_added_, normalized_added_;
};

}  // namespace sr
