// utf8_sequences against every code point: the byte strings of the sequences must be exactly
// the UTF-8 encodings of the range's scalar values, each once.
#include "engine/grammar/utf8_ranges.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {
namespace {

// Enumerates every byte string of the sequences, decodes it (it must be valid UTF-8 of the
// sequence's length) and checks that the decoded values are exactly the scalar values of
// [lo, hi], in increasing order, each once.
void expect_exact(uint32_t lo, uint32_t hi) {
  const std::vector<Utf8Sequence> seqs = utf8_sequences(lo, hi);
  std::vector<uint32_t> got;
  for (const Utf8Sequence& s : seqs) {
    ASSERT_GE(s.length, 1);
    ASSERT_LE(s.length, 4);
    std::array<uint32_t, 4> b{};
    for (int k = 0; k < s.length; ++k) ASSERT_LE(s.lo[static_cast<size_t>(k)], s.hi[static_cast<size_t>(k)]);
    // Odometer over the byte positions.
    for (int k = 0; k < s.length; ++k) b[static_cast<size_t>(k)] = s.lo[static_cast<size_t>(k)];
    for (;;) {
      std::string bytes;
      for (int k = 0; k < s.length; ++k) bytes += static_cast<char>(b[static_cast<size_t>(k)]);
      uint32_t cp = 0;
      ASSERT_EQ(decode_utf8(bytes, 0, &cp), static_cast<size_t>(s.length)) << "invalid encoding in a sequence of [" << lo << ", " << hi << "]";
      got.push_back(cp);
      int k = s.length - 1;
      while (k >= 0 && b[static_cast<size_t>(k)] == s.hi[static_cast<size_t>(k)]) {
        b[static_cast<size_t>(k)] = s.lo[static_cast<size_t>(k)];
        --k;
      }
      if (k < 0) break;
      ++b[static_cast<size_t>(k)];
    }
  }
  std::vector<uint32_t> want;
  for (uint64_t cp = lo; cp <= hi && cp <= kMaxCodePoint; ++cp) {
    if (cp < 0xD800 || cp > 0xDFFF) want.push_back(static_cast<uint32_t>(cp));
  }
  ASSERT_EQ(got.size(), want.size()) << "[" << lo << ", " << hi << "]";
  EXPECT_EQ(got, want) << "[" << lo << ", " << hi << "]";
}

TEST(Utf8Sequences, EveryScalarValueExactlyOnce) { expect_exact(0, kMaxCodePoint); }

TEST(Utf8Sequences, BoundariesAndSurrogates) {
  const std::pair<uint32_t, uint32_t> cases[] = {
      {0, 0},           {0x41, 0x5A},     {0x7F, 0x80},       {0x7F, 0x7FF},     {0x80, 0x7FF},
      {0x7FF, 0x800},   {0x800, 0xFFFF},  {0xD7FF, 0xE000},   {0xD800, 0xDFFF},  {0xD900, 0xDA00},
      {0xFFFF, 0x10000}, {0x10000, 0x10FFFF}, {0x10FFFF, 0x10FFFF}, {0x3FF, 0x401}, {0xFFF, 0x1001},
      {0x3FFFF, 0x40000}, {0x12345, 0x10FFFF}, {0x1, 0x10FFFE}, {0x10FFFF, 0x200000}};
  for (const auto& [lo, hi] : cases) expect_exact(lo, hi);
  EXPECT_TRUE(utf8_sequences(0xD800, 0xDFFF).empty());
  EXPECT_TRUE(utf8_sequences(5, 4).empty());
  EXPECT_TRUE(utf8_sequences(0x110000, 0x120000).empty());
  EXPECT_EQ(utf8_sequences(0, 0x7F).size(), 1u);
  EXPECT_EQ(utf8_sequences(0x80, 0x7FF).size(), 1u);      // [C2-DF][80-BF]
  EXPECT_EQ(utf8_sequences(0x10000, 0x10FFFF).size(), 3u);  // F0 [90-BF], F1-F3, F4 [80-8F]
}

TEST(Utf8Sequences, RandomRanges) {
  std::mt19937 rng(2026);
  for (int i = 0; i < 300; ++i) {
    // Ends near the interesting places half of the time.
    const uint32_t anchors[] = {0x7F, 0x7FF, 0xD7FF, 0xDFFF, 0xFFFF, 0x3FFFF, 0xFFFFF, 0x10FFFF};
    auto pick = [&]() -> uint32_t {
      if (rng() % 2 == 0) return static_cast<uint32_t>(rng() % 0x110000);
      const uint32_t a = anchors[rng() % 8];
      const int delta = static_cast<int>(rng() % 5) - 2;
      return static_cast<uint32_t>(std::clamp<int64_t>(int64_t{a} + delta, 0, kMaxCodePoint));
    };
    uint32_t a = pick(), b = pick();
    if (a > b) std::swap(a, b);
    if (b - a > 0x20000) b = a + static_cast<uint32_t>(rng() % 0x20000);  // keep the enumeration short
    expect_exact(a, b);
  }
}

}  // namespace
}  // namespace ragent::grammar
