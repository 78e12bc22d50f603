#include "dataset/tokenizer.h"

namespace sr {

namespace {
const char* const kSpecialNames[] = {"<bos>",  "<eos>", "<query>", "<chunk>", "<summary>",
                                     "<read>", "<stop>", "<answer>", "<pad>"};
}

void ByteTokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  out.reserve(out.size() + text.size());
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

}  // namespace sr
