// Tokenizer construction (validating a TokenizerSpec into lookup tables), decoding and the
// public accessors. Encoding lives in engine/tokenizer_bpe.cpp, tokenizer.json in
// engine/tokenizer_json.cpp.
#include "engine/tokenizer.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>

#include "engine/tokenizer_impl.hpp"
#include "engine/utf8.hpp"

namespace ragent::engine {

std::array<uint32_t, 256> byte_to_codepoint_table() {
  std::array<uint32_t, 256> table{};
  uint32_t next_unprintable = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    table[b] = printable ? b : next_unprintable++;
  }
  return table;
}

namespace {

using Impl = Tokenizer::Impl;

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Undoes bytes_to_unicode; characters outside the mapping are kept as their UTF-8.
std::string unmap_byte_level(std::string_view text) {
  static const std::vector<int> codepoint_to_byte = [] {
    std::vector<int> table(512, -1);
    auto forward = byte_to_codepoint_table();
    for (int b = 0; b < 256; ++b) table[forward[b]] = b;
    return table;
  }();
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t invalid = 0;
    size_t len = utf8_sequence_at(text, pos, &invalid);
    if (len == 0) {  // not UTF-8: keep the bytes
      out.append(text.substr(pos, invalid));
      pos += invalid;
      continue;
    }
    const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
    uint32_t cp = len == 1 ? s[0]
                : len == 2 ? ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu)
                : len == 3 ? ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu)
                           : 0x10000;  // never in the mapping
    if (cp < codepoint_to_byte.size() && codepoint_to_byte[cp] >= 0) {
      out += static_cast<char>(codepoint_to_byte[cp]);
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

// <0xAB> -> 0xAB, or -1.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

[[noreturn]] void spec_error(const std::string& what) {
  throw EngineError("tokenizer spec: " + what);
}

PreTokenizerKind parse_pre(const std::string& pre, bool* llama3_merges) {
  *llama3_merges = false;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
    *llama3_merges = true;
    return PreTokenizerKind::llama3;
  }
  if (pre == "smaug-bpe") return PreTokenizerKind::llama3;
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return PreTokenizerKind::qwen2;
  if (pre == "default" || pre == "gpt2" || pre.empty()) return PreTokenizerKind::gpt2;
  spec_error("pre '" + pre +
             "' is not supported (known: llama-bpe, llama3, llama-v3, smaug-bpe, qwen2, "
             "deepseek-r1-qwen, default, gpt2)");
}

void check_optional_id(TokenId id, size_t vocab, const char* field) {
  if (id < -1 || id >= static_cast<TokenId>(vocab)) {
    spec_error(std::string(field) + " = " + std::to_string(id) + " is outside the vocabulary of " +
               std::to_string(vocab) + " tokens");
  }
}

void build_tokens(const TokenizerSpec& spec, Impl& impl) {
  const size_t n = spec.tokens.size();
  if (n == 0) spec_error("tokens is empty");
  if (!spec.token_type.empty() && spec.token_type.size() != n) {
    spec_error("token_type has " + std::to_string(spec.token_type.size()) + " entries for " +
               std::to_string(n) + " tokens");
  }
  impl.texts = spec.tokens;
  impl.types.resize(n, TokenType::normal);
  impl.bytes.resize(n);
  impl.byte_ids.fill(-1);
  auto byte_cp = byte_to_codepoint_table();
  for (size_t id = 0; id < n; ++id) {
    if (!spec.token_type.empty()) {
      int32_t t = spec.token_type[id];
      if (t < 0 || t > 6) spec_error("token_type[" + std::to_string(id) + "] = " + std::to_string(t));
      impl.types[id] = static_cast<TokenType>(t);
    }
    const std::string& text = impl.texts[id];
    TokenType type = impl.types[id];
    if (type == TokenType::control || type == TokenType::user_defined) {
      impl.bytes[id] = text;
    } else if (impl.model == Impl::Model::byte_level) {
      impl.bytes[id] = unmap_byte_level(text);
    } else if (type == TokenType::byte) {
      int b = parse_byte_token(text);
      if (b < 0) spec_error("token " + std::to_string(id) + " '" + text + "' has type byte but is not <0xXX>");
      impl.bytes[id] = std::string(1, static_cast<char>(b));
      if (impl.byte_ids[b] < 0) impl.byte_ids[b] = static_cast<TokenId>(id);
    } else {
      impl.bytes[id] = replace_all(text, kSpmSpace, " ");
    }
  }
  // Lookup tables, built once the strings no longer move. The first id wins on duplicates.
  std::vector<std::pair<std::string_view, TokenId>> pieces;
  pieces.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    TokenType type = impl.types[id];
    auto tid = static_cast<TokenId>(id);
    if (type == TokenType::control || type == TokenType::user_defined ||
        type == TokenType::unknown) {
      impl.special_ids.emplace(impl.texts[id], tid);
      continue;
    }
    if (type == TokenType::byte) continue;
    // A SentencePiece token with a literal space can never be produced (spaces are U+2581).
    if (impl.model == Impl::Model::sentencepiece && impl.texts[id].find(' ') != std::string::npos) continue;
    pieces.emplace_back(impl.bytes[id], tid);
  }
  impl.piece_ids.build(pieces);
  if (impl.model == Impl::Model::sentencepiece) {
    impl.spaces_bound_pieces = std::none_of(pieces.begin(), pieces.end(), [](const auto& entry) {
      std::string_view piece = entry.first;
      for (size_t i = 1; i < piece.size(); ++i) {
        if (piece[i] == ' ' && piece[i - 1] != ' ') return true;
      }
      return false;
    });
  }
  if (impl.model == Impl::Model::byte_level) {
    for (int b = 0; b < 256; ++b) {
      std::string one(1, static_cast<char>(b));
      TokenId found = impl.piece_ids.find(one);
      if (found < 0) {
        std::string mapped;
        append_utf8(mapped, byte_cp[b]);
        spec_error("byte-level vocabulary has no token for byte " + std::to_string(b) + " ('" +
                   mapped + "')");
      }
      impl.byte_ids[b] = found;
    }
  }
}

void build_special_trie(Impl& impl) {
  impl.trie.assign(1, {});
  impl.trie_first_byte.fill(false);
  for (const auto& [text, id] : impl.special_ids) {
    if (text.empty()) continue;
    int32_t node = 0;
    for (char ch : text) {
      auto byte = static_cast<unsigned char>(ch);
      auto& children = impl.trie[node].children;
      auto it = std::find_if(children.begin(), children.end(),
                             [byte](const auto& c) { return c.first == byte; });
      if (it != children.end()) {
        node = it->second;
      } else {
        auto next = static_cast<int32_t>(impl.trie.size());
        children.emplace_back(byte, next);
        impl.trie.emplace_back();
        node = next;
      }
    }
    impl.trie[node].id = id;
    impl.trie_first_byte[static_cast<unsigned char>(text[0])] = true;
  }
}

void build_merges(const TokenizerSpec& spec, Impl& impl) {
  using Pairs = PairTable<Impl::Merge>;
  std::unordered_map<std::string_view, TokenId> by_text;  // every token, as given
  by_text.reserve(impl.texts.size());
  for (size_t id = 0; id < impl.texts.size(); ++id) by_text.emplace(impl.texts[id], static_cast<TokenId>(id));
  auto lookup = [&](std::string_view text) {
    auto it = by_text.find(text);
    return it == by_text.end() ? TokenId{-1} : it->second;
  };
  impl.merges.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const std::string& merge = spec.merges[rank];
    size_t space = merge.find(' ', 1);
    auto where = [&] { return "merges[" + std::to_string(rank) + "] '" + merge + "'"; };
    if (space == std::string::npos) spec_error(where() + " is not 'left right'");
    std::string_view left(merge.data(), space);
    std::string_view right(merge.data() + space + 1, merge.size() - space - 1);
    TokenId l = lookup(left), r = lookup(right);
    TokenId result = lookup(std::string(left) + std::string(right));
    if (l < 0 || r < 0 || result < 0) spec_error(where() + " names a token that is not in the vocabulary");
    impl.merges.insert(Pairs::key(l, r), Impl::Merge{static_cast<int32_t>(rank), result});
  }
  if (impl.model == Impl::Model::byte_level) {
    impl.byte_pair_merges.assign(256 * 256, Impl::Merge{-1, -1});
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        if (const Impl::Merge* m = impl.merges.find(Pairs::key(impl.byte_ids[a], impl.byte_ids[b]))) {
          impl.byte_pair_merges[(a << 8) | b] = *m;
        }
      }
    }
  }
  if (!spec.merges.empty() || impl.model != Impl::Model::sentencepiece) return;
  // No merges (GGUF "llama"): any two tokens whose concatenation is a token merge, the
  // higher the merged token's score the earlier; equal scores merge left to right.
  if (spec.scores.size() != impl.texts.size()) {
    spec_error("model 'llama' needs merges or one score per token (" + std::to_string(spec.scores.size()) +
               " scores for " + std::to_string(impl.texts.size()) + " tokens)");
  }
  std::vector<std::pair<uint64_t, TokenId>> pairs;
  for (size_t id = 0; id < impl.bytes.size(); ++id) {
    std::string_view piece = impl.bytes[id];
    if (impl.piece_ids.find(piece) != static_cast<TokenId>(id)) continue;
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<unsigned char>(piece[cut]) & 0xC0) == 0x80) continue;  // inside a character
      TokenId l = impl.piece_ids.find(piece.substr(0, cut));
      TokenId r = impl.piece_ids.find(piece.substr(cut));
      if (l >= 0 && r >= 0) pairs.emplace_back(Pairs::key(l, r), static_cast<TokenId>(id));
    }
  }
  std::vector<float> distinct(spec.scores);
  std::sort(distinct.begin(), distinct.end(), std::greater<float>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (const auto& [key, id] : pairs) {
    auto rank = std::lower_bound(distinct.begin(), distinct.end(), spec.scores[id], std::greater<float>()) - distinct.begin();
    impl.merges.insert(key, Impl::Merge{static_cast<int32_t>(rank), id});
  }
}

}  // namespace

Tokenizer::Tokenizer(TokenizerSpec spec) {
  static std::atomic<uint64_t> next_serial{1};
  auto impl = std::make_shared<Impl>();
  impl->serial = next_serial.fetch_add(1);
  if (spec.model == "gpt2") {
    impl->model = Impl::Model::byte_level;
    bool llama3_merges = false;
    impl->pre = parse_pre(spec.pre, &llama3_merges);
    impl->ignore_merges = spec.ignore_merges.value_or(llama3_merges);
  } else if (spec.model == "llama") {
    impl->model = Impl::Model::sentencepiece;
    impl->ignore_merges = spec.ignore_merges.value_or(false);
  } else {
    spec_error("model '" + spec.model + "' is not supported (known: gpt2, llama)");
  }
  if (!spec.scores.empty() && spec.scores.size() != spec.tokens.size()) {
    spec_error("scores has " + std::to_string(spec.scores.size()) + " entries for " +
               std::to_string(spec.tokens.size()) + " tokens");
  }
  build_tokens(spec, *impl);
  const size_t n = impl->texts.size();
  check_optional_id(spec.bos_token_id, n, "bos_token_id");
  check_optional_id(spec.eos_token_id, n, "eos_token_id");
  check_optional_id(spec.eot_token_id, n, "eot_token_id");
  check_optional_id(spec.padding_token_id, n, "padding_token_id");
  check_optional_id(spec.unknown_token_id, n, "unknown_token_id");
  impl->bos = spec.bos_token_id;
  impl->eos = spec.eos_token_id;
  impl->eot = spec.eot_token_id;
  impl->pad = spec.padding_token_id;
  impl->unk = spec.unknown_token_id;
  impl->add_bos = spec.add_bos_token;
  impl->add_eos = spec.add_eos_token;
  impl->add_space_prefix = spec.add_space_prefix;
  impl->space_prefix_only_at_start = spec.space_prefix_only_at_start;
  build_special_trie(*impl);
  build_merges(spec, *impl);
  impl_ = std::move(impl);
}

void Tokenizer::Impl::check_id(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= texts.size()) {
    throw EngineError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(texts.size()) + " tokens");
  }
}

std::optional<TokenId> Tokenizer::find_special(std::string_view text) const {
  auto it = impl_->special_ids.find(text);
  if (it == impl_->special_ids.end()) return std::nullopt;
  return it->second;
}

std::pair<TokenId, size_t> Tokenizer::match_special(std::string_view text, size_t pos, bool parse_special) const {
  if (pos >= text.size()) return {-1, 0};
  return impl_->match_special(text, pos, parse_special);
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string out;
  for (TokenId id : ids) {
    impl_->check_id(id);
    out += impl_->bytes[id];
  }
  if (impl_->model == Impl::Model::sentencepiece && impl_->add_space_prefix && !out.empty() &&
      out[0] == ' ') {
    out.erase(0, 1);
  }
  return out;
}

std::string_view Tokenizer::token_text(TokenId id) const {
  impl_->check_id(id);
  return impl_->texts[id];
}

TokenType Tokenizer::token_type(TokenId id) const {
  impl_->check_id(id);
  return impl_->types[id];
}

size_t Tokenizer::vocab_size() const { return impl_->texts.size(); }
TokenId Tokenizer::bos() const { return impl_->bos; }
TokenId Tokenizer::eos() const { return impl_->eos; }
std::optional<TokenId> Tokenizer::eot() const {
  if (impl_->eot < 0) return std::nullopt;
  return impl_->eot;
}
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }

bool Tokenizer::is_special(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->types.size()) return false;
  TokenType type = impl_->types[id];
  return type == TokenType::control || type == TokenType::unknown;
}

std::string StreamDecoder::push(TokenId id) {
  const Tokenizer::Impl& impl = *tokenizer_->impl_;
  impl.check_id(id);
  std::string_view piece = impl.bytes[id];
  if (at_start_ && impl.model == Tokenizer::Impl::Model::sentencepiece && impl.add_space_prefix &&
      !piece.empty() && piece[0] == ' ') {
    piece.remove_prefix(1);
  }
  if (!piece.empty()) at_start_ = false;
  pending_bytes_.append(piece);

  std::string out;
  size_t pos = 0;
  const size_t n = pending_bytes_.size();
  while (pos < n) {
    size_t invalid = 0;
    size_t len = utf8_sequence_at(pending_bytes_, pos, &invalid);
    if (len > 0) {
      out.append(pending_bytes_, pos, len);
      pos += len;
      continue;
    }
    auto lead = static_cast<unsigned char>(pending_bytes_[pos]);
    if (pos + invalid == n && lead >= 0xC2 && lead <= 0xF4) break;  // may still complete
    out += "\xEF\xBF\xBD";
    pos += invalid;
  }
  pending_bytes_.erase(0, pos);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (!pending_bytes_.empty()) out = "\xEF\xBF\xBD";
  pending_bytes_.clear();
  at_start_ = true;
  return out;
}

}  // namespace ragent::engine
