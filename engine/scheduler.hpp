// Continuous batching on the engine thread: every step serves all active sequences.
//
// A step is built in one place (plan_step): first one decode token for every sequence that is
// generating, then prompt chunks for sequences still in prefill, in arrival order, while the
// step's prefill budget (SchedulerOptions::prefill_chunk_tokens) lasts. A sequence's prompt is
// always cut at multiples of the chunk size, whatever else is running, so its logits (and hence
// its greedy output) do not depend on the batch; and a long prompt delays the others' next
// token by at most one chunk. New requests join between steps; finished ones leave at the end
// of the step.
//
// execute() hands the whole step to Backend::forward_batch: the weights are read once for
// every sequence's tokens (decode tokens and prompt chunks together).
//
// Per-request failures (bad token id, sampler parameters, a prompt longer than the context, a
// backend error, a full KV cache) end that request with FinishReason::error; the others go on.
//
// KV storage. Without a KvCache each request gets the backend's own contiguous cache. With one,
// each request gets a PagedSequenceCache (engine/paged_sequence_cache.hpp): on admission the
// prompt's longest cached prefix (whole blocks) is shared and only the rest is prefilled
// (GenerationStats::cached_tokens); every forwarded token is committed after its forward, so
// full blocks enter the prefix tree as they fill; the sequence is released when the request
// ends, leaving its full blocks cached for later requests.
//
// Thread safety: none. The scheduler and every callback it invokes run on the engine thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/backend.hpp"
#include "engine/generation.hpp"
#include "engine/kv_cache.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

struct SchedulerOptions {
  int32_t prefill_chunk_tokens = 256;  // prompt tokens forwarded per step, all sequences together
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  // `backend` and `tokenizer` must outlive the scheduler. vocab_size is the logits row length,
  // context_length_tokens the most positions a sequence may use. kv_cache: the paged cache
  // every request keeps its keys and values in, shared by prefix; nullptr: contiguous caches
  // from the backend. Its layer widths must be the backend's model's.
  Scheduler(Backend& backend, const Tokenizer& tokenizer, int64_t vocab_size, int64_t context_length_tokens,
            SchedulerOptions options, std::unique_ptr<KvCache> kv_cache = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Takes a request into the running set (joins at the next step). A request that cannot start
  // gets its final error event here.
  void admit(GenerationRequest request, GenerationCallback on_event, Clock::time_point submitted);

  bool idle() const { return sequences_.empty(); }
  size_t active_sequences() const { return sequences_.size(); }

  // One step over all active sequences: cancellations, plan, forward, sample, emit.
  void step();

  // Ends every active request with FinishReason::error and `why` (engine shutdown).
  void fail_all(std::string_view why);

 private:
  struct Sequence;
  // One sequence's share of a step: its next n_tokens prompt tokens, or its one decode token.
  struct WorkItem {
    Sequence* sequence = nullptr;
    int32_t n_tokens = 0;
    bool samples = false;  // the chunk ends the prompt, or it is a decode token
  };

  std::vector<WorkItem> plan_step();
  void execute(const std::vector<WorkItem>& work);
  void sample_and_emit(Sequence& seq);
  bool emit_token(Sequence& seq, TokenId token);
  void emit(Sequence& seq, GenerationEvent event);
  void finish(Sequence& seq, FinishReason reason, std::string error = {});

  Backend& backend_;
  const Tokenizer& tokenizer_;
  int64_t vocab_size_;
  int64_t context_length_tokens_;
  SchedulerOptions options_;
  std::unique_ptr<KvCache> kv_cache_;                 // outlives the sequences, which release into it
  std::vector<std::unique_ptr<Sequence>> sequences_;  // arrival order
  std::vector<int32_t> positions_;                    // scratch for execute: every item's positions
  std::vector<ForwardItem> items_;                    // scratch for execute
};

}  // namespace ragent::engine
