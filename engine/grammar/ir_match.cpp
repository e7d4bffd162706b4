#include "engine/grammar/ir_match.hpp"

#include <algorithm>

namespace ragent::grammar {

bool IrMatcher::matches(ExprId e, std::string_view utf8) {
  if (!decode_utf8_all(utf8, text_)) return false;
  memo_.clear();
  return ends(e, 0).count(text_.size()) > 0;
}

bool IrMatcher::matches_rule(RuleId r, std::string_view utf8) {
  return r >= 0 && g_.rule_body(r) >= 0 && matches(g_.rule_body(r), utf8);
}

const std::set<size_t>& IrMatcher::ends(ExprId id, size_t pos) {
  const auto key = std::make_pair(id, pos);
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  memo_[key];  // in progress: a re-entry without progress sees no ends
  std::set<size_t> out;
  const Expr& e = g_.expr(id);
  switch (e.kind) {
    case ExprKind::kEmpty: out.insert(pos); break;
    case ExprKind::kNothing: break;
    case ExprKind::kLiteral: {
      std::vector<uint32_t> lit;
      if (decode_utf8_all(e.text, lit) && pos + lit.size() <= text_.size() &&
          std::equal(lit.begin(), lit.end(), text_.begin() + static_cast<std::ptrdiff_t>(pos))) {
        out.insert(pos + lit.size());
      }
      break;
    }
    case ExprKind::kChars:
      if (pos < text_.size()) {
        for (const CharRange& r : e.ranges) {
          if (text_[pos] >= r.lo && text_[pos] <= r.hi) out.insert(pos + 1);
        }
      }
      break;
    case ExprKind::kSequence: {
      std::set<size_t> at{pos};
      for (ExprId c : e.children) {
        std::set<size_t> next;
        for (size_t p : at) {
          const std::set<size_t>& s = ends(c, p);  // map nodes stay put as the memo grows
          next.insert(s.begin(), s.end());
        }
        at = std::move(next);
      }
      out = std::move(at);
      break;
    }
    case ExprKind::kChoice:
      for (ExprId c : e.children) {
        const std::set<size_t>& s = ends(c, pos);
        out.insert(s.begin(), s.end());
      }
      break;
    case ExprKind::kRepeat: {
      std::set<size_t> frontier{pos};
      for (int64_t k = 0;; ++k) {
        if (k >= e.min) out.insert(frontier.begin(), frontier.end());
        if ((e.max != Grammar::kUnbounded && k == e.max) || frontier.empty()) break;
        std::set<size_t> next;
        for (size_t p : frontier) {
          const std::set<size_t>& s = ends(e.children[0], p);
          next.insert(s.begin(), s.end());
        }
        // Past the minimum, a position already reached has been expanded already.
        if (k + 1 > e.min) {
          for (size_t p : out) next.erase(p);
        }
        frontier = std::move(next);
      }
      break;
    }
    case ExprKind::kRule:
      if (g_.rule_body(e.rule) >= 0) out = ends(g_.rule_body(e.rule), pos);
      break;
  }
  return memo_[key] = std::move(out);
}

}  // namespace ragent::grammar
