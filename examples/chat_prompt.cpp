// The foundation through the C++ API: load a tokenizer, render a Llama-Nemotron conversation
// with a tool and thinking on, tokenize it, and parse a model answer streamed token by token.
//
//   build/examples/chat_prompt MODEL      (a GGUF file, an HF directory, or a tokenizer.json)
#include <boost/json.hpp>

#include <iostream>
#include <vector>

#include "engine/chat_format.hpp"
#include "engine/chat_parser.hpp"
#include "engine/chat_tokenize.hpp"
#include "engine/tokenizer_load.hpp"

using namespace ragent::engine;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: chat_prompt MODEL\n";
    return 2;
  }
  try {
    const Tokenizer tokenizer = load_tokenizer(argv[1]);

    ChatOptions options;
    options.thinking = ThinkingMode::on;
    options.tools.push_back(ToolSpec{
        "calculator", "Evaluate an arithmetic expression.",
        boost::json::parse(R"({"type": "object", "properties": {"expression": {"type": "string"}},
                               "required": ["expression"]})")});
    const std::vector<ChatMessage> messages = {
        {ChatRole::system, "You are a careful assistant.", {}, {}, {}, {}},
        {ChatRole::user, "What is 17 * 23?", {}, {}, {}, {}},
    };
    const Prompt prompt = render_chat(ChatFormat::nemotron, messages, options);
    const std::vector<TokenId> ids = tokenize_prompt(prompt, tokenizer);
    std::cout << "---- prompt (" << ids.size() << " tokens) ----\n" << prompt.text() << "\n";

    // A reply as a model would write it, decoded token by token as a generation loop would.
    const std::string reply =
        "<think>\nMultiplication; the calculator is exact.\n</think>\n\n"
        "<TOOLCALL>[{\"name\": \"calculator\", \"arguments\": {\"expression\": \"17 * 23\"}}]</TOOLCALL>";
    ChatParser parser(ChatFormat::nemotron, parser_options_for(prompt));
    StreamDecoder decoder(tokenizer);
    std::vector<ChatEvent> events;
    for (TokenId id : tokenizer.encode(reply)) parser.feed(decoder.push(id), events);
    parser.feed(decoder.flush(), events);
    parser.finish(events);

    std::cout << "---- parsed reply ----\n";
    for (const ChatEvent& e : events) {
      switch (e.kind) {
        case ChatEvent::Kind::thinking_delta: std::cout << "thinking:  " << e.text << "\n"; break;
        case ChatEvent::Kind::content_delta: std::cout << "content:   " << e.text << "\n"; break;
        case ChatEvent::Kind::tool_call:
          std::cout << "tool call: " << e.call.name << " " << boost::json::serialize(e.call.arguments) << "\n";
          break;
        case ChatEvent::Kind::error: std::cout << "error:     " << e.text << " in " << e.raw << "\n"; break;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "chat_prompt: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
