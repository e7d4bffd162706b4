// ragent bench -m MODEL [-p 128] [-n 32] [-b 512] [-t THREADS] [-r REPS] [--parallel 1] [--json]
//
// Prompt processing and decode speed of the CPU backend, as llama-bench measures them: each
// repetition runs a prompt of P random in-vocabulary tokens on a fresh sequence, in forward
// passes of at most B tokens ("pp P"), then N single-token forward passes after it ("tg N"),
// so tg runs at context depth P. With --parallel S, as llama-batched-bench measures without
// a shared prompt: S sequences, each with its own prompt of P tokens, are prefilled as one
// stream of S * P tokens cut into passes of at most B ("pp SxP"), then each of the N decode
// steps is one forward pass over the S sequences' next tokens ("tg SxN"); rates are aggregate
// (S * P and S * N tokens over the time). Keys and values go to the engine's paged F16 cache,
// sized for S * (P + N) tokens. Prints tokens/s as mean ± sample standard deviation over the
// repetitions, the peak resident memory of the process over those runs (model pages
// included), then the decode roofline: memory read bandwidth measured in the same run with
// the same thread count, divided by the bytes of weights one decode step reads. The table
// goes to stdout (with --json: one JSON object per line), loading progress to stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <boost/json.hpp>

#include "engine/cpu_backend.hpp"
#include "engine/kv_cache.hpp"
#include "engine/paged_sequence_cache.hpp"
#include "kernels/cpu/membw.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/model_runner.hpp"

namespace ragent::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string model;
  int prompt_tokens = 128;
  int gen_tokens = 32;
  int threads = 0;
  int repetitions = 3;
  int batch_tokens = 512;
  int parallel = 1;  // sequences prefilled and decoded together
  bool json = false;
};

// What one decode step reads and what the model holds, from its tensors.
struct WeightSummary {
  uint64_t params = 0;
  uint64_t bytes_per_token = 0;            // every layer weight, output norm and matrix, one embedding row
  std::map<std::string, int> type_counts;  // tensors per type name
};

struct Spread {
  double mean = 0, stddev = 0;
};

void for_each_layer_tensor(const engine::LayerWeights& l, auto&& fn) {
  for (const engine::TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo,
                                      &l.attn_linear, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down, &l.ffn_linear}) {
    if (t->present()) fn(*t);
  }
}

std::string type_name(engine::GgmlType type) {
  const auto traits = engine::ggml_type_traits(static_cast<uint32_t>(type));
  return traits ? std::string(traits->name) : "type " + std::to_string(static_cast<uint32_t>(type));
}

WeightSummary summarize_weights(const engine::Model& model) {
  const auto& w = model.weights();
  WeightSummary s;
  auto count = [&](const engine::TensorView& t) {
    s.params += static_cast<uint64_t>(t.element_count());
    ++s.type_counts[type_name(t.type)];
  };
  auto read_whole = [&](const engine::TensorView& t) {
    count(t);
    s.bytes_per_token += t.nbytes;
  };
  for (const auto& layer : w.layers) for_each_layer_tensor(layer, read_whole);
  read_whole(w.output_norm);
  read_whole(w.output);  // the embedding itself when tied
  if (w.rope_freqs.present()) read_whole(w.rope_freqs);
  if (!model.config().tied_embeddings) {
    count(w.token_embedding);
    s.bytes_per_token += w.token_embedding.nbytes / static_cast<uint64_t>(std::max<int64_t>(1, model.config().vocab_size));
  }
  return s;
}

Spread spread(const std::vector<double>& xs) {
  Spread s;
  if (xs.empty()) return s;
  s.mean = std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
  if (xs.size() < 2) return s;
  double sq = 0;
  for (double x : xs) sq += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(sq / static_cast<double>(xs.size() - 1));
  return s;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  return text;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return in ? one + " " + five + " " + fifteen : "unknown";
}

std::string type_mix(const WeightSummary& s) {
  std::vector<std::pair<std::string, int>> types(s.type_counts.begin(), s.type_counts.end());
  std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text;
  for (const auto& [name, n] : types) text += (text.empty() ? "" : " ") + name + ":" + std::to_string(n);
  return text;
}

// Tokens/s of each repetition for the prompt and for the decode.
struct Samples {
  std::vector<double> prompt_tokens_per_s, gen_tokens_per_s;
  uint64_t peak_rss_bytes = 0;  // after the runs, before the bandwidth measurement's arena
};

// Peak resident set of this process so far, in bytes.
uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // kilobytes on Linux
}

// Runs `items` in one forward pass; an item the backend refused fails the bench.
void forward_items(engine::Backend& backend, std::span<engine::ForwardItem> items) {
  backend.forward_batch(items);
  for (const engine::ForwardItem& item : items) {
    if (!item.error.empty()) throw engine::EngineError(item.error);
  }
}

// A pool of F16 KV blocks for `sequences` sequences of `tokens` tokens each, plus a partial
// block per sequence.
engine::KvCache bench_kv_cache(const engine::ModelConfig& config, int sequences, int tokens) {
  constexpr int32_t kBlockTokens = 16;
  const int64_t blocks = static_cast<int64_t>(sequences) * (tokens / kBlockTokens + 1);
  auto kv_config = engine::KvCacheConfig::for_model(config, 0, engine::GgmlType::F16, kBlockTokens);
  kv_config.budget_bytes = static_cast<uint64_t>(blocks) * engine::BlockPool::block_bytes_for(kv_config);
  return engine::KvCache(kv_config);
}

Samples run_repetitions(engine::Backend& backend, const engine::Model& model, const BenchOptions& o) {
  const int64_t vocab = model.config().vocab_size;
  const auto n_seq = static_cast<size_t>(o.parallel);
  std::mt19937_64 rng(20240501);
  std::uniform_int_distribution<int32_t> random_token(0, static_cast<int32_t>(vocab - 1));
  std::vector<float> logits(n_seq * static_cast<size_t>(vocab));  // one row per sequence
  // Sequence s's prompt is tokens[s * P, s * P + P), at positions 0..P-1.
  std::vector<int32_t> tokens(n_seq * static_cast<size_t>(o.prompt_tokens)), positions(static_cast<size_t>(o.prompt_tokens));
  std::iota(positions.begin(), positions.end(), 0);
  engine::KvCache kv = bench_kv_cache(model.config(), o.parallel, o.prompt_tokens + o.gen_tokens);
  using Caches = std::vector<std::unique_ptr<engine::PagedSequenceCache>>;
  std::vector<engine::ForwardItem> items;

  // The first n tokens of each of `sequences` prompts on fresh caches, as one stream of
  // sequences * n tokens cut into passes of at most B: a pass holds a piece of every sequence
  // it reaches, and only each piece's last token gets logits.
  auto forward_prompts = [&](size_t sequences, int n) {
    Caches caches;
    for (size_t s = 0; s < sequences; ++s) {
      caches.push_back(std::make_unique<engine::PagedSequenceCache>(kv, std::span<const int32_t>{}));
    }
    const int64_t total = static_cast<int64_t>(sequences) * n;
    for (int64_t at = 0; at < total;) {
      const int64_t pass_end = std::min<int64_t>(total, at + o.batch_tokens);
      items.clear();
      for (; at < pass_end;) {
        const auto s = static_cast<size_t>(at / n);
        const int offset = static_cast<int>(at % n);
        const int count = static_cast<int>(std::min<int64_t>(pass_end - at, n - offset));
        items.push_back({tokens.data() + s * static_cast<size_t>(o.prompt_tokens) + offset, count,
                         positions.data() + offset, caches[s].get(), logits.data() + s * static_cast<size_t>(vocab),
                         false, {}});
        at += count;
      }
      forward_items(backend, items);
    }
    return caches;
  };

  // One decode step: a random next token for every sequence, all in one forward pass.
  std::vector<int32_t> step_tokens(n_seq), step_positions(n_seq);
  auto decode_step = [&](Caches& caches, int32_t position) {
    items.clear();
    for (size_t s = 0; s < n_seq; ++s) {
      step_tokens[s] = random_token(rng);
      step_positions[s] = position;
      items.push_back({&step_tokens[s], 1, &step_positions[s], caches[s].get(),
                       logits.data() + s * static_cast<size_t>(vocab), false, {}});
    }
    forward_items(backend, items);
  };

  {  // warm-up, not timed: first touches of scratch buffers and the pool's threads
    const int n = std::min(o.prompt_tokens, 8);
    for (int i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = random_token(rng);
    forward_prompts(1, n);
  }
  Samples samples;
  const double prompt_total = static_cast<double>(o.parallel) * o.prompt_tokens;
  const double gen_total = static_cast<double>(o.parallel) * o.gen_tokens;
  for (int rep = 0; rep < o.repetitions; ++rep) {
    for (auto& t : tokens) t = random_token(rng);
    auto t0 = Clock::now();
    Caches caches = forward_prompts(n_seq, o.prompt_tokens);
    const double prompt_s = std::chrono::duration<double>(Clock::now() - t0).count();
    samples.prompt_tokens_per_s.push_back(prompt_total / prompt_s);

    t0 = Clock::now();
    for (int i = 0; i < o.gen_tokens; ++i) decode_step(caches, o.prompt_tokens + i);
    const double gen_s = std::chrono::duration<double>(Clock::now() - t0).count();
    samples.gen_tokens_per_s.push_back(gen_total / gen_s);
  }
  samples.peak_rss_bytes = peak_rss_bytes();
  return samples;
}

struct Report {
  std::string model_file, cpu, date, load;
  uint64_t size_bytes = 0;
  uint64_t peak_rss_bytes = 0;
  WeightSummary weights;
  int threads = 0;
  Spread pp, tg;
  std::vector<double> pp_samples, tg_samples;
  double bandwidth_bytes_per_s = 0;
};

// A test's name in the table: "pp 128", or "pp 8x512" for 8 sequences of 512 tokens.
std::string test_name(const char* kind, int tokens, int parallel) {
  const std::string count = parallel > 1 ? std::to_string(parallel) + "x" + std::to_string(tokens) : std::to_string(tokens);
  return std::string(kind) + " " + count;
}

// Decode steps per second: each step reads the weights once for all the sequences' tokens.
double decode_steps_per_s(const Report& r, const BenchOptions& o) { return r.tg.mean / o.parallel; }

void print_table(const Report& r, const BenchOptions& o) {
  const double roofline = r.bandwidth_bytes_per_s / static_cast<double>(r.weights.bytes_per_token);
  const std::string pp_test = test_name("pp", o.prompt_tokens, o.parallel);
  const std::string tg_test = test_name("tg", o.gen_tokens, o.parallel);
  std::printf("cpu: %s\ndate: %s   load average: %s\n\n", r.cpu.c_str(), r.date.c_str(), r.load.c_str());
  char size[32], params[32];
  const double size_bytes = static_cast<double>(r.size_bytes);
  if (size_bytes >= (1 << 30)) std::snprintf(size, sizeof size, "%.2f GiB", size_bytes / (1 << 30));
  else std::snprintf(size, sizeof size, "%.2f MiB", size_bytes / (1 << 20));
  const double n_params = static_cast<double>(r.weights.params);
  if (n_params >= 1e9) std::snprintf(params, sizeof params, "%.2f B", n_params / 1e9);
  else std::snprintf(params, sizeof params, "%.2f M", n_params / 1e6);
  const std::string types = type_mix(r.weights);
  const int model_w = std::max<int>(5, static_cast<int>(r.model_file.size()));
  const int types_w = std::max<int>(5, static_cast<int>(types.size()));
  const int test_w = std::max<int>(8, static_cast<int>(std::max(pp_test.size(), tg_test.size())));
  std::printf("| %-*s | %10s | %8s | %-*s | %7s | %*s | %18s |\n", model_w, "model", "size", "params", types_w, "types",
              "threads", test_w, "test", "t/s");
  std::printf("| %s | ---------: | -------: | %s | ------: | %s: | -----------------: |\n",
              std::string(static_cast<size_t>(model_w), '-').c_str(), std::string(static_cast<size_t>(types_w), '-').c_str(),
              std::string(static_cast<size_t>(test_w - 1), '-').c_str());
  auto row = [&](const std::string& test, const Spread& s) {
    char rate[48];
    std::snprintf(rate, sizeof rate, "%.2f ± %.2f", s.mean, s.stddev);
    std::printf("| %-*s | %10s | %8s | %-*s | %7d | %*s | %19s |\n", model_w, r.model_file.c_str(), size, params, types_w,
                types.c_str(), r.threads, test_w, test.c_str(), rate);  // "±" is 2 bytes: one more column
  };
  row(pp_test, r.pp);
  row(tg_test, r.tg);
  const double mib = 1024.0 * 1024.0;
  const std::string context = (o.parallel > 1 ? std::to_string(o.parallel) + " x " : "") +
                              std::to_string(o.prompt_tokens + o.gen_tokens) + " tokens";
  std::printf("\npeak RSS %.1f MiB = model file %.1f MiB + %.1f MiB (context %s, F16 KV, prompt batches of %d)\n",
              static_cast<double>(r.peak_rss_bytes) / mib, size_bytes / mib,
              (static_cast<double>(r.peak_rss_bytes) - size_bytes) / mib, context.c_str(), o.batch_tokens);
  std::printf("\ndecode roofline (threads %d, bandwidth measured in this run):\n", r.threads);
  std::printf("  memory read bandwidth    %8.2f GB/s\n", r.bandwidth_bytes_per_s / 1e9);
  std::printf("  weight bytes per token   %8.3f GB (layers + output matrix + one embedding row)\n",
              static_cast<double>(r.weights.bytes_per_token) / 1e9);
  std::printf("  roofline                 %8.2f tokens/s\n", roofline);
  const double steps = decode_steps_per_s(r, o);
  if (o.parallel == 1) {
    std::printf("  %-8s achieved        %8.2f tokens/s = %.1f%% of roofline\n", tg_test.c_str(), steps,
                100.0 * steps / roofline);
  } else {
    std::printf("  %-8s achieved        %8.2f steps/s of %d tokens = %.1f%% of roofline\n", tg_test.c_str(), steps,
                o.parallel, 100.0 * steps / roofline);
  }
}

void print_json(const Report& r, const BenchOptions& o) {
  boost::json::object common{{"model", r.model_file},
                             {"size_bytes", r.size_bytes},
                             {"params", r.weights.params},
                             {"threads", r.threads},
                             {"repetitions", o.repetitions},
                             {"batch_tokens", o.batch_tokens},
                             {"parallel", o.parallel},
                             {"peak_rss_bytes", r.peak_rss_bytes},
                             {"cpu", r.cpu},
                             {"date", r.date},
                             {"load_average", r.load}};
  boost::json::object types;
  for (const auto& [name, n] : r.weights.type_counts) types[name] = n;
  common["types"] = std::move(types);
  auto test_line = [&](const char* test, int n_tokens, const Spread& s, const std::vector<double>& samples) {
    boost::json::object line = common;
    line["test"] = test;
    line["n_tokens"] = n_tokens;
    line["tokens_per_s_mean"] = s.mean;
    line["tokens_per_s_stddev"] = s.stddev;
    line["tokens_per_s_samples"] = boost::json::array(samples.begin(), samples.end());
    std::printf("%s\n", boost::json::serialize(line).c_str());
  };
  test_line("pp", o.prompt_tokens, r.pp, r.pp_samples);
  test_line("tg", o.gen_tokens, r.tg, r.tg_samples);
  const double roofline = r.bandwidth_bytes_per_s / static_cast<double>(r.weights.bytes_per_token);
  boost::json::object line = common;
  line["test"] = "roofline";
  line["read_bandwidth_bytes_per_s"] = r.bandwidth_bytes_per_s;
  line["weight_bytes_per_token"] = r.weights.bytes_per_token;
  line["roofline_tokens_per_s"] = roofline;
  line["tg_tokens_per_s"] = r.tg.mean;
  line["tg_steps_per_s"] = decode_steps_per_s(r, o);
  line["roofline_ratio"] = decode_steps_per_s(r, o) / roofline;
  std::printf("%s\n", boost::json::serialize(line).c_str());
}

void run_bench(const BenchOptions& o) {
  auto model = load_model_weights(o.model);
  const auto& config = model->config();
  if (o.prompt_tokens + static_cast<int64_t>(o.gen_tokens) > config.context_length) {
    throw engine::EngineError("-p " + std::to_string(o.prompt_tokens) + " + -n " + std::to_string(o.gen_tokens) +
                              " tokens exceed the model's context of " + std::to_string(config.context_length));
  }
  Report r;
  r.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  r.model_file = std::filesystem::path(o.model).filename().string();
  r.size_bytes = model_file_bytes(o.model);
  r.weights = summarize_weights(*model);
  r.cpu = cpu_model_name();
  r.load = load_average();  // before the run: what else was running

  engine::CpuBackend backend(*model, engine::CpuBackendOptions{.threads = r.threads});
  const Samples samples = run_repetitions(backend, *model, o);
  r.pp_samples = samples.prompt_tokens_per_s;
  r.tg_samples = samples.gen_tokens_per_s;
  r.pp = spread(r.pp_samples);
  r.tg = spread(r.tg_samples);
  r.peak_rss_bytes = samples.peak_rss_bytes;

  kernels::ThreadPool pool(r.threads);
  r.bandwidth_bytes_per_s = kernels::measure_read_bandwidth(pool, 1.0);
  r.date = utc_now();
  if (o.json) print_json(r, o);
  else print_table(r, o);
  std::fflush(stdout);
}

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto first = line.find_first_not_of(" \t", colon + 1);
    return first == std::string::npos ? "" : line.substr(first);
  }
  return "unknown";
}


void add_bench(CLI::App& app) {
  static const CLI::Range kAtLeastOne(1, std::numeric_limits<int>::max());
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Prompt and generation tokens/s of a model, and the decode roofline");
  cmd->add_option("-m,--model", opts->model, "GGUF file or Hugging Face directory")->required();
  cmd->add_option("-p,--prompt-tokens", opts->prompt_tokens, "tokens in the timed prompt")
      ->capture_default_str()->check(kAtLeastOne);
  cmd->add_option("-n,--gen-tokens", opts->gen_tokens, "tokens decoded one at a time after the prompt")
      ->capture_default_str()->check(kAtLeastOne);
  cmd->add_option("-t,--threads", opts->threads, "threads for the weight products (default: all cores)")
      ->check(kAtLeastOne);
  cmd->add_option("-r,--repetitions", opts->repetitions, "repetitions of prompt + decode")
      ->capture_default_str()->check(kAtLeastOne);
  cmd->add_option("-b,--batch-size", opts->batch_tokens, "most prompt tokens per forward pass")
      ->capture_default_str()->check(kAtLeastOne);
  cmd->add_option("--parallel", opts->parallel,
                  "sequences with their own prompts, prefilled together and decoded in one pass per step")
      ->capture_default_str()->check(kAtLeastOne);
  cmd->add_flag("--json", opts->json, "one JSON object per line instead of the table");
  cmd->callback([opts] { run_bench(*opts); });
}

}  // namespace ragent::cli
