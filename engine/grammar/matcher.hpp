// Per-sequence state of grammar-constrained decoding over a CompiledGrammar: which tokens may
// come next (a bitset over the vocabulary), advancing on the token taken, rolling back, and
// whether the grammar may or must end.
//
//   auto vocab = std::make_shared<Vocabulary>(token_bytes, special, {eos, eot});   // per tokenizer
//   auto grammar = std::make_shared<CompiledGrammar>(compile_json_schema(schema), vocab);  // per schema
//   Matcher m(grammar);                                                            // per sequence
//   m.fill_mask(words); ... sample under the mask ...; m.accept_token(id);
//
// A token's bytes may cross any grammar boundary (close a string and open the next key). The
// stop tokens of the vocabulary are allowed exactly when the grammar can end; accepting one
// terminates the matcher. After the first rejected token or byte the matcher keeps that error
// (error() says which token, at which output byte) and accepts nothing more, so the caller
// reports it once; rollback(n) clears it once it returns to the state in which the failing
// token was tried (so rollback(0) right after the failure clears it).
//
// Cost: accept is linear in the token's bytes times the live parser configurations (one for
// most JSON grammars); fill_mask is one OR of each configuration's cached state mask, plus a
// check of its uncertain tokens against the real stack; nothing is allocated once the
// matcher's buffers have grown.
//
// Thread safety: one matcher per sequence, used by one thread at a time; any number of
// matchers may share a CompiledGrammar across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/compiled_grammar.hpp"
#include "engine/grammar/pda.hpp"

namespace ragent::grammar {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);

  // Advances on token id: true if the grammar allows it here. False leaves the state as it was
  // and records the error.
  bool accept_token(int32_t id);
  // Advances on raw bytes (no token boundaries): true if they keep the grammar alive.
  bool accept_bytes(std::string_view bytes);
  // Undoes the last n accepted tokens (or accept_bytes calls); n past the start is clamped.
  // An error recorded at or after the state it returns to is cleared.
  void rollback(size_t n);
  void reset();

  // Writes the allowed tokens into words (at least token_mask_words(vocabulary size) words;
  // words past the vocabulary are cleared). Nothing is allowed after termination or an error.
  void fill_mask(std::span<uint64_t> words);
  // The same as a TokenBitset of the vocabulary's size.
  TokenBitset mask();

  // The grammar's text is complete here (a stop token is allowed).
  bool can_end() const;
  // Complete, and nothing may follow: only a stop token is allowed.
  bool must_end() const;
  // A stop token was accepted.
  bool terminated() const { return terminated_; }
  // Bytes every continuation must start with (at most max_bytes): the stretch a jump-forward
  // can emit without sampling. Empty when the next byte is not fixed or the grammar can end.
  std::string forced_bytes(size_t max_bytes = 64);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t accepted_tokens() const { return history_.size() - 1; }
  // Bytes accepted so far (the text of the accepted tokens).
  size_t output_bytes() const { return output_bytes_.back(); }
  const CompiledGrammar& grammar() const { return *grammar_; }

 private:
  bool accept_inner(std::string_view bytes, std::string_view what);
  bool token_fits(const pda::Config& c, int32_t id);
  const pda::ConfigSet& current() const { return history_.back(); }

  std::shared_ptr<const CompiledGrammar> grammar_;
  pda::StackArena stacks_;
  pda::Runner runner_;
  std::vector<pda::ConfigSet> history_;  // history_[k]: after k accepted steps
  std::vector<size_t> output_bytes_;     // output bytes after k accepted steps
  std::vector<bool> terminated_at_;      // by step
  bool terminated_ = false;
  size_t failed_at_ = 0;                 // history size when the error was recorded
  std::string error_;
  pda::ConfigSet scratch_, probe_;
};

}  // namespace ragent::grammar
