// Unicode character data for the BPE tokenizer, generated into dataset/unicode_tables.cpp by
// tools/gen_unicode_tables.py (from Python's unicodedata), so that neither ICU nor a regex
// library is needed at build or run time.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sr::unicode {

extern const char* const kUnicodeVersion;

// Bits of props().
constexpr uint8_t kLetter = 1;     // general category L* (\p{L})
constexpr uint8_t kNumber = 2;     // general category N* (\p{N})
constexpr uint8_t kWhite = 4;      // White_Space (\s)
constexpr uint8_t kNfcUnsafe = 8;  // NFC may change it or combine it with what precedes it

uint8_t props(uint32_t cp);
uint8_t combining_class(uint32_t cp);

// Full canonical decompositions (Hangul syllables excluded: they are algorithmic), sorted by cp;
// code point `cp` decomposes to decomposition_data()[offset .. offset + length).
struct Decomposition {
  uint32_t cp;
  uint16_t offset;
  uint8_t length;
};
const Decomposition* decompositions(size_t* count);
const uint32_t* decomposition_data();

// Primary composites (composition exclusions left out), sorted by key = first << 21 | second.
struct Composition {
  uint64_t key;
  uint32_t composite;
};
const Composition* compositions(size_t* count);

}  // namespace sr::unicode
