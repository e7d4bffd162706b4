// make_model: writes a Llama-architecture GGUF with random weights and real shapes, through
// our GGUF writer, for benchmarks, demos and side-by-side runs against other runtimes.
//
//   make_model OUT [--preset tiny|llama-3.2-1b] [--tokenizer tokenizer.json] [--type F16|F32|BF16] [--seed N]
//
// With --tokenizer the file carries that vocabulary (tokenizer.ggml.*) and the model's vocab
// size follows it; without, the vocabulary is only a size and the file has no tokenizer.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf.hpp"
#include "engine/tokenizer_load.hpp"
#include "kernels/cpu/quant.hpp"

namespace {

using ragent::engine::GgmlType;

struct Shape {
  int64_t vocab, hidden, layers, heads, kv_heads, head_dim, ffn, context;
  bool tied;
  double rope_theta, rope_factor, low_freq, high_freq;
  int64_t original_context;
};

const Shape kTiny{320, 256, 2, 4, 2, 64, 512, 4096, false, 500000.0, 0.0, 1.0, 4.0, 0};
// Llama 3.2 1B: the shapes of meta-llama/Llama-3.2-1B's config.json.
const Shape kLlama32_1B{128256, 2048, 16, 32, 8, 64, 8192, 131072, true, 500000.0, 32.0, 1.0, 4.0, 8192};

// Llama 3 RoPE scaling as per-frequency divisors (rope_freqs.weight), as GGUF stores it.
std::vector<float> llama3_rope_divisors(const Shape& s) {
  std::vector<float> divisors(static_cast<size_t>(s.head_dim / 2));
  const double low_wavelen = s.original_context / s.low_freq;
  const double high_wavelen = s.original_context / s.high_freq;
  for (size_t i = 0; i < divisors.size(); ++i) {
    const double freq = std::pow(s.rope_theta, -2.0 * double(i) / double(s.head_dim));
    const double wavelen = 2.0 * M_PI / freq;
    double divisor = 1.0;
    if (wavelen > low_wavelen) {
      divisor = s.rope_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (s.original_context / wavelen - s.low_freq) / (s.high_freq - s.low_freq);
      divisor = 1.0 / ((1.0 - smooth) / s.rope_factor + smooth);
    }
    divisors[i] = static_cast<float>(divisor);
  }
  return divisors;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a random-weight Llama-architecture GGUF with real shapes"};
  std::string out, preset = "tiny", tokenizer_path, type_name = "F16";
  uint32_t seed = 1;
  app.add_option("OUT", out, "output GGUF file")->required();
  app.add_option("--preset", preset, "tiny or llama-3.2-1b")->check(CLI::IsMember({"tiny", "llama-3.2-1b"}));
  app.add_option("--tokenizer", tokenizer_path, "tokenizer.json whose vocabulary the file carries");
  app.add_option("--type", type_name, "weight type: F16, BF16 or F32")->check(CLI::IsMember({"F16", "BF16", "F32"}));
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  try {
    Shape s = preset == "tiny" ? kTiny : kLlama32_1B;
    ragent::engine::GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "random " + preset);
    if (!tokenizer_path.empty()) {
      const auto spec = ragent::engine::tokenizer_spec_from_hf_json(tokenizer_path);
      s.vocab = static_cast<int64_t>(spec.tokens.size());
      ragent::engine::write_tokenizer_spec(spec, w);
    }
    const GgmlType type = type_name == "F32" ? GgmlType::F32 : type_name == "BF16" ? GgmlType::BF16 : GgmlType::F16;
    w.set_u32("general.file_type", type == GgmlType::F32 ? 0 : type == GgmlType::F16 ? 1 : 32);
    w.set_u32("llama.block_count", static_cast<uint32_t>(s.layers));
    w.set_u32("llama.embedding_length", static_cast<uint32_t>(s.hidden));
    w.set_u32("llama.context_length", static_cast<uint32_t>(s.context));
    w.set_u32("llama.attention.head_count", static_cast<uint32_t>(s.heads));
    w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
    w.set_u32("llama.attention.key_length", static_cast<uint32_t>(s.head_dim));
    w.set_u32("llama.attention.value_length", static_cast<uint32_t>(s.head_dim));
    w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(s.ffn));
    w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_f32("llama.rope.freq_base", static_cast<float>(s.rope_theta));
    w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(s.head_dim));
    w.set_u32("llama.vocab_size", static_cast<uint32_t>(s.vocab));

    // Each tensor gets its own generator seeded from (seed, index): the file is the same
    // whatever order the writer asks for the tensors in.
    uint32_t tensor_index = 0;
    auto add = [&](const std::string& name, std::vector<int64_t> ne, bool norm) {
      const GgmlType t = norm ? GgmlType::F32 : type;
      const uint32_t tensor_seed = seed * 7919u + tensor_index++;
      w.add_tensor(name, t, std::move(ne), [t, norm, tensor_seed](std::span<std::byte> bytes) {
        std::mt19937 rng(tensor_seed);
        std::normal_distribution<float> dist(0.0f, 0.02f);
        const size_t width = t == GgmlType::F32 ? 4 : 2;
        for (size_t i = 0; i < bytes.size() / width; ++i) {
          const float v = norm ? 1.0f + dist(rng) : dist(rng);
          if (t == GgmlType::F32) {
            std::memcpy(&bytes[i * 4], &v, 4);
          } else {
            const uint16_t h = t == GgmlType::F16 ? ragent::kernels::f32_to_f16(v) : ragent::kernels::f32_to_bf16(v);
            std::memcpy(&bytes[i * 2], &h, 2);
          }
        }
      });
    };
    add("token_embd.weight", {s.hidden, s.vocab}, false);
    if (s.rope_factor > 0) {
      const auto divisors = llama3_rope_divisors(s);
      w.add_tensor("rope_freqs.weight", GgmlType::F32, {static_cast<int64_t>(divisors.size())},
                   std::as_bytes(std::span<const float>(divisors)));
    }
    for (int64_t i = 0; i < s.layers; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      add(b + "attn_norm.weight", {s.hidden}, true);
      add(b + "attn_q.weight", {s.hidden, s.heads * s.head_dim}, false);
      add(b + "attn_k.weight", {s.hidden, s.kv_heads * s.head_dim}, false);
      add(b + "attn_v.weight", {s.hidden, s.kv_heads * s.head_dim}, false);
      add(b + "attn_output.weight", {s.heads * s.head_dim, s.hidden}, false);
      add(b + "ffn_norm.weight", {s.hidden}, true);
      add(b + "ffn_gate.weight", {s.hidden, s.ffn}, false);
      add(b + "ffn_up.weight", {s.hidden, s.ffn}, false);
      add(b + "ffn_down.weight", {s.ffn, s.hidden}, false);
    }
    add("output_norm.weight", {s.hidden}, true);
    if (!s.tied) add("output.weight", {s.hidden, s.vocab}, false);
    w.write(out);
    std::fprintf(stderr, "make_model: wrote %s (%s, vocab %lld, %s)\n", out.c_str(), preset.c_str(),
                 static_cast<long long>(s.vocab), type_name.c_str());
  } catch (const std::exception& e) {
    std::cerr << "make_model: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
