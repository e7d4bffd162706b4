// GBNF, the grammar notation of llama.cpp, into the grammar IR. It is also what
// Grammar::to_gbnf() prints, and everything printed parses back.
//
//   root  ::= value ("," value)*          # a rule: name ::= alternatives
//   value ::= [0-9]+ | "\"" [^"\\]* "\"" | "(" value ")"
//
// Rule names are [a-zA-Z0-9-]+. Expressions: "literals" with the escapes \n \r \t \\ \" \[ \]
// \- \^ \xHH \uHHHH \UHHHHHHHH (code points, not bytes); classes [...] and [^...] with ranges
// and the same escapes; . for any character; ( ) for grouping; | between alternatives; and the
// postfix operators * + ? {m} {m,} {m,n} {,n}. # starts a comment that runs to the end of the
// line. A rule ends at the end of its line, except inside parentheses and right after ::= or |.
// Unlike llama.cpp, a rule may not be defined twice and left recursion is an error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {

// A malformed grammar text. what() reads "gbnf:LINE:COLUMN: message"; both are 1-based and the
// column counts bytes. Problems with the text as a whole (empty, no root rule) are at 1:1.
class GbnfError : public GrammarError {
 public:
  GbnfError(std::string_view message, size_t line, size_t column);
  size_t line() const { return line_; }
  size_t column() const { return column_; }

 private:
  size_t line_;
  size_t column_;
};

// Parses text into a grammar whose root is the rule named root. Rules are numbered in the order
// of their definitions. Throws GbnfError at the first problem: a syntax error, a rule used but
// never defined (at its first use), a rule defined twice (at the second definition), no rule
// named root, or left recursion (at the definition of a rule on the cycle).
Grammar parse_gbnf(std::string_view text, std::string_view root = "root");

}  // namespace ragent::grammar
