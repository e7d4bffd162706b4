// A reference matcher for the grammar IR, for tests only: does a whole UTF-8 text match a
// rule? It works on code points by the definition of each expression kind (the set of
// positions where an expression can end, memoized per expression and start), so it shares no
// code with the byte-level automata of the real matcher. Left-recursive rules are not
// supported (the front ends reject them); invalid UTF-8 never matches.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar::testing {

class ReferenceMatcher {
 public:
  explicit ReferenceMatcher(const Grammar& g) : g_(g) {}

  bool matches(ExprId e, std::string_view utf8) {
    if (!decode(utf8)) return false;
    memo_.clear();
    return ends(e, 0).count(text_.size()) > 0;
  }
  bool matches_rule(RuleId r, std::string_view utf8) { return matches_body(g_.rule_body(r), utf8); }
  bool matches_root(std::string_view utf8) { return matches_rule(g_.root(), utf8); }

 private:
  bool matches_body(ExprId body, std::string_view utf8) { return body >= 0 && matches(body, utf8); }

  bool decode(std::string_view s) {
    text_.clear();
    for (size_t i = 0; i < s.size();) {
      const auto b0 = static_cast<unsigned char>(s[i]);
      int n = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
      if (n == 0 || i + static_cast<size_t>(n) > s.size()) return false;
      uint32_t cp = n == 1 ? b0 : (b0 & (0x7F >> n));
      for (int k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
        if ((b & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3F);
      }
      text_.push_back(cp);
      i += static_cast<size_t>(n);
    }
    return true;
  }

  const std::set<size_t>& ends(ExprId id, size_t pos) {
    const auto key = std::make_pair(id, pos);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    memo_[key];  // in progress: a left-recursive re-entry sees no ends
    std::set<size_t> out;
    const Expr& e = g_.expr(id);
    switch (e.kind) {
      case ExprKind::kEmpty: out.insert(pos); break;
      case ExprKind::kNothing: break;
      case ExprKind::kLiteral: {
        std::vector<uint32_t> lit;
        std::swap(lit, text_);
        const bool ok = decode(e.text);
        std::swap(lit, text_);
        if (ok && pos + lit.size() <= text_.size() && std::equal(lit.begin(), lit.end(), text_.begin() + static_cast<long>(pos))) {
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
            const std::set<size_t> s = ends(c, p);
            next.insert(s.begin(), s.end());
          }
          at = std::move(next);
        }
        out = std::move(at);
        break;
      }
      case ExprKind::kChoice:
        for (ExprId c : e.children) {
          const std::set<size_t> s = ends(c, pos);
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
            const std::set<size_t> s = ends(e.children[0], p);
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

  const Grammar& g_;
  std::vector<uint32_t> text_;
  std::map<std::pair<ExprId, size_t>, std::set<size_t>> memo_;
};

}  // namespace ragent::grammar::testing
