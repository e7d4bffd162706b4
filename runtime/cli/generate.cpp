// ragent generate -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--raw] [--chat-format NAME]
//                 [--ignore-eos] [--json-schema FILE | --grammar FILE]
//
// --json-schema constrains the answer to one JSON value of the schema (then end of turn);
// --grammar to the language of a GBNF grammar. Masks and jump-forward as in the engine.
//
// Streams the continuation of PROMPT to stdout and the prompt and generation speeds to stderr.
// By default PROMPT is one user message rendered in the model's chat format with the assistant
// turn opened; --raw feeds the text as it is (BOS first when the model asks for it; special
// tokens written in the text stay plain text). Ctrl-C stops the generation, prints the speeds
// and exits with status 130.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/chat_tokenize.hpp"
#include "engine/grammar/gbnf.hpp"
#include "engine/grammar/output_constraint.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/model_runner.hpp"

namespace ragent::cli {

void add_generate(CLI::App& app) {
  struct Options {
    std::string model, prompt, chat_format, json_schema, grammar;
    bool raw = false, ignore_eos = false;
    SamplingOptions sampling;
    int threads = 0;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a model, streaming the text");
  cmd->add_option("-m,--model", opts->model, "GGUF file or Hugging Face directory")->required();
  cmd->add_option("-p,--prompt", opts->prompt, "the prompt")->required();
  cmd->add_option("-t,--threads", opts->threads, "threads for the weight products (default: all cores)");
  cmd->add_flag("--raw", opts->raw, "no chat template: the prompt text as it is, after BOS");
  cmd->add_option("--chat-format", opts->chat_format, "nemotron, nemotron-v1, nemotron-v1.5, llama3 or chatml (default: detected)");
  cmd->add_flag("--ignore-eos", opts->ignore_eos, "go on past end-of-sequence tokens (until -n or the context is full)");
  auto* schema_opt = cmd->add_option("--json-schema", opts->json_schema, "constrain the answer to a JSON value of this schema file");
  cmd->add_option("--grammar", opts->grammar, "constrain the answer to this GBNF grammar file")->excludes(schema_opt);
  add_sampling_options(*cmd, opts->sampling);
  cmd->callback([opts] {
    catch_interrupts();
    LoadedModel loaded = load_model(opts->model, opts->threads);
    const engine::Tokenizer& tokenizer = loaded.tokenizer;

    engine::GenerationRequest request;
    if (opts->raw) {
      if (tokenizer.add_bos() && tokenizer.bos() >= 0) request.prompt.push_back(tokenizer.bos());
      const auto body = tokenizer.encode(opts->prompt);
      request.prompt.insert(request.prompt.end(), body.begin(), body.end());
    } else {
      const auto format = pick_chat_format(loaded, opts->chat_format);
      const auto prompt = engine::render_chat(format, {chat_message(engine::ChatRole::user, opts->prompt)}, {});
      request.prompt = engine::tokenize_prompt(prompt, tokenizer);
    }
    request.sampling = sampler_params(opts->sampling);
    request.max_tokens = opts->sampling.max_tokens;
    if (opts->ignore_eos) request.stop_tokens = std::vector<engine::TokenId>{};
    std::shared_ptr<const grammar::ConstraintSpec> spec;
    if (!opts->json_schema.empty()) {
      spec = grammar::ConstraintSpec::json_schema(read_json_file(opts->json_schema), loaded.engine->grammar_vocabulary());
    } else if (!opts->grammar.empty()) {
      spec = grammar::ConstraintSpec::grammar(grammar::parse_gbnf(read_text_file(opts->grammar)), loaded.engine->grammar_vocabulary());
    }
    if (spec) request.constraint = std::make_shared<grammar::OutputConstraint>(spec, false);

    const auto final_event = run_to_end(*loaded.engine, std::move(request), [](const engine::GenerationEvent& e) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (final_event.reason == engine::FinishReason::error) throw engine::EngineError(final_event.error);
    if (!final_event.constraint_error.empty()) std::fprintf(stderr, "constraint: %s\n", final_event.constraint_error.c_str());
    std::fprintf(stderr, "%s (finish: %s)\n", speed_report(final_event.stats).c_str(),
                 std::string(engine::finish_reason_name(final_event.reason)).c_str());
    if (final_event.reason == engine::FinishReason::cancelled) throw ExitStatus{130};  // as for SIGINT
  });
}

}  // namespace ragent::cli
