// Sampling: logits in, one token id out, through a chain of stages.
//
// A stage is a Sampler: one required hook, `apply`, that edits a candidate list (change
// logits, drop candidates, or set `selected`). A SamplerChain is itself a Sampler that runs
// its stages in order; the last stage picks (GreedySampler or DistSampler). The usual chain,
// built by make_sampler_chain, is llama.cpp's order:
//   logit bias -> token mask -> penalties -> top-k -> top-p -> min-p -> temperature -> pick.
//
// Ties between equal logits always break toward the smaller token id, so which tokens a
// filter keeps never depends on the standard library's sort. DistSampler draws from its own
// std::mt19937_64 with a hand-written uniform (no std::*_distribution): the same seed and the
// same logits give the same tokens wherever std::exp is correctly rounded (glibc).
//
// Cost on a 128,256-token vocabulary: one pass per stage; top-k and top-p use partial sorts
// (no full sort unless top-p needs nearly the whole vocabulary). After the first call at a
// given vocabulary size nothing allocates per token.
//
// Thread safety: none. A chain holds per-sequence state (penalty window, random generator);
// each sequence owns its chain and uses it from the engine's single thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

struct TokenCandidate {
  TokenId id;
  float logit;
};

// The working set the stages edit. `items` keeps its capacity between calls.
struct TokenCandidates {
  std::vector<TokenCandidate> items;
  int32_t vocab_size = 0;   // length of the logits row this set was built from
  bool sorted = false;      // items are in descending logit order (ties: smaller id first)
  bool id_indexed = false;  // items[i].id == i for every i < vocab_size (the whole vocabulary)
  TokenId selected = -1;    // set by the picking stage

  // Resets to every token of `logits`, in id order. Reuses `items`' storage.
  void assign(std::span<const float> logits);
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Edits `candidates`. Throws EngineError when no token can be chosen (for example, a mask
  // that allows none). Stages that reorder must clear `id_indexed`; that unsort, `sorted`.
  virtual void apply(TokenCandidates& candidates) = 0;
  // Told each token appended to the sequence (prompt tokens too, if the caller wants them
  // penalized). Default: ignored.
  virtual void accept(TokenId /*token*/) {}
  // Back to the state right after construction (new sequence, same parameters).
  virtual void reset() {}
};

class SamplerChain final : public Sampler {
 public:
  SamplerChain& add(std::unique_ptr<Sampler> stage);
  size_t size() const { return stages_.size(); }

  void apply(TokenCandidates& candidates) override;  // every stage, in order
  void accept(TokenId token) override;
  void reset() override;

  // Builds candidates from `logits` (reusing a buffer the chain owns), applies the chain and
  // returns the selected token. Throws EngineError when `logits` is empty or no stage picked.
  TokenId sample(std::span<const float> logits);

 private:
  std::vector<std::unique_ptr<Sampler>> stages_;
  TokenCandidates scratch_;
};

// Adds bias[token] to the logit of `token`. Bias values may be -inf (ban); +inf and NaN are
// rejected at construction, as are negative ids. Ids past the vocabulary are ignored.
class LogitBiasSampler final : public Sampler {
 public:
  explicit LogitBiasSampler(std::vector<std::pair<TokenId, float>> bias);
  void apply(TokenCandidates& candidates) override;

 private:
  std::vector<std::pair<TokenId, float>> bias_;  // sorted by id, ids unique (summed)
};

// A token mask is a bitset over the vocabulary: token t is allowed when bit (t % 64) of word
// t / 64 is set. Words past the vocabulary end are ignored.
inline size_t token_mask_words(size_t vocab_size) { return (vocab_size + 63) / 64; }
inline bool token_mask_allows(std::span<const uint64_t> mask, TokenId token) {
  auto word = static_cast<size_t>(token) / 64;
  return word < mask.size() && ((mask[word] >> (static_cast<size_t>(token) % 64)) & 1u) != 0;
}

// Gives each step's mask. Called once per apply with a buffer of token_mask_words(vocab)
// words, all bits set (everything allowed); the hook clears the bits of forbidden tokens and
// returns true, or returns false to leave this step unconstrained (a lazy grammar before its
// trigger). The grammar module supplies it.
using TokenMaskFill = std::function<bool(std::span<uint64_t> mask)>;

// Sets the logit of every masked-out token to -inf. Throws EngineError when the mask allows
// no candidate.
class TokenMaskSampler final : public Sampler {
 public:
  explicit TokenMaskSampler(TokenMaskFill fill);
  void apply(TokenCandidates& candidates) override;

 private:
  TokenMaskFill fill_;
  std::vector<uint64_t> mask_;
};

// llama.cpp's penalties over the last `window_tokens` accepted tokens. For a token seen
// count > 0 times: logit /= repeat if logit > 0, else logit *= repeat; then
// logit -= count * frequency + presence. repeat == 1, frequency == 0, presence == 0: no-op.
struct PenaltyParams {
  int32_t window_tokens = 64;
  float repeat = 1.0f;
  float frequency = 0.0f;
  float presence = 0.0f;
};

class PenaltySampler final : public Sampler {
 public:
  // Throws EngineError when window_tokens < 0, repeat <= 0 or any value is not finite.
  explicit PenaltySampler(PenaltyParams params);
  void apply(TokenCandidates& candidates) override;
  void accept(TokenId token) override;
  void reset() override;

 private:
  void count(TokenId token, int delta);
  PenaltyParams params_;
  std::vector<TokenId> ring_;       // the window, oldest at ring_head_ once full
  size_t ring_head_ = 0;
  std::vector<uint32_t> counts_;    // by token id
  std::vector<TokenId> distinct_;   // tokens with counts_ > 0
};

// Keeps the k highest logits, sorted. k <= 0 or k >= size: unchanged.
class TopKSampler final : public Sampler {
 public:
  explicit TopKSampler(int32_t k) : k_(k) {}
  void apply(TokenCandidates& candidates) override;

 private:
  int32_t k_;
};

// Keeps the smallest set of highest-probability tokens whose probabilities (softmax of the
// current logits) sum to at least p; always at least one token. Leaves candidates sorted.
// p >= 1: unchanged. Throws at construction when p is not in (0, 1] (NaN included).
class TopPSampler final : public Sampler {
 public:
  explicit TopPSampler(float p);
  void apply(TokenCandidates& candidates) override;

 private:
  float p_;
};

// Keeps tokens whose probability is at least p times the most likely token's. p == 0:
// unchanged. Order is preserved. Throws at construction when p is not in [0, 1].
class MinPSampler final : public Sampler {
 public:
  explicit MinPSampler(float p);
  void apply(TokenCandidates& candidates) override;

 private:
  float p_;
};

// Divides every logit by t. Throws at construction unless t > 0 and finite; for t == 0
// use GreedySampler instead.
class TemperatureSampler final : public Sampler {
 public:
  explicit TemperatureSampler(float t);
  void apply(TokenCandidates& candidates) override;

 private:
  float t_;
};

// Selects the highest logit (ties: smaller id). Throws EngineError when no candidate has a
// finite logit.
class GreedySampler final : public Sampler {
 public:
  void apply(TokenCandidates& candidates) override;
};

// Selects a candidate at random with probability softmax(logits), from std::mt19937_64
// seeded with `seed`; reset() re-seeds. Throws EngineError when no candidate has a finite
// logit.
class DistSampler final : public Sampler {
 public:
  explicit DistSampler(uint64_t seed) : seed_(seed), rng_(seed) {}
  void apply(TokenCandidates& candidates) override;
  void reset() override { rng_.seed(seed_); }

 private:
  uint64_t seed_;
  std::mt19937_64 rng_;
};

// Uniform double in [0, 1) from the top 53 bits of one draw; the same on every platform.
inline double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

struct SamplerParams {
  float temperature = 0.8f;  // <= 0: greedy (filters and temperature are then skipped)
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // 0: off
  PenaltyParams penalties;   // defaults: off
  std::vector<std::pair<TokenId, float>> logit_bias;
  uint64_t seed = 0;
};

// The standard chain for `params`; `mask` (may be empty) becomes the token mask stage.
// Throws EngineError naming the parameter that is out of range.
std::unique_ptr<SamplerChain> make_sampler_chain(const SamplerParams& params, TokenMaskFill mask = {});

}  // namespace ragent::engine
