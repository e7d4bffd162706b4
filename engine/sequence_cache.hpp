// The keys and values one sequence has computed so far, per layer, as a backend reads them.
//
// SequenceCache is the seam between the forward pass and KV storage: the forward pass appends
// the new tokens' positions, writes each layer's keys and values into the new slots, and
// streams earlier slots back a block at a time as f32. ContiguousSequenceCache is the simple
// implementation (one growable buffer per layer, F32 or F16); the paged cache with a prefix
// tree implements the same interface.
//
// Slots are numbered 0..size_tokens() in the order tokens were appended. Each slot remembers
// the position its token had; attention masks by position (a query at position p sees slots
// whose position is <= p), so a sequence may start at any position.
//
// Thread safety: a cache belongs to the one sequence and thread that runs its forward; within
// a forward, the const methods (read, position) may be called from several threads at once
// while no thread appends, truncates or writes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model.hpp"

namespace ragent::engine {

class SequenceCache {
 public:
  virtual ~SequenceCache() = default;

  // Tokens stored (slots in use).
  virtual int64_t size_tokens() const = 0;
  // Reserves n new slots at the end for tokens at positions[0..n), growing storage as needed;
  // returns the first new slot. Their keys and values are unspecified until written.
  // Throws EngineError when storage cannot grow.
  virtual int64_t append(const int32_t* positions, int64_t n) = 0;
  // Drops every slot from n_tokens on (rollback after a failed or speculative step).
  virtual void truncate(int64_t n_tokens) = 0;
  virtual int32_t position(int64_t slot) const = 0;

  // Stores one token's keys and values of `layer`: kv_dim floats each, where kv_dim is the
  // layer's n_kv_heads * head_dim. slot < size_tokens().
  virtual void write(int64_t layer, int64_t slot, const float* keys, const float* values) = 0;
  // Copies slots [first, first + n) of `layer` to keys_out and values_out (n * kv_dim floats
  // each, slot-major) as f32.
  virtual void read(int64_t layer, int64_t first, int64_t n, float* keys_out, float* values_out) const = 0;
  // As read, but only columns [col_begin, col_end) of each row (the KV heads one attention
  // thread works on): n * (col_end - col_begin) floats each. 0 <= col_begin <= col_end <= kv_dim.
  virtual void read_columns(int64_t layer, int64_t first, int64_t n, int64_t col_begin, int64_t col_end,
                            float* keys_out, float* values_out) const = 0;
};

enum class KvType { F32, F16 };

// One contiguous, doubling buffer per attention layer; layers without attention keep nothing.
class ContiguousSequenceCache final : public SequenceCache {
 public:
  ContiguousSequenceCache(const ModelConfig& config, KvType type);

  int64_t size_tokens() const override { return static_cast<int64_t>(positions_.size()); }
  int64_t append(const int32_t* positions, int64_t n) override;
  void truncate(int64_t n_tokens) override;
  int32_t position(int64_t slot) const override { return positions_[static_cast<size_t>(slot)]; }
  void write(int64_t layer, int64_t slot, const float* keys, const float* values) override;
  void read(int64_t layer, int64_t first, int64_t n, float* keys_out, float* values_out) const override;
  void read_columns(int64_t layer, int64_t first, int64_t n, int64_t col_begin, int64_t col_end, float* keys_out,
                    float* values_out) const override;

  int64_t capacity_tokens() const { return capacity_tokens_; }

 private:
  struct LayerStore {
    int64_t kv_dim = 0;
    std::vector<float> keys_f32, values_f32;      // KvType::F32: capacity * kv_dim
    std::vector<uint16_t> keys_f16, values_f16;   // KvType::F16
  };
  void grow(int64_t min_tokens);

  KvType type_;
  int64_t capacity_tokens_ = 0;
  std::vector<int32_t> positions_;
  std::vector<LayerStore> layers_;
};

}  // namespace ragent::engine
