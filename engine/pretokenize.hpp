// Text handling ahead of BPE: UTF-8 repair and the regex-equivalent pre-tokenizers.
//
// The splitters are hand-written equivalents of the pre-tokenizer regexes, driven by the
// generated tables in engine/unicode_tables.cpp. They take valid UTF-8 (repair first with
// replace_invalid_utf8) and append pieces that are views into the input; concatenated, the
// pieces are the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ragent::engine {

enum class PreTokenizerKind {
  // Llama 3 (`llama-bpe`): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  llama3,
  // Qwen 2: as llama3 but \p{N} one digit at a time.
  qwen2,
  // GPT-2 (`default`, `gpt2`): 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
  //   \s+(?!\S)|\s+
  gpt2,
};

// Appends the pieces of `text` (valid UTF-8) to `pieces`.
void pretokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>& pieces);

// Length of the valid UTF-8 sequence at text[pos], or 0 when the bytes there are not one;
// then `*invalid_bytes` is the length of the maximal invalid subpart (as WHATWG counts them).
size_t utf8_sequence_at(std::string_view text, size_t pos, size_t* invalid_bytes);

// nullopt when `text` is valid UTF-8; otherwise the text with each maximal invalid subpart
// replaced by U+FFFD, exactly as the WHATWG TextDecoder (fatal: false) does.
std::optional<std::string> replace_invalid_utf8(std::string_view text);

}  // namespace ragent::engine
