// Pins engine/sampler.cpp: each stage against hand-computed examples, the chain, seeding and
// the distribution the random pick draws from.
#include "engine/sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace ragent::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TokenCandidates make(std::vector<float> logits) {
  TokenCandidates c;
  c.assign(logits);
  return c;
}

std::vector<TokenId> ids(const TokenCandidates& c) {
  std::vector<TokenId> out;
  for (const auto& item : c.items) out.push_back(item.id);
  return out;
}

float logit_of(const TokenCandidates& c, TokenId id) {
  for (const auto& item : c.items) {
    if (item.id == id) return item.logit;
  }
  ADD_FAILURE() << "token " << id << " not among candidates";
  return 0.0f;
}

// log of a probability vector: softmax gives the probabilities back.
std::vector<float> logits_for(std::vector<double> probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

TEST(SamplerGreedy, PicksHighestLogitAndBreaksTiesTowardSmallerId) {
  auto c = make({1.0f, 4.0f, -2.0f, 4.0f});
  GreedySampler().apply(c);
  EXPECT_EQ(c.selected, 1);
}

TEST(SamplerGreedy, AllBannedIsAnError) {
  auto c = make({-kInf, -kInf});
  EXPECT_THROW(GreedySampler().apply(c), EngineError);
}

TEST(SamplerGreedy, IgnoresTemperature) {
  std::vector<float> logits = {0.3f, 2.5f, 2.4f, -1.0f};
  for (float t : {0.05f, 1.0f, 7.0f}) {
    SamplerChain chain;
    chain.add(std::make_unique<TemperatureSampler>(t)).add(std::make_unique<GreedySampler>());
    EXPECT_EQ(chain.sample(logits), 1) << "t=" << t;
  }
  // Temperature 0 in the params means greedy, whatever the seed.
  for (uint64_t seed : {1u, 2u, 3u}) {
    SamplerParams params;
    params.temperature = 0.0f;
    params.seed = seed;
    EXPECT_EQ(make_sampler_chain(params)->sample(logits), 1);
  }
}

TEST(SamplerLogitBias, AddsSumsDuplicatesAndBans) {
  auto c = make({1.0f, 2.0f, 3.0f});
  LogitBiasSampler({{0, 0.5f}, {2, -kInf}, {0, 0.25f}, {9, 100.0f}}).apply(c);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 1.75f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), 2.0f);
  EXPECT_EQ(logit_of(c, 2), -kInf);
}

TEST(SamplerLogitBias, WorksAfterCandidatesWereReordered) {
  auto c = make({1.0f, 5.0f, 3.0f, 4.0f});
  TopKSampler(3).apply(c);
  ASSERT_FALSE(c.id_indexed);
  LogitBiasSampler({{3, 2.0f}, {0, 10.0f}}).apply(c);
  EXPECT_FLOAT_EQ(logit_of(c, 3), 6.0f);
  EXPECT_EQ(c.items.size(), 3u);  // token 0 was dropped before; the bias does not bring it back
}

TEST(SamplerLogitBias, RejectsPositiveInfinityAndNegativeIds) {
  EXPECT_THROW(LogitBiasSampler({{1, kInf}}), EngineError);
  EXPECT_THROW(LogitBiasSampler({{1, std::nanf("")}}), EngineError);
  EXPECT_THROW(LogitBiasSampler({{-1, 1.0f}}), EngineError);
}

TEST(SamplerTokenMask, MaskedTokensGetNegativeInfinity) {
  auto c = make(std::vector<float>(130, 1.0f));
  TokenMaskSampler mask([](std::span<uint64_t> words) {
    EXPECT_EQ(words.size(), 3u);
    EXPECT_EQ(words[2], ~uint64_t{0});  // handed over all-allowed
    std::fill(words.begin(), words.end(), 0);
    words[0] = 1u << 5;
    words[2] = 1u << 1;  // token 129
    return true;
  });
  mask.apply(c);
  for (const auto& item : c.items) {
    bool allowed = item.id == 5 || item.id == 129;
    EXPECT_EQ(item.logit, allowed ? 1.0f : -kInf) << item.id;
  }
}

TEST(SamplerTokenMask, UnconstrainedStepLeavesLogits) {
  auto c = make({1.0f, 2.0f});
  TokenMaskSampler([](std::span<uint64_t> words) {
    words[0] = 0;  // ignored: the hook says this step is unconstrained
    return false;
  }).apply(c);
  EXPECT_EQ(logit_of(c, 0), 1.0f);
  EXPECT_EQ(logit_of(c, 1), 2.0f);
}

TEST(SamplerTokenMask, MaskAllowingNothingIsAClearError) {
  auto c = make({1.0f, 2.0f, 3.0f});
  TokenMaskSampler mask([](std::span<uint64_t> words) {
    words[0] = uint64_t{1} << 40;  // allows only a token past the vocabulary
    return true;
  });
  try {
    mask.apply(c);
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("allows none of the 3 candidate tokens"), std::string::npos) << e.what();
  }
}

TEST(SamplerPenalties, FollowLlamaCppSemantics) {
  PenaltySampler pen({.window_tokens = 8, .repeat = 2.0f, .frequency = 0.5f, .presence = 0.25f});
  for (TokenId t : {0, 0, 1}) pen.accept(t);
  auto c = make({2.0f, -1.0f, 0.5f, 3.0f});
  pen.apply(c);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 2.0f / 2 - (2 * 0.5f + 0.25f));   // positive: divided
  EXPECT_FLOAT_EQ(logit_of(c, 1), -1.0f * 2 - (1 * 0.5f + 0.25f));  // negative: multiplied
  EXPECT_FLOAT_EQ(logit_of(c, 2), 0.5f);
  EXPECT_FLOAT_EQ(logit_of(c, 3), 3.0f);
}

TEST(SamplerPenalties, OnlyTheWindowCounts) {
  PenaltySampler pen({.window_tokens = 2, .repeat = 1.0f, .frequency = 1.0f, .presence = 0.0f});
  for (TokenId t : {0, 1, 2, 1}) pen.accept(t);  // window now {2, 1}
  auto c = make({0.0f, 0.0f, 0.0f});
  pen.apply(c);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 0.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -1.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), -1.0f);
  pen.reset();
  auto fresh = make({0.0f, 0.0f, 0.0f});
  pen.apply(fresh);
  EXPECT_FLOAT_EQ(logit_of(fresh, 1), 0.0f);
}

TEST(SamplerPenalties, SameResultOnReorderedCandidates) {
  PenaltySampler pen({.window_tokens = 4, .repeat = 1.5f, .frequency = 0.1f, .presence = 0.2f});
  for (TokenId t : {3, 1, 3}) pen.accept(t);
  auto indexed = make({1.0f, 2.0f, 3.0f, 4.0f});
  auto reordered = make({1.0f, 2.0f, 3.0f, 4.0f});
  TopKSampler(4 - 1).apply(reordered);
  pen.apply(indexed);
  pen.apply(reordered);
  for (TokenId t : {1, 2, 3}) EXPECT_FLOAT_EQ(logit_of(indexed, t), logit_of(reordered, t)) << t;
}

TEST(SamplerPenalties, RejectsBadParameters) {
  EXPECT_THROW(PenaltySampler({.window_tokens = -1}), EngineError);
  EXPECT_THROW(PenaltySampler({.window_tokens = 4, .repeat = 0.0f}), EngineError);
  EXPECT_THROW(PenaltySampler({.window_tokens = 4, .repeat = 1.0f, .frequency = kInf}), EngineError);
}

TEST(SamplerMaskAndPenalties, PenaltyMovesPickAmongAllowedAndNeverRevivesMasked) {
  // Token 0 has the highest logit but is masked; token 1 leads the allowed ones until it is
  // penalized below token 2.
  SamplerChain chain;
  chain.add(std::make_unique<TokenMaskSampler>([](std::span<uint64_t> words) {
    words[0] = 0b110;
    return true;
  }));
  chain.add(std::make_unique<PenaltySampler>(PenaltyParams{.window_tokens = 16, .repeat = 1.3f, .frequency = 0.0f, .presence = 0.0f}));
  chain.add(std::make_unique<GreedySampler>());
  std::vector<float> logits = {10.0f, 3.0f, 2.5f, -5.0f};
  EXPECT_EQ(chain.sample(logits), 1);
  chain.accept(0);  // repeated masked token: penalty on -inf stays -inf
  chain.accept(1);
  EXPECT_EQ(chain.sample(logits), 2);  // 3 / 1.3 = 2.31 < 2.5
}

TEST(SamplerTemperature, DividesLogits) {
  auto c = make({1.0f, -2.0f});
  TemperatureSampler(0.5f).apply(c);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 2.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -4.0f);
  EXPECT_THROW(TemperatureSampler(0.0f), EngineError);
  EXPECT_THROW(TemperatureSampler(std::nanf("")), EngineError);
}

TEST(SamplerTopK, KeepsKHighestSortedWithTiesTowardSmallerId) {
  auto c = make({1.0f, 5.0f, 3.0f, 5.0f, 3.0f});
  TopKSampler(3).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1, 3, 2}));
  EXPECT_TRUE(c.sorted);
  auto all = make({1.0f, 2.0f});
  TopKSampler(0).apply(all);
  TopKSampler(5).apply(all);
  EXPECT_EQ(ids(all), (std::vector<TokenId>{0, 1}));
  EXPECT_TRUE(all.id_indexed);
}

TEST(SamplerTopP, KeepsSmallestSetReachingP) {
  auto logits = logits_for({0.05, 0.5, 0.15, 0.3});
  auto c = make(logits);
  TopPSampler(0.75f).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1, 3}));
  c = make(logits);
  TopPSampler(0.85f).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1, 3, 2}));
}

TEST(SamplerTopP, PEqualOneKeepsEverythingAndTinyPKeepsTheTopToken) {
  auto logits = logits_for({0.05, 0.5, 0.15, 0.3});
  auto c = make(logits);
  TopPSampler(1.0f).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{0, 1, 2, 3}));
  c = make(logits);
  TopPSampler(1e-6f).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1}));
  EXPECT_THROW(TopPSampler(0.0f), EngineError);
  EXPECT_THROW(TopPSampler(1.5f), EngineError);
}

TEST(SamplerTopP, MatchesFullSortReferenceOnLargeVocabularies) {
  // Crosses the partial-sort growth steps (64, 128, ...) for flat and peaked distributions.
  std::mt19937_64 rng(7);
  for (int round = 0; round < 40; ++round) {
    size_t n = 50 + rng() % 3000;
    double spread = (round % 4 + 1) * 0.7;
    std::vector<float> logits(n);
    for (auto& v : logits) v = static_cast<float>((uniform_unit(rng) - 0.5) * 2 * spread);
    float p = static_cast<float>(0.05 + 0.9 * uniform_unit(rng));

    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    double total = 0.0;
    for (float v : logits) total += std::exp(static_cast<double>(v) - logits[order[0]]);
    double cumulative = 0.0;
    size_t keep = 0;
    while (keep < n) {
      cumulative += std::exp(static_cast<double>(logits[order[keep]]) - logits[order[0]]);
      ++keep;
      if (cumulative >= p * total) break;
    }

    auto c = make(logits);
    TopPSampler(p).apply(c);
    ASSERT_EQ(c.items.size(), keep) << "round " << round << " n=" << n << " p=" << p;
    for (size_t i = 0; i < keep; ++i) ASSERT_EQ(static_cast<size_t>(c.items[i].id), order[i]);
  }
}

TEST(SamplerMinP, KeepsTokensAtLeastPTimesTheBest) {
  auto logits = logits_for({0.05, 0.5, 0.15, 0.3});
  auto c = make(logits);
  MinPSampler(0.25f).apply(c);  // threshold 0.125
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1, 2, 3}));
  c = make(logits);
  MinPSampler(0.0f).apply(c);
  EXPECT_EQ(c.items.size(), 4u);
  c = make(logits);
  MinPSampler(1.0f).apply(c);
  EXPECT_EQ(ids(c), (std::vector<TokenId>{1}));
  EXPECT_THROW(MinPSampler(-0.1f), EngineError);
}

TEST(SamplerDist, SameSeedSameTokensAndResetReplays) {
  std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.0f, -0.4f, 0.25f};
  auto draw = [&](SamplerChain& chain) {
    std::vector<TokenId> out;
    for (int i = 0; i < 300; ++i) out.push_back(chain.sample(logits));
    return out;
  };
  SamplerParams params;
  params.temperature = 1.0f;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = 1234;
  auto a = make_sampler_chain(params);
  auto b = make_sampler_chain(params);
  auto first = draw(*a);
  EXPECT_EQ(first, draw(*b));
  a->reset();
  EXPECT_EQ(first, draw(*a));
  params.seed = 1235;
  EXPECT_NE(first, draw(*make_sampler_chain(params)));
}

TEST(SamplerDist, UniformDrawIsDefinedByTheStandardEngineAlone) {
  // [rand.predef]: the 10000th output of a default-constructed mt19937_64 is
  // 9981545732273789042; its top 53 bits / 2^53, computed independently, is below.
  std::mt19937_64 rng;
  rng.discard(9999);
  EXPECT_EQ(uniform_unit(rng), 0.5411006783847329);
}

TEST(SamplerDist, PinnedSequenceForASeed) {
  // Regression pin: this exact sequence must come out on every platform and build.
  std::vector<float> logits = {1.5f, 0.25f, -0.5f, 2.0f, 1.0f, 0.0f, 1.75f, -1.0f};
  SamplerParams params;
  params.temperature = 0.9f;
  params.top_k = 6;
  params.top_p = 0.9f;
  params.min_p = 0.05f;
  params.penalties = {.window_tokens = 4, .repeat = 1.1f, .frequency = 0.05f, .presence = 0.1f};
  params.seed = 2026;
  auto chain = make_sampler_chain(params);
  std::vector<TokenId> got;
  for (int i = 0; i < 24; ++i) {
    got.push_back(chain->sample(logits));
    chain->accept(got.back());
  }
  EXPECT_EQ(got, (std::vector<TokenId>{3, 0, 3, 0, 6, 0, 3, 4, 0, 6, 6, 3, 3, 0, 3, 0, 0, 4, 3, 3, 3, 6, 0, 6}));
}

double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double chi = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    double expected = probs[i] * draws;
    chi += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi;
}

TEST(SamplerDist, FrequenciesFollowSoftmax) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  auto logits = logits_for(probs);
  SamplerChain chain;
  chain.add(std::make_unique<DistSampler>(42));
  const int draws = 40000;
  std::vector<int> counts(4, 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(chain.sample(logits))];
  // 3 degrees of freedom; 16.27 is the 0.1% tail.
  EXPECT_LT(chi_square(counts, probs, draws), 16.27) << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
}

TEST(SamplerDist, TopKThenTemperatureRenormalizes) {
  // top-2 of {1, 2, 3, 4} weights at temperature 0.5: weights 3^2 : 4^2 = 9 : 16.
  auto logits = logits_for({0.1, 0.2, 0.3, 0.4});
  SamplerChain chain;
  chain.add(std::make_unique<TopKSampler>(2)).add(std::make_unique<TemperatureSampler>(0.5f));
  chain.add(std::make_unique<DistSampler>(9));
  const int draws = 20000;
  std::vector<int> counts(4, 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(chain.sample(logits))];
  EXPECT_EQ(counts[0] + counts[1], 0);
  std::vector<int> kept = {counts[2], counts[3]};
  // 1 degree of freedom; 10.83 is the 0.1% tail.
  EXPECT_LT(chi_square(kept, {9.0 / 25, 16.0 / 25}, draws), 10.83) << kept[0] << " " << kept[1];
}

TEST(SamplerChainTest, DefaultChainOnAFullVocabularyStaysInTopK) {
  std::mt19937_64 rng(3);
  std::vector<float> logits(128256);
  for (auto& v : logits) v = static_cast<float>(uniform_unit(rng) * 10.0);
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + 39, sorted.end(), std::greater<>());
  float fortieth = sorted[39];
  SamplerParams params;  // top_k 40
  params.seed = 5;
  auto chain = make_sampler_chain(params);
  for (int i = 0; i < 50; ++i) {
    TokenId t = chain->sample(logits);
    ASSERT_GE(logits[static_cast<size_t>(t)], fortieth);
    chain->accept(t);
  }
}

TEST(SamplerChainTest, RejectsBadInputAndParameters) {
  SamplerChain no_pick;
  no_pick.add(std::make_unique<TopKSampler>(1));
  std::vector<float> logits = {1.0f, 2.0f};
  EXPECT_THROW(no_pick.sample(logits), EngineError);
  SamplerChain greedy;
  greedy.add(std::make_unique<GreedySampler>());
  EXPECT_THROW(greedy.sample(std::vector<float>{}), EngineError);
  EXPECT_THROW(greedy.sample(std::vector<float>{1.0f, std::nanf("")}), EngineError);
  SamplerParams bad;
  bad.top_p = std::nanf("");
  EXPECT_THROW(make_sampler_chain(bad), EngineError);
  bad = {};
  bad.min_p = 2.0f;
  EXPECT_THROW(make_sampler_chain(bad), EngineError);
  bad = {};
  bad.temperature = std::nanf("");
  EXPECT_THROW(make_sampler_chain(bad), EngineError);
}

}  // namespace
}  // namespace ragent::engine
