#include "engine/backend.hpp"

#include "engine/error.hpp"

namespace ragent::engine {

void Backend::forward(const int32_t* tokens, int n_tokens, const int32_t* positions, SequenceCache& cache,
                      float* logits_out, bool all_logits) {
  ForwardItem item{tokens, n_tokens, positions, &cache, logits_out, all_logits, {}};
  forward_batch({&item, 1});
  if (!item.error.empty()) throw EngineError(item.error);
}

}  // namespace ragent::engine
