// Encoding: special-token partition, pre-tokenization, BPE merges, byte fallback.
#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>

#include "engine/tokenizer.hpp"
#include "engine/tokenizer_impl.hpp"

namespace ragent::engine {

namespace {

struct Symbol {
  uint32_t start;
  uint32_t bytes;  // 0 once merged into its left neighbour
  TokenId id;      // -1: not in the vocabulary
  int32_t prev;
  int32_t next;
};

// A heap entry is (rank << 32 | left symbol index): lowest rank first, then leftmost (symbol
// indices grow with position). It is checked when popped: it is only acted on when the pair
// now at `left` merges with exactly this rank. Every live pair has an entry, so the smallest
// entry that passes is the pair to merge next.
uint64_t candidate(int32_t rank, int32_t left) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) | static_cast<uint32_t>(left);
}

// Scratch space reused by every encode on this thread.
struct BpeScratch {
  std::vector<Symbol> symbols;
  std::vector<uint64_t> heap;
  std::vector<std::string_view> pieces;
};
thread_local BpeScratch scratch;

// Ids of recently merged pre-tokens, per thread and per tokenizer: words repeat, merging is
// the expensive part. Bounded; cleared when full or when another tokenizer uses the thread.
struct WordCache {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  static constexpr size_t kMaxWordBytes = 128;
  static constexpr size_t kMaxWords = 1 << 16;
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, Hash, std::equal_to<>> words;
  std::vector<TokenId> ids;  // words[w] = {offset, count} into ids

  void claim(uint64_t serial) {
    if (owner == serial && words.size() < kMaxWords) return;
    words.clear();
    ids.clear();
    owner = serial;
  }
};
thread_local WordCache word_cache;

size_t utf8_char_bytes(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

}  // namespace

std::pair<TokenId, size_t> Tokenizer::Impl::match_special(std::string_view text, size_t pos,
                                                          bool parse_special) const {
  std::pair<TokenId, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = trie[node].children;
    auto it = std::find_if(children.begin(), children.end(),
                           [byte](const auto& c) { return c.first == byte; });
    if (it == children.end()) break;
    node = it->second;
    TokenId id = trie[node].id;
    if (id >= 0 && (parse_special || types[id] == TokenType::user_defined)) best = {id, i + 1 - pos};
  }
  return best;
}

void Tokenizer::Impl::bpe(std::string_view word, std::vector<TokenId>& out) const {
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  // Initial symbols: bytes (byte-level) or characters (SentencePiece).
  for (size_t pos = 0; pos < word.size();) {
    auto lead = static_cast<unsigned char>(word[pos]);
    size_t len = model == Model::byte_level ? 1 : std::min(utf8_char_bytes(lead), word.size() - pos);
    TokenId id = -1;
    if (model == Model::byte_level) {
      id = byte_ids[lead];
    } else {
      id = piece_ids.find(word.substr(pos, len));
    }
    auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(len), id, index - 1, index + 1});
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  const bool byte_level = model == Model::byte_level;
  auto merge_at = [&](int32_t left) -> const Merge* {
    const Symbol& l = symbols[left];
    if (l.next < 0) return nullptr;
    const Symbol& r = symbols[l.next];
    if (byte_level && l.bytes == 1 && r.bytes == 1) {
      const Merge& m = byte_pair_merges[(static_cast<unsigned char>(word[l.start]) << 8) |
                                        static_cast<unsigned char>(word[r.start])];
      return m.rank >= 0 ? &m : nullptr;
    }
    if (l.id < 0 || r.id < 0) return nullptr;
    return merges.find(PairTable<Merge>::key(l.id, r.id));
  };
  auto propose = [&](int32_t left) {
    if (left < 0) return;
    if (const Merge* merge = merge_at(left)) {
      heap.push_back(candidate(merge->rank, left));
      std::push_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) {
    if (const Merge* merge = merge_at(i)) heap.push_back(candidate(merge->rank, i));
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<uint64_t>());

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
    uint64_t top = heap.back();
    heap.pop_back();
    auto left_index = static_cast<int32_t>(top & 0xFFFFFFFFu);
    Symbol& left = symbols[left_index];
    if (left.bytes == 0) continue;  // merged away
    const Merge* merge = merge_at(left_index);
    if (merge == nullptr || static_cast<uint64_t>(merge->rank) != (top >> 32)) continue;  // stale
    Symbol& right = symbols[left.next];
    left.bytes += right.bytes;
    left.id = merge->result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = left_index;
    right.bytes = 0;
    propose(left.prev);
    propose(left_index);
  }

  bool last_was_unknown = false;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      last_was_unknown = false;
      continue;
    }
    // Byte fallback: every byte as <0xXX> when all exist, else one (fused) unknown token.
    std::string_view text = word.substr(s.start, s.bytes);
    bool all_bytes = std::all_of(text.begin(), text.end(), [&](char ch) {
      return byte_ids[static_cast<unsigned char>(ch)] >= 0;
    });
    if (all_bytes) {
      for (char ch : text) out.push_back(byte_ids[static_cast<unsigned char>(ch)]);
      last_was_unknown = false;
    } else if (unk >= 0 && !last_was_unknown) {
      out.push_back(unk);
      last_was_unknown = true;
    }
  }
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  if (model == Model::sentencepiece) {
    if (!add_space_prefix) {
      bpe(text, out);
      return;
    }
    std::string word;
    word.reserve(text.size() + 1);
    word += ' ';
    word.append(text);
    bpe(word, out);
    return;
  }
  auto& pieces = scratch.pieces;
  pieces.clear();
  pretokenize(pre, text, pieces);
  WordCache& cache = word_cache;
  cache.claim(serial);
  for (std::string_view piece : pieces) {
    if (ignore_merges) {
      TokenId id = piece_ids.find(piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    if (piece.size() > WordCache::kMaxWordBytes) {
      bpe(piece, out);
      continue;
    }
    auto hit = cache.words.find(piece);
    if (hit != cache.words.end()) {
      auto [offset, count] = hit->second;
      out.insert(out.end(), cache.ids.begin() + offset, cache.ids.begin() + offset + count);
      continue;
    }
    size_t first = out.size();
    bpe(piece, out);
    auto offset = static_cast<uint32_t>(cache.ids.size());
    cache.ids.insert(cache.ids.end(), out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    cache.words.emplace(std::string(piece), std::pair<uint32_t, uint32_t>(offset, static_cast<uint32_t>(out.size() - first)));
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view input, bool parse_special) const {
  std::optional<std::string> repaired = replace_invalid_utf8(input);
  std::string_view text = repaired ? std::string_view(*repaired) : input;
  const Impl& impl = *impl_;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 1);
  size_t segment_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (impl.trie_first_byte[static_cast<unsigned char>(text[pos])]) {
      auto [id, length] = impl.match_special(text, pos, parse_special);
      if (id >= 0) {
        impl.encode_text(text.substr(segment_start, pos - segment_start), out);
        out.push_back(id);
        pos += length;
        segment_start = pos;
        continue;
      }
    }
    ++pos;
  }
  impl.encode_text(text.substr(segment_start), out);
  return out;
}

}  // namespace ragent::engine
