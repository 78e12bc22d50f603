#include "dataset/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "core/error.h"
#include "dataset/unicode_tables.h"

namespace sr {

const char* const kQwen2SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
// An invalid UTF-8 byte b decodes to kInvalidBase | b: no Unicode property, never composes, and
// is written back as the byte itself.
constexpr uint32_t kInvalidBase = 0x80000000u;

// Decodes one code point at s[0..n) (n >= 1); `len` gets its byte length.
inline uint32_t decode_utf8(const unsigned char* s, size_t n, size_t& len) {
  const unsigned c = s[0];
  if (c < 0x80) return len = 1, c;
  if (c >= 0xC2 && c < 0xE0 && n >= 2 && (s[1] & 0xC0) == 0x80)
    return len = 2, ((c & 0x1F) << 6) | (s[1] & 0x3F);
  if (c >= 0xE0 && c < 0xF0 && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
    const uint32_t cp = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return len = 3, cp;
  }
  if (c >= 0xF0 && c < 0xF5 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
      (s[3] & 0xC0) == 0x80) {
    const uint32_t cp =
        ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (cp >= 0x10000 && cp <= 0x10FFFF) return len = 4, cp;
  }
  return len = 1, kInvalidBase | c;
}

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp & kInvalidBase) {
    out += char(cp & 0xFF);
  } else if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

inline uint8_t props_of(uint32_t cp) { return (cp & kInvalidBase) ? 0 : unicode::props(cp); }
inline uint8_t ccc_of(uint32_t cp) { return (cp & kInvalidBase) ? 0 : unicode::combining_class(cp); }

// ---- NFC -------------------------------------------------------------------------------------

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

void decompose_into(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (!(cp & kInvalidBase) && (unicode::props(cp) & unicode::kNfcUnsafe)) {
    size_t count = 0;
    const unicode::Decomposition* d = unicode::decompositions(&count);
    const unicode::Decomposition* e = d + count;
    const auto* it = std::lower_bound(d, e, cp, [](const unicode::Decomposition& x, uint32_t v) {
      return x.cp < v;
    });
    if (it != e && it->cp == cp) {
      const uint32_t* data = unicode::decomposition_data() + it->offset;
      out.insert(out.end(), data, data + it->length);
      return;
    }
  }
  out.push_back(cp);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  if ((a | b) & kInvalidBase) return 0;
  size_t count = 0;
  const unicode::Composition* c = unicode::compositions(&count);
  const uint64_t key = (uint64_t(a) << 21) | b;
  const auto* it = std::lower_bound(c, c + count, key, [](const unicode::Composition& x, uint64_t v) {
    return x.key < v;
  });
  return it != c + count && it->key == key ? it->composite : 0;
}

// Byte offset of the first place the quick check cannot pass, or npos when `text` is NFC.
size_t first_nfc_problem(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  uint8_t last_ccc = 0;
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      last_ccc = 0;
      ++i;
      continue;
    }
    size_t len = 0;
    const uint32_t cp = decode_utf8(s + i, n - i, len);
    if (!(cp & kInvalidBase)) {
      if (unicode::props(cp) & unicode::kNfcUnsafe) return i;
      const uint8_t ccc = unicode::combining_class(cp);
      if (ccc != 0 && last_ccc > ccc) return i;
      last_ccc = ccc;
    } else {
      last_ccc = 0;
    }
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

bool is_nfc(std::string_view text) {
  if (first_nfc_problem(text) == std::string_view::npos) return true;
  return nfc_normalize(text) == text;
}

std::string nfc_normalize(std::string_view text) {
  size_t problem = first_nfc_problem(text);
  if (problem == std::string_view::npos) return std::string(text);
  // Normalise from the last starter before the problem: everything before it is NFC and cannot
  // interact with what follows.
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t start = problem;
  while (start > 0) {
    size_t b = start - 1;
    while (b > 0 && (s[b] & 0xC0) == 0x80 && start - b < 4) --b;
    size_t len = 0;
    const uint32_t cp = decode_utf8(s + b, text.size() - b, len);
    if (b + len != start) {  // not one whole character: treat the byte alone as a boundary
      start = start - 1;
      break;
    }
    start = b;
    if (ccc_of(cp) == 0) break;
  }
  std::vector<uint32_t> d;
  d.reserve(text.size() - start);
  for (size_t i = start; i < text.size();) {
    size_t len = 0;
    const uint32_t cp = decode_utf8(s + i, text.size() - i, len);
    decompose_into(cp, d);
    i += len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (ccc_of(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && ccc_of(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + std::ptrdiff_t(i), d.begin() + std::ptrdiff_t(j),
                     [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> c;
  c.reserve(d.size());
  ptrdiff_t starter = -1;
  int last_cc = -1;  // class of the last character kept after the starter; -1: none yet
  for (uint32_t ch : d) {
    const int cc = ccc_of(ch);
    if (starter >= 0 && (last_cc == -1 || (last_cc != 0 && last_cc < cc))) {
      if (const uint32_t comp = compose_pair(c[size_t(starter)], ch)) {
        c[size_t(starter)] = comp;
        continue;
      }
    }
    if (cc == 0) {
      starter = ptrdiff_t(c.size());
      last_cc = -1;
    } else {
      last_cc = cc;
    }
    c.push_back(ch);
  }
  std::string out(text.substr(0, start));
  out.reserve(text.size() + 8);
  for (uint32_t ch : c) append_utf8(out, ch);
  return out;
}

// ---- Pre-tokenizer --------------------------------------------------------------------------

namespace {

constexpr uint8_t kL = unicode::kLetter, kN = unicode::kNumber, kW = unicode::kWhite;
constexpr uint8_t kCrLf = 16;

struct CodePoint {
  uint32_t cp;
  uint32_t offset;  // byte offset in the segment
  uint8_t cls;      // kL | kN | kW | kCrLf bits
};

struct AsciiClasses {
  uint8_t cls[128];
  AsciiClasses() {
    for (uint32_t c = 0; c < 128; ++c) cls[c] = unicode::props(c) & (kL | kN | kW);
    cls[uint8_t('\r')] |= kCrLf;
    cls[uint8_t('\n')] |= kCrLf;
  }
};

void decode_classes(std::string_view text, std::vector<CodePoint>& cps) {
  static const AsciiClasses ascii;
  cps.clear();
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      cps.push_back({s[i], uint32_t(i), ascii.cls[s[i]]});
      ++i;
      continue;
    }
    size_t len = 0;
    const uint32_t cp = decode_utf8(s + i, n - i, len);
    cps.push_back({cp, uint32_t(i), uint8_t(props_of(cp) & (kL | kN | kW))});
    i += len;
  }
}

inline uint32_t fold_ascii(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';  // LATIN SMALL LETTER LONG S case-folds to 's'
  return cp;
}

// End (code point index) of the match of Qwen2's pattern starting at i < n. The alternatives
// are tried in the pattern's order, each with the backtracking a regex engine would do; every
// code point is matched by some alternative, so pieces cover the text.
size_t match_at(const CodePoint* c, size_t n, size_t i) {
  auto has = [&](size_t k, uint8_t bits) { return k < n && (c[k].cls & bits); };
  auto punct = [&](size_t k) { return k < n && !(c[k].cls & (kL | kN | kW)); };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (c[i].cp == '\'' && i + 1 < n) {
    const uint32_t a = fold_ascii(c[i + 1].cp);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      const uint32_t b = fold_ascii(c[i + 2].cp);
      if ((a == 'r' || a == 'v') && b == 'e') return i + 3;
      if (a == 'l' && b == 'l') return i + 3;
    }
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t k = i;
    if (!(c[i].cls & (kL | kN | kCrLf)) && has(i + 1, kL)) k = i + 1;
    if (c[k].cls & kL) {
      size_t j = k + 1;
      while (has(j, kL)) ++j;
      return j;
    }
  }
  // \p{N}
  if (c[i].cls & kN) return i + 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  {
    size_t k = i;
    if (c[i].cp == ' ' && punct(i + 1)) k = i + 1;
    if (punct(k)) {
      size_t j = k + 1;
      while (punct(j)) ++j;
      while (has(j, kCrLf)) ++j;
      return j;
    }
  }
  // What is left starts with whitespace.
  size_t j = i;
  while (has(j, kW)) ++j;
  // \s*[\r\n]+ : the whitespace up to the last line break in the run.
  for (size_t k = j; k > i; --k)
    if (c[k - 1].cls & kCrLf) return k;
  // \s+(?!\S) : the run, less its last character when a non-space follows.
  if (j == n) return j;
  if (j - 1 > i) return j - 1;
  // \s+
  return j;
}

template <class F>
void for_each_piece(std::string_view text, std::vector<CodePoint>& cps, F&& f) {
  decode_classes(text, cps);
  const size_t n = cps.size();
  for (size_t i = 0; i < n;) {
    const size_t j = match_at(cps.data(), n, i);
    const size_t b = cps[i].offset, e = j < n ? cps[j].offset : text.size();
    f(b, e);
    i = j;
  }
}

}  // namespace

std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text) {
  std::vector<CodePoint> cps;
  std::vector<std::pair<size_t, size_t>> out;
  for_each_piece(text, cps, [&](size_t b, size_t e) { out.emplace_back(b, e); });
  return out;
}

// ---- Byte-level map -------------------------------------------------------------------------

namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to 256 + n.
struct ByteMap {
  uint32_t to_cp[256];
  int16_t to_byte[512];
  ByteMap() {
    std::fill(std::begin(to_byte), std::end(to_byte), int16_t(-1));
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? b : 256 + n++;
      to_byte[to_cp[b]] = int16_t(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// The ByteLevel decoder on one token: each character back to its byte; a token holding a
// character outside the map is its own UTF-8 bytes.
std::string token_to_bytes(const std::string& token, bool* all_mapped = nullptr) {
  const ByteMap& m = byte_map();
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(token.data());
  for (size_t i = 0; i < token.size();) {
    size_t len = 0;
    const uint32_t cp = decode_utf8(s + i, token.size() - i, len);
    if (cp >= 512 || m.to_byte[cp] < 0) {
      if (all_mapped) *all_mapped = false;
      return token;
    }
    out += char(m.to_byte[cp]);
    i += len;
  }
  if (all_mapped) *all_mapped = true;
  return out;
}

std::string byte_char(uint8_t b) {
  std::string s;
  append_utf8(s, byte_map().to_cp[b]);
  return s;
}

}  // namespace

// ---- Added tokens ---------------------------------------------------------------------------

struct BpeTokenizer::Matcher {
  // Patterns by first byte, longest first: the first that matches at a position is the
  // leftmost-longest match there.
  std::array<std::vector<std::pair<std::string, uint32_t>>, 256> by_first;
  bool any = false;

  void add(const std::string& content, uint32_t id) {
    if (content.empty()) return;
    auto& v = by_first[uint8_t(content[0])];
    for (auto& p : v)
      if (p.first == content) return;  // the first token with this content wins
    v.emplace_back(content, id);
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    any = true;
  }

  // Calls text(segment) for the text between tokens and token(id) for each token, in order.
  template <class T, class K>
  void split(std::string_view s, T&& text, K&& token) const {
    if (!any) {
      if (!s.empty()) text(s);
      return;
    }
    size_t begin = 0;
    for (size_t i = 0; i < s.size();) {
      const auto& v = by_first[uint8_t(s[i])];
      bool hit = false;
      for (const auto& [pattern, id] : v) {
        if (s.size() - i >= pattern.size() && std::memcmp(s.data() + i, pattern.data(), pattern.size()) == 0) {
          if (i > begin) text(s.substr(begin, i - begin));
          token(id);
          i += pattern.size();
          begin = i;
          hit = true;
          break;
        }
      }
      if (!hit) ++i;
    }
    if (begin < s.size()) text(s.substr(begin));
  }
};

// ---- Loading --------------------------------------------------------------------------------

namespace {

std::atomic<uint64_t> g_serial{1};

// nlohmann::json (sorted std::map objects) rather than the project's ordered Json: a vocabulary
// of 150k entries would be inserted one linear search at a time into an ordered object.
using TJson = nlohmann::json;

const char* kind_of(const TJson& v) {
  switch (v.type()) {
    case TJson::value_t::null: return "null";
    case TJson::value_t::boolean: return "a boolean";
    case TJson::value_t::number_integer:
    case TJson::value_t::number_unsigned: return "an integer";
    case TJson::value_t::number_float: return "a number";
    case TJson::value_t::string: return "a string";
    case TJson::value_t::array: return "an array";
    case TJson::value_t::object: return "an object";
    default: return "a binary value";
  }
}

// Typed reads of the file's fields, so that a field of the wrong type is refused naming its key
// path (e.g. "added_tokens[2].special is a string, expected true or false") instead of being
// taken for its default. tokenizers writes null for unset options: null reads as absent.
struct Fields {
  const std::string& where;

  [[noreturn]] void fail(const std::string& what) const { throw UserError(where + ": " + what); }
  [[noreturn]] void wrong(const std::string& path, const TJson& v, const char* expected) const {
    fail(path + " is " + kind_of(v) + ", expected " + expected);
  }
  // The member, or nullptr when it is absent or null.
  static const TJson* get(const TJson& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  bool flag(const TJson& obj, const std::string& path, const char* key, bool dflt) const {
    const TJson* v = get(obj, key);
    if (!v) return dflt;
    if (!v->is_boolean()) wrong(path + key, *v, "true or false");
    return v->get<bool>();
  }
  std::optional<std::string> text(const TJson& obj, const std::string& path, const char* key) const {
    const TJson* v = get(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) wrong(path + key, *v, "a string");
    return v->get<std::string>();
  }
  const TJson& object(const TJson& obj, const std::string& path, const char* key) const {
    const TJson* v = get(obj, key);
    if (!v) fail(path + key + " is missing");
    if (!v->is_object()) wrong(path + key, *v, "an object");
    return *v;
  }
  const TJson& array(const TJson& obj, const std::string& path, const char* key) const {
    const TJson* v = get(obj, key);
    if (!v) fail(path + key + " is missing");
    if (!v->is_array()) wrong(path + key, *v, "an array");
    return *v;
  }
  // The "type" of a component (an object at `path`); "null" when the component is absent or null.
  std::string type_at(const TJson* v, const std::string& path) const {
    if (!v || v->is_null()) return "null";
    if (!v->is_object()) wrong(path, *v, "an object or null");
    const TJson* t = get(*v, "type");
    if (!t) fail(path + ".type is missing");
    if (!t->is_string()) wrong(path + ".type", *t, "a string");
    return t->get<std::string>();
  }
  std::string type(const TJson& obj, const std::string& path, const char* key) const {
    return type_at(get(obj, key), path + key);
  }
  uint32_t id(const TJson& v, const std::string& path) const {
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() >= BpeTokenizer::kMaxIds
                                                          : v.get<int64_t>() < 0 ||
                                                                v.get<int64_t>() >= int64_t(BpeTokenizer::kMaxIds)))
      fail(path + " is " + (v.is_number() ? v.dump() : std::string(kind_of(v))) + ", expected an integer id from 0 to " +
           std::to_string(BpeTokenizer::kMaxIds - 1));
    return uint32_t(v.get<uint64_t>());
  }
};

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

void check_pre_tokenizer(const Fields& f, const TJson& j) {
  const std::string expect =
      "a Sequence of Split(Qwen2's pattern, Isolated) and ByteLevel(add_prefix_space=false, "
      "use_regex=false)";
  const std::string type = f.type(j, "", "pre_tokenizer");
  if (type != "Sequence")
    f.fail("pre_tokenizer '" + type + "' is not implemented (expected " + expect + ")");
  const TJson& pt = j["pre_tokenizer"];
  const TJson& seq = f.array(pt, "pre_tokenizer.", "pretokenizers");
  if (seq.size() != 2)
    f.fail("pre_tokenizer Sequence of " + std::to_string(seq.size()) + " steps is not implemented (expected " +
           expect + ")");
  const std::string p0 = "pre_tokenizer.pretokenizers[0].", p1 = "pre_tokenizer.pretokenizers[1].";
  const TJson& split = seq[0];
  const TJson& bl = seq[1];
  const std::string t0 = f.type_at(&split, "pre_tokenizer.pretokenizers[0]"),
                    t1 = f.type_at(&bl, "pre_tokenizer.pretokenizers[1]");
  if (t0 != "Split" || t1 != "ByteLevel")
    f.fail("pre_tokenizer Sequence of " + t0 + " and " + t1 + " is not implemented (expected " + expect + ")");
  const TJson* pattern = Fields::get(split, "pattern");
  const std::optional<std::string> regex = pattern ? f.text(*pattern, p0 + "pattern.", "Regex") : std::nullopt;
  if (!regex || *regex != kQwen2SplitPattern)
    f.fail("pre_tokenizer Split pattern is not Qwen2's (only that pattern is implemented)");
  if (f.text(split, p0, "behavior").value_or("") != "Isolated")
    f.fail("pre_tokenizer Split behavior is not Isolated (only Isolated is implemented)");
  if (f.flag(split, p0, "invert", false)) f.fail("pre_tokenizer Split with invert=true is not implemented");
  if (f.flag(bl, p1, "add_prefix_space", false))
    f.fail("pre_tokenizer ByteLevel with add_prefix_space=true is not implemented");
  if (f.flag(bl, p1, "use_regex", false)) f.fail("pre_tokenizer ByteLevel with use_regex=true is not implemented");
}

bool check_normalizer(const Fields& f, const TJson& j) {
  const std::string type = f.type(j, "", "normalizer");
  if (type == "null") return false;
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const TJson& seq = f.array(j["normalizer"], "normalizer.", "normalizers");
    if (seq.empty()) return false;
    if (seq.size() == 1 && f.type_at(&seq[0], "normalizer.normalizers[0]") == "NFC") return true;
    f.fail("normalizer Sequence of " + std::to_string(seq.size()) + " steps is not implemented (only NFC or none)");
  }
  f.fail("normalizer '" + type + "' is not implemented (only NFC or none)");
}

}  // namespace

BpeTokenizer::BpeTokenizer() = default;
BpeTokenizer::~BpeTokenizer() = default;

std::string read_tokenizer_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw UserError(path + ": cannot open the tokenizer file (" + (ec ? ec.message() : "no such file") + ")");
  if (std::filesystem::is_directory(st)) throw UserError(path + ": is a directory, not a tokenizer.json file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open the tokenizer file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw UserError(path + ": read error");
  std::string bytes = ss.str();
  if (bytes.empty()) throw UserError(path + ": the file is empty (expected a tokenizer.json)");
  return bytes;
}

std::shared_ptr<const BpeTokenizer> BpeTokenizer::load(const std::string& path) {
  return from_json(read_tokenizer_file(path), path);
}

std::shared_ptr<const BpeTokenizer> BpeTokenizer::from_json(std::string_view bytes,
                                                            const std::string& where) {
  const Fields f{where};
  TJson j;
  try {
    j = TJson::parse(bytes.begin(), bytes.end());
  } catch (const TJson::parse_error& e) {
    f.fail("not valid JSON at byte " + std::to_string(e.byte) + " (expected a tokenizer.json)");
  }
  if (!j.is_object()) f.fail("not a tokenizer.json (the top level is not an object)");
  if (!Fields::get(j, "model")) f.fail("not a tokenizer.json (no \"model\" object)");
  f.object(j, "", "model");
  const std::string mtype = f.type(j, "", "model");
  if (mtype != "BPE")
    f.fail("model type '" + mtype + "' is not supported (only byte-level BPE, as Qwen2's)");
  const TJson& model = j["model"];

  std::shared_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->serial_ = g_serial.fetch_add(1);
  t->normalize_nfc_ = check_normalizer(f, j);
  check_pre_tokenizer(f, j);
  const std::string dtype = f.type(j, "", "decoder");
  if (dtype != "null" && dtype != "ByteLevel")
    f.fail("decoder '" + dtype + "' is not implemented (only ByteLevel)");

  if (const TJson* d = Fields::get(model, "dropout")) {
    if (!d->is_number()) f.wrong("model.dropout", *d, "a number or null");
    if (d->get<double>() != 0.0) f.fail("BPE dropout is not implemented");
  }
  if (!f.text(model, "model.", "continuing_subword_prefix").value_or("").empty())
    f.fail("BPE continuing_subword_prefix is not implemented");
  if (!f.text(model, "model.", "end_of_word_suffix").value_or("").empty())
    f.fail("BPE end_of_word_suffix is not implemented");
  if (f.flag(model, "model.", "byte_fallback", false)) f.fail("BPE byte_fallback is not implemented");
  f.flag(model, "model.", "fuse_unk", false);  // only its type matters: there is one unknown token at most
  t->ignore_merges_ = f.flag(model, "model.", "ignore_merges", false);

  // The vocabulary, in the file's (sorted) key order so that messages do not depend on hashing.
  const TJson& vocab_json = f.object(model, "model.", "vocab");
  if (vocab_json.empty()) f.fail("model.vocab is empty");
  std::unordered_map<std::string, uint32_t> vocab;
  vocab.reserve(vocab_json.size() * 2);
  uint32_t max_id = 0;
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    const uint32_t id = f.id(it.value(), "model.vocab[" + in_quotes(it.key()) + "]");
    vocab.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }

  std::vector<std::string> added_path;  // "added_tokens[i]", for messages
  if (const TJson* list = Fields::get(j, "added_tokens")) {
    if (!list->is_array()) f.wrong("added_tokens", *list, "an array");
    for (size_t i = 0; i < list->size(); ++i) {
      const TJson& a = (*list)[i];
      const std::string path = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object()) f.wrong(path, a, "an object");
      if (!Fields::get(a, "id")) f.fail(path + ".id is missing");
      AddedToken at;
      at.id = f.id(a["id"], path + ".id");
      const std::optional<std::string> content = f.text(a, path + ".", "content");
      if (!content) f.fail(path + ".content is missing");
      at.content = *content;
      at.special = f.flag(a, path + ".", "special", false);
      // tokenizers' default for a token without the flag: normalized unless special.
      at.normalized = f.flag(a, path + ".", "normalized", !at.special);
      for (const char* flag : {"single_word", "lstrip", "rstrip"})
        if (f.flag(a, path + ".", flag, false))
          f.fail("added token '" + at.content + "' sets " + flag + ", which is not implemented");
      max_id = std::max(max_id, at.id);
      t->added_.push_back(std::move(at));
      added_path.push_back(path);
    }
  }
  t->vocab_size_ = max_id + 1;

  // One token per id: a second token on an id would make decoding that id ambiguous.
  std::vector<const std::string*> token_of(t->vocab_size_, nullptr);
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    const uint32_t id = vocab.at(it.key());
    if (token_of[id])
      f.fail("model.vocab[" + in_quotes(*token_of[id]) + "] and model.vocab[" + in_quotes(it.key()) + "] both have id " +
             std::to_string(id));
    token_of[id] = &it.key();
  }
  std::unordered_map<std::string, size_t> added_by_content;
  std::unordered_map<uint32_t, size_t> added_by_id;
  for (size_t i = 0; i < t->added_.size(); ++i) {
    const AddedToken& a = t->added_[i];
    // An added token may restate a vocabulary token (same content, as GPT-2's <|endoftext|>),
    // not take another token's id.
    if (const std::string* v = token_of[a.id]; v && *v != a.content && token_to_bytes(*v) != a.content)
      f.fail(added_path[i] + " " + in_quotes(a.content) + " has id " + std::to_string(a.id) + ", which model.vocab gives to " +
             in_quotes(*v));
    const auto [same_id, new_id] = added_by_id.emplace(a.id, i);
    if (!new_id && t->added_[same_id->second].content != a.content)
      f.fail(added_path[same_id->second] + " " + in_quotes(t->added_[same_id->second].content) + " and " + added_path[i] +
             " " + in_quotes(a.content) + " both have id " + std::to_string(a.id));
    const auto [same_content, new_content] = added_by_content.emplace(a.content, i);
    if (!new_content && t->added_[same_content->second].id != a.id)
      f.fail(added_path[same_content->second] + " and " + added_path[i] + " both hold " + in_quotes(a.content) +
             " (ids " + std::to_string(t->added_[same_content->second].id) + " and " + std::to_string(a.id) + ")");
  }

  if (const std::optional<std::string> unk = f.text(model, "model.", "unk_token")) {
    const auto u = vocab.find(*unk);
    if (u == vocab.end()) f.fail("unk_token '" + *unk + "' is not in model.vocab");
    t->unk_id_ = u->second;
  }

  size_t missing_bytes = 0;
  int first_missing = -1;
  for (uint32_t b = 0; b < 256; ++b) {
    const auto it = vocab.find(byte_char(uint8_t(b)));
    t->byte_id_[b] = it == vocab.end() ? kNone : it->second;
    if (it == vocab.end() && missing_bytes++ == 0) first_missing = int(b);
  }
  // Without an unknown token such bytes would vanish from the text (as they do in tokenizers):
  // training data would silently lose them.
  if (missing_bytes && !t->unk_id_) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", unsigned(first_missing));
    f.fail("model.vocab lacks the byte-level token '" + byte_char(uint8_t(first_missing)) + "' of byte " + hex +
           (missing_bytes > 1 ? " (and " + std::to_string(missing_bytes - 1) + " more)" : std::string()) +
           " and there is no unk_token: text holding it could not be encoded");
  }

  const TJson& merges = f.array(model, "model.", "merges");
  t->merges_.reserve(merges.size() * 2);
  uint32_t rank = 0;
  for (const TJson& m : merges) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() || s.find(' ', sp + 1) != std::string::npos)
        f.fail("merge " + std::to_string(rank) + " '" + s + "' is not two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      f.fail("merge " + std::to_string(rank) + " is neither \"A B\" nor [\"A\", \"B\"]");
    }
    const auto ia = vocab.find(a), ib = vocab.find(b), im = vocab.find(a + b);
    if (ia == vocab.end() || ib == vocab.end())
      f.fail("merge " + std::to_string(rank) + " names '" + (ia == vocab.end() ? a : b) +
             "', which is not in model.vocab");
    if (im == vocab.end())
      f.fail("merge " + std::to_string(rank) + " makes '" + a + b + "', which is not in model.vocab");
    const uint64_t key = (uint64_t(ia->second) << 32) | ib->second;
    // A pair listed twice keeps its last rank, as tokenizers' merge map (later entries
    // overwrite earlier ones) does.
    t->merges_[key] = (uint64_t(rank) << 32) | im->second;
    ++rank;
  }

  t->decoded_.assign(t->vocab_size_, std::string());
  t->has_token_.assign(t->vocab_size_, 0);
  t->special_.assign(t->vocab_size_, 0);
  for (const auto& [token, id] : vocab) {
    bool all_mapped = false;
    t->decoded_[id] = token_to_bytes(token, &all_mapped);
    t->has_token_[id] = 1;
    if (t->ignore_merges_ && all_mapped) t->by_bytes_.emplace(t->decoded_[id], id);
  }
  t->raw_added_ = std::make_unique<Matcher>();
  t->normalized_added_ = std::make_unique<Matcher>();
  for (const AddedToken& a : t->added_) {
    // Its content as written: the ByteLevel decoder would turn a content such as "café" into
    // other bytes, and decode(encode(text)) must give the text back.
    t->decoded_[a.id] = a.content;
    t->has_token_[a.id] = 1;
    if (a.special) t->special_[a.id] = 1;
    if (a.normalized)
      t->normalized_added_->add(t->normalize_nfc_ ? nfc_normalize(a.content) : a.content, a.id);
    else
      t->raw_added_->add(a.content, a.id);
  }
  return t;
}

// ---- Encoding -------------------------------------------------------------------------------

namespace {

// Recent pieces and their ids, per thread (encoding is const and may run on many threads).
struct PieceCache {
  uint64_t serial = 0;
  std::unordered_map<std::string, std::vector<uint32_t>> map;
  std::string key;
};
constexpr size_t kCacheEntries = size_t(1) << 16;
constexpr size_t kCacheMaxPiece = 64;  // longer pieces are rare and would crowd the cache

struct Symbol {
  uint32_t id;
  int32_t prev, next;
  uint32_t len;  // 0: merged into its left neighbour
};

struct MergeCandidate {
  uint32_t rank;
  uint32_t pos;
  uint32_t new_id;
  bool operator>(const MergeCandidate& o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

}  // namespace

void BpeTokenizer::merge_word(std::string_view piece, std::vector<uint32_t>& out) const {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<MergeCandidate> heap_storage;
  sym.clear();
  for (unsigned char b : piece) {
    uint32_t id = byte_id_[b];
    if (id == kNone) {
      // A byte whose character the vocabulary lacks: the unknown token, or dropped without one,
      // as tokenizers does.
      if (!unk_id_) continue;
      id = *unk_id_;
    }
    const int32_t i = int32_t(sym.size());
    sym.push_back({id, i - 1, i + 1, 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  std::priority_queue<MergeCandidate, std::vector<MergeCandidate>, std::greater<MergeCandidate>> heap(
      std::greater<MergeCandidate>(), std::move(heap_storage));
  auto push_pair = [&](int32_t left) {
    const int32_t right = sym[size_t(left)].next;
    if (right < 0) return;
    const auto it = merges_.find((uint64_t(sym[size_t(left)].id) << 32) | sym[size_t(right)].id);
    if (it != merges_.end())
      heap.push({uint32_t(it->second >> 32), uint32_t(left), uint32_t(it->second & 0xFFFFFFFFu)});
  };
  for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) push_pair(i);
  while (!heap.empty()) {
    const MergeCandidate top = heap.top();
    heap.pop();
    Symbol& left = sym[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    Symbol& right = sym[size_t(left.next)];
    const auto it = merges_.find((uint64_t(left.id) << 32) | right.id);
    if (it == merges_.end() || uint32_t(it->second & 0xFFFFFFFFu) != top.new_id) continue;
    left.id = top.new_id;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (left.next >= 0) sym[size_t(left.next)].prev = int32_t(top.pos);
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(int32_t(top.pos));
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) out.push_back(sym[size_t(i)].id);
  // Keep the heap's buffer for the next word.
  heap_storage.clear();
}

void BpeTokenizer::bpe_piece(std::string_view piece, std::vector<uint32_t>& out) const {
  if (piece.size() == 1) {
    const uint32_t id = byte_id_[uint8_t(piece[0])];
    if (id != kNone) out.push_back(id);
    else if (unk_id_) out.push_back(*unk_id_);
    return;
  }
  if (ignore_merges_) {
    thread_local std::string key;
    key.assign(piece);
    const auto it = by_bytes_.find(key);
    if (it != by_bytes_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() > kCacheMaxPiece) {
    merge_word(piece, out);
    return;
  }
  thread_local PieceCache cache;
  if (cache.serial != serial_) {
    cache.map.clear();
    cache.serial = serial_;
  }
  cache.key.assign(piece);
  const auto it = cache.map.find(cache.key);
  if (it != cache.map.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t first = out.size();
  merge_word(piece, out);
  if (cache.map.size() >= kCacheEntries) cache.map.clear();
  cache.map.emplace(cache.key, std::vector<uint32_t>(out.begin() + std::ptrdiff_t(first), out.end()));
}

void BpeTokenizer::encode_pieces(std::string_view text, std::vector<uint32_t>& out) const {
  thread_local std::vector<CodePoint> cps;
  for_each_piece(text, cps, [&](size_t b, size_t e) { bpe_piece(text.substr(b, e - b), out); });
}

void BpeTokenizer::encode_normalized(std::string_view text, std::vector<uint32_t>& out) const {
  auto pieces = [&](std::string_view s) { encode_pieces(s, out); };
  auto token = [&](uint32_t id) { out.push_back(id); };
  if (normalize_nfc_ && first_nfc_problem(text) != std::string_view::npos) {
    const std::string n = nfc_normalize(text);
    normalized_added_->split(std::string_view(n), pieces, token);
  } else {
    normalized_added_->split(text, pieces, token);
  }
}

void BpeTokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  if (out.capacity() < out.size() + text.size() / 3 + 4)
    out.reserve(std::max(out.size() + text.size() / 3 + 4, 2 * out.capacity()));
  raw_added_->split(
      text, [&](std::string_view s) { encode_normalized(s, out); },
      [&](uint32_t id) { out.push_back(id); });
}

std::vector<uint32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  encode_append(text, out);
  return out;
}

std::string BpeTokenizer::decode_one(uint32_t id) const {
  if (id < vocab_size_ && has_token_[id]) return decoded_[id];
  return "<unk:" + std::to_string(id) + ">";
}

std::string BpeTokenizer::decode(const std::vector<uint32_t>& ids) const {
  std::string s;
  for (uint32_t id : ids) {
    if (id < vocab_size_ && has_token_[id]) s += decoded_[id];
    else s += "<unk:" + std::to_string(id) + ">";
  }
  return s;
}

std::optional<uint32_t> BpeTokenizer::added_token_id(std::string_view content) const {
  for (const AddedToken& a : added_)
    if (a.content == content) return a.id;
  return std::nullopt;
}

bool BpeTokenizer::is_special(uint32_t id) const { return id < vocab_size_ && special_[id]; }

}  // namespace sr
