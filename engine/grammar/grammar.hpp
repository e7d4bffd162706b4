// The grammar IR that constrained decoding runs on. Every input form compiles into it: JSON
// Schema (json_schema.hpp), GBNF-style EBNF text (gbnf.hpp) and regular expressions
// (regex.hpp). A Grammar is a set of named rules; a rule's body is an expression over Unicode
// code points (literals, classes, sequence, choice, bounded repetition) that may refer to
// rules, recursively. The matcher turns it into byte-level automata over UTF-8.
//
// Expressions are interned in the Grammar and named by ExprId; building is append-only, so an
// id stays valid for the Grammar's life. The constructors normalize as they build (a choice of
// one is that one, a sequence drops empties, classes are sorted and merged), which keeps
// compiled grammars small and makes to_gbnf() output stable for tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/error.hpp"
#include "engine/utf8.hpp"

namespace ragent::grammar {

// Thrown for a malformed grammar (an undefined rule, a bad repetition bound) and, as derived
// types, by the front ends with the place in their input.
class GrammarError : public engine::EngineError {
 public:
  using engine::EngineError::EngineError;
};

// Inclusive range of Unicode scalar values (surrogates D800-DFFF are never matched).
struct CharRange {
  uint32_t lo;
  uint32_t hi;
  friend bool operator==(const CharRange&, const CharRange&) = default;
};

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using ExprId = int32_t;
using RuleId = int32_t;

enum class ExprKind : uint8_t {
  kEmpty,     // matches the empty string
  kNothing,   // matches nothing (an empty class, a choice of no alternatives)
  kLiteral,   // the UTF-8 text `text` (never empty: an empty literal is kEmpty)
  kChars,     // one code point in `ranges` (sorted, disjoint, not adjacent, non-empty)
  kSequence,  // `children` in order (two or more)
  kChoice,    // one of `children` (two or more)
  kRepeat,    // `children[0]` between `min` and `max` times; max == kUnbounded: no limit
  kRule,      // the body of rule `rule`
};

struct Expr {
  ExprKind kind = ExprKind::kEmpty;
  std::string text;
  std::vector<CharRange> ranges;
  std::vector<ExprId> children;
  int32_t min = 0;
  int32_t max = 0;
  RuleId rule = -1;
};

class Grammar {
 public:
  static constexpr int32_t kUnbounded = -1;

  ExprId empty();
  ExprId nothing();
  ExprId literal(std::string_view utf8);  // throws GrammarError on invalid UTF-8
  // One code point in the union of `ranges` (any order, may overlap), or outside it when
  // `negated` (complement within 0..kMaxCodePoint, surrogates excluded).
  ExprId chars(std::vector<CharRange> ranges, bool negated = false);
  ExprId any_char();
  ExprId sequence(std::vector<ExprId> items);
  ExprId choice(std::vector<ExprId> alternatives);
  // item{min,max}; 0 <= min, max == kUnbounded or min <= max (GrammarError otherwise).
  ExprId repeat(ExprId item, int32_t min, int32_t max);
  ExprId optional(ExprId item) { return repeat(item, 0, 1); }
  ExprId star(ExprId item) { return repeat(item, 0, kUnbounded); }
  ExprId plus(ExprId item) { return repeat(item, 1, kUnbounded); }

  // Rules: declared by name (a name already taken gets a numeric suffix; the name given back
  // by rule_name() is the one used), then defined once. A reference may precede the definition,
  // so recursive rules are written declare -> reference -> define.
  RuleId declare_rule(std::string_view name);
  void define_rule(RuleId rule, ExprId body);
  ExprId ref(RuleId rule);
  void set_root(RuleId rule) { root_ = rule; }
  // Existing rule by exact name, or -1.
  RuleId find_rule(std::string_view name) const;

  const Expr& expr(ExprId id) const { return exprs_.at(static_cast<size_t>(id)); }
  size_t expr_count() const { return exprs_.size(); }
  size_t rule_count() const { return rules_.size(); }
  const std::string& rule_name(RuleId rule) const { return rules_.at(static_cast<size_t>(rule)).name; }
  // The body, or -1 while undefined.
  ExprId rule_body(RuleId rule) const { return rules_.at(static_cast<size_t>(rule)).body; }
  RuleId root() const { return root_; }

  // Throws GrammarError naming the first problem: no root, a rule referenced or declared but
  // never defined, or left recursion (see left_recursive_cycle).
  void validate() const;
  // A cycle of rules through which a rule reaches itself before consuming input (each rule
  // begins with the next, after parts that can match the empty string; the first rule is
  // repeated at the end), or empty if there is none. Left recursion would send a top-down
  // matcher into an endless loop, so every front end rejects it. Undefined rules count as
  // neither nullable nor beginning with anything.
  std::vector<RuleId> left_recursive_cycle() const;

  // The grammar as GBNF text: one `name ::= expr` line per rule, the root first. parse_gbnf of
  // this text gives a grammar with the same language; the text is stable for equal grammars.
  std::string to_gbnf() const;
  // One expression in the same notation.
  std::string to_gbnf(ExprId id) const;

 private:
  struct Rule {
    std::string name;
    ExprId body = -1;
  };
  ExprId add(Expr e);

  std::vector<Expr> exprs_;
  std::vector<Rule> rules_;
  std::unordered_map<std::string, RuleId> rule_ids_;  // by name
  std::unordered_map<std::string, int> next_suffix_;   // next numeric suffix per base name
  RuleId root_ = -1;
  ExprId empty_ = -1;
  ExprId nothing_ = -1;
};

// Appends the UTF-8 encoding of code point cp (<= kMaxCodePoint, not a surrogate) to out.
using engine::append_utf8;

// Decodes the UTF-8 sequence at s[i] (i < s.size()) into *cp and returns its length, or returns
// 0 if it is not valid UTF-8 (truncated, overlong, a surrogate, above U+10FFFF).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp);

// All code points of s into out (cleared first); false, with out partial, when s is not valid
// UTF-8.
bool decode_utf8_all(std::string_view s, std::vector<uint32_t>& out);

}  // namespace ragent::grammar
