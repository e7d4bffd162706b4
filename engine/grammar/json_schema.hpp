// JSON Schema into the grammar IR: the grammar of the JSON texts a schema accepts, so that a
// tool call decoded under it always parses and validates.
//
// What the grammar accepts: exactly the JSON texts that are valid JSON, satisfy the schema, and
// are in this canonical form (boost::json::serialize output is in it, except bounded numbers):
//   * Layout: no whitespace before or after the value; between tokens (after '{' '[' ':' ','
//     and before ':' ',' '}' ']') at most max_whitespace characters of space, \t, \n, \r.
//   * Objects: declared `properties` in schema order (optional ones may be left out), then any
//     additional / patternProperties keys. Duplicate additional keys are not prevented.
//   * Strings: raw code points except where JSON requires an escape: `\"`, `\\`, control
//     characters as \b \f \n \r \t or \u00XX (hex in either case); `/` may also be `\/`. No
//     other \u escapes. Lengths count decoded code points, so an escape is one.
//   * Numbers: integers as -?[1-9][0-9]* or 0 (no "-0", fraction or exponent), within 64 bits
//     unless numbers_fit_64_bits is off. Unbounded "number": any JSON number (limited as
//     numbers_fit_64_bits says). Bounded "number": plain decimals -?(0|[1-9]\d*)(\.\d+)?, no
//     exponent, no negative zero, compared exactly as decimal digit strings (a double bound is
//     taken as its shortest round-trip decimal, e.g. 0.1). enum/const numbers: the plain decimal
//     and boost's form (1.5 and 1.5E0).
// Keywords and their limits are listed in json_schema.cpp. Anything else is a SchemaError:
// a keyword is never silently ignored. oneOf compiles as anyOf (a context-free grammar cannot
// enforce exclusivity); allOf is merged into one schema (json_schema_merge.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <boost/json/value.hpp>

#include "engine/grammar/grammar.hpp"

namespace ragent::grammar {

struct JsonSchemaOptions {
  // 0: compact JSON; n: at most n whitespace characters wherever JSON allows them.
  int max_whitespace = 0;
  // additionalProperties absent means false (tool arguments must not grow keys), so
  // {"type":"object"} is only {}. false: JSON Schema's default (absent = true). A schema of {}
  // or true is any JSON value either way.
  bool strict_objects = true;
  // Numbers a 64-bit parser reads back (simdjson, Boost.JSON, any int64/uint64/double): an
  // "integer", and a bounded "number", is kept within [-2^63, 2^64-1] (bounds of the schema's
  // own still apply), and an unbounded "number" is such an integer or has at most 18 integer
  // digits and a one- or two-digit exponent: a finite double, never an integer past 64 bits. false:
  // any length, as JSON allows.
  bool numbers_fit_64_bits = true;
};

// A schema the compiler refuses: an unsupported keyword, a keyword with a value of the wrong
// type, an unsatisfiable or unmergeable combination, an unresolvable $ref. pointer() is the
// RFC 6901 JSON pointer of the keyword in the schema document ("" is the document itself).
class SchemaError : public GrammarError {
 public:
  SchemaError(std::string keyword, std::string pointer, const std::string& message)
      : GrammarError(message), keyword_(std::move(keyword)), pointer_(std::move(pointer)) {}
  const std::string& keyword() const { return keyword_; }
  const std::string& pointer() const { return pointer_; }

 private:
  std::string keyword_;
  std::string pointer_;
};

// Adds the rules for schema to g and returns the rule of its values (named `name`, or `name`
// with a suffix when taken); helper rules are named `name-...`. Throws SchemaError (or
// RegexError for a bad pattern). On a throw g may hold unused rules; discard it.
RuleId add_json_schema(Grammar& g, const boost::json::value& schema, const JsonSchemaOptions& options = {},
                       std::string_view name = "value");

// A grammar whose root is the value rule of schema.
Grammar compile_json_schema(const boost::json::value& schema, const JsonSchemaOptions& options = {});

}  // namespace ragent::grammar
