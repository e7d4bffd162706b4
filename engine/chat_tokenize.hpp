// Rendered chat prompts to token ids.
#pragma once

#include <vector>

#include "engine/chat_format.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// Token ids of a rendered prompt. Special (control) tokens are recognised only inside the
// template parts; content parts are plain text even when they spell "<|eot_id|>". Text on
// both sides of a part boundary is encoded as one run, so the ids equal those of encoding
// prompt.text() with special tokens allowed wherever the content holds none. BOS is included
// only when the template wrote it.
std::vector<TokenId> tokenize_prompt(const Prompt& prompt, const Tokenizer& tokenizer);

}  // namespace ragent::engine
