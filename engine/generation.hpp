// What a caller asks the engine for (GenerationRequest) and what comes back (GenerationEvent),
// shared by the scheduler (engine/scheduler.hpp) and the public API (engine/engine.hpp).
//
// A generation streams one event per sampled token, then exactly one final event that carries
// the finish reason, counts and timings. Concatenating the `text` of every event, final event
// included, gives the whole output (UTF-8, stop string excluded).
//
// Thread safety: CancellationToken may be copied to and used from any thread; the other types
// are plain values.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/output_constraint.hpp"
#include "engine/sampler.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// A flag shared by every copy. cancel() from any thread; the engine sees it before its next
// step and ends the request with FinishReason::cancelled.
class CancellationToken {
 public:
  CancellationToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() const { flag_->store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

struct GenerationRequest {
  std::vector<TokenId> prompt;     // at least one token; the engine adds nothing (no BOS)
  SamplerParams sampling;          // temperature <= 0: greedy; `sampling.seed` seeds the draw
  int32_t max_tokens = 256;        // sampled tokens at most (a stop token counts); >= 1
  // Tokens that end the generation without being emitted. nullopt: the tokenizer's eos and eot.
  std::optional<std::vector<TokenId>> stop_tokens;
  // Strings that end the generation when the decoded output contains one, across token
  // boundaries; the stop string and whatever follows it are not emitted.
  std::vector<std::string> stop_strings;
  CancellationToken cancellation;  // keep a copy to cancel
  // Grammar-constrained decoding (engine/grammar/output_constraint.hpp): one constraint per
  // request, not shared. Each step's token mask comes from it, computed while the forward pass
  // runs; a stretch of output the grammar fixes is emitted without sampling and forwarded as one
  // batch (jump-forward: the fixed bytes are tokenized, all but their last token).
  std::shared_ptr<grammar::OutputConstraint> constraint;
};

enum class FinishReason { stop, length, cancelled, error };
std::string_view finish_reason_name(FinishReason reason);  // "stop", "length", ...

struct GenerationStats {
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;     // prompt tokens found in the KV cache's prefix tree, not prefilled
  int32_t generated_tokens = 0;  // tokens emitted (sampled or forced), a final stop token included
  int32_t forced_tokens = 0;     // of those, emitted by jump-forward without sampling
  double queued_ms = 0;          // submit -> the scheduler took the request
  double prompt_ms = 0;          // taken -> first token sampled (prefill, chunks interleaved)
  double generation_ms = 0;      // first token sampled -> finished (generated_tokens - 1 decodes)
};

struct GenerationEvent {
  enum class Kind { token, finished };
  Kind kind = Kind::token;
  TokenId token = -1;  // token: the sampled id
  // The text this event releases. Text is held back while it is an incomplete UTF-8 character
  // or could still become a stop string, so a token event's text may be empty; the final
  // event releases what was held (nothing of a matched stop string).
  std::string text;
  // finished only:
  FinishReason reason = FinishReason::stop;
  std::string error;  // reason == error: what went wrong
  // The output left the request's constraint (a failed OutputConstraint's error); the text was
  // still emitted as generated, for the chat parser to report.
  std::string constraint_error;
  GenerationStats stats;

  bool finished() const { return kind == Kind::finished; }
};

// Receives a request's events in order; the last one is finished().
using GenerationCallback = std::function<void(const GenerationEvent&)>;

}  // namespace ragent::engine
