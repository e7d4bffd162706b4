// llama_logits: llama.cpp's next-token logits at every position of a fixed token sequence,
// in the format of bench/dump_logits.cpp, for bench/peer/same_numbers.sh.
//
// A yardstick, not part of ragent: it is compiled only by same_numbers.sh, against the
// scratch llama.cpp build that bench/peer/llama_cpp.sh makes, through llama.cpp's public
// llama.h API; our CMake build never sees it (bench/*.cpp is globbed, bench/peer/ is not).
//
//   llama_logits MODEL TOKENS OUT [THREADS] [f16|f32] [auto|on|off] [GREEDY]
//
// TOKENS: a text file of token ids (anything that is not a digit separates them). The ids go
// into ONE llama_decode at positions 0..n-1 of sequence 0 with logits requested for every
// token (n_ctx, n_batch and n_ubatch all >= n), teacher-forced; row i of OUT is
// llama_get_logits_ith(i). OUT: int32 n_rows, int32 n_vocab, then n_rows x n_vocab float32.
// The KV cache type is the 5th argument (default f16, llama.cpp's default), flash attention
// the 6th (default auto, llama.cpp's default, which the CPU backend resolves to enabled; the
// summary line on stderr says what it resolved to); every other context parameter is
// llama.cpp's default. Exit status 1 with a message on any error.
// GREEDY > 0 (7th argument): instead of the logits, OUT gets the GREEDY token ids that greedy
// decoding appends to TOKENS (argmax of each step's logits, the lowest id among equal maxima,
// one token per llama_decode), as one line of text; for bench/peer/greedy_same.sh.
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "llama.h"

namespace {

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "llama_logits: error: %s\n", message.c_str());
  std::exit(1);
}

std::vector<llama_token> read_token_ids(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(std::string("cannot open token file ") + path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<llama_token> ids;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    int64_t id = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      id = id * 10 + (text[i] - '0');
      if (id > INT32_MAX) fail("token id out of range at byte " + std::to_string(i) + " of " + path);
    }
    ids.push_back(static_cast<llama_token>(id));
  }
  if (ids.empty()) fail(std::string("no token ids in ") + path);
  return ids;
}

// Only warnings and errors from llama.cpp: the load chatter would drown the result. The
// line that says how "auto" flash attention was resolved is kept for the summary.
std::string flash_attention_line;
void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
  if (const char* at = std::strstr(text, "Flash Attention"); at != nullptr) {
    flash_attention_line = std::string(" (") + at;
    while (!flash_attention_line.empty() && flash_attention_line.back() == '\n') flash_attention_line.pop_back();
    flash_attention_line += ")";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 8) {
    std::fprintf(stderr, "usage: %s MODEL TOKENS OUT [THREADS] [f16|f32] [auto|on|off] [GREEDY]\n", argv[0]);
    return 2;
  }
  const int greedy = argc > 7 ? std::atoi(argv[7]) : 0;
  if (greedy < 0) fail(std::string("GREEDY must be at least 0, got ") + argv[7]);
  const char* model_path = argv[1];
  const char* out_path = argv[3];
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const std::string kv = argc > 5 ? argv[5] : "f16";
  const std::string flash = argc > 6 ? argv[6] : "auto";
  if (threads < 1) fail(std::string("THREADS must be at least 1, got ") + argv[4]);
  if (kv != "f16" && kv != "f32") fail("KV type must be f16 or f32, got " + kv);
  if (flash != "auto" && flash != "on" && flash != "off") fail("flash attention must be auto, on or off, got " + flash);
  const std::vector<llama_token> tokens = read_token_ids(argv[2]);
  const auto n = static_cast<int32_t>(tokens.size());

  llama_log_set(quiet_log, nullptr);
  llama_backend_init();
  llama_model_params model_params = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(model_path, model_params);
  if (model == nullptr) fail(std::string("llama.cpp cannot load ") + model_path);
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  for (int32_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) {
      fail("token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) + " is outside the vocabulary of " +
           std::to_string(n_vocab));
    }
  }

  llama_context_params ctx_params = llama_context_default_params();
  ctx_params.n_ctx = static_cast<uint32_t>(n + greedy);
  ctx_params.n_batch = static_cast<uint32_t>(n);
  ctx_params.n_ubatch = static_cast<uint32_t>(n);
  ctx_params.n_seq_max = 1;
  ctx_params.n_threads = threads;
  ctx_params.n_threads_batch = threads;
  ctx_params.type_k = kv == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
  ctx_params.type_v = ctx_params.type_k;
  ctx_params.flash_attn_type = flash == "on"    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                               : flash == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                : LLAMA_FLASH_ATTN_TYPE_AUTO;
  llama_context* ctx = llama_init_from_model(model, ctx_params);
  if (ctx == nullptr) fail(std::string("llama.cpp cannot create a context for ") + model_path);

  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int32_t i = 0; i < n; ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = greedy == 0 || i == n - 1 ? 1 : 0;
  }
  batch.n_tokens = n;
  const int64_t start_us = ggml_time_us();
  if (const int rc = llama_decode(ctx, batch); rc != 0) fail("llama_decode returned " + std::to_string(rc));

  if (greedy > 0) {
    std::string ids;
    for (int32_t step = 0; step < greedy; ++step) {
      const float* row = llama_get_logits_ith(ctx, -1);
      if (row == nullptr) fail("llama_get_logits_ith(-1) returned no logits");
      llama_token best = 0;
      for (llama_token t = 1; t < n_vocab; ++t) {
        if (row[t] > row[best]) best = t;
      }
      if (!ids.empty()) ids += ' ';
      ids += std::to_string(best);
      batch.n_tokens = 1;
      batch.token[0] = best;
      batch.pos[0] = n + step;
      batch.logits[0] = 1;
      if (const int rc = llama_decode(ctx, batch); rc != 0) fail("llama_decode returned " + std::to_string(rc));
    }
    FILE* out = std::fopen(out_path, "wb");
    if (out == nullptr) fail(std::string("cannot write ") + out_path + ": " + std::strerror(errno));
    const bool ok = std::fprintf(out, "%s\n", ids.c_str()) > 0;
    if (std::fclose(out) != 0 || !ok) fail(std::string("cannot write ") + out_path);
    std::fprintf(stderr, "llama_logits: %d greedy tokens after %d of %s in %.2f s -> %s\n", greedy, n, model_path,
                 static_cast<double>(ggml_time_us() - start_us) * 1e-6, out_path);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
  }
  const double seconds = static_cast<double>(ggml_time_us() - start_us) * 1e-6;

  FILE* out = std::fopen(out_path, "wb");
  if (out == nullptr) fail(std::string("cannot write ") + out_path + ": " + std::strerror(errno));
  bool ok = std::fwrite(&n, sizeof n, 1, out) == 1 && std::fwrite(&n_vocab, sizeof n_vocab, 1, out) == 1;
  for (int32_t i = 0; ok && i < n; ++i) {
    const float* row = llama_get_logits_ith(ctx, i);
    if (row == nullptr) fail("llama_get_logits_ith(" + std::to_string(i) + ") returned no logits");
    ok = std::fwrite(row, sizeof(float), static_cast<size_t>(n_vocab), out) == static_cast<size_t>(n_vocab);
  }
  if (std::fclose(out) != 0 || !ok) fail(std::string("cannot write ") + out_path);
  std::fprintf(stderr, "llama_logits: %d positions x %d logits of %s in %.2f s (%s KV, flash attention %s%s) -> %s\n",
               n, n_vocab, model_path, seconds, kv.c_str(), flash.c_str(), flash_attention_line.c_str(), out_path);

  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
