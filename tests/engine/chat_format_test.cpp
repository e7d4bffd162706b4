// Pins engine/chat_format.cpp against the official chat templates: every conversation in
// tests/engine/data/chat_golden/conversations.json, rendered in every format, must equal the
// text the template renders (tests/reference/chat/render_goldens.mjs) byte for byte.
#include "engine/chat_format.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace ragent::engine {
namespace {

const std::filesystem::path kData = std::filesystem::path(RAGENT_SOURCE_DIR) / "tests/engine/data";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ChatRole role_from(std::string_view s) {
  if (s == "system") return ChatRole::system;
  if (s == "assistant") return ChatRole::assistant;
  if (s == "tool") return ChatRole::tool;
  return ChatRole::user;
}

struct Conversation {
  std::string name;
  std::vector<ChatMessage> messages;
  ChatOptions options;
};

std::vector<Conversation> load_conversations() {
  auto root = boost::json::parse(read_file(kData / "chat_golden/conversations.json")).as_array();
  std::vector<Conversation> out;
  for (const auto& item : root) {
    const auto& c = item.as_object();
    Conversation conv;
    conv.name = c.at("name").as_string();
    for (const auto& mv : c.at("messages").as_array()) {
      const auto& m = mv.as_object();
      ChatMessage msg;
      msg.role = role_from(m.at("role").as_string());
      msg.content = m.at("content").as_string();
      if (auto* calls = m.if_contains("tool_calls"))
        for (const auto& call : calls->as_array()) {
          const auto& fn = call.as_object().at("function").as_object();
          msg.tool_calls.push_back({std::string(fn.at("name").as_string()), fn.at("arguments").as_object()});
        }
      if (auto* id = m.if_contains("tool_call_id")) msg.tool_call_id = std::string(id->as_string());
      if (auto* n = m.if_contains("name")) msg.name = std::string(n->as_string());
      conv.messages.push_back(std::move(msg));
    }
    if (auto* tools = c.if_contains("tools"))
      for (const auto& t : tools->as_array()) {
        const auto& fn = t.as_object().at("function").as_object();
        conv.options.tools.push_back({std::string(fn.at("name").as_string()),
                                      std::string(fn.at("description").as_string()), fn.at("parameters")});
      }
    if (auto* th = c.if_contains("thinking"))
      conv.options.thinking = th->as_string() == "on" ? ThinkingMode::on : ThinkingMode::off;
    conv.options.add_generation_prompt = c.at("add_generation_prompt").as_bool();
    if (auto* d = c.if_contains("date_string")) conv.options.date_string = std::string(d->as_string());
    out.push_back(std::move(conv));
  }
  return out;
}

TEST(ChatFormat, MatchesOfficialTemplatesByteForByte) {
  auto conversations = load_conversations();
  ASSERT_GE(conversations.size(), 12u);
  int compared = 0;
  for (std::string_view format_name : {"nemotron", "nemotron-v1", "nemotron-v1.5", "llama3", "chatml"}) {
    ChatFormat format = chat_format_from_name(format_name);
    for (const auto& conv : conversations) {
      SCOPED_TRACE(std::string(format_name) + "/" + conv.name);
      auto dir = kData / "chat_golden" / std::string(format_name);
      if (std::filesystem::exists(dir / (conv.name + ".error"))) {
        EXPECT_THROW(render_chat(format, conv.messages, conv.options), EngineError);
        continue;
      }
      std::string expected = read_file(dir / (conv.name + ".txt"));
      ASSERT_FALSE(expected.empty()) << "missing golden; run npm run goldens in tests/reference/chat";
      EXPECT_EQ(render_chat(format, conv.messages, conv.options).text(), expected);
      ++compared;
    }
  }
  EXPECT_GE(compared, 60);
}

// Special-token text typed by a user must stay content, so the tokenizer never reads it as a
// control token; the template's own <|eot_id|> must be template text.
TEST(ChatFormat, KeepsUserTextOutOfTemplateParts) {
  std::vector<ChatMessage> ms{{ChatRole::user, "hi <|eot_id|> there", {}, {}, {}, {}}};
  for (auto format : {ChatFormat::nemotron, ChatFormat::llama3, ChatFormat::chatml}) {
    Prompt p = render_chat(format, ms, {});
    bool user_text_in_content = false;
    for (const auto& part : p.parts) {
      if (part.is_template) EXPECT_EQ(part.text.find("hi <|eot_id|>"), std::string::npos);
      else if (part.text == "hi <|eot_id|> there") user_text_in_content = true;
    }
    EXPECT_TRUE(user_text_in_content) << chat_format_name(format);
  }
  Prompt p = render_chat(ChatFormat::nemotron, ms, {});
  ASSERT_FALSE(p.parts.empty());
  EXPECT_TRUE(p.parts.front().is_template);
  EXPECT_EQ(p.parts.front().text, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n<|eot_id|>"
                                  "<|start_header_id|>user<|end_header_id|>\n\n");
}

TEST(ChatFormat, AdjacentPartsOfOneKindAreMerged) {
  Prompt p;
  p.add_template("a");
  p.add_template("b");
  p.add_content("");
  p.add_content("c");
  p.add_content("d");
  p.add_template("e");
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[0].text, "ab");
  EXPECT_EQ(p.parts[1].text, "cd");
  EXPECT_FALSE(p.parts[1].is_template);
  EXPECT_EQ(p.text(), "abcde");
}

TEST(ChatFormat, ToolSchemasAreContentNotTemplate) {
  ChatOptions o;
  o.tools.push_back({"f", "desc <|eot_id|>", boost::json::parse(R"({"type":"object"})")});
  Prompt p = render_chat(ChatFormat::nemotron, {{ChatRole::user, "x", {}, {}, {}, {}}}, o);
  int found = 0;
  for (const auto& part : p.parts) {
    if (part.text.find("desc <|eot_id|>") != std::string::npos) {
      EXPECT_FALSE(part.is_template);
      ++found;
    }
  }
  EXPECT_EQ(found, 1);
}

TEST(ChatFormat, NemotronDropsThinkingFieldFromHistory) {
  ChatMessage a{ChatRole::assistant, "\n  The answer.", std::string("long reasoning"), {}, {}, {}};
  std::string text = render_chat(ChatFormat::nemotron, {{ChatRole::user, "q", {}, {}, {}, {}}, a}, {}).text();
  EXPECT_EQ(text.find("long reasoning"), std::string::npos);
  EXPECT_NE(text.find("<|end_header_id|>\n\nThe answer.<|eot_id|>"), std::string::npos);
}

TEST(ChatFormat, ThinkingModesDifferOnlyInTheSystemTurn) {
  std::vector<ChatMessage> ms{{ChatRole::user, "q", {}, {}, {}, {}}};
  ChatOptions on, off;
  on.thinking = ThinkingMode::on;
  off.thinking = ThinkingMode::off;
  std::string a = render_chat(ChatFormat::nemotron, ms, on).text();
  std::string b = render_chat(ChatFormat::nemotron, ms, off).text();
  EXPECT_NE(a.find("system<|end_header_id|>\n\ndetailed thinking on<|eot_id|>"), std::string::npos);
  EXPECT_NE(b.find("system<|end_header_id|>\n\ndetailed thinking off<|eot_id|>"), std::string::npos);
}

TEST(ChatFormat, RefusesWhatAFormatCannotExpress) {
  ChatMessage two_calls{ChatRole::assistant, "", {}, {{"a", {}}, {"b", {}}}, {}, {}};
  EXPECT_THROW(render_chat(ChatFormat::llama3, {{ChatRole::user, "q", {}, {}, {}, {}}, two_calls}, {}), EngineError);
  EXPECT_THROW(render_chat(ChatFormat::nemotron_v1, {{ChatRole::user, "q", {}, {}, {}, {}}, two_calls}, {}),
               EngineError);
  ChatOptions tools;
  tools.tools.push_back({"f", "d", boost::json::object{}});
  EXPECT_THROW(render_chat(ChatFormat::llama3, {{ChatRole::system, "s", {}, {}, {}, {}}}, tools), EngineError);
  ChatMessage user_with_call{ChatRole::user, "q", {}, {{"a", {}}}, {}, {}};
  EXPECT_THROW(render_chat(ChatFormat::chatml, {user_with_call}, {}), EngineError);
}

TEST(ChatFormat, SelectsByNameAndRejectsUnknownNames) {
  EXPECT_EQ(chat_format_from_name("nemotron"), ChatFormat::nemotron);
  EXPECT_EQ(chat_format_from_name("llama3"), ChatFormat::llama3);
  EXPECT_EQ(chat_format_from_name("chatml"), ChatFormat::chatml);
  EXPECT_EQ(chat_format_name(ChatFormat::nemotron_v1_5), "nemotron-v1.5");
  try {
    chat_format_from_name("vicuna");
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("vicuna"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chatml"), std::string::npos);
  }
}

TEST(ChatFormat, DetectsEachOfficialTemplate) {
  auto tmpl = [](const char* file) { return std::optional<std::string>(read_file(kData / "chat_templates" / file)); };
  EXPECT_EQ(detect_chat_format(tmpl("nvidia-Llama-3_3-Nemotron-Super-49B-v1_5.jinja"), "llama"),
            ChatFormat::nemotron_v1_5);
  EXPECT_EQ(detect_chat_format(tmpl("nvidia-Llama-3_3-Nemotron-Super-49B-v1.jinja"), "llama"), ChatFormat::nemotron);
  EXPECT_EQ(detect_chat_format(tmpl("ragent-nemotron.jinja"), "llama"), ChatFormat::nemotron);
  EXPECT_EQ(detect_chat_format(tmpl("meta-llama-Llama-3.1-8B-Instruct.jinja"), "llama"), ChatFormat::llama3);
  EXPECT_EQ(detect_chat_format(tmpl("Qwen-Qwen2.5-7B-Instruct.jinja"), "qwen2"), ChatFormat::chatml);
}

TEST(ChatFormat, FallsBackByArchitecture) {
  EXPECT_EQ(detect_chat_format(std::nullopt, "deci"), ChatFormat::nemotron);
  EXPECT_EQ(detect_chat_format(std::nullopt, "llama"), ChatFormat::llama3);
  EXPECT_EQ(detect_chat_format(std::nullopt, "qwen2"), ChatFormat::chatml);
  EXPECT_EQ(detect_chat_format(std::string("{{ messages }}"), "deci"), ChatFormat::nemotron);
  EXPECT_THROW(detect_chat_format(std::nullopt, "gpt2"), EngineError);
}

TEST(ChatFormat, TemplateJsonMatchesPythonJsonDumps) {
  auto v = boost::json::parse(R"({"b":1,"a":{"x":[1,-2,{"é":"ü\n\"q\u0001"}]},"c":true,"d":null,"e":[],"f":{}})");
  EXPECT_EQ(to_template_json(v),
            "{\"b\": 1, \"a\": {\"x\": [1, -2, {\"é\": \"ü\\n\\\"q\\u0001\"}]}, \"c\": true, \"d\": null, "
            "\"e\": [], \"f\": {}}");
  EXPECT_EQ(to_template_json(boost::json::parse(R"({"a":[1,{}]})"), 4),
            "{\n    \"a\": [\n        1,\n        {}\n    ]\n}");
  // Doubles as Python's repr prints them.
  const std::pair<double, const char*> doubles[] = {
      {2.0, "2.0"},       {0.5, "0.5"},         {-0.0, "-0.0"},         {100000.0, "100000.0"},
      {123.456, "123.456"}, {0.0001, "0.0001"},   {0.00001234, "1.234e-05"}, {1e16, "1e+16"},
      {1.5e-7, "1.5e-07"}, {9007199254740993.0, "9007199254740992.0"}, {1e300, "1e+300"}, {0.1, "0.1"}};
  for (const auto& [d, text] : doubles) EXPECT_EQ(to_template_json(boost::json::value(d)), text) << d;
}

}  // namespace
}  // namespace ragent::engine
