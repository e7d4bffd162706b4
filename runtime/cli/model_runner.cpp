#include "runtime/cli/model_runner.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <random>
#include <algorithm>
#include <vector>

#include <boost/json.hpp>

#include "engine/cpu_backend.hpp"
#include "engine/gguf.hpp"
#include "engine/tokenizer_load.hpp"

namespace ragent::cli {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> interrupted{false};  // set by the SIGINT handler

extern "C" void on_interrupt(int) { interrupted.store(true); }

// Reads the file once so its pages are in memory, printing a percentage now and then.
void read_through(const fs::path& path, uint64_t size_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(size_t{16} << 20);
  uint64_t done = 0;
  int shown = -1;
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    done += static_cast<uint64_t>(in.gcount());
    const int percent = static_cast<int>(done * 100 / std::max<uint64_t>(size_bytes, 1));
    if (percent / 10 != shown / 10) {
      std::fprintf(stderr, "  reading %3d%%\n", percent);
      shown = percent;
    }
  }
}

std::optional<std::string> find_chat_template(const fs::path& path) {
  if (!fs::is_directory(path)) return engine::GgufFile::open(path).get_string("tokenizer.chat_template");
  std::ifstream in(path / "tokenizer_config.json", std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  boost::system::error_code ec;
  const auto config = boost::json::parse(text, ec);
  if (ec || !config.is_object()) return std::nullopt;
  const auto* tpl = config.as_object().if_contains("chat_template");
  if (tpl && tpl->is_string()) return std::string(tpl->as_string());
  return std::nullopt;
}

}  // namespace

void add_sampling_options(CLI::App& cmd, SamplingOptions& options) {
  cmd.add_option("-n,--max-tokens", options.max_tokens, "most tokens to generate")->check(CLI::PositiveNumber);
  cmd.add_option("--temp", options.temperature, "temperature; 0 picks the most likely token")->check(CLI::NonNegativeNumber);
  cmd.add_option("--seed", options.seed, "random seed for sampling (default: random)");
}

engine::SamplerParams sampler_params(const SamplingOptions& options) {
  engine::SamplerParams params;
  params.temperature = options.temperature;
  params.seed = options.seed ? *options.seed : std::random_device{}();
  return params;
}

uint64_t model_file_bytes(const std::string& path_text) {
  const fs::path path(path_text);
  if (!fs::is_directory(path)) return fs::file_size(path);
  uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") total += entry.file_size();
  }
  return total;
}

std::unique_ptr<engine::Model> load_model_weights(const std::string& path_text) {
  const fs::path path(path_text);
  if (!fs::exists(path)) throw engine::EngineError(path_text + ": no such file or directory");
  const uint64_t size_bytes = model_file_bytes(path_text);
  std::fprintf(stderr, "loading %s (%.1f MiB)\n", path_text.c_str(), static_cast<double>(size_bytes) / (1 << 20));
  const auto start = std::chrono::steady_clock::now();
  if (!fs::is_directory(path) && size_bytes >= (uint64_t{256} << 20)) read_through(path, size_bytes);
  auto model = std::make_unique<engine::Model>(engine::Model::load(path));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& config = model->config();
  std::fprintf(stderr, "loaded %s: %lld layers, hidden %lld, vocab %lld, context %lld, in %.2f s\n",
               std::string(engine::model_arch_name(config.arch)).c_str(), static_cast<long long>(config.n_layers()),
               static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size),
               static_cast<long long>(config.context_length), seconds);
  return model;
}

LoadedModel load_model(const std::string& path_text, int threads, uint64_t kv_cache_mib) {
  const fs::path path(path_text);
  LoadedModel loaded{load_model_weights(path_text), engine::load_tokenizer(path), find_chat_template(path), nullptr};
  loaded.engine = std::make_unique<engine::Engine>(
      *loaded.model, std::make_unique<engine::CpuBackend>(*loaded.model, engine::CpuBackendOptions{.threads = threads}),
      loaded.tokenizer, engine::EngineOptions{.kv_cache_bytes = kv_cache_mib << 20});
  return loaded;
}

engine::ChatFormat pick_chat_format(const LoadedModel& loaded, const std::string& name) {
  if (!name.empty()) return engine::chat_format_from_name(name);
  return engine::detect_chat_format(loaded.chat_template, engine::model_arch_name(loaded.model->config().arch));
}

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a read from the terminal returns, so chat can quit
  sigaction(SIGINT, &action, nullptr);
}

engine::GenerationEvent run_to_end(engine::Engine& engine, engine::GenerationRequest request,
                                   const std::function<void(const engine::GenerationEvent&)>& on_event) {
  // Shared with the callback: the engine thread may still be inside set_value when we return.
  auto final_event = std::make_shared<std::promise<engine::GenerationEvent>>();
  auto done = final_event->get_future();
  const engine::CancellationToken cancellation = request.cancellation;
  interrupted.store(false);
  engine.submit(std::move(request), [final_event, &on_event](const engine::GenerationEvent& event) {
    if (!event.finished()) {
      on_event(event);
      return;
    }
    on_event(event);  // before set_value: after it, on_event may be gone
    final_event->set_value(event);
  });
  while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (interrupted.exchange(false)) cancellation.cancel();
  }
  return done.get();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw engine::EngineError(path + ": cannot open for reading");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The JSON document in `file`, or an error naming file:line:column.
boost::json::value read_json_file(const std::string& file) {
  const std::string text = read_text_file(file);
  boost::json::stream_parser p;
  boost::json::error_code ec;
  size_t used = p.write_some(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    used = std::min(used, text.size());
    const size_t line = static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(used), '\n')) + 1;
    const size_t line_start = text.rfind('\n', used == 0 ? 0 : used - 1);
    const size_t column = used - (line_start == std::string::npos || used == 0 ? 0 : line_start + 1) + 1;
    throw engine::EngineError(file + ":" + std::to_string(line) + ":" + std::to_string(column) +
                              ": not JSON: " + ec.message());
  }
  return p.release();
}

std::string speed_report(const engine::GenerationStats& s) {
  auto rate = [](double tokens, double ms) { return ms > 0 ? tokens * 1000.0 / ms : 0.0; };
  const int decodes = std::max(0, s.generated_tokens - 1);  // the first token comes with the prompt
  // Tokens found in the KV cache were not prefilled: the rate counts only those that were.
  const int prefilled = s.prompt_tokens - s.cached_tokens;
  char cached[64] = "";
  if (s.cached_tokens > 0) std::snprintf(cached, sizeof cached, ", %d cached", s.cached_tokens);
  char forced[64] = "";
  if (s.forced_tokens > 0) std::snprintf(forced, sizeof forced, ", %d of them forced by the grammar", s.forced_tokens);
  char line[384];
  std::snprintf(line, sizeof line,
                "prompt %d tokens%s in %.1f ms (%.1f tokens/s), generation %d tokens%s in %.1f ms (%.1f tokens/s)",
                s.prompt_tokens, cached, s.prompt_ms, rate(prefilled, s.prompt_ms), s.generated_tokens, forced,
                s.generation_ms, rate(decodes, s.generation_ms));
  return line;
}

}  // namespace ragent::cli
