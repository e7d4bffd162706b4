#include "engine/engine.hpp"

#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "engine/grammar_vocabulary.hpp"
#include "engine/scheduler.hpp"

namespace ragent::engine {

namespace asio = boost::asio;

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
  }
  return "unknown";
}

// ---- GenerationStream: a queue of events owned by a strand of the caller's executor ----

// A next() waiting for an event: resumes its coroutine on the coroutine's own executor.
struct StreamWaiter {
  virtual ~StreamWaiter() = default;
  virtual void complete(std::optional<GenerationEvent> event) = 0;
};

template <typename Handler>
struct StreamWaiterFor final : StreamWaiter {
  explicit StreamWaiterFor(Handler h) : handler(std::move(h)) {}
  void complete(std::optional<GenerationEvent> event) override {
    auto executor = asio::get_associated_executor(handler);
    asio::post(executor, [h = std::move(handler), event = std::move(event)]() mutable { std::move(h)(std::move(event)); });
  }
  Handler handler;
};

struct GenerationStream::State {
  State(asio::any_io_executor executor, CancellationToken token)
      : strand(asio::make_strand(std::move(executor))), cancellation(std::move(token)) {}

  // Both run on the strand.
  void deliver(GenerationEvent event) {
    if (waiter) {
      auto w = std::move(waiter);
      hand_out(*w, std::move(event));
    } else {
      events.push_back(std::move(event));
    }
  }
  void take(std::unique_ptr<StreamWaiter> w) {
    if (!events.empty()) {
      GenerationEvent event = std::move(events.front());
      events.pop_front();
      hand_out(*w, std::move(event));
    } else if (ended) {
      w->complete(std::nullopt);
    } else {
      waiter = std::move(w);
    }
  }
  void hand_out(StreamWaiter& w, GenerationEvent event) {
    if (event.finished()) ended = true;
    w.complete(std::move(event));
  }

  asio::strand<asio::any_io_executor> strand;
  CancellationToken cancellation;
  std::deque<GenerationEvent> events;   // arrived, not yet taken
  std::unique_ptr<StreamWaiter> waiter;  // a next() waiting for an event
  bool ended = false;                    // the finished event has been taken
};

// The engine-side callback of a stream: posts each event to the stream's strand. It keeps the
// caller's io_context busy (so running, and by the contract alive) until the scheduler drops
// it, and it lets go of the State first: nothing the engine thread destroys then still refers
// to that io_context.
struct StreamSink {
  void operator()(const GenerationEvent& event) const {
    asio::post(state->strand, [s = state, event]() mutable { s->deliver(std::move(event)); });
  }
  asio::executor_work_guard<asio::any_io_executor> caller_busy;  // destroyed after `state`
  std::shared_ptr<GenerationStream::State> state;
};

GenerationStream& GenerationStream::operator=(GenerationStream&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}

GenerationStream::~GenerationStream() { cancel(); }

void GenerationStream::cancel() {
  if (state_) state_->cancellation.cancel();
}

// Starts a next(): queues a waiter on the strand. A named type, not a coroutine lambda: GCC 12
// mishandles captured temporaries inside co_await expressions.
struct StartNext {
  template <typename Handler>
  void operator()(Handler handler) const {
    std::unique_ptr<StreamWaiter> waiter = std::make_unique<StreamWaiterFor<Handler>>(std::move(handler));
    asio::post(state->strand, [s = state, w = std::move(waiter)]() mutable { s->take(std::move(w)); });
  }
  std::shared_ptr<GenerationStream::State> state;
};

asio::awaitable<std::optional<GenerationEvent>> GenerationStream::next() {
  if (!state_) throw EngineError("next() on a moved-from GenerationStream");
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::optional<GenerationEvent>)>(
      StartNext{state_}, asio::use_awaitable);
}

// ---- Engine: the thread, its inbox, the scheduler ----

namespace {

std::unique_ptr<KvCache> make_kv_cache(const Model& model, const EngineOptions& options) {
  if (options.kv_cache_bytes == 0) return nullptr;
  return std::make_unique<KvCache>(KvCacheConfig::for_model(model.config(), options.kv_cache_bytes,
                                                            options.kv_cache_type, options.kv_block_tokens));
}

}  // namespace

struct Engine::Impl {
  std::once_flag grammar_vocabulary_once;
  std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary;

  Impl(const Model& m, std::unique_ptr<Backend> b, Tokenizer t, EngineOptions options)
      : model(m),
        backend(std::move(b)),
        tokenizer(std::move(t)),
        scheduler(*backend, tokenizer, m.config().vocab_size, m.config().context_length,
                  SchedulerOptions{options.prefill_chunk_tokens}, make_kv_cache(m, options)),
        keep_running(inbox.get_executor()) {}

  // One embedding request, now (engine thread): the vector or the error goes to on_done.
  void embed(const std::vector<TokenId>& tokens, const EmbeddingOptions& options, const EmbeddingCallback& on_done) {
    const ModelConfig& config = model.config();
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    EmbeddingResult result;
    if (n_tokens == 0) {
      result.error = "embedding: the text has no tokens";
    } else if (n_tokens > config.context_length) {
      result.error = "embedding: the text has " + std::to_string(n_tokens) + " tokens; the model's context holds " +
                     std::to_string(config.context_length);
    } else {
      try {
        result.embedding.resize(static_cast<size_t>(config.hidden_size));
        backend->embed(tokens.data(), static_cast<int>(n_tokens), options, result.embedding.data());
      } catch (const std::exception& e) {
        result.embedding.clear();
        result.error = e.what();
      }
    }
    try {
      on_done(std::move(result));
    } catch (...) {  // the caller's problem; the engine thread goes on
    }
  }

  // The engine thread: take what was posted (blocking only when nothing is active), step.
  void run() {
    while (!stopping) {
      if (scheduler.idle()) {
        inbox.run_one();
      } else {
        inbox.poll();
      }
      if (stopping) break;
      try {
        scheduler.step();
      } catch (const std::exception& e) {  // not a request's fault (e.g. out of memory)
        scheduler.fail_all(e.what());
      }
    }
    scheduler.fail_all("engine shut down");
  }

  const Model& model;
  std::unique_ptr<Backend> backend;
  Tokenizer tokenizer;
  Scheduler scheduler;  // engine thread only
  // Requests and the stop signal reach the engine thread as handlers posted here.
  asio::io_context inbox{1};
  asio::executor_work_guard<asio::io_context::executor_type> keep_running;
  bool stopping = false;  // engine thread only

  std::mutex gate;        // orders posts against shutdown, so none is posted after the stop
  bool accepting = true;  // guarded by gate
  std::mutex join_mutex;  // one shutdown joins
  std::thread thread;
};

Engine::Engine(const Model& model, std::unique_ptr<Backend> backend, Tokenizer tokenizer, EngineOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(backend), std::move(tokenizer), options)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

Engine::~Engine() { shutdown(); }

void Engine::submit(GenerationRequest request, GenerationCallback on_event) {
  const auto submitted = Scheduler::Clock::now();
  std::lock_guard lock(impl_->gate);
  if (!impl_->accepting) throw EngineError("the engine has shut down; no new requests");
  asio::post(impl_->inbox, [impl = impl_.get(), request = std::move(request), on_event = std::move(on_event),
                            submitted]() mutable {
    impl->scheduler.admit(std::move(request), std::move(on_event), submitted);
  });
}

GenerationStream Engine::stream(GenerationRequest request, asio::any_io_executor executor) {
  auto state = std::make_shared<GenerationStream::State>(executor, request.cancellation);
  submit(std::move(request), StreamSink{asio::make_work_guard(executor), state});
  return GenerationStream(std::move(state));
}

void Engine::submit_embedding(std::vector<TokenId> tokens, EmbeddingOptions options, EmbeddingCallback on_done) {
  std::lock_guard lock(impl_->gate);
  if (!impl_->accepting) throw EngineError("the engine has shut down; no new requests");
  asio::post(impl_->inbox, [impl = impl_.get(), tokens = std::move(tokens), options, on_done = std::move(on_done)] {
    impl->embed(tokens, options, on_done);
  });
}

namespace {

// Starts an embed(): submits the request with a callback that posts the outcome to the
// awaiting coroutine's executor, keeping that executor busy until then. A named type, as
// StartNext. The handler is shared because EmbeddingCallback must be copyable.
struct StartEmbedding {
  template <typename Handler>
  void operator()(Handler handler, std::vector<TokenId> tokens, EmbeddingOptions options) const {
    auto busy = asio::make_work_guard(asio::get_associated_executor(handler));
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto complete = [shared, busy](std::exception_ptr error, std::vector<float> embedding) {
      asio::post(busy.get_executor(), [h = std::move(*shared), error, embedding = std::move(embedding)]() mutable {
        std::move(h)(error, std::move(embedding));
      });
    };
    try {
      engine->submit_embedding(std::move(tokens), options, [complete](EmbeddingResult result) {
        if (result.error.empty()) {
          complete(nullptr, std::move(result.embedding));
        } else {
          complete(std::make_exception_ptr(EngineError(result.error)), {});
        }
      });
    } catch (const EngineError&) {  // shut down
      complete(std::current_exception(), {});
    }
  }
  Engine* engine;
};

}  // namespace

asio::awaitable<std::vector<float>> Engine::embed(std::vector<TokenId> tokens, EmbeddingOptions options) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, std::vector<float>)>(
      StartEmbedding{this}, asio::use_awaitable, std::move(tokens), options);
}

void Engine::shutdown() {
  {
    std::lock_guard lock(impl_->gate);
    if (impl_->accepting) {
      impl_->accepting = false;
      asio::post(impl_->inbox, [impl = impl_.get()] { impl->stopping = true; });
    }
  }
  std::lock_guard lock(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

const Tokenizer& Engine::tokenizer() const { return impl_->tokenizer; }

std::shared_ptr<const grammar::Vocabulary> Engine::grammar_vocabulary() const {
  std::call_once(impl_->grammar_vocabulary_once,
                 [this] { impl_->grammar_vocabulary = build_grammar_vocabulary(impl_->tokenizer); });
  return impl_->grammar_vocabulary;
}

}  // namespace ragent::engine
