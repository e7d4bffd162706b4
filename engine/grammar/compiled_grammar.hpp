// A grammar compiled against one vocabulary: the automaton plus a per-state token mask cache,
// shared by every sequence decoding under the grammar.
//
// The mask of a consuming state s is split, as XGrammar does, into the tokens accepted from s
// whatever lies on the stack below (they stay within s's rule, or end exactly where it ends),
// and the "uncertain" tokens that run past the end of s's rule, which the matcher checks
// against its real stack. Rules are copied in place unless recursive (automaton.hpp), so in
// most tool-call grammars nothing is uncertain. Masks are computed on a state's first use by
// one walk over the token trie, advancing a lazily built DFA (its transitions cached per byte
// class) instead of the automaton itself; a state that loops on a broad class of code points
// (a JSON string body) takes the class's tokens from the vocabulary's slice and walks only
// the slice's frontier.
//
// Thread safety: state_mask may be called from any number of threads; the first caller for a
// state computes it under a lock, later callers read it without one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/grammar/automaton.hpp"
#include "engine/grammar/pda.hpp"
#include "engine/grammar/vocabulary.hpp"

namespace ragent::grammar {

struct StateMask {
  const TokenBitset* slice = nullptr;  // accepted: every token of a vocabulary slice, or none
  std::unique_ptr<TokenBitset> bits;   // accepted, when there are many
  std::vector<int32_t> ids;            // accepted, when there are few (sorted)
  std::vector<int32_t> uncertain;      // run past the end of the state's rule (sorted)

  // ORs the accepted tokens into words (token_mask_words(vocabulary) words or more).
  void add_accepted(std::span<uint64_t> words) const;
  size_t accepted_count() const;
};

struct MaskCacheStats {
  size_t states_computed = 0;
  size_t dfa_states = 0;
  size_t walk_steps = 0;  // trie nodes visited by mask walks, all together
};

class CompiledGrammar {
 public:
  // Builds the automaton (throws GrammarError as Automaton does). vocabulary is shared.
  CompiledGrammar(const Grammar& g, std::shared_ptr<const Vocabulary> vocabulary, const AutomatonLimits& limits = {});
  ~CompiledGrammar();

  const Automaton& automaton() const { return automaton_; }
  const Vocabulary& vocabulary() const { return *vocabulary_; }
  const std::shared_ptr<const Vocabulary>& vocabulary_ptr() const { return vocabulary_; }

  // The mask of consuming state s, computed on first use.
  const StateMask& state_mask(Automaton::StateId s) const;
  MaskCacheStats stats() const;

 private:
  struct DfaState;
  void share_repeat_masks();
  int32_t dfa_intern(pda::ConfigSet set, bool escaped) const;
  int32_t dfa_step(int32_t d, uint8_t byte) const;
  std::unique_ptr<StateMask> compute_mask(Automaton::StateId s) const;
  struct Chain {
    SliceClass cls;
    std::vector<int32_t> states;  // states[k]: after k code points of the class
    bool loops = false;           // the last state loops on the class
  };
  Chain class_chain(int32_t d0) const;
  std::bitset<64> full_leads(int32_t d, int32_t target) const;
  int32_t lockstep_successor(int32_t d, const SliceClass& cls) const;
  bool class_dies(int32_t d, const SliceClass& cls) const;
  void walk(int32_t d0, size_t begin, size_t end, TokenBitset& accepted, std::vector<int32_t>& uncertain) const;

  Automaton automaton_;
  std::shared_ptr<const Vocabulary> vocabulary_;
  std::unique_ptr<std::atomic<const StateMask*>[]> masks_;
  // The state whose mask a state uses: itself, or for positions of a long unrolled repeat that
  // no token can carry to either bound, the first such position.
  std::vector<Automaton::StateId> mask_alias_;

  mutable std::mutex mu_;  // guards everything below
  mutable std::vector<std::unique_ptr<StateMask>> owned_;
  mutable pda::StackArena walk_stacks_;
  mutable pda::Runner runner_;
  mutable std::vector<DfaState> dfa_;
  mutable std::unordered_map<std::string, int32_t> dfa_index_;
  mutable std::vector<int32_t> transitions_;  // dfa state * byte classes; -2 unknown, -1 dead
  mutable std::vector<uint8_t> dfa_verdict_;  // by dfa state: a token ending there is rejected/accepted/uncertain
  mutable std::vector<int32_t> walk_states_;  // the walk's state per trie depth
  mutable std::unordered_map<int32_t, std::pair<SliceClass, int32_t>> lockstep_;  // by dfa state
  mutable MaskCacheStats stats_;
};

}  // namespace ragent::grammar
