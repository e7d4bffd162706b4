#include "engine/paged_sequence_cache.hpp"

#include <algorithm>
#include <string>

#include "kernels/cpu/quant.hpp"

namespace ragent::engine {
namespace {

kernels::QuantType quant_type(GgmlType type) { return static_cast<kernels::QuantType>(static_cast<uint32_t>(type)); }

}  // namespace

PagedSequenceCache::PagedSequenceCache(KvCache& kv, std::span<const TokenId> prompt)
    : kv_(kv), seq_(kv.open_sequence(prompt)), block_tokens_(kv.block_tokens()) {
  cached_tokens_ = static_cast<int64_t>(kv_.cached_tokens(seq_));
  positions_.resize(static_cast<size_t>(cached_tokens_));
  for (int64_t i = 0; i < cached_tokens_; ++i) positions_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const BlockPool& pool = kv_.pool();
  const kernels::QuantType type = quant_type(pool.type());
  for (size_t l = 0; l < pool.layer_count(); ++l) {
    const auto per_block = static_cast<int64_t>(kernels::block_bytes(type));
    layer_width_.push_back(static_cast<int64_t>(pool.row_bytes(l)) / per_block * kernels::block_size(type));
  }
  refresh_table();
}

PagedSequenceCache::~PagedSequenceCache() { kv_.release(seq_); }

void PagedSequenceCache::refresh_table() {
  const auto table = kv_.block_table(seq_);
  blocks_.assign(table.begin(), table.end());
}

int64_t PagedSequenceCache::append(const int32_t* positions, int64_t n) {
  const int64_t first = size_tokens();
  // reserve counts from the committed length; written-but-uncommitted slots are already held.
  kv_.reserve(seq_, static_cast<size_t>(first + n - committed_tokens()));
  refresh_table();
  positions_.insert(positions_.end(), positions, positions + n);
  return first;
}

void PagedSequenceCache::truncate(int64_t n_tokens) {
  if (n_tokens >= size_tokens()) return;
  if (n_tokens < committed_tokens()) {
    throw EngineError("KV cache: cannot truncate sequence " + std::to_string(seq_) + " to " +
                      std::to_string(n_tokens) + " tokens; its first " + std::to_string(committed_tokens()) +
                      " are committed and may be shared");
  }
  positions_.resize(static_cast<size_t>(n_tokens));
}

void PagedSequenceCache::commit(std::span<const TokenId> tokens) {
  if (committed_tokens() + static_cast<int64_t>(tokens.size()) > size_tokens()) {
    throw EngineError("KV cache: commit of " + std::to_string(tokens.size()) + " tokens to sequence " +
                      std::to_string(seq_) + " at length " + std::to_string(committed_tokens()) + " exceeds the " +
                      std::to_string(size_tokens()) + " slots appended");
  }
  kv_.commit(seq_, tokens);
  refresh_table();
}

void PagedSequenceCache::write(int64_t layer, int64_t slot, const float* keys, const float* values) {
  const auto l = static_cast<size_t>(layer);
  BlockPool& pool = kv_.pool();
  const BlockId block = blocks_[static_cast<size_t>(slot / block_tokens_)];
  const size_t row = static_cast<size_t>(slot % block_tokens_) * pool.row_bytes(l);
  const kernels::QuantType type = quant_type(pool.type());
  kernels::quantize_row(type, keys, pool.k_data(block, l) + row, layer_width_[l]);
  kernels::quantize_row(type, values, pool.v_data(block, l) + row, layer_width_[l]);
}

// Rows within a block are consecutive, so each block's run of slots converts in one call.
void PagedSequenceCache::read(int64_t layer, int64_t first, int64_t n, float* keys_out, float* values_out) const {
  const auto l = static_cast<size_t>(layer);
  const BlockPool& pool = kv_.pool();
  const kernels::QuantType type = quant_type(pool.type());
  const int64_t width = layer_width_[l];
  for (int64_t slot = first; slot < first + n;) {
    const BlockId block = blocks_[static_cast<size_t>(slot / block_tokens_)];
    const int64_t offset = slot % block_tokens_;
    const int64_t run = std::min(block_tokens_ - offset, first + n - slot);
    const size_t row = static_cast<size_t>(offset) * pool.row_bytes(l);
    const int64_t out = (slot - first) * width;
    kernels::dequantize_row(type, pool.k_data(block, l) + row, keys_out + out, run * width);
    kernels::dequantize_row(type, pool.v_data(block, l) + row, values_out + out, run * width);
    slot += run;
  }
}

}  // namespace ragent::engine
