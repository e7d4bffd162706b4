// dump_logits: the next-token logits at every position of a fixed token sequence,
// teacher-forced in one forward pass of the CPU backend, for comparison with another
// runtime's (bench/peer/same_numbers.sh; bench/peer/llama_logits.cpp writes llama.cpp's in
// the same format).
//
//   dump_logits MODEL TOKENS OUT [-t THREADS] [--kv f16|f32] [--greedy N]
//
// TOKENS: a text file of token ids; any character that is not a digit separates them, so
// `ragent tokenize`'s "[128000, 9906, ...]" reads as it is. The ids run at positions 0..n-1
// on a fresh sequence, all in one forward pass, with logits for every token.
// OUT: int32 n_rows, int32 n_vocab, then n_rows rows of n_vocab float32 (host byte order,
// little-endian on x86), row i being the logits that predict token i + 1 from tokens 0..i.
// Keys and values are stored as F16 (--kv f16, the default, as llama.cpp's default cache) or
// F32. --greedy N: instead, OUT gets the N token ids that greedy decoding appends to TOKENS
// (argmax of each step's logits, the lowest id among equal maxima, one token per forward pass)
// as one line of text, as bench/peer/llama_logits.cpp writes llama.cpp's; for
// bench/peer/greedy_same.sh. Progress and the timing go to stderr. Exit status 1 with a message naming the file on
// any error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/model.hpp"

namespace {

// The ids in `path`, in order: runs of digits, anything else separating them.
std::vector<int32_t> read_token_ids(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open token file " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    int64_t id = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      id = id * 10 + (text[i] - '0');
      if (id > INT32_MAX) throw std::runtime_error("token id out of range at byte " + std::to_string(i) + " of " + path);
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) throw std::runtime_error("no token ids in " + path);
  return ids;
}

void write_rows(const std::string& path, const std::vector<float>& logits, int32_t n_rows, int32_t n_vocab) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&n_rows), sizeof n_rows);
  out.write(reinterpret_cast<const char*>(&n_vocab), sizeof n_vocab);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Next-token logits at every position of a token sequence, from the CPU backend"};
  std::string model_path, tokens_path, out_path, kv = "f16";
  int threads = 0;
  app.add_option("MODEL", model_path, "GGUF file or Hugging Face directory")->required();
  app.add_option("TOKENS", tokens_path, "text file of token ids")->required();
  app.add_option("OUT", out_path, "output file: int32 rows, int32 vocab, float32 logits")->required();
  app.add_option("-t,--threads", threads, "threads (default: all cores)")->check(CLI::PositiveNumber);
  app.add_option("--kv", kv, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  int greedy = 0;
  app.add_option("--greedy", greedy, "write the ids of N greedy tokens after TOKENS instead of logits")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<int32_t> tokens = read_token_ids(tokens_path);
    const auto model = ragent::engine::Model::load(model_path);
    const int64_t vocab = model.config().vocab_size;
    ragent::engine::CpuBackend backend(
        model, {.kv_type = kv == "f32" ? ragent::engine::KvType::F32 : ragent::engine::KvType::F16, .threads = threads});
    const auto n = static_cast<int>(tokens.size());
    std::vector<int32_t> positions(tokens.size());
    std::iota(positions.begin(), positions.end(), 0);
    std::vector<float> logits(tokens.size() * static_cast<size_t>(vocab));
    const auto cache = backend.new_sequence_cache();
    const auto start = std::chrono::steady_clock::now();
    if (greedy > 0) {
      std::vector<float> last(static_cast<size_t>(vocab));
      backend.forward(tokens.data(), n, positions.data(), *cache, last.data(), false);
      std::string ids;
      for (int step = 0; step < greedy; ++step) {
        const auto best = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
        if (!ids.empty()) ids += ' ';
        ids += std::to_string(best);
        const int32_t position = n + step;
        backend.forward(&best, 1, &position, *cache, last.data(), false);
      }
      std::ofstream out(out_path, std::ios::trunc);
      out << ids << "\n";
      out.close();
      if (!out) throw std::runtime_error("cannot write " + out_path);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "dump_logits: %d greedy tokens after %d of %s in %.2f s -> %s\n", greedy, n,
                   model_path.c_str(), seconds, out_path.c_str());
      return 0;
    }
    backend.forward(tokens.data(), n, positions.data(), *cache, logits.data(), true);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_rows(out_path, logits, n, static_cast<int32_t>(vocab));
    std::fprintf(stderr, "dump_logits: %d positions x %lld logits of %s in %.2f s -> %s\n", n,
                 static_cast<long long>(vocab), model_path.c_str(), seconds, out_path.c_str());
  } catch (const std::exception& e) {
    std::cerr << "dump_logits: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
