// Tokenizer::from_hf_json: a Hugging Face tokenizer.json (and the tokenizer_config.json beside
// it, when present) into a TokenizerSpec. Parsed with simdjson; every error names the file
// and the key.
#include <simdjson.h>

#include <string>
#include <vector>

#include "engine/tokenizer.hpp"
#include "engine/tokenizer_load.hpp"

namespace ragent::engine {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::string_view kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt2Split =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSpmSpace = "\xE2\x96\x81";
constexpr int64_t kMaxVocab = 16 * 1024 * 1024;

// Typed access to one parsed file; failures throw EngineError with the file and key.
class JsonFile {
 public:
  explicit JsonFile(std::filesystem::path path) : path_(std::move(path)) {
    auto error = parser_.load(path_.string()).get(root_);
    if (error) fail("", std::string("cannot be parsed as JSON: ") + simdjson::error_message(error));
  }
  element root() const { return root_; }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    std::string where = key.empty() ? "" : " key '" + key + "'";
    throw EngineError("tokenizer file " + path_.string() + ":" + where + " " + what);
  }
  std::optional<element> find(object obj, std::string_view name) const {
    element value;
    if (obj[name].get(value) != simdjson::SUCCESS || value.is_null()) return std::nullopt;
    return value;
  }
  element require(object obj, std::string_view name, const std::string& key) const {
    auto value = find(obj, name);
    if (!value) fail(key, "is missing");
    return *value;
  }
  object as_object(element e, const std::string& key) const {
    object value;
    if (e.get(value)) fail(key, "is not an object");
    return value;
  }
  array as_array(element e, const std::string& key) const {
    array value;
    if (e.get(value)) fail(key, "is not an array");
    return value;
  }
  std::string_view as_string(element e, const std::string& key) const {
    std::string_view value;
    if (e.get(value)) fail(key, "is not a string");
    return value;
  }
  int64_t as_int(element e, const std::string& key) const {
    int64_t value;
    if (e.get(value)) fail(key, "is not an integer");
    return value;
  }
  bool as_bool(element e, const std::string& key) const {
    bool value;
    if (e.get(value)) fail(key, "is not a boolean");
    return value;
  }
  std::string type_of(object obj, const std::string& key) const {
    return std::string(as_string(require(obj, "type", key + ".type"), key + ".type"));
  }
  bool flag(object obj, std::string_view name, bool fallback, const std::string& key) const {
    auto value = find(obj, name);
    return value ? as_bool(*value, key + "." + std::string(name)) : fallback;
  }

 private:
  std::filesystem::path path_;
  simdjson::dom::parser parser_;
  element root_;
};

// The items of a "Sequence" (under `list_name`), or the component itself.
std::vector<std::pair<object, std::string>> components(const JsonFile& file, element e,
                                                        const std::string& key,
                                                        std::string_view list_name) {
  object obj = file.as_object(e, key);
  std::vector<std::pair<object, std::string>> out;
  if (file.type_of(obj, key) != "Sequence") {
    out.emplace_back(obj, key);
    return out;
  }
  std::string list_key = key + "." + std::string(list_name);
  size_t i = 0;
  for (element item : file.as_array(file.require(obj, list_name, list_key), list_key)) {
    std::string item_key = list_key + "[" + std::to_string(i++) + "]";
    out.emplace_back(file.as_object(item, item_key), item_key);
  }
  return out;
}

void read_vocab(const JsonFile& file, object model, TokenizerSpec& spec) {
  object vocab = file.as_object(file.require(model, "vocab", "model.vocab"), "model.vocab");
  for (auto field : vocab) {
    std::string key = "model.vocab." + std::string(field.key);
    int64_t id = file.as_int(field.value, key);
    if (id < 0 || id >= kMaxVocab) file.fail(key, "has id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= spec.tokens.size()) {
      spec.tokens.resize(id + 1);
      spec.token_type.resize(id + 1, static_cast<int32_t>(TokenType::unused));
    }
    spec.tokens[id] = std::string(field.key);
    spec.token_type[id] = static_cast<int32_t>(TokenType::normal);
  }
  size_t i = 0;
  for (element merge : file.as_array(file.require(model, "merges", "model.merges"), "model.merges")) {
    std::string key = "model.merges[" + std::to_string(i++) + "]";
    if (merge.is_string()) {
      spec.merges.emplace_back(file.as_string(merge, key));
      continue;
    }
    array pair = file.as_array(merge, key);
    if (pair.size() != 2) file.fail(key, "is not a pair of tokens");
    spec.merges.push_back(std::string(file.as_string(pair.at(0).value_unsafe(), key)) + " " +
                          std::string(file.as_string(pair.at(1).value_unsafe(), key)));
  }
}

void read_added_tokens(const JsonFile& file, object root, TokenizerSpec& spec) {
  auto added = file.find(root, "added_tokens");
  if (!added) return;
  size_t i = 0;
  for (element item : file.as_array(*added, "added_tokens")) {
    std::string key = "added_tokens[" + std::to_string(i++) + "]";
    object token = file.as_object(item, key);
    int64_t id = file.as_int(file.require(token, "id", key + ".id"), key + ".id");
    if (id < 0 || id >= kMaxVocab) file.fail(key + ".id", "is out of range");
    std::string_view content = file.as_string(file.require(token, "content", key + ".content"), key + ".content");
    bool special = file.flag(token, "special", false, key);
    if (static_cast<size_t>(id) >= spec.tokens.size()) {
      spec.tokens.resize(id + 1);
      spec.token_type.resize(id + 1, static_cast<int32_t>(TokenType::unused));
    }
    spec.tokens[id] = std::string(content);
    spec.token_type[id] = static_cast<int32_t>(special ? TokenType::control : TokenType::user_defined);
  }
}

// Byte-level (GPT-2 style) pre-tokenizer: sets spec.pre, or returns false.
bool read_byte_level(const JsonFile& file, object root, TokenizerSpec& spec) {
  auto pre = file.find(root, "pre_tokenizer");
  if (!pre) return false;
  auto parts = components(file, *pre, "pre_tokenizer", "pretokenizers");
  bool byte_level = false;
  for (auto& [obj, key] : parts) byte_level = byte_level || file.type_of(obj, key) == "ByteLevel";
  if (!byte_level) return false;  // perhaps SentencePiece style
  std::string split;
  for (auto& [obj, key] : parts) {
    std::string type = file.type_of(obj, key);
    if (type == "ByteLevel") {
      if (file.flag(obj, "add_prefix_space", false, key)) file.fail(key + ".add_prefix_space", "true is not supported");
      if (file.flag(obj, "use_regex", true, key)) split = kGpt2Split;
    } else if (type == "Split") {
      object pattern = file.as_object(file.require(obj, "pattern", key + ".pattern"), key + ".pattern");
      split = file.as_string(file.require(pattern, "Regex", key + ".pattern.Regex"), key + ".pattern.Regex");
      auto behavior = file.find(obj, "behavior");
      if ((behavior && file.as_string(*behavior, key + ".behavior") != "Isolated") ||
          file.flag(obj, "invert", false, key)) {
        file.fail(key, "Split must have behavior Isolated and invert false");
      }
    } else {
      file.fail(key + ".type", "'" + type + "' is not supported in a byte-level pre_tokenizer");
    }
  }
  if (split == kLlama3Split) {
    spec.pre = "llama-bpe";
  } else if (split == kQwen2Split) {
    spec.pre = "qwen2";
  } else if (split == kGpt2Split) {
    spec.pre = "gpt2";
  } else {
    file.fail("pre_tokenizer", "has a Split regex that is not one of Llama 3, Qwen 2, GPT-2: " + split);
  }
  spec.model = "gpt2";
  return true;
}

// SentencePiece style: Prepend/Replace normalizer or Metaspace pre-tokenizer.
bool read_sentencepiece(const JsonFile& file, object root, TokenizerSpec& spec) {
  bool replaces_space = false;
  bool prepends = false;
  if (auto normalizer = file.find(root, "normalizer")) {
    for (auto& [obj, key] : components(file, *normalizer, "normalizer", "normalizers")) {
      std::string type = file.type_of(obj, key);
      if (type == "Prepend") {
        if (file.as_string(file.require(obj, "prepend", key + ".prepend"), key + ".prepend") != kSpmSpace) {
          file.fail(key + ".prepend", "is not U+2581");
        }
        prepends = true;
      } else if (type == "Replace") {
        object pattern = file.as_object(file.require(obj, "pattern", key + ".pattern"), key + ".pattern");
        auto from = file.find(pattern, "String");
        auto to = file.require(obj, "content", key + ".content");
        if (!from || file.as_string(*from, key + ".pattern.String") != " " ||
            file.as_string(to, key + ".content") != kSpmSpace) {
          file.fail(key, "only Replace ' ' -> U+2581 is supported");
        }
        replaces_space = true;
      } else {
        file.fail(key + ".type", "normalizer '" + type + "' is not supported");
      }
    }
  }
  if (auto pre = file.find(root, "pre_tokenizer")) {
    for (auto& [obj, key] : components(file, *pre, "pre_tokenizer", "pretokenizers")) {
      std::string type = file.type_of(obj, key);
      if (type != "Metaspace") file.fail(key + ".type", "'" + type + "' is not supported here");
      if (file.flag(obj, "split", false, key)) file.fail(key + ".split", "true is not supported");
      if (auto replacement = file.find(obj, "replacement");
          replacement && file.as_string(*replacement, key + ".replacement") != kSpmSpace) {
        file.fail(key + ".replacement", "is not U+2581");
      }
      if (auto scheme = file.find(obj, "prepend_scheme")) {
        std::string_view value = file.as_string(*scheme, key + ".prepend_scheme");
        if (value != "always" && value != "first" && value != "never") {
          file.fail(key + ".prepend_scheme", "'" + std::string(value) + "' is not always, first or never");
        }
        prepends = value != "never";
        spec.space_prefix_only_at_start = value == "first";
      } else {
        prepends = file.flag(obj, "add_prefix_space", true, key);
      }
      replaces_space = true;
    }
  }
  if (!replaces_space) return false;
  spec.model = "llama";
  spec.add_space_prefix = prepends;
  return true;
}

std::optional<TokenId> id_of(const TokenizerSpec& spec, std::string_view text) {
  for (size_t id = 0; id < spec.tokens.size(); ++id) {
    if (spec.tokens[id] == text) return static_cast<TokenId>(id);
  }
  return std::nullopt;
}

// BOS/EOS from the post-processor template: a special token before or after $A.
void read_template(const JsonFile& file, object root, TokenizerSpec& spec) {
  auto post = file.find(root, "post_processor");
  if (!post) return;
  for (auto& [obj, key] : components(file, *post, "post_processor", "processors")) {
    if (file.type_of(obj, key) != "TemplateProcessing") continue;
    auto single = file.find(obj, "single");
    if (!single) continue;
    array items = file.as_array(*single, key + ".single");
    bool seen_sequence = false;
    for (element item : items) {
      object piece = file.as_object(item, key + ".single[]");
      if (file.find(piece, "Sequence")) {
        seen_sequence = true;
        continue;
      }
      auto special = file.find(piece, "SpecialToken");
      if (!special) continue;
      object token = file.as_object(*special, key + ".single[].SpecialToken");
      auto text = file.as_string(file.require(token, "id", key + ".single[].SpecialToken.id"), key);
      auto id = id_of(spec, text);
      if (!id) file.fail(key + ".single", "names token '" + std::string(text) + "' that is not in the vocabulary");
      if (!seen_sequence) {
        spec.bos_token_id = *id;
        spec.add_bos_token = true;
      } else {
        spec.eos_token_id = *id;
        spec.add_eos_token = true;
      }
    }
  }
}

// tokenizer_config.json beside the file: bos_token, eos_token, pad_token, add_bos_token,
// add_eos_token. Read on demand: its other fields (model_max_length = 1e30) are skipped.
void read_config(const std::filesystem::path& path, TokenizerSpec& spec) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;
  std::string key;
  auto fail = [&](const std::string& what) {
    std::string where = key.empty() ? "" : " key '" + key + "'";
    throw EngineError("tokenizer file " + path.string() + ":" + where + " " + what);
  };
  try {
    simdjson::padded_string json = simdjson::padded_string::load(path.string());
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc = parser.iterate(json);
    for (auto field : doc.get_object()) {
      key = std::string(field.unescaped_key().value());
      auto value = field.value();
      if (key == "add_bos_token" || key == "add_eos_token") {
        if (value.is_null()) continue;
        (key == "add_bos_token" ? spec.add_bos_token : spec.add_eos_token) = value.get_bool().value();
      } else if (key == "bos_token" || key == "eos_token" || key == "pad_token") {
        if (value.is_null()) continue;
        std::string text;
        if (value.type().value() == simdjson::ondemand::json_type::string) {
          text = std::string(value.get_string().value());
        } else {
          text = std::string(value.get_object()["content"].get_string().value());
        }
        auto id = id_of(spec, text);
        if (!id) fail("names token '" + text + "' that is not in the vocabulary");
        (key == "bos_token" ? spec.bos_token_id : key == "eos_token" ? spec.eos_token_id : spec.padding_token_id) = *id;
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    fail(std::string("cannot be read: ") + e.what());
  }
}

}  // namespace

TokenizerSpec tokenizer_spec_from_hf_json(const std::filesystem::path& path) {
  TokenizerSpec spec;
  {
    JsonFile file(path);
    object root = file.as_object(file.root(), "(root)");
    object model = file.as_object(file.require(root, "model", "model"), "model");
    if (auto type = file.find(model, "type"); type && file.as_string(*type, "model.type") != "BPE") {
      file.fail("model.type", "'" + std::string(file.as_string(*type, "model.type")) +
                                  "' is not supported (only BPE)");
    }
    read_vocab(file, model, spec);
    read_added_tokens(file, root, spec);
    spec.ignore_merges = file.flag(model, "ignore_merges", false, "model");
    bool byte_fallback = file.flag(model, "byte_fallback", false, "model");
    if (!read_byte_level(file, root, spec) && !read_sentencepiece(file, root, spec)) {
      file.fail("pre_tokenizer", "is neither ByteLevel (GPT-2 style) nor Metaspace / Replace "
                                 "normalizer (SentencePiece style)");
    }
    if (auto unk = file.find(model, "unk_token")) {
      auto text = file.as_string(*unk, "model.unk_token");
      auto id = id_of(spec, text);
      if (!id) file.fail("model.unk_token", "'" + std::string(text) + "' is not in the vocabulary");
      spec.unknown_token_id = *id;
      spec.token_type[*id] = static_cast<int32_t>(TokenType::unknown);
    }
    if (spec.model == "llama" && byte_fallback) {
      for (size_t id = 0; id < spec.tokens.size(); ++id) {
        const std::string& t = spec.tokens[id];
        bool hex = t.size() == 6 && t.starts_with("<0x") && t.back() == '>' &&
                   std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]));
        if (hex && spec.token_type[id] == static_cast<int32_t>(TokenType::normal)) {
          spec.token_type[id] = static_cast<int32_t>(TokenType::byte);
        }
      }
    }
    read_template(file, root, spec);
  }
  read_config(path.parent_path() / "tokenizer_config.json", spec);
  for (std::string_view name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"}) {
    if (auto id = id_of(spec, name)) {
      spec.eot_token_id = *id;
      break;
    }
  }
  if (spec.eos_token_id < 0) {
    for (std::string_view name : {"<|end_of_text|>", "</s>", "<|endoftext|>"}) {
      if (auto id = id_of(spec, name)) {
        spec.eos_token_id = *id;
        break;
      }
    }
  }
  return spec;
}

Tokenizer Tokenizer::from_hf_json(const std::filesystem::path& path) {
  TokenizerSpec spec = tokenizer_spec_from_hf_json(path);
  try {
    return Tokenizer(std::move(spec));
  } catch (const EngineError& e) {
    throw EngineError("tokenizer file " + path.string() + ": " + e.what());
  }
}

}  // namespace ragent::engine
