#include "engine/sequence_cache.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "kernels/cpu/quant.hpp"

namespace ragent::engine {

ContiguousSequenceCache::ContiguousSequenceCache(const ModelConfig& config, KvType type) : type_(type) {
  layers_.resize(config.layers.size());
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& l = config.layers[i];
    if (l.attention == AttentionKind::Normal) layers_[i].kv_dim = l.n_kv_heads * config.head_dim;
  }
}

void ContiguousSequenceCache::grow(int64_t min_tokens) {
  if (min_tokens <= capacity_tokens_) return;
  const int64_t capacity = std::max<int64_t>({min_tokens, capacity_tokens_ * 2, 16});
  try {
    for (LayerStore& l : layers_) {
      const auto n = static_cast<size_t>(capacity * l.kv_dim);
      if (type_ == KvType::F32) {
        l.keys_f32.resize(n);
        l.values_f32.resize(n);
      } else {
        l.keys_f16.resize(n);
        l.values_f16.resize(n);
      }
    }
  } catch (const std::bad_alloc&) {
    throw EngineError("KV cache: out of memory growing to " + std::to_string(capacity) + " tokens");
  }
  capacity_tokens_ = capacity;
}

int64_t ContiguousSequenceCache::append(const int32_t* positions, int64_t n) {
  const int64_t first = size_tokens();
  grow(first + n);
  positions_.insert(positions_.end(), positions, positions + n);
  return first;
}

void ContiguousSequenceCache::truncate(int64_t n_tokens) {
  if (n_tokens < size_tokens()) positions_.resize(static_cast<size_t>(std::max<int64_t>(n_tokens, 0)));
}

void ContiguousSequenceCache::write(int64_t layer, int64_t slot, const float* keys, const float* values) {
  LayerStore& l = layers_[static_cast<size_t>(layer)];
  const auto at = static_cast<size_t>(slot * l.kv_dim);
  if (type_ == KvType::F32) {
    std::memcpy(l.keys_f32.data() + at, keys, static_cast<size_t>(l.kv_dim) * sizeof(float));
    std::memcpy(l.values_f32.data() + at, values, static_cast<size_t>(l.kv_dim) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < l.kv_dim; ++i) {
    l.keys_f16[at + static_cast<size_t>(i)] = kernels::f32_to_f16(keys[i]);
    l.values_f16[at + static_cast<size_t>(i)] = kernels::f32_to_f16(values[i]);
  }
}

void ContiguousSequenceCache::read(int64_t layer, int64_t first, int64_t n, float* keys_out,
                                   float* values_out) const {
  read_columns(layer, first, n, 0, layers_[static_cast<size_t>(layer)].kv_dim, keys_out, values_out);
}

void ContiguousSequenceCache::read_columns(int64_t layer, int64_t first, int64_t n, int64_t col_begin,
                                           int64_t col_end, float* keys_out, float* values_out) const {
  const LayerStore& l = layers_[static_cast<size_t>(layer)];
  const int64_t width = col_end - col_begin;
  for (int64_t t = 0; t < n; ++t) {
    const auto at = static_cast<size_t>((first + t) * l.kv_dim + col_begin);
    float* k = keys_out + t * width;
    float* v = values_out + t * width;
    if (type_ == KvType::F32) {
      std::memcpy(k, l.keys_f32.data() + at, static_cast<size_t>(width) * sizeof(float));
      std::memcpy(v, l.values_f32.data() + at, static_cast<size_t>(width) * sizeof(float));
    } else {
      kernels::dequantize_row(kernels::QuantType::F16, l.keys_f16.data() + at, k, width);
      kernels::dequantize_row(kernels::QuantType::F16, l.values_f16.data() + at, v, width);
    }
  }
}

}  // namespace ragent::engine
