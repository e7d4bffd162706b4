// engine/grammar/regex.cpp against PCRE2: for hand-written and randomly generated patterns of
// the supported subset, regex_search and regex_full_match (run by the reference matcher) accept
// exactly the strings PCRE2 finds a match in / matches whole.
//
// PCRE2 reads the ECMA-262 escapes \uHHHH, \u{H...} and \xHH itself (PCRE2_EXTRA_ALT_BSUX), and
// PCRE2_DOLLAR_ENDONLY makes $ the end of the input as in ECMA-262 (not before a final \n).
// Three differences remain and are rewritten on the PCRE2 side only, by to_pcre: \s and \S
// (PCRE2 without UCP knows ASCII spaces only, with UCP it takes U+0085 and leaves out U+FEFF),
// . (PCRE2 excludes \n only) and \v (a class of vertical spaces in PCRE2, U+000B in ECMA-262).
// The generator leaves out what the two read differently by design: [] and [^], \0 before a
// digit, surrogate pairs written as two \u escapes.
#include <gtest/gtest.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/grammar/regex.hpp"
#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

constexpr const char* kEcmaSpace = R"(\u0009-\u000d\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff)";
constexpr const char* kEcmaNonSpace =
    R"(\u0000-\u0008\u000e-\u001f\u0021-\u009f\u00a1-\u167f\u1681-\u1fff\u200b-\u2027\u202a-\u202e\u2030-\u205e)"
    R"(\u2060-\u2fff\u3001-\ud7ff\ue000-\ufefe\uff00-\u{10ffff})";

// The ECMA-262 pattern in PCRE2 syntax (see the file comment).
std::string to_pcre(std::string_view ecma) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < ecma.size(); ++i) {
    const char c = ecma[i];
    if (c == '\\' && i + 1 < ecma.size()) {
      const char e = ecma[++i];
      if (e == 's' || e == 'S') {
        if (!in_class) out += '[';
        out += e == 's' ? kEcmaSpace : kEcmaNonSpace;
        if (!in_class) out += ']';
      } else if (e == 'v') {
        out += R"(\u000b)";
      } else {
        out += '\\';
        out += e;
      }
    } else if (in_class) {
      in_class = c != ']';
      out += c;
    } else if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < ecma.size() && ecma[i + 1] == '^') out += ecma[++i];
    } else if (c == '.') {
      out += R"([^\u000a\u000d\u2028\u2029])";
    } else {
      out += c;
    }
  }
  return out;
}

class Pcre2 {
 public:
  explicit Pcre2(std::string_view ecma) : pattern_(to_pcre(ecma)) {
    std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> context(
        pcre2_compile_context_create(nullptr), pcre2_compile_context_free);
    pcre2_set_compile_extra_options(context.get(), PCRE2_EXTRA_ALT_BSUX);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                          PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY, &error, &offset, context.get());
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      error_ = reinterpret_cast<const char*>(message);
      error_ += " at ";
      error_ += std::to_string(offset);
      error_ += " in ";
      error_ += pattern_;
      return;
    }
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Pcre2() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  Pcre2(const Pcre2&) = delete;
  Pcre2& operator=(const Pcre2&) = delete;

  const std::string& error() const { return error_; }
  bool search(std::string_view s) const { return match(s, 0); }
  bool full_match(std::string_view s) const { return match(s, PCRE2_ANCHORED | PCRE2_ENDANCHORED); }

 private:
  bool match(std::string_view s, uint32_t options) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, options, data_, nullptr);
    EXPECT_TRUE(rc >= 0 || rc == PCRE2_ERROR_NOMATCH) << "pcre2_match " << rc << " on " << pattern_;
    return rc >= 0;
  }

  std::string pattern_;
  std::string error_;
  pcre2_code* code_ = nullptr;
  pcre2_match_data* data_ = nullptr;
};

// Characters the strings are made of: the pattern's own and these, chosen where ECMA-262 and
// PCRE2 could disagree (line terminators, Unicode spaces, NEL, BOM, astral characters).
constexpr uint32_t kAlphabet[] = {'a', 'b', 'c', 'x', 'z', 'A', 'Z', '0', '1', '9', '_', '-', ' ', '.', '/', '\\', '@',
                                  '\t', '\n', '\r', 0x0B, 0x0C, 0x08, 0, 0x85, 0xA0, 0xE9, 0x2028, 0x2029, 0xFEFF,
                                  0x1680, 0x3000, 0x1F600, 0x10FFFF};

struct Tally {
  int strings = 0;
  int searches_found = 0;
  int full_matches = 0;
};

class Differential {
 public:
  explicit Differential(uint32_t seed) : rng_(seed) {}

  // Checks pattern on the given strings, on mutations of them and on random strings.
  void check(std::string_view pattern, const std::vector<std::string>& samples, Tally& tally) {
    Grammar g;
    ExprId search = -1;
    ExprId full = -1;
    try {
      search = regex_search(g, pattern);
      full = regex_full_match(g, pattern);
    } catch (const RegexError& e) {
      ADD_FAILURE() << "refused " << pattern << ": " << e.what();
      return;
    }
    const Pcre2 pcre(pattern);
    if (!pcre.error().empty()) {
      ADD_FAILURE() << "PCRE2 refused " << pattern << ": " << pcre.error();
      return;
    }
    std::vector<uint32_t> alphabet(std::begin(kAlphabet), std::end(kAlphabet));
    for (size_t i = 0; i < pattern.size();) {
      uint32_t cp = 0;
      i += std::max<size_t>(1, decode_utf8(pattern, i, &cp));
      alphabet.push_back(cp);
    }
    std::vector<std::string> strings = samples;
    for (const std::string& s : samples) {
      for (int k = 0; k < 3; ++k) strings.push_back(mutate(s, alphabet));
    }
    for (int k = 0; k < 6; ++k) strings.push_back(random_string(alphabet));

    testing::ReferenceMatcher ours(g);
    for (const std::string& s : strings) {
      const bool found = pcre.search(s);
      const bool whole = pcre.full_match(s);
      EXPECT_EQ(ours.matches(search, s), found) << "search /" << pattern << "/ in \"" << s << "\"";
      EXPECT_EQ(ours.matches(full, s), whole) << "full match /" << pattern << "/ of \"" << s << "\"";
      ++tally.strings;
      tally.searches_found += found;
      tally.full_matches += whole;
    }
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  uint32_t pick_from(const std::vector<uint32_t>& alphabet) {
    return alphabet[static_cast<size_t>(pick(0, static_cast<int>(alphabet.size()) - 1))];
  }
  std::string random_string(const std::vector<uint32_t>& alphabet) {
    std::string s;
    for (int n = pick(0, 6); n > 0; --n) append_utf8(s, pick_from(alphabet));
    return s;
  }

 private:
  // s with one code point inserted, deleted or replaced.
  std::string mutate(const std::string& s, const std::vector<uint32_t>& alphabet) {
    std::vector<uint32_t> cps;
    for (size_t i = 0; i < s.size();) {
      uint32_t cp = 0;
      i += decode_utf8(s, i, &cp);
      cps.push_back(cp);
    }
    const size_t at = static_cast<size_t>(pick(0, static_cast<int>(cps.size())));
    const int op = cps.empty() ? 0 : pick(0, 2);
    if (op == 0) cps.insert(cps.begin() + static_cast<long>(at), pick_from(alphabet));
    if (op == 1) cps.erase(cps.begin() + static_cast<long>(std::min(at, cps.size() - 1)));
    if (op == 2) cps[std::min(at, cps.size() - 1)] = pick_from(alphabet);
    std::string out;
    for (uint32_t cp : cps) append_utf8(out, cp);
    return out;
  }

  std::mt19937 rng_;
};

struct HandCase {
  const char* pattern;
  std::vector<std::string> samples;
};

TEST(RegexPcre2, HandWrittenPatterns) {
  const HandCase cases[] = {
      {R"(^[a-z0-9_-]{3,16}$)", {"my_name-1", "ab", "abc"}},
      {R"(^\d{3}-\d{2}-\d{4}$)", {"123-45-6789", "123-456-789"}},
      {R"(^(\([0-9]{3}\))?[0-9]{3}-[0-9]{4}$)", {"(888)555-1212", "555-1212", "(800)FLOWERS"}},
      {R"(^[A-Z]{2}$)", {"US", "usa"}},
      {R"(^\S+@\S+\.\S+$)", {"a@b.co", "a b@c.d", "a@b"}},
      {R"(^https?://)", {"http://x", "https://", "ftp://"}},
      {R"(^(?:[01]\d|2[0-3]):[0-5]\d$)", {"23:59", "24:00", "9:30"}},
      {R"(^#?([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$)", {"#a3c113", "fff", "#ggg"}},
      {R"(^\s*$)", {"", " \t\n", " x ", "\xC2\xA0\xEF\xBB\xBF\xE2\x80\xA8"}},
      {R"(^\s$)", {"\xC2\xA0", "\xC2\x85", "\xEF\xBB\xBF", "\xE1\xA0\x8E", "\x0B"}},
      {R"(^[^\s]+$)", {"abc", "a c", "a\xC2\x85"}},
      {R"(a.c)", {"abc", "a\nc", "xa\xF0\x9F\x98\x80" "cx", "a\xE2\x80\xA8" "c", "a\xC2\x85" "c"}},
      {R"(^.*$)", {"anything", "two\nlines", "", "cr\r"}},
      {R"(^(a|ab)(c|bcd)(d*)$)", {"abcd", "acd", "abd"}},
      {R"((a*)*b)", {"aaab", "aaa", "b"}},
      {R"(^$)", {"", "x", "\n"}},
      {"", {"", "x"}},
      {R"(a$)", {"a", "a\n", "ba"}},
      {R"(^a$|^b$)", {"a", "b", "ab"}},
      {R"(^a|b$)", {"ax", "xb", "xa", "bx"}},
      {R"([\u00e0-\u00ff]+)", {"\xC3\xA0\xC3\xA9", "abc"}},
      {R"(\u{1F600}|\u{1f601}x?)", {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x81x"}},
      {R"(^[\w.-]+$)", {"file.name-1", "a b"}},
      {R"(^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$)", {"-0.5e10", "01", "1.", "12E+3"}},
      {R"(^[^@]+@[^@]+$)", {"a@b", "a@@b"}},
      {R"(^\w+( \w+)*$)", {"hello world", "hello  world"}},
      {R"(x{2,3}?y{0}z{1,}?)", {"xxz", "xxxzz", "xz", "xxyz"}},
      {R"((?<year>\d{4})-(?<month>\d{2}))", {"2026-11", "26-11"}},
      {R"(^\x41\u0042\cJ\t\ca$)", {"AB\n\t\x01"}},
      {R"([\b][\s\S])", {"\b\n", "b "}},
      {R"(^[^\d\s]{2}$)", {"ab", "a1", "\xC3\xA9\xC3\xA9"}},
      {R"(\/\*.*?\*\/)", {"/* c */", "/* c", "/*\n*/"}},
      {R"(^\$\d+(\.\d{2})?$)", {"$10.00", "$1.5"}},
      {R"(^[\u0000-\u007f]*$)", {"ascii", "\xC3\xA9"}},
      {R"(]|})", {"]", "}", "{"}},
      {R"(^(?:a|b|)+$)", {"abba", "", "c"}},
      {R"(^(a+)+$)", {"aaaa", "aab"}},
      {R"(^[^\n]*$)", {"abc", "a\nb", "a\rb"}},
      {R"(^\v\f\r\n$)", {"\x0B\x0C\r\n"}},
      {R"(^[\D\W]$)", {"a", "5", "-"}},
      {R"(^[\s\d]+$)", {" 1\t2", "x"}},
      {R"(^\S\W\D$)", {"a-b", "a b", "aa1"}},
      {R"(^[.*+?(){}|^$]+$)", {"(.*)", "a"}},
      {R"(^[\^\-\]\\]+$)", {"^-]\\", "a"}},
      {R"(^a{0,2}b{2}c{1,}$)", {"bbc", "aabbcc", "abc"}},
      {R"(^(?:(?:a|b)(?:c|d)){1,2}$)", {"ac", "bdad", "ab"}},
  };
  Differential diff(7);
  Tally tally;
  for (const HandCase& c : cases) diff.check(c.pattern, c.samples, tally);
  // Both answers occur often, so the agreement means something.
  EXPECT_GT(tally.full_matches, tally.strings / 10);
  EXPECT_LT(tally.searches_found, tally.strings * 9 / 10);
}

// Random patterns of the supported subset, each with strings it matches.
class PatternGenerator {
 public:
  explicit PatternGenerator(Differential& diff) : diff_(diff) {}

  struct Pattern {
    std::string text;
    std::vector<std::string> samples;
  };

  Pattern make() {
    // A pattern is a tree of nodes; each node is generated with a function that samples it.
    Pattern p;
    next_group_ = 0;
    std::vector<Node> alternatives;
    for (int n = diff_.pick(1, 2); n > 0; --n) {
      Node alt = sequence(2);
      alt.anchored_start = diff_.pick(0, 2) == 0;
      alt.anchored_end = diff_.pick(0, 2) == 0;
      if (!p.text.empty()) p.text += '|';
      p.text += alt.anchored_start ? "^" : "";
      p.text += alt.text;
      p.text += alt.anchored_end ? "$" : "";
      alternatives.push_back(std::move(alt));
    }
    const std::vector<uint32_t> alphabet(std::begin(kAlphabet), std::end(kAlphabet));
    for (int k = 0; k < 8; ++k) {
      const Node& alt = alternatives[static_cast<size_t>(diff_.pick(0, static_cast<int>(alternatives.size()) - 1))];
      std::string s = k % 2 == 0 || alt.anchored_start ? "" : diff_.random_string(alphabet);
      sample(alt, s);
      if (k % 2 == 1 && !alt.anchored_end) s += diff_.random_string(alphabet);
      p.samples.push_back(std::move(s));
    }
    return p;
  }

 private:
  struct Node {
    enum class Kind { kSet, kSequence, kChoice, kRepeat } kind = Kind::kSet;
    std::string text;               // ECMA-262 source
    std::vector<CharRange> ranges;  // kSet: the code points matched (or not, when negated)
    bool negated = false;
    std::vector<Node> children;
    int min = 0;
    int max = 0;  // kRepeat; -1: unbounded
    bool anchored_start = false;
    bool anchored_end = false;
  };

  // An ECMA-262 atom and the code points it stands for.
  struct Leaf {
    const char* text;
    std::vector<CharRange> ranges;
    bool negated = false;
  };

  static std::vector<CharRange> complement(std::vector<CharRange> ranges) {
    std::sort(ranges.begin(), ranges.end(), [](CharRange a, CharRange b) { return a.lo < b.lo; });
    std::vector<CharRange> out;
    uint32_t next = 0;
    for (CharRange r : ranges) {
      if (r.lo > next) out.push_back({next, r.lo - 1});
      next = std::max(next, r.hi + 1);
    }
    if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
    return out;
  }

  static const std::vector<Leaf>& class_escapes() {
    static const std::vector<CharRange> digit{{'0', '9'}};
    static const std::vector<CharRange> word{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const std::vector<CharRange> space{{0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                              {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
    static const std::vector<Leaf> escapes{{R"(\d)", digit},
                                           {R"(\D)", complement(digit)},
                                           {R"(\w)", word},
                                           {R"(\W)", complement(word)},
                                           {R"(\s)", space},
                                           {R"(\S)", complement(space)}};
    return escapes;
  }

  Leaf atom_leaf() {
    static const std::vector<Leaf> leaves = {
        {"a", {{'a', 'a'}}}, {"b", {{'b', 'b'}}}, {"c", {{'c', 'c'}}}, {"x", {{'x', 'x'}}}, {"0", {{'0', '0'}}},
        {"7", {{'7', '7'}}}, {"_", {{'_', '_'}}}, {"-", {{'-', '-'}}}, {" ", {{' ', ' '}}}, {",", {{',', ','}}},
        {"@", {{'@', '@'}}}, {"\xC3\xA9", {{0xE9, 0xE9}}}, {"\xF0\x9F\x98\x80", {{0x1F600, 0x1F600}}},
        {"]", {{']', ']'}}}, {"}", {{'}', '}'}}}, {R"(\.)", {{'.', '.'}}}, {R"(\*)", {{'*', '*'}}},
        {R"(\\)", {{'\\', '\\'}}}, {R"(\/)", {{'/', '/'}}}, {R"(\-)", {{'-', '-'}}}, {R"(\()", {{'(', '('}}},
        {R"(\[)", {{'[', '['}}}, {R"(\{)", {{'{', '{'}}}, {R"(\|)", {{'|', '|'}}}, {R"(\?)", {{'?', '?'}}},
        {R"(\^)", {{'^', '^'}}}, {R"(\$)", {{'$', '$'}}}, {R"(\t)", {{'\t', '\t'}}}, {R"(\n)", {{'\n', '\n'}}},
        {R"(\r)", {{'\r', '\r'}}}, {R"(\f)", {{'\f', '\f'}}}, {R"(\v)", {{0x0B, 0x0B}}}, {R"(\x41)", {{'A', 'A'}}},
        {R"(\x0a)", {{'\n', '\n'}}}, {R"(\u00e9)", {{0xE9, 0xE9}}}, {R"(\u2028)", {{0x2028, 0x2028}}},
        {R"(\u{1F600})", {{0x1F600, 0x1F600}}}, {R"(\u{a0})", {{0xA0, 0xA0}}}, {R"(\cJ)", {{'\n', '\n'}}},
        {R"(\ca)", {{1, 1}}}, {".", {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}, true},
    };
    const int n = static_cast<int>(leaves.size() + class_escapes().size());
    const int i = diff_.pick(0, n - 1);
    if (i < static_cast<int>(leaves.size())) return leaves[static_cast<size_t>(i)];
    return class_escapes()[static_cast<size_t>(i) - leaves.size()];
  }

  // [...] or [^...] of one to three members.
  Node char_class() {
    static const std::vector<Leaf> members = {
        {"a", {{'a', 'a'}}}, {"z", {{'z', 'z'}}}, {"0", {{'0', '0'}}}, {"_", {{'_', '_'}}}, {" ", {{' ', ' '}}},
        {"\xC3\xA9", {{0xE9, 0xE9}}}, {".", {{'.', '.'}}}, {"$", {{'$', '$'}}}, {"(", {{'(', '('}}},
        {"*", {{'*', '*'}}}, {R"(\])", {{']', ']'}}}, {R"(\\)", {{'\\', '\\'}}}, {R"(\-)", {{'-', '-'}}},
        {R"(\^)", {{'^', '^'}}}, {R"(\[)", {{'[', '['}}}, {R"(\b)", {{8, 8}}}, {R"(\n)", {{'\n', '\n'}}},
        {R"(\t)", {{'\t', '\t'}}}, {R"(\x41)", {{'A', 'A'}}}, {R"(\u00e9)", {{0xE9, 0xE9}}},
        {R"(\u{1F600})", {{0x1F600, 0x1F600}}}, {"a-c", {{'a', 'c'}}}, {"0-9", {{'0', '9'}}},
        {"x-z", {{'x', 'z'}}}, {"A-Z", {{'A', 'Z'}}}, {R"(\x20-\x2f)", {{0x20, 0x2F}}},
        {R"(\u00e0-\u00ff)", {{0xE0, 0xFF}}}, {"\xC3\xA0-\xC3\xB6", {{0xE0, 0xF6}}},
        {R"(\u{1F600}-\u{1F64F})", {{0x1F600, 0x1F64F}}}, {"!-/", {{'!', '/'}}},
    };
    Node node;
    node.negated = diff_.pick(0, 3) == 0;
    node.text = node.negated ? "[^" : "[";
    for (int n = diff_.pick(1, 3); n > 0; --n) {
      const bool escape = diff_.pick(0, 4) == 0;
      const Leaf& m = escape ? class_escapes()[static_cast<size_t>(diff_.pick(0, 5))]
                             : members[static_cast<size_t>(diff_.pick(0, static_cast<int>(members.size()) - 1))];
      node.text += m.text;
      node.ranges.insert(node.ranges.end(), m.ranges.begin(), m.ranges.end());
    }
    node.text += ']';
    return node;
  }

  // term := atom quantifier?
  Node term(int depth) {
    Node atom;
    const int kind = diff_.pick(0, depth > 0 ? 9 : 6);
    if (kind <= 4) {
      const Leaf leaf = atom_leaf();
      atom.text = leaf.text;
      atom.ranges = leaf.ranges;
      atom.negated = leaf.negated;
    } else if (kind <= 6) {
      atom = char_class();
    } else {
      atom = choice(depth - 1);
      const int group = diff_.pick(0, 2);
      std::string text = group == 0 ? "(" : group == 1 ? "(?:" : "(?<g";
      if (group == 2) {
        text += std::to_string(next_group_++);
        text += '>';
      }
      text += atom.text;
      text += ')';
      atom.text = std::move(text);
    }
    if (diff_.pick(0, 2) != 0) return atom;
    Node repeat;
    repeat.kind = Node::Kind::kRepeat;
    static const char* const kQuantifiers[] = {"*", "+", "?", "{0}", "{1}", "{2}", "{0,}", "{2,}", "{0,1}", "{1,3}", "{2,2}"};
    static const int kBounds[][2] = {{0, -1}, {1, -1}, {0, 1}, {0, 0}, {1, 1}, {2, 2}, {0, -1}, {2, -1}, {0, 1}, {1, 3}, {2, 2}};
    const size_t q = static_cast<size_t>(diff_.pick(0, 10));
    repeat.min = kBounds[q][0];
    repeat.max = kBounds[q][1];
    repeat.text = atom.text;
    repeat.text += kQuantifiers[q];
    if (diff_.pick(0, 3) == 0) repeat.text += '?';  // lazy
    repeat.children.push_back(std::move(atom));
    return repeat;
  }

  Node sequence(int depth) {
    Node node;
    node.kind = Node::Kind::kSequence;
    for (int n = diff_.pick(0, 3); n > 0; --n) {
      node.children.push_back(term(depth));
      node.text += node.children.back().text;
    }
    return node;
  }

  Node choice(int depth) {
    Node node;
    node.kind = Node::Kind::kChoice;
    for (int n = diff_.pick(1, 3); n > 0; --n) {
      if (!node.children.empty()) node.text += '|';
      node.children.push_back(sequence(depth));
      node.text += node.children.back().text;
    }
    return node;
  }

  bool in_ranges(const Node& node, uint32_t cp) const {
    const bool in = std::any_of(node.ranges.begin(), node.ranges.end(), [&](CharRange r) { return cp >= r.lo && cp <= r.hi; });
    return in != node.negated;
  }

  // Appends a string the node matches (a set with no member left out).
  void sample(const Node& node, std::string& out) {
    switch (node.kind) {
      case Node::Kind::kSet: {
        std::vector<uint32_t> candidates;
        for (uint32_t cp : kAlphabet) {
          if (in_ranges(node, cp)) candidates.push_back(cp);
        }
        for (const CharRange& r : node.ranges) {
          if (!node.negated) candidates.push_back(r.lo + static_cast<uint32_t>(diff_.pick(0, static_cast<int>(std::min<uint32_t>(r.hi - r.lo, 1000)))));
        }
        std::erase_if(candidates, [](uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; });
        if (!candidates.empty()) append_utf8(out, diff_.pick_from(candidates));
        break;
      }
      case Node::Kind::kSequence:
        for (const Node& c : node.children) sample(c, out);
        break;
      case Node::Kind::kChoice: sample(node.children[static_cast<size_t>(diff_.pick(0, static_cast<int>(node.children.size()) - 1))], out); break;
      case Node::Kind::kRepeat: {
        const int n = node.max < 0 ? node.min + diff_.pick(0, 2) : diff_.pick(node.min, node.max);
        for (int k = 0; k < n; ++k) sample(node.children[0], out);
        break;
      }
    }
  }

  Differential& diff_;
  int next_group_ = 0;
};

TEST(RegexPcre2, RandomPatterns) {
  Differential diff(20261125);
  PatternGenerator generate(diff);
  Tally tally;
  for (int i = 0; i < 400; ++i) {
    const PatternGenerator::Pattern p = generate.make();
    diff.check(p.text, p.samples, tally);
    if (::testing::Test::HasFailure()) return;  // one pattern's failures are enough to read
  }
  EXPECT_GT(tally.full_matches, tally.strings / 10);
  EXPECT_GT(tally.searches_found, tally.strings / 4);
  EXPECT_LT(tally.searches_found, tally.strings * 9 / 10);
}

}  // namespace
}  // namespace ragent::grammar
