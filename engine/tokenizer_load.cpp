#include "engine/tokenizer_load.hpp"

#include <string>
#include <vector>

namespace ragent::engine {
namespace {

std::string where(const GgufFile& file, std::string_view key) {
  return file.path().string() + ": key '" + std::string(key) + "'";
}

const GgufArray& require_array(const GgufFile& file, std::string_view key, GgufValueType element) {
  const GgufArray* array = file.get_array(key);
  if (!array) throw EngineError(where(file, key) + ": missing (the file has no tokenizer)");
  if (array->element_type != element) {
    throw EngineError(where(file, key) + ": expected an array of " + std::string(gguf_value_type_name(element)) +
                      ", found an array of " + std::string(gguf_value_type_name(array->element_type)));
  }
  return *array;
}

TokenId optional_id(const GgufFile& file, std::string_view key) {
  const auto id = file.get_i64(key);
  if (!id) return -1;
  if (*id < -1 || *id > INT32_MAX) throw EngineError(where(file, key) + ": token id " + std::to_string(*id) + " out of range");
  return static_cast<TokenId>(*id);
}

}  // namespace

TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& file) {
  TokenizerSpec spec;
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) throw EngineError(where(file, "tokenizer.ggml.model") + ": missing (the file has no tokenizer)");
  spec.model = *model;
  spec.pre = file.get_string("tokenizer.ggml.pre").value_or("default");

  const GgufArray& tokens = require_array(file, "tokenizer.ggml.tokens", GgufValueType::STRING);
  spec.tokens.reserve(tokens.values.size());
  for (const auto& v : tokens.values) spec.tokens.push_back(v.as_string());

  if (file.find("tokenizer.ggml.scores")) {
    const GgufArray& scores = require_array(file, "tokenizer.ggml.scores", GgufValueType::FLOAT32);
    spec.scores.reserve(scores.values.size());
    for (const auto& v : scores.values) spec.scores.push_back(static_cast<float>(v.as_f64()));
  }
  if (const GgufArray* types = file.get_array("tokenizer.ggml.token_type")) {
    spec.token_type.reserve(types->values.size());
    for (const auto& v : types->values) spec.token_type.push_back(static_cast<int32_t>(v.as_i64()));
  }
  if (file.find("tokenizer.ggml.merges")) {
    const GgufArray& merges = require_array(file, "tokenizer.ggml.merges", GgufValueType::STRING);
    spec.merges.reserve(merges.values.size());
    for (const auto& v : merges.values) spec.merges.push_back(v.as_string());
  }
  spec.bos_token_id = optional_id(file, "tokenizer.ggml.bos_token_id");
  spec.eos_token_id = optional_id(file, "tokenizer.ggml.eos_token_id");
  spec.eot_token_id = optional_id(file, "tokenizer.ggml.eot_token_id");
  spec.padding_token_id = optional_id(file, "tokenizer.ggml.padding_token_id");
  spec.unknown_token_id = optional_id(file, "tokenizer.ggml.unknown_token_id");
  // llama.cpp's defaults when the keys are absent: SentencePiece models add BOS, byte-level
  // BPE models with a BOS token add it too (Llama 3), others do not.
  spec.add_bos_token = file.get_bool("tokenizer.ggml.add_bos_token").value_or(spec.model == "llama" || (spec.model == "gpt2" && spec.bos_token_id >= 0 && spec.pre.rfind("llama", 0) == 0));
  spec.add_eos_token = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  spec.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(spec.model == "llama");
  return spec;
}

void write_tokenizer_spec(const TokenizerSpec& spec, GgufWriter& writer) {
  writer.set_string("tokenizer.ggml.model", spec.model);
  if (spec.model == "gpt2") writer.set_string("tokenizer.ggml.pre", spec.pre);
  writer.set_string_array("tokenizer.ggml.tokens", spec.tokens);
  if (!spec.scores.empty()) {
    GgufArray scores{GgufValueType::FLOAT32, {}};
    scores.values.reserve(spec.scores.size());
    for (float s : spec.scores) scores.values.push_back({GgufValueType::FLOAT32, static_cast<double>(s)});
    writer.set_array("tokenizer.ggml.scores", std::move(scores));
  }
  if (!spec.token_type.empty()) {
    GgufArray types{GgufValueType::INT32, {}};
    types.values.reserve(spec.token_type.size());
    for (int32_t t : spec.token_type) types.values.push_back({GgufValueType::INT32, static_cast<int64_t>(t)});
    writer.set_array("tokenizer.ggml.token_type", std::move(types));
  }
  if (!spec.merges.empty()) writer.set_string_array("tokenizer.ggml.merges", spec.merges);
  const std::pair<const char*, TokenId> ids[] = {
      {"tokenizer.ggml.bos_token_id", spec.bos_token_id},
      {"tokenizer.ggml.eos_token_id", spec.eos_token_id},
      {"tokenizer.ggml.eot_token_id", spec.eot_token_id},
      {"tokenizer.ggml.padding_token_id", spec.padding_token_id},
      {"tokenizer.ggml.unknown_token_id", spec.unknown_token_id},
  };
  for (const auto& [key, id] : ids) {
    if (id >= 0) writer.set_u32(key, static_cast<uint32_t>(id));
  }
  writer.set_bool("tokenizer.ggml.add_bos_token", spec.add_bos_token);
  writer.set_bool("tokenizer.ggml.add_eos_token", spec.add_eos_token);
  if (spec.model == "llama") writer.set_bool("tokenizer.ggml.add_space_prefix", spec.add_space_prefix);
}

Tokenizer load_tokenizer(const std::filesystem::path& model_path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(model_path)) {
    const fs::path json = model_path / "tokenizer.json";
    if (!fs::exists(json)) throw EngineError(model_path.string() + ": no tokenizer.json in this directory");
    return Tokenizer::from_hf_json(json);
  }
  if (model_path.extension() == ".json") return Tokenizer::from_hf_json(model_path);
  const GgufFile file = GgufFile::open(model_path);
  try {
    return Tokenizer(tokenizer_spec_from_gguf(file));
  } catch (const EngineError& e) {
    const std::string what = e.what();
    if (what.rfind(model_path.string(), 0) == 0) throw;
    throw EngineError(model_path.string() + ": tokenizer: " + what);
  }
}

}  // namespace ragent::engine
