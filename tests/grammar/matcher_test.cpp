// The matcher and its token masks (engine/grammar/matcher.cpp, compiled_grammar.cpp,
// automaton.cpp): whole texts against the IR reference matcher, every mask against brute force
// (try each token, roll back), tokenizations of valid texts never masked out, rollback, errors
// and jump-forward bytes.
#include "engine/grammar/matcher.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/grammar/gbnf.hpp"
#include "engine/grammar/json_schema.hpp"
#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

namespace json = boost::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const json::value& ledger() {
  static const json::value v = json::parse(read_file(std::string(RAGENT_SOURCE_DIR) + "/tests/grammar/json_schema_cases.json"));
  return v;
}

// A vocabulary that exercises boundaries: every single byte, pieces cut at random from the
// given texts (so tokens close strings and open keys), random ASCII runs, and one stop token.
std::shared_ptr<const Vocabulary> make_vocabulary(const std::vector<std::string>& texts, uint64_t seed, size_t pieces) {
  std::mt19937_64 rng(seed);
  std::set<std::string> unique;
  for (int b = 0; b < 256; ++b) unique.insert(std::string(1, static_cast<char>(b)));
  for (size_t i = 0; i < pieces && !texts.empty(); ++i) {
    const std::string& t = texts[rng() % texts.size()];
    if (t.empty()) continue;
    const size_t at = rng() % t.size();
    const size_t len = 1 + rng() % std::min<size_t>(8, t.size() - at);
    unique.insert(t.substr(at, len));
  }
  const char* ascii = "abcdefghijklmnopqrstuvwxyz0123456789 {}[]\":,-.";
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (size_t n = 1 + rng() % 6; n > 0; --n) s += ascii[rng() % 46];
    unique.insert(s);
  }
  std::vector<std::string> tokens(unique.begin(), unique.end());
  tokens.push_back("<|eot|>");
  TokenBitset special(tokens.size());
  special.set(tokens.size() - 1);
  return std::make_shared<Vocabulary>(tokens, special, std::vector<int32_t>{static_cast<int32_t>(tokens.size() - 1)});
}

std::vector<std::string> ledger_texts() {
  std::vector<std::string> out;
  for (const json::value& c : ledger().at("cases").as_array()) {
    for (const char* cat : {"valid", "invalid", "stricter", "lenient"}) {
      if (const json::value* list = c.as_object().if_contains(cat)) {
        for (const json::value& t : list->as_array()) out.emplace_back(t.as_string());
      }
    }
  }
  return out;
}

struct LedgerCase {
  std::string name;
  std::shared_ptr<Grammar> grammar;
  std::vector<std::string> texts;
};

std::vector<LedgerCase> ledger_cases() {
  std::vector<LedgerCase> out;
  for (const json::value& c : ledger().at("cases").as_array()) {
    const json::object& tc = c.as_object();
    JsonSchemaOptions options;
    if (const json::value* o = tc.if_contains("options")) {
      if (const json::value* w = o->as_object().if_contains("max_whitespace")) options.max_whitespace = static_cast<int>(w->as_int64());
      if (const json::value* s = o->as_object().if_contains("strict_objects")) options.strict_objects = s->as_bool();
      if (const json::value* f = o->as_object().if_contains("numbers_fit_64_bits")) options.numbers_fit_64_bits = f->as_bool();
    }
    LedgerCase lc;
    lc.name = std::string(tc.at("name").as_string());
    lc.grammar = std::make_shared<Grammar>(compile_json_schema(tc.at("schema"), options));
    for (const char* cat : {"valid", "invalid", "stricter", "lenient"}) {
      if (const json::value* list = tc.if_contains(cat)) {
        for (const json::value& t : list->as_array()) lc.texts.emplace_back(t.as_string());
      }
    }
    out.push_back(std::move(lc));
  }
  return out;
}

bool matcher_accepts(Matcher& m, std::string_view text) {
  m.reset();
  return m.accept_bytes(text) && m.can_end();
}

// Every mask bit against trying the token and rolling back.
void expect_mask_exact(Matcher& m, const Vocabulary& vocab, const std::string& where) {
  const TokenBitset mask = m.mask();
  for (size_t id = 0; id < vocab.size(); ++id) {
    const bool fits = m.accept_token(static_cast<int32_t>(id));
    if (fits) m.rollback(1);
    ASSERT_EQ(mask.test(id), fits) << where << ": token " << id << " '" << vocab.token(static_cast<int32_t>(id))
                                   << "' mask says " << mask.test(id);
    if (!fits) m.rollback(0);
  }
}

// One random walk of at most max_steps tokens, every mask checked against brute force. With
// prefer_short, three picks in four are tokens of at most two bytes when there are any, so the
// walk passes through every position of a repeat. Returns the masks checked.
size_t walk_checking_masks(Matcher& m, const Vocabulary& vocab, std::mt19937_64& rng, int max_steps,
                           const std::string& where, bool prefer_short = false) {
  m.reset();
  size_t masks = 0;
  for (int step = 0; step < max_steps && !m.terminated(); ++step, ++masks) {
    expect_mask_exact(m, vocab, where + " step " + std::to_string(step));
    if (::testing::Test::HasFatalFailure()) return masks;
    std::vector<int32_t> allowed, short_ones;
    m.mask().for_each_set([&](size_t id) {
      allowed.push_back(static_cast<int32_t>(id));
      if (vocab.token(static_cast<int32_t>(id)).size() <= 2) short_ones.push_back(static_cast<int32_t>(id));
    });
    EXPECT_FALSE(allowed.empty()) << where << ": dead end at step " << step;
    if (allowed.empty()) return masks;
    const auto& pool = !prefer_short || short_ones.empty() || rng() % 4 == 0 ? allowed : short_ones;
    EXPECT_TRUE(m.accept_token(pool[rng() % pool.size()]));
  }
  return masks;
}

TEST(Matcher, WholeTextsAgreeWithTheReferenceMatcher) {
  const auto vocab = make_vocabulary({}, 1, 0);
  size_t texts = 0;
  for (const LedgerCase& lc : ledger_cases()) {
    SCOPED_TRACE(lc.name);
    auto compiled = std::make_shared<CompiledGrammar>(*lc.grammar, vocab);
    Matcher m(compiled);
    testing::ReferenceMatcher ref(*lc.grammar);
    for (const std::string& t : lc.texts) {
      EXPECT_EQ(matcher_accepts(m, t), ref.matches_root(t)) << t;
      ++texts;
    }
  }
  EXPECT_GE(texts, 500u);
}

TEST(Matcher, MasksEqualBruteForceOnRandomWalks) {
  const auto vocab = make_vocabulary(ledger_texts(), 2, 1500);
  std::mt19937_64 rng(3);
  size_t masks = 0;
  for (const LedgerCase& lc : ledger_cases()) {
    SCOPED_TRACE(lc.name);
    auto compiled = std::make_shared<CompiledGrammar>(*lc.grammar, vocab);
    Matcher m(compiled);
    if (m.mask().none()) continue;  // a schema that accepts nothing
    for (int walk = 0; walk < 2; ++walk) {
      masks += walk_checking_masks(m, *vocab, rng, 40, lc.name);
      if (HasFailure()) return;
    }
  }
  EXPECT_GE(masks, 1000u);
}

// Greedy longest-match tokenization, as a stand-in for a real tokenizer's segmentation.
std::vector<int32_t> tokenize(const Vocabulary& vocab, std::string_view text, std::mt19937_64& rng) {
  std::vector<int32_t> out;
  size_t at = 0;
  while (at < text.size()) {
    std::vector<std::pair<size_t, int32_t>> fits;
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string& tok = vocab.token(static_cast<int32_t>(id));
      if (!vocab.trie().included().test(id) || tok.size() > text.size() - at) continue;
      if (text.compare(at, tok.size(), tok) == 0) fits.emplace_back(tok.size(), static_cast<int32_t>(id));
    }
    std::sort(fits.rbegin(), fits.rend());
    const auto& pick = fits[rng() % 3 == 0 ? rng() % fits.size() : 0];  // longest, sometimes another
    out.push_back(pick.second);
    at += pick.first;
  }
  return out;
}

TEST(Matcher, TokenizationsOfValidTextsAreNeverMaskedOut) {
  const auto vocab = make_vocabulary(ledger_texts(), 4, 3000);
  std::mt19937_64 rng(5);
  size_t checked = 0;
  for (const LedgerCase& lc : ledger_cases()) {
    SCOPED_TRACE(lc.name);
    auto compiled = std::make_shared<CompiledGrammar>(*lc.grammar, vocab);
    Matcher m(compiled);
    testing::ReferenceMatcher ref(*lc.grammar);
    for (const std::string& t : lc.texts) {
      if (!ref.matches_root(t)) continue;
      m.reset();
      for (int32_t id : tokenize(*vocab, t, rng)) {
        ASSERT_TRUE(m.mask().test(static_cast<size_t>(id))) << t << ": token '" << vocab->token(id) << "' masked out";
        ASSERT_TRUE(m.accept_token(id)) << t;
      }
      ASSERT_TRUE(m.mask().test(vocab->stop_tokens()[0])) << t << ": stop token masked out at the end";
      ASSERT_TRUE(m.accept_token(vocab->stop_tokens()[0]));
      EXPECT_TRUE(m.terminated());
      ++checked;
    }
  }
  EXPECT_GE(checked, 200u);
}

std::shared_ptr<CompiledGrammar> gbnf(std::string_view text, std::shared_ptr<const Vocabulary> vocab) {
  return std::make_shared<CompiledGrammar>(parse_gbnf(text), std::move(vocab));
}

TEST(Matcher, RecursiveGrammarsCheckUncertainTokensAgainstTheStack) {
  const std::vector<std::string> texts = {"((a))", "(a)(b)", "((((b))))", "()", "(a(b)c)", "))((", "a)b("};
  const auto vocab = make_vocabulary(texts, 6, 400);
  // p is recursive, so it is called, and tokens like "))" run past its end.
  auto compiled = gbnf("root ::= p+\np ::= \"(\" [abc]* (p [abc]*)* \")\"\n", vocab);
  Matcher m(compiled);
  std::mt19937_64 rng(7);
  for (int walk = 0; walk < 20; ++walk) {
    walk_checking_masks(m, *vocab, rng, 30, "walk " + std::to_string(walk));
    if (HasFailure()) return;
  }
  EXPECT_GT(compiled->stats().states_computed, 3u);
}

TEST(Matcher, RightRecursionKeepsTheStackFlat) {
  const auto vocab = make_vocabulary({"x,x,x"}, 8, 50);
  auto compiled = gbnf("root ::= list\nlist ::= \"x\" (\",\" list)?\n", vocab);
  Matcher m(compiled);
  std::string text = "x";
  for (int i = 0; i < 10000; ++i) text += ",x";
  EXPECT_TRUE(m.accept_bytes(text));
  EXPECT_TRUE(m.can_end());
}

TEST(Matcher, RollbackRestoresStateAndClearsALaterError) {
  const auto vocab = make_vocabulary({"{\"a\":1}"}, 9, 100);
  auto compiled = std::make_shared<CompiledGrammar>(compile_json_schema(json::parse(
                                                        R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})")),
                                                    vocab);
  Matcher m(compiled);
  ASSERT_TRUE(m.accept_bytes("{\"a\":"));
  const TokenBitset before = m.mask();
  ASSERT_TRUE(m.accept_bytes("12"));
  EXPECT_FALSE(m.accept_bytes("x"));
  EXPECT_TRUE(m.failed());
  EXPECT_NE(m.error().find("output byte 7"), std::string::npos) << m.error();
  EXPECT_FALSE(m.accept_bytes("}"));  // sticky
  EXPECT_TRUE(m.mask().none());
  m.rollback(1);
  EXPECT_FALSE(m.failed());
  EXPECT_EQ(m.mask(), before);
  EXPECT_TRUE(m.accept_bytes("7}"));
  EXPECT_TRUE(m.must_end());
}

TEST(Matcher, StopTokenOnlyWhereTheGrammarCanEnd) {
  const auto vocab = make_vocabulary({}, 10, 0);
  const int32_t stop = vocab->stop_tokens()[0];
  auto compiled = gbnf("root ::= \"ab\" \"c\"?\n", vocab);
  Matcher m(compiled);
  EXPECT_FALSE(m.mask().test(static_cast<size_t>(stop)));
  EXPECT_FALSE(m.accept_token(stop));
  m.rollback(0);
  m.reset();
  ASSERT_TRUE(m.accept_bytes("ab"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());
  EXPECT_TRUE(m.mask().test(static_cast<size_t>(stop)));
  ASSERT_TRUE(m.accept_bytes("c"));
  EXPECT_TRUE(m.must_end());
  EXPECT_EQ(m.mask().count(), 1u);
  EXPECT_TRUE(m.accept_token(stop));
  EXPECT_TRUE(m.terminated());
  EXPECT_TRUE(m.mask().none());
}

TEST(Matcher, ForcedBytesFollowTheOnlyPath) {
  const auto vocab = make_vocabulary({}, 11, 0);
  auto compiled = std::make_shared<CompiledGrammar>(
      compile_json_schema(json::parse(R"({"type":"object","properties":{"name":{"const":"get_weather"},
        "arguments":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
        "required":["name","arguments"]})")),
      vocab);
  Matcher m(compiled);
  EXPECT_EQ(m.forced_bytes(), R"({"name":"get_weather","arguments":{"city":")");
  ASSERT_TRUE(m.accept_bytes(m.forced_bytes()));
  EXPECT_EQ(m.forced_bytes(), "");  // any string character may come
  EXPECT_EQ(m.forced_bytes(5), "");
}

TEST(Matcher, InvalidUtf8NeverFits) {
  const auto vocab = make_vocabulary({}, 12, 0);
  auto compiled = std::make_shared<CompiledGrammar>(compile_json_schema(json::parse(R"({"type":"string"})")), vocab);
  Matcher m(compiled);
  ASSERT_TRUE(m.accept_bytes("\""));
  for (std::string bad : {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xFF"}) {
    EXPECT_FALSE(m.accept_bytes(bad)) << "accepted invalid UTF-8";
    m.rollback(0);
    EXPECT_FALSE(m.failed());
    m.reset();
    ASSERT_TRUE(m.accept_bytes("\""));
  }
  EXPECT_TRUE(m.accept_bytes("\xE2\x82"));  // a valid prefix stays alive
  EXPECT_TRUE(m.accept_bytes("\xAC\""));
  EXPECT_TRUE(m.must_end());
}

}  // namespace
}  // namespace ragent::grammar

namespace ragent::grammar {
namespace {

// Positions of long unrolled repeats far from both bounds share one mask (compiled_grammar.cpp):
// the masks stay exact right up to the bounds, and far fewer masks are computed than visited.
TEST(Matcher, LongRepeatsShareMasksAndStayExactAtTheBounds) {
  const auto vocab = make_vocabulary({"\"abcdefgh\"", "[1,22,333]", "ééé😀"}, 13, 200);
  std::mt19937_64 rng(14);
  for (const char* schema : {R"({"type":"string","minLength":20,"maxLength":45})",
                             R"({"type":"array","items":{"type":"integer","minimum":0,"maximum":999},"minItems":14,"maxItems":30})",
                             R"({"type":"string","pattern":"^[a-z]{12,40}$"})"}) {
    SCOPED_TRACE(schema);
    auto compiled = std::make_shared<CompiledGrammar>(compile_json_schema(json::parse(schema)), vocab);
    Matcher m(compiled);
    for (int walk = 0; walk < 6; ++walk) {
      walk_checking_masks(m, *vocab, rng, 80, "walk " + std::to_string(walk), /*prefer_short=*/true);
      if (HasFailure()) return;
    }
    EXPECT_FALSE(compiled->automaton().unrolled_repeats().empty());
  }
}

}  // namespace
}  // namespace ragent::grammar
