// ragent chat -m MODEL: an interactive chat on stdin/stdout. Each line is a user message; the
// model's answer streams back, thinking dimmed on a terminal (or marked "[thinking]" when
// stdout is not one). /think and /no_think switch thinking mode, /reset clears the history,
// end of input quits. Ctrl-C stops the answer being written (what was shown stays in the
// history); at the prompt it quits. Speeds of each turn go to stderr.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/chat_parser.hpp"
#include "engine/chat_tokenize.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/model_runner.hpp"

namespace ragent::cli {
namespace {

// Writes parser events to stdout: thinking apart from the answer, tool calls on their own line.
class ReplyPrinter {
 public:
  explicit ReplyPrinter(bool terminal) : terminal_(terminal) {}

  void print(const engine::ChatEvent& event) {
    using Kind = engine::ChatEvent::Kind;
    if (event.kind == Kind::thinking_delta) {
      if (!in_thinking_) write(terminal_ ? "\x1b[2m" : "[thinking] ");
      in_thinking_ = true;
      thinking += event.text;
      write(event.text);
      return;
    }
    end_thinking();
    if (event.kind == Kind::content_delta) {
      content += event.text;
      write(event.text);
    } else if (event.kind == Kind::tool_call) {
      calls.push_back(event.call);
      write("\n[tool call] " + event.call.name + " " + boost::json::serialize(event.call.arguments) + "\n");
    } else {
      content += event.raw;
      write("\n[unparsed output: " + event.text + "] " + event.raw + "\n");
    }
  }
  void end_thinking() {
    if (in_thinking_) write(terminal_ ? "\x1b[0m\n" : "\n[/thinking]\n");
    in_thinking_ = false;
  }

  std::string content, thinking;
  std::vector<engine::ChatToolCall> calls;

 private:
  static void write(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  bool terminal_;
  bool in_thinking_ = false;
};

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

void add_chat(CLI::App& app) {
  struct Options {
    std::string model, chat_format, system;
    SamplingOptions sampling{0.7f, std::nullopt, 1024};
    int threads = 0;
    uint64_t kv_cache_mib = 1024;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("chat", "Chat with a model on the terminal (/think, /no_think, /reset; Ctrl-D quits)");
  cmd->add_option("-m,--model", opts->model, "GGUF file or Hugging Face directory")->required();
  cmd->add_option("--chat-format", opts->chat_format, "nemotron, nemotron-v1, nemotron-v1.5, llama3 or chatml (default: detected)");
  cmd->add_option("-t,--threads", opts->threads, "threads for the weight products (default: all cores)");
  cmd->add_option("--kv-cache-mib", opts->kv_cache_mib,
                  "paged KV cache size; each turn reuses the cached history (0: no sharing)");
  cmd->add_option("--system", opts->system, "system message");
  add_sampling_options(*cmd, opts->sampling);
  cmd->callback([opts] {
    catch_interrupts();
    LoadedModel loaded = load_model(opts->model, opts->threads, opts->kv_cache_mib);
    const auto format = pick_chat_format(loaded, opts->chat_format);
    const bool terminal_in = isatty(STDIN_FILENO) != 0, terminal_out = isatty(STDOUT_FILENO) != 0;
    std::fprintf(stderr, "chat format %s; /think, /no_think, /reset; end of input quits\n",
                 std::string(engine::chat_format_name(format)).c_str());

    std::vector<engine::ChatMessage> history;
    auto reset = [&] {
      history.clear();
      if (!opts->system.empty()) history.push_back(chat_message(engine::ChatRole::system, opts->system));
    };
    reset();
    engine::ChatOptions chat_options;
    std::string line;
    while (true) {
      if (terminal_in) std::fputs("> ", stdout), std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      const std::string text = trimmed(line);
      if (text.empty()) continue;
      if (text == "/think" || text == "/no_think") {
        chat_options.thinking = text == "/think" ? engine::ThinkingMode::on : engine::ThinkingMode::off;
        std::fprintf(stderr, "(thinking %s)\n", text == "/think" ? "on" : "off");
        continue;
      }
      if (text == "/reset") {
        reset();
        std::fprintf(stderr, "(history cleared)\n");
        continue;
      }

      history.push_back(chat_message(engine::ChatRole::user, text));
      const auto prompt = engine::render_chat(format, history, chat_options);
      engine::GenerationRequest request;
      request.prompt = engine::tokenize_prompt(prompt, loaded.tokenizer);
      request.sampling = sampler_params(opts->sampling);
      request.max_tokens = opts->sampling.max_tokens;
      engine::ChatParser parser(format, engine::parser_options_for(prompt));
      ReplyPrinter printer(terminal_out);
      std::vector<engine::ChatEvent> events;
      const auto final_event = run_to_end(*loaded.engine, std::move(request), [&](const engine::GenerationEvent& e) {
        events.clear();
        parser.feed(e.text, events);
        if (e.finished()) parser.finish(events);
        for (const auto& event : events) printer.print(event);
      });
      printer.end_thinking();
      std::fputc('\n', stdout);
      std::fflush(stdout);
      if (final_event.reason == engine::FinishReason::error) {
        std::fprintf(stderr, "error: %s\n", final_event.error.c_str());
        history.pop_back();
        continue;
      }
      if (final_event.reason == engine::FinishReason::cancelled) std::fprintf(stderr, "(stopped)\n");
      engine::ChatMessage reply = chat_message(engine::ChatRole::assistant, printer.content);
      if (!printer.thinking.empty()) reply.thinking = printer.thinking;
      reply.tool_calls = printer.calls;
      history.push_back(std::move(reply));
      std::fprintf(stderr, "[%s]\n", speed_report(final_event.stats).c_str());
    }
  });
}

}  // namespace ragent::cli
