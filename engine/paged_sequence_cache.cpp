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
  read_columns(layer, first, n, 0, layer_width_[static_cast<size_t>(layer)], keys_out, values_out);
}

// Whole rows in one conversion per block run; a column range row by row, through a row of
// scratch when it does not start and end on the storage type's block boundaries (Q8_0).
void PagedSequenceCache::read_columns(int64_t layer, int64_t first, int64_t n, int64_t col_begin, int64_t col_end,
                                      float* keys_out, float* values_out) const {
  const auto l = static_cast<size_t>(layer);
  const BlockPool& pool = kv_.pool();
  const kernels::QuantType type = quant_type(pool.type());
  const int64_t width = layer_width_[l];
  const int64_t out_width = col_end - col_begin;
  const int64_t qblock = kernels::block_size(type);
  const bool aligned = col_begin % qblock == 0 && col_end % qblock == 0;
  thread_local std::vector<float> row_scratch;
  for (int64_t slot = first; slot < first + n;) {
    const BlockId block = blocks_[static_cast<size_t>(slot / block_tokens_)];
    const int64_t offset = slot % block_tokens_;
    const int64_t run = std::min(block_tokens_ - offset, first + n - slot);
    const size_t row_bytes = pool.row_bytes(l);
    const std::byte* k_rows = pool.k_data(block, l) + static_cast<size_t>(offset) * row_bytes;
    const std::byte* v_rows = pool.v_data(block, l) + static_cast<size_t>(offset) * row_bytes;
    float* k_out = keys_out + (slot - first) * out_width;
    float* v_out = values_out + (slot - first) * out_width;
    if (out_width == width) {
      kernels::dequantize_row(type, k_rows, k_out, run * width);
      kernels::dequantize_row(type, v_rows, v_out, run * width);
    } else if (aligned) {
      const size_t skip = kernels::row_bytes(type, col_begin);
      for (int64_t t = 0; t < run; ++t) {
        kernels::dequantize_row(type, k_rows + static_cast<size_t>(t) * row_bytes + skip, k_out + t * out_width, out_width);
        kernels::dequantize_row(type, v_rows + static_cast<size_t>(t) * row_bytes + skip, v_out + t * out_width, out_width);
      }
    } else {
      row_scratch.resize(static_cast<size_t>(width));
      for (int64_t t = 0; t < run; ++t) {
        kernels::dequantize_row(type, k_rows + static_cast<size_t>(t) * row_bytes, row_scratch.data(), width);
        std::copy_n(row_scratch.data() + col_begin, out_width, k_out + t * out_width);
        kernels::dequantize_row(type, v_rows + static_cast<size_t>(t) * row_bytes, row_scratch.data(), width);
        std::copy_n(row_scratch.data() + col_begin, out_width, v_out + t * out_width);
      }
    }
    slot += run;
  }
}

}  // namespace ragent::engine
