#include "engine/grammar/vocabulary.hpp"

#include <algorithm>
#include <string>

#include "engine/error.hpp"
#include "engine/grammar/utf8_ranges.hpp"

namespace ragent::grammar {

bool SliceClass::operator<(const SliceClass& other) const {
  if (leads != other.leads) return leads.to_ullong() < other.leads.to_ullong();
  for (size_t i = 0; i < 128; ++i) {
    if (ascii[i] != other.ascii[i]) return other.ascii[i];
  }
  return false;
}

Vocabulary::Vocabulary(std::vector<std::string> token_bytes, const TokenBitset& excluded,
                       std::vector<int32_t> stop_tokens)
    : tokens_(std::move(token_bytes)), trie_(tokens_, excluded), stop_tokens_(std::move(stop_tokens)) {
  for (int32_t id : stop_tokens_) {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) {
      throw engine::EngineError("grammar vocabulary: stop token " + std::to_string(id) + " is outside the " +
                                std::to_string(tokens_.size()) + "-token vocabulary");
    }
  }
  std::sort(stop_tokens_.begin(), stop_tokens_.end());
  stop_tokens_.erase(std::unique(stop_tokens_.begin(), stop_tokens_.end()), stop_tokens_.end());
}

bool Vocabulary::is_stop_token(int32_t id) const {
  return std::binary_search(stop_tokens_.begin(), stop_tokens_.end(), id);
}

size_t Vocabulary::slice_count() const {
  std::lock_guard lock(mu_);
  return slices_.size();
}

namespace {

// A slice walk's UTF-8 state: at a code point boundary (remaining 0), or inside a multi-byte
// sequence with `remaining` bytes to come, the next one in [lo, hi].
using Utf8Reader = Utf8Lead;

}  // namespace

const Slice& Vocabulary::slice(const SliceClass& cls) const {
  std::lock_guard lock(mu_);
  if (auto it = slices_.find(cls); it != slices_.end()) return *it->second;
  auto slice = std::make_unique<Slice>();
  slice->tokens = TokenBitset(tokens_.size());
  const auto nodes = trie_.nodes();
  std::vector<Utf8Reader> at(trie_.max_depth() + 1);
  std::vector<uint32_t> code_points(trie_.max_depth() + 1, 0);  // started on the path to depth d
  std::vector<std::vector<int32_t>> by_count;  // slice tokens by code points started
  size_t i = 0;
  while (i < nodes.size()) {
    const TokenTrie::Node& node = nodes[i];
    const Utf8Reader parent = at[node.depth - 1];
    const uint32_t parent_count = code_points[node.depth - 1u];
    Utf8Reader next;
    bool alive = false, starts = false;
    if (parent.remaining > 0) {
      alive = node.byte >= parent.lo && node.byte <= parent.hi;  // else invalid UTF-8: dead everywhere
      next = parent.remaining == 1 ? Utf8Reader{} : Utf8Reader{static_cast<uint8_t>(parent.remaining - 1), 0x80, 0xBF};
    } else if (node.byte < 0x80) {
      alive = starts = cls.ascii[node.byte];
      if (!alive) slice->frontier.push_back({static_cast<uint32_t>(i), parent_count});
    } else {
      next = utf8_lead(node.byte);
      if (next.remaining > 0) {  // a valid lead byte; an invalid one is dead everywhere
        alive = starts = cls.leads[node.byte - 0xC0u];
        if (!alive) slice->frontier.push_back({static_cast<uint32_t>(i), parent_count});
      }
    }
    if (!alive) {
      i = node.subtree_end;
      continue;
    }
    if (starts) {
      if (slice->deeper.size() <= parent_count) slice->deeper.resize(parent_count + 1);
      slice->deeper[parent_count].push_back(static_cast<uint32_t>(i));
    }
    at[node.depth] = next;
    const uint32_t count = code_points[node.depth] = parent_count + (starts ? 1 : 0);
    for (int32_t id = node.token; id >= 0; id = trie_.next_same(id)) {
      slice->tokens.set(static_cast<size_t>(id));
      if (by_count.size() <= count) by_count.resize(count + 1);
      by_count[count].push_back(id);
    }
    ++i;
  }
  slice->max_code_points = by_count.empty() ? 0 : by_count.size() - 1;
  TokenBitset running(tokens_.size());
  for (const auto& ids : by_count) {
    for (int32_t id : ids) running.set(static_cast<size_t>(id));
    slice->up_to.push_back(running);
  }
  const Slice& out = *slice;
  slices_.emplace(cls, std::move(slice));
  return out;
}

TriggerTable::TriggerTable(std::span<const std::string> tokens, std::string_view t)
    : trigger(t), failure(t.size() + 1, 0), completing(t.size()) {
  if (t.empty()) throw engine::EngineError("trigger table: the trigger is empty");
  for (size_t i = 1, k = 0; i < t.size(); ++i) {
    while (k > 0 && t[i] != t[k]) k = failure[k];
    if (t[i] == t[k]) ++k;
    failure[i + 1] = static_cast<uint32_t>(k);
  }
  for (uint32_t start = 0; start < t.size(); ++start) {
    for (size_t id = 0; id < tokens.size(); ++id) {
      uint32_t matched = start;
      const std::string& bytes = tokens[id];
      for (size_t i = 0; i < bytes.size(); ++i) {
        matched = step(matched, static_cast<uint8_t>(bytes[i]));
        if (matched == t.size()) {
          completing[start].emplace_back(static_cast<int32_t>(id), static_cast<uint32_t>(i + 1));
          break;
        }
      }
    }
  }
}

uint32_t TriggerTable::step(uint32_t matched, uint8_t byte) const {
  while (matched > 0 && static_cast<uint8_t>(trigger[matched]) != byte) matched = failure[matched];
  return static_cast<uint8_t>(trigger[matched]) == byte ? matched + 1 : 0;
}

const TriggerTable& Vocabulary::trigger_table(std::string_view trigger) const {
  std::lock_guard lock(mu_);
  auto it = triggers_.find(trigger);
  if (it == triggers_.end()) {
    std::vector<std::string> text(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) {
      if (trie_.included().test(id)) text[id] = tokens_[id];  // special tokens are never text
    }
    it = triggers_.emplace(std::string(trigger), std::make_unique<TriggerTable>(text, trigger)).first;
  }
  return *it->second;
}

}  // namespace ragent::grammar
