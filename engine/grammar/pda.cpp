#include "engine/grammar/pda.hpp"

#include <algorithm>

namespace ragent::grammar::pda {

StackId StackArena::push(StackId parent, StateId ret) {
  const uint64_t key = (uint64_t{static_cast<uint32_t>(ret)} << 32) | static_cast<uint32_t>(parent);
  auto [it, inserted] = index_.try_emplace(key, static_cast<StackId>(frames_.size()));
  if (inserted) frames_.push_back({ret, parent, depth(parent) + 1});
  return it->second;
}

void StackArena::clear() {
  frames_.clear();
  index_.clear();
}

void Runner::start(StateId s, StackId stack, ConfigSet& out) {
  out.clear();
  seen_.clear();
  expand(s, stack, out);
  finish(out);
}

void Runner::step(const ConfigSet& in, uint8_t byte, ConfigSet& out) {
  out.clear();
  seen_.clear();
  for (const Config& c : in.configs) {
    for (const auto* e = a_.edges_begin(c.state); e != a_.edges_end(c.state); ++e) {
      if (byte >= e->lo && byte <= e->hi) expand(e->target, c.stack, out);
    }
  }
  finish(out);
}

bool Runner::advance(ConfigSet& set, std::string_view bytes) {
  for (char ch : bytes) {
    step(set, static_cast<uint8_t>(ch), scratch_);
    std::swap(set, scratch_);
    if (set.configs.empty() && !set.at_end) return false;
  }
  return true;
}

// Depth-first over epsilons, calls and returns; each (state, stack) is visited once, so
// epsilon loops end. Left recursion is refused by Grammar::validate, so calls always
// consume before they can come back to the same rule with a deeper stack... except through
// nullable repeats of calls, which the stack depth limit bounds.
void Runner::expand(StateId s0, StackId stack0, ConfigSet& out) {
  todo_.clear();
  todo_.push_back({s0, stack0});
  while (!todo_.empty()) {
    const Config c = todo_.back();
    todo_.pop_back();
    const uint64_t key = c.key();
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) continue;
    if (seen_.size() >= kMaxConfigs * 4) {
      throw GrammarError("grammar too ambiguous: more than " + std::to_string(kMaxConfigs * 4) +
                         " parser configurations after one byte");
    }
    seen_.push_back(key);
    const Automaton::State& st = a_.state(c.state);
    if (a_.consumes(c.state)) out.configs.push_back(c);
    for (const StateId* e = a_.eps_begin(c.state); e != a_.eps_end(c.state); ++e) todo_.push_back({*e, c.stack});
    if (st.call_rule >= 0) {
      const StateId entry = a_.fragment_start(st.call_rule);
      if (a_.state(st.call_return).pure_final) {
        todo_.push_back({entry, c.stack});  // tail call: returning there returns at once
      } else if (stacks_.depth(c.stack) < kMaxStackDepth) {
        todo_.push_back({entry, stacks_.push(c.stack, st.call_return)});
      }
    }
    if (st.final) {
      if (c.stack == kEmptyStack) {
        out.at_end = true;
      } else {
        todo_.push_back({stacks_.top(c.stack), stacks_.parent(c.stack)});
      }
    }
  }
}

void Runner::finish(ConfigSet& out) {
  auto& v = out.configs;
  std::sort(v.begin(), v.end(), [](const Config& x, const Config& y) { return x.key() < y.key(); });
  v.erase(std::unique(v.begin(), v.end()), v.end());
  if (v.size() > kMaxConfigs) {
    throw GrammarError("grammar too ambiguous: more than " + std::to_string(kMaxConfigs) + " parser configurations");
  }
}

}  // namespace ragent::grammar::pda
