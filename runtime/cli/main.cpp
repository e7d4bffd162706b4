// The `ragent` command-line tool: one subcommand per file in runtime/cli/.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "runtime/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ragent: agent and RAG runtime with an in-process inference engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ragent 0.1.0");

  ragent::cli::add_inspect(app);
  ragent::cli::add_tokenize(app);
  ragent::cli::add_quantize(app);
  ragent::cli::add_generate(app);
  ragent::cli::add_chat(app);
  ragent::cli::add_bench(app);
  ragent::cli::add_embed(app);
  ragent::cli::add_grammar(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version end with 0; usage errors with 2
  } catch (const ragent::cli::ExitStatus& status) {
    return status.code;
  } catch (const std::exception& e) {
    std::cerr << "ragent: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
