// Subcommands of the `ragent` binary. Each add_* registers one subcommand whose callback
// does the work; errors propagate as exceptions and main() prints them.
#pragma once

#include <CLI/CLI.hpp>

namespace ragent::cli {

// Thrown by a subcommand to end the process with `code` after unwinding (main returns it).
struct ExitStatus {
  int code = 0;
};

void add_inspect(CLI::App& app);     // ragent inspect MODEL
void add_tokenize(CLI::App& app);    // ragent tokenize / ragent detokenize
void add_quantize(CLI::App& app);    // ragent quantize IN OUT TYPE
void add_generate(CLI::App& app);    // ragent generate -m MODEL -p PROMPT
void add_chat(CLI::App& app);        // ragent chat -m MODEL
void add_bench(CLI::App& app);       // ragent bench -m MODEL
void add_embed(CLI::App& app);       // ragent embed -m MODEL -p TEXT
void add_grammar(CLI::App& app);     // ragent grammar check / ragent grammar bench

}  // namespace ragent::cli
