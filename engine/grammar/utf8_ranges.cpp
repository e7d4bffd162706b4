#include "engine/grammar/utf8_ranges.hpp"

#include <algorithm>
#include <string>

#include "engine/utf8.hpp"

namespace ragent::grammar {

namespace {

// The largest code point of each encoded length.
constexpr uint32_t kMaxOfLength[4] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

int encoded_length(uint32_t cp) {
  return cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;
}

// [lo, hi] of one encoded length, no surrogates. While the two ends differ in a prefix of
// their encodings and not all continuation values under that prefix are covered, the range is
// cut where the lower continuation bits roll over; once the ends share every byte position's
// freedom, the byte-wise ranges of their encodings describe the range exactly.
void split_same_length(uint32_t lo, uint32_t hi, std::vector<Utf8Sequence>& out) {
  const int n = encoded_length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (uint32_t{1} << (6 * i)) - 1;  // the low i continuation bytes
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        split_same_length(lo, lo | m, out);
        split_same_length((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        split_same_length(lo, (hi & ~m) - 1, out);
        split_same_length(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;
  engine::append_utf8(a, lo);
  engine::append_utf8(b, hi);
  Utf8Sequence s;
  s.length = n;
  for (int k = 0; k < n; ++k) {
    s.lo[static_cast<size_t>(k)] = static_cast<uint8_t>(a[static_cast<size_t>(k)]);
    s.hi[static_cast<size_t>(k)] = static_cast<uint8_t>(b[static_cast<size_t>(k)]);
  }
  out.push_back(s);
}

}  // namespace

std::vector<Utf8Sequence> utf8_sequences(uint32_t lo, uint32_t hi) {
  std::vector<Utf8Sequence> out;
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  // Cut at the surrogates and at the encoded-length boundaries.
  auto emit = [&](uint32_t a, uint32_t b) {
    for (uint32_t max : kMaxOfLength) {
      if (a > b) return;
      if (a <= max) {
        split_same_length(a, std::min(b, max), out);
        a = max + 1;
      }
    }
  };
  if (lo > hi) return out;
  if (hi < 0xD800 || lo > 0xDFFF) {
    emit(lo, hi);
  } else {
    if (lo < 0xD800) emit(lo, 0xD7FF);
    if (hi > 0xDFFF) emit(0xE000, hi);
  }
  return out;
}

Utf8Lead utf8_lead(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace ragent::grammar
