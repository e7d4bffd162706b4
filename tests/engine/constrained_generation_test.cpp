// Grammar-constrained decoding through the engine (engine/scheduler.cpp with an
// OutputConstraint): whatever the random weights prefer, JSON Schema answers parse and match,
// tool_choice required yields a call the chat parser reads, jump-forward emits the fixed
// stretches without sampling, and batching does not change a constrained request's output.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine/chat_parser.hpp"
#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/grammar/json_schema.hpp"
#include "tests/engine/byte_tokenizer.hpp"
#include "tests/engine/tiny_model.hpp"
#include "tests/support/grammar_match.hpp"

namespace ragent::engine {
namespace {

namespace json = boost::json;
using model_testing::TempDir;

constexpr int64_t kVocab = model_testing::kByteVocab;
constexpr TokenId kBos = model_testing::kByteBos;
using model_testing::byte_tokenizer;

struct Output {
  std::string text;
  GenerationEvent final_event;
};

class ConstrainedGeneration : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelConfig c;
    c.arch = ModelArch::Llama;
    c.vocab_size = kVocab;
    c.hidden_size = 64;
    c.context_length = 4096;
    c.head_dim = c.rope_dim = 16;
    c.layers.assign(2, LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 96});
    model_testing::write_tiny_gguf(model_testing::make_tiny_model(c, 21), GgmlType::F32, dir_.path() / "m.gguf");
    model_ = std::make_unique<Model>(Model::load(dir_.path() / "m.gguf"));
    engine_ = std::make_unique<Engine>(*model_, std::make_unique<CpuBackend>(*model_), byte_tokenizer());
  }

  GenerationRequest request(std::shared_ptr<const grammar::ConstraintSpec> spec, uint64_t seed, float temperature = 1.0f) {
    GenerationRequest r;
    r.prompt = {kBos, 'H', 'i', ':'};
    r.max_tokens = 400;
    r.sampling.temperature = temperature;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0f;
    r.sampling.min_p = 0.0f;
    r.sampling.seed = seed;
    r.constraint = std::make_shared<grammar::OutputConstraint>(std::move(spec), false);
    return r;
  }

  std::future<Output> submit(GenerationRequest r) {
    auto out = std::make_shared<Output>();
    auto done = std::make_shared<std::promise<Output>>();
    auto f = done->get_future();
    engine_->submit(std::move(r), [out, done](const GenerationEvent& e) {
      out->text += e.text;
      if (e.finished()) {
        out->final_event = e;
        done->set_value(*out);
      }
    });
    return f;
  }

  TempDir dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ConstrainedGeneration, JsonSchemaAnswersAlwaysMatchTheSchema) {
  const char* schemas[] = {
      R"({"type":"object","properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer","minimum":1,"maximum":14},
          "unit":{"enum":["c","f"]}},"required":["city","days"]})",
      R"({"type":"array","items":{"type":"number","minimum":-5,"maximum":5},"minItems":2,"maxItems":4})",
      R"({"anyOf":[{"type":"boolean"},{"type":"string","pattern":"^[a-z]{2,5}$"}]})",
  };
  for (const char* text : schemas) {
    const json::value schema = json::parse(text);
    auto spec = grammar::ConstraintSpec::json_schema(schema, engine_->grammar_vocabulary());
    const grammar::Grammar g = grammar::compile_json_schema(schema);
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      const Output out = submit(request(spec, seed)).get();
      EXPECT_EQ(out.final_event.reason, FinishReason::stop) << out.text << " " << out.final_event.error;
      EXPECT_TRUE(out.final_event.constraint_error.empty()) << out.final_event.constraint_error;
      // Up to four whitespace characters may open the answer (after </think> the model writes "\n\n").
      const size_t start = std::min(out.text.find_first_not_of(" \t\r\n"), out.text.size());
      EXPECT_LE(start, 4u);
      EXPECT_TRUE(grammar::testing::ReferenceMatcher(g).matches_root(out.text.substr(start))) << text << "\n -> " << out.text;
    }
  }
}

TEST_F(ConstrainedGeneration, JumpForwardEmitsFixedStretchesWithoutSampling) {
  const json::value schema = json::parse(
      R"({"type":"object","properties":{"action":{"const":"transfer_funds"},"amount_cents":{"type":"integer","minimum":0,"maximum":999}},
          "required":["action","amount_cents"]})");
  auto spec = grammar::ConstraintSpec::json_schema(schema, engine_->grammar_vocabulary());
  const Output out = submit(request(spec, 7)).get();
  const std::string answer = out.text.substr(std::min(out.text.find_first_not_of(" \t\r\n"), out.text.size()));
  ASSERT_EQ(answer.rfind(R"({"action":"transfer_funds","amount_cents":)", 0), 0u) << out.text;
  // The byte tokenizer gives one token per fixed byte; all but the last are forced.
  EXPECT_GE(out.final_event.stats.forced_tokens, 30) << out.text;
  EXPECT_LT(out.final_event.stats.forced_tokens, out.final_event.stats.generated_tokens);
}

TEST_F(ConstrainedGeneration, RequiredToolCallIsReadByTheChatParser) {
  const std::vector<grammar::ToolGrammarSpec> tools = {
      {"get_weather", json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":10}},"required":["city"]})")},
      {"add", json::parse(R"({"type":"object","properties":{"a":{"type":"integer","minimum":0,"maximum":99},
          "b":{"type":"integer","minimum":0,"maximum":99}},"required":["a","b"]})")}};
  auto spec = grammar::ConstraintSpec::tool_calls(tools, {grammar::ToolChoiceMode::required, ""}, engine_->grammar_vocabulary());
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    GenerationRequest r = request(spec, seed);
    r.max_tokens = 300;
    const Output out = submit(std::move(r)).get();
    ChatParser parser(ChatFormat::nemotron);
    std::vector<ChatEvent> events;
    parser.feed(out.text, events);
    parser.finish(events);
    size_t calls = 0;
    for (const ChatEvent& e : events) {
      ASSERT_NE(e.kind, ChatEvent::Kind::error) << e.text << ": " << e.raw;
      if (e.kind != ChatEvent::Kind::tool_call) continue;
      ++calls;
      EXPECT_TRUE(e.call.name == "get_weather" || e.call.name == "add") << e.call.name;
    }
    EXPECT_GE(calls, 1u) << out.text;
  }
}

TEST_F(ConstrainedGeneration, BatchingDoesNotChangeAConstrainedOutput) {
  const json::value schema = json::parse(R"({"type":"array","items":{"type":"string","maxLength":6},"maxItems":5})");
  auto spec = grammar::ConstraintSpec::json_schema(schema, engine_->grammar_vocabulary());
  std::vector<Output> solo;
  for (uint64_t seed = 1; seed <= 3; ++seed) solo.push_back(submit(request(spec, seed)).get());
  std::vector<std::future<Output>> together;
  for (uint64_t seed = 1; seed <= 3; ++seed) together.push_back(submit(request(spec, seed)));
  for (size_t i = 0; i < together.size(); ++i) EXPECT_EQ(together[i].get().text, solo[i].text);
}

}  // namespace
}  // namespace ragent::engine
