// Pins engine/chat_parser.cpp: the events of sample outputs, the same events at every split
// point, and error events (never exceptions, never lost calls) for malformed output.
#include "engine/chat_parser.hpp"

#include <gtest/gtest.h>

namespace ragent::engine {
namespace {

using Kind = ChatEvent::Kind;

// One line per event, so a mismatch prints readably.
std::string describe(const std::vector<ChatEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    switch (e.kind) {
      case Kind::thinking_delta: out += "thinking: " + e.text; break;
      case Kind::content_delta: out += "content: " + e.text; break;
      case Kind::tool_call: out += "call: " + e.call.name + " " + boost::json::serialize(e.call.arguments); break;
      case Kind::error: out += "error: " + e.text + " | raw: " + e.raw; break;
    }
    out += '\n';
  }
  return out;
}

std::string parse_pieces(ChatFormat format, const std::vector<std::string_view>& pieces,
                         ChatParserOptions options = {}) {
  ChatParser parser(format, options);
  std::vector<ChatEvent> events;
  for (auto piece : pieces) parser.feed(piece, events);
  parser.finish(events);
  return describe(events);
}

std::string parse_whole(ChatFormat format, std::string_view text, ChatParserOptions options = {}) {
  return parse_pieces(format, {text}, options);
}

// Every split into two pieces, and one byte at a time, must give the events of the whole.
void expect_split_invariant(ChatFormat format, std::string_view text, ChatParserOptions options = {}) {
  std::string whole = parse_whole(format, text, options);
  for (size_t i = 0; i <= text.size(); ++i)
    ASSERT_EQ(parse_pieces(format, {text.substr(0, i), text.substr(i)}, options), whole)
        << "split at " << i << " of: " << text;
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  ASSERT_EQ(parse_pieces(format, bytes, options), whole) << "byte by byte: " << text;
}

TEST(ChatParser, NemotronThinkingAnswerAndToolCall) {
  std::string_view out =
      "<think>\nThe user wants weather; call the tool.\n</think>\n\nLet me check."
      "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": [1, 2]}}, "
      "{\"name\": \"get_time\", \"arguments\": {}}]</TOOLCALL>";
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out),
            "thinking: \nThe user wants weather; call the tool.\n\n"
            "content: Let me check.\n"
            "call: get_weather {\"city\":\"Paris\",\"days\":[1,2]}\n"
            "call: get_time {}\n");
  expect_split_invariant(ChatFormat::nemotron, out);
}

TEST(ChatParser, ToolCallTagInsideThinkingIsThinking) {
  std::string_view out = "<think>maybe <TOOLCALL>[{\"name\": \"x\"}]</TOOLCALL>?</think>No call.";
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out),
            "thinking: maybe <TOOLCALL>[{\"name\": \"x\"}]</TOOLCALL>?\ncontent: No call.\n");
  expect_split_invariant(ChatFormat::nemotron, out);
}

TEST(ChatParser, ThinkingPrefilledByThePrompt) {
  std::string_view out = "reasoning here</think>\n\nThe answer.";
  ChatParserOptions prefilled{true};
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out, prefilled), "thinking: reasoning here\ncontent: The answer.\n");
  expect_split_invariant(ChatFormat::nemotron, out, prefilled);
  // Without the option the same text is all answer.
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out), "content: reasoning here</think>\n\nThe answer.\n");
}

TEST(ChatParser, OptionsFollowThePromptsPrefill) {
  Prompt open_think;
  open_think.add_template("<|start_header_id|>assistant<|end_header_id|>\n\n<think>\n");
  EXPECT_TRUE(parser_options_for(open_think).thinking_prefilled);
  // The v1.5 template's thinking-off pre-fill closes the block: the answer follows.
  std::vector<ChatMessage> ms{{ChatRole::user, "q", {}, {}, {}, {}}};
  ChatOptions off;
  off.thinking = ThinkingMode::off;
  EXPECT_FALSE(parser_options_for(render_chat(ChatFormat::nemotron_v1_5, ms, off)).thinking_prefilled);
  EXPECT_FALSE(parser_options_for(render_chat(ChatFormat::nemotron, ms, {})).thinking_prefilled);
}

TEST(ChatParser, ThinkTagLaterInTheAnswerIsContent) {
  std::string_view out = "Answer first <think>not thinking</think> end";
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out), "content: Answer first <think>not thinking</think> end\n");
  expect_split_invariant(ChatFormat::nemotron, out);
}

TEST(ChatParser, LooksLikeATagButIsNot) {
  std::string_view out = "a <TOOL b <TOOLCAL c <thin </think d <";
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, out), "content: a <TOOL b <TOOLCAL c <thin </think d <\n");
  expect_split_invariant(ChatFormat::nemotron, out);
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<thin"), "content: <thin\n");
}

TEST(ChatParser, TextAroundSeveralCallBlocks) {
  std::string_view out =
      "A<TOOLCALL>[{\"name\": \"f\", \"arguments\": {\"k\": \"</TOOLCAL\"}}]</TOOLCALL>B"
      "<TOOLCALL>[{\"name\": \"g\", \"arguments\": \"{\\\"n\\\": 1}\"}]</TOOLCALL>";
  EXPECT_EQ(parse_whole(ChatFormat::nemotron_v1_5, out),
            "content: A\ncall: f {\"k\":\"</TOOLCAL\"}\ncontent: B\ncall: g {\"n\":1}\n");
  expect_split_invariant(ChatFormat::nemotron_v1_5, out);
}

TEST(ChatParser, MalformedCallsGiveErrorEvents) {
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<TOOLCALL>[{\"name\": \"f\", \"arguments\": {]</TOOLCALL>after")
                .substr(0, 37),
            "error: malformed JSON in <TOOLCALL>: ");
  EXPECT_NE(parse_whole(ChatFormat::nemotron, "<TOOLCALL>[{\"name\": \"f\", \"arguments\": {]</TOOLCALL>after")
                .find("| raw: <TOOLCALL>[{\"name\": \"f\", \"arguments\": {]</TOOLCALL>\ncontent: after\n"),
            std::string::npos);
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "ok <TOOLCALL>[{\"name\": \"f\", \"argu"),
            "content: ok \nerror: unterminated <TOOLCALL>: the output ended before </TOOLCALL> | raw: "
            "<TOOLCALL>[{\"name\": \"f\", \"argu\n");
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<TOOLCALL>[{\"name\": \"f\", \"arguments\": [1]}]</TOOLCALL>"),
            "error: the \"arguments\" of tool call \"f\" is not a JSON object (call 0) | raw: "
            "<TOOLCALL>[{\"name\": \"f\", \"arguments\": [1]}]</TOOLCALL>\n");
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<TOOLCALL>[{\"arguments\": {}}, {\"name\": \"g\"}]</TOOLCALL>"),
            "error: a tool call has no \"name\" string (call 0) | raw: "
            "<TOOLCALL>[{\"arguments\": {}}, {\"name\": \"g\"}]</TOOLCALL>\ncall: g {}\n");
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<TOOLCALL>\"just a string\"</TOOLCALL>"),
            "error: <TOOLCALL> does not hold a JSON array of calls | raw: <TOOLCALL>\"just a string\"</TOOLCALL>\n");
  // One object instead of an array is read as one call.
  EXPECT_EQ(parse_whole(ChatFormat::nemotron, "<TOOLCALL>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</TOOLCALL>"),
            "call: f {\"a\":1}\n");
}

TEST(ChatParser, MalformedOutputIsSplitInvariantToo) {
  expect_split_invariant(ChatFormat::nemotron, "<think>t</think> x<TOOLCALL>[{\"name\": \"f\", \"arguments\": 3}]</TOOLCALL>");
  expect_split_invariant(ChatFormat::nemotron, "<think>t</think> x<TOOLCALL>[{\"name\": \"f\"");
  expect_split_invariant(ChatFormat::nemotron, "<think>never closed");
}

TEST(ChatParser, QwenToolCallBlocks) {
  std::string_view out =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  EXPECT_EQ(parse_whole(ChatFormat::chatml, out),
            "call: get_weather {\"city\":\"Zürich\"}\ncontent: \n\ncall: get_time {}\n");
  expect_split_invariant(ChatFormat::chatml, out);
  EXPECT_EQ(parse_whole(ChatFormat::chatml, "<tool_call>{\"name\": 5}</tool_call>"),
            "error: a tool call has no \"name\" string (call 0) | raw: <tool_call>{\"name\": 5}</tool_call>\n");
  // Nemotron's tag means nothing in ChatML.
  EXPECT_EQ(parse_whole(ChatFormat::chatml, "<TOOLCALL>[]</TOOLCALL>"), "content: <TOOLCALL>[]</TOOLCALL>\n");
}

TEST(ChatParser, Llama3JsonToolCall) {
  std::string_view out = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  EXPECT_EQ(parse_whole(ChatFormat::llama3, out), "call: get_weather {\"city\":\"Paris\"}\n");
  expect_split_invariant(ChatFormat::llama3, out);
  std::string_view tagged = "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}";
  EXPECT_EQ(parse_whole(ChatFormat::llama3, tagged), "call: f {}\n");
  expect_split_invariant(ChatFormat::llama3, tagged);
}

TEST(ChatParser, Llama3PlainAnswersStayContent) {
  std::string_view out = "  The answer is {x}. <think>not special here</think>";
  EXPECT_EQ(parse_whole(ChatFormat::llama3, out), "content:   The answer is {x}. <think>not special here</think>\n");
  expect_split_invariant(ChatFormat::llama3, out);
  EXPECT_EQ(parse_whole(ChatFormat::llama3, "{\"answer\": 42}"), "content: {\"answer\": 42}\n");
  EXPECT_EQ(parse_whole(ChatFormat::llama3, "<|python"), "content: <|python\n");
}

TEST(ChatParser, Llama3MalformedCallsGiveErrorEvents) {
  EXPECT_EQ(parse_whole(ChatFormat::llama3, "{\"name\": \"f\", \"parameters\": {").substr(0, 33),
            "error: malformed JSON tool call: ");
  EXPECT_EQ(parse_whole(ChatFormat::llama3, "{\"name\": \"f\", \"parameters\": \"x\"}"),
            "error: the \"parameters\" of tool call \"f\" is not a JSON object | raw: "
            "{\"name\": \"f\", \"parameters\": \"x\"}\n");
  EXPECT_EQ(parse_whole(ChatFormat::llama3, "<|python_tag|>[1]"),
            "error: a tool call is not a JSON object | raw: <|python_tag|>[1]\n");
}

TEST(ChatParser, InvalidUtf8AndControlBytesNeverCrash) {
  std::string junk = "<TOOLCALL>[{\"name\": \"\xff\xfe\", \"arguments\": {}}]</TOOLCALL>\x01\x00";
  junk.push_back('\0');
  std::string events = parse_whole(ChatFormat::nemotron, junk);
  EXPECT_EQ(events.rfind("error: malformed JSON in <TOOLCALL>", 0), 0u) << events;
}

TEST(ChatParser, FeedAfterFinishIsAProgrammingError) {
  ChatParser parser(ChatFormat::nemotron);
  std::vector<ChatEvent> events;
  parser.finish(events);
  EXPECT_THROW(parser.feed("x", events), EngineError);
}

}  // namespace
}  // namespace ragent::engine

namespace ragent::engine {
namespace {

// What a format renders for an assistant tool call in the history is what its parser must read
// back from the model: render one, cut out the assistant turn, parse it.
TEST(ChatParser, ReadsBackTheToolCallsItsFormatRenders) {
  boost::json::object args{{"city", "Zürich"}, {"days", boost::json::array{1, 2}}, {"opts", boost::json::object{{"x", nullptr}}}};
  ChatMessage call_turn{ChatRole::assistant, "", {}, {{"get_weather", args}}, {}, {}};
  std::vector<ChatMessage> ms{{ChatRole::user, "q", {}, {}, {}, {}}, call_turn};
  ChatOptions o;
  o.add_generation_prompt = false;
  struct Case {
    ChatFormat format;
    std::string_view turn_start, turn_end;
  };
  for (const Case& c : {Case{ChatFormat::nemotron, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
                        Case{ChatFormat::nemotron_v1_5, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
                        Case{ChatFormat::llama3, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
                        Case{ChatFormat::chatml, "<|im_start|>assistant", "<|im_end|>"}}) {
    std::string text = render_chat(c.format, ms, o).text();
    size_t from = text.rfind(c.turn_start);
    ASSERT_NE(from, std::string::npos) << chat_format_name(c.format);
    from += c.turn_start.size();
    std::string turn = text.substr(from, text.find(c.turn_end, from) - from);
    ChatParser parser(c.format);
    std::vector<ChatEvent> events;
    parser.feed(turn, events);
    parser.finish(events);
    std::vector<ChatEvent> calls;
    for (auto& e : events) {
      if (e.kind == Kind::tool_call || e.kind == Kind::error) calls.push_back(e);
    }
    ASSERT_EQ(calls.size(), 1u) << chat_format_name(c.format) << ": " << describe(events);
    EXPECT_EQ(calls[0].kind, Kind::tool_call) << describe(events);
    EXPECT_EQ(calls[0].call.name, "get_weather");
    EXPECT_EQ(calls[0].call.arguments, args);
  }
}

}  // namespace
}  // namespace ragent::engine
