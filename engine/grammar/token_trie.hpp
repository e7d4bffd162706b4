// The vocabulary side of grammar-constrained decoding: which tokens a byte-level automaton
// accepts from a given state, computed in one linear pass over the vocabulary.
//
// TokenTrie sorts the tokens' byte strings and lays them out as a trie in DFS order, one node
// per distinct prefix, each node knowing where its subtree ends. A walk advances the automaton
// once per node and, when the automaton dies, jumps past the whole subtree, so a selective
// state (inside a JSON key, after a digit) costs far less than the vocabulary's total bytes.
// The trie knows nothing about automata (they are template parameters), so one trie per
// tokenizer serves every grammar and every sequence. The same layout is what XGrammar and
// llguidance use for their token masks.
#pragma once

#include <bit>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ragent::grammar {

// 64-bit words of a mask over n tokens (token t is bit t % 64 of word t / 64).
inline size_t mask_words(size_t n) { return (n + 63) / 64; }

// A set of token ids 0..size()-1 as packed bits: the allowed-token mask a sampler applies.
// Bits at and past size() in the last word are always zero, so count(), equality and the
// word-wise operators need no tail masking.
class TokenBitset {
 public:
  TokenBitset() = default;
  explicit TokenBitset(size_t size) : size_(size), words_((size + 63) / 64, 0) {}

  size_t size() const { return size_; }
  void set(size_t i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  void clear(size_t i) { words_[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
  bool test(size_t i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void set_all();
  void clear_all();
  size_t count() const;
  bool none() const;

  // Both operands must have the same size.
  TokenBitset& operator|=(const TokenBitset& other);
  TokenBitset& operator&=(const TokenBitset& other);
  // Keeps the bits not set in other: removing a set of tokens (the excluded ones) from a mask.
  TokenBitset& subtract(const TokenBitset& other);
  friend bool operator==(const TokenBitset&, const TokenBitset&) = default;

  // fn(id) for every set bit, in increasing order.
  template <class Fn>
  void for_each_set(Fn&& fn) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      for (uint64_t bits = words_[w]; bits != 0; bits &= bits - 1) {
        fn(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
      }
    }
  }

  std::span<const uint64_t> words() const { return words_; }
  // For filling in place; the caller keeps the bits past size() zero.
  std::span<uint64_t> mutable_words() { return words_; }

 private:
  size_t size_ = 0;
  std::vector<uint64_t> words_;
};

class TokenTrie {
 public:
  // One distinct non-empty prefix of the vocabulary's byte strings. The node's bytes are the
  // `byte`s on the path from its depth-1 ancestor to it; in the DFS order the node's
  // descendants are exactly the indices (own index, subtree_end).
  struct Node {
    uint32_t subtree_end;  // index one past the node's last descendant
    int32_t token;         // smallest token id whose bytes end exactly here, or -1
    uint16_t depth;        // length of the node's prefix, >= 1
    uint8_t byte;          // the prefix's last byte
  };
  // A walk streams the node array; 12 bytes a node keeps a 128K vocabulary's ~450K nodes in
  // about 5 MB.
  static_assert(sizeof(Node) == 12);

  // token_bytes[id]: the bytes token `id` decodes to. Tokens with empty bytes, and the ids set
  // in `excluded` (special and control tokens: an empty bitset excludes nothing, otherwise its
  // size must be token_bytes.size()), are left out of the trie. Throws engine::EngineError for
  // a bitset of another size or a token longer than 65535 bytes.
  explicit TokenTrie(std::span<const std::string> token_bytes, const TokenBitset& excluded = {});

  std::span<const Node> nodes() const { return nodes_; }
  size_t node_count() const { return nodes_.size(); }
  // The longest token's length in bytes (0 for an empty trie).
  size_t max_depth() const { return max_depth_; }
  // Number of tokens in the trie (not excluded, not empty).
  size_t token_count() const { return token_count_; }
  size_t vocab_size() const { return next_same_.size(); }
  // The ids in the trie, as a mask.
  const TokenBitset& included() const { return included_; }
  // The next larger id with the same bytes as `id` (which must be in the trie), or -1: real
  // vocabularies map several ids to one byte string.
  int32_t next_same(int32_t id) const { return next_same_[static_cast<size_t>(id)]; }

  // Runs a byte-level automaton over every token in the trie, sharing work across common
  // prefixes. step(const State& parent, uint8_t byte) -> std::optional<State>: the state after
  // one more byte, or nullopt when the automaton dies (the node's whole subtree is skipped).
  // accept(int32_t id, const State& after) is called, in increasing byte order, for each
  // token whose every byte the automaton consumed alive. One allocation per walk (the state
  // stack, max_depth()+1 optionals); none per node beyond what step() itself does.
  template <class State, class Step, class Accept>
  void walk(const State& root, Step&& step, Accept&& accept) const;

  // The tokens every byte of which is in allowed_bytes: the tokens that stay inside a run of
  // one byte class, such as a JSON string's unescaped body.
  TokenBitset tokens_within(const std::bitset<256>& allowed_bytes) const;

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> next_same_;  // by token id
  TokenBitset included_;
  size_t max_depth_ = 0;
  size_t token_count_ = 0;
};

template <class State, class Step, class Accept>
void TokenTrie::walk(const State& root, Step&& step, Accept&& accept) const {
  // states[d]: the automaton after the first d bytes of the current node's path. A node at
  // depth d reads states[d-1] and overwrites states[d]; whatever deeper path came before it is
  // finished, so nothing needs popping.
  std::vector<std::optional<State>> states(max_depth_ + 1);
  states[0] = root;
  const size_t n = nodes_.size();
  size_t i = 0;
  while (i < n) {
    const Node& node = nodes_[i];
    std::optional<State>& next = states[node.depth];
    next = step(std::as_const(*states[node.depth - 1]), node.byte);
    if (!next) {
      i = node.subtree_end;
      continue;
    }
    for (int32_t id = node.token; id >= 0; id = next_same_[static_cast<size_t>(id)]) {
      accept(id, std::as_const(*next));
    }
    ++i;
  }
}

}  // namespace ragent::grammar
