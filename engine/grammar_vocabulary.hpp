// The grammar module's view of a tokenizer (engine/grammar/vocabulary.hpp): every token's
// bytes, the special tokens that are never text, and the stop tokens a grammar may end with.
#pragma once

#include <memory>

#include "engine/grammar/vocabulary.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// Build it once per tokenizer and share it (Engine::grammar_vocabulary keeps the model's): the
// trie, the slices of the JSON string class and of common identifier classes ([A-Za-z0-9_],
// [a-z], hex, ...), and the tool-call trigger tables are computed here, so no request pays for
// them (about 0.1 s for a 128K vocabulary). Stop tokens: eos, eot and
// <|eom_id|> where the vocabulary has them.
std::shared_ptr<const grammar::Vocabulary> build_grammar_vocabulary(const Tokenizer& tokenizer);

}  // namespace ragent::engine
