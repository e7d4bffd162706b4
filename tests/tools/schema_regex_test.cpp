// tools/schema_regex.cpp: ECMA-262 meaning where PCRE2 reads a pattern differently, the search
// semantics, and the limits that make a hostile pattern give up instead of running on.
#include "tools/schema_regex.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace ragent::tools {
namespace {

std::unique_ptr<SchemaRegex> compiled(std::string_view pattern) {
  std::string error;
  std::unique_ptr<SchemaRegex> r = SchemaRegex::compile(pattern, error);
  EXPECT_TRUE(r) << pattern << ": " << error;
  return r;
}

std::optional<bool> search(std::string_view pattern, std::string_view s) {
  RegexScratch scratch;
  const std::unique_ptr<SchemaRegex> r = compiled(pattern);
  return r ? r->search(s, scratch) : std::nullopt;
}

TEST(SchemaRegex, RewritesOnlyWhatPcre2ReadsDifferently) {
  EXPECT_EQ(ecma_to_pcre2("^a[b-d]+\\d\\w(x|y)?$"), "^a[b-d]+\\d\\w(x|y)?$");
  EXPECT_EQ(ecma_to_pcre2("a.b"), "a[^\\n\\r\\u2028\\u2029]b");
  EXPECT_EQ(ecma_to_pcre2("[.]"), "[.]");
  EXPECT_EQ(ecma_to_pcre2("[[]"), "[\\[]");
  EXPECT_EQ(ecma_to_pcre2("\\v"), "\\x0b");
  EXPECT_EQ(ecma_to_pcre2("[]a]"), "[]a]");
  EXPECT_EQ(ecma_to_pcre2("\\s"), "[\\u{9}-\\u{d}\\u{20}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}-\\u{2029}\\u{202f}\\u{205f}\\u{3000}\\u{feff}]");
}

TEST(SchemaRegex, SearchesAnywhereUnlessAnchored) {
  EXPECT_EQ(search("b", "abc"), true);
  EXPECT_EQ(search("^b", "abc"), false);
  EXPECT_EQ(search("c$", "abc"), true);
  EXPECT_EQ(search("c$", "abc\n"), false);  // $ is the end of the input only
  EXPECT_EQ(search("", ""), true);
  EXPECT_EQ(search("a|^z", "za"), true);
}

TEST(SchemaRegex, CharacterSetsAreEcmaScripts) {
  EXPECT_EQ(search("^.$", "\n"), false);
  EXPECT_EQ(search("^.$", "\r"), false);
  EXPECT_EQ(search("^.$", "\xe2\x80\xa9"), false);         // U+2029
  EXPECT_EQ(search("^.$", "\xc2\x85"), true);              // U+0085 is not a line terminator
  EXPECT_EQ(search("^.$", "\xf0\x9f\x98\x80"), true);      // one code point
  EXPECT_EQ(search("^\\s$", "\xef\xbb\xbf"), true);        // U+FEFF
  EXPECT_EQ(search("^\\s$", "\xe3\x80\x80"), true);        // U+3000
  EXPECT_EQ(search("^\\s$", "\xc2\x85"), false);
  EXPECT_EQ(search("^\\S$", "\xc2\x85"), true);
  EXPECT_EQ(search("^[\\S]$", "\xc2\x85"), true);
  EXPECT_EQ(search("^[\\S]$", " "), false);
  EXPECT_EQ(search("^[^\\s]$", "\xc2\xa0"), false);
  EXPECT_EQ(search("^[\\s\\S]$", "\xf4\x8f\xbf\xbf"), true);  // U+10FFFF
  EXPECT_EQ(search("^\\v$", "\x0b"), true);
  EXPECT_EQ(search("^\\v$", "\n"), false);
  EXPECT_EQ(search("^\\d$", "\xd9\xa3"), false);           // ASCII digits only
  EXPECT_EQ(search("^\\w$", "\xc3\xa9"), false);
  EXPECT_EQ(search("^[[:alpha:]]$", "a"), false);          // a class of [ : a l p h, then ]
  EXPECT_EQ(search("^[[:alpha:]]$", "a]"), true);
}

TEST(SchemaRegex, EcmaEscapesEmptyClassesAndBackreferences) {
  EXPECT_EQ(search("^\\u00e9\\x41\\u{1F600}$", "\xc3\xa9" "A\xf0\x9f\x98\x80"), true);
  EXPECT_EQ(search("[]", "anything"), false);
  EXPECT_EQ(search("^[^]$", "\n"), true);
  EXPECT_EQ(search("^(a)?\\1b$", "b"), true);  // an unset group matches empty, as in ECMA-262
  EXPECT_EQ(search("^(?=a)\\w+(?<!c)$", "ab"), true);
  EXPECT_EQ(search("^(?<x>a)\\k<x>$", "aa"), true);
}

TEST(SchemaRegex, RefusesMalformedPatternsWithPcre2sMessage) {
  std::string error;
  EXPECT_FALSE(SchemaRegex::compile("(a", error));
  EXPECT_NE(error.find("at byte 2"), std::string::npos) << error;
  EXPECT_FALSE(SchemaRegex::compile("a{2,1}", error));
  EXPECT_FALSE(SchemaRegex::compile("\xff", error));
  EXPECT_FALSE(SchemaRegex::compile("\\", error));
  EXPECT_FALSE(SchemaRegex::compile("\\C", error));
}

TEST(SchemaRegex, GivesUpOnCatastrophicBacktrackingAndBadUtf8) {
  EXPECT_EQ(search("^(a|a)*(a|a)*(a|a)*$", std::string(40, 'a') + "b"), std::nullopt);
  EXPECT_EQ(search("a", "\xff"), std::nullopt);
  RegexScratch scratch;
  const std::unique_ptr<SchemaRegex> r = compiled("x");
  EXPECT_EQ(r->search(std::string_view(), scratch), false);
  EXPECT_EQ(r->pattern(), "x");
}

}  // namespace
}  // namespace ragent::tools
