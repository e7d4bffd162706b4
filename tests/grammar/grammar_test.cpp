// The grammar IR: normalizing constructors, rules, validation and the GBNF printout.
#include "engine/grammar/grammar.hpp"

#include <gtest/gtest.h>

#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

TEST(GrammarIr, ConstructorsNormalize) {
  Grammar g;
  const ExprId a = g.literal("a");
  const ExprId b = g.literal("b");
  EXPECT_EQ(g.sequence({}), g.empty());
  EXPECT_EQ(g.sequence({a}), a);
  EXPECT_EQ(g.sequence({a, g.nothing()}), g.nothing());
  // Adjacent literals join; empties drop out; nested sequences flatten.
  const ExprId ab = g.sequence({a, g.empty(), g.sequence({b, g.literal("c")})});
  EXPECT_EQ(g.expr(ab).kind, ExprKind::kLiteral);
  EXPECT_EQ(g.expr(ab).text, "abc");
  EXPECT_EQ(g.choice({}), g.nothing());
  EXPECT_EQ(g.choice({a, g.nothing(), a}), a);
  // Classes in a choice merge into one class.
  const ExprId c = g.choice({g.chars({{'a', 'c'}}), b, g.chars({{'d', 'f'}, {'x', 'x'}})});
  ASSERT_EQ(g.expr(c).kind, ExprKind::kChoice);
  EXPECT_EQ(g.to_gbnf(c), "[a-fx] | \"b\"");
  EXPECT_EQ(g.repeat(a, 1, 1), a);
  EXPECT_EQ(g.repeat(a, 0, 0), g.empty());
  EXPECT_EQ(g.repeat(g.nothing(), 0, 3), g.empty());
  EXPECT_EQ(g.repeat(g.nothing(), 1, 3), g.nothing());
  EXPECT_THROW(g.repeat(a, 3, 2), GrammarError);
  EXPECT_THROW(g.repeat(a, -1, 2), GrammarError);
}

TEST(GrammarIr, ClassesAreSortedMergedAndSkipSurrogates) {
  Grammar g;
  const Expr& e = g.expr(g.chars({{'x', 'z'}, {'a', 'c'}, {'b', 'f'}, {'g', 'g'}}));
  ASSERT_EQ(e.ranges.size(), 2u);
  EXPECT_EQ(e.ranges[0], (CharRange{'a', 'g'}));
  EXPECT_EQ(e.ranges[1], (CharRange{'x', 'z'}));
  const Expr& s = g.expr(g.chars({{0xD000, 0xE000}}));
  ASSERT_EQ(s.ranges.size(), 2u);
  EXPECT_EQ(s.ranges[0], (CharRange{0xD000, 0xD7FF}));
  EXPECT_EQ(s.ranges[1], (CharRange{0xE000, 0xE000}));
  EXPECT_EQ(g.chars({{'b', 'a'}}), g.nothing());
  const Expr& neg = g.expr(g.chars({{0, '"' - 1}, {'"' + 1, kMaxCodePoint}}, true));
  ASSERT_EQ(neg.ranges.size(), 1u);
  EXPECT_EQ(neg.ranges[0], (CharRange{'"', '"'}));
  EXPECT_EQ(g.to_gbnf(g.any_char()), ".");
  EXPECT_EQ(g.to_gbnf(g.chars({{'"', '"'}}, true)), "[^\"]");
  EXPECT_EQ(g.to_gbnf(g.chars({{'-', '-'}, {']', ']'}, {'\n', '\n'}})), "[\\n\\-\\]]");
}

TEST(GrammarIr, LiteralsMustBeUtf8) {
  Grammar g;
  EXPECT_EQ(g.expr(g.literal("h\xC3\xA9")).text, "h\xC3\xA9");
  EXPECT_THROW(g.literal("\xC3"), GrammarError);          // truncated
  EXPECT_THROW(g.literal("\xC0\xAF"), GrammarError);      // overlong
  EXPECT_THROW(g.literal("\xED\xA0\x80"), GrammarError);  // surrogate
  EXPECT_THROW(g.literal("\xF4\x90\x80\x80"), GrammarError);  // above U+10FFFF
  EXPECT_EQ(g.literal(""), g.empty());
}

TEST(GrammarIr, RulesRecursionAndPrinting) {
  Grammar g;
  const RuleId value = g.declare_rule("value");
  const RuleId list = g.declare_rule("list");
  EXPECT_EQ(g.declare_rule("value"), 2);  // taken: gets a suffix
  EXPECT_EQ(g.rule_name(2), "value-2");
  EXPECT_EQ(g.rule_name(g.declare_rule("my rule/x")), "my-rule-x");
  g.define_rule(value, g.choice({g.plus(g.chars({{'0', '9'}})), g.ref(list)}));
  g.define_rule(list, g.sequence({g.literal("["), g.optional(g.sequence({g.ref(value), g.star(g.sequence({g.literal(","), g.ref(value)}))})),
                                  g.literal("]")}));
  g.set_root(list);
  EXPECT_THROW(g.validate(), GrammarError);  // value-2 and my-rule-x are undefined
  g.define_rule(2, g.literal("\"q\"\n"));
  g.define_rule(3, g.repeat(g.literal("ab"), 2, 5));
  g.validate();
  EXPECT_THROW(g.define_rule(value, g.empty()), GrammarError);
  EXPECT_EQ(g.to_gbnf(),
            "list ::= \"[\" (value (\",\" value)*)? \"]\"\n"
            "value ::= [0-9]+ | list\n"
            "value-2 ::= \"\\\"q\\\"\\n\"\n"
            "my-rule-x ::= \"ab\"{2,5}\n");
  EXPECT_EQ(g.find_rule("list"), list);
  EXPECT_EQ(g.find_rule("nope"), -1);
}

TEST(GrammarIr, ReferenceMatcherFollowsEachKind) {
  Grammar g;
  const RuleId value = g.declare_rule("value");
  const ExprId digits = g.plus(g.chars({{'0', '9'}}));
  const ExprId list = g.sequence({g.literal("["), g.optional(g.sequence({g.ref(value), g.star(g.sequence({g.literal(","), g.ref(value)}))})),
                                  g.literal("]")});
  g.define_rule(value, g.choice({digits, list}));
  g.set_root(value);
  testing::ReferenceMatcher m(g);
  for (const char* ok : {"0", "123", "[]", "[1]", "[1,[2,[]],3]"}) EXPECT_TRUE(m.matches_root(ok)) << ok;
  for (const char* bad : {"", "[", "[1,]", "[,1]", "1]", "a"}) EXPECT_FALSE(m.matches_root(bad)) << bad;
  const ExprId three = g.repeat(g.literal("\xC3\xA9"), 2, 3);  // é twice or three times
  EXPECT_FALSE(m.matches(three, "\xC3\xA9"));
  EXPECT_TRUE(m.matches(three, "\xC3\xA9\xC3\xA9"));
  EXPECT_TRUE(m.matches(three, "\xC3\xA9\xC3\xA9\xC3\xA9"));
  EXPECT_FALSE(m.matches(three, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"));
  EXPECT_TRUE(m.matches(g.star(g.optional(g.literal("a"))), "aaa"));  // empty-matching item, unbounded
  EXPECT_TRUE(m.matches(g.chars({{0x10000, 0x10FFFF}}), "\xF0\x9F\x98\x80"));
  EXPECT_FALSE(m.matches(g.any_char(), "\xFF"));
}

TEST(GrammarIr, ValidateRejectsLeftRecursion) {
  Grammar g;
  const RuleId list = g.declare_rule("list");
  const RuleId item = g.declare_rule("item");
  const RuleId ws = g.declare_rule("ws");
  g.define_rule(ws, g.star(g.literal(" ")));
  // list ::= ws item ("," list)?   item ::= "x" | "(" list ")"  : right recursion only
  g.define_rule(list, g.sequence({g.ref(ws), g.ref(item), g.optional(g.sequence({g.literal(","), g.ref(list)}))}));
  g.define_rule(item, g.choice({g.literal("x"), g.sequence({g.literal("("), g.ref(list), g.literal(")")})}));
  g.set_root(list);
  g.validate();
  EXPECT_TRUE(g.left_recursive_cycle().empty());

  // a ::= "x" | b "y"   b ::= e{0,3} a   e ::= "" | "e"  : a begins with b; b, since e can match
  // the empty string, with a.
  Grammar h;
  const RuleId a = h.declare_rule("a");
  const RuleId b = h.declare_rule("b");
  const RuleId e = h.declare_rule("e");
  h.define_rule(e, h.choice({h.empty(), h.literal("e")}));
  h.define_rule(a, h.choice({h.literal("x"), h.sequence({h.ref(b), h.literal("y")})}));
  h.define_rule(b, h.sequence({h.repeat(h.ref(e), 0, 3), h.ref(a)}));
  h.set_root(a);
  EXPECT_EQ(h.left_recursive_cycle(), (std::vector<RuleId>{a, b, a}));
  try {
    h.validate();
    ADD_FAILURE() << "left recursion accepted";
  } catch (const GrammarError& err) {
    EXPECT_STREQ(err.what(), "grammar: rule 'a' is left-recursive: a -> b -> a");
  }

  // A rule that begins with itself directly.
  Grammar d;
  const RuleId r = d.declare_rule("r");
  d.define_rule(r, d.choice({d.literal("x"), d.sequence({d.ref(r), d.literal("x")})}));
  EXPECT_EQ(d.left_recursive_cycle(), (std::vector<RuleId>{r, r}));
}

TEST(GrammarIr, NoRootIsAnError) {
  Grammar g;
  EXPECT_THROW(g.validate(), GrammarError);
}

}  // namespace
}  // namespace ragent::grammar
