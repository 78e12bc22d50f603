// The token dataset file (docs/formats.md): /tokens uint32[n_tokens], /loss_mask uint8[n_tokens],
// /offsets uint64[n_samples + 1], and attributes (format, version, vocab_size, tokenizer,
// special token ids, provenance). Written through the HDF5 C API, readable by h5py.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataset/tokenizer.h"

namespace sr {

constexpr const char* kTokenFormat = "smoothread-tokens";
constexpr int kTokenFormatVersion = 1;
// Special token ids are attributes named this prefix + the token, e.g. "token_id.<bos>" = 256.
constexpr const char* kSpecialTokenAttrPrefix = "token_id.";

// Writes to `path + ".tmp"` and renames on close(), so a crash never leaves a half file under
// the real name and an existing file is replaced only by a complete one.
class TokenDatasetWriter {
 public:
  // `tokenizer` names the tokenizer (attribute `tokenizer`); for "byte" the byte tokenizer's
  // special ids are recorded too.
  TokenDatasetWriter(const std::string& path, uint32_t vocab_size, const std::string& tokenizer,
                     bool compress = true);
  // In `tokenizer`'s vocabulary: its identity, vocab_size and special token ids.
  TokenDatasetWriter(const std::string& path, const Tokenizer& tokenizer, bool compress = true);
  ~TokenDatasetWriter();  // without close(): removes the temporary file
  TokenDatasetWriter(const TokenDatasetWriter&) = delete;
  TokenDatasetWriter& operator=(const TokenDatasetWriter&) = delete;

  // Provenance attributes (source, chunk sizes, task mix, ...), stored as strings.
  void set_attribute(const std::string& key, const std::string& value);
  // One sample; loss_mask.size() == tokens.size(); every id < vocab_size.
  void add_sample(const std::vector<uint32_t>& tokens, const std::vector<uint8_t>& loss_mask);
  void close();

  uint64_t num_samples() const;
  uint64_t num_tokens() const;

 private:
  TokenDatasetWriter(const std::string& path, uint32_t vocab_size, const std::string& tokenizer,
                     const std::vector<std::pair<std::string, uint32_t>>& specials, bool compress);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens and validates a dataset (UserError naming the file and what is wrong).
class TokenDataset {
 public:
  explicit TokenDataset(const std::string& path);
  ~TokenDataset();
  TokenDataset(TokenDataset&&) noexcept;

  const std::string& path() const;
  uint64_t num_samples() const;
  uint64_t num_tokens() const;
  uint32_t vocab_size() const;
  std::string tokenizer() const;
  // Every attribute as a string (numbers printed), for `data inspect` and provenance.
  std::map<std::string, std::string> attributes() const;
  // offsets()[i] .. offsets()[i+1] is sample i; size num_samples() + 1.
  const std::vector<uint64_t>& offsets() const;
  uint64_t sample_length(uint64_t i) const;
  // Reads sample i; ids >= vocab_size are a UserError naming the file and sample.
  void read_sample(uint64_t i, std::vector<uint32_t>& tokens, std::vector<uint8_t>& loss_mask) const;
  // Reads tokens [first, first + count) across sample boundaries (streaming over a whole file);
  // the same id check, naming the sample that holds a bad id.
  void read_range(uint64_t first, uint64_t count, std::vector<uint32_t>& tokens,
                  std::vector<uint8_t>& loss_mask) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sr
