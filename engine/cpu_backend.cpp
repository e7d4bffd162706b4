// CPU forward pass. CpuBackend::forward_batch reads top-down: embed, then per layer the
// attention step and the FFN step its kind calls for (run_layers), then the final norm and the
// output projection; CpuBackend::embed runs the same layers, then the final norm and pooling.
// The helpers above them are the steps; shapes are row-major [tokens, width].
#include "engine/cpu_backend.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <numbers>
#include <numeric>
#include <span>
#include <string>
#include <thread>

#include "engine/cpu_matmul.hpp"
#include "kernels/cpu/dot.hpp"
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

// y[t] += bias for n rows; an empty bias (the model has none) adds nothing.
void add_bias(float* y, const std::vector<float>& bias, int64_t n) {
  const auto dim = static_cast<int64_t>(bias.size());
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += bias[sz(i)];
  }
}

// A 1-D weight as f32, or empty when the model lacks it.
std::vector<float> optional_vector(const TensorView& w) { return w.present() ? weight_vector(w) : std::vector<float>{}; }

void add_into(float* x, const float* delta, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += delta[i];
}

// Grouped-query attention of n new queries ([n, n_heads * head_dim]) over cache slots
// [0, n_slots) of `layer`, streaming key blocks with an online softmax: per (query, head) a
// running maximum, denominator and weighted value sum, rescaled when the maximum grows.
// Causal: a query at position p sees the slots whose position is <= p; otherwise it sees every
// slot (bidirectional, for embeddings).
struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
};

struct AttentionCall {
  const float* q;
  int64_t n;
  const int32_t* positions;
  bool causal;
  int64_t layer;
  const SequenceCache& cache;
  int64_t n_slots;
  AttentionShape s;
  float* out;  // [n, n_heads * head_dim]
};

// Heads [h_begin, h_end) of every query; the other heads' outputs are not touched. Only the
// KV heads those query heads use are read from the cache. Scratch is per thread and grows to
// the largest call.
void attend_heads(const AttentionCall& a, int64_t h_begin, int64_t h_end) {
  const AttentionShape& s = a.s;
  const int64_t q_dim = s.n_heads * s.head_dim;
  const int64_t group = s.n_heads / s.n_kv_heads;
  const int64_t kv_begin = h_begin / group, kv_end = (h_end - 1) / group + 1;
  const int64_t kv_dim = (kv_end - kv_begin) * s.head_dim;  // the columns read
  const int64_t heads = h_end - h_begin;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  thread_local std::vector<float> running_max, denominator, keys, values, scores, keys_t;
  thread_local std::vector<int32_t> key_positions;
  running_max.assign(sz(a.n * heads), kNone);
  denominator.assign(sz(a.n * heads), 0.0f);
  keys.resize(sz(kKeyBlockTokens * kv_dim));
  values.resize(sz(kKeyBlockTokens * kv_dim));
  scores.resize(sz(kKeyBlockTokens));
  keys_t.resize(sz(kKeyBlockTokens * s.head_dim));
  key_positions.resize(sz(kKeyBlockTokens));
  for (int64_t t = 0; t < a.n; ++t) std::fill_n(a.out + t * q_dim + h_begin * s.head_dim, heads * s.head_dim, 0.0f);

  for (int64_t start = 0; start < a.n_slots; start += kKeyBlockTokens) {
    const int64_t m = std::min(kKeyBlockTokens, a.n_slots - start);
    a.cache.read_columns(a.layer, start, m, kv_begin * s.head_dim, kv_end * s.head_dim, keys.data(), values.data());
    int32_t newest = std::numeric_limits<int32_t>::min(), oldest = std::numeric_limits<int32_t>::max();
    for (int64_t j = 0; j < m; ++j) {
      key_positions[sz(j)] = a.cache.position(start + j);
      newest = std::max(newest, key_positions[sz(j)]);
      oldest = std::min(oldest, key_positions[sz(j)]);
    }
    for (int64_t g = kv_begin; g < kv_end; ++g) {
      const float* keys_g = keys.data() + (g - kv_begin) * s.head_dim;  // rows of kv_dim
      const int64_t g_begin = std::max(h_begin, g * group), g_end = std::min(h_end, (g + 1) * group);
      // The block laid out by dimension once per KV head, so each query's scores are plain
      // multiply-adds over 64 keys at a time. Always this way, whatever the number of queries,
      // so that a token's logits do not depend on how its prompt was cut into passes (a cached
      // prefix gives bit-identical results to prefilling it).
      kernels::transpose_rows_f32(keys_g, m, s.head_dim, kv_dim, keys_t.data());
      for (int64_t t = 0; t < a.n; ++t) {
        if (a.causal && oldest > a.positions[t]) continue;  // every key of the block is in its future
        const bool sees_all = !a.causal || newest <= a.positions[t];
        for (int64_t h = g_begin; h < g_end; ++h) {
          const float* qh = a.q + t * q_dim + h * s.head_dim;
          kernels::dot_transposed_f32(qh, keys_t.data(), m, s.head_dim, scale, scores.data());
          float block_max = kNone;
          for (int64_t j = 0; j < m; ++j) {
            if (!sees_all && key_positions[sz(j)] > a.positions[t]) scores[sz(j)] = kNone;
            block_max = std::max(block_max, scores[sz(j)]);
          }
          if (block_max == kNone) continue;
          const size_t state = sz(t * heads + (h - h_begin));
          const float new_max = std::max(running_max[state], block_max);
          const float rescale = std::exp(running_max[state] - new_max);  // 0 for the first block
          float* acc = a.out + t * q_dim + h * s.head_dim;
          const float block_sum = kernels::exp_shifted_f32(scores.data(), m, new_max);  // masked keys: 0
          denominator[state] = denominator[state] * rescale + block_sum;
          if (rescale != 1.0f) {
            for (int64_t d = 0; d < s.head_dim; ++d) acc[d] *= rescale;
          }
          kernels::accumulate_rows_f32(scores.data(), values.data() + (g - kv_begin) * s.head_dim, m, s.head_dim,
                                       kv_dim, acc);
          running_max[state] = new_max;
        }
      }
    }
  }
  for (int64_t t = 0; t < a.n; ++t) {
    for (int64_t h = h_begin; h < h_end; ++h) {
      const float inv = 1.0f / denominator[sz(t * heads + (h - h_begin))];  // >= 1: a query sees itself
      float* acc = a.out + t * q_dim + h * s.head_dim;
      for (int64_t d = 0; d < s.head_dim; ++d) acc[d] *= inv;
    }
  }
}

// Attention with fewer multiply-adds than this runs on the calling thread.
constexpr int64_t kParallelAttentionWork = int64_t{1} << 18;

// Splits the heads over the pool, whole GQA groups per thread (each thread reads the key
// blocks once for its groups), when the work is large enough to pay for the hand-off.
void attend(kernels::ThreadPool& pool, const AttentionCall& a) {
  const int64_t work = a.n * a.n_slots * a.s.n_heads * a.s.head_dim;
  if (work < kParallelAttentionWork || pool.size() == 1) {
    attend_heads(a, 0, a.s.n_heads);
    return;
  }
  const int64_t group = a.s.n_heads / a.s.n_kv_heads;
  const int64_t groups_per_chunk = std::max<int64_t>(1, a.s.n_kv_heads / pool.size());
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  pool.parallel_for(a.s.n_kv_heads, groups_per_chunk, [&](int64_t g0, int64_t g1) {
    try {
      attend_heads(a, g0 * group, g1 * group);
    } catch (...) {
      if (!failed.exchange(true)) failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);
}

void check_computable(const TensorView& w) {
  if (w.present()) compute_type(w);
}

// Grows v to at least n values and returns its data (buffers of the workspace are reused
// from call to call and never shrink).
float* at_least(std::vector<float>& v, int64_t n) {
  if (v.size() < sz(n)) v.resize(sz(n));
  return v.data();
}

}  // namespace

// The 1-D weights as f32, read once at construction: norms and biases of each layer.
struct CpuBackend::LayerVectors {
  std::vector<float> attn_norm, ffn_norm, bq, bk, bv, bo;
};

// Activation buffers of a forward pass, reused by every layer and call.
struct CpuBackend::Workspace {
  std::vector<float> x, xn, q, k, v, mixed, delta, gate, up, rows, logits;
  std::vector<int32_t> positions;
};

// A sequence's rows within a batched pass: activations rows [row, row + n) are its new tokens
// tokens[0..n) at positions[0..n), whose keys and values go into cache slots first_slot.. .
// They attend causally (generation) or to every slot of the cache (bidirectional embeddings).
struct CpuBackend::Segment {
  int64_t row;
  int64_t n;
  const int32_t* tokens;
  const int32_t* positions;
  SequenceCache* cache;
  int64_t first_slot;
  bool causal;
};

namespace {

using Segment = CpuBackend::Segment;

// The steps of one layer for the n tokens of all segments, on x [n, hidden] in place. Weight
// products run once over all n rows; attention runs per segment over its own cache.
struct LayerStep {
  kernels::ThreadPool& pool;
  const ModelConfig& c;
  const LayerConfig& l;
  const LayerWeights& w;
  const CpuBackend::LayerVectors& vec;
  CpuBackend::Workspace& ws;
  int64_t layer;
  int64_t n;
  std::span<const Segment> segments;

  // x += W (norm(x)): deci's linear replacement of attention or the FFN.
  void linear_block(float* x, const std::vector<float>& norm, const TensorView& map) const {
    float* xn = at_least(ws.xn, n * c.hidden_size);
    float* delta = at_least(ws.delta, n * c.hidden_size);
    rms_norm(x, norm, n, c.hidden_size, c.rms_eps, xn);
    matmul(pool, map, xn, n, delta);
    add_into(x, delta, n * c.hidden_size);
  }

  // x += Wo attention(rope(Wq xn + bq), rope(Wk xn + bk), Wv xn + bv) (+ bo), with xn = norm(x);
  // each segment's new keys and values go into its cache before it attends.
  void attention(float* x, const RopeTable& rope) const {
    const int64_t q_dim = l.n_heads * c.head_dim;
    const int64_t kv_dim = l.n_kv_heads * c.head_dim;
    float* xn = at_least(ws.xn, n * c.hidden_size);
    float* q = at_least(ws.q, n * q_dim);
    float* k = at_least(ws.k, n * kv_dim);
    float* v = at_least(ws.v, n * kv_dim);
    float* mixed = at_least(ws.mixed, n * q_dim);
    rms_norm(x, vec.attn_norm, n, c.hidden_size, c.rms_eps, xn);
    const MatmulOut qkv[] = {{&w.wq, q}, {&w.wk, k}, {&w.wv, v}};
    matmul_shared(pool, qkv, xn, n);
    add_bias(q, vec.bq, n);
    add_bias(k, vec.bk, n);
    add_bias(v, vec.bv, n);
    apply_rope(q, n, l.n_heads, c.head_dim, c.rope_layout, rope);
    apply_rope(k, n, l.n_kv_heads, c.head_dim, c.rope_layout, rope);
    for (const Segment& s : segments) {
      for (int64_t t = 0; t < s.n; ++t) {
        const int64_t r = s.row + t;
        s.cache->write(layer, s.first_slot + t, k + r * kv_dim, v + r * kv_dim);
      }
      attend(pool, {q + s.row * q_dim, s.n, s.positions, s.causal, layer, *s.cache, s.first_slot + s.n,
                    {l.n_heads, l.n_kv_heads, c.head_dim}, mixed + s.row * q_dim});
    }
    float* delta = at_least(ws.delta, n * c.hidden_size);
    matmul(pool, w.wo, mixed, n, delta);
    add_bias(delta, vec.bo, n);
    add_into(x, delta, n * c.hidden_size);
  }

  // x += W_down (silu(W_gate xn) * W_up xn), with xn = norm(x).
  void ffn(float* x) const {
    float* xn = at_least(ws.xn, n * c.hidden_size);
    float* gate = at_least(ws.gate, n * l.ffn_length);
    float* up = at_least(ws.up, n * l.ffn_length);
    rms_norm(x, vec.ffn_norm, n, c.hidden_size, c.rms_eps, xn);
    const MatmulOut gate_up[] = {{&w.w_gate, gate}, {&w.w_up, up}};
    matmul_shared(pool, gate_up, xn, n);
    kernels::swiglu_f32(gate, up, n * l.ffn_length);
    float* delta = at_least(ws.delta, n * c.hidden_size);
    matmul(pool, w.w_down, gate, n, delta);
    add_into(x, delta, n * c.hidden_size);
  }
};

// out = the mean of n rows of width dim, scaled to unit L2 norm when `normalize` (a zero
// vector stays zero). Sums in double.
void pool_rows(const float* rows, int64_t n, int64_t dim, bool normalize, float* out) {
  std::vector<double> mean(sz(dim), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) mean[sz(i)] += rows[t * dim + i];
  }
  double sum_squares = 0.0;
  for (double& v : mean) {
    v /= static_cast<double>(n);
    sum_squares += v * v;
  }
  const double scale = normalize && sum_squares > 0.0 ? 1.0 / std::sqrt(sum_squares) : 1.0;
  for (int64_t i = 0; i < dim; ++i) out[i] = static_cast<float>(mean[sz(i)] * scale);
}

// Why tokens[0..n) cannot run, prefixed by `op`, or empty.
std::string token_refusal(const std::string& op, const int32_t* tokens, int64_t n, int64_t vocab_size) {
  if (n < 1) return op + ": n_tokens must be at least 1, got " + std::to_string(n);
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab_size) {
      return op + ": token " + std::to_string(tokens[t]) + " at index " + std::to_string(t) +
             " is outside the vocabulary of " + std::to_string(vocab_size);
    }
  }
  return {};
}

// Why `item` cannot run, or empty.
std::string refusal(const ForwardItem& item, int64_t vocab_size) {
  if (std::string why = token_refusal("forward", item.tokens, item.n_tokens, vocab_size); !why.empty()) return why;
  for (int64_t t = 0; t < item.n_tokens; ++t) {
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
          options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))),
      workspace_(std::make_unique<Workspace>()) {
  const ModelWeights& w = model.weights();
  for (const TensorView* t : {&w.token_embedding, &w.output_norm, &w.output, &w.rope_freqs}) check_computable(*t);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo,
                                &l.attn_linear, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down, &l.ffn_linear}) {
      check_computable(*t);
    }
  }
  inv_freq_ = rope_inv_freq(model.config(), w);
  for (const LayerWeights& l : w.layers) {
    layer_vectors_.push_back({optional_vector(l.attn_norm), optional_vector(l.ffn_norm), optional_vector(l.bq),
                              optional_vector(l.bk), optional_vector(l.bv), optional_vector(l.bo)});
  }
  output_norm_ = weight_vector(w.output_norm);
}

CpuBackend::~CpuBackend() = default;

std::unique_ptr<SequenceCache> CpuBackend::new_sequence_cache() const {
  return std::make_unique<ContiguousSequenceCache>(model_.config(), options_.kv_type);
}

float* CpuBackend::run_layers(std::span<const Segment> segments, int64_t n) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t hidden = c.hidden_size;

  // Embed: one dequantized embedding row per token; positions side by side for RoPE.
  Workspace& ws = *workspace_;
  float* x = at_least(ws.x, n * hidden);
  ws.positions.resize(sz(n));
  for (const Segment& s : segments) {
    for (int64_t t = 0; t < s.n; ++t) {
      read_weight_row(w.token_embedding, s.tokens[t], x + (s.row + t) * hidden);
      ws.positions[sz(s.row + t)] = s.positions[t];
    }
  }
  const RopeTable rope = rope_table(inv_freq_, ws.positions.data(), n);

  for (int64_t i = 0; i < c.n_layers(); ++i) {
    const LayerVectors& vec = layer_vectors_[sz(i)];
    const LayerStep step{*pool_, c, c.layers[sz(i)], w.layers[sz(i)], vec, ws, i, n, segments};
    // Attention (or deci's linear map, or nothing), then the residual.
    switch (step.l.attention) {
      case AttentionKind::Normal: step.attention(x, rope); break;
      case AttentionKind::Linear: step.linear_block(x, vec.attn_norm, step.w.attn_linear); break;
      case AttentionKind::NoOp: break;
    }
    // FFN (or deci's linear map, or nothing), then the residual.
    switch (step.l.ffn) {
      case FfnKind::Normal: step.ffn(x); break;
      case FfnKind::Linear: step.linear_block(x, vec.ffn_norm, step.w.ffn_linear); break;
      case FfnKind::NoOp: break;
    }
  }
  return x;
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
      segments.push_back({n, item.n_tokens, item.tokens, item.positions, item.cache, first_slot, true});
      admitted.push_back(&item);
      n += item.n_tokens;
    } catch (const EngineError& e) {
      item.error = e.what();
    }
  }
  if (segments.empty()) return;

  try {
    const float* x = run_layers(segments, n);
    Workspace& ws = *workspace_;

    // Final norm and output projection, for the rows that want logits: every token of an
    // all_logits item, else its last. One product over all of them.
    int64_t n_rows = 0;
    for (size_t i = 0; i < segments.size(); ++i) n_rows += admitted[i]->all_logits ? segments[i].n : 1;
    float* rows = at_least(ws.rows, n_rows * hidden);
    for (size_t i = 0, at = 0; i < segments.size(); ++i) {
      const Segment& s = segments[i];
      const int64_t n_out = admitted[i]->all_logits ? s.n : 1;
      rms_norm(x + (s.row + s.n - n_out) * hidden, output_norm_, n_out, hidden, c.rms_eps, rows + at * hidden);
      at += sz(n_out);
    }
    const bool direct = admitted.size() == 1;
    float* logits = direct ? admitted[0]->logits_out : at_least(ws.logits, n_rows * c.vocab_size);
    matmul(*pool_, w.output, rows, n_rows, logits);
    if (!direct) {
      for (size_t i = 0; i < segments.size(); ++i) {
        const int64_t count = (admitted[i]->all_logits ? segments[i].n : 1) * c.vocab_size;
        std::copy_n(logits, count, admitted[i]->logits_out);
        logits += count;
      }
    }
  } catch (...) {
    for (const Segment& s : segments) s.cache->truncate(s.first_slot);
    throw;
  }
}

void CpuBackend::embed(const int32_t* tokens, int n_tokens, const EmbeddingOptions& options, float* out) {
  const ModelConfig& c = model_.config();
  const int64_t hidden = c.hidden_size;
  if (std::string why = token_refusal("embed", tokens, n_tokens, c.vocab_size); !why.empty()) throw EngineError(why);

  // The text alone at positions 0.., on a cache of its own.
  const int64_t n = n_tokens;
  std::vector<int32_t> positions(sz(n));
  std::iota(positions.begin(), positions.end(), 0);
  const std::unique_ptr<SequenceCache> cache = new_sequence_cache();
  const Segment text{0, n, tokens, positions.data(), cache.get(), cache->append(positions.data(), n), options.causal};
  const float* x = run_layers({&text, 1}, n);

  // Final norm of the rows the pooling reads, then their mean (one row for first and last).
  const int64_t first_row = options.pooling == Pooling::Last ? n - 1 : 0;
  const int64_t n_rows = options.pooling == Pooling::Mean ? n : 1;
  float* rows = at_least(workspace_->rows, n_rows * hidden);
  rms_norm(x + first_row * hidden, output_norm_, n_rows, hidden, c.rms_eps, rows);
  pool_rows(rows, n_rows, hidden, options.normalize, out);
}

}  // namespace ragent::engine
