// Internal tables of a Tokenizer, shared by the tokenizer sources. Not a public header.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/pretokenize.hpp"
#include "engine/tokenizer.hpp"

namespace ragent::engine {

// Byte-level BPE stores bytes as printable code points (GPT-2's bytes_to_unicode): the
// byte itself where it is printable, else U+0100 upwards in byte order.
std::array<uint32_t, 256> byte_to_codepoint_table();

struct Tokenizer::Impl {
  enum class Model { byte_level, sentencepiece };

  struct Merge {
    int32_t rank;
    TokenId result;
  };

  // Special and added tokens as a byte trie, matched leftmost-longest.
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> children;  // byte -> node index
    TokenId id = -1;
  };

  Model model = Model::byte_level;
  PreTokenizerKind pre = PreTokenizerKind::gpt2;
  std::vector<std::string> texts;        // as given in the spec
  std::vector<std::string> bytes;        // what each token decodes to
  std::vector<TokenType> types;
  // Raw bytes of a normal token -> id: what BPE pieces are looked up in.
  std::unordered_map<std::string_view, TokenId> piece_ids;
  std::array<TokenId, 256> byte_ids{};   // token of each single byte, -1 if none
  std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> merge
  std::vector<TrieNode> trie;            // node 0 is the root
  std::array<bool, 256> trie_first_byte{};
  std::unordered_map<std::string_view, TokenId> special_ids;
  TokenId bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = true, ignore_merges = false;

  void check_id(TokenId id) const;
  // Longest special/added token starting at text[pos]: {id, length}, or {-1, 0}.
  std::pair<TokenId, size_t> match_special(std::string_view text, size_t pos,
                                           bool parse_special) const;
  void encode_text(std::string_view text, std::vector<TokenId>& out) const;
  void bpe(std::string_view word, std::vector<TokenId>& out) const;
};

}  // namespace ragent::engine
