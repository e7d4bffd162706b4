// Paged KV cache bookkeeping: fixed-size blocks under a byte budget, per-sequence block
// tables, and a prefix tree over token ids that lets requests share cached blocks.
// No attention math lives here; the backend reads and writes the bytes through the
// accessors of BlockPool.
//
// Blocks. A block holds `block_tokens` consecutive positions of one sequence for every layer:
// per layer a K region and a V region of block_tokens rows, row t being the layer's
// n_kv_heads * head_dim values of position (block_index * block_tokens + t) in the layer's
// KV type (F16 by default; F32, or Q8_0 in ggml's 34-byte blocks of 32 values).
//
// Sharing. Only full blocks are shared. A full block is a node of the prefix tree, keyed by
// its block_tokens token ids chained to its parent block (the block before it), so a node
// stands for the whole prefix up to its end. Two conversations that differ early (thinking
// on vs off in the system prompt) are two paths from the first differing block on.
// Write policy: nobody ever writes into a shared block. A sequence writes only positions at
// or past its length, which lie in blocks only it holds (its partial tail or freshly reserved
// blocks); a block enters the tree when it fills, and is immutable from then on. So there is
// no copy-on-write. When a block fills with content the tree already holds (two requests
// prefilled the same prompt at once), the sequence switches to the tree's block and its own
// goes back to the free list.
//
// Lifetime of a block: free -> held by one sequence (private) -> in the tree, referenced by
// the sequences whose block tables list it -> cached (in the tree, no references) -> either
// referenced again by a prefix match or evicted least-recently-used (leaves first) when a
// reservation needs memory -> free.
//
// Use per request:  id = open_sequence(prompt)      // shares the cached prefix
//                   reserve(id, n); backend writes positions [length, length + n); commit(id, tokens)
//                   ... decode: reserve(id, 1); write; commit(id, {token}) ...
//                   release(id)                      // full blocks stay cached
//
// Thread safety: none. A KvCache is owned and used by the engine's single thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/gguf.hpp"
#include "engine/model.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

using BlockId = int32_t;
using SequenceId = uint64_t;

struct KvCacheConfig {
  int32_t block_tokens = 16;
  // Per layer: n_kv_heads * head_dim, the values of one K (or V) row; 0 for a layer without
  // attention (deci no-op or linear layers), which gets no storage.
  std::vector<int64_t> layer_kv_width;
  GgmlType type = GgmlType::F16;  // F16, F32 or Q8_0 (every width a multiple of 32)
  uint64_t budget_bytes = 0;      // the pool holds floor(budget_bytes / block_bytes) blocks

  // Widths from a model's layers (Normal attention: n_kv_heads * head_dim, else 0).
  static KvCacheConfig for_model(const ModelConfig& model, uint64_t budget_bytes, GgmlType type = GgmlType::F16,
                                 int32_t block_tokens = 16);
};

// Storage for all blocks, one allocation made at construction (pages are committed by the
// OS as they are first written). Every K/V region starts on a 64-byte boundary.
class BlockPool {
 public:
  // Throws EngineError naming the field when the config is invalid (block_tokens < 1, no
  // layers, a negative width, an unsupported type or a width that is not a multiple of its
  // block size) or the budget is smaller than one block.
  explicit BlockPool(const KvCacheConfig& config);

  // The bytes one block of `config` takes (what budget_bytes is divided by), without
  // allocating anything. Throws as the constructor does for an invalid config.
  static size_t block_bytes_for(const KvCacheConfig& config);

  int32_t block_count() const { return block_count_; }
  int32_t block_tokens() const { return block_tokens_; }
  size_t block_bytes() const { return block_bytes_; }
  size_t layer_count() const { return layers_.size(); }
  GgmlType type() const { return type_; }
  // Bytes of one K (or V) row of `layer`: one position's values. 0 for a layer without KV.
  size_t row_bytes(size_t layer) const { return layers_.at(layer).row_bytes; }

  // Start of block_tokens rows of K (or V) of `layer` in `block`, row t at
  // + t * row_bytes(layer). nullptr for a layer without KV. Throws EngineError when block or
  // layer is out of range.
  std::byte* k_data(BlockId block, size_t layer) { return region(block, layer, false); }
  std::byte* v_data(BlockId block, size_t layer) { return region(block, layer, true); }
  const std::byte* k_data(BlockId block, size_t layer) const { return region(block, layer, false); }
  const std::byte* v_data(BlockId block, size_t layer) const { return region(block, layer, true); }

 private:
  struct Layer {
    size_t row_bytes = 0;
    size_t k_offset = 0;  // within a block
    size_t v_offset = 0;
  };
  struct AlignedFree {
    void operator()(std::byte* p) const;
  };
  std::byte* region(BlockId block, size_t layer, bool v) const;
  // Validates `config` and places each layer's K and V regions within a block.
  static std::vector<Layer> lay_out(const KvCacheConfig& config, size_t& block_bytes);

  int32_t block_tokens_;
  GgmlType type_;
  std::vector<Layer> layers_;
  size_t block_bytes_ = 0;
  int32_t block_count_ = 0;
  std::unique_ptr<std::byte, AlignedFree> storage_;
};

struct PrefixMatch {
  std::vector<BlockId> blocks;  // tree blocks, in order
  size_t cached_tokens = 0;     // blocks.size() * block_tokens
};

// Where position p of a sequence lives: row `offset` of `block`.
struct KvSlot {
  BlockId block;
  int32_t offset;
};

struct KvCacheStats {
  int32_t total_blocks = 0;
  int32_t free_blocks = 0;    // on the free list
  int32_t cached_blocks = 0;  // in the tree, referenced by no sequence (evictable)
  int32_t used_blocks = 0;    // referenced by at least one sequence
  size_t block_bytes = 0;
};

class KvCache {
 public:
  // Throws as BlockPool does.
  explicit KvCache(const KvCacheConfig& config);

  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  int32_t block_tokens() const { return pool_.block_tokens(); }

  // The longest chain of tree blocks whose tokens prefix `tokens`, stopping so that at least
  // one token is left uncached (the caller needs logits for the last prompt token). Changes
  // nothing.
  PrefixMatch match_prefix(std::span<const TokenId> tokens) const;

  // Starts a sequence on the cached prefix of `prompt` (match_prefix): references those
  // blocks, so they cannot be evicted while the sequence lives. The sequence's length is the
  // cached token count; the rest of the prompt is the caller's to prefill. Never fails.
  SequenceId open_sequence(std::span<const TokenId> prompt);

  // Makes room for positions [length, length + n_tokens) of `seq`, taking free blocks and
  // evicting cached ones, least recently used first. All or nothing: when the free and
  // cached blocks do not suffice, throws EngineError naming the bytes needed and available,
  // and the cache is unchanged (the sequence keeps what it had; release it or retry later).
  void reserve(SequenceId seq, size_t n_tokens);

  // Records that the backend wrote the KV of `tokens` at positions [length, length + n) of
  // `seq`; they must have been reserved. Blocks that become full enter the prefix tree (or are
  // swapped for an identical tree block). Throws EngineError when not reserved.
  void commit(SequenceId seq, std::span<const TokenId> tokens);

  // Ends `seq`: drops its references; its full blocks stay cached, the rest become free.
  void release(SequenceId seq);

  // The blocks of `seq`, position p in blocks[p / block_tokens]; valid until the next call
  // that changes `seq` (reserve, commit, release).
  std::span<const BlockId> block_table(SequenceId seq) const;
  size_t length(SequenceId seq) const;         // committed tokens
  size_t cached_tokens(SequenceId seq) const;  // tokens that open_sequence found cached
  // Slot of position `position` < reserved capacity of `seq`; EngineError otherwise.
  KvSlot slot(SequenceId seq, size_t position) const;

  KvCacheStats stats() const;
  size_t sequence_count() const { return sequences_.size(); }

  // Verifies every internal invariant (refcounts equal table references, every block exactly
  // one of free/cached/used, tree links and keys, the eviction order); throws EngineError
  // naming the first violation. O(blocks + table entries): for tests and debugging.
  void check_consistency() const;

 private:
  struct BlockMeta {
    int32_t refs = 0;
    bool in_tree = false;
    BlockId parent = -1;     // tree parent; -1 for a first block
    int32_t children = 0;    // tree children
    uint64_t key = 0;        // hash of parent and tokens
    uint64_t last_used = 0;  // logical clock
  };
  struct Sequence {
    std::vector<TokenId> tokens;   // committed
    std::vector<BlockId> blocks;   // capacity blocks.size() * block_tokens
    size_t cached_tokens = 0;
  };

  Sequence& sequence(SequenceId seq);
  const Sequence& sequence(SequenceId seq) const;
  std::span<const TokenId> tokens_of(BlockId block) const;
  BlockId find_child(BlockId parent, uint64_t key, std::span<const TokenId> tokens) const;
  BlockId take_block();
  void evict_one();
  void insert_full_block(Sequence& s, size_t index);
  void unref(BlockId block);
  void update_evictable(BlockId block);
  bool evictable(BlockId block) const;

  BlockPool pool_;
  std::vector<BlockMeta> meta_;
  std::vector<TokenId> block_token_ids_;               // block_tokens per block, for tree blocks
  std::vector<BlockId> free_;                          // stack
  std::unordered_multimap<uint64_t, BlockId> tree_;    // key -> tree block
  std::set<std::pair<uint64_t, BlockId>> evictable_;   // (last_used, block): cached leaves
  int32_t cached_count_ = 0;                           // in tree with refs == 0
  std::unordered_map<SequenceId, Sequence> sequences_;
  SequenceId next_sequence_ = 1;
  uint64_t clock_ = 0;
};

}  // namespace ragent::engine
