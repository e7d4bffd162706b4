// Pins engine/kv_cache.cpp: block geometry, prefix sharing with refcounts, LRU eviction, the
// out-of-memory error and recovery, and a randomized run against a simple model.
#include "engine/kv_cache.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace ragent::engine {
namespace {

constexpr int32_t kBlockTokens = 4;

// Two layers of width 32 in F16: rows of 64 bytes, regions of 256, blocks of 1024 bytes.
KvCacheConfig small_config(int32_t blocks) {
  KvCacheConfig config;
  config.block_tokens = kBlockTokens;
  config.layer_kv_width = {32, 32};
  config.budget_bytes = static_cast<uint64_t>(blocks) * 1024;
  return config;
}

std::vector<TokenId> range_tokens(TokenId first, size_t n) {
  std::vector<TokenId> out(n);
  std::iota(out.begin(), out.end(), first);
  return out;
}

std::vector<TokenId> concat(std::vector<TokenId> a, const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Opens a sequence and "prefills" the whole prompt.
SequenceId prefill(KvCache& cache, const std::vector<TokenId>& prompt) {
  SequenceId id = cache.open_sequence(prompt);
  size_t done = cache.length(id);
  cache.reserve(id, prompt.size() - done);
  cache.commit(id, std::span<const TokenId>(prompt).subspan(done));
  return id;
}

std::vector<BlockId> table(const KvCache& cache, SequenceId id) {
  auto t = cache.block_table(id);
  return {t.begin(), t.end()};
}

TEST(KvCacheBlockPool, LaysOutAlignedRegionsPerLayer) {
  BlockPool pool(small_config(3));
  EXPECT_EQ(pool.block_count(), 3);
  EXPECT_EQ(pool.block_bytes(), 1024u);
  EXPECT_EQ(pool.row_bytes(0), 64u);
  const std::byte* base = pool.k_data(0, 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % 64, 0u);
  EXPECT_EQ(pool.v_data(0, 0) - base, 256);
  EXPECT_EQ(pool.k_data(0, 1) - base, 512);
  EXPECT_EQ(pool.v_data(2, 1) - base, 2 * 1024 + 768);
  EXPECT_THROW(pool.k_data(3, 0), EngineError);
  EXPECT_THROW(pool.k_data(0, 2), EngineError);
}

TEST(KvCacheBlockPool, Q8AndF32RowsAndLayersWithoutKv) {
  KvCacheConfig config = small_config(1);
  config.type = GgmlType::Q8_0;
  config.layer_kv_width = {64, 0};
  config.budget_bytes = 1 << 20;
  BlockPool q8(config);
  EXPECT_EQ(q8.row_bytes(0), 68u);                // two ggml Q8_0 blocks of 34 bytes
  EXPECT_EQ(q8.block_bytes(), 2u * 320);          // 4 rows * 68 = 272, aligned to 320, K and V
  EXPECT_EQ(q8.k_data(0, 1), nullptr);
  config.type = GgmlType::F32;
  EXPECT_EQ(BlockPool(config).row_bytes(0), 256u);
  config.type = GgmlType::Q8_0;
  config.layer_kv_width = {48};
  EXPECT_THROW(BlockPool{config}, EngineError);  // not a multiple of 32
  config.layer_kv_width = {64};
  config.type = GgmlType::Q4_K;
  EXPECT_THROW(BlockPool{config}, EngineError);
}

TEST(KvCacheBlockPool, BudgetBelowOneBlockNamesBothSizes) {
  try {
    KvCacheConfig config = small_config(1);
    config.budget_bytes = 1000;
    BlockPool pool(config);
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("1000 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("1024 bytes"), std::string::npos) << what;
  }
}

TEST(KvCacheBlockPool, ConfigFromModelSkipsLayersWithoutAttention) {
  ModelConfig model;
  model.head_dim = 64;
  model.layers = {{AttentionKind::Normal, 8, 2, FfnKind::Normal, 100}, {AttentionKind::NoOp, 0, 0, FfnKind::Normal, 100},
                  {AttentionKind::Normal, 8, 4, FfnKind::Normal, 100}};
  auto config = KvCacheConfig::for_model(model, 1 << 20);
  EXPECT_EQ(config.layer_kv_width, (std::vector<int64_t>{128, 0, 256}));
  EXPECT_EQ(config.type, GgmlType::F16);
}

TEST(PrefixTree, SharesFullBlocksAndCountsReferences) {
  KvCache cache(small_config(16));
  auto prompt = range_tokens(100, 10);  // blocks [100..103] [104..107], tail [108, 109]
  SequenceId a = prefill(cache, prompt);
  EXPECT_EQ(cache.cached_tokens(a), 0u);
  ASSERT_EQ(table(cache, a).size(), 3u);

  auto other = concat(range_tokens(100, 9), {7, 7, 7});
  SequenceId b = cache.open_sequence(other);
  EXPECT_EQ(cache.cached_tokens(b), 8u);
  EXPECT_EQ(cache.length(b), 8u);
  auto ta = table(cache, a);
  auto tb = table(cache, b);
  ASSERT_EQ(tb.size(), 2u);
  EXPECT_EQ(tb[0], ta[0]);
  EXPECT_EQ(tb[1], ta[1]);
  // 3 blocks for a, none new for b yet.
  EXPECT_EQ(cache.stats().used_blocks, 3);
  cache.reserve(b, other.size() - 8);
  EXPECT_NE(table(cache, b)[2], ta[2]);  // tails are private
  cache.check_consistency();

  cache.release(a);
  EXPECT_EQ(cache.stats().used_blocks, 3);   // b's two shared blocks and its tail
  EXPECT_EQ(cache.stats().cached_blocks, 0);
  cache.release(b);
  EXPECT_EQ(cache.stats().cached_blocks, 2);
  EXPECT_EQ(cache.stats().free_blocks, 14);
  cache.check_consistency();
}

TEST(PrefixTree, PartialTailBlocksAreNotShared) {
  KvCache cache(small_config(8));
  SequenceId a = prefill(cache, range_tokens(0, 6));
  auto longer = range_tokens(0, 12);
  EXPECT_EQ(cache.match_prefix(longer).cached_tokens, 4u);  // positions 4, 5 sit in a's tail
  cache.release(a);
  EXPECT_EQ(cache.match_prefix(longer).cached_tokens, 4u);  // and its tail was freed
  EXPECT_EQ(cache.stats().cached_blocks, 1);
}

TEST(PrefixTree, LeavesAtLeastOneTokenToPrefill) {
  KvCache cache(small_config(8));
  cache.release(prefill(cache, range_tokens(0, 9)));  // two full blocks cached
  EXPECT_EQ(cache.match_prefix(range_tokens(0, 8)).cached_tokens, 4u);
  EXPECT_EQ(cache.match_prefix(range_tokens(0, 9)).cached_tokens, 8u);
  EXPECT_EQ(cache.match_prefix({}).cached_tokens, 0u);
}

TEST(PrefixTree, GeneratedTokensBecomeCachedPrefix) {
  KvCache cache(small_config(8));
  auto prompt = range_tokens(0, 6);
  SequenceId a = prefill(cache, prompt);
  for (TokenId t : {50, 51, 52}) {  // decode: one token at a time
    cache.reserve(a, 1);
    cache.commit(a, std::vector<TokenId>{t});
  }
  cache.release(a);
  // Next turn: prompt + reply + new user text.
  auto next = concat(concat(prompt, {50, 51, 52}), {9, 9, 9});
  EXPECT_EQ(cache.match_prefix(next).cached_tokens, 8u);
}

TEST(PrefixTree, TwoBranchesCoexist) {
  // Same conversation, system prompt with thinking on vs off: they differ in block 1.
  auto head = range_tokens(0, 4);
  auto on = concat(concat(head, {10, 11, 12, 13}), range_tokens(200, 9));
  auto off = concat(concat(head, {10, 11, 20, 21}), range_tokens(200, 9));
  KvCache cache(small_config(16));
  cache.release(prefill(cache, on));
  cache.release(prefill(cache, off));
  auto m_on = cache.match_prefix(on);
  auto m_off = cache.match_prefix(off);
  EXPECT_EQ(m_on.cached_tokens, 16u);
  EXPECT_EQ(m_off.cached_tokens, 16u);
  EXPECT_EQ(m_on.blocks[0], m_off.blocks[0]);  // shared head
  EXPECT_NE(m_on.blocks[1], m_off.blocks[1]);
  EXPECT_NE(m_on.blocks[2], m_off.blocks[2]);  // same tokens, different parents
  EXPECT_EQ(cache.stats().cached_blocks, 7);
  cache.check_consistency();
}

TEST(PrefixTree, SimultaneousPrefillsOfOnePromptEndUpSharing) {
  KvCache cache(small_config(8));
  auto prompt = range_tokens(0, 9);
  SequenceId a = cache.open_sequence(prompt);
  SequenceId b = cache.open_sequence(prompt);
  cache.reserve(a, 9);
  cache.reserve(b, 9);
  EXPECT_EQ(cache.stats().free_blocks, 2);
  cache.commit(a, prompt);
  cache.commit(b, prompt);
  auto ta = table(cache, a);
  auto tb = table(cache, b);
  EXPECT_EQ(ta[0], tb[0]);
  EXPECT_EQ(ta[1], tb[1]);
  EXPECT_NE(ta[2], tb[2]);
  EXPECT_EQ(cache.stats().free_blocks, 4);  // b's two duplicate blocks went back
  cache.check_consistency();
}

TEST(KvCacheEviction, EvictsLeastRecentlyUsedLeavesFirst) {
  KvCache cache(small_config(5));
  auto p = range_tokens(0, 9);     // two full blocks P1 -> P2
  auto q = range_tokens(100, 5);   // one full block Q1
  auto r = range_tokens(200, 5);   // one full block R1
  cache.release(prefill(cache, p));
  cache.release(prefill(cache, q));
  cache.release(prefill(cache, r));
  // Touch P again: now Q is the oldest.
  SequenceId again = cache.open_sequence(p);
  EXPECT_EQ(cache.cached_tokens(again), 8u);
  cache.release(again);
  ASSERT_EQ(cache.stats().cached_blocks, 4);
  ASSERT_EQ(cache.stats().free_blocks, 1);

  SequenceId x = cache.open_sequence(range_tokens(900, 1));
  cache.reserve(x, 8);  // 2 blocks: the free one and the oldest cached leaf, Q1
  EXPECT_EQ(cache.match_prefix(q).cached_tokens, 0u);
  EXPECT_EQ(cache.match_prefix(r).cached_tokens, 4u);
  EXPECT_EQ(cache.match_prefix(p).cached_tokens, 8u);
  cache.reserve(x, 12);  // 1 more: R1 (older than P's leaf)
  EXPECT_EQ(cache.match_prefix(r).cached_tokens, 0u);
  cache.reserve(x, 16);  // 1 more: P2 is the leaf; P1 stays until P2 has gone
  EXPECT_EQ(cache.match_prefix(p).cached_tokens, 4u);
  cache.check_consistency();
}

TEST(KvCacheEviction, ExhaustionFailsOneRequestAndOthersGoOn) {
  KvCache cache(small_config(4));
  SequenceId a = cache.open_sequence(range_tokens(0, 12));
  cache.reserve(a, 12);  // 3 blocks
  SequenceId b = cache.open_sequence(range_tokens(500, 8));
  auto before = cache.stats();
  try {
    cache.reserve(b, 8);  // needs 2, 1 is available
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("needs 2 more blocks, 2048 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("only 1 blocks, 1024 bytes"), std::string::npos) << what;
  }
  auto after = cache.stats();
  EXPECT_EQ(after.free_blocks, before.free_blocks);  // all or nothing
  EXPECT_TRUE(cache.block_table(b).empty());
  cache.check_consistency();

  cache.commit(a, range_tokens(0, 12));  // a keeps working
  cache.reserve(a, 1);                   // position 12: takes the last block
  cache.release(b);                      // the failed request is dropped
  cache.release(a);
  SequenceId c = cache.open_sequence(range_tokens(500, 8));
  cache.reserve(c, 8);  // recovered: evicts a's cached blocks
  EXPECT_EQ(cache.stats().used_blocks, 2);
  cache.check_consistency();
}

TEST(KvCacheErrors, RejectsMisuse) {
  KvCache cache(small_config(4));
  SequenceId a = cache.open_sequence(range_tokens(0, 3));
  EXPECT_THROW(cache.commit(a, range_tokens(0, 1)), EngineError);  // nothing reserved
  cache.reserve(a, 3);
  EXPECT_EQ(cache.slot(a, 3).offset, 3);
  EXPECT_THROW(cache.slot(a, 4), EngineError);
  EXPECT_THROW(cache.commit(a, range_tokens(0, 5)), EngineError);
  EXPECT_THROW(cache.release(a + 100), EngineError);
  EXPECT_THROW(cache.length(a + 100), EngineError);
  cache.check_consistency();
}

// ---- randomized run against a model ----

// Each written position stores (token, position) at the start of its layer-0 K row, so a
// sequence reading a shared block can check it holds exactly its own prefix.
void write_signature(KvCache& cache, SequenceId seq, size_t position, TokenId token) {
  KvSlot s = cache.slot(seq, position);
  int32_t sig[2] = {token, static_cast<int32_t>(position)};
  std::memcpy(cache.pool().k_data(s.block, 0) + static_cast<size_t>(s.offset) * cache.pool().row_bytes(0), sig, sizeof sig);
}

void expect_signatures(const KvCache& cache, SequenceId seq, const std::vector<TokenId>& tokens, size_t n) {
  auto blocks = cache.block_table(seq);
  for (size_t p = 0; p < n; ++p) {
    BlockId b = blocks[p / kBlockTokens];
    int32_t sig[2];
    std::memcpy(sig, cache.pool().k_data(b, 0) + (p % kBlockTokens) * cache.pool().row_bytes(0), sizeof sig);
    ASSERT_EQ(sig[0], tokens[p]) << "position " << p;
    ASSERT_EQ(sig[1], static_cast<int32_t>(p));
  }
}

TEST(KvCacheProperty, RandomOperationsKeepInvariantsAndContent) {
  std::mt19937_64 rng(20261125);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // Shared openings (system prompts of different lengths), then random user text.
  std::vector<std::vector<TokenId>> openings = {range_tokens(1, 10), range_tokens(1, 7), concat(range_tokens(1, 5), {99, 98, 97}), {}};

  KvCache cache(small_config(24));
  struct Live {
    std::vector<TokenId> tokens;  // prompt, then generated
    size_t prompt_tokens;
    size_t committed;
  };
  std::map<SequenceId, Live> live;
  int failures = 0, hits = 0;

  for (int step = 0; step < 4000; ++step) {
    size_t op = pick(10);
    if (live.empty() || (op < 3 && live.size() < 6)) {
      std::vector<TokenId> prompt = openings[pick(openings.size())];
      size_t extra = 1 + pick(12);
      for (size_t i = 0; i < extra; ++i) prompt.push_back(static_cast<TokenId>(pick(3)));
      SequenceId id = cache.open_sequence(prompt);
      size_t cached = cache.cached_tokens(id);
      ASSERT_LT(cached, prompt.size());
      ASSERT_EQ(cached % kBlockTokens, 0u);
      if (cached > 0) ++hits;
      expect_signatures(cache, id, prompt, cached);
      live[id] = {prompt, prompt.size(), cached};
    } else {
      auto it = std::next(live.begin(), static_cast<ptrdiff_t>(pick(live.size())));
      SequenceId id = it->first;
      Live& s = it->second;
      if (op == 9 || s.tokens.size() > 40) {
        cache.release(id);
        live.erase(it);
      } else {
        if (s.committed == s.tokens.size()) s.tokens.push_back(static_cast<TokenId>(pick(50)));  // decode
        size_t n = std::min(s.tokens.size() - s.committed, 1 + pick(6));  // chunked prefill
        auto before = cache.stats();
        try {
          cache.reserve(id, n);
        } catch (const EngineError&) {
          ++failures;
          auto after = cache.stats();
          ASSERT_EQ(after.free_blocks, before.free_blocks);
          ASSERT_EQ(after.cached_blocks, before.cached_blocks);
          size_t need = (s.committed + n + kBlockTokens - 1) / kBlockTokens - cache.block_table(id).size();
          ASSERT_LT(static_cast<size_t>(after.free_blocks + after.cached_blocks), need);
          cache.release(id);  // the engine fails this request
          live.erase(it);
          cache.check_consistency();
          continue;
        }
        for (size_t i = 0; i < n; ++i) write_signature(cache, id, s.committed + i, s.tokens[s.committed + i]);
        cache.commit(id, std::span<const TokenId>(s.tokens).subspan(s.committed, n));
        s.committed += n;
      }
    }
    cache.check_consistency();
    size_t used_min = 0;
    for (const auto& [id, s] : live) {
      ASSERT_EQ(cache.length(id), s.committed);
      ASSERT_EQ(cache.block_table(id).size() * kBlockTokens >= s.committed, true);
      expect_signatures(cache, id, s.tokens, s.committed);
      used_min = std::max(used_min, cache.block_table(id).size());
    }
    ASSERT_GE(static_cast<size_t>(cache.stats().used_blocks), used_min);
  }
  for (const auto& [id, s] : live) cache.release(id);
  cache.check_consistency();
  EXPECT_EQ(cache.stats().used_blocks, 0);
  // The run must have exercised sharing and exhaustion, or it proves little.
  EXPECT_GT(hits, 100);
  EXPECT_GT(failures, 5);
}

}  // namespace
}  // namespace ragent::engine
