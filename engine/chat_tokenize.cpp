#include "engine/chat_tokenize.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace ragent::engine {
namespace {

struct SpecialMatch {
  size_t at = std::string_view::npos;
  size_t length = 0;
  TokenId id = -1;
};

// Earliest control token in text[from..); the longest one when several start there.
SpecialMatch find_next_special(std::string_view text, size_t from,
                               const std::vector<std::pair<std::string, TokenId>>& specials) {
  SpecialMatch best;
  for (const auto& [special, id] : specials) {
    const size_t at = text.find(special, from);
    if (at == std::string_view::npos) continue;
    if (at < best.at || (at == best.at && special.size() > best.length)) best = {at, special.size(), id};
  }
  return best;
}

}  // namespace

std::vector<TokenId> tokenize_prompt(const Prompt& prompt, const Tokenizer& tokenizer) {
  // Control tokens of the vocabulary (user-defined tokens are matched by encode itself).
  std::vector<std::pair<std::string, TokenId>> specials;
  for (size_t id = 0; id < tokenizer.vocab_size(); ++id) {
    const auto token = static_cast<TokenId>(id);
    if (tokenizer.token_type(token) == TokenType::control && !tokenizer.token_text(token).empty()) {
      specials.emplace_back(std::string(tokenizer.token_text(token)), token);
    }
  }

  std::vector<TokenId> ids;
  std::string run;
  auto flush_run = [&] {
    if (run.empty()) return;
    const auto run_ids = tokenizer.encode(run, /*parse_special=*/false);
    ids.insert(ids.end(), run_ids.begin(), run_ids.end());
    run.clear();
  };
  for (const PromptPart& part : prompt.parts) {
    if (!part.is_template) {
      run += part.text;
      continue;
    }
    const std::string_view text = part.text;
    size_t pos = 0;
    while (pos < text.size()) {
      const SpecialMatch match = find_next_special(text, pos, specials);
      if (match.at == std::string_view::npos) {
        run += text.substr(pos);
        break;
      }
      run += text.substr(pos, match.at - pos);
      flush_run();
      ids.push_back(match.id);
      pos = match.at + match.length;
    }
  }
  flush_run();
  return ids;
}

}  // namespace ragent::engine
