// ragent grammar check --schema FILE | --gbnf FILE | --regex PATTERN
// ragent grammar bench -m MODEL --schemas DIR... [--instances N] [--seed S] [--json]
//
// check compiles a grammar as a request or agent would and prints OK with its size, or the
// error (for a schema: the keyword and its JSON pointer) and exits 1.
//
// bench measures constrained decoding on a model's vocabulary, one thread: the vocabulary
// tables once (the trie, the JSON string slice, the trigger tables), then per schema file the
// compile time (schema -> grammar -> automaton, median of 3), and N constrained random
// instances: a random walk through the allowed tokens of each step (a stop token, when allowed,
// with probability 1/2; else, with probability 3/10, a token holding one of " ] } , so strings
// and arrays end), timing every mask. Each finished instance must parse (simdjson), validate
// against the schema (tools::SchemaValidator, an implementation apart from the grammar), and
// its canonical tokenization (the tokenizer's own encode of the text) must be accepted token
// by token with every token allowed by its mask. Prints a table per schema and the pooled
// distributions, or one JSON object per line with --json.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <simdjson.h>

#include "engine/error.hpp"
#include "engine/grammar/compiled_grammar.hpp"
#include "engine/grammar/gbnf.hpp"
#include "engine/grammar/json_schema.hpp"
#include "engine/grammar/matcher.hpp"
#include "engine/grammar/regex.hpp"
#include "engine/grammar_vocabulary.hpp"
#include "engine/tokenizer_load.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/model_runner.hpp"
#include "tools/schema.hpp"

namespace ragent::cli {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct CheckOptions {
  std::string schema, gbnf, regex;
  int max_whitespace = 0;
  bool loose_objects = false;
};

void run_check(const CheckOptions& o) {
  grammar::Grammar g;
  std::string what;
  try {
    if (!o.schema.empty()) {
      what = o.schema;
      grammar::JsonSchemaOptions options;
      options.max_whitespace = o.max_whitespace;
      options.strict_objects = !o.loose_objects;
      g = grammar::compile_json_schema(read_json_file(o.schema), options);
    } else if (!o.gbnf.empty()) {
      what = o.gbnf;
      g = grammar::parse_gbnf(read_text_file(o.gbnf));
    } else {
      what = "regex";
      const grammar::RuleId root = g.declare_rule("root");
      g.define_rule(root, grammar::regex_full_match(g, o.regex));
      g.set_root(root);
    }
    const grammar::Automaton a(g);
    std::cout << "OK " << what << ": " << g.rule_count() << " rules, " << a.state_count() << " automaton states\n";
  } catch (const grammar::SchemaError& e) {
    std::cout << what << ": keyword '" << e.keyword() << "' at '" << e.pointer() << "': " << e.what() << "\n";
    throw ExitStatus{1};
  } catch (const std::exception& e) {
    std::cout << what << ": " << e.what() << "\n";
    throw ExitStatus{1};
  }
}

struct BenchOptions {
  std::string model;
  std::vector<std::string> schemas;  // directories
  int instances = 3;
  int max_tokens = 1024;
  uint64_t seed = 1;
  bool json = false;
};

struct Distribution {
  double median = 0, mean = 0, p99 = 0, max = 0;
};
Distribution distribution(std::vector<double> xs) {
  Distribution d;
  if (xs.empty()) return d;
  std::sort(xs.begin(), xs.end());
  d.median = xs[xs.size() / 2];
  d.p99 = xs[std::min(xs.size() - 1, xs.size() * 99 / 100)];
  d.max = xs.back();
  for (double x : xs) d.mean += x;
  d.mean /= static_cast<double>(xs.size());
  return d;
}

struct InstanceResult {
  std::string text;
  bool finished = false;  // a stop token came before max_tokens
  size_t tokens = 0;
};

// One constrained random walk; every mask's time goes to mask_us.
InstanceResult random_instance(grammar::Matcher& m, std::mt19937_64& rng, int max_tokens, std::vector<double>& mask_us) {
  const grammar::Vocabulary& vocab = m.grammar().vocabulary();
  std::vector<uint64_t> words(grammar::mask_words(vocab.size()));
  std::vector<int32_t> allowed, closing;
  InstanceResult r;
  m.reset();
  for (int step = 0; step < max_tokens; ++step) {
    const auto t0 = Clock::now();
    m.fill_mask(words);
    mask_us.push_back(ms_since(t0) * 1000.0);
    allowed.clear();
    closing.clear();
    bool stop_allowed = false;
    for (size_t w = 0; w < words.size(); ++w) {
      for (uint64_t b = words[w]; b != 0; b &= b - 1) {
        const auto id = static_cast<int32_t>(w * 64 + static_cast<size_t>(std::countr_zero(b)));
        if (vocab.is_stop_token(id)) {
          stop_allowed = true;
          continue;
        }
        allowed.push_back(id);
        if (vocab.token(id).find_first_of("\"]},") != std::string::npos) closing.push_back(id);
      }
    }
    if (stop_allowed && (allowed.empty() || rng() % 2 == 0)) {
      r.finished = true;
      return r;
    }
    if (allowed.empty()) return r;  // cannot happen for a grammar that accepts something
    const auto& pool = (!closing.empty() && rng() % 10 < 3) ? closing : allowed;
    const int32_t pick = pool[rng() % pool.size()];
    if (!m.accept_token(pick)) throw engine::EngineError("an allowed token was rejected: " + m.error());
    r.text += vocab.token(pick);
    ++r.tokens;
  }
  return r;
}

// The tokenizer's own tokenization of text, each token allowed by its mask and accepted.
bool canonical_tokens_fit(grammar::Matcher& m, const engine::Tokenizer& tokenizer, const std::string& text) {
  m.reset();
  for (engine::TokenId id : tokenizer.encode(text)) {
    if (!m.mask().test(static_cast<size_t>(id)) || !m.accept_token(id)) return false;
  }
  return m.can_end();
}

void run_bench(const BenchOptions& o) {
  const engine::Tokenizer tokenizer = engine::load_tokenizer(o.model);
  auto t0 = Clock::now();
  const auto vocab = engine::build_grammar_vocabulary(tokenizer);
  const double vocab_ms = ms_since(t0);
  std::vector<std::filesystem::path> files;
  for (const std::string& dir : o.schemas) {
    const size_t before = files.size();
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".json" && e.is_regular_file()) files.push_back(e.path());
    }
    if (files.size() == before) throw engine::EngineError(dir + ": no *.json schema files");
    std::sort(files.begin() + static_cast<std::ptrdiff_t>(before), files.end());
  }

  std::mt19937_64 rng(o.seed);
  std::vector<double> compile_ms_all, mask_us_all;
  size_t instances = 0, finished = 0, valid = 0, refused = 0, retokenized = 0;
  simdjson::dom::parser json_parser;
  if (!o.json) {
    std::printf("grammar bench: %s, vocabulary %zu tokens, %s, 1 thread\n", o.model.c_str(), vocab->size(), cpu_model_name().c_str());
    std::printf("vocabulary tables: %.1f ms (trie %zu nodes)\n\n", vocab_ms, vocab->trie().node_count());
    std::printf("%-34s %9s %8s %6s %9s %9s %9s %6s %6s\n", "schema", "compile", "states", "tokens", "mask p50", "mask p99",
                "mask max", "valid", "retok");
  }
  for (const auto& file : files) {
    const std::string name = file.filename().string();
    const json::value schema = read_json_file(file.string());
    std::shared_ptr<grammar::CompiledGrammar> compiled;
    std::vector<double> compile_runs;
    try {
      for (int rep = 0; rep < 3; ++rep) {
        t0 = Clock::now();
        compiled = std::make_shared<grammar::CompiledGrammar>(grammar::compile_json_schema(schema), vocab);
        compile_runs.push_back(ms_since(t0));
      }
    } catch (const std::exception& e) {
      ++refused;
      if (o.json) {
        std::cout << json::serialize(json::object{{"schema", name}, {"error", e.what()}}) << "\n";
      } else {
        std::printf("%-34s refused: %s\n", name.c_str(), e.what());
      }
      continue;
    }
    std::sort(compile_runs.begin(), compile_runs.end());
    const double compile_ms = compile_runs[1];
    compile_ms_all.push_back(compile_ms);
    const tools::SchemaValidator validator(schema);
    grammar::Matcher m(compiled);
    std::vector<double> mask_us;
    size_t tokens = 0, ok = 0, done = 0, retok = 0;
    for (int i = 0; i < o.instances; ++i) {
      const InstanceResult r = random_instance(m, rng, o.max_tokens, mask_us);
      tokens += r.tokens;
      ++instances;
      if (!r.finished) continue;
      ++done;
      simdjson::dom::element parsed;
      const bool parses = json_parser.parse(r.text).get(parsed) == simdjson::SUCCESS;
      if (parses && !validator.validate(json::parse(r.text))) ++ok;
      if (canonical_tokens_fit(m, tokenizer, r.text)) ++retok;
    }
    finished += done;
    valid += ok;
    retokenized += retok;
    const Distribution d = distribution(mask_us);
    mask_us_all.insert(mask_us_all.end(), mask_us.begin(), mask_us.end());
    if (o.json) {
      std::cout << json::serialize(json::object{{"schema", name},
                                                {"compile_ms", compile_ms},
                                                {"states", compiled->automaton().state_count()},
                                                {"instances", o.instances},
                                                {"finished", done},
                                                {"valid", ok},
                                                {"retokenized_ok", retok},
                                                {"tokens", tokens},
                                                {"mask_us", json::object{{"median", d.median}, {"mean", d.mean}, {"p99", d.p99}, {"max", d.max}}}})
                << "\n";
    } else {
      std::printf("%-34s %7.3fms %8zu %6zu %7.1fus %7.1fus %7.1fus %3zu/%zu %3zu/%zu\n", name.substr(0, 34).c_str(), compile_ms,
                  compiled->automaton().state_count(), tokens, d.median, d.p99, d.max, ok, done, retok, done);
    }
  }
  const Distribution c = distribution(compile_ms_all);
  const Distribution mk = distribution(mask_us_all);
  const auto over_5ms = std::count_if(mask_us_all.begin(), mask_us_all.end(), [](double us) { return us > 5000; });
  if (o.json) {
    std::cout << json::serialize(json::object{
                     {"summary", true}, {"cpu", cpu_model_name()}, {"vocabulary_ms", vocab_ms}, {"schemas", files.size()},
                     {"refused", refused}, {"instances", instances}, {"finished", finished}, {"valid", valid},
                     {"retokenized_ok", retokenized}, {"masks", mask_us_all.size()}, {"masks_over_5ms", over_5ms},
                     {"compile_ms", json::object{{"median", c.median}, {"mean", c.mean}, {"p99", c.p99}, {"max", c.max}}},
                     {"mask_us", json::object{{"median", mk.median}, {"mean", mk.mean}, {"p99", mk.p99}, {"max", mk.max}}}})
              << "\n";
    return;
  }
  std::printf("\n%zu schemas (%zu refused), %zu instances (%zu finished, %zu valid, %zu retokenized and accepted)\n",
              files.size(), refused, instances, finished, valid, retokenized);
  std::printf("%-22s %10s %10s %10s %10s\n", "", "median", "mean", "p99", "max");
  std::printf("%-22s %8.3fms %8.3fms %8.3fms %8.3fms\n", "compile", c.median, c.mean, c.p99, c.max);
  std::printf("%-22s %8.1fus %8.1fus %8.1fus %8.1fus   (%zu masks, %td over 5 ms)\n", "mask per token", mk.median, mk.mean,
              mk.p99, mk.max, mask_us_all.size(), over_5ms);
}

}  // namespace

void add_grammar(CLI::App& app) {
  auto* cmd = app.add_subcommand("grammar", "Compile grammars and measure constrained decoding");
  cmd->require_subcommand(1);

  auto check = std::make_shared<CheckOptions>();
  auto* c = cmd->add_subcommand("check", "Compile a JSON Schema, GBNF grammar or regex; print OK or the error (exit 1)");
  auto* schema = c->add_option("--schema", check->schema, "JSON Schema file");
  auto* gbnf = c->add_option("--gbnf", check->gbnf, "GBNF grammar file")->excludes(schema);
  c->add_option("--regex", check->regex, "a regular expression (ECMA-262 subset)")->excludes(schema)->excludes(gbnf);
  c->add_option("--max-whitespace", check->max_whitespace, "whitespace allowed between JSON tokens (0: compact)");
  c->add_flag("--loose-objects", check->loose_objects, "absent additionalProperties means true, as in JSON Schema");
  c->callback([check, c] {
    if (check->schema.empty() && check->gbnf.empty() && check->regex.empty()) {
      throw CLI::RequiredError("one of --schema, --gbnf, --regex");
    }
    (void)c;
    run_check(*check);
  });

  auto bench = std::make_shared<BenchOptions>();
  auto* b = cmd->add_subcommand("bench", "Compile times and mask times of every schema in a directory, with random instances");
  b->add_option("-m,--model", bench->model, "GGUF file, Hugging Face directory or tokenizer.json")->required();
  b->add_option("--schemas", bench->schemas, "directory of *.json schema files (repeatable)")->required();
  b->add_option("--instances", bench->instances, "random instances per schema")->check(CLI::Range(1, 1000));
  b->add_option("--max-tokens", bench->max_tokens, "tokens per instance at most")->check(CLI::Range(1, 100000));
  b->add_option("--seed", bench->seed, "random seed");
  b->add_flag("--json", bench->json, "one JSON object per schema, then a summary");
  b->callback([bench] { run_bench(*bench); });
}

}  // namespace ragent::cli
