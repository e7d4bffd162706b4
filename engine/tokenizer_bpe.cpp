// Encoding: special-token partition, pre-tokenization, BPE merges, byte fallback.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

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
  int32_t rank;    // rank of that merge, -1 when the pair does not merge
};

// The mergeable pairs of a word, grouped by rank: a bucket of symbol positions per rank and
// a min-heap of the ranks that have a bucket. A rank is popped once with all its pairs, which
// then merge left to right; text that repeats (runs of spaces, repeated characters) shares
// few ranks, so the heap stays far smaller than one entry per pair. Entries are never updated
// in place: a changed pair is added again and the caller skips stale ones. The bucket heads
// are indexed by rank (4 bytes per merge of the vocabulary, per thread, once used).
class RankBuckets {
 public:
  void clear() {
    for (int32_t rank : ranks_) head_[static_cast<size_t>(rank)] = -1;  // a word cut short by an exception
    ranks_.clear();
    entries_.clear();
  }
  bool empty() const { return ranks_.empty(); }
  int32_t lowest_rank() const { return ranks_.front(); }
  void add(int32_t rank, int32_t symbol) {
    if (static_cast<size_t>(rank) >= head_.size()) head_.resize(static_cast<size_t>(rank) + 1, -1);
    int32_t& head = head_[static_cast<size_t>(rank)];
    if (head < 0) push_rank(rank);
    entries_.push_back({symbol, head});
    head = static_cast<int32_t>(entries_.size()) - 1;
  }
  // Removes the lowest rank; its symbols go to `symbols`, in increasing order.
  int32_t pop(std::vector<int32_t>& symbols) {
    std::pop_heap(ranks_.begin(), ranks_.end(), std::greater<>());
    int32_t rank = ranks_.back();
    ranks_.pop_back();
    symbols.clear();
    int32_t& head = head_[static_cast<size_t>(rank)];
    for (int32_t e = head; e >= 0; e = entries_[static_cast<size_t>(e)].next) {
      symbols.push_back(entries_[static_cast<size_t>(e)].symbol);
    }
    head = -1;
    // The list holds the bucket newest first, and most buckets were filled left to right.
    std::reverse(symbols.begin(), symbols.end());
    if (!std::is_sorted(symbols.begin(), symbols.end())) std::sort(symbols.begin(), symbols.end());
    return rank;
  }

 private:
  struct Entry {
    int32_t symbol;
    int32_t next;  // next entry of the same rank, -1 at the end
  };
  void push_rank(int32_t rank) {
    ranks_.push_back(rank);
    std::push_heap(ranks_.begin(), ranks_.end(), std::greater<>());
  }
  std::vector<int32_t> ranks_;   // min-heap; each rank at most once
  std::vector<Entry> entries_;
  std::vector<int32_t> head_;    // rank -> first entry, -1: no bucket (all -1 between words)
};

// Scratch space reused by every encode on this thread.
struct BpeScratch {
  std::vector<Symbol> symbols;
  RankBuckets buckets;
  std::vector<int32_t> batch;  // symbols of the rank being merged
  std::vector<std::string_view> pieces;
  std::string text;
};
thread_local BpeScratch scratch;

// Ids of recently merged pre-tokens, per thread and per tokenizer: words repeat, merging is
// the expensive part. Bounded; cleared when full or when another tokenizer uses the thread.
// Open addressing over hash_bytes, words and ids in two flat arenas: nothing allocates per
// word once the arenas have grown.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 128;
  static constexpr size_t kMaxWords = 1 << 16;
  static constexpr size_t kMaxIds = 1 << 20;

  // Empties the cache when it is full or was filled by another tokenizer.
  void claim(uint64_t serial) {
    if (owner_ == serial && words_ < kMaxWords && ids_.size() < kMaxIds) return;
    slots_.assign(kInitialSlots, Slot{});
    text_.clear();
    ids_.clear();
    words_ = 0;
    owner_ = serial;
  }
  // The cached ids of `word` (h = hash_bytes(word)), or false.
  bool find(std::string_view word, uint64_t h, std::vector<TokenId>& out) const {
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& slot = slots_[i];
      if (slot.ids_count == 0) return false;
      if (slot.hash == h && slot.text_bytes == word.size() &&
          std::memcmp(text_.data() + slot.text_offset, word.data(), word.size()) == 0) {
        out.insert(out.end(), ids_.begin() + slot.ids_offset, ids_.begin() + slot.ids_offset + slot.ids_count);
        return true;
      }
    }
  }
  // Caches ids (at least one) for `word`, which is not cached yet.
  void insert(std::string_view word, uint64_t h, const TokenId* ids, size_t count) {
    if ((words_ + 1) * 2 > slots_.size()) grow();
    Slot slot{h, static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(ids_.size()),
              static_cast<uint32_t>(word.size()), static_cast<uint32_t>(count)};
    text_.append(word);
    ids_.insert(ids_.end(), ids, ids + count);
    place(slot);
    ++words_;
  }

 private:
  static constexpr size_t kInitialSlots = 1024;
  struct Slot {
    uint64_t hash = 0;
    uint32_t text_offset = 0;
    uint32_t ids_offset = 0;
    uint32_t text_bytes = 0;
    uint32_t ids_count = 0;  // 0: empty slot
  };
  void place(const Slot& slot) {
    size_t i = slot.hash & (slots_.size() - 1);
    while (slots_[i].ids_count != 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = slot;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    for (const Slot& slot : old) {
      if (slot.ids_count != 0) place(slot);
    }
  }
  uint64_t owner_ = 0;
  size_t words_ = 0;
  std::vector<Slot> slots_;
  std::string text_;
  std::vector<TokenId> ids_;
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

void Tokenizer::Impl::bpe_short(std::string_view word, std::vector<TokenId>& out) const {
  struct Part {
    uint32_t start;
    uint32_t bytes;
    TokenId id;
    int32_t rank;    // of merging this part with the next, INT32_MAX when they do not merge
    TokenId merged;  // what they merge into
  };
  std::array<Part, kShortWordBytes> parts;
  const auto count = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < count; ++i) {
    parts[i] = {static_cast<uint32_t>(i), 1, byte_ids[static_cast<unsigned char>(word[i])], INT32_MAX, -1};
  }
  auto rank_pair = [&](int32_t i) {
    const Part& l = parts[i];
    const Part& r = parts[i + 1];
    const Merge* merge = nullptr;
    if (l.bytes == 1 && r.bytes == 1) {
      const Merge& m = byte_pair_merges[(static_cast<unsigned char>(word[l.start]) << 8) |
                                        static_cast<unsigned char>(word[r.start])];
      if (m.rank >= 0) merge = &m;
    } else {
      merge = merges.find(PairTable<Merge>::key(l.id, r.id));
    }
    parts[i].rank = merge ? merge->rank : INT32_MAX;
    parts[i].merged = merge ? merge->result : -1;
  };
  int32_t live = count;
  for (int32_t i = 0; i + 1 < live; ++i) rank_pair(i);
  while (live > 1) {
    // Lowest rank, leftmost on ties.
    int32_t best = 0;
    for (int32_t i = 1; i + 1 < live; ++i) {
      if (parts[i].rank < parts[best].rank) best = i;
    }
    if (parts[best].rank == INT32_MAX) break;
    parts[best].id = parts[best].merged;
    parts[best].bytes += parts[best + 1].bytes;
    for (int32_t i = best + 1; i + 1 < live; ++i) parts[i] = parts[i + 1];
    --live;
    parts[live - 1].rank = INT32_MAX;  // the last part has no right neighbour
    if (best + 1 < live) rank_pair(best);
    if (best > 0) rank_pair(best - 1);
  }
  for (int32_t i = 0; i < live; ++i) out.push_back(parts[i].id);
}

void Tokenizer::Impl::bpe(std::string_view word, std::vector<TokenId>& out) const {
  if (model == Model::byte_level && word.size() <= kShortWordBytes) {
    bpe_short(word, out);
    return;
  }
  auto& symbols = scratch.symbols;
  // Initial symbols: bytes (byte-level) or characters (SentencePiece); at most one per byte.
  if (symbols.size() < word.size()) symbols.resize(word.size());
  int32_t count = 0;
  for (size_t pos = 0; pos < word.size(); ++count) {
    auto lead = static_cast<unsigned char>(word[pos]);
    size_t len = 1;
    TokenId id = -1;
    if (model == Model::byte_level) {
      id = byte_ids[lead];
    } else {
      len = std::min(utf8_char_bytes(lead), word.size() - pos);
      id = piece_ids.find(word.substr(pos, len));
    }
    symbols[count] = {static_cast<uint32_t>(pos), static_cast<uint32_t>(len), id, count - 1, count + 1, -1, -1};
    pos += len;
  }
  if (count == 0) return;
  symbols[count - 1].next = -1;

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
  RankBuckets& buckets = scratch.buckets;
  // Records the pair that starts at `left` (its rank, -1 when it does not merge) and queues it.
  auto queue_pair = [&](int32_t left) {
    const Merge* merge = merge_at(left);
    symbols[left].rank = merge ? merge->rank : -1;
    if (!merge) return;
    symbols[left].merged = merge->result;
    buckets.add(merge->rank, left);
  };
  buckets.clear();
  for (int32_t i = 0; i + 1 < count; ++i) queue_pair(i);

  // Lowest rank first, then leftmost: all pairs of the lowest rank, left to right.
  std::vector<int32_t>& batch = scratch.batch;
  while (!buckets.empty()) {
    const int32_t rank = buckets.pop(batch);
    for (size_t b = 0; b < batch.size(); ++b) {
      // A merge created a pair that ranks no higher (vocabularies whose ranks are not
      // monotone, or equal ranks from scores): put the rest back and take the lowest again.
      if (!buckets.empty() && buckets.lowest_rank() <= rank) {
        for (size_t rest = b; rest < batch.size(); ++rest) buckets.add(rank, batch[rest]);
        break;
      }
      const int32_t left_index = batch[b];
      Symbol& left = symbols[left_index];
      // Stale: merged away, or the pair changed since it was queued (a changed pair covers
      // more bytes; any pair queued here with this rank is the current one).
      if (left.bytes == 0 || left.rank != rank) continue;
      Symbol& right = symbols[left.next];
      left.bytes += right.bytes;
      left.id = left.merged;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = left_index;
      right.bytes = 0;
      right.rank = -1;
      if (left.prev >= 0) queue_pair(left.prev);
      queue_pair(left_index);
    }
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
  if (word.size() > WordCache::kMaxWordBytes) {
    if (ignore_merges) {
      TokenId id = piece_ids.find(word);
      if (id >= 0) {
        out.push_back(id);
        return;
      }
    }
    bpe(word, out);
    return;
  }
  const uint64_t h = hash_bytes(word);
  if (ignore_merges) {
    TokenId id = piece_ids.find(word, h);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  WordCache& cache = word_cache;
  cache.claim(serial);
  if (cache.find(word, h, out)) return;
  size_t first = out.size();
  bpe(word, out);
  // A word with no ids (SentencePiece text whose unknowns fused into an earlier unk) is
  // merged again next time: cheap, and it keeps an empty slot distinguishable.
  if (out.size() > first) cache.insert(word, h, out.data() + first, out.size() - first);
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
