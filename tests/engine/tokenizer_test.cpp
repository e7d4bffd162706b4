// Tokenizer behaviour on small hand-built vocabularies: merges, special tokens, UTF-8
// repair, streaming decode, SentencePiece byte fallback and scores, and the errors for bad
// specs and malformed tokenizer.json. Exactness on real vocabularies is in
// tokenizer_reference_test.cpp.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/pretokenize.hpp"
#include "engine/tokenizer.hpp"
#include "tests/support/byte_level.hpp"

namespace ragent::engine {
namespace {

using testing_support::mapped_byte;

constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kByte = 6;

// Byte-level vocabulary: ids 0..255 are the bytes, then merged tokens, then special tokens.
struct ByteLevelVocab {
  TokenizerSpec spec;
  TokenId hello = -1, space_world = -1, eot = -1, bos = -1, tool = -1;

  ByteLevelVocab() {
    spec.model = "gpt2";
    spec.pre = "llama-bpe";
    for (int b = 0; b < 256; ++b) spec.tokens.push_back(mapped_byte(b));
    spec.token_type.assign(256, kNormal);
    auto add = [&](const std::string& text, int32_t type) {
      spec.tokens.push_back(text);
      spec.token_type.push_back(type);
      return static_cast<TokenId>(spec.tokens.size() - 1);
    };
    for (const char* merge : {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"}) {
      std::string m(merge);
      spec.merges.push_back(m);
      std::string joined = m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1);
      TokenId id = add(joined, kNormal);
      if (joined == "hello") hello = id;
      if (joined == "Ġworld") space_world = id;
    }
    bos = add("<|begin_of_text|>", kControl);
    eot = add("<|eot_id|>", kControl);
    tool = add("<tool>", kUserDefined);
    spec.bos_token_id = bos;
    spec.eos_token_id = eot;
    spec.eot_token_id = eot;
    spec.add_bos_token = true;
  }
};

TEST(Tokenizer, MergesByRank) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  EXPECT_EQ(t.encode("hello world"), (std::vector<TokenId>{v.hello, v.space_world}));
  EXPECT_EQ(t.encode("he"), (std::vector<TokenId>{v.hello - 3}));  // "he" is the first merge
  EXPECT_EQ(t.encode("hi"), (std::vector<TokenId>{'h', 'i'}));
  EXPECT_TRUE(t.encode("").empty());
  EXPECT_EQ(t.bos(), v.bos);
  EXPECT_EQ(t.eos(), v.eot);
  EXPECT_EQ(t.eot(), v.eot);
  EXPECT_TRUE(t.add_bos());
}

TEST(Tokenizer, IgnoreMergesDefaultsFromPreTokenizer) {
  ByteLevelVocab v;
  v.spec.tokens.push_back("hi");  // in the vocabulary, but no merge makes it
  v.spec.token_type.push_back(kNormal);
  const auto hi = static_cast<TokenId>(v.spec.tokens.size() - 1);
  EXPECT_EQ(Tokenizer(v.spec).encode("hi"), (std::vector<TokenId>{hi}));  // llama-bpe: on
  v.spec.ignore_merges = false;
  EXPECT_EQ(Tokenizer(v.spec).encode("hi"), (std::vector<TokenId>{'h', 'i'}));
  v.spec.ignore_merges.reset();
  v.spec.pre = "gpt2";  // off unless asked for
  EXPECT_EQ(Tokenizer(v.spec).encode("hi"), (std::vector<TokenId>{'h', 'i'}));
  v.spec.ignore_merges = true;
  EXPECT_EQ(Tokenizer(v.spec).encode("hi"), (std::vector<TokenId>{hi}));
}

TEST(Tokenizer, WordCacheIsPerTokenizerAndThreadSafe) {
  ByteLevelVocab with_merges;
  ByteLevelVocab without_merges;
  without_merges.spec.merges.clear();
  Tokenizer merging(with_merges.spec);
  Tokenizer plain(without_merges.spec);
  const std::string text = "hello world, hello again; hellohello";
  const std::vector<TokenId> merged = merging.encode(text);
  const std::vector<TokenId> bytes = plain.encode(text);
  ASSERT_NE(merged, bytes);
  // Alternating on one thread: a cached word of one tokenizer must not leak into the other.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(merging.encode(text), merged);
    EXPECT_EQ(plain.encode(text), bytes);
  }
  // Copies share tables; concurrent encodes from many threads agree with the serial result.
  Tokenizer copy = merging;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const Tokenizer& tok = (t % 2 == 0) ? merging : copy;
        if (tok.encode(text) != merged || plain.encode(text) != bytes) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Tokenizer, SpecialTokenTextIsPlainTextUnlessAllowed) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  const std::string text = "hello<|eot_id|>";
  std::vector<TokenId> plain = t.encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), v.eot), 0);
  EXPECT_EQ(t.decode(plain), text);
  EXPECT_EQ(t.encode(text, /*parse_special=*/true), (std::vector<TokenId>{v.hello, v.eot}));
  EXPECT_EQ(t.encode("<|begin_of_text|><|eot_id|>", true), (std::vector<TokenId>{v.bos, v.eot}));
  // Never adds BOS by itself.
  EXPECT_NE(t.encode("hello", true).front(), v.bos);
}

TEST(Tokenizer, UserDefinedTokensAreAlwaysMatched) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  EXPECT_EQ(t.encode("hello<tool>hello"), (std::vector<TokenId>{v.hello, v.tool, v.hello}));
  EXPECT_EQ(t.encode("hello<tool>hello", true), (std::vector<TokenId>{v.hello, v.tool, v.hello}));
}

TEST(Tokenizer, FindSpecialAndIsSpecial) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  EXPECT_EQ(t.find_special("<|eot_id|>"), v.eot);
  EXPECT_EQ(t.find_special("<tool>"), v.tool);
  EXPECT_EQ(t.find_special("hello"), std::nullopt);
  EXPECT_EQ(t.find_special("<|eot_id|"), std::nullopt);
  EXPECT_TRUE(t.is_special(v.eot));
  EXPECT_FALSE(t.is_special(v.tool));
  EXPECT_FALSE(t.is_special(v.hello));
  EXPECT_FALSE(t.is_special(-1));
  EXPECT_FALSE(t.is_special(static_cast<TokenId>(t.vocab_size())));
  EXPECT_EQ(t.token_text(v.space_world), "Ġworld");
  EXPECT_EQ(t.decode(std::vector<TokenId>{v.space_world}), " world");
}

TEST(Tokenizer, RejectsOutOfRangeIds) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  auto size = static_cast<TokenId>(t.vocab_size());
  EXPECT_THROW(t.decode(std::vector<TokenId>{-1}), EngineError);
  EXPECT_THROW(t.decode(std::vector<TokenId>{0, size}), EngineError);
  EXPECT_THROW(t.token_text(size), EngineError);
  StreamDecoder stream(t);
  EXPECT_THROW(stream.push(size + 7), EngineError);
}

TEST(Tokenizer, ReplacesInvalidUtf8AsTextDecoderDoes) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(replace_invalid_utf8("plain ascii \xC3\xA9"), std::nullopt);
  EXPECT_EQ(replace_invalid_utf8("a\xFF" "b"), "a" + fffd + "b");
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98"), fffd);                         // truncated: one
  EXPECT_EQ(replace_invalid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);           // surrogate
  EXPECT_EQ(replace_invalid_utf8("\xE0\x80\xAF"), fffd + fffd + fffd);           // overlong
  EXPECT_EQ(replace_invalid_utf8("\xC3\xC3\xA9"), fffd + "\xC3\xA9");
  EXPECT_EQ(replace_invalid_utf8("\xE2\x28\xA1"), fffd + "(" + fffd);
  EXPECT_EQ(replace_invalid_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // > U+10FFFF
  ByteLevelVocab v;
  Tokenizer t(v.spec);
  EXPECT_EQ(t.encode("x\xC3(y"), t.encode("x" + fffd + "(y"));
}

TEST(Tokenizer, PreTokenizersMatchTheirRegexes) {
  // Expected pieces come from the JavaScript regexes (the reference's view of each pattern).
  const std::string text = "Hello  world's I'LL 12345 ..\n\n  x\t\ty+=1;\r\n \xE4\xB8\x9C\xE4\xBA\xAC 42";
  auto split = [&](PreTokenizerKind kind) {
    std::vector<std::string_view> views;
    pretokenize(kind, text, views);
    return std::vector<std::string>(views.begin(), views.end());
  };
  const std::string tokyo = " \xE4\xB8\x9C\xE4\xBA\xAC";
  EXPECT_EQ(split(PreTokenizerKind::llama3),
            (std::vector<std::string>{"Hello", " ", " world", "'s", " I", "'LL", " ", "123", "45", " ..\n\n", " ",
                                      " x", "\t", "\ty", "+=", "1", ";\r\n", tokyo, " ", "42"}));
  EXPECT_EQ(split(PreTokenizerKind::qwen2),
            (std::vector<std::string>{"Hello", " ", " world", "'s", " I", "'LL", " ", "1", "2", "3", "4", "5",
                                      " ..\n\n", " ", " x", "\t", "\ty", "+=", "1", ";\r\n", tokyo, " ", "4", "2"}));
  EXPECT_EQ(split(PreTokenizerKind::gpt2),
            (std::vector<std::string>{"Hello", " ", " world", "'s", " I", "'", "LL", " 12345", " ..", "\n\n ", " x",
                                      "\t", "\t", "y", "+=", "1", ";", "\r\n", tokyo, " 42"}));
}

TEST(Tokenizer, StreamDecoderHoldsCharactersSplitAcrossTokens) {
  ByteLevelVocab v;
  Tokenizer t(v.spec);  // ids 0..255 are single bytes
  StreamDecoder stream(t);
  EXPECT_EQ(stream.push('a'), "a");
  EXPECT_EQ(stream.push(0xC3), "");
  EXPECT_EQ(stream.push(0xA9), "\xC3\xA9");
  EXPECT_EQ(stream.push(0xF0), "");
  EXPECT_EQ(stream.push(0x9F), "");
  EXPECT_EQ(stream.push(0x98), "");
  EXPECT_EQ(stream.push(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stream.push(v.hello), "hello");
  // A byte that can never start a character comes out at once as U+FFFD.
  EXPECT_EQ(stream.push(0xFF), "\xEF\xBF\xBD");
  // A character interrupted by another one: U+FFFD for the broken part, then the rest.
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.push('x'), "\xEF\xBF\xBDx");
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.flush(), "");
  EXPECT_EQ(stream.push(v.eot), "<|eot_id|>");
}

// SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, then pieces with scores.
struct SentencePieceVocab {
  TokenizerSpec spec;
  TokenId id(const std::string& text) const {
    for (size_t i = 0; i < spec.tokens.size(); ++i) {
      if (spec.tokens[i] == text) return static_cast<TokenId>(i);
    }
    return -1;
  }
  explicit SentencePieceVocab(float ab_score, float bc_score) {
    spec.model = "llama";
    auto add = [&](const std::string& text, int32_t type, float score) {
      spec.tokens.push_back(text);
      spec.token_type.push_back(type);
      spec.scores.push_back(score);
    };
    add("<unk>", kUnknown, 0);
    add("<s>", kControl, 0);
    add("</s>", kControl, 0);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      add(name, kByte, 0);
    }
    const std::string sp = "\xE2\x96\x81";
    add(sp, kNormal, -1);
    add("a", kNormal, -2);
    add("b", kNormal, -2);
    add("c", kNormal, -2);
    add(sp + "a", kNormal, -3);
    add("ab", kNormal, ab_score);
    add("bc", kNormal, bc_score);
    spec.bos_token_id = 1;
    spec.eos_token_id = 2;
    spec.unknown_token_id = 0;
    spec.add_bos_token = true;
  }
};

TEST(Tokenizer, SentencePieceMergesByScore) {
  const std::string sp = "\xE2\x96\x81";
  {
    SentencePieceVocab v(/*ab=*/-1.0f, /*bc=*/-0.5f);  // bc first, then ▁a
    Tokenizer t(v.spec);
    EXPECT_EQ(t.encode("abc"), (std::vector<TokenId>{v.id(sp + "a"), v.id("bc")}));
  }
  {
    SentencePieceVocab v(/*ab=*/-0.1f, /*bc=*/-0.5f);  // ab first, then nothing joins ▁
    Tokenizer t(v.spec);
    EXPECT_EQ(t.encode("abc"), (std::vector<TokenId>{v.id(sp), v.id("ab"), v.id("c")}));
    EXPECT_EQ(t.decode(t.encode("abc")), "abc");
  }
}

TEST(Tokenizer, SentencePieceMergesAcrossSpacesWhenAPieceSpansOne) {
  const std::string sp = "\xE2\x96\x81";
  SentencePieceVocab v(-1.0f, -0.5f);
  for (const std::string& piece : {"a" + sp, "a" + sp + "b"}) {
    v.spec.tokens.push_back(piece);
    v.spec.token_type.push_back(kNormal);
    v.spec.scores.push_back(piece.size() > 4 ? 6.0f : 5.0f);
  }
  Tokenizer t(v.spec);
  // The text may not be cut at the space here: "a▁b" is one piece.
  EXPECT_EQ(t.encode("a b"), (std::vector<TokenId>{v.id(sp), v.id("a" + sp + "b")}));
}

TEST(Tokenizer, SentencePieceFallsBackToBytes) {
  SentencePieceVocab v(-1.0f, -0.5f);
  Tokenizer t(v.spec);
  const std::string sp = "\xE2\x96\x81";
  // U+20AC is not a piece: its three UTF-8 bytes become <0xE2><0x82><0xAC>.
  EXPECT_EQ(t.encode("a\xE2\x82\xAC"),
            (std::vector<TokenId>{v.id(sp + "a"), v.id("<0xE2>"), v.id("<0x82>"), v.id("<0xAC>")}));
  EXPECT_EQ(t.decode(t.encode("a\xE2\x82\xAC")), "a\xE2\x82\xAC");
  EXPECT_EQ(t.decode(t.encode(" a")), " a");  // only the dummy prefix is removed
  EXPECT_EQ(t.encode(sp + "a"), t.encode(" a"));  // U+2581 in the text is a space
  EXPECT_EQ(t.encode("a<s>a", true), (std::vector<TokenId>{v.id(sp + "a"), 1, v.id(sp + "a")}));
  StreamDecoder stream(t);
  EXPECT_EQ(stream.push(v.id(sp + "a")), "a");
  EXPECT_EQ(stream.push(v.id("<0xE2>")), "");
  EXPECT_EQ(stream.push(v.id("<0x82>")), "");
  EXPECT_EQ(stream.push(v.id("<0xAC>")), "\xE2\x82\xAC");
}

TEST(Tokenizer, RejectsBadSpecs) {
  auto message = [](TokenizerSpec spec) {
    try {
      Tokenizer t(std::move(spec));
    } catch (const EngineError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ByteLevelVocab v;
  TokenizerSpec s = v.spec;
  s.model = "unigram";
  EXPECT_NE(message(s).find("model 'unigram'"), std::string::npos);
  s = v.spec;
  s.pre = "klingon";
  EXPECT_NE(message(s).find("pre 'klingon'"), std::string::npos);
  s = v.spec;
  s.bos_token_id = 100000;
  EXPECT_NE(message(s).find("bos_token_id"), std::string::npos);
  s = v.spec;
  s.token_type.pop_back();
  EXPECT_NE(message(s).find("token_type"), std::string::npos);
  s = v.spec;
  s.merges.push_back("nothere x");
  EXPECT_NE(message(s).find("merges[9]"), std::string::npos);
  s = v.spec;
  s.tokens[65] = "not-a-byte";  // byte 'A' no longer has a token
  EXPECT_NE(message(s).find("byte 65"), std::string::npos);
}

class TokenizerJsonFile : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& content) {
    auto dir = std::filesystem::path(RAGENT_BINARY_DIR) / "tokenizer_json_errors" / name;
    std::filesystem::create_directories(dir);
    auto path = dir / "tokenizer.json";
    std::ofstream(path) << content;
    return path;
  }
  std::string error_for(const std::string& name, const std::string& content) {
    auto path = write(name, content);
    try {
      Tokenizer::from_hf_json(path);
    } catch (const EngineError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(path.string()), std::string::npos) << what;
      return what;
    }
    return "no error";
  }
};

constexpr const char* kBytePre =
    R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";

TEST_F(TokenizerJsonFile, NameTheFileAndKey) {
  EXPECT_NE(error_for("missing", "").find("cannot be parsed"), std::string::npos);
  EXPECT_NE(error_for("truncated", R"({"model": {"type": "BPE", "vocab": {)").find("cannot be parsed"),
            std::string::npos);
  EXPECT_NE(error_for("nomodel", R"({"added_tokens": []})").find("'model' is missing"), std::string::npos);
  EXPECT_NE(error_for("unigram", R"({"model": {"type": "Unigram", "vocab": []}})").find("model.type"),
            std::string::npos);
  EXPECT_NE(error_for("badid", R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})")
                .find("model.vocab.a"),
            std::string::npos);
  EXPECT_NE(error_for("badmerge", std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}, )") +
                                      kBytePre + "}")
                .find("model.merges[0]"),
            std::string::npos);
  EXPECT_NE(error_for("nopre", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})").find("pre_tokenizer"),
            std::string::npos);
  EXPECT_NE(error_for("badsplit",
                      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence",
                      "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"},
                      {"type": "ByteLevel", "use_regex": false}]}})")
                .find("Split regex"),
            std::string::npos);
  // Valid JSON, but the vocabulary lacks the byte tokens a byte-level model needs.
  EXPECT_NE(error_for("nobytes", std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )") +
                                     kBytePre + "}")
                .find("no token for byte"),
            std::string::npos);
}

// SentencePiece style with a Metaspace pre-tokenizer (newer Llama 2 / Mistral exports).
TEST_F(TokenizerJsonFile, ReadsMetaspaceSentencePiece) {
  const std::string sp = "\xE2\x96\x81";
  auto json_for = [&](const std::string& scheme) {
    std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
    for (int b = 0; b < 256; ++b) {
      char name[16];
      std::snprintf(name, sizeof name, "\"<0x%02X>\": %d", b, 3 + b);
      vocab += std::string(", ") + name;
    }
    vocab += ", \"" + sp + "\": 259, \"a\": 260, \"" + sp + "a\": 261";
    return R"({"added_tokens": [{"id": 0, "content": "<unk>", "special": true},
        {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
      "normalizer": null,
      "pre_tokenizer": {"type": "Metaspace", "replacement": ")" + sp + R"(", "prepend_scheme": ")" + scheme +
           R"(", "split": false},
      "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
           {"Sequence": {"id": "A", "type_id": 0}}]},
      "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "vocab": {)" + vocab +
           R"(}, "merges": [")" + sp + R"( a"]}})";
  };
  Tokenizer always = Tokenizer::from_hf_json(write("metaspace_always", json_for("always")));
  EXPECT_EQ(always.bos(), 1);
  EXPECT_TRUE(always.add_bos());
  EXPECT_EQ(always.encode("a a"), (std::vector<TokenId>{261, 261}));
  EXPECT_EQ(always.encode("a\xE2\x82\xAC"), (std::vector<TokenId>{261, 3 + 0xE2, 3 + 0x82, 3 + 0xAC}));
  EXPECT_EQ(always.encode("a</s>a", true), (std::vector<TokenId>{261, 2, 261}));
  EXPECT_EQ(always.decode(always.encode("a a")), "a a");
  Tokenizer first = Tokenizer::from_hf_json(write("metaspace_first", json_for("first")));
  EXPECT_EQ(first.encode("a</s>a", true), (std::vector<TokenId>{261, 2, 260}));  // no prefix after </s>
  EXPECT_NE(error_for("metaspace_bad", json_for("sometimes")).find("prepend_scheme"), std::string::npos);
}

}  // namespace
}  // namespace ragent::engine
