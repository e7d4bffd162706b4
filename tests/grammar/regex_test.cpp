// engine/grammar/regex.cpp: what each construct compiles to, the strings it matches (by the
// reference matcher), search against full-match semantics, and every error with its offset.
// regex_pcre2_test.cpp checks the same languages against PCRE2.
#include "engine/grammar/regex.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

std::string parsed_gbnf(std::string_view pattern) {
  Grammar g;
  return g.to_gbnf(parse_regex(g, pattern).expr);
}

TEST(Regex, CompilesEachConstruct) {
  EXPECT_EQ(parsed_gbnf("abc"), R"("abc")");
  EXPECT_EQ(parsed_gbnf("a|bc"), R"("a" | "bc")");
  EXPECT_EQ(parsed_gbnf("[a-c]x*"), R"([a-c] "x"*)");
  EXPECT_EQ(parsed_gbnf(R"(\d{2,3})"), R"([0-9]{2,3})");
  EXPECT_EQ(parsed_gbnf("a{2}b{2,}"), R"("a"{2} "b"{2,})");
  EXPECT_EQ(parsed_gbnf("(?:ab)+?"), R"("ab"+)");
  EXPECT_EQ(parsed_gbnf("a*?b??c+?d{1,2}?"), R"("a"* "b"? "c"+ "d"{1,2})");  // lazy: same language
  EXPECT_EQ(parsed_gbnf("a(b|c)d"), R"("a" ("b" | "c") "d")");
  EXPECT_EQ(parsed_gbnf(R"(x(?<year>\d{4}))"), R"("x" [0-9]{4})");
  EXPECT_EQ(parsed_gbnf("a()b"), R"("ab")");
  EXPECT_EQ(parsed_gbnf("."), R"([^\n\r\u2028\u2029])");
  EXPECT_EQ(parsed_gbnf(R"(\w)"), "[0-9A-Z_a-z]");
  EXPECT_EQ(parsed_gbnf(R"(\D)"), "[^0-9]");
  EXPECT_EQ(parsed_gbnf("[^a]"), "[^a]");
  EXPECT_EQ(parsed_gbnf("[]"), R"([^\x00-\U0010FFFF])");  // ECMA-262: matches nothing
  EXPECT_EQ(parsed_gbnf("[^]"), ".");                      // and anything
  EXPECT_EQ(parsed_gbnf(R"([\d\-x])"), R"([\-0-9x])");
  EXPECT_EQ(parsed_gbnf("[-a][a-]"), R"([\-a] [\-a])");
  EXPECT_EQ(parsed_gbnf(R"([\b])"), R"([\x08])");
  EXPECT_EQ(parsed_gbnf("]}"), R"("]}")");
  EXPECT_EQ(parsed_gbnf(R"(\.\*\\\/\-\[\]\{\}\(\)\|\^\$\?\+)"), R"(".*\\/-[]{}()|^$?+")");
}

TEST(Regex, EscapesGiveCodePoints) {
  EXPECT_EQ(parsed_gbnf(R"(\x41\u0042\0\t\n\r\f\v)"), R"("AB\x00\t\n\r\x0C\x0B")");
  EXPECT_EQ(parsed_gbnf(R"(\cJ\cj)"), R"("\n\n")");
  const std::string smile = "\"\xF0\x9F\x98\x80\"";  // U+1F600
  EXPECT_EQ(parsed_gbnf(R"(\u{1F600})"), smile);
  EXPECT_EQ(parsed_gbnf(R"(\uD83D\uDE00)"), smile);  // a surrogate pair is one code point
  EXPECT_EQ(parsed_gbnf("\xF0\x9F\x98\x80"), smile);
  EXPECT_EQ(parsed_gbnf(R"(\u{0000000041})"), R"("A")");
  EXPECT_EQ(parsed_gbnf(R"([\uD83D\uDE00-\uD83D\uDE4F])"), "[\xF0\x9F\x98\x80-\xF0\x9F\x99\x8F]");
}

TEST(Regex, AnchorsAreReported) {
  Grammar g;
  ParsedRegex r = parse_regex(g, "^abc$");
  EXPECT_EQ(g.to_gbnf(r.expr), R"("abc")");
  EXPECT_TRUE(r.anchored_start);
  EXPECT_TRUE(r.anchored_end);
  r = parse_regex(g, "^a|^b");
  EXPECT_EQ(g.to_gbnf(r.expr), R"("a" | "b")");
  EXPECT_TRUE(r.anchored_start);
  EXPECT_FALSE(r.anchored_end);
  r = parse_regex(g, "a$|b$");
  EXPECT_FALSE(r.anchored_start);
  EXPECT_TRUE(r.anchored_end);
  r = parse_regex(g, "ab");
  EXPECT_FALSE(r.anchored_start);
  EXPECT_FALSE(r.anchored_end);
  r = parse_regex(g, "^$");
  EXPECT_EQ(r.expr, g.empty());
  EXPECT_TRUE(r.anchored_start && r.anchored_end);
  // Alternatives anchored differently: the padding of the unanchored ends moves inside.
  r = parse_regex(g, "^a$|b");
  EXPECT_EQ(g.to_gbnf(r.expr), R"("a" | .* "b" .*)");
  EXPECT_TRUE(r.anchored_start && r.anchored_end);
}

// Search and full match of one pattern, by the reference matcher.
struct Languages {
  Grammar g;
  ExprId search;
  ExprId full;
  explicit Languages(std::string_view pattern) : search(regex_search(g, pattern)), full(regex_full_match(g, pattern)) {}
  bool searches(std::string_view s) { return testing::ReferenceMatcher(g).matches(search, s); }
  bool matches(std::string_view s) { return testing::ReferenceMatcher(g).matches(full, s); }
};

TEST(Regex, SearchPadsTheUnanchoredEnds) {
  Languages a("a");
  EXPECT_TRUE(a.searches("a"));
  EXPECT_TRUE(a.searches("\nxa\n\xE2\x80\xA8"));  // padding takes any code point, newlines too
  EXPECT_FALSE(a.searches(""));
  EXPECT_FALSE(a.searches("b"));
  EXPECT_TRUE(a.matches("a"));
  EXPECT_FALSE(a.matches("xa"));

  Languages start("^a");
  EXPECT_TRUE(start.searches("ab"));
  EXPECT_FALSE(start.searches("ba"));
  Languages end("a$");
  EXPECT_TRUE(end.searches("ba"));
  EXPECT_FALSE(end.searches("ab"));
  EXPECT_FALSE(end.searches("a\n"));  // ECMA-262 $ is the end of the input, not before a final \n

  Languages mixed("^a$|^b|c$|d");
  for (const char* yes : {"a", "bx", "xc", "xdx", "d"}) EXPECT_TRUE(mixed.searches(yes)) << yes;
  for (const char* no : {"ax", "xa", "xb", "cx", ""}) EXPECT_FALSE(mixed.searches(no)) << no;
  for (const char* yes : {"a", "b", "c", "d"}) EXPECT_TRUE(mixed.matches(yes)) << yes;
  EXPECT_FALSE(mixed.matches("bx"));

  Languages empty("");
  EXPECT_TRUE(empty.searches("anything\n"));
  EXPECT_TRUE(empty.matches(""));
  EXPECT_FALSE(empty.matches("x"));
}

TEST(Regex, SetsFollowEcma262) {
  Languages dot(".");
  for (const char* yes : {"x", " ", "\t", "\x0B", "\xC3\xA9", "\xF0\x9F\x98\x80", "\xC2\x85"}) EXPECT_TRUE(dot.matches(yes)) << yes;
  for (const char* no : {"\n", "\r", "\xE2\x80\xA8", "\xE2\x80\xA9", ""}) EXPECT_FALSE(dot.matches(no)) << no;

  // \s: WhiteSpace and LineTerminator; U+FEFF is in, U+0085 (NEL) and U+180E are not.
  Languages space(R"(\s)");
  Languages non_space(R"(\S)");
  const char* spaces[] = {"\t", "\n", "\x0B", "\x0C", "\r", " ", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x80\x80",
                          "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F",
                          "\xE3\x80\x80", "\xEF\xBB\xBF"};
  for (const char* s : spaces) {
    EXPECT_TRUE(space.matches(s)) << s;
    EXPECT_FALSE(non_space.matches(s)) << s;
  }
  for (const char* s : {"a", "\xC2\x85", "\xE1\xA0\x8E", "\xE2\x80\x8B", "\x1F"}) {
    EXPECT_FALSE(space.matches(s)) << s;
    EXPECT_TRUE(non_space.matches(s)) << s;
  }

  Languages word(R"([\w][\W])");
  EXPECT_TRUE(word.matches("_-"));
  EXPECT_TRUE(word.matches("Z\xC3\xA9"));  // \w is ASCII only
  EXPECT_FALSE(word.matches("\xC3\xA9-"));
  Languages digits(R"(^\d+$)");
  EXPECT_TRUE(digits.searches("0123456789"));
  EXPECT_FALSE(digits.searches("\xD9\xA3"));  // ARABIC-INDIC DIGIT THREE: not an ECMA \d

  Languages classes(R"([^\s\d][\S\D][^])");
  EXPECT_TRUE(classes.matches("a \n"));
  EXPECT_FALSE(classes.matches("1 \n"));
  EXPECT_FALSE(classes.matches(" ab"));
  Languages nothing("a[]|b");
  EXPECT_TRUE(nothing.matches("b"));
  EXPECT_FALSE(nothing.matches("a"));
}

TEST(Regex, QuantifiersAndGroups) {
  Languages q("^(ab|c){2,3}x?$");
  for (const char* yes : {"abab", "cc", "abcab", "ccx", "ababcx"}) EXPECT_TRUE(q.searches(yes)) << yes;
  for (const char* no : {"ab", "abababab", "ccxx", "x"}) EXPECT_FALSE(q.searches(no)) << no;
  Languages nested("^(a*)*b$");
  EXPECT_TRUE(nested.searches("b"));
  EXPECT_TRUE(nested.searches("aaab"));
  EXPECT_FALSE(nested.searches("aaa"));
  Languages zero("^a{0}b$");
  EXPECT_TRUE(zero.searches("b"));
  EXPECT_FALSE(zero.searches("ab"));
}

struct ErrorCase {
  const char* pattern;
  size_t offset;
  const char* says;
};

TEST(Regex, RejectsWhatItDoesNotSupportWithTheOffset) {
  const std::string deep(201, '(');
  const ErrorCase cases[] = {
      {R"(a\1)", 1, "backreference \\1"},
      {R"((a)\k<x>)", 3, "named backreference"},
      {"a(?=b)", 1, "lookahead (?="},
      {"a(?!b)", 1, "lookahead (?!"},
      {"(?<=a)b", 0, "lookbehind (?<="},
      {"(?<!a)b", 0, "lookbehind (?<!"},
      {R"(a\bc)", 1, "word boundary \\b"},
      {R"(\B)", 0, "word boundary \\B"},
      {"(?i)a", 0, "group (?i is not supported"},
      {"(?P<n>x)", 0, "group (?P is not supported"},
      {"(?", 0, "group (? is not supported"},
      {R"(\p{L})", 0, "property escape \\p"},
      {R"(\P{L})", 0, "property escape \\P"},
      {"a^b", 1, "anchor ^"},
      {"a$b", 1, "anchor $"},
      {"(^a)", 1, "anchor ^"},
      {"(a$)", 2, "anchor $"},
      {"(a|$)", 3, "anchor $"},
      {"^^a", 1, "anchor ^"},
      {"(ab", 0, "unterminated group"},
      {"a(b(c)", 1, "unterminated group"},
      {"ab)", 2, "unmatched )"},
      {"a|b)", 3, "unmatched )"},
      {"[z-a]", 1, "range z-a is out of order"},
      {"[ab", 0, "unterminated character class"},
      {R"([a\])", 0, "unterminated character class"},
      {R"([\d-z])", 3, "cannot bound a range"},
      {R"([a-\w])", 2, "cannot bound a range"},
      {"*a", 0, "quantifier * has nothing to repeat"},
      {"a**", 2, "quantifier * has nothing to repeat"},
      {"a|+", 2, "quantifier + has nothing to repeat"},
      {"^*", 1, "quantifier * has nothing to repeat"},
      {"(?)", 0, "group (?) is not supported"},
      {"{2}", 0, "quantifier {2} has nothing to repeat"},
      {"a{2}{3}", 4, "quantifier {3} has nothing to repeat"},
      {"a{3,2}", 1, "{3,2} has its bounds out of order"},
      {"a{10001}", 1, "bound above 10000"},
      {"a{1,99999999999999999999}", 1, "bound above 10000"},
      {"a{", 1, "does not start a quantifier"},
      {"a{,3}", 1, "does not start a quantifier"},
      {"a{x}", 1, "does not start a quantifier"},
      {"x{1", 1, "does not start a quantifier"},
      {"ab\\", 2, "lone backslash"},
      {"a\xFF", 1, "invalid UTF-8"},
      {"ab\xC3", 2, "invalid UTF-8"},
      {"[\xED\xA0\x80]", 1, "invalid UTF-8"},  // an encoded surrogate
      {R"(\x4)", 0, "\\x needs two hex digits"},
      {R"(\u12)", 0, "\\u needs four hex digits"},
      {R"(\u{110000})", 0, "above U+10FFFF"},
      {R"(\u{})", 0, "\\u{ needs hex digits"},
      {R"(\u{41)", 0, "\\u{ needs hex digits"},
      {R"(a\uD83D)", 1, "lone surrogate \\uD83D"},
      {R"(\uDE00\uD83D)", 0, "lone surrogate \\uDE00"},
      {R"(\u{D800})", 0, "lone surrogate"},
      {R"(\c1)", 0, "\\c must be followed by an ASCII letter"},
      {R"(\01)", 0, "octal"},
      {R"(a\q)", 1, "unknown escape \\q"},
      {"\\\xC3\xA9", 0, "backslash must be followed"},
      {"\\ ", 0, "backslash must be followed"},
      {"(?<1a>x)", 3, "group name"},
      {"(?<a x)", 3, "group name"},
      {"(?<a>x)(?<a>y)", 10, "duplicate group name 'a'"},
      {deep.c_str(), 200, "nested deeper than 200"},
  };
  for (const ErrorCase& c : cases) {
    Grammar g;
    try {
      regex_search(g, c.pattern);
      ADD_FAILURE() << "accepted: " << c.pattern;
    } catch (const RegexError& e) {
      EXPECT_EQ(e.offset(), c.offset) << c.pattern << ": " << e.what();
      const std::string what = e.what();
      std::string where = "regex: byte ";
      where += std::to_string(c.offset);
      where += ": ";
      EXPECT_TRUE(what.starts_with(where)) << what;
      EXPECT_NE(what.find(c.says), std::string::npos) << c.pattern << ": " << what;
    }
    // The other entry points refuse the same patterns.
    EXPECT_THROW(regex_full_match(g, c.pattern), RegexError) << c.pattern;
    EXPECT_THROW(parse_regex(g, c.pattern), RegexError) << c.pattern;
  }
}

TEST(Regex, RegexErrorIsAGrammarError) {
  Grammar g;
  EXPECT_THROW(regex_search(g, "("), GrammarError);
}

TEST(Regex, DeepButAllowedNestingParses) {
  std::string pattern(200, '(');
  pattern += 'a';
  pattern += std::string(200, ')');
  Languages deep(pattern);
  EXPECT_TRUE(deep.matches("a"));
}

}  // namespace
}  // namespace ragent::grammar
