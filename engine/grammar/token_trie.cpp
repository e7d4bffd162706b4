#include "engine/grammar/token_trie.hpp"

#include <algorithm>
#include <limits>
#include <string_view>

#include "engine/error.hpp"

namespace ragent::grammar {

void TokenBitset::set_all() {
  std::fill(words_.begin(), words_.end(), ~uint64_t{0});
  if (size_ % 64 != 0) {
    words_.back() = (uint64_t{1} << (size_ % 64)) - 1;
  }
}

void TokenBitset::clear_all() { std::fill(words_.begin(), words_.end(), uint64_t{0}); }

size_t TokenBitset::count() const {
  size_t total = 0;
  for (uint64_t w : words_) {
    total += static_cast<size_t>(std::popcount(w));
  }
  return total;
}

bool TokenBitset::none() const {
  return std::all_of(words_.begin(), words_.end(), [](uint64_t w) { return w == 0; });
}

TokenBitset& TokenBitset::operator|=(const TokenBitset& other) {
  for (size_t w = 0; w < words_.size(); ++w) {
    words_[w] |= other.words_[w];
  }
  return *this;
}

TokenBitset& TokenBitset::operator&=(const TokenBitset& other) {
  for (size_t w = 0; w < words_.size(); ++w) {
    words_[w] &= other.words_[w];
  }
  return *this;
}

TokenBitset& TokenBitset::subtract(const TokenBitset& other) {
  for (size_t w = 0; w < words_.size(); ++w) {
    words_[w] &= ~other.words_[w];
  }
  return *this;
}

TokenTrie::TokenTrie(std::span<const std::string> token_bytes, const TokenBitset& excluded)
    : next_same_(token_bytes.size(), -1), included_(token_bytes.size()) {
  if (excluded.size() != 0 && excluded.size() != token_bytes.size()) {
    std::string msg = "TokenTrie: excluded-token bitset has ";
    msg += std::to_string(excluded.size());
    msg += " bits for a vocabulary of ";
    msg += std::to_string(token_bytes.size());
    throw engine::EngineError(msg);
  }
  std::vector<int32_t> order;
  order.reserve(token_bytes.size());
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    if (token_bytes[id].empty() || (excluded.size() != 0 && excluded.test(id))) {
      continue;
    }
    if (token_bytes[id].size() > std::numeric_limits<uint16_t>::max()) {
      std::string msg = "TokenTrie: token ";
      msg += std::to_string(id);
      msg += " is ";
      msg += std::to_string(token_bytes[id].size());
      msg += " bytes long (at most 65535)";
      throw engine::EngineError(msg);
    }
    order.push_back(static_cast<int32_t>(id));
    included_.set(id);
  }
  token_count_ = order.size();

  auto bytes = [&](int32_t id) -> std::string_view { return token_bytes[static_cast<size_t>(id)]; };
  // std::string_view compares as unsigned char, so 0x80-0xFF sort after ASCII: byte order.
  // Ties go by id so each node's duplicate list runs smallest id first.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const int c = bytes(a).compare(bytes(b));
    return c != 0 ? c < 0 : a < b;
  });

  // path[d]: the node for the first d+1 bytes of the previous token. Each token shares its
  // longest common prefix with the previous one (sorted order); the rest of the previous path
  // is finished, so its subtrees end at the next node created.
  std::vector<uint32_t> path;
  nodes_.reserve(order.size() * 2);
  std::string_view prev;
  int32_t prev_id = -1;
  for (int32_t id : order) {
    const std::string_view s = bytes(id);
    const size_t limit = std::min(s.size(), prev.size());
    size_t common = 0;
    while (common < limit && s[common] == prev[common]) {
      ++common;
    }
    if (common == s.size()) {
      // Sorted order puts a proper prefix before its extensions, so this is a duplicate of
      // the previous token, whose id ends the node's list.
      next_same_[static_cast<size_t>(prev_id)] = id;
      prev_id = id;
      continue;
    }
    while (path.size() > common) {
      nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      path.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back(Node{0, -1, static_cast<uint16_t>(d + 1), static_cast<uint8_t>(s[d])});
    }
    nodes_.back().token = id;
    max_depth_ = std::max(max_depth_, s.size());
    prev = s;
    prev_id = id;
  }
  for (uint32_t index : path) {
    nodes_[index].subtree_end = static_cast<uint32_t>(nodes_.size());
  }
}

TokenBitset TokenTrie::tokens_within(const std::bitset<256>& allowed_bytes) const {
  // The automaton has one live state; dying on the first byte outside the class skips every
  // token that extends it.
  struct Inside {};
  TokenBitset out(vocab_size());
  walk(
      Inside{},
      [&](const Inside&, uint8_t byte) -> std::optional<Inside> {
        if (!allowed_bytes.test(byte)) {
          return std::nullopt;
        }
        return Inside{};
      },
      [&](int32_t id, const Inside&) { out.set(static_cast<size_t>(id)); });
  return out;
}

}  // namespace ragent::grammar
