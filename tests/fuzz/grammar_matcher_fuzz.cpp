// Fuzzes the matcher (engine/grammar/automaton.cpp, compiled_grammar.cpp, matcher.cpp): the
// input is a GBNF grammar, a line "%%", then text. For a grammar that parses and compiles, the
// matcher must decide the text as the IR reference matcher does, and every mask along the way
// (over a small vocabulary of every byte and pieces of the text) must equal trying each token
// and rolling back. Grammar errors are fine; any other exception, or a disagreement, aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/gbnf.hpp"
#include "engine/grammar/ir_match.hpp"
#include "engine/grammar/matcher.hpp"

namespace {

using namespace ragent::grammar;

std::shared_ptr<const Vocabulary> vocabulary_for(std::string_view text) {
  std::set<std::string> unique;
  for (int b = 0; b < 256; ++b) unique.insert(std::string(1, static_cast<char>(b)));
  for (size_t at = 0; at + 1 < text.size() && unique.size() < 400; at += 2) unique.insert(std::string(text.substr(at, 3)));
  std::vector<std::string> tokens(unique.begin(), unique.end());
  tokens.push_back("<stop>");
  TokenBitset special(tokens.size());
  special.set(tokens.size() - 1);
  return std::make_shared<Vocabulary>(tokens, special, std::vector<int32_t>{static_cast<int32_t>(tokens.size() - 1)});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\n%%\n");
  if (split == std::string_view::npos || size > 4096) return 0;
  const std::string_view text = input.substr(split + 4);
  std::shared_ptr<CompiledGrammar> compiled;
  Grammar g;
  try {
    g = parse_gbnf(input.substr(0, split));
    AutomatonLimits limits;
    limits.max_states = 20000;
    compiled = std::make_shared<CompiledGrammar>(g, vocabulary_for(text), limits);
  } catch (const GrammarError&) {
    return 0;
  }
  Matcher m(compiled);
  bool alive = false;
  try {
    alive = m.accept_bytes(text) && m.can_end();
  } catch (const GrammarError&) {
    return 0;  // too ambiguous: refused, not wrong
  }
  if (alive != IrMatcher(g).matches_root(text)) std::abort();
  // Masks along the text's own bytes, against brute force.
  m.reset();
  const Vocabulary& vocab = compiled->vocabulary();
  for (size_t at = 0; at < text.size() && at < 24; ++at) {
    const TokenBitset mask = m.mask();
    for (size_t id = 0; id < vocab.size(); ++id) {
      const bool fits = m.accept_token(static_cast<int32_t>(id));
      m.rollback(fits ? 1 : 0);
      if (fits != mask.test(id)) std::abort();
    }
    if (!m.accept_bytes(text.substr(at, 1))) break;
  }
  return 0;
}
