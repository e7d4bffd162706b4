// Running the pushdown automaton (automaton.hpp): configurations, persistent stacks, the
// epsilon closure and the byte step. Shared by the matcher (real stacks) and by the mask
// cache (stacks relative to the state a mask is computed for). Internal to engine/grammar.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/grammar/automaton.hpp"

namespace ragent::grammar::pda {

using StateId = Automaton::StateId;
using StackId = int32_t;
constexpr StackId kEmptyStack = -1;
constexpr int32_t kMaxStackDepth = 4096;  // deeper nesting is rejected
constexpr size_t kMaxConfigs = 4096;      // a more ambiguous grammar is an error

// Return points, interned: equal stacks have equal ids, so configurations compare as pairs.
class StackArena {
 public:
  StackId push(StackId parent, StateId ret);
  StateId top(StackId s) const { return frames_[static_cast<size_t>(s)].ret; }
  StackId parent(StackId s) const { return frames_[static_cast<size_t>(s)].parent; }
  int32_t depth(StackId s) const { return s < 0 ? 0 : frames_[static_cast<size_t>(s)].depth; }
  size_t size() const { return frames_.size(); }
  void clear();

 private:
  struct Frame {
    StateId ret;
    StackId parent;
    int32_t depth;
  };
  std::vector<Frame> frames_;
  std::unordered_map<uint64_t, StackId> index_;
};

struct Config {
  StateId state;
  StackId stack;
  uint64_t key() const { return (uint64_t{static_cast<uint32_t>(state)} << 32) | static_cast<uint32_t>(stack); }
  friend bool operator==(const Config&, const Config&) = default;
};

// A set of configurations whose states all consume bytes, plus whether the root (or, for the
// mask cache, the state the walk started in) can end here.
struct ConfigSet {
  std::vector<Config> configs;  // sorted by key, unique
  bool at_end = false;
  void clear() {
    configs.clear();
    at_end = false;
  }
};

// Closure and byte steps over one automaton and one stack arena. Holds scratch buffers, so
// one Runner per thread of use.
class Runner {
 public:
  Runner(const Automaton& a, StackArena& stacks) : a_(a), stacks_(stacks) {}

  // out = closure of {(s, stack)}. Throws GrammarError past kMaxConfigs.
  void start(StateId s, StackId stack, ConfigSet& out);
  // out = closure of every config of in advanced by `byte` (out may not alias in).
  void step(const ConfigSet& in, uint8_t byte, ConfigSet& out);
  // Advances `set` by every byte; false (set left dead or partial) when a byte kills it.
  bool advance(ConfigSet& set, std::string_view bytes);

 private:
  void expand(StateId s, StackId stack, ConfigSet& out);
  void finish(ConfigSet& out);

  const Automaton& a_;
  StackArena& stacks_;
  std::vector<Config> todo_;
  std::vector<uint64_t> seen_;
  ConfigSet scratch_;
};

}  // namespace ragent::grammar::pda
