#include "engine/grammar/compiled_grammar.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

namespace ragent::grammar {

namespace {

constexpr size_t kListLimit = 2048;  // accepted ids kept as a list up to this many, else bits
constexpr int32_t kUnknown = -2;
constexpr int32_t kDead = -1;
constexpr size_t kSliceMinAscii = 16;  // a loop on fewer ASCII bytes is cheap to walk anyway

// The continuation bytes a valid UTF-8 lead byte asks for: count, and the first one's range.
struct Lead {
  int remaining;
  uint8_t lo;
  uint8_t hi;
};
Lead lead_of(int b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

void StateMask::add_accepted(std::span<uint64_t> words) const {
  if (slice) {
    const auto src = slice->words();
    for (size_t w = 0; w < src.size(); ++w) words[w] |= src[w];
  }
  if (bits) {
    const auto src = bits->words();
    for (size_t w = 0; w < src.size(); ++w) words[w] |= src[w];
  }
  for (int32_t id : ids) words[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
}

size_t StateMask::accepted_count() const {
  return (slice ? slice->count() : 0) + (bits ? bits->count() : 0) + ids.size();
}

struct CompiledGrammar::DfaState {
  pda::ConfigSet set;
  bool escaped = false;  // some path left the start state's rule before this byte
  size_t row = 0;        // into transitions_
};

CompiledGrammar::CompiledGrammar(const Grammar& g, std::shared_ptr<const Vocabulary> vocabulary,
                                 const AutomatonLimits& limits)
    : automaton_(g, limits),
      vocabulary_(std::move(vocabulary)),
      masks_(new std::atomic<const StateMask*>[automaton_.state_count()]),
      runner_(automaton_, walk_stacks_) {
  for (size_t s = 0; s < automaton_.state_count(); ++s) masks_[s].store(nullptr, std::memory_order_relaxed);
}

CompiledGrammar::~CompiledGrammar() = default;

MaskCacheStats CompiledGrammar::stats() const {
  std::lock_guard lock(mu_);
  MaskCacheStats s = stats_;
  s.dfa_states = dfa_.size();
  return s;
}

const StateMask& CompiledGrammar::state_mask(Automaton::StateId s) const {
  std::atomic<const StateMask*>& slot = masks_[static_cast<size_t>(s)];
  if (const StateMask* m = slot.load(std::memory_order_acquire)) return *m;
  std::lock_guard lock(mu_);
  if (const StateMask* m = slot.load(std::memory_order_relaxed)) return *m;
  owned_.push_back(compute_mask(s));
  ++stats_.states_computed;
  slot.store(owned_.back().get(), std::memory_order_release);
  return *owned_.back();
}

int32_t CompiledGrammar::dfa_intern(pda::ConfigSet set, bool escaped) const {
  std::string key(set.configs.size() * sizeof(uint64_t) + 2, '\0');
  for (size_t i = 0; i < set.configs.size(); ++i) {
    const uint64_t k = set.configs[i].key();
    std::memcpy(key.data() + i * sizeof(uint64_t), &k, sizeof k);
  }
  key[key.size() - 2] = set.at_end ? 1 : 0;
  key[key.size() - 1] = escaped ? 1 : 0;
  auto [it, inserted] = dfa_index_.try_emplace(std::move(key), static_cast<int32_t>(dfa_.size()));
  if (inserted) {
    DfaState d;
    d.set = std::move(set);
    d.escaped = escaped;
    d.row = transitions_.size();
    transitions_.resize(transitions_.size() + static_cast<size_t>(automaton_.byte_class_count()), kUnknown);
    dfa_.push_back(std::move(d));
  }
  return it->second;
}

int32_t CompiledGrammar::dfa_step(int32_t d, uint8_t byte) const {
  const size_t slot = dfa_[static_cast<size_t>(d)].row + automaton_.byte_class()[byte];
  if (transitions_[slot] != kUnknown) return transitions_[slot];
  pda::ConfigSet next;
  runner_.step(dfa_[static_cast<size_t>(d)].set, byte, next);
  const bool escaped = dfa_[static_cast<size_t>(d)].escaped || dfa_[static_cast<size_t>(d)].set.at_end;
  int32_t t = kDead;
  if (!next.configs.empty() || next.at_end || escaped) t = dfa_intern(std::move(next), escaped);
  transitions_[slot] = t;
  return t;
}

// Every valid multi-byte UTF-8 sequence leads from d back to d (bytes of one class behave
// alike, so one byte per class run is tried).
bool CompiledGrammar::loops_on_non_ascii(int32_t d) const {
  const auto& cls = automaton_.byte_class();
  std::set<std::tuple<int32_t, int, int, int>> checked;
  auto continues = [&](auto&& self, int32_t at, int remaining, int lo, int hi) -> bool {
    if (!checked.emplace(at, remaining, lo, hi).second) return true;
    for (int b = lo; b <= hi; ++b) {
      if (b > lo && cls[static_cast<size_t>(b)] == cls[static_cast<size_t>(b - 1)]) continue;
      const int32_t next = dfa_step(at, static_cast<uint8_t>(b));
      if (next < 0) return false;
      if (remaining == 1 ? next != d : !self(self, next, remaining - 1, 0x80, 0xBF)) return false;
    }
    return true;
  };
  for (int b = 0xC2; b <= 0xF4; ++b) {
    const Lead lead = lead_of(b);
    const int32_t next = dfa_step(d, static_cast<uint8_t>(b));
    if (next < 0 || !continues(continues, next, lead.remaining, lead.lo, lead.hi)) return false;
  }
  return true;
}

// Trie nodes [begin, end), a subtree or the whole trie, from parent state d0.
void CompiledGrammar::walk(int32_t d0, size_t begin, size_t end, std::vector<int32_t>& accepted,
                           std::vector<int32_t>& uncertain) const {
  const TokenTrie& trie = vocabulary_->trie();
  const auto nodes = trie.nodes();
  if (begin >= end) return;
  std::vector<int32_t> at(trie.max_depth() + 1, kDead);
  at[nodes[begin].depth - 1u] = d0;
  size_t i = begin;
  while (i < end) {
    const TokenTrie::Node& node = nodes[i];
    ++stats_.walk_steps;
    const int32_t d = dfa_step(at[node.depth - 1u], node.byte);
    if (d < 0) {
      i = node.subtree_end;
      continue;
    }
    at[node.depth] = d;
    if (node.token >= 0) {
      const DfaState& st = dfa_[static_cast<size_t>(d)];
      const bool ok = !st.set.configs.empty() || st.set.at_end;
      if (ok || st.escaped) {
        for (int32_t id = node.token; id >= 0; id = trie.next_same(id)) (ok ? accepted : uncertain).push_back(id);
      }
    }
    ++i;
  }
}

std::unique_ptr<StateMask> CompiledGrammar::compute_mask(Automaton::StateId s) const {
  // The walk starts from the closure of s alone. An end of s's rule reachable without input is
  // left out: the matcher's own closure holds the configurations beyond it.
  pda::ConfigSet start;
  runner_.start(s, pda::kEmptyStack, start);
  start.at_end = false;
  const int32_t d0 = dfa_intern(std::move(start), false);

  auto mask = std::make_unique<StateMask>();
  std::vector<int32_t> accepted, uncertain;
  SliceClass cls;
  for (int b = 0; b < 128; ++b) cls.ascii[static_cast<size_t>(b)] = dfa_step(d0, static_cast<uint8_t>(b)) == d0;
  cls.non_ascii = loops_on_non_ascii(d0);
  const TokenTrie& trie = vocabulary_->trie();
  if (cls.ascii.count() >= kSliceMinAscii || cls.non_ascii) {
    const Slice& slice = vocabulary_->slice(cls);
    mask->slice = &slice.tokens;
    const auto nodes = trie.nodes();
    for (uint32_t f : slice.frontier) walk(d0, f, nodes[f].subtree_end, accepted, uncertain);
  } else {
    walk(d0, 0, trie.node_count(), accepted, uncertain);
  }
  std::sort(accepted.begin(), accepted.end());
  std::sort(uncertain.begin(), uncertain.end());
  if (accepted.size() > kListLimit) {
    mask->bits = std::make_unique<TokenBitset>(vocabulary_->size());
    for (int32_t id : accepted) mask->bits->set(static_cast<size_t>(id));
  } else {
    mask->ids = std::move(accepted);
  }
  mask->uncertain = std::move(uncertain);
  return mask;
}

}  // namespace ragent::grammar
