// Fuzzes engine/chat_parser.cpp: any bytes, split anywhere, must parse without crashing and
// give the same events as the unsplit output (adjacent deltas of one kind joined).
// Input: byte 0 picks the format and the thinking pre-fill, byte 1 seeds the split points,
// the rest is the model output.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat_parser.hpp"

namespace {

using ragent::engine::ChatEvent;
using ragent::engine::ChatFormat;
using ragent::engine::ChatParser;
using ragent::engine::ChatParserOptions;

std::vector<ChatEvent> parse(ChatFormat format, ChatParserOptions options, std::string_view text,
                             const std::vector<size_t>& cuts) {
  ChatParser parser(format, options);
  std::vector<ChatEvent> events;
  size_t from = 0;
  for (size_t cut : cuts) {
    parser.feed(text.substr(from, cut - from), events);
    from = cut;
  }
  parser.feed(text.substr(from), events);
  parser.finish(events);
  return events;
}

bool same(const std::vector<ChatEvent>& a, const std::vector<ChatEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].text != b[i].text || a[i].raw != b[i].raw ||
        a[i].call.name != b[i].call.name || a[i].call.arguments != b[i].call.arguments)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  constexpr ChatFormat formats[] = {ChatFormat::nemotron, ChatFormat::nemotron_v1_5, ChatFormat::chatml,
                                    ChatFormat::llama3};
  ChatFormat format = formats[data[0] % 4];
  ChatParserOptions options{(data[0] & 4) != 0};
  unsigned seed = data[1];
  std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::vector<size_t> cuts;
  for (size_t at = 0; at < text.size();) {
    seed = seed * 1103515245u + 12345u;
    at += 1 + (seed >> 16) % 7;
    if (at < text.size()) cuts.push_back(at);
  }
  auto whole = parse(format, options, text, {});
  auto split = parse(format, options, text, cuts);
  if (!same(whole, split)) std::abort();
  for (const auto& e : whole)
    if (e.kind == ChatEvent::Kind::error && e.raw.empty()) std::abort();
  return 0;
}
