// Pins engine/engine.cpp and engine/scheduler.cpp: the engine's output equals a hand loop over
// the backend, batching and chunked prefill do not change any request's output, the stop
// conditions (max_tokens, stop token, stop string across tokens), cancellation, per-request
// errors, shutdown, the Asio awaitable path, and embedding requests served between generation
// steps. Models are tiny random llamas with a byte-level
// vocabulary (ids 0..255 are the bytes), so every run takes milliseconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/kv_cache.hpp"
#include "engine/stop_matcher.hpp"
#include "tests/engine/byte_tokenizer.hpp"
#include "tests/engine/tiny_model.hpp"
#include "tests/support/byte_level.hpp"

namespace ragent::engine {
namespace {


namespace asio = boost::asio;
using model_testing::TempDir;

constexpr int64_t kVocab = model_testing::kByteVocab;
constexpr TokenId kBos = model_testing::kByteBos, kEot = model_testing::kByteEot;
using model_testing::byte_tokenizer;

ModelConfig tiny_llama() {
  ModelConfig c;
  c.arch = ModelArch::Llama;
  c.vocab_size = kVocab;
  c.hidden_size = 64;
  c.context_length = 4096;
  c.head_dim = 16;
  c.rope_dim = 16;
  c.layers.assign(2, LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 96});
  return c;
}

std::vector<TokenId> prompt_of(int n, int salt) {
  std::vector<TokenId> p{kBos};
  for (int i = 1; i < n; ++i) p.push_back(static_cast<TokenId>((i * 31 + salt * 17) % 256));
  return p;
}

GenerationRequest greedy(std::vector<TokenId> prompt, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.max_tokens = max_tokens;
  r.stop_tokens = std::vector<TokenId>{};  // random weights: let runs go the full length
  return r;
}

// Bans every byte >= 0x80 and the specials, so the output is ASCII and reads as bytes.
void ascii_only(GenerationRequest& r) {
  for (TokenId t = 128; t < kVocab; ++t) r.sampling.logit_bias.emplace_back(t, -std::numeric_limits<float>::infinity());
}

struct Result {
  std::vector<TokenId> tokens;  // of the token events
  std::string text;             // every event's text
  GenerationEvent final_event;
};

bool same_output(const Result& a, const Result& b) {
  return a.tokens == b.tokens && a.text == b.text && a.final_event.reason == b.final_event.reason;
}

// Collects one request's events (on the engine thread); wait() blocks the test thread. The
// callback shares the state, so the engine thread may finish set_value after wait() returned.
struct Collector {
  struct Shared {
    Result result;
    std::promise<void> done;
    std::function<void(const GenerationEvent&)> on_token;  // optional hook
  };
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  Result& result = shared->result;
  std::function<void(const GenerationEvent&)>& on_token = shared->on_token;

  GenerationCallback callback() {
    return [s = shared](const GenerationEvent& e) {
      s->result.text += e.text;
      if (e.finished()) {
        s->result.final_event = e;
        s->done.set_value();
        return;
      }
      s->result.tokens.push_back(e.token);
      if (s->on_token) s->on_token(e);
    };
  }
  Result wait() {
    shared->done.get_future().wait();
    return shared->result;
  }
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_testing::write_tiny_gguf(model_testing::make_tiny_model(tiny_llama(), 11), GgmlType::F32,
                                   dir_.path() / "m.gguf");
    model_ = std::make_unique<Model>(Model::load(dir_.path() / "m.gguf"));
  }

  std::unique_ptr<Engine> make_engine(int32_t chunk = 256) {
    return std::make_unique<Engine>(*model_, std::make_unique<CpuBackend>(*model_), tokenizer_,
                                    EngineOptions{chunk});
  }

  Result run(Engine& engine, GenerationRequest request) {
    Collector c;
    engine.submit(std::move(request), c.callback());
    return c.wait();
  }

  TempDir dir_;
  std::unique_ptr<Model> model_;
  Tokenizer tokenizer_ = byte_tokenizer();
};

TEST_F(EngineTest, GreedyOutputEqualsHandLoopOverBackend) {
  const auto prompt = prompt_of(20, 1);
  const int n = 12;
  // By hand: prefill the prompt, then one token at a time, argmax (ties: smaller id).
  CpuBackend backend(*model_);
  auto cache = backend.new_sequence_cache();
  std::vector<float> logits(kVocab);
  std::vector<int32_t> positions(prompt.size());
  for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int32_t>(i);
  backend.forward(prompt.data(), static_cast<int>(prompt.size()), positions.data(), *cache, logits.data(), false);
  std::vector<TokenId> expected;
  for (int step = 0; step < n; ++step) {
    const TokenId next = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    expected.push_back(next);
    const int32_t pos = static_cast<int32_t>(prompt.size()) + step;
    backend.forward(&next, 1, &pos, *cache, logits.data(), false);
  }

  auto engine = make_engine();
  const Result r = run(*engine, greedy(prompt, n));
  EXPECT_EQ(r.tokens, expected);
  EXPECT_EQ(r.final_event.reason, FinishReason::length);
  EXPECT_EQ(r.final_event.stats.prompt_tokens, 20);
  EXPECT_EQ(r.final_event.stats.generated_tokens, n);
  StreamDecoder decoder(tokenizer_);  // random bytes: incomplete characters become U+FFFD
  std::string expected_text;
  for (TokenId t : expected) expected_text += decoder.push(t);
  EXPECT_EQ(r.text, expected_text + decoder.flush());
}

TEST_F(EngineTest, ConcurrentRequestsEachEqualTheirSoloRun) {
  auto engine = make_engine(/*chunk=*/8);  // prompts of 5..37 tokens: one to five chunks
  std::vector<GenerationRequest> requests;
  const int lengths[] = {5, 37, 13, 8, 21};
  for (int i = 0; i < 5; ++i) {
    requests.push_back(greedy(prompt_of(lengths[i], i), 10 + i));
    if (i == 3) {  // one sampled request: seeded sampling does not depend on the batch either
      requests.back().sampling.temperature = 0.9f;
      requests.back().sampling.seed = 99;
    }
  }
  std::vector<Result> solo;
  for (const auto& r : requests) solo.push_back(run(*engine, r));

  // Hold the engine thread inside the first request's first event until every other request
  // is queued, so they all join one running batch.
  std::promise<void> all_submitted;
  std::shared_future<void> released = all_submitted.get_future().share();
  std::vector<std::unique_ptr<Collector>> batch;
  std::vector<std::pair<size_t, size_t>> order;  // (request, token index), engine thread only
  for (size_t i = 0; i < requests.size(); ++i) {
    batch.push_back(std::make_unique<Collector>());
    batch.back()->on_token = [&order, released, i, c = batch.back().get()](const GenerationEvent&) {
      if (i == 0 && c->result.tokens.size() == 1) released.wait();
      order.emplace_back(i, c->result.tokens.size());
    };
    engine->submit(requests[i], batch.back()->callback());
  }
  all_submitted.set_value();
  for (size_t i = 0; i < requests.size(); ++i) {
    const Result r = batch[i]->wait();
    EXPECT_TRUE(same_output(r, solo[i])) << "request " << i;
    EXPECT_EQ(r.final_event.reason, FinishReason::length);
    EXPECT_EQ(r.tokens.size(), static_cast<size_t>(10 + i));
  }
  // They ran together: request 1's first token (after five prompt chunks) came before
  // request 0's last.
  const auto first_of_1 = std::find(order.begin(), order.end(), std::pair<size_t, size_t>{1, 1});
  const auto last_of_0 = std::find(order.begin(), order.end(), std::pair<size_t, size_t>{0, 10});
  EXPECT_LT(first_of_1 - order.begin(), last_of_0 - order.begin());
}

TEST_F(EngineTest, LongPromptIsPrefilledInChunksBetweenOtherDecodes) {
  auto engine = make_engine(/*chunk=*/8);
  std::vector<int> log;  // which request each token event belongs to, in order (engine thread)
  Collector decoding, long_prompt;
  long_prompt.on_token = [&log](const GenerationEvent&) { log.push_back(1); };
  decoding.on_token = [&](const GenerationEvent&) {
    log.push_back(0);
    // Submitted from the engine thread: joins at the next step, while request 0 decodes.
    if (log.size() == 2) engine->submit(greedy(prompt_of(40, 7), 3), long_prompt.callback());
  };
  engine->submit(greedy(prompt_of(6, 1), 30), decoding.callback());
  decoding.wait();
  long_prompt.wait();
  // 40 prompt tokens in chunks of 8 take five steps; request 0 got a token in each of them.
  const auto first_long = std::find(log.begin(), log.end(), 1);
  ASSERT_NE(first_long, log.end());
  EXPECT_GE(first_long - log.begin(), 2 + 4);
}

TEST_F(EngineTest, MaxTokensEndsWithLength) {
  auto engine = make_engine();
  const Result r = run(*engine, greedy(prompt_of(4, 2), 5));
  EXPECT_EQ(r.tokens.size(), 5u);
  EXPECT_EQ(r.final_event.reason, FinishReason::length);
  EXPECT_EQ(r.final_event.stats.generated_tokens, 5);
  EXPECT_GE(r.final_event.stats.prompt_ms, 0.0);
}

TEST_F(EngineTest, StopTokenEndsWithoutBeingEmitted) {
  auto engine = make_engine();
  const Result full = run(*engine, greedy(prompt_of(9, 3), 12));
  const TokenId stop = full.tokens[4];
  const size_t first = static_cast<size_t>(std::find(full.tokens.begin(), full.tokens.end(), stop) - full.tokens.begin());
  auto request = greedy(prompt_of(9, 3), 12);
  request.stop_tokens = std::vector<TokenId>{stop};
  const Result r = run(*engine, request);
  EXPECT_EQ(r.final_event.reason, FinishReason::stop);
  EXPECT_EQ(r.tokens, std::vector<TokenId>(full.tokens.begin(), full.tokens.begin() + static_cast<long>(first)));
  EXPECT_EQ(r.final_event.stats.generated_tokens, static_cast<int32_t>(first) + 1);
}

TEST_F(EngineTest, DefaultStopTokensAreEosAndEot) {
  auto engine = make_engine();
  auto request = greedy(prompt_of(9, 3), 20);
  request.stop_tokens.reset();
  // Force <|eot_id|> after whatever the model says first.
  request.sampling.logit_bias = {{kEot, 1000.0f}};
  const Result r = run(*engine, request);
  EXPECT_EQ(r.final_event.reason, FinishReason::stop);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(r.final_event.stats.generated_tokens, 1);
}

TEST_F(EngineTest, StopStringAcrossTokensIsNotEmitted) {
  auto engine = make_engine();
  auto base = greedy(prompt_of(7, 4), 24);
  ascii_only(base);
  const Result full = run(*engine, base);
  ASSERT_EQ(full.text.size(), 24u);  // one byte per token
  const std::string stop = full.text.substr(6, 3);  // three tokens
  const size_t at = full.text.find(stop);

  auto request = base;
  request.stop_strings = {"never here \xC3\xA9", stop};
  const Result r = run(*engine, request);
  EXPECT_EQ(r.final_event.reason, FinishReason::stop);
  EXPECT_EQ(r.text, full.text.substr(0, at));
  EXPECT_EQ(r.tokens.size(), at + stop.size());  // the token that completed the stop string is reported

  // A stop string that starts matching but never completes holds text back, then releases it.
  request.stop_strings = {full.text.substr(6, 2) + "\xC3\xA9"};
  const Result held = run(*engine, request);
  EXPECT_EQ(held.final_event.reason, FinishReason::length);
  EXPECT_EQ(held.text, full.text);
}

TEST(StopMatcher, HoldsPossiblePrefixesAndDropsTheMatch) {
  StopMatcher m({"</end>", ""});
  EXPECT_EQ(m.push("abc</"), "abc");
  EXPECT_EQ(m.push("e"), "");
  EXPECT_EQ(m.push("x<"), "</ex");
  EXPECT_FALSE(m.matched());
  EXPECT_EQ(m.push("/en"), "");
  EXPECT_EQ(m.push("d>tail"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.push("more"), "");

  StopMatcher two({"bc", "abcd"});
  EXPECT_EQ(two.push("xa"), "x");
  EXPECT_EQ(two.push("bc"), "a");  // "bc" completes first
  EXPECT_TRUE(two.matched());

  StopMatcher none({"zz"});
  EXPECT_EQ(none.push("az"), "a");
  EXPECT_EQ(none.flush(), "z");
}

TEST_F(EngineTest, CancellationEndsWithCancelled) {
  auto engine = make_engine();
  auto request = greedy(prompt_of(5, 5), 100000);
  CancellationToken token = request.cancellation;
  Collector c;
  c.on_token = [&](const GenerationEvent&) {
    if (c.result.tokens.size() == 3) token.cancel();
  };
  engine->submit(request, c.callback());
  const Result r = c.wait();
  EXPECT_EQ(r.final_event.reason, FinishReason::cancelled);
  EXPECT_EQ(r.tokens.size(), 3u);  // seen before the next step
}

TEST_F(EngineTest, BadRequestFailsAloneWhileOthersComplete) {
  auto engine = make_engine(/*chunk=*/4);
  const Result solo = run(*engine, greedy(prompt_of(10, 6), 8));

  auto out_of_range = greedy(prompt_of(10, 6), 8);
  out_of_range.prompt[7] = 9999;
  auto bad_top_p = greedy(prompt_of(3, 6), 8);
  bad_top_p.sampling.temperature = 0.5f;
  bad_top_p.sampling.top_p = -0.5f;
  auto empty = greedy({}, 8);
  Collector good, bad1, bad2, bad3;
  engine->submit(greedy(prompt_of(10, 6), 8), good.callback());
  engine->submit(out_of_range, bad1.callback());
  engine->submit(bad_top_p, bad2.callback());
  engine->submit(empty, bad3.callback());

  const Result r1 = bad1.wait(), r2 = bad2.wait(), r3 = bad3.wait();
  EXPECT_EQ(r1.final_event.reason, FinishReason::error);
  EXPECT_NE(r1.final_event.error.find("9999"), std::string::npos) << r1.final_event.error;
  EXPECT_EQ(r2.final_event.reason, FinishReason::error);
  EXPECT_NE(r2.final_event.error.find("top_p"), std::string::npos) << r2.final_event.error;
  EXPECT_EQ(r3.final_event.reason, FinishReason::error);
  EXPECT_TRUE(same_output(good.wait(), solo));
  EXPECT_TRUE(same_output(run(*engine, greedy(prompt_of(10, 6), 8)), solo)) << "the engine goes on serving";
}

TEST_F(EngineTest, ThrowingCallbackEndsOnlyItsRequest) {
  auto engine = make_engine();
  const Result solo = run(*engine, greedy(prompt_of(6, 2), 6));
  auto calls = std::make_shared<std::atomic<int>>(0);
  engine->submit(greedy(prompt_of(6, 1), 1000000), [calls](const GenerationEvent&) {
    ++*calls;
    throw std::runtime_error("listener gone");
  });
  EXPECT_TRUE(same_output(run(*engine, greedy(prompt_of(6, 2), 6)), solo));
  EXPECT_EQ(calls->load(), 1) << "no events after the throw";
}

TEST_F(EngineTest, SeededSamplingIsReproducible) {
  auto engine = make_engine();
  auto request = greedy(prompt_of(6, 8), 16);
  request.sampling.temperature = 1.0f;
  request.sampling.top_k = 0;
  request.sampling.seed = 1234;
  const Result a = run(*engine, request);
  const Result b = run(*engine, request);
  EXPECT_EQ(a.tokens, b.tokens);
  request.sampling.seed = 4321;
  EXPECT_NE(run(*engine, request).tokens, a.tokens);
}

TEST_F(EngineTest, AwaitableStreamOnAnotherThreadGetsTheSameEvents) {
  auto engine = make_engine();
  const auto request = greedy(prompt_of(12, 9), 9);
  const Result expected = run(*engine, request);

  asio::io_context io;
  Result got;
  bool all_on_io_thread = true;
  std::thread::id io_thread;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto stream = engine->stream(request, co_await asio::this_coro::executor);
        while (auto event = co_await stream.next()) {
          all_on_io_thread = all_on_io_thread && std::this_thread::get_id() == io_thread;
          got.text += event->text;
          if (event->finished()) {
            got.final_event = *event;
          } else {
            got.tokens.push_back(event->token);
          }
        }
        EXPECT_FALSE(co_await stream.next()) << "nothing after the end";
      },
      asio::detached);
  std::thread runner([&] {
    io_thread = std::this_thread::get_id();
    io.run();
  });
  runner.join();
  EXPECT_TRUE(all_on_io_thread);
  EXPECT_TRUE(same_output(got, expected));
  EXPECT_EQ(got.final_event.stats.generated_tokens, 9);
}

TEST_F(EngineTest, AwaitableStreamsOnATwoThreadIoContextEachEqualTheirSoloRun) {
  auto engine = make_engine(/*chunk=*/8);
  std::vector<GenerationRequest> requests;
  std::vector<Result> solo;
  for (int i = 0; i < 3; ++i) {
    requests.push_back(greedy(prompt_of(6 + 9 * i, i), 7 + i));
    solo.push_back(run(*engine, requests.back()));
  }
  asio::io_context io(2);
  std::vector<Result> got(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto stream = engine->stream(requests[i], co_await asio::this_coro::executor);
          while (auto event = co_await stream.next()) {
            got[i].text += event->text;
            if (event->finished()) {
              got[i].final_event = *event;
            } else {
              got[i].tokens.push_back(event->token);
            }
          }
        },
        asio::detached);
  }
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  for (size_t i = 0; i < requests.size(); ++i) EXPECT_TRUE(same_output(got[i], solo[i])) << "request " << i;
}

TEST_F(EngineTest, DroppingAStreamCancelsItsRequest) {
  auto engine = make_engine();
  asio::io_context io;
  auto request = greedy(prompt_of(5, 1), 1000000);
  const CancellationToken token = request.cancellation;
  bool dropped = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto stream = engine->stream(request, co_await asio::this_coro::executor);
        auto first = co_await stream.next();
        EXPECT_TRUE(first && !first->finished());
        dropped = true;
      },  // the stream is dropped here
      asio::detached);
  while (!dropped) io.run_one();
  EXPECT_TRUE(token.cancelled());
  // A request submitted after the drop runs a few steps; the dropped one must have ended at
  // the first of them. A stream keeps its io_context busy until its request's final event has
  // been posted, so the io_context now runs out of work.
  run(*engine, greedy(prompt_of(5, 2), 5));
  io.poll();
  EXPECT_TRUE(io.stopped()) << "the dropped request is still running";
  engine->shutdown();  // before `io` goes away, should the request still be running
}

TEST_F(EngineTest, ShutdownFailsActiveRequestsAndRefusesNewOnes) {
  auto engine = make_engine();
  Collector c;
  std::promise<void> started;
  c.on_token = [&](const GenerationEvent&) {
    if (c.result.tokens.size() == 1) started.set_value();
  };
  engine->submit(greedy(prompt_of(5, 3), 100000), c.callback());
  started.get_future().wait();
  engine->shutdown();
  const Result r = c.wait();
  EXPECT_EQ(r.final_event.reason, FinishReason::error);
  EXPECT_NE(r.final_event.error.find("shut down"), std::string::npos);
  Collector never;
  EXPECT_THROW(engine->submit(greedy(prompt_of(5, 3), 2), never.callback()), EngineError);
  engine->shutdown();  // idempotent
}

// ---- embeddings ----

// Submits an embedding and waits for its result.
EmbeddingResult embed_and_wait(Engine& engine, std::vector<TokenId> tokens, EmbeddingOptions options) {
  auto done = std::make_shared<std::promise<EmbeddingResult>>();
  auto result = done->get_future();
  engine.submit_embedding(std::move(tokens), options, [done](EmbeddingResult r) { done->set_value(std::move(r)); });
  return result.get();
}

TEST_F(EngineTest, EmbeddingBetweenGenerationStepsEqualsTheBackendsAndChangesNoOutput) {
  auto engine = make_engine(/*chunk=*/8);
  const auto request = greedy(prompt_of(30, 4), 12);
  const Result solo = run(*engine, request);
  const auto text = prompt_of(17, 5);
  const EmbeddingOptions options{Pooling::Mean, true, false};
  std::vector<float> expected(static_cast<size_t>(model_->config().hidden_size));
  CpuBackend(*model_).embed(text.data(), static_cast<int>(text.size()), options, expected.data());

  // Submitted from the generation's first token event, on the engine thread: the embedding
  // runs between two steps of the generation.
  auto embedded = std::make_shared<std::promise<EmbeddingResult>>();
  Collector c;
  c.on_token = [&](const GenerationEvent&) {
    if (c.result.tokens.size() != 1) return;
    engine->submit_embedding(text, options, [embedded](EmbeddingResult r) { embedded->set_value(std::move(r)); });
  };
  engine->submit(request, c.callback());
  const EmbeddingResult got = embedded->get_future().get();
  EXPECT_TRUE(same_output(c.wait(), solo));
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.embedding, expected);
}

TEST_F(EngineTest, BadEmbeddingRequestsFailAloneWithTheirReason) {
  auto engine = make_engine();
  const EmbeddingOptions options;
  EXPECT_NE(embed_and_wait(*engine, {}, options).error.find("no tokens"), std::string::npos);
  const EmbeddingResult bad = embed_and_wait(*engine, {kBos, 300, 65}, options);
  EXPECT_TRUE(bad.embedding.empty());
  EXPECT_NE(bad.error.find("token 300 at index 1 is outside the vocabulary of 258"), std::string::npos) << bad.error;
  const std::string too_long = embed_and_wait(*engine, std::vector<TokenId>(4097, 65), options).error;
  EXPECT_NE(too_long.find("4097 tokens; the model's context holds 4096"), std::string::npos) << too_long;
  // A callback that throws ends nothing but its own request.
  engine->submit_embedding({kBos}, options, [](EmbeddingResult) { throw std::runtime_error("caller bug"); });
  const EmbeddingResult good = embed_and_wait(*engine, {kBos, 65}, options);
  EXPECT_EQ(good.error, "");
  EXPECT_EQ(good.embedding.size(), static_cast<size_t>(model_->config().hidden_size));
  engine->shutdown();
  EXPECT_THROW(engine->submit_embedding({kBos}, options, [](EmbeddingResult) {}), EngineError);
}

TEST_F(EngineTest, AwaitableEmbeddingCompletesOnTheCoroutinesThreadOrThrows) {
  auto engine = make_engine();
  const std::vector<TokenId> text = prompt_of(9, 2), bad_text = {kBos, -1};
  const EmbeddingOptions options{Pooling::Last, true, true};
  const EmbeddingResult expected = embed_and_wait(*engine, text, options);

  asio::io_context io;
  std::vector<float> got;
  std::string error, after_shutdown;
  bool on_io_thread = false;
  std::thread::id io_thread;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // io.run() returns only when this coroutine is done: a pending embed() counts as work.
        got = co_await engine->embed(text, options);
        on_io_thread = std::this_thread::get_id() == io_thread;
        try {
          co_await engine->embed(bad_text, options);
        } catch (const EngineError& e) {
          error = e.what();
        }
        engine->shutdown();
        try {
          co_await engine->embed(text, options);
        } catch (const EngineError& e) {
          after_shutdown = e.what();
        }
      },
      asio::detached);
  std::thread runner([&] {
    io_thread = std::this_thread::get_id();
    io.run();
  });
  runner.join();
  EXPECT_EQ(got, expected.embedding);
  EXPECT_TRUE(on_io_thread);
  EXPECT_NE(error.find("token -1 at index 1"), std::string::npos) << error;
  EXPECT_NE(after_shutdown.find("shut down"), std::string::npos) << after_shutdown;
}

// ---- the paged KV cache (EngineOptions::kv_cache_bytes) ----

class PagedEngineTest : public EngineTest {
 protected:
  size_t block_bytes() const {
    return KvCache(KvCacheConfig::for_model(model_->config(), 1 << 20)).pool().block_bytes();  // 16 tokens, F16
  }
  std::unique_ptr<Engine> make_paged_engine(uint64_t kv_cache_bytes, int32_t chunk = 256) {
    EngineOptions options{chunk};
    options.kv_cache_bytes = kv_cache_bytes;
    return std::make_unique<Engine>(*model_, std::make_unique<CpuBackend>(*model_), tokenizer_, options);
  }
};

TEST_F(PagedEngineTest, RepeatedPromptPrefillsOnlyTheTailAndGivesTheSameTokens) {
  const auto prompt = prompt_of(45, 4);
  auto contiguous = make_engine();
  const Result expected = run(*contiguous, greedy(prompt, 12));
  auto paged = make_paged_engine(64 * block_bytes());
  const Result first = run(*paged, greedy(prompt, 12));
  const Result second = run(*paged, greedy(prompt, 12));
  EXPECT_EQ(first.final_event.stats.cached_tokens, 0);
  EXPECT_EQ(second.final_event.stats.cached_tokens, 32);  // whole 16-token blocks, the last token left out
  EXPECT_EQ(second.final_event.stats.prompt_tokens, 45);
  EXPECT_TRUE(same_output(first, expected));
  EXPECT_TRUE(same_output(second, expected));
  EXPECT_EQ(expected.final_event.stats.cached_tokens, 0);
}

TEST_F(PagedEngineTest, PromptsSharingAPrefixThenDifferingAreBothCorrect) {
  // Thinking on / off: one system prompt, then different tails.
  const auto common = prompt_of(40, 5);
  auto with_tail = [&](int salt) {
    auto p = common;
    for (int i = 0; i < 9; ++i) p.push_back(static_cast<TokenId>((i * 13 + salt * 29) % 256));
    return p;
  };
  const auto on = with_tail(1), off = with_tail(2);
  auto contiguous = make_engine(8);
  const Result expected_on = run(*contiguous, greedy(on, 10)), expected_off = run(*contiguous, greedy(off, 10));
  auto paged = make_paged_engine(64 * block_bytes(), 8);
  const Result got_on = run(*paged, greedy(on, 10));
  // Both at once now: `off` shares the two blocks of the common prefix with the cached `on`.
  Collector c_on, c_off;
  paged->submit(greedy(off, 10), c_off.callback());
  paged->submit(greedy(on, 10), c_on.callback());
  const Result got_off = c_off.wait(), again_on = c_on.wait();
  EXPECT_TRUE(same_output(got_on, expected_on));
  EXPECT_TRUE(same_output(again_on, expected_on));
  EXPECT_TRUE(same_output(got_off, expected_off));
  EXPECT_EQ(got_off.final_event.stats.cached_tokens, 32);
  EXPECT_EQ(again_on.final_event.stats.cached_tokens, 48);
}

TEST_F(PagedEngineTest, PromptTooLongForTheBudgetFailsAloneWithBytes) {
  auto paged = make_paged_engine(8 * block_bytes());  // 128 tokens
  auto contiguous = make_engine();
  const Result expected_small = run(*contiguous, greedy(prompt_of(10, 6), 5));
  Collector small, big;
  paged->submit(greedy(prompt_of(300, 7), 5), big.callback());
  paged->submit(greedy(prompt_of(10, 6), 5), small.callback());
  const Result r_big = big.wait(), r_small = small.wait();
  EXPECT_EQ(r_big.final_event.reason, FinishReason::error);
  EXPECT_NE(r_big.final_event.error.find("KV cache full"), std::string::npos) << r_big.final_event.error;
  EXPECT_NE(r_big.final_event.error.find("bytes"), std::string::npos) << r_big.final_event.error;
  EXPECT_TRUE(r_big.tokens.empty());
  EXPECT_TRUE(same_output(r_small, expected_small));
  // The failed request gave its blocks back: the next request runs.
  EXPECT_TRUE(same_output(run(*paged, greedy(prompt_of(10, 6), 5)), expected_small));
}

TEST_F(PagedEngineTest, TightBudgetEvictsOldPrefixesAndKeepsServing) {
  auto contiguous = make_engine();
  auto paged = make_paged_engine(8 * block_bytes());  // 128 tokens; each request holds 3 blocks
  for (int salt = 0; salt < 6; ++salt) {
    const auto prompt = prompt_of(40, 20 + salt);
    const Result r = run(*paged, greedy(prompt, 6));
    EXPECT_TRUE(same_output(r, run(*contiguous, greedy(prompt, 6)))) << "salt " << salt;
    EXPECT_EQ(r.final_event.stats.cached_tokens, 0);
  }
  // The most recent prefix survived the evictions.
  EXPECT_EQ(run(*paged, greedy(prompt_of(40, 25), 6)).final_event.stats.cached_tokens, 32);
}

TEST_F(PagedEngineTest, SamePromptPrefilledTwiceAtOnceSharesTheFilledBlocks) {
  // Neither finds the prompt cached; as each block fills, the second switches to the first's copy.
  const auto prompt = prompt_of(50, 8);
  auto contiguous = make_engine(16);
  const Result expected = run(*contiguous, greedy(prompt, 8));
  auto paged = make_paged_engine(64 * block_bytes(), 16);
  Collector a, b;
  paged->submit(greedy(prompt, 8), a.callback());
  paged->submit(greedy(prompt, 8), b.callback());
  const Result ra = a.wait(), rb = b.wait();
  EXPECT_TRUE(same_output(ra, expected));
  EXPECT_TRUE(same_output(rb, expected));
  EXPECT_EQ(run(*paged, greedy(prompt, 8)).final_event.stats.cached_tokens, 48);
}

}  // namespace
}  // namespace ragent::engine
