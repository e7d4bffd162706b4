// Building a Tokenizer from a model on disk: the `tokenizer.ggml.*` keys of a GGUF file, or
// the tokenizer.json of a Hugging Face checkpoint directory.
#pragma once

#include <filesystem>

#include "engine/gguf.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// The TokenizerSpec stored in a GGUF file. Throws EngineError naming the file and the key
// that is missing or of the wrong type.
TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& file);

// The TokenizerSpec of a Hugging Face tokenizer.json (and the tokenizer_config.json beside
// it). Throws EngineError naming the file and the key.
TokenizerSpec tokenizer_spec_from_hf_json(const std::filesystem::path& path);

// Writes the spec as the tokenizer.ggml.* keys of a GGUF file, as llama.cpp's converter
// does, so tokenizer_spec_from_gguf reads back the same spec.
void write_tokenizer_spec(const TokenizerSpec& spec, GgufWriter& writer);

// A GGUF file, a Hugging Face directory (its tokenizer.json), or a tokenizer.json itself.
Tokenizer load_tokenizer(const std::filesystem::path& model_path);

}  // namespace ragent::engine
