// What `ragent generate` and `ragent chat` share: loading a model with progress on stderr,
// picking its chat format, the sampling options, and running one request to its end.
#pragma once

#include <CLI/CLI.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/chat_format.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::cli {

struct SamplingOptions {
  float temperature = 0.8f;
  std::optional<uint64_t> seed;  // unset: a random seed
  int32_t max_tokens = 256;
};

// -n/--max-tokens, --temp, --seed on `cmd`.
void add_sampling_options(CLI::App& cmd, SamplingOptions& options);
engine::SamplerParams sampler_params(const SamplingOptions& options);

// A model with its tokenizer and an engine running it on the CPU.
struct LoadedModel {
  std::unique_ptr<engine::Model> model;
  engine::Tokenizer tokenizer;
  std::optional<std::string> chat_template;  // GGUF tokenizer.chat_template or tokenizer_config.json
  std::unique_ptr<engine::Engine> engine;
};

// Bytes of a GGUF file, or of the .safetensors files in a Hugging Face directory.
uint64_t model_file_bytes(const std::string& path);

// Loads the model alone (no tokenizer, no engine): prints the size before and the load time
// after to stderr; large files are read through once first, with a percentage, so the first
// forward pass does not stall on page faults. Throws EngineError.
std::unique_ptr<engine::Model> load_model_weights(const std::string& path);

// load_model_weights (with its progress), then the tokenizer and an engine on the model.
// `threads` runs the weight products (0: one per hardware thread). `kv_cache_mib` > 0 keeps
// every request's keys and values in one paged cache of that size, so a prompt that repeats an
// earlier prefix (the history of a chat) prefills only what is new.
LoadedModel load_model(const std::string& path, int threads = 0, uint64_t kv_cache_mib = 0);

// `name` when given (chat_format_from_name), else detected from the template and architecture.
engine::ChatFormat pick_chat_format(const LoadedModel& loaded, const std::string& name);

// Ctrl-C (SIGINT) from now on cancels the request run_to_end is waiting for instead of killing
// the process. Call before loading the model.
void catch_interrupts();

// Submits `request`, calls on_event for every event (on the engine thread), and returns the
// final event once it has arrived. An interrupt cancels the request (FinishReason::cancelled).
engine::GenerationEvent run_to_end(engine::Engine& engine, engine::GenerationRequest request,
                                   const std::function<void(const engine::GenerationEvent&)>& on_event);

inline engine::ChatMessage chat_message(engine::ChatRole role, std::string text) {
  engine::ChatMessage message;
  message.role = role;
  message.content = std::move(text);
  return message;
}

// A file's bytes, or EngineError naming it.
std::string read_text_file(const std::string& path);
// The JSON document in a file, or EngineError naming file:line:column.
boost::json::value read_json_file(const std::string& path);

// The processor's model name from /proc/cpuinfo, for benchmark tables ("unknown" elsewhere).
std::string cpu_model_name();

// "prompt 12 tokens in 30.1 ms (398.7 tokens/s), generation 8 tokens in ... " for stderr.
std::string speed_report(const engine::GenerationStats& stats);

}  // namespace ragent::cli
