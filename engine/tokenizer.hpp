// Tokenizer: text <-> token ids for Llama-family models.
//
// Two models, as llama.cpp names them in GGUF `tokenizer.ggml.model`:
//   "gpt2"  byte-level BPE (Llama 3, Nemotron, Qwen 2): a regex-equivalent pre-tokenizer
//           (`tokenizer.ggml.pre`: "llama-bpe"/"llama3", "qwen2", "default"/"gpt2") splits the
//           text, then ranked merges run over the UTF-8 bytes of each piece.
//   "llama" SentencePiece BPE (Llama 2): spaces become U+2581 (so a U+2581 in the text reads
//           as a space and decodes as one), a dummy prefix space is added,
//           merges run over characters (ranked by `merges`, or by the merged token's score when
//           there are no merges, as in GGUF), unknown characters fall back to <0xXX> tokens.
//
// Input text that is not valid UTF-8 is first repaired as the WHATWG TextDecoder does (each
// maximal invalid subpart becomes U+FFFD), so encode never fails on bytes.
//
// Thread safety: a Tokenizer is immutable after construction; copies share its tables and
// may be used from any number of threads. A StreamDecoder is per sequence, not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.hpp"

namespace ragent::engine {

using TokenId = int32_t;

// Token types in GGUF numbering (`tokenizer.ggml.token_type`).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,       // special tokens: <|begin_of_text|>, <|eot_id|>, <s>
  user_defined = 4,  // added tokens that are not special; always matched as a whole
  unused = 5,
  byte = 6,          // <0xXX> byte-fallback tokens of the "llama" model
};

// Everything a Tokenizer is built from, named after the GGUF keys `tokenizer.ggml.<field>`.
// Token strings are as GGUF and tokenizer.json store them: for "gpt2", normal tokens in the
// byte-to-unicode mapped form (space is "Ġ"); for "llama", with U+2581 for space. Control and
// user-defined tokens are plain text in both.
struct TokenizerSpec {
  std::string model = "gpt2";              // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre = "default";             // tokenizer.ggml.pre (gpt2 only)
  std::vector<std::string> tokens;         // tokenizer.ggml.tokens, indexed by id
  std::vector<float> scores;               // tokenizer.ggml.scores; empty or one per token
  std::vector<int32_t> token_type;         // tokenizer.ggml.token_type; empty: all normal
  std::vector<std::string> merges;         // tokenizer.ggml.merges: "left right", by rank
  TokenId bos_token_id = -1;               // -1: none
  TokenId eos_token_id = -1;
  TokenId eot_token_id = -1;
  TokenId padding_token_id = -1;
  TokenId unknown_token_id = -1;
  bool add_bos_token = false;              // tokenizer.ggml.add_bos_token
  bool add_eos_token = false;              // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;            // tokenizer.ggml.add_space_prefix ("llama" only)
  // The dummy prefix only before text at the very start, not after a special token
  // (tokenizer.json Metaspace prepend_scheme "first"). GGUF and llama.cpp: false.
  bool space_prefix_only_at_start = false;
  // A pre-token that is itself in the vocabulary is emitted without merging (tokenizer.json
  // model.ignore_merges). GGUF has no key for it: left unset, it is on for pre
  // "llama-bpe"/"llama3"/"llama-v3" and off otherwise, as llama.cpp decides.
  std::optional<bool> ignore_merges;
};

class Tokenizer {
 public:
  // Validates the spec (known model and pre, ids in range, one type/score per token, every
  // merge naming tokens of the vocabulary, all 256 byte tokens for "gpt2"); throws
  // EngineError naming the field at fault.
  explicit Tokenizer(TokenizerSpec spec);

  // Reads a Hugging Face tokenizer.json (BPE model; ByteLevel with the Llama 3 / Qwen 2 /
  // GPT-2 split, or SentencePiece style: Prepend+Replace normalizer or Metaspace, with
  // byte_fallback). BOS/EOS come from the post-processor template and a tokenizer_config.json
  // beside the file when there is one. Throws EngineError naming the file and the key.
  static Tokenizer from_hf_json(const std::filesystem::path& path);

  // Token ids of `text`. Never adds BOS/EOS (the caller does, see add_bos()). Control tokens
  // (<|eot_id|>) are recognised only when parse_special is true; otherwise their text is
  // encoded as ordinary text. User-defined added tokens are always recognised. Any bytes are
  // accepted; the only failure is text over kMaxEncodeBytes (EngineError).
  static constexpr size_t kMaxEncodeBytes = size_t{1} << 30;
  std::vector<TokenId> encode(std::string_view text, bool parse_special = false) const;

  // Id of the special or added token whose text is exactly `text`.
  std::optional<TokenId> find_special(std::string_view text) const;

  // The longest special or added token whose text starts at text[pos], and its length in
  // bytes; {-1, 0} when none does. Control tokens count only when parse_special is true.
  std::pair<TokenId, size_t> match_special(std::string_view text, size_t pos, bool parse_special) const;

  // Bytes of the tokens, concatenated (control tokens as their text). For "llama" the
  // leading space of the dummy prefix is removed. The result is not valid UTF-8 when `ids`
  // end or begin inside a character; StreamDecoder handles that. Throws EngineError for an
  // id outside [0, vocab_size()).
  std::string decode(std::span<const TokenId> ids) const;

  // The token's string as stored in the vocabulary (mapped form). Throws for a bad id.
  std::string_view token_text(TokenId id) const;
  TokenType token_type(TokenId id) const;

  size_t vocab_size() const;
  TokenId bos() const;                 // -1 when the vocabulary has none
  TokenId eos() const;
  std::optional<TokenId> eot() const;  // end of turn (<|eot_id|>), when there is one
  bool add_bos() const;
  bool add_eos() const;
  // Control and unknown tokens: the ones a chat UI does not show as text.
  bool is_special(TokenId id) const;

  struct Impl;  // the tables; defined in engine/tokenizer_impl.hpp, not part of the API

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class StreamDecoder;
};

// Turns a stream of generated ids into text. push returns only complete UTF-8: bytes of a
// character split across tokens are held until the character is complete; bytes that can
// never form a character are returned as U+FFFD. The Tokenizer must outlive the decoder.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string push(TokenId id);  // throws EngineError for a bad id, as decode does
  // Returns what is still held (an incomplete character, as U+FFFD) and resets the decoder.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_bytes_;
  bool at_start_ = true;
};

}  // namespace ragent::engine
