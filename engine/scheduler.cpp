#include "engine/scheduler.hpp"

#include <algorithm>
#include <exception>
#include <future>
#include <string>
#include <utility>

#include "engine/paged_sequence_cache.hpp"
#include "engine/stop_matcher.hpp"

namespace ragent::engine {
namespace {

double elapsed_ms(Scheduler::Clock::time_point from, Scheduler::Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

struct Scheduler::Sequence {
  Sequence(GenerationRequest r, GenerationCallback callback, const Tokenizer& tokenizer)
      : request(std::move(r)), on_event(std::move(callback)), decoder(tokenizer), stops(request.stop_strings) {}

  GenerationRequest request;
  GenerationCallback on_event;
  StreamDecoder decoder;
  StopMatcher stops;
  std::vector<TokenId> stop_tokens;
  std::unique_ptr<SequenceCache> cache;
  PagedSequenceCache* paged = nullptr;  // `cache`, when it is paged: commits forwarded tokens
  std::unique_ptr<SamplerChain> sampler;
  std::vector<float> logits;  // the last forwarded token's row

  int32_t prefilled_tokens = 0;  // prompt tokens in the cache
  int32_t cached_tokens = 0;     // of those, found in the prefix tree at admission
  std::vector<TokenId> inputs;   // forwarded next step: the last sampled token, then forced ones
  int32_t generated_tokens = 0;
  int32_t forced_tokens = 0;
  bool done = false;

  Clock::time_point submitted, admitted, first_token;

  bool in_prefill() const { return prefilled_tokens < static_cast<int32_t>(request.prompt.size()); }
};

Scheduler::Scheduler(Backend& backend, const Tokenizer& tokenizer, int64_t vocab_size, int64_t context_length_tokens,
                     SchedulerOptions options, std::unique_ptr<KvCache> kv_cache)
    : backend_(backend),
      tokenizer_(tokenizer),
      vocab_size_(vocab_size),
      context_length_tokens_(context_length_tokens),
      options_(options),
      kv_cache_(std::move(kv_cache)) {
  if (options_.prefill_chunk_tokens < 1) throw EngineError("prefill_chunk_tokens must be at least 1");
}

Scheduler::~Scheduler() = default;

void Scheduler::admit(GenerationRequest request, GenerationCallback on_event, Clock::time_point submitted) {
  auto seq = std::make_unique<Sequence>(std::move(request), std::move(on_event), tokenizer_);
  seq->submitted = submitted;
  seq->admitted = Clock::now();
  try {
    const auto& req = seq->request;
    if (req.prompt.empty()) throw EngineError("the prompt has no tokens");
    if (static_cast<int64_t>(req.prompt.size()) >= context_length_tokens_) {
      throw EngineError("the prompt has " + std::to_string(req.prompt.size()) + " tokens; the model's context holds " +
                        std::to_string(context_length_tokens_) + " (prompt and output together)");
    }
    if (req.max_tokens < 1) throw EngineError("max_tokens must be at least 1, got " + std::to_string(req.max_tokens));
    if (req.stop_tokens) {
      seq->stop_tokens = *req.stop_tokens;
    } else {
      if (tokenizer_.eos() >= 0) seq->stop_tokens.push_back(tokenizer_.eos());
      if (auto eot = tokenizer_.eot()) seq->stop_tokens.push_back(*eot);
    }
    TokenMaskFill mask;
    if (auto c = req.constraint) mask = [c](std::span<uint64_t> words) { return c->fill_mask(words); };
    seq->sampler = make_sampler_chain(req.sampling, std::move(mask));
    for (TokenId t : req.prompt) seq->sampler->accept(t);
    if (kv_cache_) {
      auto paged = std::make_unique<PagedSequenceCache>(*kv_cache_, req.prompt);
      seq->paged = paged.get();
      seq->cached_tokens = seq->prefilled_tokens = static_cast<int32_t>(paged->cached_tokens());
      seq->cache = std::move(paged);
    } else {
      seq->cache = backend_.new_sequence_cache();
    }
    seq->logits.resize(static_cast<size_t>(vocab_size_));
  } catch (const std::exception& e) {
    finish(*seq, FinishReason::error, e.what());
    return;
  }
  sequences_.push_back(std::move(seq));
}

void Scheduler::step() {
  for (auto& seq : sequences_) {
    if (!seq->done && seq->request.cancellation.cancelled()) finish(*seq, FinishReason::cancelled);
  }
  execute(plan_step());
  std::erase_if(sequences_, [](const auto& seq) { return seq->done; });
}

void Scheduler::fail_all(std::string_view why) {
  for (auto& seq : sequences_) {
    if (!seq->done) finish(*seq, FinishReason::error, std::string(why));
  }
  sequences_.clear();
}

// Decode tokens first (one per generating sequence), then whole prompt chunks while the
// budget lasts. Chunks end at multiples of the chunk size within each prompt (the first one
// early when a cached prefix ends mid-chunk).
std::vector<Scheduler::WorkItem> Scheduler::plan_step() {
  std::vector<WorkItem> work;
  for (auto& seq : sequences_) {
    if (!seq->done && !seq->in_prefill()) work.push_back({seq.get(), static_cast<int32_t>(seq->inputs.size()), true});
  }
  int32_t budget = options_.prefill_chunk_tokens;
  for (auto& seq : sequences_) {
    if (seq->done || !seq->in_prefill()) continue;
    const int32_t remaining = static_cast<int32_t>(seq->request.prompt.size()) - seq->prefilled_tokens;
    const int32_t to_boundary = options_.prefill_chunk_tokens - seq->prefilled_tokens % options_.prefill_chunk_tokens;
    const int32_t chunk = std::min(to_boundary, remaining);
    if (chunk > budget) break;  // arrival order: later prompts wait rather than overtake
    budget -= chunk;
    work.push_back({seq.get(), chunk, chunk == remaining});
  }
  return work;
}

// The one place a step touches the backend: one batched forward over every work item.
void Scheduler::execute(const std::vector<WorkItem>& work) {
  if (work.empty()) return;
  items_.clear();
  positions_.clear();
  for (const WorkItem& w : work) {
    const Sequence& seq = *w.sequence;
    const int64_t first_position = seq.cache->size_tokens();
    for (int32_t i = 0; i < w.n_tokens; ++i) positions_.push_back(static_cast<int32_t>(first_position + i));
  }
  size_t at = 0;
  for (const WorkItem& w : work) {
    Sequence& seq = *w.sequence;
    ForwardItem item;
    item.tokens = seq.in_prefill() ? seq.request.prompt.data() + seq.prefilled_tokens : seq.inputs.data();
    item.n_tokens = w.n_tokens;
    item.positions = positions_.data() + at;
    item.cache = seq.cache.get();
    item.logits_out = seq.logits.data();
    items_.push_back(std::move(item));
    at += static_cast<size_t>(w.n_tokens);
  }
  // The next masks of constrained sequences are computed while the forward pass runs.
  std::vector<grammar::OutputConstraint*> constrained;
  for (const WorkItem& w : work) {
    if (w.samples && w.sequence->request.constraint) constrained.push_back(w.sequence->request.constraint.get());
  }
  std::future<void> masks;
  if (!constrained.empty()) {
    masks = std::async(std::launch::async, [&constrained] {
      for (grammar::OutputConstraint* c : constrained) c->prepare();
    });
  }
  try {
    backend_.forward_batch(items_);
  } catch (const std::exception& e) {
    if (masks.valid()) masks.wait();
    for (const WorkItem& w : work) finish(*w.sequence, FinishReason::error, e.what());  // caches as they were
    return;
  }
  if (masks.valid()) masks.get();  // prepare() records failures in the constraint; it does not throw
  for (size_t i = 0; i < work.size(); ++i) {
    Sequence& seq = *work[i].sequence;
    const ForwardItem& item = items_[i];
    try {
      if (!item.error.empty()) throw EngineError(item.error);  // the backend left the cache as it was
      if (seq.paged) seq.paged->commit({item.tokens, static_cast<size_t>(item.n_tokens)});
    } catch (const std::exception& e) {
      finish(seq, FinishReason::error, e.what());
      continue;
    }
    if (seq.in_prefill()) seq.prefilled_tokens += item.n_tokens;
    if (work[i].samples) sample_and_emit(seq);
  }
}

// Samples from the sequence's logits and emits the token; then, under a constraint, emits the
// tokens of the bytes the grammar fixes from there (jump-forward). Everything emitted is
// forwarded together next step.
void Scheduler::sample_and_emit(Sequence& seq) {
  TokenId token = -1;
  try {
    token = seq.sampler->sample(seq.logits);
  } catch (const std::exception& e) {
    finish(seq, FinishReason::error, e.what());
    return;
  }
  seq.inputs.clear();
  if (!emit_token(seq, token)) return;
  grammar::OutputConstraint* c = seq.request.constraint.get();
  if (!c) return;
  const std::string forced = c->forced_bytes();
  if (forced.empty()) return;
  std::vector<TokenId> ids = tokenizer_.encode(forced);
  if (ids.empty()) return;
  ids.pop_back();  // the last token might merge with what the model writes next
  for (TokenId id : ids) {
    if (seq.cache->size_tokens() + static_cast<int64_t>(seq.inputs.size()) + 1 > context_length_tokens_) break;
    ++seq.forced_tokens;
    if (!emit_token(seq, id)) return;
  }
}

// One emitted token, sampled or forced: stop token, then the text (stop strings), then
// max_tokens and the context's end. False when the request has finished.
bool Scheduler::emit_token(Sequence& seq, TokenId token) {
  GenerationEvent event;
  event.token = token;
  try {
    seq.sampler->accept(token);
    if (seq.request.constraint) seq.request.constraint->accept(token);
    if (seq.generated_tokens++ == 0) seq.first_token = Clock::now();
    if (std::find(seq.stop_tokens.begin(), seq.stop_tokens.end(), token) != seq.stop_tokens.end()) {
      finish(seq, FinishReason::stop);
      return false;
    }
    event.text = seq.stops.push(seq.decoder.push(token));
  } catch (const std::exception& e) {
    finish(seq, FinishReason::error, e.what());
    return false;
  }
  seq.inputs.push_back(token);
  emit(seq, std::move(event));
  if (seq.done) return false;  // the callback failed
  if (seq.stops.matched()) {
    finish(seq, FinishReason::stop);
    return false;
  }
  if (seq.generated_tokens >= seq.request.max_tokens ||
      seq.cache->size_tokens() + static_cast<int64_t>(seq.inputs.size()) > context_length_tokens_) {
    finish(seq, FinishReason::length);
    return false;
  }
  return true;
}

// A callback that throws ends its request silently: nobody is listening any more.
void Scheduler::emit(Sequence& seq, GenerationEvent event) {
  try {
    seq.on_event(event);
  } catch (...) {
    seq.done = true;
  }
}

void Scheduler::finish(Sequence& seq, FinishReason reason, std::string error) {
  GenerationEvent event;
  event.kind = GenerationEvent::Kind::finished;
  if (reason != FinishReason::error && !seq.stops.matched()) {
    // Release what was held back: an unfinished character, text that was not a stop string.
    event.text = seq.stops.push(seq.decoder.flush());
    if (seq.stops.matched()) {
      reason = FinishReason::stop;
    } else {
      event.text += seq.stops.flush();
    }
  }
  event.reason = reason;
  event.error = std::move(error);
  if (seq.request.constraint && seq.request.constraint->failed()) event.constraint_error = seq.request.constraint->error();
  const auto now = Clock::now();
  GenerationStats& stats = event.stats;
  stats.prompt_tokens = static_cast<int32_t>(seq.request.prompt.size());
  stats.cached_tokens = seq.cached_tokens;
  stats.generated_tokens = seq.generated_tokens;
  stats.forced_tokens = seq.forced_tokens;
  stats.queued_ms = elapsed_ms(seq.submitted, seq.admitted);
  if (seq.generated_tokens > 0) {
    stats.prompt_ms = elapsed_ms(seq.admitted, seq.first_token);
    stats.generation_ms = elapsed_ms(seq.first_token, now);
  } else {
    stats.prompt_ms = elapsed_ms(seq.admitted, now);
  }
  seq.done = true;
  try {
    seq.on_event(event);
  } catch (...) {
  }
}

}  // namespace ragent::engine
