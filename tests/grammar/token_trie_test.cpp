// engine/grammar/token_trie.cpp: the trie's layout, walk() and tokens_within() against brute
// force over random vocabularies (every byte value, duplicates, empty and excluded tokens) and
// random automata, that walks skip dead subtrees, and TokenBitset against std::vector<bool>.
#include "engine/grammar/token_trie.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/error.hpp"

namespace ragent::grammar {
namespace {

// Mostly a four-byte alphabet that includes 0x00 and 0xFF, so prefixes are shared and byte
// order matters at both ends; some tokens use any byte, some are long, some empty, some repeat
// an earlier token's bytes.
std::vector<std::string> random_vocab(std::mt19937& rng, size_t n) {
  static constexpr char kAlphabet[] = {'\x00', 'a', 'b', '\xff'};
  std::vector<std::string> vocab;
  vocab.reserve(n);
  auto pick = [&](size_t bound) { return static_cast<size_t>(rng() % bound); };
  for (size_t id = 0; id < n; ++id) {
    const size_t r = pick(100);
    std::string s;
    if (r < 5) {
      // empty
    } else if (r < 15) {
      s += static_cast<char>(pick(256));
    } else if (r < 20) {
      const size_t len = 20 + pick(40);
      for (size_t i = 0; i < len; ++i) {
        s += kAlphabet[pick(4)];
      }
    } else if (r < 25 && !vocab.empty()) {
      s = vocab[pick(vocab.size())];
    } else {
      const size_t len = 1 + pick(8);
      for (size_t i = 0; i < len; ++i) {
        s += pick(5) == 0 ? static_cast<char>(pick(256)) : kAlphabet[pick(4)];
      }
    }
    vocab.push_back(std::move(s));
  }
  return vocab;
}

TokenBitset random_excluded(std::mt19937& rng, size_t n) {
  TokenBitset excluded(n);
  for (size_t id = 0; id < n; ++id) {
    if (rng() % 20 == 0) {
      excluded.set(id);
    }
  }
  return excluded;
}

bool in_trie(const std::vector<std::string>& vocab, const TokenBitset& excluded, size_t id) {
  return !vocab[id].empty() && !excluded.test(id);
}

template <class State>
struct WalkResult {
  std::map<int32_t, State> accepted;  // token -> state after its bytes
  size_t steps = 0;                   // step() calls
};

template <class State, class Step>
WalkResult<State> run_walk(const TokenTrie& trie, const State& root, Step step) {
  WalkResult<State> out;
  trie.walk(
      root,
      [&](const State& s, uint8_t byte) {
        ++out.steps;
        return step(s, byte);
      },
      [&](int32_t id, const State& s) {
        EXPECT_TRUE(out.accepted.emplace(id, s).second) << "token " << id << " accepted twice";
      });
  return out;
}

// The same automaton run on each token separately. A trie walk steps exactly once from every
// live prefix into each distinct next byte, so its step count is the number of distinct
// non-empty prefixes whose parent prefix is alive.
template <class State, class Step>
WalkResult<State> run_brute(const std::vector<std::string>& vocab, const TokenBitset& excluded,
                            const State& root, Step step) {
  WalkResult<State> out;
  std::set<std::string> stepped;
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (!in_trie(vocab, excluded, id)) {
      continue;
    }
    std::optional<State> state = root;
    const std::string& s = vocab[id];
    for (size_t i = 0; i < s.size() && state; ++i) {
      stepped.insert(s.substr(0, i + 1));
      state = step(*state, static_cast<uint8_t>(s[i]));
    }
    if (state) {
      out.accepted.emplace(static_cast<int32_t>(id), *state);
    }
  }
  out.steps = stepped.size();
  return out;
}

size_t total_bytes(const std::vector<std::string>& vocab, const TokenBitset& excluded) {
  size_t total = 0;
  for (size_t id = 0; id < vocab.size(); ++id) {
    total += in_trie(vocab, excluded, id) ? vocab[id].size() : 0;
  }
  return total;
}

// Automaton: the bytes consumed so far are a prefix of some string in `set`.
struct PrefixState {
  std::string consumed;
  friend bool operator==(const PrefixState&, const PrefixState&) = default;
};

// Automaton: every byte in `allowed`, at most k of them.
struct CountState {
  int count = 0;
  friend bool operator==(const CountState&, const CountState&) = default;
};

// Automaton: a rolling hash that dies whenever it is 0 mod 5, so death strikes at arbitrary
// depths and the surviving states differ per token.
struct HashState {
  uint32_t hash = 1;
  friend bool operator==(const HashState&, const HashState&) = default;
};

TEST(TokenTrie, LayoutIsTheSortedTrieOfDistinctPrefixes) {
  std::mt19937 rng(1);
  for (int round = 0; round < 20; ++round) {
    const std::vector<std::string> vocab = random_vocab(rng, 50 + rng() % 800);
    const TokenBitset excluded = round % 4 == 0 ? TokenBitset(vocab.size()) : random_excluded(rng, vocab.size());
    const TokenTrie trie(vocab, excluded);

    std::set<std::string> prefixes;
    std::map<std::string, std::vector<int32_t>> ids_by_bytes;
    size_t tokens = 0;
    size_t longest = 0;
    for (size_t id = 0; id < vocab.size(); ++id) {
      EXPECT_EQ(trie.included().test(id), in_trie(vocab, excluded, id));
      if (!in_trie(vocab, excluded, id)) {
        continue;
      }
      ++tokens;
      longest = std::max(longest, vocab[id].size());
      ids_by_bytes[vocab[id]].push_back(static_cast<int32_t>(id));
      for (size_t len = 1; len <= vocab[id].size(); ++len) {
        prefixes.insert(vocab[id].substr(0, len));
      }
    }
    EXPECT_EQ(trie.token_count(), tokens);
    EXPECT_EQ(trie.max_depth(), longest);
    EXPECT_EQ(trie.vocab_size(), vocab.size());
    ASSERT_EQ(trie.node_count(), prefixes.size());

    // Preorder of a sorted trie lists the prefixes in sorted order.
    const auto nodes = trie.nodes();
    std::vector<std::string> node_bytes;
    std::string path;
    for (const TokenTrie::Node& node : nodes) {
      ASSERT_GE(node.depth, 1);
      ASSERT_LE(node.depth, path.size() + 1);
      path.resize(node.depth - 1);
      path += static_cast<char>(node.byte);
      node_bytes.push_back(path);
    }
    EXPECT_TRUE(std::equal(node_bytes.begin(), node_bytes.end(), prefixes.begin()));

    for (size_t i = 0; i < nodes.size(); ++i) {
      const std::string& mine = node_bytes[i];
      ASSERT_GT(nodes[i].subtree_end, i);
      ASSERT_LE(nodes[i].subtree_end, nodes.size());
      for (size_t j = i + 1; j < nodes[i].subtree_end; ++j) {
        EXPECT_TRUE(node_bytes[j].starts_with(mine)) << i << " " << j;
      }
      if (nodes[i].subtree_end < nodes.size()) {
        EXPECT_FALSE(node_bytes[nodes[i].subtree_end].starts_with(mine));
      }
      std::vector<int32_t> ids;
      for (int32_t id = nodes[i].token; id >= 0; id = trie.next_same(id)) {
        ids.push_back(id);
      }
      const auto it = ids_by_bytes.find(mine);
      EXPECT_EQ(ids, it == ids_by_bytes.end() ? std::vector<int32_t>{} : it->second) << i;
    }
  }
}

TEST(TokenTrie, WalkMatchesBruteForce) {
  std::mt19937 rng(2);
  for (int round = 0; round < 30; ++round) {
    const std::vector<std::string> vocab = random_vocab(rng, 200 + rng() % 2000);
    const TokenBitset excluded = random_excluded(rng, vocab.size());
    const TokenTrie trie(vocab, excluded);
    const size_t bytes = total_bytes(vocab, excluded);

    // A few tokens, extensions of tokens and random strings: a selective automaton.
    std::set<std::string> set;
    for (int k = 0; k < 8; ++k) {
      std::string s = vocab[rng() % vocab.size()];
      if (k % 2 == 0) {
        s += vocab[rng() % vocab.size()];
      }
      set.insert(s);
    }
    set.insert(random_vocab(rng, 3).back());
    const auto prefix_step = [&](const PrefixState& st, uint8_t byte) -> std::optional<PrefixState> {
      PrefixState next{st.consumed};
      next.consumed += static_cast<char>(byte);
      const auto it = set.lower_bound(next.consumed);
      if (it == set.end() || !it->starts_with(next.consumed)) {
        return std::nullopt;
      }
      return next;
    };
    const auto prefix_walk = run_walk(trie, PrefixState{}, prefix_step);
    const auto prefix_brute = run_brute(vocab, excluded, PrefixState{}, prefix_step);
    EXPECT_TRUE(prefix_walk.accepted == prefix_brute.accepted) << "round " << round;
    EXPECT_EQ(prefix_walk.steps, prefix_brute.steps);
    // Dead subtrees are skipped: the walk touches a small part of the vocabulary's bytes.
    EXPECT_LT(prefix_walk.steps * 4, bytes);
    EXPECT_LT(prefix_walk.steps * 2, trie.node_count());

    std::bitset<256> allowed;
    for (int b = 0; b < 256; ++b) {
      allowed[static_cast<size_t>(b)] = rng() % 3 != 0;
    }
    allowed['a'] = true;
    allowed[0] = rng() % 2 == 0;
    const int limit = 1 + static_cast<int>(rng() % 6);
    const auto count_step = [&](const CountState& st, uint8_t byte) -> std::optional<CountState> {
      if (!allowed.test(byte) || st.count >= limit) {
        return std::nullopt;
      }
      return CountState{st.count + 1};
    };
    const auto count_walk = run_walk(trie, CountState{}, count_step);
    const auto count_brute = run_brute(vocab, excluded, CountState{}, count_step);
    EXPECT_TRUE(count_walk.accepted == count_brute.accepted) << "round " << round;
    EXPECT_EQ(count_walk.steps, count_brute.steps);

    const auto hash_step = [](const HashState& st, uint8_t byte) -> std::optional<HashState> {
      const HashState next{st.hash * 31 + byte + 1};
      if (next.hash % 5 == 0) {
        return std::nullopt;
      }
      return next;
    };
    const auto hash_walk = run_walk(trie, HashState{}, hash_step);
    const auto hash_brute = run_brute(vocab, excluded, HashState{}, hash_step);
    EXPECT_TRUE(hash_walk.accepted == hash_brute.accepted) << "round " << round;
    EXPECT_EQ(hash_walk.steps, hash_brute.steps);
    EXPECT_FALSE(hash_walk.accepted.empty());
  }
}

TEST(TokenTrie, WalkVisitsEveryTokenOnceWhenNothingDies) {
  std::mt19937 rng(3);
  const std::vector<std::string> vocab = random_vocab(rng, 3000);
  const TokenTrie trie(vocab);
  const auto walk = run_walk(trie, CountState{}, [](const CountState& st, uint8_t) {
    return std::optional<CountState>(CountState{st.count + 1});
  });
  EXPECT_EQ(walk.steps, trie.node_count());
  ASSERT_EQ(walk.accepted.size(), trie.token_count());
  for (const auto& [id, state] : walk.accepted) {
    EXPECT_EQ(static_cast<size_t>(state.count), vocab[static_cast<size_t>(id)].size());
  }
}

TEST(TokenTrie, TokensWithinMatchesBruteForce) {
  std::mt19937 rng(4);
  for (int round = 0; round < 30; ++round) {
    const std::vector<std::string> vocab = random_vocab(rng, 100 + rng() % 2000);
    const TokenBitset excluded = random_excluded(rng, vocab.size());
    const TokenTrie trie(vocab, excluded);
    std::bitset<256> allowed;
    for (int b = 0; b < 256; ++b) {
      allowed[static_cast<size_t>(b)] = rng() % 4 != 0;
    }
    allowed['b'] = round % 2 == 0;
    TokenBitset want(vocab.size());
    for (size_t id = 0; id < vocab.size(); ++id) {
      if (in_trie(vocab, excluded, id) && std::all_of(vocab[id].begin(), vocab[id].end(), [&](char c) {
            return allowed.test(static_cast<uint8_t>(c));
          })) {
        want.set(id);
      }
    }
    EXPECT_EQ(trie.tokens_within(allowed), want) << "round " << round;
  }
  const std::vector<std::string> vocab = random_vocab(rng, 500);
  const TokenTrie trie(vocab);
  EXPECT_TRUE(trie.tokens_within(std::bitset<256>{}).none());
  EXPECT_EQ(trie.tokens_within(std::bitset<256>{}.set()), trie.included());
}

TEST(TokenTrie, EmptyAndDegenerateVocabularies) {
  const TokenTrie none(std::span<const std::string>{});
  EXPECT_EQ(none.node_count(), 0u);
  EXPECT_EQ(none.max_depth(), 0u);
  EXPECT_EQ(none.tokens_within(std::bitset<256>{}.set()).size(), 0u);

  const std::vector<std::string> empties = {"", "", ""};
  const TokenTrie only_empty(empties);
  EXPECT_EQ(only_empty.node_count(), 0u);
  EXPECT_EQ(only_empty.token_count(), 0u);
  EXPECT_TRUE(only_empty.tokens_within(std::bitset<256>{}.set()).none());
}

TEST(TokenTrie, DuplicatesShareOneNode) {
  std::vector<std::string> vocab = {"ab", "a", "ab", "b", "ab"};
  vocab.push_back(std::string("\xff\0", 2));
  vocab.push_back(std::string("\xff\0", 2));
  TokenBitset excluded(vocab.size());
  excluded.set(2);
  const TokenTrie trie(vocab, excluded);
  ASSERT_EQ(trie.node_count(), 5u);  // a, ab, b, \xff, \xff\0
  const auto nodes = trie.nodes();
  EXPECT_EQ(nodes[0].token, 1);
  EXPECT_EQ(nodes[1].token, 0);
  EXPECT_EQ(trie.next_same(0), 4);  // 2 is excluded
  EXPECT_EQ(trie.next_same(4), -1);
  EXPECT_EQ(nodes[0].subtree_end, 2u);
  EXPECT_EQ(nodes[3].token, -1);
  EXPECT_EQ(nodes[4].token, 5);
  EXPECT_EQ(trie.next_same(5), 6);
  EXPECT_EQ(nodes[4].byte, 0);
  EXPECT_EQ(nodes[4].subtree_end, 5u);
}

TEST(TokenTrie, RejectsBadInput) {
  const std::vector<std::string> vocab = {"a", "b"};
  EXPECT_THROW(TokenTrie(vocab, TokenBitset(3)), engine::EngineError);
  const std::vector<std::string> huge = {std::string(70000, 'x')};
  EXPECT_THROW(TokenTrie{huge}, engine::EngineError);
}

// A Llama-3-sized vocabulary: every single byte, then 128K words of letters with and without
// a leading space, some with multi-byte UTF-8, averaging about 6.5 bytes. Prints the build time
// (tests never assert timings).
TEST(TokenTrie, BuildsA128KVocabulary) {
  std::mt19937 rng(5);
  std::vector<std::string> vocab;
  vocab.reserve(128256);
  for (int b = 0; b < 256; ++b) {
    vocab.emplace_back(1, static_cast<char>(b));
  }
  // Skewed letters, as in natural text: common letters make deep shared prefixes.
  static constexpr char kLetters[] = "eeeeettttaaaoooiiinnnsssrrhhldcumfpgwybvkxjqz";
  while (vocab.size() < 128000) {
    std::string s;
    if (rng() % 2 == 0) {
      s += ' ';
    }
    if (rng() % 10 == 0) {
      s += static_cast<char>(rng() % 26 + 'A');
    }
    const size_t len = 2 + rng() % 9;
    for (size_t i = 0; i < len; ++i) {
      s += kLetters[rng() % (sizeof(kLetters) - 1)];
    }
    if (rng() % 50 == 0) {
      s += "\xc3\xa9";
    }
    vocab.push_back(std::move(s));
  }
  TokenBitset excluded(128256);
  while (vocab.size() < 128256) {
    excluded.set(vocab.size());
    vocab.push_back("<|reserved_special_token|>");
  }
  size_t bytes = 0;
  for (const std::string& s : vocab) {
    bytes += s.size();
  }

  const auto t0 = std::chrono::steady_clock::now();
  const TokenTrie trie(vocab, excluded);
  const auto t1 = std::chrono::steady_clock::now();
  std::bitset<256> lower;
  for (char c = 'a'; c <= 'z'; ++c) {
    lower.set(static_cast<uint8_t>(c));
  }
  const TokenBitset within = trie.tokens_within(lower);
  const auto t2 = std::chrono::steady_clock::now();
  const double build_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  const double within_us = std::chrono::duration<double, std::micro>(t2 - t1).count();
  std::printf("TokenTrie 128K: %zu tokens, %.2f bytes/token, %zu nodes, max depth %zu, build %.1f ms, "
              "tokens_within(a-z) %.0f us (%zu tokens)\n",
              trie.token_count(), static_cast<double>(bytes) / static_cast<double>(vocab.size()),
              trie.node_count(), trie.max_depth(), build_ms, within_us, within.count());
  RecordProperty("build_ms", std::to_string(build_ms));
  RecordProperty("nodes", std::to_string(trie.node_count()));

  EXPECT_EQ(trie.token_count(), 128000u);
  EXPECT_LT(trie.node_count(), bytes);  // shared prefixes are shared nodes
  size_t want = 0;
  for (size_t id = 0; id < 128000; ++id) {
    want += std::all_of(vocab[id].begin(), vocab[id].end(), [&](char c) { return lower.test(static_cast<uint8_t>(c)); });
  }
  EXPECT_EQ(within.count(), want);
}

TEST(TokenBitset, MatchesVectorOfBool) {
  std::mt19937 rng(6);
  for (size_t n : {0u, 1u, 63u, 64u, 65u, 130u, 1000u}) {
    TokenBitset a(n);
    TokenBitset b(n);
    std::vector<bool> ra(n);
    std::vector<bool> rb(n);
    for (size_t k = 0; k < n; ++k) {
      const size_t i = rng() % n;
      const size_t j = rng() % n;
      a.set(i);
      ra[i] = true;
      b.set(j);
      rb[j] = true;
      if (rng() % 3 == 0) {
        a.clear(j);
        ra[j] = false;
      }
    }
    auto check = [&](const TokenBitset& bits, const std::vector<bool>& ref) {
      ASSERT_EQ(bits.size(), ref.size());
      std::vector<size_t> listed;
      bits.for_each_set([&](size_t i) { listed.push_back(i); });
      std::vector<size_t> want;
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(bits.test(i), ref[i]) << n << " " << i;
        if (ref[i]) {
          want.push_back(i);
        }
      }
      EXPECT_EQ(listed, want);
      EXPECT_EQ(bits.count(), want.size());
      EXPECT_EQ(bits.none(), want.empty());
    };
    check(a, ra);
    check(b, rb);

    TokenBitset u = a;
    u |= b;
    TokenBitset x = a;
    x &= b;
    TokenBitset d = a;
    d.subtract(b);
    std::vector<bool> ru(n), rx(n), rd(n);
    for (size_t i = 0; i < n; ++i) {
      ru[i] = ra[i] || rb[i];
      rx[i] = ra[i] && rb[i];
      rd[i] = ra[i] && !rb[i];
    }
    check(u, ru);
    check(x, rx);
    check(d, rd);

    TokenBitset all(n);
    all.set_all();
    check(all, std::vector<bool>(n, true));
    EXPECT_EQ(all.count(), n);
    // set_all leaves the bits past size() clear, so a set built bit by bit compares equal.
    TokenBitset by_bit(n);
    for (size_t i = 0; i < n; ++i) {
      by_bit.set(i);
    }
    EXPECT_EQ(all, by_bit);
    all.clear_all();
    EXPECT_EQ(all, TokenBitset(n));
    EXPECT_EQ(a == b, ra == rb);
  }
}

}  // namespace
}  // namespace ragent::grammar
