// A tokenizer's vocabulary as grammar masks see it: built once per tokenizer and shared by
// every compiled grammar and every sequence.
//
// Besides the token trie it keeps "slices": for a class of code points (a set of ASCII bytes,
// plus the code points of a set of UTF-8 lead bytes), the tokens whose bytes are nothing but such
// code points (a trailing, valid, incomplete UTF-8 sequence included), counted by code points,
// and the frontier: the trie nodes where a path of whole class code points first meets a byte
// outside the class. A grammar state that loops on the class (inside a JSON string, say), or
// steps through it k times in lockstep (a bounded string), accepts the slice's tokens of at
// most k code points outright and walks only the frontier's subtrees (and, for a bound k, the
// subtrees past code point k). Slices are computed on first request (one pass over the trie)
// and cached.
//
// Thread safety: all const members may be called from any thread; slice() locks while it
// computes a new class.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/grammar/token_trie.hpp"

namespace ragent::grammar {

struct SliceClass {
  std::bitset<128> ascii;  // ASCII bytes in the class
  // Lead bytes (bit b - 0xC0) every code point of which is in the class; code points of other
  // lead bytes are outside it.
  std::bitset<64> leads;
  void set_all_non_ascii() {
    for (int b = 0xC2; b <= 0xF4; ++b) leads.set(static_cast<size_t>(b - 0xC0));
  }
  bool operator<(const SliceClass& other) const;
};

struct Slice {
  // A trie node with the number of class code points on the path to its parent.
  struct Entry {
    uint32_t node;
    uint32_t parent_code_points;
  };
  TokenBitset tokens;  // tokens made only of the class's code points
  // up_to[k]: those of them that start at most k code points (a trailing incomplete UTF-8
  // sequence counts as one), k = 0..max_code_points.
  std::vector<TokenBitset> up_to;
  size_t max_code_points = 0;
  std::vector<Entry> frontier;            // the first byte outside the class on a class path
  std::vector<std::vector<uint32_t>> deeper;  // deeper[k]: nodes starting class code point k + 1
};

// Which tokens complete a trigger string (such as `<TOOLCALL>`) from each partial match, so
// that a lazy grammar can check them before it is armed.
struct TriggerTable {
  std::string trigger;
  std::vector<uint32_t> failure;  // Knuth-Morris-Pratt: the fallback for each matched length
  // completing[k]: (token, bytes of the token up to and including the trigger's last byte),
  // for the tokens that complete the trigger when its first k bytes are already matched.
  std::vector<std::vector<std::pair<int32_t, uint32_t>>> completing;

  TriggerTable(std::span<const std::string> tokens, std::string_view trigger);
  // The matched length after one more byte (matched < trigger.size()).
  uint32_t step(uint32_t matched, uint8_t byte) const;
};

class Vocabulary {
 public:
  // token_bytes[id]: the bytes token id decodes to. excluded: special tokens that are never
  // text (they are not in the trie; a grammar never allows them). stop_tokens: the ids a
  // grammar allows when it can end (end of text, end of turn). Throws engine::EngineError as
  // TokenTrie does, or for a stop token id out of range.
  Vocabulary(std::vector<std::string> token_bytes, const TokenBitset& excluded, std::vector<int32_t> stop_tokens);

  size_t size() const { return tokens_.size(); }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  const TokenTrie& trie() const { return trie_; }
  std::span<const int32_t> stop_tokens() const { return stop_tokens_; }
  bool is_stop_token(int32_t id) const;

  // The slice of cls, computed on the first call for it.
  const Slice& slice(const SliceClass& cls) const;
  size_t slice_count() const;
  // The trigger table of `trigger` (not empty), computed on the first call for it.
  const TriggerTable& trigger_table(std::string_view trigger) const;

 private:
  std::vector<std::string> tokens_;
  TokenTrie trie_;
  std::vector<int32_t> stop_tokens_;
  mutable std::mutex mu_;
  mutable std::map<SliceClass, std::unique_ptr<Slice>> slices_;
  mutable std::map<std::string, std::unique_ptr<TriggerTable>, std::less<>> triggers_;
};

}  // namespace ragent::grammar
