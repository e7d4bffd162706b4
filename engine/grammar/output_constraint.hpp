// What a request's output must look like, as a token mask per step: tool calls under a lazy
// grammar, a JSON Schema for the whole answer (response_format), or any grammar.
//
//   ConstraintSpec  (per tool set / schema; compiled once, cached by the caller, shared)
//     OutputConstraint  (per sequence: phase, trigger state, matcher)
//
// Phases of one output:
//   thinking  until `</think>` (only when the prompt turns thinking on): free text; a
//             `<TOOLCALL>` in here is text.
//   free      tool_choice auto: free text, watching for `<TOOLCALL>` with a byte automaton
//             (Knuth-Morris-Pratt over the trigger: O(1) per byte, whatever the tools). Tokens
//             that would complete the trigger are allowed only if the rest of their bytes
//             begin a valid call; with tool_choice none they are never allowed.
//   grammar   after the trigger (or from the start: required, a named tool, a JSON Schema):
//             only what the grammar allows. A tool-call block's end returns to free (after a
//             required or named block, free text in which no further block may start).
// A constraint never silently drops or repairs output: should the output leave the grammar
// anyway (a token the caller forced past the mask), error() says where, and from then on the
// constraint allows everything, so the chat parser reports the raw text as an error event.
//
// Thread safety: a ConstraintSpec is immutable and shared; an OutputConstraint belongs to one
// sequence, used by one thread at a time (prepare() may run on another thread than the rest,
// never at the same time).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/compiled_grammar.hpp"
#include "engine/grammar/matcher.hpp"
#include "engine/grammar/tool_call.hpp"

namespace ragent::grammar {

enum class ToolChoiceMode { automatic, required, none, named };

struct ToolChoice {
  ToolChoiceMode mode = ToolChoiceMode::automatic;
  std::string name;  // named only
};

class ConstraintSpec {
 public:
  // Tool calls in the Nemotron format. Throws ToolSchemaError / GrammarError when loaded.
  static std::shared_ptr<const ConstraintSpec> tool_calls(std::span<const ToolGrammarSpec> tools, ToolChoice choice,
                                                          std::shared_ptr<const Vocabulary> vocab,
                                                          const ToolCallGrammarOptions& options = {});
  // The whole answer (after any thinking) is one JSON value of the schema, then a stop token.
  static std::shared_ptr<const ConstraintSpec> json_schema(const boost::json::value& schema,
                                                           std::shared_ptr<const Vocabulary> vocab,
                                                           const JsonSchemaOptions& options = {});
  // The whole answer is in the grammar's language.
  static std::shared_ptr<const ConstraintSpec> grammar(const Grammar& g, std::shared_ptr<const Vocabulary> vocab);

  const CompiledGrammar* compiled() const { return compiled_.get(); }
  bool lazy() const { return lazy_; }
  ToolChoiceMode choice() const { return choice_; }
  const Vocabulary& vocabulary() const { return *vocab_; }

 private:
  friend class OutputConstraint;
  ConstraintSpec() = default;
  // Tokens to ban in the free phase with `matched` trigger bytes already seen.
  const std::vector<int32_t>& banned_in_free(uint32_t matched) const;

  std::shared_ptr<const Vocabulary> vocab_;
  std::shared_ptr<const CompiledGrammar> compiled_;  // null for tool_choice none
  bool lazy_ = false;                                  // tool calls behind the trigger
  bool tool_block_ = false;                            // the grammar's end returns to free text
  ToolChoiceMode choice_ = ToolChoiceMode::automatic;
  const TriggerTable* trigger_ = nullptr;       // owned by the vocabulary
  const TriggerTable* thinking_end_ = nullptr;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<std::vector<int32_t>>> banned_;  // by matched length
};

class OutputConstraint {
 public:
  enum class Phase { thinking, free, grammar, done };

  // thinking: the output starts with the model's reasoning (closed by `</think>`).
  OutputConstraint(std::shared_ptr<const ConstraintSpec> spec, bool thinking);

  // Computes the next mask ahead of time (on any thread, while the forward pass runs);
  // fill_mask then copies it.
  void prepare();
  // The TokenMaskFill contract: words arrive all set; clears forbidden tokens and returns true,
  // or returns false when this step is unconstrained.
  bool fill_mask(std::span<uint64_t> words);
  // The sampled (or forced) token, with its bytes.
  void accept(int32_t token);
  // Bytes the grammar fixes from here (jump-forward); empty outside the grammar phase.
  std::string forced_bytes(size_t max_bytes = 64);

  Phase phase() const { return phase_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t calls_started() const { return calls_started_; }

 private:
  void feed_free(std::string_view bytes);
  void fail(std::string why);

  std::shared_ptr<const ConstraintSpec> spec_;
  std::unique_ptr<Matcher> matcher_;
  Phase phase_;
  uint32_t matched_ = 0;  // trigger (or `</think>`) bytes matched
  size_t output_bytes_ = 0;
  size_t calls_started_ = 0;
  std::string error_;
  std::vector<uint64_t> prepared_;
  bool prepared_valid_ = false;
  bool prepared_constrained_ = false;
};

}  // namespace ragent::grammar
