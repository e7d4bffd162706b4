// engine/grammar/gbnf.cpp: llama.cpp's grammars parse and mean what they say, the line
// structure, escapes and repetitions, every error with its line:column, and to_gbnf() output
// parsing back to the same text (a fixed point) for hand-written and random grammars.
#include "engine/grammar/gbnf.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

// llama.cpp grammars/arithmetic.gbnf and grammars/json.gbnf.
constexpr const char* kArithmetic = R"gbnf(root  ::= (expr "=" ws term "\n")+
expr  ::= term ([-+*/] term)*
term  ::= ident | num | "(" ws expr ")" ws
ident ::= [a-z] [a-z0-9_]* ws
num   ::= [0-9]+ ws
ws    ::= [ \t\n]*
)gbnf";

constexpr const char* kJson = R"gbnf(root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";

TEST(Gbnf, ParsesLlamaCppGrammars) {
  const Grammar arithmetic = parse_gbnf(kArithmetic);
  testing::ReferenceMatcher a(arithmetic);
  for (const char* yes : {"1+2=3\n", "(x) = y\n", "a*b=c\n1=1\n"}) EXPECT_TRUE(a.matches_root(yes)) << yes;
  for (const char* no : {"1+2=3", "=3\n", "1+=3\n", "A=1\n"}) EXPECT_FALSE(a.matches_root(no)) << no;

  const Grammar json = parse_gbnf(kJson);
  EXPECT_EQ(json.rule_name(json.root()), "root");
  testing::ReferenceMatcher j(json);
  for (const char* yes : {"{}", "{\"a\": [1, -2.5e3, \"x\\u00e9\\n\", true, null]}", "{ \"k\" : {\"n\":[]}}"}) {
    EXPECT_TRUE(j.matches_root(yes)) << yes;
  }
  for (const char* no : {"[]", "{\"a\" 1}", "{\"a\": [1,]}", "{\"a\": \"x}", "{\"a\": \"\\q\"}"}) {
    EXPECT_FALSE(j.matches_root(no)) << no;
  }
}

TEST(Gbnf, PrintsWhatItParsed) {
  const Grammar g = parse_gbnf("root ::= \"a\" [b-d]* | x   # comment\nx ::= (\"y\" | .){2,} \"\"\n");
  EXPECT_EQ(g.to_gbnf(), "root ::= \"a\" [b-d]* | x\nx ::= (\"y\" | .){2,}\n");
}

TEST(Gbnf, EscapesAreCodePoints) {
  const Grammar g = parse_gbnf(R"(root ::= "\x41\u00e9\U0001F600\n\r\t\\\"\[\]\-\^" [\x00-\x1F\]\-\^\\])");
  testing::ReferenceMatcher m(g);
  EXPECT_TRUE(m.matches_root("A\xC3\xA9\xF0\x9F\x98\x80\n\r\t\\\"[]-^\x1F"));
  EXPECT_TRUE(m.matches_root("A\xC3\xA9\xF0\x9F\x98\x80\n\r\t\\\"[]-^\\"));
  EXPECT_TRUE(m.matches_root("A\xC3\xA9\xF0\x9F\x98\x80\n\r\t\\\"[]-^^"));
  EXPECT_FALSE(m.matches_root("A\xC3\xA9\xF0\x9F\x98\x80\n\r\t\\\"[]-^a"));
  // \xHH is a code point, not a byte: \xE9 is é.
  const Grammar e_acute = parse_gbnf(R"(root ::= "\xE9")");
  EXPECT_TRUE(testing::ReferenceMatcher(e_acute).matches_root("\xC3\xA9"));
}

TEST(Gbnf, RulesEndAtLineBreaksOutsideParentheses) {
  auto language = [](const char* text, std::initializer_list<const char*> yes) {
    const Grammar g = parse_gbnf(text);
    testing::ReferenceMatcher m(g);
    for (const char* s : yes) EXPECT_TRUE(m.matches_root(s)) << text << " / " << s;
    return g.to_gbnf();
  };
  EXPECT_EQ(language("root ::= \"a\" |\n  \"b\"", {"a", "b"}), "root ::= \"a\" | \"b\"\n");
  EXPECT_EQ(language("root ::=\n  \"a\"", {"a"}), "root ::= \"a\"\n");
  EXPECT_EQ(language("root ::= (\"a\"\n  \"b\"\n)", {"ab"}), "root ::= \"ab\"\n");
  EXPECT_EQ(language("root ::= a\r\na ::= \"x\"\r\n", {"x"}), "root ::= a\na ::= \"x\"\n");
  EXPECT_EQ(language("# head\nroot ::= \"a\" # tail\n\n# end", {"a"}), "root ::= \"a\"\n");
  EXPECT_EQ(language("root ::= \"#\" [#]", {"##"}), "root ::= \"#\" [#]\n");
  EXPECT_EQ(language("root ::= \"x\" root | \"\"", {"", "xxx"}), "root ::= \"x\" root | \"\"\n");
}

TEST(Gbnf, Repetitions) {
  const Grammar g = parse_gbnf(
      "root ::= a | b | c | d | e\n"
      "a ::= \"a\"{2}\nb ::= \"b\"{2,}\nc ::= \"c\"{2,3}\nd ::= \"d\"{,2}\ne ::= \"e\" { 1 , 2 } \"!\"\n");
  EXPECT_EQ(g.to_gbnf(g.rule_body(g.find_rule("d"))), "\"d\"{0,2}");
  testing::ReferenceMatcher m(g);
  for (const char* yes : {"aa", "bb", "bbbb", "cc", "ccc", "", "d", "dd", "e!", "ee!"}) EXPECT_TRUE(m.matches_root(yes)) << yes;
  for (const char* no : {"a", "aaa", "b", "c", "cccc", "ddd", "!", "eee!"}) EXPECT_FALSE(m.matches_root(no)) << no;
}

TEST(Gbnf, RulesAreNumberedInDefinitionOrder) {
  const Grammar g = parse_gbnf("start ::= b a\na ::= \"a\"\nb ::= \"b\"\n", "start");
  EXPECT_EQ(g.rule_name(0), "start");
  EXPECT_EQ(g.rule_name(1), "a");
  EXPECT_EQ(g.rule_name(2), "b");
  EXPECT_EQ(g.root(), 0);
  const Grammar later = parse_gbnf("a ::= \"a\"\nroot ::= a a\n");
  EXPECT_EQ(later.root(), 1);
  EXPECT_EQ(later.to_gbnf(), "root ::= a a\na ::= \"a\"\n");
}

struct ErrorCase {
  const char* text;
  size_t line;
  size_t column;
  const char* says;
};

TEST(Gbnf, ErrorsSayLineAndColumn) {
  const ErrorCase cases[] = {
      {"", 1, 1, "empty grammar"},
      {"  # only a comment\n\n", 1, 1, "empty grammar"},
      {"root ::= valu\nvalue ::= \"x\"", 1, 10, "undefined rule 'valu'"},
      {"root ::= a b\na ::= \"x\" c\n", 1, 12, "undefined rule 'b'"},
      {"root ::= a\na ::= \"x\"\na ::= \"y\"", 3, 1, "rule 'a' is defined twice"},
      {"start ::= \"x\"", 1, 1, "no rule is named 'root'"},
      {"root ::= \"abc", 1, 10, "unterminated string literal"},
      {"root ::= \"abc\n\"", 1, 10, "unterminated string literal"},
      {"root ::= [abc", 1, 10, "unterminated character class"},
      {"root ::= [a-", 1, 10, "unterminated character class"},
      {"root ::=\n  (\"a\"\n", 2, 3, "unterminated group"},
      {"root ::= \"\\q\"", 1, 11, "bad escape \\q"},
      {"root ::= \"a\\", 1, 12, "bad escape"},
      {"root ::= \"\\x4\"", 1, 11, "2 hex digits expected"},
      {"root ::= [\\u12]", 1, 11, "4 hex digits expected"},
      {"root ::= \"\\U00110000\"", 1, 11, "above U+10FFFF"},
      {"root ::= \"\\uD800\"", 1, 11, "surrogate"},
      {"root ::= [z-a]", 1, 11, "character range out of order"},
      {"root ::= \"a\" )", 1, 14, "expected the end of the line after rule 'root', found ')'"},
      {"root ::= (\"a\" ]", 1, 15, "expected ) or |, found ']'"},
      {"root ::= a b ::= \"x\"", 1, 14, "found ':'"},
      {"root ::= *", 1, 10, "'*' has nothing to repeat"},
      {"root ::= \"a\" | {2}", 1, 16, "'{' has nothing to repeat"},
      {"root ::= \"a\"{3,2}", 1, 13, "repetition bounds out of order"},
      {"root ::= \"a\"{}", 1, 13, "expected {m}, {m,}, {m,n} or {,n}"},
      {"root ::= \"a\"{x}", 1, 13, "expected {m}, {m,}, {m,n} or {,n}"},
      {"root ::= \"a\"{,}", 1, 13, "{,} needs at least one bound"},
      {"root ::= \"a\"{2", 1, 13, "unterminated repetition"},
      {"root ::= \"a\"{99999999999}", 1, 14, "repetition count too large"},
      {"root = \"a\"", 1, 6, "expected ::= after the rule name 'root'"},
      {"root ::= \"a\"\n\"b\"", 2, 1, "expected a rule name, found '\"'"},
      {"root ::= \"a\"\n_x ::= \"b\"", 2, 1, "expected a rule name, found '_'"},
      {"root ::= \"\xFF\"", 1, 11, "invalid UTF-8"},
      {"root ::= [\xC3]", 1, 11, "invalid UTF-8"},
      {"root ::= a\na ::= a \"x\"", 2, 1, "rule 'a' is left-recursive: a -> a"},
      {"root ::= e root \"x\" | \"y\"\ne ::= \"\" | \"z\"", 1, 1, "rule 'root' is left-recursive: root -> root"},
      {"root ::= x\nx ::= y? z \"!\"\ny ::= \"y\"\nz ::= w\nw ::= \"w\" | x \"w\"", 2, 1,
       "rule 'x' is left-recursive: x -> z -> w -> x"},
  };
  for (const ErrorCase& c : cases) {
    try {
      parse_gbnf(c.text);
      ADD_FAILURE() << "accepted: " << c.text;
    } catch (const GbnfError& e) {
      std::string where = "gbnf:";
      where += std::to_string(c.line);
      where += ':';
      where += std::to_string(c.column);
      where += ": ";
      const std::string what = e.what();
      EXPECT_EQ(e.line(), c.line) << c.text << "\n" << what;
      EXPECT_EQ(e.column(), c.column) << c.text << "\n" << what;
      EXPECT_TRUE(what.starts_with(where)) << what;
      EXPECT_NE(what.find(c.says), std::string::npos) << c.text << "\n" << what;
    }
  }
}

TEST(Gbnf, DeepNestingIsRefusedNotACrash) {
  auto nested = [](size_t depth) {
    std::string text = "root ::= ";
    text.append(depth, '(');
    text += "\"a\"";
    text.append(depth, ')');
    return text;
  };
  EXPECT_THROW(parse_gbnf(nested(201)), GbnfError);
  EXPECT_EQ(parse_gbnf(nested(200)).to_gbnf(), "root ::= \"a\"\n");
}

// parse_gbnf(g.to_gbnf()) prints the same text, and both grammars match the same strings.
void expect_fixed_point(const Grammar& g, const std::vector<std::string>& samples) {
  const std::string text = g.to_gbnf();
  Grammar back;
  try {
    back = parse_gbnf(text, g.rule_name(g.root()));
  } catch (const GrammarError& e) {
    FAIL() << e.what() << "\n" << text;
  }
  ASSERT_EQ(back.to_gbnf(), text);
  testing::ReferenceMatcher before(g);
  testing::ReferenceMatcher after(back);
  for (const std::string& s : samples) ASSERT_EQ(before.matches_root(s), after.matches_root(s)) << text << "\n" << s;
}

TEST(Gbnf, PrintingIsAFixedPointOfHandWrittenGrammars) {
  const char* texts[] = {
      kArithmetic,
      kJson,
      "root ::= [^\\x00-\\U0010FFFF]\n",
      "root ::= \"\" | [^\"] | . | [\\n\\-\\]\\[\\^\\\\] \"\\\"\\\\#|()[]\"\n",
      "root ::= ((\"a\"* \"b\")+ | [a-c]?){0,3} (x (\"y\" x)*)?\nx ::= [^a-z0-9\\x00-\\x1F\\x7F]{2,5}\n",
      "root ::= \"\\x00\\x7F\\x85\\xA0\\u2028\\uFEFF\\uE000\\U000F0000\\U0010FFFF\"\n",
      "root ::= [\\U00010000-\\U0010FFFF] [^\\uD7FF] [\\uD000-\\uE000]\n",
  };
  for (const char* text : texts) {
    const Grammar g = parse_gbnf(text);
    expect_fixed_point(g, {"", "a", "ab", "\"", "{}", "1=1\n"});
  }
}

// Random grammars built through the IR's constructors, over characters the printer must escape.
class RandomGrammar {
 public:
  explicit RandomGrammar(uint32_t seed) : rng_(seed) {}

  Grammar make() {
    Grammar g;
    const int rules = pick(1, 4);
    g.declare_rule("root");
    for (int r = 1; r < rules; ++r) {
      std::string name = "r";
      name += std::to_string(r);
      g.declare_rule(name);
    }
    for (int r = 0; r < rules; ++r) g.define_rule(r, expr(g, 3));
    g.set_root(0);
    return g;
  }

  std::string sample() {
    std::string s;
    for (int n = pick(0, 4); n > 0; --n) append_utf8(s, kChars[static_cast<size_t>(pick(0, kCount - 1))]);
    return s;
  }

 private:
  static constexpr uint32_t kChars[] = {'a', 'b', '"', '\\', '\n', '\r', '\t', '[', ']', '-', '^', '#', '|', '(', ')', ' ',
                                        0, 0x7F, 0x85, 0xA0, 0xE9, 0x2028, 0xFEFF, 0xD7FF, 0xE000, 0xF0000, 0x1F600, 0x10FFFF};
  static constexpr int kCount = static_cast<int>(std::size(kChars));

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  uint32_t any_char() { return kChars[static_cast<size_t>(pick(0, kCount - 1))]; }

  ExprId expr(Grammar& g, int depth) {
    switch (pick(0, depth > 0 ? 7 : 2)) {
      case 0: {
        std::string text;
        for (int n = pick(1, 3); n > 0; --n) append_utf8(text, any_char());
        return g.literal(text);
      }
      case 1: {
        std::vector<CharRange> ranges;
        for (int n = pick(0, 3); n > 0; --n) {
          const uint32_t a = any_char();
          const uint32_t b = pick(0, 1) ? a : any_char();
          ranges.push_back({std::min(a, b), std::max(a, b)});
        }
        return g.chars(std::move(ranges), pick(0, 1) == 1);
      }
      case 2: return pick(0, 3) == 0 ? g.empty() : g.ref(pick(0, static_cast<int>(g.rule_count()) - 1));
      case 3:
      case 4: {
        std::vector<ExprId> items;
        for (int n = pick(2, 3); n > 0; --n) items.push_back(expr(g, depth - 1));
        return g.sequence(std::move(items));
      }
      case 5: {
        std::vector<ExprId> items;
        for (int n = pick(2, 3); n > 0; --n) items.push_back(expr(g, depth - 1));
        return g.choice(std::move(items));
      }
      default: {
        const int min = pick(0, 2);
        const int max = pick(0, 2) == 0 ? Grammar::kUnbounded : min + pick(0, 2);
        return g.repeat(expr(g, depth - 1), min, max);
      }
    }
  }

  std::mt19937 rng_;
};

TEST(Gbnf, PrintingIsAFixedPointOfRandomGrammars) {
  RandomGrammar random(20261125);
  int checked = 0;
  for (int i = 0; i < 400; ++i) {
    Grammar g = random.make();
    if (!g.left_recursive_cycle().empty()) continue;  // parse_gbnf rightly refuses these
    std::vector<std::string> samples;
    for (int k = 0; k < 20; ++k) samples.push_back(random.sample());
    expect_fixed_point(g, samples);
    if (::testing::Test::HasFatalFailure()) return;
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

}  // namespace
}  // namespace ragent::grammar
