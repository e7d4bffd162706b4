// Internal tables of a Tokenizer, shared by the tokenizer sources. Not a public header.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/pretokenize.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// Byte-level BPE stores bytes as printable code points (GPT-2's bytes_to_unicode): the
// byte itself where it is printable, else U+0100 upwards in byte order.
std::array<uint32_t, 256> byte_to_codepoint_table();

// Open-addressing hash tables for the two lookups on the encode path (a merge by token pair,
// a token by its bytes): power-of-two capacity, linear probing, built once, then read-only.
template <typename Value>
class PairTable {
 public:
  static uint64_t key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    slots_.assign(capacity, Slot{kEmpty, Value{}});
    mask_ = capacity - 1;
  }
  // Keeps the first value inserted for a key.
  void insert(uint64_t k, Value value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = hash(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return;
      if (slots_[i].key == kEmpty) {
        slots_[i] = Slot{k, value};
        ++size_;
        return;
      }
    }
  }
  const Value* find(uint64_t k) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = hash(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return &slots_[i].value;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key;
    Value value;
  };
  size_t hash(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(std::max<size_t>(old.size(), 16));  // doubles the capacity
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.key != kEmpty) insert(slot.key, slot.value);
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Hash of a byte string: eight bytes per step (the tail zero-extended, the length mixed in),
// then a final mix so the low bits are usable.
inline uint64_t hash_bytes(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull ^ text.size();
  size_t pos = 0;
  for (; pos + 8 <= text.size(); pos += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, text.data() + pos, 8);
    h = (h ^ chunk) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
  }
  if (const size_t rest = text.size() - pos; rest != 0) {
    uint64_t chunk = 0;
    if (text.size() >= 8) {
      // The last eight bytes, shifted so only the ones not hashed yet remain: one load.
      std::memcpy(&chunk, text.data() + text.size() - 8, 8);
      chunk >>= 8 * (8 - rest);
    } else {
      for (size_t k = 0; k < rest; ++k) chunk |= uint64_t{static_cast<unsigned char>(text[pos + k])} << (8 * k);
    }
    h = (h ^ chunk) * 0x9E3779B97F4A7C15ull;
  }
  return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull >> 16;
}

// Byte string -> token id. The strings are views into storage that outlives the table.
class PieceTable {
 public:
  void build(const std::vector<std::pair<std::string_view, TokenId>>& entries) {
    size_t capacity = 16;
    while (capacity < entries.size() * 2) capacity *= 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const auto& [text, id] : entries) {
      uint64_t h = hash_bytes(text);
      for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].id < 0) {
          slots_[i] = Slot{h, text, id};
          break;
        }
        if (slots_[i].hash == h && slots_[i].text == text) break;  // first id wins
      }
    }
  }
  TokenId find(std::string_view text) const { return find(text, hash_bytes(text)); }
  // `h` is hash_bytes(text).
  TokenId find(std::string_view text, uint64_t h) const {
    if (slots_.empty()) return -1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.hash == h && slot.text == text) return slot.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::string_view text;
    TokenId id = -1;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

struct Tokenizer::Impl {
  enum class Model { byte_level, sentencepiece };

  struct Merge {
    int32_t rank;
    TokenId result;
  };

  // Special and added tokens as a byte trie, matched leftmost-longest.
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> children;  // byte -> node index
    TokenId id = -1;
  };

  Model model = Model::byte_level;
  PreTokenizerKind pre = PreTokenizerKind::gpt2;
  std::vector<std::string> texts;        // as given in the spec
  std::vector<std::string> bytes;        // what each token decodes to
  std::vector<TokenType> types;
  // Raw bytes of a normal token -> id: what BPE pieces are looked up in.
  PieceTable piece_ids;
  std::array<TokenId, 256> byte_ids{};   // token of each single byte, -1 if none
  PairTable<Merge> merges;               // PairTable::key(left, right) -> merge
  // Byte-level only: merges of two single-byte tokens, indexed by (first byte << 8 | second),
  // rank -1 where none. Dense and small, so the first merges of a word miss no cache.
  std::vector<Merge> byte_pair_merges;
  std::vector<TrieNode> trie;            // node 0 is the root
  std::array<bool, 256> trie_first_byte{};
  std::unordered_map<std::string_view, TokenId> special_ids;
  TokenId bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = true, ignore_merges = false;
  bool space_prefix_only_at_start = false;
  // SentencePiece: no piece holds a space right after another character, so text can be
  // cut before each run of spaces and the parts merged independently.
  bool spaces_bound_pieces = false;
  uint64_t serial = 0;  // unique per Tokenizer: keys the per-thread word cache

  void check_id(TokenId id) const;
  // Longest special/added token starting at text[pos]: {id, length}, or {-1, 0}.
  std::pair<TokenId, size_t> match_special(std::string_view text, size_t pos,
                                           bool parse_special) const;
  // Encodes text between special tokens; `at_start`: it begins the input.
  void encode_text(std::string_view text, bool at_start, std::vector<TokenId>& out) const;
  // One pre-token: whole-word lookup (ignore_merges), the word cache, then bpe.
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  void bpe(std::string_view word, std::vector<TokenId>& out) const;
  // Byte-level words up to kShortWordBytes (every byte has a token, checked at load): the
  // lowest-ranked pair found by scanning a small array, cheaper than queues at this size.
  static constexpr size_t kShortWordBytes = 32;
  void bpe_short(std::string_view word, std::vector<TokenId>& out) const;
};

}  // namespace ragent::engine
