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
  TokenId merged;  // what this symbol and the next one merge into, while they are queued
};

// Key of the pair starting at symbol `left`: lowest rank first, then leftmost (symbol
// indices grow with position).
uint64_t pair_priority(int32_t rank, int32_t left) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) | static_cast<uint32_t>(left);
}

// Min-heap of the mergeable pairs, one entry per left symbol, with each symbol's slot kept so
// a pair can be re-keyed or dropped when a neighbour merges (no stale entries).
class PairQueue {
 public:
  void reset(size_t symbols) {
    heap_.clear();
    slot_.assign(symbols, -1);
  }
  bool empty() const { return heap_.empty(); }
  int32_t top() const { return heap_[0].symbol; }
  // Adds without ordering; call heapify once after the initial adds.
  void add_unordered(int32_t symbol, uint64_t priority) {
    slot_[symbol] = static_cast<int32_t>(heap_.size());
    heap_.push_back({priority, symbol});
  }
  void heapify() {
    for (auto i = static_cast<int32_t>(heap_.size()) / 2 - 1; i >= 0; --i) down(i, heap_[i]);
  }
  void set(int32_t symbol, uint64_t priority) {
    int32_t i = slot_[symbol];
    if (i < 0) {
      heap_.push_back({priority, symbol});
      up(static_cast<int32_t>(heap_.size()) - 1, heap_.back());
    } else if (priority < heap_[i].priority) {
      up(i, {priority, symbol});
    } else {
      down(i, {priority, symbol});
    }
  }
  void remove(int32_t symbol) {
    int32_t i = slot_[symbol];
    if (i < 0) return;
    slot_[symbol] = -1;
    Entry last = heap_.back();
    heap_.pop_back();
    if (last.symbol == symbol) return;
    if (i > 0 && last.priority < heap_[(i - 1) / 2].priority) {
      up(i, last);
    } else {
      down(i, last);
    }
  }

 private:
  struct Entry {
    uint64_t priority;
    int32_t symbol;
  };
  void place(int32_t i, Entry e) {
    heap_[i] = e;
    slot_[e.symbol] = i;
  }
  // Moves `e` from hole i towards the root / the leaves until the order holds.
  void up(int32_t i, Entry e) {
    while (i > 0) {
      int32_t parent = (i - 1) / 2;
      if (heap_[parent].priority <= e.priority) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void down(int32_t i, Entry e) {
    const auto n = static_cast<int32_t>(heap_.size());
    while (true) {
      int32_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1].priority < heap_[child].priority) ++child;
      if (heap_[child].priority >= e.priority) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }
  std::vector<Entry> heap_;
  std::vector<int32_t> slot_;  // symbol -> index in heap_, -1 when not queued
};

// Scratch space reused by every encode on this thread.
struct BpeScratch {
  std::vector<Symbol> symbols;
  PairQueue queue;
  std::vector<std::string_view> pieces;
  std::string text;
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
  static constexpr size_t kMaxIds = 1 << 20;
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, Hash, std::equal_to<>> words;
  std::vector<TokenId> ids;  // words[w] = {offset, count} into ids

  void claim(uint64_t serial) {
    if (owner == serial && words.size() < kMaxWords && ids.size() < kMaxIds) return;
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
  auto& queue = scratch.queue;
  symbols.clear();
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
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(len), id, index - 1, index + 1, -1});
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
  // Re-keys the pair that starts at `left` after a neighbour changed.
  auto requeue = [&](int32_t left) {
    if (left < 0) return;
    if (const Merge* merge = merge_at(left)) {
      symbols[left].merged = merge->result;
      queue.set(left, pair_priority(merge->rank, left));
    } else {
      queue.remove(left);
    }
  };
  queue.reset(symbols.size());
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) {
    if (const Merge* merge = merge_at(i)) {
      symbols[i].merged = merge->result;
      queue.add_unordered(i, pair_priority(merge->rank, i));
    }
  }
  queue.heapify();

  while (!queue.empty()) {
    int32_t left_index = queue.top();
    Symbol& left = symbols[left_index];
    int32_t right_index = left.next;
    Symbol& right = symbols[right_index];
    queue.remove(right_index);  // its pair with the next symbol is gone
    // `left` stays queued: requeue below re-keys it in place (one sift, not two).
    left.bytes += right.bytes;
    left.id = left.merged;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = left_index;
    right.bytes = 0;
    requeue(left.prev);
    requeue(left_index);
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

void Tokenizer::Impl::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (ignore_merges) {
    TokenId id = piece_ids.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() > WordCache::kMaxWordBytes) {
    bpe(word, out);
    return;
  }
  WordCache& cache = word_cache;
  cache.claim(serial);
  auto hit = cache.words.find(word);
  if (hit != cache.words.end()) {
    auto [offset, count] = hit->second;
    out.insert(out.end(), cache.ids.begin() + offset, cache.ids.begin() + offset + count);
    return;
  }
  size_t first = out.size();
  bpe(word, out);
  auto offset = static_cast<uint32_t>(cache.ids.size());
  cache.ids.insert(cache.ids.end(), out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  cache.words.emplace(std::string(word), std::pair<uint32_t, uint32_t>(offset, static_cast<uint32_t>(out.size() - first)));
}

void Tokenizer::Impl::encode_text(std::string_view text, bool at_start, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  if (model == Model::byte_level) {
    auto& pieces = scratch.pieces;
    pieces.clear();
    pretokenize(pre, text, pieces);
    for (std::string_view piece : pieces) encode_word(piece, out);
    return;
  }
  // SentencePiece: spaces are U+2581 in the vocabulary, but pieces are matched in raw form,
  // so a U+2581 in the text is a space too (as SentencePiece sees it after escaping).
  static constexpr std::string_view kSpmSpace = "\xE2\x96\x81";
  std::string& word = scratch.text;
  word.clear();
  if (add_space_prefix && (at_start || !space_prefix_only_at_start)) word += ' ';
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
      word += ' ';
      pos += kSpmSpace.size();
    } else {
      word += text[pos++];
    }
  }
  if (!spaces_bound_pieces) {
    bpe(word, out);
    return;
  }
  // No piece has a space after another character, so no merge crosses the start of a run
  // of spaces: the runs of spaces plus the word after them merge independently (and cache).
  size_t start = 0;
  for (size_t pos = 1; pos < word.size(); ++pos) {
    if (word[pos] == ' ' && word[pos - 1] != ' ') {
      encode_word(std::string_view(word).substr(start, pos - start), out);
      start = pos;
    }
  }
  encode_word(std::string_view(word).substr(start), out);
}

std::vector<TokenId> Tokenizer::encode(std::string_view input, bool parse_special) const {
  if (input.size() > kMaxEncodeBytes) {
    throw EngineError("encode: text of " + std::to_string(input.size()) + " bytes is over the limit of " +
                      std::to_string(kMaxEncodeBytes));
  }
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
        impl.encode_text(text.substr(segment_start, pos - segment_start), segment_start == 0, out);
        out.push_back(id);
        pos += length;
        segment_start = pos;
        continue;
      }
    }
    ++pos;
  }
  impl.encode_text(text.substr(segment_start), segment_start == 0, out);
  return out;
}

}  // namespace ragent::engine
