// Chat formats: render a conversation (messages, tool specs, thinking mode) into the prompt text
// a model was trained on, byte for byte as its official chat template renders it.
//
// Formats (pick by name with chat_format_from_name, or detect_chat_format from a GGUF's
// tokenizer.chat_template and general.architecture):
//   "nemotron"      ragent's default for Llama-Nemotron: the v1 thinking switch ("detailed
//                   thinking on|off" as the first line of the system turn, no pre-fill) with the
//                   tool block, <TOOLCALL> history, merged <TOOL_RESPONSE> turns and </think>
//                   history rule of the official Super-49B-v1.5 template.
//   "nemotron-v1"   the official v1 template (Super-49B-v1, Nano-8B-v1, Ultra-253B-v1): no tool
//                   support (tools or tool calls are refused); the switch is put in the system
//                   message as ragent's convention, "detailed thinking on" + "\n\n" + system.
//   "nemotron-v1.5" the official Super-49B-v1.5 template; thinking on/off appends "/think" or
//                   "/no_think" to the system message, which the template strips again; off
//                   pre-fills the answer with "<think>\n\n</think>\n\n".
//   "llama3"        the official Llama 3.1 Instruct template (tools in the first user turn,
//                   one tool call per assistant turn, "Today Date" from the date option).
//   "chatml"        the official Qwen2.5 Instruct template (<tools> block, <tool_call> turns).
// The golden tests in tests/engine/data/chat_golden pin every format against the templates.
//
// Rendering never fails on content; it throws EngineError only for conversations a format
// cannot express (e.g. two tool calls in one Llama 3.1 turn), naming the message.
// Thread safety: free functions over values; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "engine/error.hpp"

namespace ragent::engine {

enum class ChatRole { system, user, assistant, tool };
std::string_view chat_role_name(ChatRole role);

struct ChatToolCall {
  std::string name;
  boost::json::object arguments;
};

struct ChatMessage {
  ChatRole role = ChatRole::user;
  std::string content;
  // Reasoning of an earlier assistant turn. No format renders it: history keeps only the
  // answer (Nemotron formats also left-strip the answer, as their templates do after </think>).
  std::optional<std::string> thinking;
  std::vector<ChatToolCall> tool_calls;      // assistant turns only
  std::optional<std::string> tool_call_id;   // tool results: kept for callers, not rendered
  std::optional<std::string> name;           // tool results: the tool's name, not rendered
};

struct ToolSpec {
  std::string name;
  std::string description;
  boost::json::value parameters;  // a JSON Schema; key order is kept when rendered
};

enum class ThinkingMode { unset, on, off };

struct ChatOptions {
  ThinkingMode thinking = ThinkingMode::unset;
  bool add_generation_prompt = true;
  std::vector<ToolSpec> tools;
  // Llama 3.1 "Today Date"; nullopt renders the template's own default, "26 Jul 2024".
  std::optional<std::string> date_string;
};

enum class ChatFormat { nemotron, nemotron_v1, nemotron_v1_5, llama3, chatml };

// Names as listed above. from_name throws EngineError listing the known names.
std::string_view chat_format_name(ChatFormat format);
ChatFormat chat_format_from_name(std::string_view name);

// Recognises a format from distinctive text of a chat template; without a template, or when
// none matches, falls back by GGUF architecture ("deci" -> nemotron, "llama" -> llama3,
// "qwen2"/"qwen" -> chatml). Throws EngineError when neither tells.
ChatFormat detect_chat_format(const std::optional<std::string>& jinja_template,
                              std::string_view architecture);

// A rendered prompt: template text (where special tokens such as <|eot_id|> may be recognised)
// kept apart from content (user, system, tool text, tool schemas and arguments), which must be
// tokenized as plain text. Adjacent parts of the same kind are merged.
struct PromptPart {
  std::string text;
  bool is_template = false;
};

struct Prompt {
  std::vector<PromptPart> parts;

  void add_template(std::string_view text);
  void add_content(std::string_view text);
  std::string text() const;  // all parts concatenated
};

Prompt render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                   const ChatOptions& options);

// JSON as the templates' `tojson` writes it (Python json.dumps with ensure_ascii=False): keys
// in insertion order, ", " and ": " separators, or with indent > 0 one item per line and ","
// separators. Integers print as integers, doubles as Python's repr does (1.0, 1e-05, 1e+16).
// Note @huggingface/jinja prints 1.0 as 1, so the goldens use no integral doubles.
std::string to_template_json(const boost::json::value& value, int indent = 0);

}  // namespace ragent::engine
