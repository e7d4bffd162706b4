#include "engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace ragent::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Descending logit, ties toward the smaller id: a total order, so every partial sort agrees.
bool ranks_before(const TokenCandidate& a, const TokenCandidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float max_logit(const TokenCandidates& c) {
  if (c.sorted && !c.items.empty()) return c.items.front().logit;
  float m = kNegInf;
  for (const auto& item : c.items) m = std::max(m, item.logit);
  return m;
}

void require_finite_max(float m, const char* stage) {
  if (!(m > kNegInf)) {
    throw EngineError(std::string(stage) + ": no candidate token has a finite logit (all are masked, banned or -inf)");
  }
}

std::string float_text(float v) { return std::to_string(v); }

}  // namespace

void TokenCandidates::assign(std::span<const float> logits) {
  items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) items[i] = {static_cast<TokenId>(i), logits[i]};
  vocab_size = static_cast<int32_t>(logits.size());
  sorted = false;
  id_indexed = true;
  selected = -1;
}

// ---- chain ----

SamplerChain& SamplerChain::add(std::unique_ptr<Sampler> stage) {
  if (!stage) throw EngineError("SamplerChain::add: null stage");
  stages_.push_back(std::move(stage));
  return *this;
}

void SamplerChain::apply(TokenCandidates& candidates) {
  for (auto& stage : stages_) stage->apply(candidates);
}

void SamplerChain::accept(TokenId token) {
  for (auto& stage : stages_) stage->accept(token);
}

void SamplerChain::reset() {
  for (auto& stage : stages_) stage->reset();
}

TokenId SamplerChain::sample(std::span<const float> logits) {
  if (logits.empty()) throw EngineError("sampler: empty logits row");
  if (logits.size() > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    throw EngineError("sampler: logits row of " + std::to_string(logits.size()) + " entries is too long");
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) throw EngineError("sampler: logit of token " + std::to_string(i) + " is NaN");
  }
  scratch_.assign(logits);
  apply(scratch_);
  if (scratch_.selected < 0) throw EngineError("sampler: the chain has no picking stage (greedy or dist)");
  return scratch_.selected;
}

// ---- logit bias ----

LogitBiasSampler::LogitBiasSampler(std::vector<std::pair<TokenId, float>> bias) {
  for (const auto& [id, value] : bias) {
    if (id < 0) throw EngineError("logit bias: negative token id " + std::to_string(id));
    if (std::isnan(value) || value == std::numeric_limits<float>::infinity()) {
      throw EngineError("logit bias for token " + std::to_string(id) + " is " + float_text(value) +
                        "; use a finite value or -inf to ban the token");
    }
  }
  std::sort(bias.begin(), bias.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& entry : bias) {
    if (!bias_.empty() && bias_.back().first == entry.first) {
      bias_.back().second += entry.second;
    } else {
      bias_.push_back(entry);
    }
  }
}

void LogitBiasSampler::apply(TokenCandidates& c) {
  if (bias_.empty()) return;
  if (c.id_indexed) {
    for (const auto& [id, value] : bias_) {
      if (id < c.vocab_size) c.items[static_cast<size_t>(id)].logit += value;
    }
  } else {
    for (auto& item : c.items) {
      auto it = std::lower_bound(bias_.begin(), bias_.end(), item.id,
                                 [](const auto& entry, TokenId id) { return entry.first < id; });
      if (it != bias_.end() && it->first == item.id) item.logit += it->second;
    }
  }
  c.sorted = false;
}

// ---- token mask ----

TokenMaskSampler::TokenMaskSampler(TokenMaskFill fill) : fill_(std::move(fill)) {
  if (!fill_) throw EngineError("token mask sampler: empty fill hook");
}

void TokenMaskSampler::apply(TokenCandidates& c) {
  mask_.resize(token_mask_words(static_cast<size_t>(c.vocab_size)));
  std::fill(mask_.begin(), mask_.end(), ~uint64_t{0});
  if (!fill_(mask_)) return;
  size_t allowed = 0;
  for (auto& item : c.items) {
    if (token_mask_allows(mask_, item.id)) {
      ++allowed;
    } else {
      item.logit = kNegInf;
    }
  }
  if (allowed == 0) {
    throw EngineError("token mask allows none of the " + std::to_string(c.items.size()) +
                      " candidate tokens; the grammar has no valid continuation here");
  }
  // -inf logits moved masked tokens to the end; sortedness of the rest is kept, but the
  // relative order among masked tokens no longer follows the order rule.
  c.sorted = false;
}

// ---- penalties ----

PenaltySampler::PenaltySampler(PenaltyParams params) : params_(params) {
  if (params_.window_tokens < 0) throw EngineError("penalties: window_tokens must be >= 0");
  if (!(params_.repeat > 0.0f) || !std::isfinite(params_.repeat)) {
    throw EngineError("penalties: repeat must be > 0 and finite, got " + float_text(params_.repeat));
  }
  if (!std::isfinite(params_.frequency) || !std::isfinite(params_.presence)) {
    throw EngineError("penalties: frequency and presence must be finite");
  }
  ring_.reserve(std::min<size_t>(static_cast<size_t>(params_.window_tokens), 4096));
}

void PenaltySampler::count(TokenId token, int delta) {
  auto t = static_cast<size_t>(token);
  if (t >= counts_.size()) counts_.resize(std::max(t + 1, counts_.size() * 2), 0);
  if (delta > 0) {
    if (counts_[t]++ == 0) distinct_.push_back(token);
  } else if (--counts_[t] == 0) {
    auto it = std::find(distinct_.begin(), distinct_.end(), token);
    *it = distinct_.back();
    distinct_.pop_back();
  }
}

void PenaltySampler::accept(TokenId token) {
  if (params_.window_tokens == 0 || token < 0) return;
  auto window = static_cast<size_t>(params_.window_tokens);
  if (ring_.size() < window) {
    ring_.push_back(token);
  } else {
    count(ring_[ring_head_], -1);
    ring_[ring_head_] = token;
    ring_head_ = (ring_head_ + 1) % window;
  }
  count(token, +1);
}

void PenaltySampler::reset() {
  ring_.clear();
  ring_head_ = 0;
  std::fill(counts_.begin(), counts_.end(), 0u);
  distinct_.clear();
}

void PenaltySampler::apply(TokenCandidates& c) {
  if (distinct_.empty()) return;
  if (params_.repeat == 1.0f && params_.frequency == 0.0f && params_.presence == 0.0f) return;
  auto penalize = [&](TokenCandidate& item, uint32_t n) {
    if (item.logit > 0.0f) {
      item.logit /= params_.repeat;
    } else {
      item.logit *= params_.repeat;
    }
    item.logit -= static_cast<float>(n) * params_.frequency + params_.presence;
  };
  if (c.id_indexed) {
    for (TokenId token : distinct_) {
      if (token < c.vocab_size) penalize(c.items[static_cast<size_t>(token)], counts_[static_cast<size_t>(token)]);
    }
  } else {
    for (auto& item : c.items) {
      auto t = static_cast<size_t>(item.id);
      if (t < counts_.size() && counts_[t] > 0) penalize(item, counts_[t]);
    }
  }
  c.sorted = false;
}

// ---- top-k ----

void TopKSampler::apply(TokenCandidates& c) {
  if (k_ <= 0 || static_cast<size_t>(k_) >= c.items.size()) return;
  auto k = static_cast<size_t>(k_);
  if (!c.sorted) {
    std::partial_sort(c.items.begin(), c.items.begin() + static_cast<ptrdiff_t>(k), c.items.end(), ranks_before);
  }
  c.items.resize(k);
  c.sorted = true;
  c.id_indexed = false;
}

// ---- top-p ----

TopPSampler::TopPSampler(float p) : p_(p) {
  if (!(p > 0.0f && p <= 1.0f)) throw EngineError("top_p must be in (0, 1], got " + float_text(p));
}

void TopPSampler::apply(TokenCandidates& c) {
  if (p_ >= 1.0f || c.items.size() <= 1) return;
  float m = max_logit(c);
  require_finite_max(m, "top_p");
  double total = 0.0;
  for (const auto& item : c.items) total += std::exp(static_cast<double>(item.logit) - m);
  const double target = static_cast<double>(p_) * total;

  // Sort only as far as needed: a growing sorted prefix, doubling until it covers p.
  const size_t n = c.items.size();
  size_t sorted_end = c.sorted ? n : 0;
  size_t want = std::min<size_t>(n, 64);
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (i == sorted_end) {
      std::partial_sort(c.items.begin() + static_cast<ptrdiff_t>(i), c.items.begin() + static_cast<ptrdiff_t>(want),
                        c.items.end(), ranks_before);
      sorted_end = want;
      want = std::min(n, want * 2);
    }
    cumulative += std::exp(static_cast<double>(c.items[i].logit) - m);
    if (cumulative >= target) {
      c.items.resize(i + 1);
      break;
    }
  }
  // Without a break (rounding kept cumulative a hair below target) every item was visited,
  // so the whole list is sorted and kept.
  c.sorted = true;
  c.id_indexed = false;
}

// ---- min-p ----

MinPSampler::MinPSampler(float p) : p_(p) {
  if (!(p >= 0.0f && p <= 1.0f)) throw EngineError("min_p must be in [0, 1], got " + float_text(p));
}

void MinPSampler::apply(TokenCandidates& c) {
  if (p_ <= 0.0f || c.items.empty()) return;
  float m = max_logit(c);
  require_finite_max(m, "min_p");
  // p_i >= p * p_max  <=>  logit_i >= max + log(p).
  const double threshold = static_cast<double>(m) + std::log(static_cast<double>(p_));
  auto keep_end = std::remove_if(c.items.begin(), c.items.end(),
                                 [&](const TokenCandidate& item) { return static_cast<double>(item.logit) < threshold; });
  if (keep_end != c.items.end()) {
    c.items.erase(keep_end, c.items.end());
    c.id_indexed = false;
  }
}

// ---- temperature ----

TemperatureSampler::TemperatureSampler(float t) : t_(t) {
  if (!(t > 0.0f) || !std::isfinite(t)) {
    throw EngineError("temperature must be > 0 and finite, got " + float_text(t) + " (use greedy for 0)");
  }
}

void TemperatureSampler::apply(TokenCandidates& c) {
  if (t_ == 1.0f) return;
  for (auto& item : c.items) item.logit /= t_;
}

// ---- pick ----

void GreedySampler::apply(TokenCandidates& c) {
  if (c.items.empty()) throw EngineError("greedy: no candidate tokens");
  const TokenCandidate* best = &c.items.front();
  for (const auto& item : c.items) {
    if (ranks_before(item, *best)) best = &item;
  }
  require_finite_max(best->logit, "greedy");
  c.selected = best->id;
}

void DistSampler::apply(TokenCandidates& c) {
  if (c.items.empty()) throw EngineError("dist: no candidate tokens");
  float m = max_logit(c);
  require_finite_max(m, "dist");
  double total = 0.0;
  for (const auto& item : c.items) total += std::exp(static_cast<double>(item.logit) - m);
  const double target = uniform_unit(rng_) * total;
  double cumulative = 0.0;
  const TokenCandidate* last_finite = nullptr;
  for (const auto& item : c.items) {
    if (!(item.logit > kNegInf)) continue;
    last_finite = &item;
    cumulative += std::exp(static_cast<double>(item.logit) - m);
    if (cumulative > target) {
      c.selected = item.id;
      return;
    }
  }
  c.selected = last_finite->id;  // rounding left target at the very end
}

// ---- standard chain ----

std::unique_ptr<SamplerChain> make_sampler_chain(const SamplerParams& params, TokenMaskFill mask) {
  auto chain = std::make_unique<SamplerChain>();
  if (!params.logit_bias.empty()) chain->add(std::make_unique<LogitBiasSampler>(params.logit_bias));
  if (mask) chain->add(std::make_unique<TokenMaskSampler>(std::move(mask)));
  const auto& pen = params.penalties;
  auto penalties = std::make_unique<PenaltySampler>(pen);  // validates even when off
  if (pen.window_tokens > 0 && (pen.repeat != 1.0f || pen.frequency != 0.0f || pen.presence != 0.0f)) {
    chain->add(std::move(penalties));
  }
  if (!(params.temperature > 0.0f)) {
    if (std::isnan(params.temperature)) throw EngineError("temperature is NaN");
    chain->add(std::make_unique<GreedySampler>());
    return chain;
  }
  if (params.top_k > 0) chain->add(std::make_unique<TopKSampler>(params.top_k));
  if (!(params.top_p >= 1.0f)) chain->add(std::make_unique<TopPSampler>(params.top_p));
  if (params.min_p != 0.0f) chain->add(std::make_unique<MinPSampler>(params.min_p));
  chain->add(std::make_unique<TemperatureSampler>(params.temperature));
  chain->add(std::make_unique<DistSampler>(params.seed));
  return chain;
}

}  // namespace ragent::engine
