// The engine's public API: an Engine owns one Backend and one thread that runs the scheduler
// (engine/scheduler.hpp: continuous batching, chunked prefill) over every request submitted to
// it. Requests and events are described in engine/generation.hpp.
//
// Two ways to receive a request's events, both in order and ending with one finished() event:
//   submit(request, callback)   the callback runs ON THE ENGINE THREAD, between forward passes:
//                               keep it short, never block in it, and post elsewhere for real
//                               work. It must not call back into the Engine's shutdown().
//                               If it throws, its request ends without further events.
//   stream(request, executor)   a GenerationStream whose next() a Boost.Asio coroutine
//                               co_awaits; events are posted to (a strand of) `executor`, so
//                               the caller's io_context thread never blocks.
//
//   engine::Engine engine(model, std::make_unique<engine::CpuBackend>(model), tokenizer);
//   auto stream = engine.stream(std::move(request), co_await asio::this_coro::executor);
//   while (auto event = co_await stream.next()) std::cout << event->text;
//
// Embeddings (Backend::embed) are requests too, served on the engine thread between two
// scheduler steps: submit_embedding(tokens, options, callback) with the callback on the engine
// thread as for submit, or co_await embed(tokens, options) from a coroutine.
//
// KV storage: with EngineOptions::kv_cache_bytes > 0 every request keeps its keys and values in
// one paged cache (engine/kv_cache.hpp) of that budget: requests that share a prompt prefix
// share its blocks and prefill only the rest, unused blocks are evicted least-recently-used,
// and a request the budget cannot hold fails with an error naming the bytes while the others
// go on. With 0, each request gets its own contiguous backend cache, sharing nothing.
//
// Thread safety: submit, stream, submit_embedding, embed and shutdown may be called from any
// thread; the backend is only ever called on the engine thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "engine/backend.hpp"
#include "engine/generation.hpp"
#include "engine/gguf.hpp"
#include "engine/grammar/vocabulary.hpp"
#include "engine/model.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

struct EngineOptions {
  // Prompt tokens forwarded per scheduler step, all prefilling requests together: the most a
  // long prompt delays the other requests' next token.
  int32_t prefill_chunk_tokens = 256;
  // Bytes of the paged KV cache, allocated once (0: a contiguous cache per request, no
  // prefix sharing); its storage type; tokens per block (the granularity of sharing).
  uint64_t kv_cache_bytes = 0;
  GgmlType kv_cache_type = GgmlType::F16;  // F16, F32 or Q8_0
  int32_t kv_block_tokens = 16;
};

// What an embedding request gives back: the vector, or why there is none.
struct EmbeddingResult {
  std::vector<float> embedding;  // hidden_size floats; empty on error
  std::string error;             // empty on success
};
using EmbeddingCallback = std::function<void(EmbeddingResult)>;

// The events of one request, for a coroutine. Move-only. Destroying the stream (or cancel())
// cancels the request if it has not finished.
class GenerationStream {
 public:
  GenerationStream(GenerationStream&&) noexcept = default;
  GenerationStream& operator=(GenerationStream&&) noexcept;
  ~GenerationStream();

  // The next event; std::nullopt after the finished event has been returned. Completes on the
  // awaiting coroutine's executor. One next() at a time per stream.
  boost::asio::awaitable<std::optional<GenerationEvent>> next();
  void cancel();

  struct State;  // the queue, on a strand of the caller's executor

 private:
  friend class Engine;
  explicit GenerationStream(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class Engine {
 public:
  // Starts the engine thread. `model` (for the vocabulary and context sizes) must outlive the
  // engine; `backend` runs it; `tokenizer` turns tokens into text and gives the default stop
  // tokens. Throws EngineError for invalid options.
  Engine(const Model& model, std::unique_ptr<Backend> backend, Tokenizer tokenizer, EngineOptions options = {});
  ~Engine();  // shutdown()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; it joins the running batch at the next scheduler step. Problems with the
  // request itself (empty prompt, bad token id, bad sampler parameters, prompt longer than the
  // context) arrive as a finished event with FinishReason::error. Throws EngineError only after
  // shutdown().
  void submit(GenerationRequest request, GenerationCallback on_event);

  // As submit, delivering events through the returned stream. Until the request has ended
  // and the engine has let go of it, the stream counts as work on `executor`, so its
  // io_context::run() does not return before then; the context must not be destroyed earlier
  // (for example after stop() while a request still runs).
  GenerationStream stream(GenerationRequest request, boost::asio::any_io_executor executor);

  // Queues the embedding of `tokens` (Backend::embed: the text alone at positions 0.., nothing
  // cached or shared with generations). It runs whole, not chunked, on the engine thread
  // between two scheduler steps, so a long text delays the running generations' next token by
  // its forward pass. `on_done` runs once, ON THE ENGINE THREAD (the rules of submit's
  // callback apply; what it throws is dropped), with the vector or an error: no tokens, a
  // token id outside the vocabulary, more tokens than the model's context. A request queued
  // before shutdown() still runs. Throws EngineError only after shutdown().
  void submit_embedding(std::vector<TokenId> tokens, EmbeddingOptions options, EmbeddingCallback on_done);

  // As submit_embedding, for a coroutine: completes on the awaiting coroutine's executor with
  // the vector, or throws EngineError with the request's error. Until it completes it counts as
  // work on that executor (its io_context::run() does not return before then).
  boost::asio::awaitable<std::vector<float>> embed(std::vector<TokenId> tokens, EmbeddingOptions options);

  // Stops taking requests, ends every pending and active one with FinishReason::error ("engine
  // shut down"), and joins the engine thread. Idempotent.
  void shutdown();

  const Tokenizer& tokenizer() const;
  // The tokenizer as grammar masks see it (engine/grammar_vocabulary.hpp): built on the first
  // call (about 0.2 s for a 128K vocabulary), then shared by every constraint on this engine.
  std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragent::engine
