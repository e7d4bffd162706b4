// Test helper: a byte-level tokenizer for tiny models whose ids 0..255 are the bytes, then
// <|begin_of_text|> and <|eot_id|> (control tokens), so generated ids read as bytes.
#pragma once

#include <cstdint>

#include "engine/tokenizer.hpp"
#include "tests/support/byte_level.hpp"

namespace ragent::engine::model_testing {

constexpr int64_t kByteVocab = 258;  // 256 bytes, <|begin_of_text|>, <|eot_id|>
constexpr TokenId kByteBos = 256, kByteEot = 257;

inline Tokenizer byte_tokenizer() {
  TokenizerSpec spec;
  spec.model = "gpt2";
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(testing_support::mapped_byte(b));
  spec.token_type.assign(256, 1);
  spec.tokens.insert(spec.tokens.end(), {"<|begin_of_text|>", "<|eot_id|>"});
  spec.token_type.insert(spec.token_type.end(), {3, 3});
  spec.bos_token_id = kByteBos;
  spec.eos_token_id = spec.eot_token_id = kByteEot;
  return Tokenizer(spec);
}

}  // namespace ragent::engine::model_testing
