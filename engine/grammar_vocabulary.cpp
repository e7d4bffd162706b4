#include "engine/grammar_vocabulary.hpp"

#include <string>
#include <vector>

#include "engine/grammar/tool_call.hpp"

namespace ragent::engine {

namespace {

// The code points a JSON string holds without escapes: U+0020 and up, except " and \.
grammar::SliceClass json_string_class() {
  grammar::SliceClass cls;
  for (int b = 0x20; b < 0x80; ++b) cls.ascii.set(static_cast<size_t>(b));
  cls.ascii.reset('"');
  cls.ascii.reset('\\');
  cls.set_all_non_ascii();
  return cls;
}

// ASCII classes that patterns and formats loop on most (identifiers, words, slugs, hex), so a
// first request does not pay for their slices: ranges of bytes, in pairs.
constexpr const char* kCommonClasses[] = {"AZaz09__", "az", "AZ", "AZaz", "AZaz09", "az09", "az09--", "az09__--", "AZaz09__--", "AFaf09"};

grammar::SliceClass ascii_class(const char* ranges) {
  grammar::SliceClass cls;
  for (const char* r = ranges; r[0] && r[1]; r += 2) {
    for (int b = r[0]; b <= r[1]; ++b) cls.ascii.set(static_cast<size_t>(b));
  }
  return cls;
}

}  // namespace

std::shared_ptr<const grammar::Vocabulary> build_grammar_vocabulary(const Tokenizer& tokenizer) {
  const size_t n = tokenizer.vocab_size();
  std::vector<std::string> bytes(n);
  grammar::TokenBitset special(n);
  for (size_t id = 0; id < n; ++id) {
    const auto t = static_cast<TokenId>(id);
    if (tokenizer.is_special(t) || tokenizer.token_type(t) == TokenType::unused) {
      special.set(id);
      bytes[id] = std::string(tokenizer.token_text(t));
      continue;
    }
    bytes[id] = tokenizer.decode(std::span<const TokenId>(&t, 1));
  }
  std::vector<int32_t> stops;
  if (tokenizer.eos() >= 0) stops.push_back(tokenizer.eos());
  if (auto eot = tokenizer.eot()) stops.push_back(*eot);
  if (auto eom = tokenizer.find_special("<|eom_id|>")) stops.push_back(*eom);
  for (int32_t id : stops) special.set(static_cast<size_t>(id));
  auto vocab = std::make_shared<grammar::Vocabulary>(std::move(bytes), special, std::move(stops));
  vocab->slice(json_string_class());
  for (const char* ranges : kCommonClasses) vocab->slice(ascii_class(ranges));
  vocab->trigger_table(grammar::kToolCallTrigger);
  vocab->trigger_table(grammar::kThinkingEnd);
  return vocab;
}

}  // namespace ragent::engine
