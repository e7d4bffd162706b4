// Model quantization: GGUF in, GGUF out, one tensor at a time (`ragent quantize IN OUT TYPE`).
//
// The input is mapped, each tensor is dequantized to f32 row by row and requantized to the type
// the rules below pick, and the writer streams it to OUT (through a temporary file), so memory
// holds one output tensor, not the model. All metadata is copied; general.file_type is set to
// llama.cpp's file-type number for TYPE.
//
// Tensor rules (llama.cpp's, without an importance matrix):
//   - 1-D tensors (norms, biases) are F32 for every TYPE.
//   - F32 / F16: every other tensor becomes that type.
//   - Q8_0: every other tensor becomes Q8_0 (F16 when its row is not a multiple of 32).
//   - Q4_K / Q4_K_M: Q4_K, except output.weight and token_embd.weight (Q6_K) and attn_v.weight /
//     ffn_down.weight of the "more bits" layers i of n (i < n/8 || i >= 7n/8 ||
//     (i - n/8) % 3 == 2), which are Q6_K. A row not a multiple of 256 falls back to Q8_0, or to
//     F16 when not a multiple of 32.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "engine/gguf.hpp"

namespace ragent::engine {

enum class QuantTarget { F32, F16, Q8_0, Q4_K_M };

// "F32", "F16", "Q8_0", "Q4_K" or "Q4_K_M" (case-insensitive); EngineError naming the choices otherwise.
QuantTarget parse_quant_target(std::string_view name);
std::string_view quant_target_name(QuantTarget target);
// llama.cpp's general.file_type: F32 = 0, F16 = 1, Q8_0 = 7, Q4_K_M = 15.
uint32_t llama_file_type(QuantTarget target);

// The type a tensor gets. `layer_count` is the model's block count (used only for Q4_K_M).
GgmlType choose_tensor_type(QuantTarget target, std::string_view tensor_name, std::span<const int64_t> ne,
                            int64_t layer_count);

struct QuantizeProgress {
  size_t tensor_index = 0;  // 0-based, in file order
  size_t tensor_count = 0;
  std::string_view tensor_name;
  GgmlType from = GgmlType::F32;
  GgmlType to = GgmlType::F32;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

struct QuantizeOptions {
  unsigned threads = 0;  // worker threads for the rows of a tensor; 0 = hardware concurrency
  // Called on the calling thread after each tensor has been converted.
  std::function<void(const QuantizeProgress&)> progress;
};

// Reads `in`, writes `out` (replaced atomically when complete). Throws EngineError naming the
// file and tensor when the input is malformed or holds a tensor type that cannot be converted
// (supported inputs: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K), or when `type` is unknown.
void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out, std::string_view type,
                    const QuantizeOptions& options = {});

}  // namespace ragent::engine
