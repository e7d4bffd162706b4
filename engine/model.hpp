// The model description every checkpoint format loads into: ModelConfig (hyperparameters and
// per-layer structure) and ModelWeights (one TensorView per role, pointing into the mapped
// files; nothing is converted or copied).
//
// Formats:
//   - Hugging Face directory: config.json + model.safetensors or a sharded checkpoint with
//     model.safetensors.index.json (model.cpp, model_hf.cpp).
//   - GGUF file (model_gguf.cpp maps metadata keys and tensor names; model_load.cpp reads the
//     file through GgufFile).
// Architectures: llama, deci (Llama-Nemotron "nemotron-nas": per-layer heads and FFN sizes,
// attention or FFN skipped or replaced by one linear map), qwen2 (q/k/v biases).
//
// Shapes are outermost first (PyTorch order): a linear map y = W x from n_in to n_out has shape
// {n_out, n_in}, so GGUF's ne (innermost first) is reversed.
//
// Thread safety: a Model is immutable after load and may be shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.hpp"
#include "engine/gguf.hpp"

namespace ragent::engine {

enum class ModelArch { Llama, Deci, Qwen2 };
// GGUF spelling: "llama", "deci", "qwen2".
std::string_view model_arch_name(ModelArch arch);
std::optional<ModelArch> parse_model_arch(std::string_view gguf_name);
// "llama, deci, qwen2", for errors.
std::string supported_model_archs();

enum class RopeScalingType { None, Linear, Llama3 };
struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;                   // Linear: positions divided by it; Llama3: long-wave divisor
  double low_freq_factor = 1.0;          // Llama3 only
  double high_freq_factor = 4.0;         // Llama3 only
  int64_t original_context_length = 0;   // Llama3 (and GGUF linear when given)
};

// Which dimensions of a head are rotated together.
//   RotateHalf:       (i, i + rope_dim/2), as Hugging Face checkpoints and GGUF qwen2 store them.
//   InterleavedPairs: (2i, 2i+1); GGUF llama/deci converters permute the Q/K rows for this.
enum class RopeLayout { RotateHalf, InterleavedPairs };
std::string_view rope_layout_name(RopeLayout layout);

enum class AttentionKind {
  Normal,  // n_heads > 0, n_kv_heads > 0
  NoOp,    // skipped (deci): n_heads == n_kv_heads == 0, no attention norm
  Linear,  // deci replace_with_linear: attn_norm then one hidden x hidden map; n_kv_heads == 0
};
enum class FfnKind {
  Normal,  // SwiGLU with ffn_length > 0
  NoOp,    // skipped (deci): ffn_length == 0, no FFN norm
  Linear,  // deci replace_with_linear: ffn_norm then one hidden x hidden map; ffn_length == 0
};

// How an embedding pools its tokens' final hidden states into one vector.
enum class Pooling {
  Mean,   // the average over every token
  First,  // the first token (BERT's CLS)
  Last,   // the last token, the only one that has seen the whole text under causal attention
};
std::string_view pooling_name(Pooling pooling);  // "mean", "first", "last"

struct LayerConfig {
  AttentionKind attention = AttentionKind::Normal;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  FfnKind ffn = FfnKind::Normal;
  int64_t ffn_length = 0;
};

// Bounds on what a config may claim, far beyond real models; they keep hostile files from
// driving huge allocations or overflowing shape arithmetic.
inline constexpr int64_t kMaxModelLayers = 65536;
inline constexpr int64_t kMaxModelDimension = INT32_MAX;  // any size, count or length

struct ModelConfig {
  ModelArch arch = ModelArch::Llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t context_length = 0;       // max positions the model was trained for
  int64_t head_dim = 0;             // per attention head, for Q, K and V
  int64_t rope_dim = 0;             // leading dimensions of a head that are rotated (== head_dim usually)
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // GGUF may carry per-frequency divisors (rope_freqs.weight, rope_dim/2 values) instead of
  // llama3 scaling parameters; then ModelWeights::rope_freqs is set and rope_scaling is None.
  bool has_rope_freqs = false;
  RopeLayout rope_layout = RopeLayout::RotateHalf;
  bool tied_embeddings = false;     // output projection is the token embedding
  bool qkv_bias = false;            // q/k/v projections have biases (qwen2; llama attention_bias)
  bool attn_out_bias = false;       // o projection has a bias (llama attention_bias)
  // Embedding models (GGUF {arch}.pooling_type and {arch}.attention.causal, as llama.cpp
  // writes them): how the model pools, nullopt when it names no pooling (type 0, none); and
  // whether its tokens attend only to earlier positions (false: every token sees every token).
  std::optional<Pooling> pooling;
  bool causal_attention = true;
  std::vector<LayerConfig> layers;

  int64_t n_layers() const { return static_cast<int64_t>(layers.size()); }
};

// A tensor in place. `type` is the element or block format (GgmlType numbering; safetensors
// BF16/F16/F32 map onto the ggml ids of the same name).
struct TensorView {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;        // outermost first
  const std::byte* data = nullptr;   // into the model's mapped file; valid while the Model lives
  size_t nbytes = 0;

  bool present() const { return !name.empty(); }  // roles a model lacks stay empty
  int64_t element_count() const;
};

// Roles a layer may hold; which are present follows the LayerConfig kinds and bias flags.
struct LayerWeights {
  TensorView attn_norm;              // {hidden}; Normal and Linear attention
  TensorView wq, wk, wv, wo;         // {n_heads*head_dim, hidden}, {n_kv*head_dim, hidden} x2, {hidden, n_heads*head_dim}
  TensorView bq, bk, bv;             // {n_heads*head_dim}, {n_kv*head_dim} x2; when qkv_bias
  TensorView bo;                     // {hidden}; when attn_out_bias
  TensorView attn_linear;            // {hidden, hidden}; Linear attention
  TensorView ffn_norm;               // {hidden}; Normal and Linear FFN
  TensorView w_gate, w_up;           // {ffn_length, hidden}
  TensorView w_down;                 // {hidden, ffn_length}
  TensorView ffn_linear;             // {hidden, hidden}; Linear FFN
};

struct ModelWeights {
  TensorView token_embedding;        // {vocab, hidden}
  TensorView output_norm;            // {hidden}
  TensorView output;                 // {vocab, hidden}; the token embedding when tied
  TensorView rope_freqs;             // {rope_dim/2}; only when config.has_rope_freqs
  std::vector<LayerWeights> layers;
};

// Every tensor of a checkpoint by name, in the form the binder needs. Tensors the engine cannot
// compute with (e.g. safetensors I64) are listed in `unusable` with the reason.
struct TensorCatalog {
  std::map<std::string, TensorView, std::less<>> views;
  std::map<std::string, std::string, std::less<>> unusable;
};

enum class TensorNaming { HuggingFace, Gguf };

// Finds every tensor `config` needs under `naming` and checks its shape. Collects every
// missing, unusable or misshapen tensor and throws one EngineError listing all of them,
// prefixed by `source` (the file or directory).
ModelWeights bind_model_weights(const ModelConfig& config, TensorNaming naming,
                                const TensorCatalog& catalog, const std::string& source);

// Checks the internal consistency of a config (positive sizes, heads dividing, kinds agreeing
// with counts); throws EngineError prefixed by `source`.
void validate_model_config(const ModelConfig& config, const std::string& source);

// Hugging Face config.json text -> ModelConfig (rope layout RotateHalf). `source` names the
// file in errors. Unknown model_type / architecture -> error listing the supported ones.
ModelConfig parse_hf_config(std::string_view json_text, const std::string& source);

// Intermediate size of a deci FFN: int(2 * ffn_mult * hidden / 3) rounded up to 256.
int64_t deci_ffn_length(double ffn_mult, int64_t hidden_size);

// The GGUF metadata the model mapping reads, so the mapping is independent of the file reader.
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  // nullopt when absent; EngineError naming the key when present with another type.
  virtual std::optional<std::string> get_string(std::string_view key) const = 0;
  virtual std::optional<uint64_t> get_u64(std::string_view key) const = 0;
  virtual std::optional<double> get_f64(std::string_view key) const = 0;
  virtual std::optional<bool> get_bool(std::string_view key) const = 0;
  // An unsigned integer or an array of them (deci stores per-layer counts as arrays): a
  // scalar comes back as one value.
  virtual std::optional<std::vector<uint64_t>> get_u64_values(std::string_view key) const = 0;
};

// GGUF metadata + tensors -> ModelConfig. `source` names the file in errors.
ModelConfig gguf_model_config(const MetadataSource& metadata, const TensorCatalog& catalog,
                              const std::string& source);

class Model {
 public:
  // A GGUF file or a Hugging Face directory (config.json + safetensors), told apart by content:
  // a file starting with the GGUF magic, or a directory holding config.json. Throws EngineError.
  static Model load(const std::filesystem::path& path);
  static Model load_hf(const std::filesystem::path& directory);
  static Model load_gguf(const std::filesystem::path& file);

  // `storage` owns whatever the views point into (mapped files) and is kept alive by the Model.
  Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const void> storage,
        std::filesystem::path source);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const std::filesystem::path& source() const { return source_; }

 private:
  ModelConfig config_;
  ModelWeights weights_;
  std::shared_ptr<const void> storage_;
  std::filesystem::path source_;
};

}  // namespace ragent::engine
