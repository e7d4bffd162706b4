#include "engine/grammar/compiled_grammar.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "engine/grammar/utf8_ranges.hpp"

namespace ragent::grammar {

namespace {

constexpr size_t kListLimit = 2048;  // accepted ids kept as a list up to this many, else bits
constexpr int32_t kUnknown = -2;
constexpr int32_t kDead = -1;
constexpr size_t kSliceMinAscii = 16;  // a loop on fewer ASCII bytes is cheap to walk anyway
constexpr uint8_t kRejects = 0, kAccepts = 1, kUncertain = 2;  // what a token ending in a DFA state is
constexpr size_t kChainLimit = 24;  // code points a class chain follows at most

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
  share_repeat_masks();
}

// A token of at most D bytes (D: the longest token) takes a repeat through at most D copies
// when every copy consumes a byte. So the positions from which it can reach neither the
// minimum nor the maximum count accept the same tokens in the same way: the mandatory ones
// more than D copies before the minimum, and the optional ones more than D before the maximum.
void CompiledGrammar::share_repeat_masks() {
  mask_alias_.resize(automaton_.state_count());
  for (size_t s = 0; s < mask_alias_.size(); ++s) mask_alias_[s] = static_cast<Automaton::StateId>(s);
  const auto reach = static_cast<int64_t>(vocabulary_->trie().max_depth());
  for (const Automaton::UnrolledRepeat& r : automaton_.unrolled_repeats()) {
    if (r.item_min_bytes < 1) continue;
    Automaton::StateId mandatory = -1, optional = -1;
    for (size_t i = 1; i < r.positions.size(); ++i) {  // position 0 is the repeat's entry, shared with siblings
      const auto at = static_cast<int64_t>(i);
      Automaton::StateId* rep = nullptr;
      if (r.min - at > reach) {
        rep = &mandatory;
      } else if (at >= r.min && r.max != Grammar::kUnbounded && r.max - at > reach) {
        rep = &optional;
      }
      if (!rep) continue;
      if (*rep < 0) *rep = r.positions[i];
      mask_alias_[static_cast<size_t>(r.positions[i])] = *rep;
    }
  }
}

CompiledGrammar::~CompiledGrammar() = default;

MaskCacheStats CompiledGrammar::stats() const {
  std::lock_guard lock(mu_);
  MaskCacheStats s = stats_;
  s.dfa_states = dfa_.size();
  return s;
}

const StateMask& CompiledGrammar::state_mask(Automaton::StateId state) const {
  const Automaton::StateId s = mask_alias_[static_cast<size_t>(state)];
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
    // What a token ending here is: accepted (a path consumed it all, or ended the start state's
    // rule right at its end), uncertain (a path left the rule before), or rejected.
    const bool ok = !d.set.configs.empty() || d.set.at_end;
    dfa_verdict_.push_back(ok ? kAccepts : d.escaped ? kUncertain : kRejects);
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

// The lead bytes every valid multi-byte UTF-8 sequence of which leads from d to target (bytes
// of one class behave alike, so one byte per class run is tried).
std::bitset<64> CompiledGrammar::full_leads(int32_t d, int32_t target) const {
  const auto& cls = automaton_.byte_class();
  std::map<std::tuple<int32_t, int, int, int>, bool> memo;
  auto continues = [&](auto&& self, int32_t at, int remaining, int lo, int hi) -> bool {
    const auto key = std::make_tuple(at, remaining, lo, hi);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    bool ok = true;
    for (int b = lo; b <= hi && ok; ++b) {
      if (b > lo && cls[static_cast<size_t>(b)] == cls[static_cast<size_t>(b - 1)]) continue;
      const int32_t next = dfa_step(at, static_cast<uint8_t>(b));
      ok = next >= 0 && (remaining == 1 ? next == target : self(self, next, remaining - 1, 0x80, 0xBF));
    }
    return memo[key] = ok;
  };
  std::bitset<64> out;
  for (int b = 0xC2; b <= 0xF4; ++b) {
    const Utf8Lead lead = utf8_lead(static_cast<uint8_t>(b));
    const int32_t next = dfa_step(d, static_cast<uint8_t>(b));
    if (next >= 0 && continues(continues, next, lead.remaining, lead.lo, lead.hi)) out.set(static_cast<size_t>(b - 0xC0));
  }
  return out;
}

// Trie nodes [begin, end), a subtree or the whole trie, from parent state d0. Accepted tokens
// go into `accepted` (bits), uncertain ones onto `uncertain`.
void CompiledGrammar::walk(int32_t d0, size_t begin, size_t end, TokenBitset& accepted, std::vector<int32_t>& uncertain) const {
  const TokenTrie& trie = vocabulary_->trie();
  const auto nodes = trie.nodes();
  if (begin >= end) return;
  std::vector<int32_t>& at = walk_states_;
  at.resize(trie.max_depth() + 1);
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
      const uint8_t verdict = dfa_verdict_[static_cast<size_t>(d)];
      for (int32_t id = node.token; verdict != kRejects && id >= 0; id = trie.next_same(id)) {
        if (verdict == kAccepts) {
          accepted.set(static_cast<size_t>(id));
        } else {
          uncertain.push_back(id);
        }
      }
    }
    ++i;
  }
}

// The states a walk passes through on code points of one class, in lockstep: states[k] after
// any k of them. Empty when no broad class moves d0 in lockstep.
CompiledGrammar::Chain CompiledGrammar::class_chain(int32_t d0) const {
  Chain chain;
  std::map<int32_t, int> votes;
  std::array<int32_t, 128> to{};
  for (int b = 0; b < 128; ++b) {
    to[static_cast<size_t>(b)] = dfa_step(d0, static_cast<uint8_t>(b));
    if (to[static_cast<size_t>(b)] >= 0) ++votes[to[static_cast<size_t>(b)]];
  }
  int32_t first = -1;
  int best = 0;
  for (const auto& [t, n] : votes) {
    if (n > best) best = n, first = t;
  }
  if (first >= 0) {
    for (int b = 0; b < 128; ++b) chain.cls.ascii[static_cast<size_t>(b)] = to[static_cast<size_t>(b)] == first;
  }
  if (first >= 0) chain.cls.leads = full_leads(d0, first);
  if (chain.cls.ascii.count() < kSliceMinAscii && chain.cls.leads.none()) return chain;
  const Slice& slice = vocabulary_->slice(chain.cls);
  chain.states = {d0};
  for (int32_t next = first;;) {
    // Only states with live configurations accept: past the end of the start state's rule a
    // token is uncertain, and the walks must say so.
    if (dfa_[static_cast<size_t>(next)].set.configs.empty()) break;
    if (next == chain.states.back()) {
      chain.loops = true;
      break;
    }
    chain.states.push_back(next);
    // Past kChainLimit code points few tokens go on: the walks past the chain's end take them.
    if (chain.states.size() > std::min(slice.max_code_points, kChainLimit)) break;
    next = lockstep_successor(next, chain.cls);
    if (next < 0) break;
  }
  return chain;
}

// No code point of cls (its first byte) continues from d: a bound reached, as at the end of a
// string of maxLength code points. Then nothing past the chain needs walking.
bool CompiledGrammar::class_dies(int32_t d, const SliceClass& cls) const {
  for (int b = 0; b < 256; ++b) {
    const bool in = b < 128 ? cls.ascii[static_cast<size_t>(b)] : b >= 0xC0 && cls.leads[static_cast<size_t>(b - 0xC0)];
    if (in && dfa_step(d, static_cast<uint8_t>(b)) >= 0) return false;
  }
  return true;
}

// The state every code point of cls takes d to, or -1 (they part, or one dies). Cached per
// state for the last class asked: the positions of a bounded string all ask the same.
int32_t CompiledGrammar::lockstep_successor(int32_t d, const SliceClass& cls) const {
  auto [it, inserted] = lockstep_.try_emplace(d);
  if (!inserted && !(it->second.first < cls) && !(cls < it->second.first)) return it->second.second;
  int32_t next = -1;
  bool lockstep = true;
  for (int b = 0; b < 128 && lockstep; ++b) {
    if (!cls.ascii[static_cast<size_t>(b)]) continue;
    const int32_t t = dfa_step(d, static_cast<uint8_t>(b));
    if (next < 0) next = t;
    lockstep = t >= 0 && t == next;
  }
  if (lockstep && next >= 0 && cls.leads.any()) lockstep = (full_leads(d, next) & cls.leads) == cls.leads;
  it->second = {cls, lockstep ? next : -1};
  return it->second.second;
}

std::unique_ptr<StateMask> CompiledGrammar::compute_mask(Automaton::StateId s) const {
  // The walk starts from the closure of s alone. An end of s's rule reachable without input is
  // left out: the matcher's own closure holds the configurations beyond it.
  pda::ConfigSet start;
  runner_.start(s, pda::kEmptyStack, start);
  start.at_end = false;
  const int32_t d0 = dfa_intern(std::move(start), false);

  auto mask = std::make_unique<StateMask>();
  TokenBitset accepted(vocabulary_->size());
  std::vector<int32_t> uncertain;
  const TokenTrie& trie = vocabulary_->trie();
  const auto nodes = trie.nodes();
  const Chain chain = class_chain(d0);
  if (!chain.states.empty()) {
    // Tokens of class code points only are accepted while the chain lasts; the rest of the
    // trie is reached through the frontier (a byte outside the class after j class code
    // points: walked from the state after j) and, when the chain ends after r code points,
    // through the nodes that start code point r + 1.
    const Slice& slice = vocabulary_->slice(chain.cls);
    const size_t last = chain.states.size() - 1;
    mask->slice = chain.loops ? &slice.tokens : &slice.up_to[std::min(last, slice.max_code_points)];
    for (const Slice::Entry& f : slice.frontier) {
      if (!chain.loops && f.parent_code_points > last) continue;
      walk(chain.states[std::min<size_t>(f.parent_code_points, last)], f.node, nodes[f.node].subtree_end, accepted, uncertain);
    }
    if (!chain.loops && last < slice.deeper.size() && !class_dies(chain.states[last], chain.cls)) {
      for (uint32_t n : slice.deeper[last]) walk(chain.states[last], n, nodes[n].subtree_end, accepted, uncertain);
    }
  } else {
    walk(d0, 0, trie.node_count(), accepted, uncertain);
  }
  std::sort(uncertain.begin(), uncertain.end());
  if (accepted.count() > kListLimit) {
    mask->bits = std::make_unique<TokenBitset>(std::move(accepted));
  } else {
    accepted.for_each_set([&](size_t id) { mask->ids.push_back(static_cast<int32_t>(id)); });
  }
  mask->uncertain = std::move(uncertain);
  return mask;
}

}  // namespace ragent::grammar
