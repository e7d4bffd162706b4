// JSON Schema regexes (pattern, patternProperties): ECMA-262 syntax as JSON Schema prescribes,
// run by PCRE2 in UTF mode as a search anywhere in the string, as RegExp.prototype.test does.
//
// PCRE2 reads the ECMA-262 escapes \uHHHH, \u{H...} and \xHH itself (ALT_BSUX), [] and [^]
// as ECMA-262 does (ALLOW_EMPTY_CLASS), $ as the end of the input only (DOLLAR_ENDONLY), and a
// backreference to a group that did not take part as empty (MATCH_UNSET_BACKREF). What it reads
// differently is rewritten before compiling: . (any code point but \n \r U+2028 U+2029), \s and
// \S (ECMA-262 WhiteSpace and LineTerminator: U+FEFF in, U+0085 out), \v (U+000B alone), and a
// [ inside a class (a literal, never a POSIX [:name:]). \d \w \b are ASCII in both. Syntax that
// only PCRE2 has (possessive quantifiers, \A, inline flags ...) keeps its PCRE2 meaning.
// A match gives up past PCRE2 match, depth and heap limits (search() says so rather than
// guessing).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ragent::tools {

// Per-thread scratch space for matching (PCRE2 match data); one per validation.
class RegexScratch {
 public:
  RegexScratch();
  ~RegexScratch();
  RegexScratch(const RegexScratch&) = delete;
  RegexScratch& operator=(const RegexScratch&) = delete;
  void* match_data();  // the pcre2_match_data_8*, created on first use

 private:
  void* data_ = nullptr;
};

class SchemaRegex {
 public:
  // Compiles an ECMA-262 pattern (UTF-8). On failure returns nullptr and sets error to PCRE2's
  // message and the byte offset in the pattern.
  static std::unique_ptr<SchemaRegex> compile(std::string_view pattern, std::string& error);
  ~SchemaRegex();
  SchemaRegex(const SchemaRegex&) = delete;
  SchemaRegex& operator=(const SchemaRegex&) = delete;

  // Whether the pattern matches somewhere in s; nullopt when PCRE2 gave up (a limit) or s is not
  // valid UTF-8. Thread-safe given one scratch per thread.
  std::optional<bool> search(std::string_view s, RegexScratch& scratch) const;

  const std::string& pattern() const { return pattern_; }

 private:
  SchemaRegex() = default;
  std::string pattern_;
  void* code_ = nullptr;           // pcre2_code_8*
  void* match_context_ = nullptr;  // pcre2_match_context_8*, holding the limits
};

// The PCRE2 pattern for an ECMA-262 one (see the file comment). Exposed for the tests.
std::string ecma_to_pcre2(std::string_view pattern);

}  // namespace ragent::tools
