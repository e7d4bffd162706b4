// Whole-text matching straight from the grammar IR, by the definition of each expression kind:
// the set of positions where an expression can end, memoized per expression and start. It is
// slow (sets of positions) and meant for compile-time questions on short strings (does an enum
// value satisfy a pattern; is a declared property name one of the pattern keys) and for tests,
// where it stands apart from the byte-level automata that decode. Left-recursive rules are
// rejected by Grammar::validate; here a re-entry without progress simply sees no ends.
// Invalid UTF-8 never matches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {

class IrMatcher {
 public:
  explicit IrMatcher(const Grammar& g) : g_(g) {}

  // True when all of utf8 matches expression e.
  bool matches(ExprId e, std::string_view utf8);
  bool matches_rule(RuleId r, std::string_view utf8);
  bool matches_root(std::string_view utf8) { return matches_rule(g_.root(), utf8); }

 private:
  const std::set<size_t>& ends(ExprId id, size_t pos);

  const Grammar& g_;
  std::vector<uint32_t> text_;
  std::map<std::pair<ExprId, size_t>, std::set<size_t>> memo_;
};

}  // namespace ragent::grammar
