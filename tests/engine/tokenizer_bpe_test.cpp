// The BPE merge paths of engine/tokenizer_bpe.cpp against a naive reference merge: short
// words (array scan), words up to the word-cache limit (rank buckets, then cached) and longer
// words (rank buckets, never cached), on a vocabulary whose ranks are not monotone (a merge
// can create a pair that ranks below the merge just applied) and on runs of one letter.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tokenizer.hpp"
#include "tests/support/byte_level.hpp"

namespace ragent::engine {
namespace {

using testing_support::mapped_byte;

// Byte-level vocabulary over letters (printable bytes map to themselves): ids 0..255 are the
// bytes, then one token per merge.
struct LetterVocab {
  TokenizerSpec spec;
  std::map<std::pair<std::string, std::string>, int> ranks;
  std::map<std::string, TokenId> ids;

  explicit LetterVocab(const std::vector<std::string>& merges) {
    spec.model = "gpt2";
    spec.pre = "gpt2";
    for (int b = 0; b < 256; ++b) {
      std::string text = mapped_byte(b);
      ids[text] = static_cast<TokenId>(spec.tokens.size());
      spec.tokens.push_back(text);
    }
    for (const std::string& merge : merges) {
      size_t space = merge.find(' ');
      std::string left = merge.substr(0, space), right = merge.substr(space + 1);
      ranks[{left, right}] = static_cast<int>(ranks.size());
      spec.merges.push_back(merge);
      std::string joined = left;
      joined.append(right);
      if (!ids.count(joined)) {
        ids[joined] = static_cast<TokenId>(spec.tokens.size());
        spec.tokens.push_back(joined);
      }
    }
    spec.token_type.assign(spec.tokens.size(), 1);
  }

  // Textbook BPE: merge the lowest-ranked adjacent pair, leftmost first, until none merges.
  std::vector<TokenId> reference(const std::string& word) const {
    std::vector<std::string> parts;
    for (char c : word) parts.emplace_back(1, c);
    while (true) {
      int best_rank = INT32_MAX;
      size_t best = 0;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        auto it = ranks.find({parts[i], parts[i + 1]});
        if (it != ranks.end() && it->second < best_rank) {
          best_rank = it->second;
          best = i;
        }
      }
      if (best_rank == INT32_MAX) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    std::vector<TokenId> out;
    for (const std::string& part : parts) out.push_back(ids.at(part));
    return out;
  }
};

// "abc" is made at rank 6, but the pairs (abc, x) and (abc, a) rank 2 and 3: merging "a bc"
// creates a pair ranking below it, which in "abcabc" must merge before the second "a bc".
// "x a" and "c x" compete with "abc x" for the same x.
const std::vector<std::string> kNonMonotoneMerges = {"a a",  "b c",     "abc x",     "abc a", "aa aa", "x a",
                                                     "a bc", "aa a",    "c x",       "aaaa aa", "abcx abcx",
                                                     "xa bc"};

uint32_t next_random(uint32_t* state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

TEST(TokenizerBpe, PairCreatedBelowTheCurrentRankMergesFirst) {
  LetterVocab vocab(kNonMonotoneMerges);
  Tokenizer tokenizer(vocab.spec);
  // b+c twice, then a+bc (rank 6) at 0 creates (abc, a) of rank 3, which takes the second a
  // before the second a+bc can.
  const std::vector<TokenId> expected = {vocab.ids.at("abca"), vocab.ids.at("bc")};
  ASSERT_EQ(vocab.reference("abcabc"), expected);
  EXPECT_EQ(tokenizer.encode("abcabc"), expected);
  // The same inside words long enough for the rank buckets, cached and not.
  for (size_t copies : {6u, 30u, 100u}) {
    std::string word;
    for (size_t i = 0; i < copies; ++i) word += "abc";
    EXPECT_EQ(tokenizer.encode(word), vocab.reference(word)) << copies;
  }
}

TEST(TokenizerBpe, RandomWordsOfEveryPathMatchTheReferenceMerge) {
  LetterVocab vocab(kNonMonotoneMerges);
  Tokenizer tokenizer(vocab.spec);
  uint32_t state = 12345;
  // Lengths around the short-word limit (32 bytes), the cache limit (128) and well past it.
  for (size_t length : {1u, 2u, 3u, 31u, 32u, 33u, 64u, 127u, 128u, 129u, 300u, 2000u}) {
    for (int sample = 0; sample < 20; ++sample) {
      std::string word;
      for (size_t i = 0; i < length; ++i) word += "abcx"[next_random(&state) % 4];
      const std::vector<TokenId> expected = vocab.reference(word);
      // Twice: the second encode of a word up to 128 bytes comes from the word cache.
      EXPECT_EQ(tokenizer.encode(word), expected) << word;
      EXPECT_EQ(tokenizer.encode(word), expected) << word;
    }
  }
}

TEST(TokenizerBpe, RepeatedTextMatchesTheReferenceMerge) {
  LetterVocab vocab(kNonMonotoneMerges);
  Tokenizer tokenizer(vocab.spec);
  // One pair rank fills a whole bucket; overlapping pairs (a a a) must merge leftmost first.
  for (size_t length = 1; length <= 260; ++length) {
    const std::string run(length, 'a');
    EXPECT_EQ(tokenizer.encode(run), vocab.reference(run)) << length;
    std::string repeated;
    while (repeated.size() < length) repeated += "abcx";
    repeated.resize(length);
    EXPECT_EQ(tokenizer.encode(repeated), vocab.reference(repeated)) << repeated;
  }
}

TEST(TokenizerBpe, WordsAtTheCacheLimitAreEncodedTheSameEveryTime) {
  LetterVocab vocab(kNonMonotoneMerges);
  Tokenizer tokenizer(vocab.spec);
  for (size_t length : {127u, 128u, 129u}) {
    std::string word;
    for (size_t i = 0; i < length; ++i) word += "abcxa"[i % 5];
    const std::vector<TokenId> expected = vocab.reference(word);
    // As a whole text, and as the middle word of a text that pre-tokenizes it alone.
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(tokenizer.encode(word), expected) << length;
      std::string text = "1";
      text.append(word).append("2");
      std::vector<TokenId> in_text = tokenizer.encode(text);
      ASSERT_EQ(in_text.size(), expected.size() + 2) << length;
      EXPECT_EQ(std::vector<TokenId>(in_text.begin() + 1, in_text.end() - 1), expected) << length;
    }
  }
}

}  // namespace
}  // namespace ragent::engine
