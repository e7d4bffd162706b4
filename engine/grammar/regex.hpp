// Regular expressions into the grammar IR: the pattern keyword of JSON Schema, string formats,
// and a plain regex as a whole constraint. The supported subset (ECMA-262 syntax, as JSON
// Schema prescribes; what it leaves out is an error, never ignored) is listed where
// parse_regex is implemented, in regex.cpp.
#pragma once

#include <cstddef>
#include <string_view>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {

// A pattern outside the supported subset or malformed; offset is the byte in the pattern.
class RegexError : public GrammarError {
 public:
  RegexError(const std::string& message, size_t offset) : GrammarError(message), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

// When the top-level alternatives are anchored differently (^a|b), expr is the search language
// itself (any characters where an anchor is missing, per alternative) and both flags are set.
struct ParsedRegex {
  ExprId expr = -1;             // the pattern without its anchors
  bool anchored_start = false;  // began with ^
  bool anchored_end = false;    // ended with $
};

// Parses pattern into g. Throws RegexError.
ParsedRegex parse_regex(Grammar& g, std::string_view pattern);

// The strings a JSON Schema "pattern" accepts (a search, as ECMA-262 test() does: an end without
// its anchor may be preceded / followed by any characters).
ExprId regex_search(Grammar& g, std::string_view pattern);

// The strings the whole pattern matches (implicit anchors at both ends).
ExprId regex_full_match(Grammar& g, std::string_view pattern);

}  // namespace ragent::grammar
