// Fuzz target: encode arbitrary bytes with small byte-level and SentencePiece vocabularies
// (special tokens on and off), decode arbitrary ids including out-of-range ones, and stream
// them. Nothing may crash; bad ids must throw EngineError. Encoded text must decode back to
// the input once invalid UTF-8 is repaired (and, for SentencePiece, U+2581 read as a space).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pretokenize.hpp"
#include "engine/tokenizer.hpp"
#include "tests/support/byte_level.hpp"

using ragent::engine::EngineError;
using ragent::engine::StreamDecoder;
using ragent::engine::Tokenizer;
using ragent::engine::TokenizerSpec;
using ragent::engine::TokenId;

namespace {

Tokenizer byte_level() {
  TokenizerSpec spec;
  spec.model = "gpt2";
  spec.pre = "llama-bpe";
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(ragent::testing_support::mapped_byte(b));
  for (const char* merge : {"Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ Ġ", "ĠĠ ĠĠ", "1 2", "12 3"}) {
    std::string m(merge);
    spec.merges.push_back(m);
    spec.tokens.push_back(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
  }
  spec.token_type.assign(spec.tokens.size(), 1);
  spec.tokens.push_back("<|eot_id|>");
  spec.token_type.push_back(3);
  spec.tokens.push_back("<x>");
  spec.token_type.push_back(4);
  return Tokenizer(spec);
}

Tokenizer sentencepiece() {
  TokenizerSpec spec;
  spec.model = "llama";
  auto add = [&](std::string text, int32_t type, float score) {
    spec.tokens.push_back(std::move(text));
    spec.token_type.push_back(type);
    spec.scores.push_back(score);
  };
  add("<unk>", 2, 0);
  add("<s>", 3, 0);
  add("</s>", 3, 0);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 6, 0);
  }
  const std::string sp = "\xE2\x96\x81";
  const char* pieces[] = {"a", "b", "e", "t", "h", "ab", "th", "the", "he"};
  float score = -1;
  add(sp, 1, score--);
  for (const char* p : pieces) add(p, 1, score--);
  add(sp + "the", 1, score--);
  add(sp + "t", 1, score--);
  spec.unknown_token_id = 0;
  return Tokenizer(spec);
}

// `spm_space`: SentencePiece reads U+2581 in the text as a space, so it decodes as one.
void check(const Tokenizer& tokenizer, std::string_view text, std::string_view id_bytes, bool spm_space) {
  for (bool parse_special : {false, true}) {
    std::vector<TokenId> ids = tokenizer.encode(text, parse_special);
    // After a special token SentencePiece adds a dummy-prefix space: not a round trip.
    if (spm_space && parse_special) continue;
    auto repaired = ragent::engine::replace_invalid_utf8(text);
    std::string expected = repaired ? *repaired : std::string(text);
    for (size_t at; spm_space && (at = expected.find("\xE2\x96\x81")) != std::string::npos;) {
      expected.replace(at, 3, " ");
    }
    if (tokenizer.decode(ids) != expected) {
      std::fprintf(stderr, "decode(encode(x)) != x\n");
      std::abort();
    }
  }
  std::vector<TokenId> ids;
  for (size_t i = 0; i + 2 <= id_bytes.size(); i += 2) {
    auto raw = static_cast<int16_t>(static_cast<uint16_t>(static_cast<unsigned char>(id_bytes[i]) |
                                                          (static_cast<unsigned char>(id_bytes[i + 1]) << 8)));
    ids.push_back(raw);  // includes negative and past-the-end ids
  }
  try {
    (void)tokenizer.decode(ids);
  } catch (const EngineError&) {
  }
  StreamDecoder stream(tokenizer);
  for (TokenId id : ids) {
    try {
      (void)stream.push(id);
    } catch (const EngineError&) {
    }
  }
  (void)stream.flush();
  for (TokenId id : ids) {
    (void)tokenizer.is_special(id);
    try {
      (void)tokenizer.token_text(id);
    } catch (const EngineError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer kByteLevel = byte_level();
  static const Tokenizer kSentencePiece = sentencepiece();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t half = input.size() / 2;
  check(kByteLevel, input, input.substr(half), false);
  check(kSentencePiece, input, input.substr(0, half), true);
  return 0;
}
