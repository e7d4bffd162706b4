// A SequenceCache over one sequence of the paged KvCache (engine/kv_cache.hpp).
//
// Slot s of the sequence lives at row s % block_tokens of block block_table[s / block_tokens],
// in the pool's KV type (F32, F16 or Q8_0). The first cached_tokens() slots are the prefix that
// open_sequence found in the prefix tree: shared blocks, already holding their keys and values
// (their positions are 0..cached_tokens()-1, as a prompt's are). append reserves blocks through
// the KvCache (evicting cached ones, or throwing its "KV cache full" error naming the bytes);
// writes go only to slots at or past the committed length, which lie in blocks this sequence
// holds alone, never into shared blocks.
//
// The owner commits the token ids of the slots it has written (commit); full blocks then enter
// the prefix tree and are read-only. truncate may only drop uncommitted slots. The destructor
// releases the sequence: its full blocks stay cached for later requests.
//
// Thread safety: as SequenceCache; the KvCache must outlive this object and is used only from
// the thread that owns both.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/sequence_cache.hpp"

namespace ragent::engine {

class PagedSequenceCache final : public SequenceCache {
 public:
  // Opens a sequence on the cached prefix of `prompt` (KvCache::open_sequence).
  PagedSequenceCache(KvCache& kv, std::span<const TokenId> prompt);
  ~PagedSequenceCache() override;
  PagedSequenceCache(const PagedSequenceCache&) = delete;
  PagedSequenceCache& operator=(const PagedSequenceCache&) = delete;

  int64_t size_tokens() const override { return static_cast<int64_t>(positions_.size()); }
  // Throws EngineError (the KvCache's, naming bytes needed and available) when the pool cannot
  // hold n more tokens; the cache is then unchanged.
  int64_t append(const int32_t* positions, int64_t n) override;
  // n_tokens below committed_tokens() throws EngineError: committed slots may be shared.
  void truncate(int64_t n_tokens) override;
  int32_t position(int64_t slot) const override { return positions_[static_cast<size_t>(slot)]; }
  void write(int64_t layer, int64_t slot, const float* keys, const float* values) override;
  void read(int64_t layer, int64_t first, int64_t n, float* keys_out, float* values_out) const override;
  void read_columns(int64_t layer, int64_t first, int64_t n, int64_t col_begin, int64_t col_end, float* keys_out,
                    float* values_out) const override;

  // Records the token ids of slots [committed_tokens(), committed_tokens() + tokens.size()),
  // which must have been appended and written.
  void commit(std::span<const TokenId> tokens);

  int64_t cached_tokens() const { return cached_tokens_; }
  int64_t committed_tokens() const { return static_cast<int64_t>(kv_.length(seq_)); }
  SequenceId sequence_id() const { return seq_; }

 private:
  void refresh_table();

  KvCache& kv_;
  SequenceId seq_;
  int64_t cached_tokens_ = 0;
  int64_t block_tokens_;
  std::vector<BlockId> blocks_;    // copy of the block table, refreshed after reserve/commit
  std::vector<int32_t> positions_;
  std::vector<int64_t> layer_width_;  // values per K (or V) row, per layer; 0 without KV
};

}  // namespace ragent::engine
