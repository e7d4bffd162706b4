// The grammar IR compiled for decoding: a byte-level pushdown automaton over UTF-8.
//
// Each rule that is kept (recursive rules, and rules too large to copy) becomes a fragment of
// states from its start to its final state; every other rule reference is copied in place, so
// a tool call's grammar is usually one flat automaton and its token masks depend on the state
// alone. A state may carry, at once:
//   byte edges   [lo, hi] -> target, consuming one byte;
//   epsilon      -> target, consuming nothing;
//   a call       enter rule `call_rule`, and when it finishes continue at `call_return`;
//   final        the end of its rule: return to the caller (or, in the root rule, the end).
// Code point classes are split into UTF-8 byte ranges (utf8_ranges.hpp), so every path
// accepts valid UTF-8 only, and a byte string is accepted exactly when its UTF-8 text is in
// the grammar's language. Bounded repeats are unrolled; an item too large to unroll becomes a
// rule of its own that each copy calls.
//
// Immutable after construction; share it between threads freely.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {

struct AutomatonLimits {
  int64_t max_states = 2'000'000;       // a larger automaton is a GrammarError
  int64_t inline_rule_states = 50'000;  // a non-recursive rule larger than this is called
  // A repeat whose copies would exceed this many states calls its item instead, unless the
  // item is small and calls nothing (a character class: unrolled up to max_states).
  int64_t unroll_states = 20'000;
  int64_t small_item_states = 256;
};

class Automaton {
 public:
  using StateId = int32_t;

  struct ByteEdge {
    uint8_t lo;
    uint8_t hi;
    StateId target;
  };

  struct State {
    uint32_t edges_begin = 0;  // byte edges: [edges_begin, edges_end) of the edge array
    uint32_t edges_end = 0;
    uint32_t eps_begin = 0;    // epsilon targets: [eps_begin, eps_end) of the epsilon array
    uint32_t eps_end = 0;
    int32_t call_rule = -1;     // a fragment index (rule_start()), or -1
    StateId call_return = -1;
    bool final = false;
    // Final with nothing else: returning here means returning at once, so a call that would
    // come back to it pushes nothing (a tail call; right recursion keeps the stack flat).
    bool pure_final = false;
  };

  // Validates g (Grammar::validate) and builds the automaton. Throws GrammarError.
  explicit Automaton(const Grammar& g, const AutomatonLimits& limits = {});

  StateId start() const { return start_; }
  const State& state(StateId s) const { return states_[static_cast<size_t>(s)]; }
  size_t state_count() const { return states_.size(); }
  size_t edge_count() const { return edges_.size(); }
  size_t fragment_count() const { return fragment_start_.size(); }
  StateId fragment_start(int32_t fragment) const { return fragment_start_[static_cast<size_t>(fragment)]; }

  // Byte edges and epsilons of state s.
  const ByteEdge* edges_begin(StateId s) const { return edges_.data() + state(s).edges_begin; }
  const ByteEdge* edges_end(StateId s) const { return edges_.data() + state(s).edges_end; }
  const StateId* eps_begin(StateId s) const { return eps_.data() + state(s).eps_begin; }
  const StateId* eps_end(StateId s) const { return eps_.data() + state(s).eps_end; }
  bool consumes(StateId s) const { return state(s).edges_end > state(s).edges_begin; }

  // A repeat unrolled in place, item{min,max}: positions[i] is the state before copy i
  // (i = 0..max-1, or 0..min for an unbounded one, whose last position loops). Positions far
  // from both bounds behave alike for any text shorter than that distance, so a mask cache
  // can share one mask among them (compiled_grammar.cpp).
  struct UnrolledRepeat {
    std::vector<StateId> positions;
    int32_t min = 0;
    int32_t max = 0;  // Grammar::kUnbounded for no limit
    int64_t item_min_bytes = 0;  // every copy of the item consumes at least this many bytes
  };
  const std::vector<UnrolledRepeat>& unrolled_repeats() const { return repeats_; }

  // Bytes partitioned into classes no edge tells apart: byte_class()[b] for each byte.
  const std::array<uint8_t, 256>& byte_class() const { return byte_class_; }
  int byte_class_count() const { return byte_class_count_; }

 private:
  friend class AutomatonBuilder;
  Automaton() = default;

  std::vector<State> states_;
  std::vector<ByteEdge> edges_;
  std::vector<StateId> eps_;
  std::vector<StateId> fragment_start_;
  std::vector<UnrolledRepeat> repeats_;
  StateId start_ = -1;
  std::array<uint8_t, 256> byte_class_{};
  int byte_class_count_ = 0;
};

}  // namespace ragent::grammar
