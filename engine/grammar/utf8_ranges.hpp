// Code point ranges as UTF-8 byte ranges: the bridge from the grammar IR's classes (over code
// points) to the byte-level automata that are matched against token bytes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace ragent::grammar {

// The UTF-8 encodings of a set of code points of one encoded length: byte i of an encoding is
// in [lo[i], hi[i]] for i < length, and every byte string so formed is such an encoding.
struct Utf8Sequence {
  int length = 0;
  std::array<uint8_t, 4> lo{};
  std::array<uint8_t, 4> hi{};
};

// Sequences whose byte strings are exactly the UTF-8 encodings of the scalar values in
// [lo, hi] (surrogates D800-DFFF and values past U+10FFFF left out), each encoding in exactly
// one sequence, in increasing code point order. Empty when the range holds no scalar value.
std::vector<Utf8Sequence> utf8_sequences(uint32_t lo, uint32_t hi);

// What a UTF-8 lead byte asks for (RFC 3629's table): `remaining` continuation bytes, the first
// in [lo, hi] and any others in [80, BF]; remaining 0 for a byte that starts no multi-byte
// sequence (ASCII, a continuation byte, C0, C1, F5-FF).
struct Utf8Lead {
  uint8_t remaining = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
};
Utf8Lead utf8_lead(uint8_t byte);

}  // namespace ragent::grammar
