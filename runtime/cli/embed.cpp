// ragent embed -m MODEL -p TEXT [--pooling mean|last|first|model] [--no-normalize]
//              [--bidirectional | --causal] [--raw] [-t N]
//
// Prints the embedding of TEXT to stdout as one line, a JSON array of the model's hidden size
// in numbers: the final-normed hidden states of its tokens, pooled (Backend::embed). Pooling
// and attention mask default to what the model's GGUF says (pooling_type, attention.causal;
// mean pooling when it names none); the vector has unit length unless --no-normalize. TEXT is
// tokenized with the special tokens the tokenizer asks for (BOS, and EOS where add_eos is
// set, as llama.cpp does for embeddings); --raw embeds the text's own tokens alone. Loading
// progress and the speed go to stderr.
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cli/commands.hpp"
#include "runtime/cli/model_runner.hpp"

namespace ragent::cli {
namespace {

struct EmbedOptions {
  std::string model, text;
  std::string pooling = "model";
  bool no_normalize = false, bidirectional = false, causal = false, raw = false;
  int threads = 0;
};

std::vector<engine::TokenId> embedding_tokens(const engine::Tokenizer& tokenizer, const std::string& text, bool raw) {
  std::vector<engine::TokenId> tokens;
  if (!raw && tokenizer.add_bos() && tokenizer.bos() >= 0) tokens.push_back(tokenizer.bos());
  const auto body = tokenizer.encode(text);
  tokens.insert(tokens.end(), body.begin(), body.end());
  if (!raw && tokenizer.add_eos() && tokenizer.eos() >= 0) tokens.push_back(tokenizer.eos());
  return tokens;
}

engine::EmbeddingOptions embedding_options(const EmbedOptions& opts, const engine::ModelConfig& config) {
  engine::EmbeddingOptions options = engine::model_embedding_options(config);
  if (opts.pooling == "mean") options.pooling = engine::Pooling::Mean;
  if (opts.pooling == "first") options.pooling = engine::Pooling::First;
  if (opts.pooling == "last") options.pooling = engine::Pooling::Last;
  if (opts.bidirectional) options.causal = false;
  if (opts.causal) options.causal = true;
  options.normalize = !opts.no_normalize;
  return options;
}

// [v0, v1, ...] with each float in its shortest form that reads back exactly.
std::string json_array(const std::vector<float>& values) {
  std::string out = "[";
  char number[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw engine::EngineError("the embedding holds a non-finite value at index " + std::to_string(i));
    }
    if (i > 0) out += ", ";
    const auto result = std::to_chars(number, number + sizeof number, values[i]);
    out.append(number, result.ptr);
  }
  return out + "]";
}

}  // namespace

void add_embed(CLI::App& app) {
  auto opts = std::make_shared<EmbedOptions>();
  auto* cmd = app.add_subcommand("embed", "Print the embedding of a text as a JSON array");
  cmd->add_option("-m,--model", opts->model, "GGUF file or Hugging Face directory")->required();
  cmd->add_option("-p,--prompt", opts->text, "the text to embed")->required();
  cmd->add_option("-t,--threads", opts->threads, "threads for the weight products (default: all cores)");
  cmd->add_option("--pooling", opts->pooling, "mean, last, first, or model: the model's pooling type (default)")
      ->check(CLI::IsMember({"mean", "last", "first", "model"}));
  cmd->add_flag("--no-normalize", opts->no_normalize, "print the pooled vector as it is, not scaled to unit length");
  auto* bidirectional =
      cmd->add_flag("--bidirectional", opts->bidirectional, "every token attends to every token (default: the model's)");
  cmd->add_flag("--causal", opts->causal, "each token attends to the ones before it (default: the model's)")
      ->excludes(bidirectional);
  cmd->add_flag("--raw", opts->raw, "no BOS or EOS: the text's own tokens alone");
  cmd->callback([opts] {
    LoadedModel loaded = load_model(opts->model, opts->threads);
    const auto tokens = embedding_tokens(loaded.tokenizer, opts->text, opts->raw);
    const engine::EmbeddingOptions options = embedding_options(*opts, loaded.model->config());

    const auto start = std::chrono::steady_clock::now();
    auto done = std::make_shared<std::promise<engine::EmbeddingResult>>();
    auto result_future = done->get_future();
    loaded.engine->submit_embedding(tokens, options, [done](engine::EmbeddingResult r) { done->set_value(std::move(r)); });
    const engine::EmbeddingResult result = result_future.get();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!result.error.empty()) throw engine::EngineError(result.error);

    std::printf("%s\n", json_array(result.embedding).c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "embedded %zu tokens in %.1f ms (pooling %s, %s attention%s)\n", tokens.size(), ms,
                 std::string(engine::pooling_name(options.pooling)).c_str(),
                 options.causal ? "causal" : "bidirectional", options.normalize ? ", normalized" : "");
  });
}

}  // namespace ragent::cli
