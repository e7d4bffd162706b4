// Fuzzes engine/grammar/gbnf.cpp: any bytes as grammar text. Either a GbnfError whose line and
// column point into the text (or just past its end), or a valid grammar whose printout parses
// back to the same printout. Any other exception escapes and counts as a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/grammar/gbnf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ragent::grammar::Grammar g;
  try {
    g = ragent::grammar::parse_gbnf(text);
  } catch (const ragent::grammar::GbnfError& e) {
    // Back from line:column to a byte offset, which must lie within the text.
    size_t line_start = 0;
    for (size_t line = 1; line < e.line(); ++line) {
      const size_t newline = text.find('\n', line_start);
      if (newline == std::string_view::npos) std::abort();
      line_start = newline + 1;
    }
    if (e.column() < 1 || line_start + e.column() - 1 > size) std::abort();
    return 0;
  }
  g.validate();
  const std::string printed = g.to_gbnf();
  if (ragent::grammar::parse_gbnf(printed).to_gbnf() != printed) std::abort();
  return 0;
}
