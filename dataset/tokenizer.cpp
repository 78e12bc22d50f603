#include "dataset/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "dataset/bpe_tokenizer.h"

namespace sr {

namespace {
const char* const kSpecialNames[kNumSpecials] = {"<bos>",  "<eos>",  "<query>",  "<chunk>", "<summary>",
                                                 "<read>", "<stop>", "<answer>", "<pad>"};
}

const char* special_name(Special s) {
  return kSpecialNames[uint32_t(s) - ByteTokenizer::kFirstSpecial];
}

void ByteTokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  // Growing by at least doubling: reserving the exact size on every append would copy the
  // whole vector each time a sample is built from many short texts.
  if (out.capacity() < out.size() + text.size())
    out.reserve(std::max(out.size() + text.size(), 2 * out.capacity()));
  for (unsigned char c : text) out.push_back(c);
}

std::vector<uint32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  encode_append(text, out);
  return out;
}

std::string ByteTokenizer::decode_one(uint32_t id) const {
  if (id < kFirstSpecial) return std::string(1, char(id));
  if (id < kVocabSize) return kSpecialNames[id - kFirstSpecial];
  return "<unk:" + std::to_string(id) + ">";
}

std::string ByteTokenizer::decode(const std::vector<uint32_t>& ids) const {
  std::string s;
  for (uint32_t id : ids) s += decode_one(id);
  return s;
}

std::vector<std::pair<std::string, uint32_t>> ByteTokenizer::specials() {
  std::vector<std::pair<std::string, uint32_t>> out;
  for (uint32_t id = kFirstSpecial; id < kVocabSize; ++id)
    out.emplace_back(kSpecialNames[id - kFirstSpecial], id);
  return out;
}

std::string tokenizer_identity_of_json_bytes(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "bpe-%016llx", (unsigned long long)h);
  return buf;
}

Tokenizer::Tokenizer() {
  for (size_t i = 0; i < kNumSpecials; ++i) special_ids_[i] = ByteTokenizer::kFirstSpecial + uint32_t(i);
}

Tokenizer::Tokenizer(std::shared_ptr<const BpeTokenizer> bpe, std::string identity)
    : bpe_(std::move(bpe)), identity_(std::move(identity)) {
  SR_ASSERT(bpe_ != nullptr, "Tokenizer without a BPE model");
  for (size_t i = 0; i < kNumSpecials; ++i) {
    const auto id = bpe_->added_token_id(kSpecialNames[i]);
    if (id) special_ids_[i] = *id;
    else missing_.push_back(kSpecialNames[i]);
  }
}

uint32_t Tokenizer::vocab_size() const {
  return bpe_ ? bpe_->vocab_size() : ByteTokenizer::kVocabSize;
}

void Tokenizer::require_specials(const std::string& what) const {
  if (missing_.empty()) return;
  std::string list;
  for (const auto& m : missing_) list += (list.empty() ? "" : " ") + m;
  throw UserError(what + ": the tokenizer lacks the Smooth Reading special tokens " + list +
                  "; import the model with `smoothread ckpt import-hf`, which adds them");
}

uint32_t Tokenizer::id(Special s) const {
  const size_t i = uint32_t(s) - ByteTokenizer::kFirstSpecial;
  SR_ASSERT(i < kNumSpecials, "special token index");
  SR_ASSERT(bpe_ == nullptr || missing_.empty(),
            std::string("special token ") + kSpecialNames[i] + " asked of a tokenizer that lacks it");
  return special_ids_[i];
}

void Tokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  if (bpe_) bpe_->encode_append(text, out);
  else ByteTokenizer().encode_append(text, out);
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  encode_append(text, out);
  return out;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids) const {
  return bpe_ ? bpe_->decode(ids) : ByteTokenizer().decode(ids);
}

std::string Tokenizer::decode_one(uint32_t id) const {
  return bpe_ ? bpe_->decode_one(id) : ByteTokenizer().decode_one(id);
}

bool Tokenizer::is_special(uint32_t id) const {
  if (!bpe_) return ByteTokenizer::is_special(id);
  if (bpe_->is_special(id)) return true;
  for (size_t i = 0; i < kNumSpecials; ++i)
    if (special_ids_[i] == id && std::find(missing_.begin(), missing_.end(), kSpecialNames[i]) == missing_.end())
      return true;
  return false;
}

std::vector<std::pair<std::string, uint32_t>> Tokenizer::specials() const {
  std::vector<std::pair<std::string, uint32_t>> out;
  for (size_t i = 0; i < kNumSpecials; ++i)
    if (!bpe_ || std::find(missing_.begin(), missing_.end(), kSpecialNames[i]) == missing_.end())
      out.emplace_back(kSpecialNames[i], special_ids_[i]);
  return out;
}

Tokenizer load_tokenizer(const std::string& spec, bool require_specials) {
  if (spec.empty() || spec == "byte") return Tokenizer();
  std::error_code ec;
  if (!std::filesystem::exists(spec, ec))
    throw UserError(spec + ": cannot open the tokenizer file (expected a tokenizer.json or 'byte')");
  return tokenizer_from_json(read_tokenizer_file(spec), spec, require_specials);
}

Tokenizer tokenizer_from_json(std::string_view bytes, const std::string& where, bool require_specials) {
  Tokenizer t(BpeTokenizer::from_json(bytes, where), tokenizer_identity_of_json_bytes(bytes));
  if (require_specials) t.require_specials(where);
  return t;
}

}  // namespace sr
