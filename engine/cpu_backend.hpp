// Forward pass on the CPU for arch llama, deci and qwen2, with weights read in place from the
// model's mapping. Weight products go through engine/cpu_matmul.hpp; attention streams the
// cache a block of keys at a time with an online softmax, so memory grows with the sequence
// length, not its square.
//
// Thread safety: one thread at a time (the Backend contract); the Model may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/backend.hpp"
#include "engine/model.hpp"

namespace ragent::kernels {
class ThreadPool;
}

namespace ragent::engine {

struct CpuBackendOptions {
  KvType kv_type = KvType::F16;  // what new_sequence_cache() stores
  int threads = 0;               // threads for the weight products; 0 = one per hardware thread
};

class CpuBackend final : public Backend {
 public:
  // `model` must outlive the backend. Throws EngineError when a weight has a type the CPU
  // cannot compute with.
  explicit CpuBackend(const Model& model, CpuBackendOptions options = {});
  ~CpuBackend() override;

  std::unique_ptr<SequenceCache> new_sequence_cache() const override;
  void forward_batch(std::span<ForwardItem> items) override;
  void embed(const int32_t* tokens, int n_tokens, const EmbeddingOptions& options, float* out) override;

  // Defined in cpu_backend.cpp; public only so that its helpers there can name them.
  struct LayerVectors;  // a layer's norm weights and biases as f32
  struct Workspace;     // activation buffers reused by every pass
  struct Segment;       // one sequence's rows within a pass

 private:
  // Embeds the tokens of every segment (n in all) and runs every layer over them: returns the
  // residual stream after the last layer, before the final norm, [n, hidden] in the workspace.
  float* run_layers(std::span<const Segment> segments, int64_t n);

  const Model& model_;
  CpuBackendOptions options_;
  std::unique_ptr<kernels::ThreadPool> pool_;  // created once, used by every weight product
  std::vector<double> inv_freq_;  // rope_dim / 2 rotation speeds, scaling applied
  std::vector<LayerVectors> layer_vectors_;  // per layer
  std::vector<float> output_norm_;
  std::unique_ptr<Workspace> workspace_;
};

}  // namespace ragent::engine
