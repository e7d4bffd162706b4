// The engine through the C++ API: two prompts generated at once (continuous batching), each
// streamed by a coroutine on one io_context thread with co_await, never blocking that thread.
//
//   build/examples/stream_tokens MODEL      (a GGUF file or a Hugging Face directory)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <iostream>
#include <string>

#include "engine/chat_format.hpp"
#include "engine/chat_tokenize.hpp"
#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/tokenizer_load.hpp"

namespace asio = boost::asio;
using namespace ragent::engine;

// Streams one answer; prints it when done (the two answers interleave token by token).
asio::awaitable<void> answer(Engine& engine, ChatFormat format, std::string question) {
  ChatMessage user;
  user.content = question;
  GenerationRequest request;
  request.prompt = tokenize_prompt(render_chat(format, {user}, {}), engine.tokenizer());
  request.max_tokens = 32;
  request.sampling.seed = 7;

  auto stream = engine.stream(std::move(request), co_await asio::this_coro::executor);
  std::string text;
  while (auto event = co_await stream.next()) {
    text += event->text;
    if (event->finished()) {
      std::cout << "Q: " << question << "\nA: " << text << "\n   (" << finish_reason_name(event->reason) << ", "
                << event->stats.generated_tokens << " tokens" << (event->error.empty() ? "" : ", " + event->error)
                << ")\n";
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: stream_tokens MODEL\n";
    return 2;
  }
  try {
    const Model model = Model::load(argv[1]);
    Engine engine(model, std::make_unique<CpuBackend>(model), load_tokenizer(argv[1]));
    const ChatFormat format = detect_chat_format(std::nullopt, model_arch_name(model.config().arch));

    asio::io_context io;
    asio::co_spawn(io, answer(engine, format, "What is a B-tree?"), asio::detached);
    asio::co_spawn(io, answer(engine, format, "Name three rivers."), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
