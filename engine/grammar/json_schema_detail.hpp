// Internals of the JSON Schema compiler shared by its source files (json_schema*.cpp): JSON
// pointers and errors, the keyword check, exact decimal ranges, JSON string encodings and
// formats, and allOf merging. Not an interface for other code.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "engine/grammar/grammar.hpp"
#include "engine/grammar/json_schema.hpp"

namespace ragent::grammar::schema_detail {

namespace json = boost::json;

// ---- pointers and errors (json_schema_check.cpp) ----

// ptr + "/" + segment with ~ and / escaped (RFC 6901).
std::string pointer_append(std::string_view ptr, std::string_view segment);
// Throws SchemaError: "schema: <what> at <pointer>" where pointer is ptr/keyword.
[[noreturn]] void fail(std::string_view keyword, std::string_view schema_ptr, std::string_view what);

bool is_annotation(std::string_view keyword);
// A keyword that constrains the value (not an annotation, not a $defs container).
bool is_constraint(std::string_view keyword);

// Walks the whole schema document once, before compiling: every keyword must be supported and
// have a value of the right type, bounds must be satisfiable. Throws SchemaError with the exact
// pointer; the compiler can then trust the shapes it reads.
void check_schema(const json::value& schema, const std::string& ptr);

// A keyword value checked to be a non-negative integer (2 or 2.0), clamped to int32: a bound
// past INT32_MAX cannot be reached by any text a model produces, so a maximum there is treated
// as no maximum (returned as Grammar::kUnbounded when unbounded_if_huge).
int32_t count_value(const json::value& v, bool unbounded_if_huge);

// The value of a "#..." $ref inside root, or nullptr. Decodes %XX, then ~1 and ~0.
const json::value* resolve_pointer(const json::value& root, std::string_view ref, std::string* pointer_out);

// ---- exact decimals (json_schema_number.cpp) ----

// A decimal number: digits without leading zeros ("0" for zero), fraction without trailing
// zeros; zero is never negative.
struct Decimal {
  bool negative = false;
  std::string int_digits = "0";
  std::string frac_digits;
};
Decimal to_decimal(const json::value& number);  // number must be int64, uint64 or double
int compare(const Decimal& a, const Decimal& b);
std::string to_string(const Decimal& d);

struct Bound {
  Decimal value;
  bool exclusive = false;
};
struct NumberBounds {
  std::optional<Bound> lower;
  std::optional<Bound> upper;
};
// The tightest bounds of minimum / exclusiveMinimum / maximum / exclusiveMaximum in schema.
NumberBounds number_bounds(const json::object& schema);
// Whether some number (integers_only: some integer) satisfies the bounds.
bool bounds_satisfiable(const NumberBounds& b, bool integers_only);
bool in_bounds(const NumberBounds& b, const Decimal& d);

// Canonical integers (0 | -?[1-9][0-9]*) within b. b must be satisfiable by an integer.
ExprId integer_expr(Grammar& g, const NumberBounds& b);
// Plain decimals -?(0|[1-9][0-9]*)(\.[0-9]+)? within b, no negative zero. b satisfiable.
ExprId decimal_expr(Grammar& g, const NumberBounds& b);
// JSON numbers of at most max_int_digits integer digits and max_exp_digits exponent digits
// (Grammar::kUnbounded: any JSON number). 18 and 2 give finite doubles that no parser reads as
// an integer past 64 bits.
ExprId json_number_expr(Grammar& g, int32_t max_int_digits = Grammar::kUnbounded,
                        int32_t max_exp_digits = Grammar::kUnbounded);

// ---- strings (json_schema_string.cpp) ----

// Maps expressions over decoded code points to expressions over their JSON string encodings
// (the canonical forms of json_schema.hpp), memoized.
class StringEncoder {
 public:
  explicit StringEncoder(Grammar& g) : g_(g) {}
  ExprId encode(ExprId decoded);
  // One JSON string character: any code point, in any accepted encoding.
  ExprId any_char();
  // The encodings of one fixed string (UTF-8).
  ExprId encode_text(std::string_view utf8);
  // The encodings of one code point in ranges.
  ExprId encode_chars(const std::vector<CharRange>& ranges);

 private:
  Grammar& g_;
  std::map<ExprId, ExprId> memo_;
  std::map<RuleId, RuleId> rules_;
  ExprId any_char_ = -1;
};

bool is_known_format(std::string_view format);
// The strings of a format over code points (see the list in json_schema_string.cpp).
ExprId format_expr(Grammar& g, std::string_view format);
// Code-point strings that are none of names (a trie complement, exact).
ExprId any_string_except(Grammar& g, const std::vector<std::string>& names);
// Whether the decoded text matches expression e (a small position-set matcher, for deciding
// whether a declared property name falls under a patternProperties pattern).
bool expr_matches(const Grammar& g, ExprId e, std::string_view utf8);
// The code-point strings in every one of `languages` (regular: no rules) whose length is within
// [min_length, max_length] (max_length kUnbounded: no maximum), as right-linear rules named
// rule_name-N whose classes are written by make_class (so that the rules can spell JSON
// encodings directly). This is how pattern, format and the length keywords combine. Throws
// GrammarError when the product automaton would pass its size cap (json_schema_intersect.cpp).
ExprId intersect_strings(Grammar& g, const std::vector<ExprId>& languages, int32_t min_length, int32_t max_length,
                         std::string_view rule_name, const std::function<ExprId(const std::vector<CharRange>&)>& make_class);
// Number of code points in valid UTF-8.
size_t code_point_count(std::string_view utf8);

// ---- allOf / anyOf merging (json_schema_merge.cpp) ----

// A schema object with allOf, or $ref / anyOf / oneOf beside other constraints, as a list of
// alternatives (anyOf) of plain schema objects with none of those keywords at the top. A
// conflict that leaves no alternative, or one that cannot be merged, is a SchemaError at ptr.
std::vector<json::object> merge_schema(const json::value& root, const json::object& schema, const std::string& ptr);

}  // namespace ragent::grammar::schema_detail
