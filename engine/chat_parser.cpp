#include "engine/chat_parser.hpp"

#include <algorithm>

#include <simdjson.h>

namespace ragent::engine {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kPythonTag = "<|python_tag|>";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view lstrip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

// Length of the longest suffix of `text` that is a proper prefix of `tag`: bytes that may yet
// become the tag and must be held back.
size_t held_suffix(std::string_view text, std::string_view tag) {
  for (size_t k = std::min(text.size(), tag.size() - 1); k > 0; --k)
    if (text.substr(text.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

void emit_delta(std::vector<ChatEvent>& events, ChatEvent::Kind kind, std::string_view text) {
  if (text.empty()) return;
  if (!events.empty() && events.back().kind == kind) {
    events.back().text += text;
    return;
  }
  ChatEvent e;
  e.kind = kind;
  e.text = std::string(text);
  events.push_back(std::move(e));
}

void emit_error(std::vector<ChatEvent>& events, std::string what, std::string_view raw) {
  ChatEvent e;
  e.kind = ChatEvent::Kind::error;
  e.text = std::move(what);
  e.raw = std::string(raw);
  events.push_back(std::move(e));
}

void emit_call(std::vector<ChatEvent>& events, ChatToolCall call) {
  ChatEvent e;
  e.kind = ChatEvent::Kind::tool_call;
  e.call = std::move(call);
  events.push_back(std::move(e));
}

// Model output is parsed with simdjson (DESIGN: simdjson parses what comes in) and converted
// into Boost.JSON, our owned type, keeping key order.
boost::json::value to_boost(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array items;
      if (e.get(items) != simdjson::SUCCESS) return boost::json::array();
      boost::json::array a;
      for (simdjson::dom::element item : items) a.push_back(to_boost(item));
      return a;
    }
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object fields;
      if (e.get(fields) != simdjson::SUCCESS) return boost::json::object();
      boost::json::object o;
      for (simdjson::dom::key_value_pair field : fields) o.insert_or_assign(field.key, to_boost(field.value));
      return o;
    }
    case simdjson::dom::element_type::INT64: return e.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64: return e.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE: return e.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING: return boost::json::string(e.get_string().value_unsafe());
    case simdjson::dom::element_type::BOOL: return e.get_bool().value_unsafe();
    case simdjson::dom::element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

bool parse_json(std::string_view text, boost::json::value& out, std::string& why) {
  constexpr size_t kMaxDepth = 64;
  simdjson::dom::parser parser(simdjson::SIMDJSON_MAXSIZE_BYTES);
  if (auto err = parser.allocate(text.size() + 1, kMaxDepth)) {
    why = simdjson::error_message(err);
    return false;
  }
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) {
    why = simdjson::error_message(err);
    return false;
  }
  out = to_boost(root);
  return true;
}

// One call object: {"name": string, <args_key>: object, or a string holding a JSON object}.
bool read_call(const boost::json::value& v, std::initializer_list<std::string_view> args_keys,
               ChatToolCall& call, std::string& why) {
  const auto* obj = v.if_object();
  if (!obj) {
    why = "a tool call is not a JSON object";
    return false;
  }
  const auto* name = obj->if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty()) {
    why = "a tool call has no \"name\" string";
    return false;
  }
  call.name = std::string(name->get_string());
  call.arguments = {};
  const boost::json::value* args = nullptr;
  std::string_view key = *args_keys.begin();
  for (std::string_view k : args_keys)
    if ((args = obj->if_contains(k))) {
      key = k;
      break;
    }
  if (!args) return true;
  if (args->is_object()) {
    call.arguments = args->get_object();
    return true;
  }
  if (args->is_string()) {
    boost::json::value inner;
    std::string ignored;
    if (parse_json(args->get_string(), inner, ignored) && inner.is_object()) {
      call.arguments = std::move(inner.get_object());
      return true;
    }
  }
  why = "the \"" + std::string(key) + "\" of tool call \"" + call.name + "\" is not a JSON object";
  return false;
}

}  // namespace

ChatParserOptions parser_options_for(const Prompt& prompt) {
  std::string text = prompt.text();
  std::string_view tail = text;
  while (!tail.empty() && is_space(tail.back())) tail.remove_suffix(1);
  ChatParserOptions options;
  options.thinking_prefilled =
      tail.size() >= kThinkOpen.size() && tail.substr(tail.size() - kThinkOpen.size()) == kThinkOpen;
  return options;
}

ChatParser::ChatParser(ChatFormat format, ChatParserOptions options) {
  switch (format) {
    case ChatFormat::nemotron:
    case ChatFormat::nemotron_v1:
    case ChatFormat::nemotron_v1_5:
      call_open_ = "<TOOLCALL>";
      call_close_ = "</TOOLCALL>";
      call_body_ = CallBody::json_array;
      break;
    case ChatFormat::chatml:
      call_open_ = "<tool_call>";
      call_close_ = "</tool_call>";
      call_body_ = CallBody::json_object;
      break;
    case ChatFormat::llama3:
      think_tags_ = false;
      llama_json_ = true;
      break;
  }
  if (options.thinking_prefilled && think_tags_) state_ = State::thinking;
  else if (!think_tags_) state_ = State::content;
}

void ChatParser::feed(std::string_view piece, std::vector<ChatEvent>& events) {
  if (state_ == State::finished) throw EngineError("chat parser: feed() after finish()");
  buf_.append(piece);
  process(events);
}

void ChatParser::process(std::vector<ChatEvent>& events) {
  for (bool more = true; more;) {
    switch (state_) {
      case State::start: more = step_start(); break;
      case State::thinking: more = step_thinking(events); break;
      case State::content: more = step_content(events); break;
      case State::in_call: more = step_in_call(events); break;
      case State::llama_json:
        call_buf_ += buf_;
        buf_.clear();
        more = false;
        break;
      case State::finished: more = false; break;
    }
  }
}

// Output start: whitespace, then "<think>" opens thinking; anything else is content.
bool ChatParser::step_start() {
  std::string_view rest = lstrip(buf_);
  if (rest.empty()) return false;
  if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
    buf_.erase(0, buf_.size() - rest.size() + kThinkOpen.size());
    state_ = State::thinking;
    return true;
  }
  if (rest.size() < kThinkOpen.size() && kThinkOpen.substr(0, rest.size()) == rest) return false;
  state_ = State::content;
  return true;
}

bool ChatParser::step_thinking(std::vector<ChatEvent>& events) {
  if (size_t at = buf_.find(kThinkClose); at != std::string::npos) {
    emit_delta(events, ChatEvent::Kind::thinking_delta, std::string_view(buf_).substr(0, at));
    buf_.erase(0, at + kThinkClose.size());
    state_ = State::content;
    skip_whitespace_ = true;
    return true;
  }
  size_t keep = held_suffix(buf_, kThinkClose);
  emit_delta(events, ChatEvent::Kind::thinking_delta, std::string_view(buf_).substr(0, buf_.size() - keep));
  buf_.erase(0, buf_.size() - keep);
  return false;
}

bool ChatParser::step_content(std::vector<ChatEvent>& events) {
  if (skip_whitespace_) {
    size_t n = buf_.size() - lstrip(buf_).size();
    buf_.erase(0, n);
    if (buf_.empty()) return false;
    skip_whitespace_ = false;
  }
  if (llama_json_ && !content_started_) {
    std::string_view rest = lstrip(buf_);
    if (rest.empty()) return false;
    if (rest.front() == '{' || rest.substr(0, kPythonTag.size()) == kPythonTag) {
      state_ = State::llama_json;
      return true;
    }
    if (rest.size() < kPythonTag.size() && kPythonTag.substr(0, rest.size()) == rest) return false;
    content_started_ = true;
  }
  if (call_open_.empty()) {
    emit_delta(events, ChatEvent::Kind::content_delta, buf_);
    buf_.clear();
    return false;
  }
  if (size_t at = buf_.find(call_open_); at != std::string::npos) {
    emit_delta(events, ChatEvent::Kind::content_delta, std::string_view(buf_).substr(0, at));
    buf_.erase(0, at + call_open_.size());
    call_buf_.clear();
    call_search_from_ = 0;
    state_ = State::in_call;
    return true;
  }
  size_t keep = held_suffix(buf_, call_open_);
  emit_delta(events, ChatEvent::Kind::content_delta, std::string_view(buf_).substr(0, buf_.size() - keep));
  buf_.erase(0, buf_.size() - keep);
  return false;
}

bool ChatParser::step_in_call(std::vector<ChatEvent>& events) {
  call_buf_ += buf_;
  buf_.clear();
  size_t at = call_buf_.find(call_close_, call_search_from_);
  if (at == std::string::npos) {
    call_search_from_ = call_buf_.size() >= call_close_.size() ? call_buf_.size() - call_close_.size() + 1 : 0;
    return false;
  }
  buf_ = call_buf_.substr(at + call_close_.size());
  call_buf_.resize(at);
  parse_call_block(call_buf_, events);
  call_buf_.clear();
  state_ = State::content;
  return true;
}

void ChatParser::parse_call_block(std::string_view body, std::vector<ChatEvent>& events) const {
  std::string raw = std::string(call_open_) + std::string(body) + std::string(call_close_);
  boost::json::value v;
  std::string why;
  if (!parse_json(body, v, why)) {
    emit_error(events, "malformed JSON in " + std::string(call_open_) + ": " + why, raw);
    return;
  }
  if (call_body_ == CallBody::json_array && !v.is_array() && !v.is_object()) {
    emit_error(events, std::string(call_open_) + " does not hold a JSON array of calls", raw);
    return;
  }
  boost::json::array single;
  const boost::json::array* calls = v.if_array();
  if (!calls) {
    single.push_back(v);
    calls = &single;
  }
  for (size_t i = 0; i < calls->size(); ++i) {
    ChatToolCall call;
    if (read_call((*calls)[i], {"arguments"}, call, why)) emit_call(events, std::move(call));
    else emit_error(events, why + " (call " + std::to_string(i) + ")", raw);
  }
}

// Llama 3.1 calls are the whole output: [<|python_tag|>]{"name": ..., "parameters": {...}}.
// Output that starts with "{" but is not shaped like a call is an ordinary answer, unless it
// mentions "name" and fails to parse: that is reported, since it is most likely a broken call.
void ChatParser::parse_llama_json(std::vector<ChatEvent>& events) const {
  std::string_view text = lstrip(call_buf_);
  bool tagged = text.substr(0, kPythonTag.size()) == kPythonTag;
  if (tagged) text.remove_prefix(kPythonTag.size());
  boost::json::value v;
  std::string why;
  bool parsed = parse_json(text, v, why);
  const auto* obj = parsed ? v.if_object() : nullptr;
  bool call_shaped = obj && obj->contains("name") && (obj->contains("parameters") || obj->contains("arguments"));
  if (call_shaped || (tagged && parsed)) {
    ChatToolCall call;
    if (read_call(v, {"parameters", "arguments"}, call, why)) emit_call(events, std::move(call));
    else emit_error(events, why, call_buf_);
    return;
  }
  if (!parsed && (tagged || text.find("\"name\"") != std::string_view::npos)) {
    emit_error(events, "malformed JSON tool call: " + why, call_buf_);
    return;
  }
  emit_delta(events, ChatEvent::Kind::content_delta, call_buf_);
}

void ChatParser::finish(std::vector<ChatEvent>& events) {
  switch (state_) {
    case State::start:
    case State::content:
      if (!skip_whitespace_) emit_delta(events, ChatEvent::Kind::content_delta, buf_);
      break;
    case State::thinking:
      emit_delta(events, ChatEvent::Kind::thinking_delta, buf_);
      break;
    case State::in_call:
      call_buf_ += buf_;
      emit_error(events,
                 "unterminated " + std::string(call_open_) + ": the output ended before " +
                     std::string(call_close_),
                 std::string(call_open_) + call_buf_);
      break;
    case State::llama_json:
      call_buf_ += buf_;
      parse_llama_json(events);
      break;
    case State::finished:
      return;
  }
  buf_.clear();
  call_buf_.clear();
  state_ = State::finished;
}

}  // namespace ragent::engine
