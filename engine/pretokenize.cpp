#include "engine/pretokenize.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "engine/unicode_tables.hpp"

namespace ragent::engine {

namespace unicode {

uint8_t codepoint_flags(uint32_t cp) {
  const CodepointRange* begin = kCodepointRanges;
  const CodepointRange* end = kCodepointRanges + kCodepointRangeCount;
  const CodepointRange* it = std::upper_bound(
      begin, end, cp, [](uint32_t value, const CodepointRange& r) { return value < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

}  // namespace unicode

namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kSpace;

// Flags of the Basic Multilingual Plane expanded into a 64 KiB table, so nearly every code
// point is one load; the other planes use the range search.
struct BmpFlags {
  std::vector<uint8_t> flags;
  BmpFlags() : flags(0x10000, 0) {
    for (size_t r = 0; r < unicode::kCodepointRangeCount; ++r) {
      const unicode::CodepointRange& range = unicode::kCodepointRanges[r];
      for (uint32_t cp = range.first; cp <= range.last && cp < 0x10000; ++cp) flags[cp] = range.flags;
    }
  }
};
// Built on first use, so it is safe to call from other static initialisers.
const uint8_t* bmp_flags() {
  static const BmpFlags table;
  return table.flags.data();
}

// ASCII, the common case, without the guard of bmp_flags' function-local static.
constexpr std::array<uint8_t, 128> kAsciiFlags = [] {
  std::array<uint8_t, 128> flags{};
  for (uint32_t c = 0; c < 128; ++c) {
    if ((c >= 9 && c <= 13) || c == ' ') flags[c] = kSpace;
    if (c >= '0' && c <= '9') flags[c] = kNumber;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) flags[c] = kLetter;
  }
  return flags;
}();

inline uint8_t flags_of(uint32_t cp) { return cp < 0x10000 ? bmp_flags()[cp] : unicode::codepoint_flags(cp); }

struct Codepoint {
  uint32_t value;
  uint32_t bytes;
  uint8_t flags;
  bool is_letter() const { return flags & kLetter; }
  bool is_number() const { return flags & kNumber; }
  bool is_space() const { return flags & kSpace; }
  bool is_other() const { return flags == 0; }  // [^\s\p{L}\p{N}]
  bool is_newline() const { return value == '\r' || value == '\n'; }
};

// Decodes the code point at text[pos]; text is valid UTF-8 and pos < size.
inline Codepoint codepoint_at(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  uint32_t b = s[0];
  if (b < 0x80) return {b, 1, kAsciiFlags[b]};
  uint32_t cp;
  uint32_t bytes;
  if (b < 0xE0) {
    cp = ((b & 0x1F) << 6) | (s[1] & 0x3F);
    bytes = 2;
  } else if (b < 0xF0) {
    cp = ((b & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    bytes = 3;
  } else {
    cp = ((b & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    bytes = 4;
  }
  return {cp, bytes, flags_of(cp)};
}

// Start of the code point that ends at `pos` (pos > 0).
inline size_t previous_codepoint(std::string_view text, size_t pos) {
  do {
    --pos;
  } while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80);
  return pos;
}

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Length of 's 't 're 've 'm 'll 'd at pos (pos holds '\''), or 0.
size_t contraction_at(std::string_view text, size_t pos, bool ignore_case) {
  auto at = [&](size_t i) -> char {
    if (i >= text.size()) return 0;
    return ignore_case ? ascii_lower(text[i]) : text[i];
  };
  char a = at(pos + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  char b = at(pos + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End of the run of code points from pos that satisfy `pred`, stopping after `max_count`.
template <typename Pred>
size_t skip_while(std::string_view text, size_t pos, Pred pred, size_t max_count = SIZE_MAX) {
  size_t count = 0;
  while (pos < text.size() && count < max_count) {
    Codepoint c = codepoint_at(text, pos);
    if (!pred(c)) break;
    pos += c.bytes;
    ++count;
  }
  return pos;
}

// Whitespace at pos: \s*[\r\n]+ (only when `newline_rule`), then \s+(?!\S), then \s+.
size_t whitespace_end(std::string_view text, size_t pos, bool newline_rule) {
  size_t end = pos;
  size_t after_last_newline = 0;
  while (end < text.size()) {
    Codepoint c = codepoint_at(text, end);
    if (!c.is_space()) break;
    end += c.bytes;
    if (c.is_newline()) after_last_newline = end;
  }
  if (newline_rule && after_last_newline != 0) return after_last_newline;
  if (end == text.size()) return end;
  // Followed by a non-space: leave the last whitespace character to prefix the next piece.
  size_t last = previous_codepoint(text, end);
  return last > pos ? last : end;
}

void split_llama3(std::string_view text, size_t max_digits, std::vector<std::string_view>& out) {
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    Codepoint c = codepoint_at(text, pos);
    size_t end = pos;
    if (c.value == '\'') end += contraction_at(text, pos, /*ignore_case=*/true);
    if (end > pos) {
      // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    } else if (c.is_letter()) {
      end = skip_while(text, pos, [](Codepoint d) { return d.is_letter(); });
    } else if (!c.is_number() && !c.is_newline() && pos + c.bytes < n &&
               codepoint_at(text, pos + c.bytes).is_letter()) {
      // [^\r\n\p{L}\p{N}]\p{L}+
      end = skip_while(text, pos + c.bytes, [](Codepoint d) { return d.is_letter(); });
    } else if (c.is_number()) {
      end = skip_while(text, pos, [](Codepoint d) { return d.is_number(); }, max_digits);
    } else if (c.is_other() ||
               (c.value == ' ' && pos + 1 < n && codepoint_at(text, pos + 1).is_other())) {
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      size_t start = c.value == ' ' ? pos + 1 : pos;
      end = skip_while(text, start, [](Codepoint d) { return d.is_other(); });
      while (end < n && (text[end] == '\r' || text[end] == '\n')) ++end;
    } else {
      end = whitespace_end(text, pos, /*newline_rule=*/true);
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

void split_gpt2(std::string_view text, std::vector<std::string_view>& out) {
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    Codepoint c = codepoint_at(text, pos);
    size_t end = pos;
    if (c.value == '\'') end += contraction_at(text, pos, /*ignore_case=*/false);
    if (end == pos) {
      size_t start = pos;
      if (c.value == ' ' && pos + 1 < n) {
        Codepoint next = codepoint_at(text, pos + 1);
        if (!next.is_space()) {
          start = pos + 1;
          c = next;
        }
      }
      if (c.is_letter()) {
        end = skip_while(text, start, [](Codepoint d) { return d.is_letter(); });
      } else if (c.is_number()) {
        end = skip_while(text, start, [](Codepoint d) { return d.is_number(); });
      } else if (c.is_other()) {
        end = skip_while(text, start, [](Codepoint d) { return d.is_other(); });
      } else {
        end = whitespace_end(text, pos, /*newline_rule=*/false);
      }
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace

void pretokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>& pieces) {
  switch (kind) {
    case PreTokenizerKind::llama3: split_llama3(text, 3, pieces); break;
    case PreTokenizerKind::qwen2: split_llama3(text, 1, pieces); break;
    case PreTokenizerKind::gpt2: split_gpt2(text, pieces); break;
  }
}

namespace {

// utf8_sequence_at, inlined into the validation loop.
inline size_t sequence_at(std::string_view text, size_t pos, size_t* invalid_bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  uint32_t b = s[pos];
  if (b < 0x80) return 1;
  size_t need;
  uint32_t lo = 0x80;
  uint32_t hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    *invalid_bytes = 1;
    return 0;
  }
  for (size_t i = 1; i <= need; ++i) {
    if (pos + i >= n || s[pos + i] < lo || s[pos + i] > hi) {
      *invalid_bytes = i;  // the lead and the continuation bytes that fit so far
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

size_t utf8_sequence_at(std::string_view text, size_t pos, size_t* invalid_bytes) {
  return sequence_at(text, pos, invalid_bytes);
}

std::optional<std::string> replace_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  size_t invalid = 0;
  // Fast scan for the common case: valid text, mostly ASCII (eight bytes at a time).
  while (pos < text.size()) {
    if (pos + 8 <= text.size()) {
      uint64_t chunk;
      std::memcpy(&chunk, text.data() + pos, 8);
      if ((chunk & 0x8080808080808080ull) == 0) {
        pos += 8;
        continue;
      }
    }
    size_t len = sequence_at(text, pos, &invalid);
    if (len == 0) break;
    pos += len;
  }
  if (pos == text.size()) return std::nullopt;
  std::string out(text.substr(0, pos));
  out.reserve(text.size() + 16);
  while (pos < text.size()) {
    size_t len = sequence_at(text, pos, &invalid);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      pos += invalid;
    } else {
      out.append(text.substr(pos, len));
      pos += len;
    }
  }
  return out;
}

}  // namespace ragent::engine
