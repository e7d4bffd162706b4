#include "engine/kv_cache.hpp"

#include <algorithm>
#include <limits>
#include <new>
#include <string>

namespace ragent::engine {
namespace {

constexpr size_t kRegionAlignBytes = 64;
constexpr int32_t kMaxBlockTokens = 1 << 16;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Key of a tree node: its parent block and its tokens. Collisions are resolved by comparing
// parent and tokens, so the hash only has to spread well.
uint64_t block_key(BlockId parent, std::span<const TokenId> tokens) {
  auto mix = [](uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  };
  uint64_t h = mix(static_cast<uint64_t>(static_cast<int64_t>(parent)) + 0x9e3779b97f4a7c15ULL);
  for (TokenId t : tokens) h = mix(h ^ static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ULL;
  return h;
}

std::string mib_text(uint64_t bytes) {
  return std::to_string(bytes) + " bytes (" + std::to_string(bytes / (1024 * 1024)) + " MiB)";
}

}  // namespace

// ---- config ----

KvCacheConfig KvCacheConfig::for_model(const ModelConfig& model, uint64_t budget_bytes, GgmlType type,
                                       int32_t block_tokens) {
  KvCacheConfig config;
  config.block_tokens = block_tokens;
  config.type = type;
  config.budget_bytes = budget_bytes;
  for (const auto& layer : model.layers) {
    config.layer_kv_width.push_back(layer.attention == AttentionKind::Normal ? layer.n_kv_heads * model.head_dim : 0);
  }
  return config;
}

// ---- pool ----

void BlockPool::AlignedFree::operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{kRegionAlignBytes}); }

std::vector<BlockPool::Layer> BlockPool::lay_out(const KvCacheConfig& config, size_t& block_bytes) {
  if (config.block_tokens < 1 || config.block_tokens > kMaxBlockTokens) {
    throw EngineError("KV cache: block_tokens must be in [1, " + std::to_string(kMaxBlockTokens) + "], got " +
                      std::to_string(config.block_tokens));
  }
  if (config.layer_kv_width.empty()) throw EngineError("KV cache: layer_kv_width is empty (no layers)");
  if (config.type != GgmlType::F16 && config.type != GgmlType::F32 && config.type != GgmlType::Q8_0) {
    throw EngineError("KV cache: type " + std::to_string(static_cast<uint32_t>(config.type)) +
                      " is not supported (F16, F32 or Q8_0)");
  }
  const auto traits = *ggml_type_traits(static_cast<uint32_t>(config.type));
  std::vector<Layer> layers;
  size_t offset = 0;
  for (size_t i = 0; i < config.layer_kv_width.size(); ++i) {
    int64_t width = config.layer_kv_width[i];
    if (width < 0 || width > std::numeric_limits<int32_t>::max()) {
      throw EngineError("KV cache: layer " + std::to_string(i) + " has KV width " + std::to_string(width));
    }
    if (width % traits.block_size != 0) {
      throw EngineError("KV cache: layer " + std::to_string(i) + " KV width " + std::to_string(width) +
                        " is not a multiple of " + std::to_string(traits.block_size) + " as " +
                        std::string(traits.name) + " needs");
    }
    Layer layer;
    layer.row_bytes = static_cast<size_t>(width / traits.block_size) * traits.block_bytes;
    size_t region_bytes = round_up(layer.row_bytes * static_cast<size_t>(config.block_tokens), kRegionAlignBytes);
    layer.k_offset = offset;
    layer.v_offset = offset + region_bytes;
    offset += 2 * region_bytes;
    layers.push_back(layer);
  }
  block_bytes = offset;
  return layers;
}

size_t BlockPool::block_bytes_for(const KvCacheConfig& config) {
  size_t block_bytes = 0;
  lay_out(config, block_bytes);
  return block_bytes;
}

BlockPool::BlockPool(const KvCacheConfig& config) : block_tokens_(config.block_tokens), type_(config.type) {
  layers_ = lay_out(config, block_bytes_);
  if (block_bytes_ == 0) throw EngineError("KV cache: no layer keeps K/V (every layer_kv_width is 0)");
  uint64_t count = config.budget_bytes / block_bytes_;
  if (count == 0) {
    throw EngineError("KV cache: budget of " + mib_text(config.budget_bytes) + " is smaller than one block of " +
                      mib_text(block_bytes_));
  }
  block_count_ = static_cast<int32_t>(std::min<uint64_t>(count, std::numeric_limits<int32_t>::max()));
  uint64_t total = static_cast<uint64_t>(block_count_) * block_bytes_;
  try {
    storage_.reset(static_cast<std::byte*>(::operator new(total, std::align_val_t{kRegionAlignBytes})));
  } catch (const std::bad_alloc&) {
    throw EngineError("KV cache: cannot allocate " + mib_text(total) + " for " + std::to_string(block_count_) +
                      " blocks; lower the budget");
  }
}

std::byte* BlockPool::region(BlockId block, size_t layer, bool v) const {
  if (block < 0 || block >= block_count_) {
    throw EngineError("KV cache: block " + std::to_string(block) + " out of range [0, " + std::to_string(block_count_) + ")");
  }
  if (layer >= layers_.size()) {
    throw EngineError("KV cache: layer " + std::to_string(layer) + " out of range [0, " + std::to_string(layers_.size()) + ")");
  }
  const Layer& l = layers_[layer];
  if (l.row_bytes == 0) return nullptr;
  return storage_.get() + static_cast<size_t>(block) * block_bytes_ + (v ? l.v_offset : l.k_offset);
}

// ---- cache ----

KvCache::KvCache(const KvCacheConfig& config)
    : pool_(config),
      meta_(static_cast<size_t>(pool_.block_count())),
      block_token_ids_(static_cast<size_t>(pool_.block_count()) * static_cast<size_t>(pool_.block_tokens())) {
  free_.reserve(meta_.size());
  for (BlockId b = pool_.block_count() - 1; b >= 0; --b) free_.push_back(b);  // block 0 on top
}

KvCache::Sequence& KvCache::sequence(SequenceId seq) {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) throw EngineError("KV cache: unknown sequence " + std::to_string(seq));
  return it->second;
}

const KvCache::Sequence& KvCache::sequence(SequenceId seq) const {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) throw EngineError("KV cache: unknown sequence " + std::to_string(seq));
  return it->second;
}

std::span<const TokenId> KvCache::tokens_of(BlockId block) const {
  auto n = static_cast<size_t>(block_tokens());
  return std::span<const TokenId>(block_token_ids_).subspan(static_cast<size_t>(block) * n, n);
}

BlockId KvCache::find_child(BlockId parent, uint64_t key, std::span<const TokenId> tokens) const {
  auto [first, last] = tree_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    BlockId b = it->second;
    if (meta_[static_cast<size_t>(b)].parent == parent && std::ranges::equal(tokens_of(b), tokens)) return b;
  }
  return -1;
}

bool KvCache::evictable(BlockId block) const {
  const auto& m = meta_[static_cast<size_t>(block)];
  return m.in_tree && m.refs == 0 && m.children == 0;
}

// Re-files `block` in the eviction order after a change; callers erase its old entry first.
void KvCache::update_evictable(BlockId block) {
  if (evictable(block)) evictable_.emplace(meta_[static_cast<size_t>(block)].last_used, block);
}

PrefixMatch KvCache::match_prefix(std::span<const TokenId> tokens) const {
  PrefixMatch match;
  if (tokens.empty()) return match;
  auto n = static_cast<size_t>(block_tokens());
  size_t max_blocks = (tokens.size() - 1) / n;  // leave at least one token to prefill
  BlockId parent = -1;
  for (size_t i = 0; i < max_blocks; ++i) {
    auto chunk = tokens.subspan(i * n, n);
    BlockId b = find_child(parent, block_key(parent, chunk), chunk);
    if (b < 0) break;
    match.blocks.push_back(b);
    parent = b;
  }
  match.cached_tokens = match.blocks.size() * n;
  return match;
}

SequenceId KvCache::open_sequence(std::span<const TokenId> prompt) {
  PrefixMatch match = match_prefix(prompt);
  ++clock_;
  for (BlockId b : match.blocks) {
    auto& m = meta_[static_cast<size_t>(b)];
    evictable_.erase({m.last_used, b});
    if (m.refs == 0) --cached_count_;
    ++m.refs;
    m.last_used = clock_;
  }
  Sequence s;
  s.tokens.assign(prompt.begin(), prompt.begin() + static_cast<ptrdiff_t>(match.cached_tokens));
  s.blocks = std::move(match.blocks);
  s.cached_tokens = match.cached_tokens;
  SequenceId id = next_sequence_++;
  sequences_.emplace(id, std::move(s));
  return id;
}

void KvCache::evict_one() {
  auto [stamp, b] = *evictable_.begin();
  evictable_.erase(evictable_.begin());
  auto& m = meta_[static_cast<size_t>(b)];
  auto [first, last] = tree_.equal_range(m.key);
  for (auto it = first; it != last; ++it) {
    if (it->second == b) {
      tree_.erase(it);
      break;
    }
  }
  m.in_tree = false;
  --cached_count_;
  if (m.parent >= 0) {
    auto& p = meta_[static_cast<size_t>(m.parent)];
    --p.children;
    update_evictable(m.parent);  // had a child, so it had no entry
  }
  m.parent = -1;
  free_.push_back(b);
}

BlockId KvCache::take_block() {
  if (free_.empty()) evict_one();
  BlockId b = free_.back();
  free_.pop_back();
  return b;
}

void KvCache::reserve(SequenceId seq, size_t n_tokens) {
  Sequence& s = sequence(seq);
  auto n = static_cast<size_t>(block_tokens());
  if (n_tokens > std::numeric_limits<size_t>::max() / 4 - s.tokens.size()) {
    throw EngineError("KV cache: reserve of " + std::to_string(n_tokens) + " tokens is out of range");
  }
  size_t want_blocks = (s.tokens.size() + n_tokens + n - 1) / n;
  if (want_blocks <= s.blocks.size()) return;
  size_t need = want_blocks - s.blocks.size();
  size_t available = free_.size() + static_cast<size_t>(cached_count_);
  if (need > available) {
    uint64_t block_bytes = pool_.block_bytes();
    throw EngineError("KV cache full: sequence " + std::to_string(seq) + " needs " + std::to_string(need) +
                      " more blocks, " + mib_text(need * block_bytes) + ", but only " + std::to_string(available) +
                      " blocks, " + mib_text(available * block_bytes) + ", are free or evictable; " +
                      std::to_string(stats().used_blocks) + " of " + std::to_string(pool_.block_count()) +
                      " blocks are held by running sequences");
  }
  ++clock_;
  for (size_t i = 0; i < need; ++i) {
    BlockId b = take_block();
    auto& m = meta_[static_cast<size_t>(b)];
    m.refs = 1;
    m.last_used = clock_;
    s.blocks.push_back(b);
  }
}

void KvCache::insert_full_block(Sequence& s, size_t index) {
  auto n = static_cast<size_t>(block_tokens());
  BlockId b = s.blocks[index];
  BlockId parent = index > 0 ? s.blocks[index - 1] : -1;
  auto chunk = std::span<const TokenId>(s.tokens).subspan(index * n, n);
  uint64_t key = block_key(parent, chunk);
  BlockId existing = find_child(parent, key, chunk);
  if (existing >= 0) {
    // Same prefix already cached: share it and give our private copy back.
    auto& e = meta_[static_cast<size_t>(existing)];
    evictable_.erase({e.last_used, existing});
    if (e.refs == 0) --cached_count_;
    ++e.refs;
    e.last_used = clock_;
    s.blocks[index] = existing;
    meta_[static_cast<size_t>(b)].refs = 0;
    free_.push_back(b);
    return;
  }
  auto& m = meta_[static_cast<size_t>(b)];
  std::ranges::copy(chunk, block_token_ids_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(b) * n));
  m.in_tree = true;
  m.parent = parent;
  m.children = 0;
  m.key = key;
  m.last_used = clock_;
  tree_.emplace(key, b);
  if (parent >= 0) ++meta_[static_cast<size_t>(parent)].children;  // referenced by s: not evictable
}

void KvCache::commit(SequenceId seq, std::span<const TokenId> tokens) {
  Sequence& s = sequence(seq);
  auto n = static_cast<size_t>(block_tokens());
  size_t capacity = s.blocks.size() * n;
  if (tokens.size() > capacity - s.tokens.size()) {
    throw EngineError("KV cache: commit of " + std::to_string(tokens.size()) + " tokens to sequence " +
                      std::to_string(seq) + " at length " + std::to_string(s.tokens.size()) +
                      " exceeds its reserved capacity of " + std::to_string(capacity) + " tokens");
  }
  size_t full_before = s.tokens.size() / n;
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  size_t full_after = s.tokens.size() / n;
  ++clock_;
  for (size_t i = full_before; i < full_after; ++i) insert_full_block(s, i);
}

void KvCache::unref(BlockId block) {
  auto& m = meta_[static_cast<size_t>(block)];
  evictable_.erase({m.last_used, block});
  m.last_used = clock_;
  if (--m.refs > 0) return;
  if (m.in_tree) {
    ++cached_count_;
    update_evictable(block);
  } else {
    free_.push_back(block);
  }
}

void KvCache::release(SequenceId seq) {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) throw EngineError("KV cache: release of unknown sequence " + std::to_string(seq));
  ++clock_;
  for (BlockId b : it->second.blocks) unref(b);
  sequences_.erase(it);
}

std::span<const BlockId> KvCache::block_table(SequenceId seq) const { return sequence(seq).blocks; }
size_t KvCache::length(SequenceId seq) const { return sequence(seq).tokens.size(); }
size_t KvCache::cached_tokens(SequenceId seq) const { return sequence(seq).cached_tokens; }

KvSlot KvCache::slot(SequenceId seq, size_t position) const {
  const Sequence& s = sequence(seq);
  auto n = static_cast<size_t>(block_tokens());
  if (position >= s.blocks.size() * n) {
    throw EngineError("KV cache: position " + std::to_string(position) + " of sequence " + std::to_string(seq) +
                      " is past its reserved capacity of " + std::to_string(s.blocks.size() * n) + " tokens");
  }
  return {s.blocks[position / n], static_cast<int32_t>(position % n)};
}

KvCacheStats KvCache::stats() const {
  KvCacheStats st;
  st.total_blocks = pool_.block_count();
  st.free_blocks = static_cast<int32_t>(free_.size());
  st.cached_blocks = cached_count_;
  st.used_blocks = st.total_blocks - st.free_blocks - st.cached_blocks;
  st.block_bytes = pool_.block_bytes();
  return st;
}

void KvCache::check_consistency() const {
  auto fail = [](const std::string& what) { throw EngineError("KV cache inconsistent: " + what); };
  auto n = static_cast<size_t>(block_tokens());
  const size_t total = meta_.size();

  std::vector<int32_t> refs(total, 0);
  for (const auto& [id, s] : sequences_) {
    if (s.tokens.size() > s.blocks.size() * n) fail("sequence " + std::to_string(id) + " has more tokens than blocks hold");
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      BlockId b = s.blocks[i];
      if (b < 0 || static_cast<size_t>(b) >= total) fail("sequence " + std::to_string(id) + " lists block " + std::to_string(b));
      ++refs[static_cast<size_t>(b)];
      const auto& m = meta_[static_cast<size_t>(b)];
      bool full = (i + 1) * n <= s.tokens.size();
      if (full != m.in_tree) fail("block " + std::to_string(b) + ": full blocks, and only those, must be in the tree");
      if (full) {
        BlockId parent = i > 0 ? s.blocks[i - 1] : -1;
        if (m.parent != parent) fail("block " + std::to_string(b) + " has the wrong tree parent");
        if (!std::ranges::equal(tokens_of(b), std::span<const TokenId>(s.tokens).subspan(i * n, n))) {
          fail("block " + std::to_string(b) + " tokens differ from sequence " + std::to_string(id));
        }
      }
    }
  }

  std::vector<char> on_free_list(total, 0);
  for (BlockId b : free_) {
    if (on_free_list[static_cast<size_t>(b)]++) fail("block " + std::to_string(b) + " is on the free list twice");
  }
  std::vector<int32_t> children(total, 0);
  int32_t cached = 0;
  size_t in_tree = 0;
  size_t evictable_count = 0;
  for (size_t i = 0; i < total; ++i) {
    const auto& m = meta_[i];
    auto b = static_cast<BlockId>(i);
    if (m.refs != refs[i]) {
      fail("block " + std::to_string(b) + " refcount " + std::to_string(m.refs) + " but " + std::to_string(refs[i]) + " table entries");
    }
    bool is_free = on_free_list[i] != 0;
    if (is_free && (m.refs > 0 || m.in_tree)) fail("block " + std::to_string(b) + " is free and referenced or cached");
    if (!is_free && m.refs == 0 && !m.in_tree) fail("block " + std::to_string(b) + " is leaked (unreferenced, uncached, not free)");
    if (!m.in_tree) continue;
    ++in_tree;
    if (m.refs == 0) ++cached;
    if (m.parent >= 0) {
      if (!meta_[static_cast<size_t>(m.parent)].in_tree) fail("block " + std::to_string(b) + " has a parent outside the tree");
      ++children[static_cast<size_t>(m.parent)];
    }
    if (m.key != block_key(m.parent, tokens_of(b))) fail("block " + std::to_string(b) + " key does not match its tokens");
    if (find_child(m.parent, m.key, tokens_of(b)) != b) fail("block " + std::to_string(b) + " is not findable in the tree");
    if (evictable(b)) {
      ++evictable_count;
      if (!evictable_.contains({m.last_used, b})) fail("evictable block " + std::to_string(b) + " missing from LRU order");
    }
  }
  for (size_t i = 0; i < total; ++i) {
    if (children[i] != meta_[i].children) fail("block " + std::to_string(i) + " child count is wrong");
  }
  if (cached != cached_count_) fail("cached count " + std::to_string(cached_count_) + " but " + std::to_string(cached) + " blocks");
  if (tree_.size() != in_tree) fail("tree index has " + std::to_string(tree_.size()) + " entries for " + std::to_string(in_tree) + " blocks");
  if (evictable_.size() != evictable_count) fail("LRU order lists blocks that are not evictable");
  auto st = stats();
  if (st.free_blocks + st.cached_blocks + st.used_blocks != st.total_blocks || st.used_blocks < 0) fail("block counts do not add up");
}

}  // namespace ragent::engine
