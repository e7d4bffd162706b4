// Tool-call mode and whole-answer constraints (engine/grammar/output_constraint.cpp,
// tool_call.cpp): the lazy trigger, thinking, tool_choice auto/required/none/named, JSON Schema
// answers, and failing closed.
#include "engine/grammar/output_constraint.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

namespace json = boost::json;

const std::vector<ToolGrammarSpec>& tools() {
  static const std::vector<ToolGrammarSpec> t = {
      {"get_weather", json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":20},
         "unit":{"enum":["celsius","fahrenheit"]}},"required":["city"]})")},
      {"add", json::parse(R"({"type":"object","properties":{"a":{"type":"integer","minimum":-100000,"maximum":100000},
         "b":{"type":"integer","minimum":-100000,"maximum":100000}},"required":["a","b"]})")},
      {"now", json::parse(R"({"type":"object","properties":{}})")},
  };
  return t;
}

// Every byte, pieces of tool-call text (so tokens cross the trigger and JSON boundaries), two
// special tokens: <|eot|> (the stop token) and <|x|>.
std::shared_ptr<const Vocabulary> vocabulary() {
  static const std::shared_ptr<const Vocabulary> v = [] {
    std::set<std::string> unique;
    for (int b = 0; b < 256; ++b) unique.insert(std::string(1, static_cast<char>(b)));
    for (const char* piece : {"<TOOL", "CALL", ">", ">[", ">[{\"", "<TOOLCALL>", "<TOOLCALL>[{\"name\"", "<TOOLCALL>oops",
                              "CALL>[", "CALL>x", "{\"", "name", "\":", "\": \"", "\", \"", "arguments", "get_", "weather",
                              "get_weather", "add", "now", "city", "unit", "celsius", "fahrenheit", "Paris", "\"}", "}}",
                              "}]", "]</", "TOOLCALL", "</TOOLCALL>", "<think>", "</think>", "</", "think", ">\n\n", " ",
                              "12", "345", "-", "\"a\"", "\"b\"", ":", ",", "Let", " me", " check", "."}) {
      unique.insert(piece);
    }
    std::vector<std::string> tokens(unique.begin(), unique.end());
    tokens.push_back("<|eot|>");
    tokens.push_back("<|x|>");
    TokenBitset special(tokens.size());
    special.set(tokens.size() - 1);
    special.set(tokens.size() - 2);
    return std::make_shared<Vocabulary>(tokens, special, std::vector<int32_t>{static_cast<int32_t>(tokens.size() - 2)});
  }();
  return v;
}

int32_t id_of(std::string_view text) {
  const auto& v = *vocabulary();
  for (size_t id = 0; id < v.size(); ++id) {
    if (v.token(static_cast<int32_t>(id)) == text) return static_cast<int32_t>(id);
  }
  ADD_FAILURE() << "no token '" << text << "'";
  return 0;
}

int32_t eot() { return vocabulary()->stop_tokens()[0]; }

// A step's mask as the sampler sees it: all set, then the constraint's fill.
struct StepMask {
  bool constrained = false;
  TokenBitset allowed;
};
StepMask step_mask(OutputConstraint& c) {
  std::vector<uint64_t> words(mask_words(vocabulary()->size()), ~uint64_t{0});
  StepMask out;
  out.constrained = c.fill_mask(words);
  out.allowed = TokenBitset(vocabulary()->size());
  for (size_t id = 0; id < vocabulary()->size(); ++id) {
    if ((words[id >> 6] >> (id & 63)) & 1) out.allowed.set(id);
  }
  return out;
}

void feed(OutputConstraint& c, std::initializer_list<std::string_view> pieces, std::string* text = nullptr) {
  for (std::string_view p : pieces) {
    const int32_t id = id_of(p);
    EXPECT_TRUE(step_mask(c).allowed.test(static_cast<size_t>(id))) << "'" << p << "' masked out";
    c.accept(id);
    if (text) *text += p;
  }
}

// Samples uniformly among allowed tokens (stop token only when nothing else is allowed) until
// the constraint leaves the grammar phase; returns the text written.
std::string walk_grammar(OutputConstraint& c, std::mt19937_64& rng, int max_steps = 200) {
  std::string text;
  for (int step = 0; step < max_steps && c.phase() == OutputConstraint::Phase::grammar; ++step) {
    const StepMask m = step_mask(c);
    EXPECT_TRUE(m.constrained);
    std::vector<int32_t> allowed;
    m.allowed.for_each_set([&](size_t id) {
      if (static_cast<int32_t>(id) != eot()) allowed.push_back(static_cast<int32_t>(id));
    });
    if (allowed.empty()) {
      EXPECT_TRUE(m.allowed.test(static_cast<size_t>(eot())));
      c.accept(eot());
      break;
    }
    const int32_t pick = allowed[rng() % allowed.size()];
    text += vocabulary()->token(pick);
    c.accept(pick);
    EXPECT_FALSE(c.failed()) << c.error();
  }
  return text;
}

// The block after the trigger is a JSON array of calls to known tools with valid arguments.
void expect_valid_block(const std::string& block) {
  const std::string tail = "</TOOLCALL>";
  ASSERT_GE(block.size(), tail.size());
  ASSERT_EQ(block.substr(block.size() - tail.size()), tail) << block;
  const json::value calls = json::parse(block.substr(0, block.size() - tail.size()));
  ASSERT_TRUE(calls.is_array());
  ASSERT_FALSE(calls.as_array().empty());
  for (const json::value& call : calls.as_array()) {
    const std::string name(call.at("name").as_string());
    const auto it = std::find_if(tools().begin(), tools().end(), [&](const ToolGrammarSpec& t) { return t.name == name; });
    ASSERT_NE(it, tools().end()) << name;
    const Grammar g = compile_json_schema(it->parameters);
    EXPECT_TRUE(testing::ReferenceMatcher(g).matches_root(json::serialize(call.at("arguments")))) << block;
  }
}

TEST(ToolCallMode, FreeTextIsUnconstrainedUntilTheTrigger) {
  auto spec = ConstraintSpec::tool_calls(tools(), {}, vocabulary());
  OutputConstraint c(spec, false);
  // With nothing of the trigger matched, only tokens holding a whole bad trigger are banned.
  StepMask m = step_mask(c);
  EXPECT_TRUE(m.constrained);
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of("<TOOLCALL>oops"))));
  EXPECT_TRUE(m.allowed.test(static_cast<size_t>(id_of("<TOOLCALL>[{\"name\""))));
  EXPECT_EQ(m.allowed.count(), vocabulary()->size() - 1);
  feed(c, {"Let", " me", " check", "."});
  feed(c, {"<TOOL"});
  m = step_mask(c);  // "CALL>x" would complete the trigger with a bad block
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of("CALL>x"))));
  EXPECT_TRUE(m.allowed.test(static_cast<size_t>(id_of("CALL>["))));
  EXPECT_EQ(c.phase(), OutputConstraint::Phase::free);
  feed(c, {"CALL", ">"});
  EXPECT_EQ(c.phase(), OutputConstraint::Phase::grammar);
  m = step_mask(c);
  EXPECT_TRUE(m.constrained);
  EXPECT_TRUE(m.allowed.test(static_cast<size_t>(id_of("["))));
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of("Let"))));
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(eot())));
}

TEST(ToolCallMode, RandomCallsAlwaysParseAndValidate) {
  auto spec = ConstraintSpec::tool_calls(tools(), {}, vocabulary());
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    OutputConstraint c(spec, false);
    feed(c, {"Let", "<TOOLCALL>"});
    const std::string block = walk_grammar(c, rng);
    ASSERT_EQ(c.phase(), OutputConstraint::Phase::free) << block;
    expect_valid_block(block);
    if (HasFatalFailure()) return;
    EXPECT_FALSE(step_mask(c).allowed.none());  // free text or the end of the turn may follow
  }
}

TEST(ToolCallMode, TriggerInsideThinkingIsText) {
  auto spec = ConstraintSpec::tool_calls(tools(), {}, vocabulary());
  OutputConstraint c(spec, true);
  feed(c, {"<think>", "<TOOLCALL>oops"});
  EXPECT_EQ(c.phase(), OutputConstraint::Phase::thinking);
  EXPECT_FALSE(step_mask(c).constrained);
  feed(c, {"</think>", ">\n\n"});
  EXPECT_EQ(c.phase(), OutputConstraint::Phase::free);
  feed(c, {"<TOOLCALL>"});
  EXPECT_EQ(c.phase(), OutputConstraint::Phase::grammar);
  EXPECT_EQ(c.calls_started(), 1u);
}

TEST(ToolCallMode, NoneBansEveryTokenThatCompletesTheTrigger) {
  auto spec = ConstraintSpec::tool_calls(tools(), {ToolChoiceMode::none, ""}, vocabulary());
  OutputConstraint c(spec, false);
  StepMask m = step_mask(c);
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of("<TOOLCALL>"))));
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of("<TOOLCALL>[{\"name\""))));
  feed(c, {"<TOOL", "CALL"});
  m = step_mask(c);
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of(">"))));
  EXPECT_FALSE(m.allowed.test(static_cast<size_t>(id_of(">["))));
  EXPECT_TRUE(m.allowed.test(static_cast<size_t>(id_of("."))));
}

TEST(ToolCallMode, RequiredStartsWithTheBlockAndNamedPicksTheTool) {
  std::mt19937_64 rng(2);
  auto required = ConstraintSpec::tool_calls(tools(), {ToolChoiceMode::required, ""}, vocabulary());
  for (int i = 0; i < 50; ++i) {
    OutputConstraint c(required, false);
    EXPECT_FALSE(step_mask(c).allowed.test(static_cast<size_t>(id_of("Let"))));
    const std::string text = walk_grammar(c, rng);
    const size_t at = text.find("<TOOLCALL>");
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_EQ(text.find_first_not_of(" \t\r\n"), at) << text;
    expect_valid_block(text.substr(at + 10));
    ASSERT_EQ(c.phase(), OutputConstraint::Phase::free);  // one block; no second may start
    EXPECT_FALSE(step_mask(c).allowed.test(static_cast<size_t>(id_of("<TOOLCALL>"))));
    EXPECT_TRUE(step_mask(c).allowed.test(static_cast<size_t>(eot())));
  }
  auto named = ConstraintSpec::tool_calls(tools(), {ToolChoiceMode::named, "add"}, vocabulary());
  for (int i = 0; i < 50; ++i) {
    OutputConstraint c(named, false);
    const std::string text = walk_grammar(c, rng);
    const std::string block = text.substr(text.find("<TOOLCALL>") + 10);
    expect_valid_block(block);
    const json::value calls = json::parse(block.substr(0, block.size() - 11));
    for (const json::value& call : calls.as_array()) {
      EXPECT_EQ(call.at("name").as_string(), "add");
    }
  }
  EXPECT_THROW(ConstraintSpec::tool_calls(tools(), {ToolChoiceMode::named, "missing"}, vocabulary()), GrammarError);
}

TEST(ToolCallMode, ASchemaErrorNamesTheToolKeywordAndPointer) {
  const std::vector<ToolGrammarSpec> bad = {
      {"ok", json::parse(R"({"type":"object"})")},
      {"lookup", json::parse(R"({"type":"object","properties":{"q":{"type":"string","if":{}}}})")}};
  try {
    ConstraintSpec::tool_calls(bad, {}, vocabulary());
    FAIL() << "no error";
  } catch (const ToolSchemaError& e) {
    EXPECT_EQ(e.tool(), "lookup");
    EXPECT_EQ(e.keyword(), "if");
    EXPECT_EQ(e.pointer(), "/properties/q/if");
    EXPECT_NE(std::string(e.what()).find("tool 'lookup'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tool_call_grammar(std::vector<ToolGrammarSpec>{{"bad name", json::value()}}), GrammarError);
  EXPECT_THROW(tool_call_grammar(std::vector<ToolGrammarSpec>{{"a", json::value()}, {"a", json::value()}}), GrammarError);
}

TEST(ResponseFormat, TheAnswerIsOneValueThenTheStopToken) {
  auto spec = ConstraintSpec::json_schema(tools()[1].parameters, vocabulary());
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50; ++i) {
    OutputConstraint c(spec, i % 2 == 1);
    if (i % 2 == 1) feed(c, {"<think>", "Let", "</think>"});
    const std::string text = walk_grammar(c, rng);
    EXPECT_EQ(c.phase(), OutputConstraint::Phase::done) << text;
    const json::value v = json::parse(text);
    EXPECT_TRUE(v.at("a").is_int64() && v.at("b").is_int64()) << text;
  }
}

TEST(ToolCallMode, AForcedTokenOutsideTheGrammarFailsClosedOnce) {
  auto spec = ConstraintSpec::tool_calls(tools(), {}, vocabulary());
  OutputConstraint c(spec, false);
  feed(c, {"<TOOLCALL>", "["});
  c.accept(id_of("Let"));  // past the mask, as if constraints were off for this token
  EXPECT_TRUE(c.failed());
  EXPECT_NE(c.error().find("output byte 11"), std::string::npos) << c.error();
  EXPECT_FALSE(step_mask(c).constrained);  // from now on the chat parser reports the text
  const std::string first = c.error();
  c.accept(id_of("}"));
  EXPECT_EQ(c.error(), first);
}

TEST(ToolCallMode, ForcedBytesAfterTheTriggerWithOneTool) {
  auto spec = ConstraintSpec::tool_calls(std::vector<ToolGrammarSpec>{tools()[0]}, {}, vocabulary(),
                                         ToolCallGrammarOptions{0, true, 0});
  OutputConstraint c(spec, false);
  feed(c, {"<TOOLCALL>"});
  EXPECT_EQ(c.forced_bytes(), R"([{"name":"get_weather","arguments":{"city":")");
}

}  // namespace
}  // namespace ragent::grammar
