// The seam between the engine and the hardware that runs a model's forward pass.
//
// A Backend owns whatever it derived from a Model (tables, device copies) and computes logits
// for a batch of sequences' new tokens, reading and extending each sequence's cache, or one
// text's embedding: its tokens' final hidden states pooled into one vector. The CPU backend
// (engine/cpu_backend.hpp) is one implementation; a CUDA backend is another.
//
// Thread safety: a Backend is used by one thread at a time (the engine thread that owns it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "engine/model.hpp"
#include "engine/sequence_cache.hpp"

namespace ragent::engine {

// One sequence's share of a batched forward: tokens[0..n_tokens) at positions[0..n_tokens),
// run after what `cache` already holds. Each token attends to its own sequence's cached
// tokens and new ones whose position is not greater than its own; sequences never see each
// other. logits_out receives vocab_size floats: n_tokens rows (token order) when all_logits,
// else one row for the last token.
struct ForwardItem {
  const int32_t* tokens = nullptr;
  int n_tokens = 0;
  const int32_t* positions = nullptr;
  SequenceCache* cache = nullptr;
  float* logits_out = nullptr;
  bool all_logits = false;
  // Set by the backend when this item was refused (a token id outside the vocabulary, a
  // negative position, n_tokens < 1, a cache that cannot grow): its cache is left as it was
  // and its logits are not written; the other items run.
  std::string error;
};

// How embed() turns a text's hidden states into one vector.
struct EmbeddingOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // divide by the L2 norm (a zero vector stays zero)
  // true: each token attends to itself and the tokens before it, as in generation; false
  // (bidirectional): every token attends to every token of the text.
  bool causal = true;
};

// The options `config` asks for: its GGUF pooling type (mean when it names none), its
// attention mask (attention.causal), normalized.
EmbeddingOptions model_embedding_options(const ModelConfig& config);

class Backend {
 public:
  virtual ~Backend() = default;

  // An empty cache for one new sequence, in the storage this backend reads.
  virtual std::unique_ptr<SequenceCache> new_sequence_cache() const = 0;

  // Runs every item in one pass: weights are read once for all the items' tokens together
  // (continuous batching), attention runs per sequence. Prefill (many tokens) and decode (one
  // token) take the same path. A refused item gets its `error`; when the pass itself fails it
  // throws EngineError and every cache is left as it was.
  virtual void forward_batch(std::span<ForwardItem> items) = 0;

  // The embedding of tokens[0..n_tokens) at positions 0..n_tokens-1, computed on a cache of
  // its own (nothing is kept): the same layers as forward, then the final output norm (the
  // hidden states the output projection reads), pooled and, with options.normalize, scaled
  // to unit L2 norm. Writes hidden_size floats to out. Throws EngineError, writing nothing,
  // for n_tokens < 1 or a token id outside the vocabulary.
  virtual void embed(const int32_t* tokens, int n_tokens, const EmbeddingOptions& options, float* out) = 0;

  // One sequence: forward_batch with a single item; throws EngineError with its error.
  void forward(const int32_t* tokens, int n_tokens, const int32_t* positions, SequenceCache& cache,
               float* logits_out, bool all_logits);
};

}  // namespace ragent::engine
