#include "engine/chat_format.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace ragent::engine {
namespace {

// ---------------------------------------------------------------- JSON as `tojson` writes it

void write_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Python's float repr: the shortest digits that round-trip, fixed notation for decimal
// exponents -4..15 (always with a fractional part), otherwise d.ddde+XX.
void write_json_double(std::string& out, double d) {
  if (std::isnan(d)) { out += "NaN"; return; }
  if (std::isinf(d)) { out += d > 0 ? "Infinity" : "-Infinity"; return; }
  std::array<char, 40> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::scientific);
  std::string_view sci(buf.data(), static_cast<size_t>(res.ptr - buf.data()));
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  size_t e = sci.find('e');
  std::string digits(sci.substr(0, e));
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  int exp = 0;
  std::string_view exp_text = sci.substr(e + 1);
  if (exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
      return;
    }
    auto int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out += digits;
      out.append(int_len - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, int_len);
      out += '.';
      out += digits.substr(int_len);
    }
    return;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  out += exp < 0 ? "e-" : "e+";
  int mag = exp < 0 ? -exp : exp;
  if (mag < 10) out += '0';
  out += std::to_string(mag);
}

void write_json(std::string& out, const boost::json::value& v, int indent, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: write_json_double(out, v.get_double()); break;
    case boost::json::kind::string: write_json_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) { out += "[]"; break; }
      out += '[';
      bool first = true;
      for (const auto& item : a) {
        if (!first) out += indent > 0 ? "," : ", ";
        first = false;
        if (indent > 0) newline(depth + 1);
        write_json(out, item, indent, depth + 1);
      }
      if (indent > 0) newline(depth);
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) { out += "{}"; break; }
      out += '{';
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out += indent > 0 ? "," : ", ";
        first = false;
        if (indent > 0) newline(depth + 1);
        write_json_string(out, kv.key());
        out += ": ";
        write_json(out, kv.value(), indent, depth + 1);
      }
      if (indent > 0) newline(depth);
      out += '}';
      break;
    }
  }
}

// ---------------------------------------------------------------- string helpers (Python's)

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
std::string_view lstrip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view strip(std::string_view s) {
  s = lstrip(s);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}
std::string replace_all(std::string_view s, std::string_view from) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size())
    out.append(s.substr(pos, hit - pos));
  out.append(s.substr(pos));
  return out;
}

// The Nemotron templates keep only the answer of an earlier assistant turn:
// content.split('</think>')[-1].lstrip() when it contains </think>.
std::string_view nemotron_history_answer(const ChatMessage& m) {
  std::string_view c = m.content;
  constexpr std::string_view close = "</think>";
  if (auto at = c.rfind(close); at != std::string_view::npos) return lstrip(c.substr(at + close.size()));
  return m.thinking ? lstrip(c) : c;
}

// {"type": "function", "function": {"name", "description", "parameters"}}, as OpenAI-style
// tool lists are passed to HF templates.
boost::json::object tool_function_json(const ToolSpec& t) {
  boost::json::object fn;
  fn["name"] = t.name;
  fn["description"] = t.description;
  fn["parameters"] = t.parameters;
  return fn;
}
boost::json::object tool_json(const ToolSpec& t) {
  boost::json::object o;
  o["type"] = "function";
  o["function"] = tool_function_json(t);
  return o;
}

std::string where(size_t index, const ChatMessage& m) {
  return "message " + std::to_string(index) + " (" + std::string(chat_role_name(m.role)) + ")";
}

void refuse_tool_calls_in_system_or_user(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].tool_calls.empty() && messages[i].role != ChatRole::assistant)
      throw EngineError("chat: " + where(i, messages[i]) + " has tool calls; only assistant turns may");
}

// ---------------------------------------------------------------- Nemotron family

constexpr std::string_view kLlamaBos = "<|begin_of_text|>";
constexpr std::string_view kEot = "<|eot_id|>";

void llama_header(Prompt& p, std::string_view role) {
  p.add_template("<|start_header_id|>");
  p.add_template(role);
  p.add_template("<|end_header_id|>\n\n");
}

constexpr std::string_view kNemotronToolsIntro =
    "You can use the following tools to assist the user if required:\n<AVAILABLE_TOOLS>[";
// Verbatim from the Super-49B-v1.5 template; its doubled braces are in the rendered text.
constexpr std::string_view kNemotronToolsOutro =
    "]</AVAILABLE_TOOLS>\n\nIf you decide to call any tool(s), use the following format:\n"
    "<TOOLCALL>[{{\"name\": \"tool_name1\", \"arguments\": \"tool_args1\"}}, "
    "{{\"name\": \"tool_name2\", \"arguments\": \"tool_args2\"}}]</TOOLCALL>\n\n"
    "Response from tool(s) will be returned in this format:\n"
    "<TOOL_RESPONSE>[{{\"response\": \"tool_response1\"}}, "
    "{{\"response\": \"tool_response2\"}}]</TOOL_RESPONSE>\n\n"
    "Based on the results returned by the tool(s), you can call additional tools if needed, "
    "correct tool calls if any errors are found, or just respond with the answer to the user.";

void nemotron_tools_block(Prompt& p, const std::vector<ToolSpec>& tools) {
  p.add_template(kNemotronToolsIntro);
  for (size_t i = 0; i < tools.size(); ++i) {
    if (i) p.add_template(", ");
    p.add_content(to_template_json(tool_function_json(tools[i])));
  }
  p.add_template(kNemotronToolsOutro);
}

// The conversation loop shared by "nemotron" and "nemotron-v1.5" (system turns are skipped).
void nemotron_v15_turns(Prompt& p, const std::vector<ChatMessage>& ms) {
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    bool prev_tool = i > 0 && ms[i - 1].role == ChatRole::tool;
    bool next_tool = i + 1 < ms.size() && ms[i + 1].role == ChatRole::tool;
    switch (m.role) {
      case ChatRole::system: break;
      case ChatRole::user:
        llama_header(p, "user");
        p.add_content(m.content);
        p.add_template(kEot);
        break;
      case ChatRole::assistant:
        llama_header(p, "assistant");
        p.add_content(nemotron_history_answer(m));
        if (!m.tool_calls.empty()) {
          p.add_template("<TOOLCALL>[");
          for (size_t c = 0; c < m.tool_calls.size(); ++c) {
            if (c) p.add_template(", ");
            p.add_template("{\"name\": \"");
            p.add_content(m.tool_calls[c].name);
            p.add_template("\", \"arguments\": ");
            p.add_content(to_template_json(m.tool_calls[c].arguments));
            p.add_template("}");
          }
          p.add_template("]</TOOLCALL>");
        }
        p.add_template(kEot);
        break;
      case ChatRole::tool:
        if (!prev_tool) {
          llama_header(p, "tool");
          p.add_template("<TOOL_RESPONSE>[");
        }
        p.add_content(m.content);
        if (next_tool) p.add_template(", ");
        else p.add_template("]</TOOL_RESPONSE><|eot_id|>");
        break;
    }
  }
}

Prompt render_nemotron(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  Prompt p;
  p.add_template(kLlamaBos);
  llama_header(p, "system");
  bool first = true;
  auto separate = [&] {
    if (!first) p.add_template("\n\n");
    first = false;
  };
  if (o.thinking != ThinkingMode::unset) {
    separate();
    p.add_template(o.thinking == ThinkingMode::on ? "detailed thinking on" : "detailed thinking off");
  }
  if (!ms.empty() && ms[0].role == ChatRole::system && !ms[0].content.empty()) {
    separate();
    p.add_content(ms[0].content);
  }
  if (!o.tools.empty()) {
    separate();
    nemotron_tools_block(p, o.tools);
  }
  p.add_template(kEot);
  nemotron_v15_turns(p, ms);
  if (o.add_generation_prompt) llama_header(p, "assistant");
  return p;
}

Prompt render_nemotron_v15(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  Prompt p;
  p.add_template(kLlamaBos);
  llama_header(p, "system");
  // Thinking on/off is passed as "/think" or "/no_think" on a line of its own at the end of the
  // system message (one is added when there is none); the template strips the flag again.
  bool has_system = !ms.empty() && ms[0].role == ChatRole::system;
  std::string system = has_system ? ms[0].content : std::string();
  if (o.thinking != ThinkingMode::unset) {
    std::string_view flag = o.thinking == ThinkingMode::on ? "/think" : "/no_think";
    system = system.empty() ? std::string(flag) : system + "\n" + std::string(flag);
    has_system = true;
  }
  bool enable_thinking = true;
  if (has_system && !system.empty()) {
    std::string shown = system;
    if (contains(system, "/no_think")) {
      shown = std::string(strip(replace_all(system, "/no_think")));
      enable_thinking = false;
    } else if (contains(system, "/think")) {
      shown = std::string(strip(replace_all(system, "/think")));
    }
    p.add_content(shown);
    p.add_template("\n\n");
  }
  if (!o.tools.empty()) nemotron_tools_block(p, o.tools);
  p.add_template(kEot);
  nemotron_v15_turns(p, ms);
  if (o.add_generation_prompt) {
    llama_header(p, "assistant");
    if (!enable_thinking) p.add_template("<think>\n\n</think>\n\n");
  }
  return p;
}

Prompt render_nemotron_v1(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  if (!o.tools.empty())
    throw EngineError("chat: format nemotron-v1 has no tool support (its template ignores tools); "
                      "use format nemotron");
  for (size_t i = 0; i < ms.size(); ++i)
    if (!ms[i].tool_calls.empty())
      throw EngineError("chat: format nemotron-v1 cannot render the tool calls of " + where(i, ms[i]) +
                        "; use format nemotron");
  Prompt p;
  p.add_template(kLlamaBos);
  llama_header(p, "system");
  bool has_system = !ms.empty() && ms[0].role == ChatRole::system;
  std::string_view user_system = has_system ? std::string_view(ms[0].content) : std::string_view();
  if (o.thinking != ThinkingMode::unset) {
    // ragent's convention: the switch, then the caller's system prompt after a blank line; the
    // template trims the whole system message.
    std::string_view sw = o.thinking == ThinkingMode::on ? "detailed thinking on" : "detailed thinking off";
    std::string joined(sw);
    if (!user_system.empty()) joined += "\n\n" + std::string(user_system);
    std::string_view shown = strip(joined);
    p.add_template(shown.substr(0, sw.size()));
    p.add_content(shown.substr(std::min(sw.size(), shown.size())));
  } else {
    p.add_content(strip(user_system));
  }
  p.add_template(kEot);
  for (size_t i = has_system ? 1 : 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    llama_header(p, chat_role_name(m.role));
    p.add_content(strip(m.role == ChatRole::assistant ? nemotron_history_answer(m) : m.content));
    p.add_template(kEot);
  }
  if (o.add_generation_prompt) llama_header(p, "assistant");
  return p;
}

// ---------------------------------------------------------------- Llama 3.1

Prompt render_llama3(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  Prompt p;
  p.add_template(kLlamaBos);
  bool has_tools = !o.tools.empty();
  size_t next = 0;
  std::string_view system;
  if (!ms.empty() && ms[0].role == ChatRole::system) {
    system = strip(ms[0].content);
    next = 1;
  }
  llama_header(p, "system");
  if (has_tools) p.add_template("Environment: ipython\n");
  p.add_template("Cutting Knowledge Date: December 2023\nToday Date: ");
  p.add_content(o.date_string ? std::string_view(*o.date_string) : std::string_view("26 Jul 2024"));
  p.add_template("\n\n");
  p.add_content(system);
  p.add_template(kEot);
  if (has_tools) {
    // Tools go into the first message after the system prompt, whatever its role.
    if (next >= ms.size())
      throw EngineError("chat: format llama3 puts tools in the first user message, but there is none");
    llama_header(p, "user");
    p.add_template(
        "Given the following functions, please respond with a JSON for a function call with its "
        "proper arguments that best answers the given prompt.\n\nRespond in the format "
        "{\"name\": function name, \"parameters\": dictionary of argument name and its value}."
        "Do not use variables.\n\n");
    for (const ToolSpec& t : o.tools) {
      p.add_content(to_template_json(tool_json(t), 4));
      p.add_template("\n\n");
    }
    p.add_content(strip(ms[next].content));
    p.add_template(kEot);
    ++next;
  }
  for (size_t i = next; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if (m.role != ChatRole::tool && m.tool_calls.empty()) {
      llama_header(p, chat_role_name(m.role));
      p.add_content(strip(m.content));
      p.add_template(kEot);
    } else if (!m.tool_calls.empty()) {
      if (m.tool_calls.size() != 1)
        throw EngineError("chat: format llama3 supports one tool call per assistant turn; " +
                          where(i, m) + " has " + std::to_string(m.tool_calls.size()));
      llama_header(p, "assistant");
      p.add_template("{\"name\": \"");
      p.add_content(m.tool_calls[0].name);
      p.add_template("\", \"parameters\": ");
      p.add_content(to_template_json(m.tool_calls[0].arguments));
      p.add_template("}");
      p.add_template(kEot);
    } else {
      // The template writes a string result through tojson, i.e. as a quoted JSON string.
      llama_header(p, "ipython");
      p.add_content(to_template_json(boost::json::value(m.content)));
      p.add_template(kEot);
    }
  }
  if (o.add_generation_prompt) llama_header(p, "assistant");
  return p;
}

// ---------------------------------------------------------------- ChatML (Qwen2.5)

Prompt render_chatml(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  constexpr std::string_view default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  Prompt p;
  bool has_system = !ms.empty() && ms[0].role == ChatRole::system;
  p.add_template("<|im_start|>system\n");
  if (has_system) p.add_content(ms[0].content);
  else p.add_template(default_system);
  if (!o.tools.empty()) {
    p.add_template(
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    for (const ToolSpec& t : o.tools) {
      p.add_template("\n");
      p.add_content(to_template_json(tool_json(t)));
    }
    p.add_template(
        "\n</tools>\n\nFor each function call, return a json object with function name and "
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
        "<function-name>, \"arguments\": <args-json-object>}\n</tool_call>");
  }
  p.add_template("<|im_end|>\n");
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    bool prev_tool = i > 0 && ms[i - 1].role == ChatRole::tool;
    bool next_tool = i + 1 < ms.size() && ms[i + 1].role == ChatRole::tool;
    if (m.role == ChatRole::user || (m.role == ChatRole::system && i != 0) ||
        (m.role == ChatRole::assistant && m.tool_calls.empty())) {
      p.add_template("<|im_start|>");
      p.add_template(chat_role_name(m.role));
      p.add_template("\n");
      p.add_content(m.content);
      p.add_template("<|im_end|>\n");
    } else if (m.role == ChatRole::assistant) {
      p.add_template("<|im_start|>assistant");
      if (!m.content.empty()) {
        p.add_template("\n");
        p.add_content(m.content);
      }
      for (const ChatToolCall& c : m.tool_calls) {
        p.add_template("\n<tool_call>\n{\"name\": \"");
        p.add_content(c.name);
        p.add_template("\", \"arguments\": ");
        p.add_content(to_template_json(c.arguments));
        p.add_template("}\n</tool_call>");
      }
      p.add_template("<|im_end|>\n");
    } else if (m.role == ChatRole::tool) {
      if (!prev_tool) p.add_template("<|im_start|>user");
      p.add_template("\n<tool_response>\n");
      p.add_content(m.content);
      p.add_template("\n</tool_response>");
      if (!next_tool) p.add_template("<|im_end|>\n");
    }
  }
  if (o.add_generation_prompt) p.add_template("<|im_start|>assistant\n");
  return p;
}

constexpr std::array<std::pair<std::string_view, ChatFormat>, 5> kFormatNames{{
    {"nemotron", ChatFormat::nemotron},
    {"nemotron-v1", ChatFormat::nemotron_v1},
    {"nemotron-v1.5", ChatFormat::nemotron_v1_5},
    {"llama3", ChatFormat::llama3},
    {"chatml", ChatFormat::chatml},
}};

}  // namespace

std::string_view chat_role_name(ChatRole role) {
  switch (role) {
    case ChatRole::system: return "system";
    case ChatRole::user: return "user";
    case ChatRole::assistant: return "assistant";
    case ChatRole::tool: return "tool";
  }
  return "user";
}

std::string_view chat_format_name(ChatFormat format) {
  for (const auto& [name, f] : kFormatNames)
    if (f == format) return name;
  return "nemotron";
}

ChatFormat chat_format_from_name(std::string_view name) {
  std::string known;
  for (const auto& [n, f] : kFormatNames) {
    if (n == name) return f;
    known += known.empty() ? "" : ", ";
    known += n;
  }
  throw EngineError("chat: unknown chat format '" + std::string(name) + "' (known: " + known + ")");
}

ChatFormat detect_chat_format(const std::optional<std::string>& jinja_template,
                              std::string_view architecture) {
  if (jinja_template) {
    const std::string& t = *jinja_template;
    bool llama_headers = contains(t, "<|start_header_id|>");
    if (llama_headers && contains(t, "<AVAILABLE_TOOLS>") && contains(t, "/no_think"))
      return ChatFormat::nemotron_v1_5;
    // The v1 templates strip </think> from history; ragent's "nemotron" speaks their thinking
    // switch and adds tool support.
    if (llama_headers && (contains(t, "</think>") || contains(t, "<TOOLCALL>") ||
                          contains(t, "detailed thinking")))
      return ChatFormat::nemotron;
    if (contains(t, "<|im_start|>")) return ChatFormat::chatml;
    if (llama_headers) return ChatFormat::llama3;
  }
  if (architecture == "deci") return ChatFormat::nemotron;
  if (architecture == "llama") return ChatFormat::llama3;
  if (architecture == "qwen2" || architecture == "qwen") return ChatFormat::chatml;
  throw EngineError("chat: cannot tell the chat format: the chat template is " +
                    std::string(jinja_template ? "not one ragent recognises" : "missing") +
                    " and architecture '" + std::string(architecture) +
                    "' has no default; choose a format by name (nemotron, llama3, chatml)");
}

void Prompt::add_template(std::string_view text) {
  if (text.empty()) return;
  if (!parts.empty() && parts.back().is_template) parts.back().text += text;
  else parts.push_back({std::string(text), true});
}

void Prompt::add_content(std::string_view text) {
  if (text.empty()) return;
  if (!parts.empty() && !parts.back().is_template) parts.back().text += text;
  else parts.push_back({std::string(text), false});
}

std::string Prompt::text() const {
  std::string out;
  for (const auto& part : parts) out += part.text;
  return out;
}

Prompt render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                   const ChatOptions& options) {
  refuse_tool_calls_in_system_or_user(messages);
  switch (format) {
    case ChatFormat::nemotron: return render_nemotron(messages, options);
    case ChatFormat::nemotron_v1: return render_nemotron_v1(messages, options);
    case ChatFormat::nemotron_v1_5: return render_nemotron_v15(messages, options);
    case ChatFormat::llama3: return render_llama3(messages, options);
    case ChatFormat::chatml: return render_chatml(messages, options);
  }
  throw EngineError("chat: unknown chat format value");
}

std::string to_template_json(const boost::json::value& value, int indent) {
  std::string out;
  write_json(out, value, indent < 0 ? 0 : indent, 0);
  return out;
}

}  // namespace ragent::engine
