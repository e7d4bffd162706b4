// Intersection of regular expressions in the IR (a pattern with a format, either with
// minLength / maxLength): both become epsilon-free NFAs over code-point classes, their product
// is built from the start state on, and the reachable states that can still accept become
// right-linear rules. The IR has no intersection of its own, so this is how the string keywords
// combine exactly. Sizes are capped: a product past kMaxStates states is refused rather than
// built.
#include <algorithm>
#include <map>
#include <queue>
#include <string>
#include <utility>

#include "engine/grammar/json_schema_detail.hpp"

namespace ragent::grammar::schema_detail {

namespace {

constexpr size_t kMaxStates = 20000;

struct Nfa {
  struct Edge {
    std::vector<CharRange> ranges;
    int to;
  };
  std::vector<std::vector<Edge>> edges;
  std::vector<std::vector<int>> eps;
  std::vector<bool> accept;
  int start = 0;

  int add_state() {
    if (edges.size() >= kMaxStates) throw GrammarError("too many automaton states");
    edges.emplace_back();
    eps.emplace_back();
    accept.push_back(false);
    return static_cast<int>(edges.size() - 1);
  }
};

// Thompson construction: a fragment from `from` to a new end state, returned.
int build(const Grammar& g, ExprId id, Nfa& nfa, int from) {
  const Expr& e = g.expr(id);
  switch (e.kind) {
    case ExprKind::kEmpty: {
      const int to = nfa.add_state();
      nfa.eps[static_cast<size_t>(from)].push_back(to);
      return to;
    }
    case ExprKind::kNothing: return nfa.add_state();
    case ExprKind::kLiteral: {
      int at = from;
      for (size_t i = 0; i < e.text.size();) {
        // The literal is valid UTF-8 (the IR checks it).
        const auto b0 = static_cast<unsigned char>(e.text[i]);
        const size_t n = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
        uint32_t cp = n == 1 ? b0 : (b0 & (0x7Fu >> n));
        for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(e.text[i + k]) & 0x3Fu);
        i += n;
        const int to = nfa.add_state();
        nfa.edges[static_cast<size_t>(at)].push_back({{{cp, cp}}, to});
        at = to;
      }
      return at;
    }
    case ExprKind::kChars: {
      const int to = nfa.add_state();
      nfa.edges[static_cast<size_t>(from)].push_back({e.ranges, to});
      return to;
    }
    case ExprKind::kSequence: {
      int at = from;
      for (ExprId c : e.children) at = build(g, c, nfa, at);
      return at;
    }
    case ExprKind::kChoice: {
      const int to = nfa.add_state();
      for (ExprId c : e.children) nfa.eps[static_cast<size_t>(build(g, c, nfa, from))].push_back(to);
      return to;
    }
    case ExprKind::kRepeat: {
      const ExprId item = e.children[0];
      const int32_t min = e.min, max = e.max;
      int at = from;
      for (int32_t i = 0; i < min; ++i) at = build(g, item, nfa, at);
      if (max == Grammar::kUnbounded) {
        const int loop = nfa.add_state();
        nfa.eps[static_cast<size_t>(at)].push_back(loop);
        nfa.eps[static_cast<size_t>(build(g, item, nfa, loop))].push_back(loop);
        return loop;
      }
      const int to = nfa.add_state();
      nfa.eps[static_cast<size_t>(at)].push_back(to);
      for (int32_t i = min; i < max; ++i) {
        at = build(g, item, nfa, at);
        nfa.eps[static_cast<size_t>(at)].push_back(to);
      }
      return to;
    }
    case ExprKind::kRule: throw GrammarError("a rule inside a regular expression");
  }
  return from;
}

// The same language without epsilon moves: each state takes the edges and acceptance of its
// epsilon closure.
Nfa without_epsilons(const Nfa& in) {
  Nfa out = in;
  for (size_t q = 0; q < in.edges.size(); ++q) {
    std::vector<bool> seen(in.edges.size(), false);
    std::vector<int> stack{static_cast<int>(q)};
    seen[q] = true;
    out.edges[q].clear();
    out.accept[q] = false;
    while (!stack.empty()) {
      const auto s = static_cast<size_t>(stack.back());
      stack.pop_back();
      out.edges[q].insert(out.edges[q].end(), in.edges[s].begin(), in.edges[s].end());
      out.accept[q] = out.accept[q] || in.accept[s];
      for (int t : in.eps[s]) {
        if (!seen[static_cast<size_t>(t)]) {
          seen[static_cast<size_t>(t)] = true;
          stack.push_back(t);
        }
      }
    }
    out.eps[q].clear();
  }
  return out;
}

std::vector<CharRange> intersect_ranges(const std::vector<CharRange>& a, const std::vector<CharRange>& b) {
  std::vector<CharRange> out;
  for (CharRange x : a) {
    for (CharRange y : b) {
      const uint32_t lo = std::max(x.lo, y.lo), hi = std::min(x.hi, y.hi);
      if (lo <= hi) out.push_back({lo, hi});
    }
  }
  return out;
}

}  // namespace

ExprId intersect_strings(Grammar& g, const std::vector<ExprId>& languages, int32_t min_length, int32_t max_length,
                         std::string_view rule_name, const std::function<ExprId(const std::vector<CharRange>&)>& make_class) {
  // Each language as an epsilon-free NFA; the length bound as one more (a counter).
  std::vector<Nfa> parts;
  for (ExprId e : languages) {
    Nfa nfa;
    nfa.start = nfa.add_state();
    nfa.accept[static_cast<size_t>(build(g, e, nfa, nfa.start))] = true;
    parts.push_back(without_epsilons(nfa));
  }
  {
    const int32_t cap = max_length == Grammar::kUnbounded ? min_length : max_length;
    if (static_cast<size_t>(cap) >= kMaxStates) throw GrammarError("a length bound too large to intersect with a pattern");
    Nfa counter;
    for (int32_t k = 0; k <= cap; ++k) counter.add_state();
    for (int32_t k = 0; k <= cap; ++k) {
      const bool last = k == cap;
      if (!last || max_length == Grammar::kUnbounded) {
        counter.edges[static_cast<size_t>(k)].push_back({{{0, kMaxCodePoint}}, last ? k : k + 1});
      }
      counter.accept[static_cast<size_t>(k)] = k >= min_length;
    }
    parts.push_back(std::move(counter));
  }
  // Product over tuples of states, explored from the start.
  using Tuple = std::vector<int>;
  std::map<Tuple, int> index;
  std::vector<Tuple> states;
  std::vector<std::vector<std::pair<std::vector<CharRange>, int>>> moves;
  std::queue<int> todo;
  auto intern = [&](const Tuple& t) {
    auto [it, fresh] = index.emplace(t, static_cast<int>(states.size()));
    if (fresh) {
      if (states.size() >= kMaxStates) throw GrammarError("the intersection needs too many automaton states");
      states.push_back(t);
      moves.emplace_back();
      todo.push(it->second);
    }
    return it->second;
  };
  Tuple start;
  for (const Nfa& p : parts) start.push_back(p.start);
  intern(start);
  while (!todo.empty()) {
    const int s = todo.front();
    todo.pop();
    // Every combination of one edge per part whose classes intersect.
    std::vector<std::pair<std::vector<CharRange>, Tuple>> partial{{{{0, kMaxCodePoint}}, {}}};
    for (size_t i = 0; i < parts.size(); ++i) {
      std::vector<std::pair<std::vector<CharRange>, Tuple>> next;
      for (const auto& [ranges, targets] : partial) {
        for (const Nfa::Edge& edge : parts[i].edges[static_cast<size_t>(states[static_cast<size_t>(s)][i])]) {
          std::vector<CharRange> both = intersect_ranges(ranges, edge.ranges);
          if (both.empty()) continue;
          Tuple t = targets;
          t.push_back(edge.to);
          next.emplace_back(std::move(both), std::move(t));
        }
      }
      partial = std::move(next);
      if (partial.size() > kMaxStates) throw GrammarError("the intersection needs too many automaton edges");
    }
    for (auto& [ranges, target] : partial) {
      const int to = intern(target);
      moves[static_cast<size_t>(s)].emplace_back(std::move(ranges), to);
    }
  }
  auto accepting = [&](size_t s) {
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!parts[i].accept[static_cast<size_t>(states[s][i])]) return false;
    }
    return true;
  };
  // States that can reach acceptance; the others are dead and get no rule.
  std::vector<bool> live(states.size(), false);
  for (size_t s = 0; s < states.size(); ++s) live[s] = accepting(s);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < states.size(); ++s) {
      if (live[s]) continue;
      for (const auto& move : moves[s]) {
        if (live[static_cast<size_t>(move.second)]) {
          live[s] = true;
          changed = true;
          break;
        }
      }
    }
  }
  if (!live[0]) return g.nothing();
  // One rule per live state: a class and the next state's rule, or the end.
  std::vector<RuleId> rules(states.size(), -1);
  for (size_t s = 0; s < states.size(); ++s) {
    if (!live[s]) continue;
    std::string name(rule_name);
    name += '-';
    name += std::to_string(s);
    rules[s] = g.declare_rule(name);
  }
  for (size_t s = 0; s < states.size(); ++s) {
    if (!live[s]) continue;
    std::vector<ExprId> alts;
    if (accepting(s)) alts.push_back(g.empty());
    for (const auto& [ranges, to] : moves[s]) {
      if (live[static_cast<size_t>(to)]) alts.push_back(g.sequence({make_class(ranges), g.ref(rules[static_cast<size_t>(to)])}));
    }
    g.define_rule(rules[s], g.choice(std::move(alts)));
  }
  return g.ref(rules[0]);
}

}  // namespace ragent::grammar::schema_detail
