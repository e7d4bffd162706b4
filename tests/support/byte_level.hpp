// Test support: GPT-2's bytes_to_unicode, written out independently of the engine's table, so
// tests can build byte-level vocabularies the way tokenizer.json and GGUF files store them.
#pragma once

#include <string>

namespace ragent::testing_support {

// The printable form of byte b as UTF-8: bytes 33-126, 161-172 and 174-255 stand for
// themselves, the others become U+0100 onwards in byte order (space is "Ġ").
inline std::string mapped_byte(int b) {
  auto printable = [](int x) { return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174; };
  int cp = b;
  if (!printable(b)) {
    cp = 256;
    for (int i = 0; i < b; ++i) cp += printable(i) ? 0 : 1;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

}  // namespace ragent::testing_support
