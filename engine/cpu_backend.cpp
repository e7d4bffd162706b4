// CPU forward pass. CpuBackend::forward reads top-down: embed, then per layer the attention
// step and the FFN step its kind calls for, then the final norm and the output projection.
// The helpers above it are the steps; shapes are row-major [tokens, width].
#include "engine/cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <thread>

#include "engine/cpu_matmul.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine {

namespace {

// Keys read from the cache per step of the online softmax.
constexpr int64_t kKeyBlockTokens = 64;

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// Rotation speed of each rotated pair, in radians per position, with the model's scaling:
// theta^(-2i/rope_dim), then linear (divide), llama3 (divide long wavelengths by the factor,
// blend the band between), and GGUF's per-frequency divisors (rope_freqs).
std::vector<double> rope_inv_freq(const ModelConfig& c, const ModelWeights& w) {
  const int64_t half = c.rope_dim / 2;
  std::vector<double> inv_freq(sz(half));
  const RopeScaling& rs = c.rope_scaling;
  for (int64_t i = 0; i < half; ++i) {
    double f = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim));
    if (rs.type == RopeScalingType::Linear) {
      f /= rs.factor;
    } else if (rs.type == RopeScalingType::Llama3) {
      const double original = static_cast<double>(rs.original_context_length);
      const double wavelength = 2.0 * std::numbers::pi / f;
      if (wavelength > original / rs.low_freq_factor) {
        f /= rs.factor;
      } else if (wavelength >= original / rs.high_freq_factor) {
        const double smooth = (original / wavelength - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / rs.factor + smooth * f;
      }
    }
    inv_freq[sz(i)] = f;
  }
  if (c.has_rope_freqs) {
    std::vector<float> divisors(sz(half));
    read_weight_vector(w.rope_freqs, divisors.data());
    for (int64_t i = 0; i < half; ++i) inv_freq[sz(i)] /= static_cast<double>(divisors[sz(i)]);
  }
  return inv_freq;
}

// cos and sin of every token's angle per pair: [n, rope_dim / 2] each. Angles are formed in
// double: at position 10^5 an f32 angle would be off by ~10^-2 radians.
struct RopeTable {
  std::vector<float> cos, sin;
  int64_t half = 0;
};

RopeTable rope_table(const std::vector<double>& inv_freq, const int32_t* positions, int64_t n) {
  RopeTable t;
  t.half = static_cast<int64_t>(inv_freq.size());
  t.cos.resize(sz(n * t.half));
  t.sin.resize(sz(n * t.half));
  for (int64_t tok = 0; tok < n; ++tok) {
    for (int64_t i = 0; i < t.half; ++i) {
      const double angle = static_cast<double>(positions[tok]) * inv_freq[sz(i)];
      t.cos[sz(tok * t.half + i)] = static_cast<float>(std::cos(angle));
      t.sin[sz(tok * t.half + i)] = static_cast<float>(std::sin(angle));
    }
  }
  return t;
}

// Rotates the leading rope_dim values of each head of v ([n, n_heads * head_dim]) in place.
void apply_rope(float* v, int64_t n, int64_t n_heads, int64_t head_dim, RopeLayout layout, const RopeTable& t) {
  for (int64_t tok = 0; tok < n; ++tok) {
    const float* cos = t.cos.data() + tok * t.half;
    const float* sin = t.sin.data() + tok * t.half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* head = v + (tok * n_heads + h) * head_dim;
      for (int64_t i = 0; i < t.half; ++i) {
        float& a = layout == RopeLayout::RotateHalf ? head[i] : head[2 * i];
        float& b = layout == RopeLayout::RotateHalf ? head[i + t.half] : head[2 * i + 1];
        const float a0 = a;
        const float b0 = b;
        a = a0 * cos[i] - b0 * sin[i];
        b = b0 * cos[i] + a0 * sin[i];
      }
    }
  }
}

// out[t] = x[t] / rms(x[t]) * weight, for n rows of width dim.
void rms_norm(const float* x, const std::vector<float>& weight, int64_t n, int64_t dim, double eps, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * dim;
    double sum_squares = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum_squares += static_cast<double>(row[i]) * row[i];
    const auto inv_rms = static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(dim) + eps));
    for (int64_t i = 0; i < dim; ++i) out[t * dim + i] = row[i] * inv_rms * weight[sz(i)];
  }
}

std::vector<float> weight_vector(const TensorView& w) {
  std::vector<float> v(sz(w.element_count()));
  read_weight_vector(w, v.data());
  return v;
}

// y[t] += bias for n rows, when the model has the bias.
void add_bias(float* y, const TensorView& bias, int64_t n) {
  if (!bias.present()) return;
  const std::vector<float> b = weight_vector(bias);
  const auto dim = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += b[sz(i)];
  }
}

void add_into(float* x, const float* delta, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += delta[i];
}

// Grouped-query attention of n new queries ([n, n_heads * head_dim]) over cache slots
// [0, n_slots) of `layer`, streaming key blocks with an online softmax: per (query, head) a
// running maximum, denominator and weighted value sum, rescaled when the maximum grows.
// A query at position p sees the slots whose position is <= p.
struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
};

struct AttentionCall {
  const float* q;
  int64_t n;
  const int32_t* positions;
  int64_t layer;
  const SequenceCache& cache;
  int64_t n_slots;
  AttentionShape s;
  float* out;  // [n, n_heads * head_dim]
};

// Heads [h_begin, h_end) of every query; the other heads' outputs are not touched.
void attend_heads(const AttentionCall& a, int64_t h_begin, int64_t h_end) {
  const AttentionShape& s = a.s;
  const int64_t q_dim = s.n_heads * s.head_dim;
  const int64_t kv_dim = s.n_kv_heads * s.head_dim;
  const int64_t group = s.n_heads / s.n_kv_heads;
  const int64_t heads = h_end - h_begin;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  std::vector<float> running_max(sz(a.n * heads), kNone);
  std::vector<float> denominator(sz(a.n * heads), 0.0f);
  std::vector<float> keys(sz(kKeyBlockTokens * kv_dim)), values(sz(kKeyBlockTokens * kv_dim));
  std::vector<float> scores(sz(kKeyBlockTokens));
  std::vector<int32_t> key_positions(sz(kKeyBlockTokens));
  for (int64_t t = 0; t < a.n; ++t) std::fill_n(a.out + t * q_dim + h_begin * s.head_dim, heads * s.head_dim, 0.0f);

  for (int64_t start = 0; start < a.n_slots; start += kKeyBlockTokens) {
    const int64_t m = std::min(kKeyBlockTokens, a.n_slots - start);
    a.cache.read(a.layer, start, m, keys.data(), values.data());
    for (int64_t j = 0; j < m; ++j) key_positions[sz(j)] = a.cache.position(start + j);
    for (int64_t t = 0; t < a.n; ++t) {
      for (int64_t h = h_begin; h < h_end; ++h) {
        const float* qh = a.q + t * q_dim + h * s.head_dim;
        const int64_t kv_offset = (h / group) * s.head_dim;
        float block_max = kNone;
        for (int64_t j = 0; j < m; ++j) {
          if (key_positions[sz(j)] > a.positions[t]) {
            scores[sz(j)] = kNone;
            continue;
          }
          const float* kj = keys.data() + j * kv_dim + kv_offset;
          float dot = 0.0f;
          for (int64_t d = 0; d < s.head_dim; ++d) dot += qh[d] * kj[d];
          scores[sz(j)] = dot * scale;
          block_max = std::max(block_max, scores[sz(j)]);
        }
        if (block_max == kNone) continue;
        const size_t state = sz(t * heads + (h - h_begin));
        const float new_max = std::max(running_max[state], block_max);
        const float rescale = std::exp(running_max[state] - new_max);  // 0 for the first block
        float* acc = a.out + t * q_dim + h * s.head_dim;
        denominator[state] *= rescale;
        for (int64_t d = 0; d < s.head_dim; ++d) acc[d] *= rescale;
        for (int64_t j = 0; j < m; ++j) {
          if (scores[sz(j)] == kNone) continue;
          const float weight = std::exp(scores[sz(j)] - new_max);
          denominator[state] += weight;
          const float* vj = values.data() + j * kv_dim + kv_offset;
          for (int64_t d = 0; d < s.head_dim; ++d) acc[d] += weight * vj[d];
        }
        running_max[state] = new_max;
      }
    }
  }
  for (int64_t t = 0; t < a.n; ++t) {
    for (int64_t h = h_begin; h < h_end; ++h) {
      const float denom = denominator[sz(t * heads + (h - h_begin))];
      float* acc = a.out + t * q_dim + h * s.head_dim;
      for (int64_t d = 0; d < s.head_dim; ++d) acc[d] /= denom;  // denom >= 1: a query sees itself
    }
  }
}

// Attention with fewer multiply-adds than this runs on the calling thread.
constexpr int64_t kParallelAttentionWork = int64_t{1} << 20;

// Splits the heads over a few std::threads when the work is large. (The fast kernels' thread
// pool replaces this together with the matmul seam.)
void attend(const AttentionCall& a) {
  const int64_t work = a.n * a.n_slots * a.s.n_heads * a.s.head_dim;
  const int64_t n_threads = std::min<int64_t>(
      a.s.n_heads, work < kParallelAttentionWork ? 1 : std::max(1u, std::thread::hardware_concurrency()));
  const int64_t per_thread = (a.s.n_heads + n_threads - 1) / n_threads;
  std::vector<std::jthread> workers;
  for (int64_t begin = per_thread; begin < a.s.n_heads; begin += per_thread) {
    workers.emplace_back([&a, begin, per_thread] { attend_heads(a, begin, std::min(a.s.n_heads, begin + per_thread)); });
  }
  attend_heads(a, 0, std::min(a.s.n_heads, per_thread));
}

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void check_computable(const TensorView& w) {
  if (w.present()) compute_type(w);
}

// A sequence's rows within a batched pass: activations rows [row, row + n) are its new tokens,
// at positions[0..n), whose keys and values go into cache slots first_slot.. .
struct Segment {
  int64_t row;
  int64_t n;
  const int32_t* positions;
  SequenceCache* cache;
  int64_t first_slot;
};

// The steps of one layer for the n tokens of all segments, on x [n, hidden] in place. Weight
// products run once over all n rows; attention runs per segment over its own cache.
struct LayerStep {
  kernels::ThreadPool& pool;
  const ModelConfig& c;
  const LayerConfig& l;
  const LayerWeights& w;
  int64_t layer;
  int64_t n;
  std::span<const Segment> segments;

  std::vector<float> normed() const { return std::vector<float>(sz(n * c.hidden_size)); }

  // x += W (norm(x)): deci's linear replacement of attention or the FFN.
  void linear_block(float* x, const TensorView& norm, const TensorView& map) const {
    std::vector<float> xn = normed(), delta = normed();
    rms_norm(x, weight_vector(norm), n, c.hidden_size, c.rms_eps, xn.data());
    matmul(pool, map, xn.data(), n, delta.data());
    add_into(x, delta.data(), n * c.hidden_size);
  }

  // x += Wo attention(rope(Wq xn + bq), rope(Wk xn + bk), Wv xn + bv) (+ bo), with xn = norm(x);
  // each segment's new keys and values go into its cache before it attends.
  void attention(float* x, const RopeTable& rope) const {
    const int64_t q_dim = l.n_heads * c.head_dim;
    const int64_t kv_dim = l.n_kv_heads * c.head_dim;
    std::vector<float> xn = normed();
    std::vector<float> q(sz(n * q_dim)), k(sz(n * kv_dim)), v(sz(n * kv_dim)), mixed(sz(n * q_dim));
    rms_norm(x, weight_vector(w.attn_norm), n, c.hidden_size, c.rms_eps, xn.data());
    matmul(pool, w.wq, xn.data(), n, q.data());
    matmul(pool, w.wk, xn.data(), n, k.data());
    matmul(pool, w.wv, xn.data(), n, v.data());
    add_bias(q.data(), w.bq, n);
    add_bias(k.data(), w.bk, n);
    add_bias(v.data(), w.bv, n);
    apply_rope(q.data(), n, l.n_heads, c.head_dim, c.rope_layout, rope);
    apply_rope(k.data(), n, l.n_kv_heads, c.head_dim, c.rope_layout, rope);
    for (const Segment& s : segments) {
      for (int64_t t = 0; t < s.n; ++t) {
        const int64_t r = s.row + t;
        s.cache->write(layer, s.first_slot + t, k.data() + r * kv_dim, v.data() + r * kv_dim);
      }
      attend({q.data() + s.row * q_dim, s.n, s.positions, layer, *s.cache, s.first_slot + s.n,
              {l.n_heads, l.n_kv_heads, c.head_dim}, mixed.data() + s.row * q_dim});
    }
    std::vector<float> delta = normed();
    matmul(pool, w.wo, mixed.data(), n, delta.data());
    add_bias(delta.data(), w.bo, n);
    add_into(x, delta.data(), n * c.hidden_size);
  }

  // x += W_down (silu(W_gate xn) * W_up xn), with xn = norm(x).
  void ffn(float* x) const {
    std::vector<float> xn = normed(), delta = normed();
    std::vector<float> gate(sz(n * l.ffn_length)), up(sz(n * l.ffn_length));
    rms_norm(x, weight_vector(w.ffn_norm), n, c.hidden_size, c.rms_eps, xn.data());
    matmul(pool, w.w_gate, xn.data(), n, gate.data());
    matmul(pool, w.w_up, xn.data(), n, up.data());
    swiglu(gate.data(), up.data(), n * l.ffn_length);
    matmul(pool, w.w_down, gate.data(), n, delta.data());
    add_into(x, delta.data(), n * c.hidden_size);
  }
};

// Why `item` cannot run, or empty.
std::string refusal(const ForwardItem& item, int64_t vocab_size) {
  if (item.n_tokens < 1) return "forward: n_tokens must be at least 1, got " + std::to_string(item.n_tokens);
  for (int64_t t = 0; t < item.n_tokens; ++t) {
    if (item.tokens[t] < 0 || item.tokens[t] >= vocab_size) {
      return "forward: token " + std::to_string(item.tokens[t]) + " at index " + std::to_string(t) +
             " is outside the vocabulary of " + std::to_string(vocab_size);
    }
    if (item.positions[t] < 0) {
      return "forward: negative position " + std::to_string(item.positions[t]) + " at index " + std::to_string(t);
    }
  }
  return {};
}

}  // namespace

CpuBackend::CpuBackend(const Model& model, CpuBackendOptions options)
    : model_(model),
      options_(options),
      pool_(std::make_unique<kernels::ThreadPool>(
          options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))) {
  const ModelWeights& w = model.weights();
  for (const TensorView* t : {&w.token_embedding, &w.output_norm, &w.output, &w.rope_freqs}) check_computable(*t);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo,
                                &l.attn_linear, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down, &l.ffn_linear}) {
      check_computable(*t);
    }
  }
  inv_freq_ = rope_inv_freq(model.config(), w);
}

CpuBackend::~CpuBackend() = default;

std::unique_ptr<SequenceCache> CpuBackend::new_sequence_cache() const {
  return std::make_unique<ContiguousSequenceCache>(model_.config(), options_.kv_type);
}

void CpuBackend::forward_batch(std::span<ForwardItem> items) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t hidden = c.hidden_size;

  // Admit the items: validate, then reserve their cache slots. A refused item is left out.
  std::vector<Segment> segments;
  std::vector<ForwardItem*> admitted;
  int64_t n = 0;
  for (ForwardItem& item : items) {
    item.error = refusal(item, c.vocab_size);
    if (!item.error.empty()) continue;
    try {
      const int64_t first_slot = item.cache->append(item.positions, item.n_tokens);
      segments.push_back({n, item.n_tokens, item.positions, item.cache, first_slot});
      admitted.push_back(&item);
      n += item.n_tokens;
    } catch (const EngineError& e) {
      item.error = e.what();
    }
  }
  if (segments.empty()) return;

  try {
    // Embed: one dequantized embedding row per token; positions side by side for RoPE.
    std::vector<float> x(sz(n * hidden));
    std::vector<int32_t> positions(sz(n));
    for (size_t i = 0; i < segments.size(); ++i) {
      const Segment& s = segments[i];
      for (int64_t t = 0; t < s.n; ++t) {
        read_weight_row(w.token_embedding, admitted[i]->tokens[t], x.data() + (s.row + t) * hidden);
        positions[sz(s.row + t)] = s.positions[t];
      }
    }
    const RopeTable rope = rope_table(inv_freq_, positions.data(), n);

    for (int64_t i = 0; i < c.n_layers(); ++i) {
      const LayerStep step{*pool_, c, c.layers[sz(i)], w.layers[sz(i)], i, n, segments};
      // Attention (or deci's linear map, or nothing), then the residual.
      switch (step.l.attention) {
        case AttentionKind::Normal: step.attention(x.data(), rope); break;
        case AttentionKind::Linear: step.linear_block(x.data(), step.w.attn_norm, step.w.attn_linear); break;
        case AttentionKind::NoOp: break;
      }
      // FFN (or deci's linear map, or nothing), then the residual.
      switch (step.l.ffn) {
        case FfnKind::Normal: step.ffn(x.data()); break;
        case FfnKind::Linear: step.linear_block(x.data(), step.w.ffn_norm, step.w.ffn_linear); break;
        case FfnKind::NoOp: break;
      }
    }

    // Final norm and output projection, for the rows that want logits: every token of an
    // all_logits item, else its last. One product over all of them.
    std::vector<float> rows;
    for (size_t i = 0; i < segments.size(); ++i) {
      const Segment& s = segments[i];
      const int64_t n_out = admitted[i]->all_logits ? s.n : 1;
      const float* first = x.data() + (s.row + s.n - n_out) * hidden;
      rows.insert(rows.end(), first, first + n_out * hidden);
    }
    const int64_t n_rows = static_cast<int64_t>(rows.size()) / hidden;
    rms_norm(rows.data(), weight_vector(w.output_norm), n_rows, hidden, c.rms_eps, rows.data());
    const bool direct = admitted.size() == 1;
    std::vector<float> logits(direct ? 0 : sz(n_rows * c.vocab_size));
    matmul(*pool_, w.output, rows.data(), n_rows, direct ? admitted[0]->logits_out : logits.data());
    if (!direct) {
      const float* from = logits.data();
      for (size_t i = 0; i < segments.size(); ++i) {
        const int64_t count = (admitted[i]->all_logits ? segments[i].n : 1) * c.vocab_size;
        std::copy_n(from, count, admitted[i]->logits_out);
        from += count;
      }
    }
  } catch (...) {
    for (const Segment& s : segments) s.cache->truncate(s.first_slot);
    throw;
  }
}

}  // namespace ragent::engine
