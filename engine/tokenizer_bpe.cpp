// Encoding: special-token partition, pre-tokenization, BPE merges, byte fallback.
#include <algorithm>

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

struct Candidate {
  int32_t rank;
  uint32_t left_start;  // ties merge leftmost first
  int32_t left;
  int32_t right;
  uint32_t merged_bytes;  // stale once either side has changed
  TokenId result;
};

// Heap order: lowest rank, then leftmost, on top.
bool later(const Candidate& a, const Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left_start > b.left_start;
}

// Scratch space reused by every encode on this thread.
struct BpeScratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<std::string_view> pieces;
};
thread_local BpeScratch scratch;

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
      auto it = piece_ids.find(word.substr(pos, len));
      if (it != piece_ids.end()) id = it->second;
    }
    auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(len), id, index - 1, index + 1});
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  auto propose = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = symbols[left].next;
    if (right < 0 || symbols[left].id < 0 || symbols[right].id < 0) return;
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(symbols[left].id)) << 32) |
                   static_cast<uint32_t>(symbols[right].id);
    auto it = merges.find(key);
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, symbols[left].start, left, right,
                    symbols[left].bytes + symbols[right].bytes, it->second.result});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) propose(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.bytes == 0 || right.bytes == 0 || left.next != c.right ||
        left.bytes + right.bytes != c.merged_bytes) {
      continue;  // one side changed since this pair was proposed
    }
    left.bytes += right.bytes;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.bytes = 0;
    propose(left.prev);
    propose(c.left);
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
  for (std::string_view piece : pieces) {
    if (ignore_merges) {
      auto it = piece_ids.find(piece);
      if (it != piece_ids.end()) {
        out.push_back(it->second);
        continue;
      }
    }
    bpe(piece, out);
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
