// Streaming parser for generated text: splits a model's output, fed piece by piece as tokens
// are decoded, into thinking, answer text and tool calls, for one chat format.
//
//   Nemotron formats  [<think>...</think>] text <TOOLCALL>[{"name": ..., "arguments": {...}}, ...]</TOOLCALL> text
//   chatml (Qwen)     [<think>...</think>] text <tool_call>{"name": ..., "arguments": {...}}</tool_call> ...
//   llama3            text, or the whole output is one call: [<|python_tag|>]{"name": ..., "parameters": {...}}
//
// Thinking starts only with <think> at the start of the output (after whitespace), or at once
// when the prompt pre-filled "<think>" (ChatParserOptions::thinking_prefilled). Everything up to
// </think> is thinking, tool-call tags included; whitespace right after </think> is dropped.
// A tag may be split across pieces at any byte: text that could still become a tag is held back
// until the next piece or finish(). The events, with adjacent deltas of one kind joined, are
// therefore the same however the output is split.
//
// Malformed output never throws and never loses a call: bad JSON in a call block, an element
// without a name, arguments that are not an object, or a call block still open at finish()
// each give an error event carrying the raw text. Missing arguments count as {}; a block that
// holds one object instead of an array is read as one call.
//
// Thread safety: one parser per generation, used by one thread at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/chat_format.hpp"

namespace ragent::engine {

struct ChatEvent {
  enum class Kind { thinking_delta, content_delta, tool_call, error };
  Kind kind = Kind::content_delta;
  std::string text;   // the delta; for an error, what is wrong
  ChatToolCall call;  // tool_call only
  std::string raw;    // error only: the model output the error is about
};

struct ChatParserOptions {
  bool thinking_prefilled = false;  // the prompt ends inside an open <think>
};

// Options for parsing the answer to `prompt`: thinking_prefilled when the prompt ends with an
// open "<think>" (then whitespace). A closed pre-fill such as "<think>\n\n</think>\n\n" is not.
ChatParserOptions parser_options_for(const Prompt& prompt);

class ChatParser {
 public:
  explicit ChatParser(ChatFormat format, ChatParserOptions options = {});

  // Appends the events that `piece` completes to `events`; a delta is appended to the last
  // event when that is a delta of the same kind. Throws EngineError after finish().
  void feed(std::string_view piece, std::vector<ChatEvent>& events);
  // End of output: flushes held-back text and reports an unterminated call block.
  void finish(std::vector<ChatEvent>& events);

 private:
  enum class State { start, thinking, content, in_call, llama_json, finished };
  enum class CallBody { json_array, json_object };

  void process(std::vector<ChatEvent>& events);
  bool step_start();
  bool step_thinking(std::vector<ChatEvent>& events);
  bool step_content(std::vector<ChatEvent>& events);
  bool step_in_call(std::vector<ChatEvent>& events);
  void parse_call_block(std::string_view body, std::vector<ChatEvent>& events) const;
  void parse_llama_json(std::vector<ChatEvent>& events) const;

  bool think_tags_ = true;
  bool llama_json_ = false;
  std::string_view call_open_;
  std::string_view call_close_;
  CallBody call_body_ = CallBody::json_array;

  State state_ = State::start;
  std::string buf_;       // text not yet emitted
  std::string call_buf_;  // body of the open call block
  size_t call_search_from_ = 0;
  bool skip_whitespace_ = false;  // right after </think>
  bool content_started_ = false;  // llama3: a non-space content byte was seen
};

}  // namespace ragent::engine
