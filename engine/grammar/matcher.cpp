#include "engine/grammar/matcher.hpp"

#include <algorithm>

namespace ragent::grammar {

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), runner_(grammar_->automaton(), stacks_) {
  reset();
}

void Matcher::reset() {
  stacks_.clear();
  history_.assign(1, {});
  runner_.start(grammar_->automaton().start(), pda::kEmptyStack, history_[0]);
  output_bytes_.assign(1, 0);
  terminated_at_.assign(1, false);
  terminated_ = false;
  error_.clear();
}

bool Matcher::can_end() const { return !terminated_ && error_.empty() && current().at_end; }

bool Matcher::must_end() const { return can_end() && current().configs.empty(); }

bool Matcher::accept_token(int32_t id) {
  if (!error_.empty()) return false;
  const Vocabulary& vocab = grammar_->vocabulary();
  if (id < 0 || static_cast<size_t>(id) >= vocab.size()) {
    error_ = "token " + std::to_string(id) + " is outside the vocabulary";
    failed_at_ = history_.size();
    return false;
  }
  if (vocab.is_stop_token(id)) {
    if (!can_end()) {
      error_ = "the stop token " + std::to_string(id) + " came at output byte " + std::to_string(output_bytes()) +
               ", where the grammar is not complete";
      failed_at_ = history_.size();
      return false;
    }
    history_.push_back(current());
    output_bytes_.push_back(output_bytes());
    terminated_at_.push_back(true);
    terminated_ = true;
    return true;
  }
  if (!vocab.trie().included().test(static_cast<size_t>(id))) {
    error_ = "token " + std::to_string(id) + " is a special token, never allowed inside the grammar";
    failed_at_ = history_.size();
    return false;
  }
  return accept_inner(vocab.token(id), "token " + std::to_string(id));
}

bool Matcher::accept_bytes(std::string_view bytes) { return error_.empty() && accept_inner(bytes, "bytes"); }

bool Matcher::accept_inner(std::string_view bytes, std::string_view what) {
  if (terminated_) {
    error_ = std::string(what) + " came after the end of the grammar";
    failed_at_ = history_.size();
    return false;
  }
  pda::ConfigSet next = current();
  size_t ok_bytes = 0;
  for (char ch : bytes) {
    runner_.step(next, static_cast<uint8_t>(ch), scratch_);
    if (scratch_.configs.empty() && !scratch_.at_end) break;
    std::swap(next, scratch_);
    ++ok_bytes;
  }
  if (ok_bytes < bytes.size() || (next.configs.empty() && !next.at_end)) {
    error_ = std::string(what) + " does not fit the grammar at output byte " + std::to_string(output_bytes() + ok_bytes);
    failed_at_ = history_.size();
    return false;
  }
  history_.push_back(std::move(next));
  output_bytes_.push_back(output_bytes() + bytes.size());
  terminated_at_.push_back(false);
  return true;
}

void Matcher::rollback(size_t n) {
  n = std::min(n, history_.size() - 1);
  history_.resize(history_.size() - n);
  output_bytes_.resize(history_.size());
  terminated_at_.resize(history_.size());
  terminated_ = terminated_at_.back();
  if (!error_.empty() && history_.size() <= failed_at_) error_.clear();
}

// Whether token id, from configuration c with its real stack, keeps the grammar alive.
bool Matcher::token_fits(const pda::Config& c, int32_t id) {
  probe_.clear();
  probe_.configs.push_back(c);
  return runner_.advance(probe_, grammar_->vocabulary().token(id)) && (!probe_.configs.empty() || probe_.at_end);
}

void Matcher::fill_mask(std::span<uint64_t> words) {
  std::fill(words.begin(), words.end(), uint64_t{0});
  if (terminated_ || !error_.empty()) return;
  const Vocabulary& vocab = grammar_->vocabulary();
  auto test = [&](int32_t id) { return (words[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; };
  for (const pda::Config& c : current().configs) {
    const StateMask& m = grammar_->state_mask(c.state);
    m.add_accepted(words);
    if (c.stack == pda::kEmptyStack) continue;  // past the root's end nothing can follow
    for (int32_t id : m.uncertain) {
      if (!test(id) && token_fits(c, id)) words[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  if (current().at_end) {
    for (int32_t id : vocab.stop_tokens()) words[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  }
}

TokenBitset Matcher::mask() {
  TokenBitset bits(grammar_->vocabulary().size());
  fill_mask(bits.mutable_words());  // sets vocabulary ids only, so the tail stays zero
  return bits;
}

std::string Matcher::forced_bytes(size_t max_bytes) {
  std::string out;
  if (terminated_ || !error_.empty()) return out;
  const Automaton& a = grammar_->automaton();
  pda::ConfigSet at = current();
  while (out.size() < max_bytes && !at.at_end && !at.configs.empty()) {
    int forced = -1;
    for (const pda::Config& c : at.configs) {
      for (const auto* e = a.edges_begin(c.state); e != a.edges_end(c.state); ++e) {
        if (e->lo != e->hi || (forced >= 0 && forced != e->lo)) return out;
        forced = e->lo;
      }
    }
    if (forced < 0) break;
    runner_.step(at, static_cast<uint8_t>(forced), scratch_);
    std::swap(at, scratch_);
    out.push_back(static_cast<char>(forced));
  }
  return out;
}

}  // namespace ragent::grammar
