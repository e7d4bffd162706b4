#include "engine/grammar/automaton.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "engine/grammar/utf8_ranges.hpp"

namespace ragent::grammar {

namespace {

constexpr int64_t kHuge = int64_t{1} << 50;

int64_t saturating_add(int64_t a, int64_t b) { return std::min(kHuge, a + b); }
int64_t saturating_mul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kHuge / b ? kHuge : std::min(kHuge, a * b);
}

}  // namespace

// Thompson construction with one invariant that makes composition safe: build(e, a, b) adds
// edges only out of `a` and out of states it creates, and only into `b` and states it
// creates. Loops therefore always run through a fresh state, never through `a` or `b`.
class AutomatonBuilder {
 public:
  AutomatonBuilder(const Grammar& g, const AutomatonLimits& limits) : g_(g), limits_(limits) {}

  Automaton build() {
    g_.validate();
    find_recursive_rules();
    size_memo_.assign(g_.expr_count(), -1);
    rule_fragment_.assign(g_.rule_count(), -1);
    Automaton a;
    const int32_t root = fragment_for_rule(g_.root());
    while (!pending_.empty()) {
      auto [fragment, body] = pending_.back();
      pending_.pop_back();
      build_expr(body, frag_start_[static_cast<size_t>(fragment)], frag_final_[static_cast<size_t>(fragment)]);
    }
    a.start_ = frag_start_[static_cast<size_t>(root)];
    a.fragment_start_ = frag_start_;
    a.repeats_ = std::move(repeats_);
    flatten(a);
    return a;
  }

 private:
  // Edges are collected in flat lists and grouped by state in flatten(): no allocation per
  // state, which matters for unrolled repeats of hundreds of thousands of states.
  struct Building {
    int32_t call_rule = -1;
    Automaton::StateId call_return = -1;
    bool final = false;
  };
  struct PendingEdge {
    Automaton::StateId from;
    Automaton::ByteEdge edge;
  };

  Automaton::StateId new_state() {
    if (static_cast<int64_t>(states_.size()) >= limits_.max_states) {
      throw GrammarError("grammar too large: its automaton would exceed " + std::to_string(limits_.max_states) +
                         " states (large repetition bounds or many alternatives)");
    }
    states_.emplace_back();
    return static_cast<Automaton::StateId>(states_.size() - 1);
  }

  int32_t new_fragment(ExprId body) {
    const auto fragment = static_cast<int32_t>(frag_start_.size());
    frag_start_.push_back(new_state());
    const Automaton::StateId fin = new_state();
    states_[static_cast<size_t>(fin)].final = true;
    frag_final_.push_back(fin);
    pending_.emplace_back(fragment, body);
    return fragment;
  }

  int32_t fragment_for_rule(RuleId r) {
    int32_t& f = rule_fragment_[static_cast<size_t>(r)];
    if (f < 0) f = new_fragment(g_.rule_body(r));
    return f;
  }

  int32_t fragment_for_item(ExprId e) {
    auto [it, inserted] = item_fragment_.try_emplace(e, -1);
    if (inserted) it->second = new_fragment(e);
    return it->second;
  }

  void eps(Automaton::StateId from, Automaton::StateId to) { eps_.emplace_back(from, to); }

  void byte_edge(Automaton::StateId from, uint8_t lo, uint8_t hi, Automaton::StateId to) {
    edges_.push_back({from, {lo, hi, to}});
  }

  void call(Automaton::StateId a, int32_t fragment, Automaton::StateId b) {
    const Automaton::StateId c = new_state();
    eps(a, c);
    states_[static_cast<size_t>(c)].call_rule = fragment;
    states_[static_cast<size_t>(c)].call_return = b;
  }

  bool inlines(RuleId r) {
    return !recursive_[static_cast<size_t>(r)] && size_of(g_.rule_body(r)) <= limits_.inline_rule_states;
  }

  // States an expression adds when built in place (an estimate that never undercounts much).
  int64_t size_of(ExprId id) {
    int64_t& memo = size_memo_[static_cast<size_t>(id)];
    if (memo >= 0) return memo;
    const Expr& e = g_.expr(id);
    int64_t n = 0;
    switch (e.kind) {
      case ExprKind::kEmpty:
      case ExprKind::kNothing: break;
      case ExprKind::kLiteral: n = static_cast<int64_t>(e.text.size()); break;
      case ExprKind::kChars: n = 4 * static_cast<int64_t>(sequences_of(id).size()); break;
      case ExprKind::kSequence:
      case ExprKind::kChoice:
        for (ExprId c : e.children) n = saturating_add(n, size_of(c) + 1);
        break;
      case ExprKind::kRepeat: {
        const int64_t copies = e.max == Grammar::kUnbounded ? int64_t{e.min} + 1 : int64_t{e.max};
        n = saturating_mul(copies, size_of(e.children[0]) + 1);
        if (n > limits_.unroll_states) n = saturating_mul(copies, 2);
        break;
      }
      case ExprKind::kRule:
        n = 1;
        if (!recursive_[static_cast<size_t>(e.rule)]) {
          memo = kHuge;  // guards re-entry; non-recursive rules never come back here
          const int64_t body = size_of(g_.rule_body(e.rule));
          n = body <= limits_.inline_rule_states ? body : 1;
        }
        break;
    }
    return memo = n;
  }

  void build_expr(ExprId id, Automaton::StateId a, Automaton::StateId b) {
    const Expr& e = g_.expr(id);
    switch (e.kind) {
      case ExprKind::kEmpty: eps(a, b); break;
      case ExprKind::kNothing: break;
      case ExprKind::kLiteral: {
        Automaton::StateId at = a;
        for (size_t i = 0; i < e.text.size(); ++i) {
          const Automaton::StateId next = i + 1 == e.text.size() ? b : new_state();
          const auto byte = static_cast<uint8_t>(e.text[i]);
          byte_edge(at, byte, byte, next);
          at = next;
        }
        break;
      }
      case ExprKind::kChars: build_chars(id, a, b); break;
      case ExprKind::kSequence: {
        Automaton::StateId at = a;
        for (size_t i = 0; i < e.children.size(); ++i) {
          const Automaton::StateId next = i + 1 == e.children.size() ? b : new_state();
          build_expr(e.children[i], at, next);
          at = next;
        }
        break;
      }
      case ExprKind::kChoice: build_choice(e, a, b); break;
      case ExprKind::kRepeat: build_repeat(e, a, b); break;
      case ExprKind::kRule:
        if (inlines(e.rule)) {
          build_expr(g_.rule_body(e.rule), a, b);
        } else {
          call(a, fragment_for_rule(e.rule), b);
        }
        break;
    }
  }

  // Code points as UTF-8: one chain of byte ranges per sequence. Sequences share their leading
  // ranges (a byte-level trie) and their trailing runs of continuation bytes [80-BF] (one state
  // per run length), so a class costs close to its minimal automaton.
  // The UTF-8 sequences of a class expression, computed once per expression: an unrolled
  // repeat builds the same class thousands of times.
  const std::vector<Utf8Sequence>& sequences_of(ExprId id) {
    auto [it, inserted] = sequences_.try_emplace(id);
    if (inserted) {
      for (const CharRange& r : g_.expr(id).ranges) {
        const auto seqs = utf8_sequences(r.lo, r.hi);
        it->second.insert(it->second.end(), seqs.begin(), seqs.end());
      }
    }
    return it->second;
  }

  void build_chars(ExprId id, Automaton::StateId a, Automaton::StateId b) {
    struct Shared {
      Automaton::StateId from;
      uint8_t lo, hi;
      Automaton::StateId to;
    };
    std::vector<Shared> shared;
    std::array<Automaton::StateId, 4> tail{b, -1, -1, -1};  // tail[k]: k continuation bytes, then b
    auto tail_of = [&](int k) {
      for (int j = 1; j <= k; ++j) {
        if (tail[static_cast<size_t>(j)] < 0) {
          tail[static_cast<size_t>(j)] = new_state();
          byte_edge(tail[static_cast<size_t>(j)], 0x80, 0xBF, tail[static_cast<size_t>(j - 1)]);
        }
      }
      return tail[static_cast<size_t>(k)];
    };
    for (const Utf8Sequence& seq : sequences_of(id)) {
      int continuation = 0;  // trailing [80-BF] ranges, never the first byte
      while (continuation + 1 < seq.length && seq.lo[static_cast<size_t>(seq.length - 1 - continuation)] == 0x80 &&
             seq.hi[static_cast<size_t>(seq.length - 1 - continuation)] == 0xBF) {
        ++continuation;
      }
      const int head = seq.length - continuation;
      Automaton::StateId at = a;
      for (int i = 0; i < head; ++i) {
        const uint8_t lo = seq.lo[static_cast<size_t>(i)], hi = seq.hi[static_cast<size_t>(i)];
        if (i + 1 == head) {
          byte_edge(at, lo, hi, tail_of(continuation));
          break;
        }
        auto it = std::find_if(shared.begin(), shared.end(),
                               [&](const Shared& x) { return x.from == at && x.lo == lo && x.hi == hi; });
        if (it == shared.end()) {
          shared.push_back({at, lo, hi, new_state()});
          byte_edge(at, lo, hi, shared.back().to);
          it = shared.end() - 1;
        }
        at = it->to;
      }
    }
  }

  // Alternatives that are literals share their common prefixes (a byte trie from a), so a
  // choice of escapes or enum values does not repeat its first bytes.
  void build_choice(const Expr& e, Automaton::StateId a, Automaton::StateId b) {
    std::vector<std::pair<std::pair<Automaton::StateId, uint8_t>, Automaton::StateId>> trie;
    for (ExprId c : e.children) {
      const Expr& child = g_.expr(c);
      if (child.kind != ExprKind::kLiteral) {
        build_expr(c, a, b);
        continue;
      }
      Automaton::StateId at = a;
      for (size_t i = 0; i < child.text.size(); ++i) {
        const auto byte = static_cast<uint8_t>(child.text[i]);
        if (i + 1 == child.text.size()) {
          byte_edge(at, byte, byte, b);
          break;
        }
        auto it = std::find_if(trie.begin(), trie.end(), [&](const auto& x) { return x.first.first == at && x.first.second == byte; });
        if (it == trie.end()) {
          trie.push_back({{at, byte}, new_state()});
          byte_edge(at, byte, byte, trie.back().second);
          it = trie.end() - 1;
        }
        at = it->second;
      }
    }
  }

  void build_repeat(const Expr& e, Automaton::StateId a, Automaton::StateId b) {
    const ExprId item = e.children[0];
    const int64_t copies = e.max == Grammar::kUnbounded ? int64_t{e.min} + 1 : int64_t{e.max};
    const bool small = size_of(item) <= limits_.small_item_states && !calls_rule(item);
    const bool called = !small && saturating_mul(copies, size_of(item) + 1) > limits_.unroll_states;
    Automaton::UnrolledRepeat positions;
    positions.min = e.min;
    positions.max = e.max;
    positions.item_min_bytes = min_bytes(item);
    const bool record = !called && copies > kRecordedRepeat;
    auto one = [&](Automaton::StateId from, Automaton::StateId to) {
      if (called) {
        call(from, fragment_for_item(item), to);
      } else {
        build_expr(item, from, to);
      }
    };
    auto done = [&] {
      if (record) repeats_.push_back(std::move(positions));
    };
    Automaton::StateId at = a;
    for (int32_t i = 0; i < e.min; ++i) {
      const Automaton::StateId next = new_state();
      if (record) positions.positions.push_back(at);
      one(at, next);
      at = next;
    }
    if (e.max == Grammar::kUnbounded) {
      const Automaton::StateId loop = new_state();
      eps(at, loop);
      one(loop, loop);
      eps(loop, b);
      if (record) positions.positions.push_back(loop);
      done();
      return;
    }
    for (int32_t i = e.min; i < e.max; ++i) {
      const Automaton::StateId next = new_state();
      if (record) positions.positions.push_back(at);
      eps(at, b);
      one(at, next);
      at = next;
    }
    eps(at, b);
    done();
  }

  // The fewest bytes a text of e has (0 where a rule is still being measured: recursion).
  int64_t min_bytes(ExprId id) {
    const Expr& e = g_.expr(id);
    switch (e.kind) {
      case ExprKind::kEmpty: return 0;
      case ExprKind::kNothing: return kHuge;
      case ExprKind::kLiteral: return static_cast<int64_t>(e.text.size());
      case ExprKind::kChars: return 1;
      case ExprKind::kSequence: {
        int64_t n = 0;
        for (ExprId c : e.children) n = saturating_add(n, min_bytes(c));
        return n;
      }
      case ExprKind::kChoice: {
        int64_t n = kHuge;
        for (ExprId c : e.children) n = std::min(n, min_bytes(c));
        return n;
      }
      case ExprKind::kRepeat: return saturating_mul(e.min, min_bytes(e.children[0]));
      case ExprKind::kRule: {
        if (measuring_.count(e.rule)) return 0;
        measuring_.insert(e.rule);
        const int64_t n = min_bytes(g_.rule_body(e.rule));
        measuring_.erase(e.rule);
        return n;
      }
    }
    return 0;
  }

  // Whether building e in place leaves a call in it (a reference to a rule that is kept).
  bool calls_rule(ExprId id) {
    const Expr& e = g_.expr(id);
    if (e.kind == ExprKind::kRule) return !inlines(e.rule) || calls_rule(g_.rule_body(e.rule));
    for (ExprId c : e.children) {
      if (calls_rule(c)) return true;
    }
    return false;
  }

  // recursive_[r]: rule r can reach itself through references (Tarjan's strongly connected
  // components, iterative so deep grammars cannot overflow the call stack).
  void find_recursive_rules() {
    const size_t n = g_.rule_count();
    std::vector<std::vector<RuleId>> refs(n);
    for (size_t r = 0; r < n; ++r) {
      if (g_.rule_body(static_cast<RuleId>(r)) >= 0) collect_refs(g_.rule_body(static_cast<RuleId>(r)), refs[r]);
    }
    recursive_.assign(n, false);
    std::vector<int32_t> index(n, -1), low(n, 0);
    std::vector<bool> on_stack(n, false);
    std::vector<RuleId> stack;
    int32_t counter = 0;
    for (size_t root = 0; root < n; ++root) {
      if (index[root] >= 0) continue;
      std::vector<std::pair<RuleId, size_t>> work{{static_cast<RuleId>(root), 0}};
      while (!work.empty()) {
        auto& [v, next] = work.back();
        const auto vi = static_cast<size_t>(v);
        if (next == 0 && index[vi] < 0) {
          index[vi] = low[vi] = counter++;
          stack.push_back(v);
          on_stack[vi] = true;
        }
        if (next < refs[vi].size()) {
          const auto w = static_cast<size_t>(refs[vi][next++]);
          if (index[w] < 0) {
            work.emplace_back(static_cast<RuleId>(w), 0);
          } else if (on_stack[w]) {
            low[vi] = std::min(low[vi], index[w]);
          }
          continue;
        }
        if (low[vi] == index[vi]) {
          std::vector<RuleId> component;
          RuleId w;
          do {
            w = stack.back();
            stack.pop_back();
            on_stack[static_cast<size_t>(w)] = false;
            component.push_back(w);
          } while (w != v);
          const bool self = std::find(refs[vi].begin(), refs[vi].end(), v) != refs[vi].end();
          if (component.size() > 1 || self) {
            for (RuleId c : component) recursive_[static_cast<size_t>(c)] = true;
          }
        }
        const RuleId done = v;
        work.pop_back();
        if (!work.empty()) {
          const auto parent = static_cast<size_t>(work.back().first);
          low[parent] = std::min(low[parent], low[static_cast<size_t>(done)]);
        }
      }
    }
  }

  void collect_refs(ExprId root, std::vector<RuleId>& out) {
    std::vector<ExprId> todo{root};
    std::vector<ExprId> seen;
    while (!todo.empty()) {
      const ExprId id = todo.back();
      todo.pop_back();
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      const Expr& e = g_.expr(id);
      if (e.kind == ExprKind::kRule) {
        out.push_back(e.rule);
      } else {
        todo.insert(todo.end(), e.children.begin(), e.children.end());
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  void flatten(Automaton& a) {
    const size_t n = states_.size();
    a.states_.resize(n);
    // Counting sort of both edge lists by source state, keeping insertion order per state.
    std::vector<uint32_t> edge_at(n + 1, 0), eps_at(n + 1, 0);
    for (const PendingEdge& e : edges_) ++edge_at[static_cast<size_t>(e.from) + 1];
    for (const auto& [from, to] : eps_) ++eps_at[static_cast<size_t>(from) + 1];
    for (size_t s = 0; s < n; ++s) {
      edge_at[s + 1] += edge_at[s];
      eps_at[s + 1] += eps_at[s];
    }
    a.edges_.resize(edges_.size());
    a.eps_.resize(eps_.size());
    std::vector<uint32_t> edge_fill(edge_at.begin(), edge_at.end() - 1), eps_fill(eps_at.begin(), eps_at.end() - 1);
    std::array<bool, 257> boundary{};
    boundary[0] = boundary[256] = true;
    for (const PendingEdge& e : edges_) {
      a.edges_[edge_fill[static_cast<size_t>(e.from)]++] = e.edge;
      boundary[e.edge.lo] = true;
      boundary[static_cast<size_t>(e.edge.hi) + 1] = true;
    }
    for (const auto& [from, to] : eps_) a.eps_[eps_fill[static_cast<size_t>(from)]++] = to;
    for (size_t s = 0; s < n; ++s) {
      Automaton::State& to = a.states_[s];
      to.edges_begin = edge_at[s];
      to.edges_end = edge_at[s + 1];
      to.eps_begin = eps_at[s];
      to.eps_end = eps_at[s + 1];
      to.call_rule = states_[s].call_rule;
      to.call_return = states_[s].call_return;
      to.final = states_[s].final;
    }
    mark_pure_finals(a);
    int cls = -1;
    for (int byte = 0; byte < 256; ++byte) {
      if (boundary[static_cast<size_t>(byte)]) ++cls;
      a.byte_class_[static_cast<size_t>(byte)] = static_cast<uint8_t>(cls);
    }
    a.byte_class_count_ = cls + 1;
  }

  // pure_final: returning to the state is returning from its rule at once (it reaches its
  // rule's final state through epsilons only, with nothing to consume or call on the way).
  void mark_pure_finals(Automaton& a) {
    enum : uint8_t { kUnseen, kBusy, kNo, kYes };
    std::vector<uint8_t> mark(states_.size(), kUnseen);
    for (size_t root = 0; root < states_.size(); ++root) {
      std::vector<std::pair<size_t, size_t>> work{{root, 0}};
      while (!work.empty()) {
        auto& [s, next] = work.back();
        const Automaton::State& b = a.states_[s];
        const size_t n_eps = b.eps_end - b.eps_begin;
        if (next == 0) {
          if (mark[s] != kUnseen) {
            work.pop_back();
            continue;
          }
          mark[s] = kBusy;
          if (b.edges_end > b.edges_begin || b.call_rule >= 0 || (b.final && n_eps > 0) || (!b.final && n_eps == 0)) {
            mark[s] = kNo;
            work.pop_back();
            continue;
          }
        }
        if (next < n_eps) {
          const auto t = static_cast<size_t>(a.eps_[b.eps_begin + next++]);
          if (mark[t] == kUnseen) work.emplace_back(t, 0);
          continue;
        }
        bool pure = true;
        for (uint32_t k = b.eps_begin; k < b.eps_end; ++k) pure = pure && mark[static_cast<size_t>(a.eps_[k])] == kYes;
        mark[s] = pure ? kYes : kNo;
        work.pop_back();
      }
    }
    for (size_t s = 0; s < states_.size(); ++s) a.states_[s].pure_final = mark[s] == kYes;
  }

  const Grammar& g_;
  AutomatonLimits limits_;
  std::vector<Building> states_;
  std::vector<PendingEdge> edges_;
  std::vector<std::pair<Automaton::StateId, Automaton::StateId>> eps_;
  std::vector<bool> recursive_;
  std::vector<int64_t> size_memo_;
  std::vector<int32_t> rule_fragment_;
  std::map<ExprId, int32_t> item_fragment_;
  std::vector<std::pair<int32_t, ExprId>> pending_;
  std::vector<Automaton::StateId> frag_start_;
  std::vector<Automaton::StateId> frag_final_;
  std::vector<Automaton::UnrolledRepeat> repeats_;
  std::set<RuleId> measuring_;
  std::map<ExprId, std::vector<Utf8Sequence>> sequences_;
  static constexpr int64_t kRecordedRepeat = 16;  // shorter repeats gain little from sharing
};

Automaton::Automaton(const Grammar& g, const AutomatonLimits& limits) { *this = AutomatonBuilder(g, limits).build(); }

}  // namespace ragent::grammar
