// Fuzzes engine/grammar/regex.cpp: any bytes as a pattern. Either every entry point refuses it
// with a RegexError at the same offset inside the pattern, or all accept it; then each of its
// expressions prints as GBNF that parse_gbnf reads back to the same text, and (for short
// patterns without counted repetition, which the reference matcher runs quickly) a string the
// whole pattern matches is found by the search too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/grammar/gbnf.hpp"
#include "engine/grammar/regex.hpp"
#include "tests/support/grammar_match.hpp"

namespace {

using ragent::grammar::ExprId;
using ragent::grammar::Grammar;
using ragent::grammar::RegexError;

// The offset at which pattern is refused by entry point, or SIZE_MAX if it is accepted.
template <typename EntryPoint>
size_t refused_at(std::string_view pattern, EntryPoint entry_point) {
  Grammar g;
  try {
    entry_point(g, pattern);
  } catch (const RegexError& e) {
    return e.offset();
  }
  return SIZE_MAX;
}

// Strings to try against the pattern: none, the pattern itself, and its characters without the
// regex syntax (a likely match for literal-heavy patterns).
std::string skeleton(std::string_view pattern) {
  std::string out;
  for (char c : pattern) {
    if (std::string_view("\\^$.*+?()[]{}|").find(c) == std::string_view::npos) out += c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view pattern(reinterpret_cast<const char*>(data), size);
  const size_t parse_error = refused_at(pattern, [](Grammar& g, std::string_view p) { parse_regex(g, p); });
  const size_t search_error = refused_at(pattern, [](Grammar& g, std::string_view p) { regex_search(g, p); });
  const size_t full_error = refused_at(pattern, [](Grammar& g, std::string_view p) { regex_full_match(g, p); });
  if (parse_error != search_error || parse_error != full_error) std::abort();
  if (parse_error != SIZE_MAX) {
    if (parse_error >= size) std::abort();  // an error names a byte of the pattern
    return 0;
  }

  Grammar g;
  const ExprId parsed = ragent::grammar::parse_regex(g, pattern).expr;
  const ExprId search = ragent::grammar::regex_search(g, pattern);
  const ExprId full = ragent::grammar::regex_full_match(g, pattern);
  for (ExprId id : {parsed, search, full}) {
    std::string text = "root ::= ";
    text += g.to_gbnf(id);
    text += '\n';
    if (ragent::grammar::parse_gbnf(text).to_gbnf() != text) std::abort();
  }

  if (size <= 32 && pattern.find('{') == std::string_view::npos) {
    ragent::grammar::testing::ReferenceMatcher m(g);
    for (const std::string& s : {std::string(), std::string(pattern), skeleton(pattern)}) {
      if (m.matches(full, s) && !m.matches(search, s)) std::abort();
    }
  }
  return 0;
}
