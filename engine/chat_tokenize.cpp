#include "engine/chat_tokenize.hpp"

#include <string>
#include <string_view>

namespace ragent::engine {

std::vector<TokenId> tokenize_prompt(const Prompt& prompt, const Tokenizer& tokenizer) {
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
    // Control tokens are cut out of template text; user-defined tokens stay in the run, where
    // encode matches them itself.
    const std::string_view text = part.text;
    size_t copied = 0;
    for (size_t pos = 0; pos < text.size();) {
      const auto [id, length] = tokenizer.match_special(text, pos, /*parse_special=*/true);
      if (id < 0 || tokenizer.token_type(id) != TokenType::control) {
        ++pos;
        continue;
      }
      run.append(text.substr(copied, pos - copied));
      flush_run();
      ids.push_back(id);
      pos += length;
      copied = pos;
    }
    run.append(text.substr(copied));
  }
  flush_run();
  return ids;
}

}  // namespace ragent::engine
