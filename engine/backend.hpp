// The seam between the engine and the hardware that runs a model's forward pass.
//
// A Backend owns whatever it derived from a Model (tables, device copies) and computes logits
// for a batch of one sequence's new tokens, reading and extending that sequence's cache. The
// CPU backend (engine/cpu_backend.hpp) is one implementation; a CUDA backend is another.
//
// Thread safety: a Backend is used by one thread at a time (the engine thread that owns it).
#pragma once

#include <cstdint>
#include <memory>

#include "engine/model.hpp"
#include "engine/sequence_cache.hpp"

namespace ragent::engine {

class Backend {
 public:
  virtual ~Backend() = default;

  // An empty cache for one new sequence, in the storage this backend reads.
  virtual std::unique_ptr<SequenceCache> new_sequence_cache() const = 0;

  // Runs tokens[0..n_tokens) at positions[0..n_tokens) through the model after what `cache`
  // already holds, and appends their keys and values to it. Prefill (a batch) and decode (one
  // token) take the same path. Each token attends to the cached tokens and the new ones whose
  // position is not greater than its own.
  // logits_out receives vocab_size floats: n_tokens rows (token order) when all_logits, else
  // one row for the last token. Throws EngineError on a token id outside the vocabulary, a
  // negative position or n_tokens < 1; the cache is then left as it was.
  virtual void forward(const int32_t* tokens, int n_tokens, const int32_t* positions, SequenceCache& cache,
                       float* logits_out, bool all_logits) = 0;
};

}  // namespace ragent::engine
