// ragent quantize IN OUT TYPE: rewrite a GGUF model with quantized weights.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "engine/quantize.hpp"
#include "runtime/cli/commands.hpp"

namespace ragent::cli {

void add_quantize(CLI::App& app) {
  struct Options {
    std::string in, out, type;
    unsigned threads = 0;
    bool quiet = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a GGUF model: TYPE is Q8_0, Q4_K (Q4_K_M), F16 or F32");
  cmd->add_option("IN", opts->in, "input GGUF file")->required()->check(CLI::ExistingFile);
  cmd->add_option("OUT", opts->out, "output GGUF file (written atomically)")->required();
  cmd->add_option("TYPE", opts->type, "Q8_0, Q4_K, Q4_K_M, F16 or F32")->required();
  cmd->add_option("-t,--threads", opts->threads, "worker threads (default: all cores)");
  cmd->add_flag("-q,--quiet", opts->quiet, "no per-tensor progress");
  cmd->callback([opts] {
    const auto target = engine::parse_quant_target(opts->type);  // reject a bad TYPE before reading
    engine::QuantizeOptions options;
    options.threads = opts->threads;
    uint64_t in_bytes = 0, out_bytes = 0;
    options.progress = [&](const engine::QuantizeProgress& p) {
      in_bytes += p.bytes_in;
      out_bytes += p.bytes_out;
      if (opts->quiet) return;
      const auto from = engine::ggml_type_traits(static_cast<uint32_t>(p.from));
      const auto to = engine::ggml_type_traits(static_cast<uint32_t>(p.to));
      std::fprintf(stderr, "[%4zu/%4zu] %-40.*s %5s -> %-5s\n", p.tensor_index + 1, p.tensor_count,
                   static_cast<int>(p.tensor_name.size()), p.tensor_name.data(),
                   from ? std::string(from->name).c_str() : "?", to ? std::string(to->name).c_str() : "?");
    };
    const auto start = std::chrono::steady_clock::now();
    engine::quantize_model(opts->in, opts->out, opts->type, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "quantize: %s -> %s (%s): %.1f MiB -> %.1f MiB in %.1f s\n", opts->in.c_str(),
                 opts->out.c_str(), std::string(engine::quant_target_name(target)).c_str(),
                 double(in_bytes) / (1 << 20), double(out_bytes) / (1 << 20), seconds);
  });
}

}  // namespace ragent::cli
