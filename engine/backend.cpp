#include "engine/backend.hpp"

#include "engine/error.hpp"

namespace ragent::engine {

EmbeddingOptions model_embedding_options(const ModelConfig& config) {
  return EmbeddingOptions{config.pooling.value_or(Pooling::Mean), true, config.causal_attention};
}

void Backend::forward(const int32_t* tokens, int n_tokens, const int32_t* positions, SequenceCache& cache,
                      float* logits_out, bool all_logits) {
  ForwardItem item{tokens, n_tokens, positions, &cache, logits_out, all_logits, {}};
  forward_batch({&item, 1});
  if (!item.error.empty()) throw EngineError(item.error);
}

}  // namespace ragent::engine
