// JSON Schema validation of tool arguments: a schema is compiled once into a SchemaValidator,
// which then checks any number of instances and says where each one fails.
//
// The keyword set is the grammar compiler's (engine/grammar/json_schema.cpp), with the standard
// meaning of each keyword (draft 2020-12, plus draft-7 `definitions`):
//   type (a name or a non-empty list; integer = a number with no fractional part, 1.0 included),
//   enum, const (numbers equal by value, 1 == 1.0; true is not 1), properties, required,
//   additionalProperties (absent = true), patternProperties, items (a schema or false),
//   prefixItems, minItems, maxItems, minLength, maxLength (code points), pattern, format,
//   minimum, maximum, exclusiveMinimum, exclusiveMaximum (compared exactly across int64, uint64
//   and double), anyOf, oneOf (exactly one), allOf, $ref, $defs, definitions.
// Keywords for a type apply only to values of that type. Annotations are ignored: title,
// description, $comment, examples, default, $schema, $id, deprecated, readOnly, writeOnly.
// $ref is "#" + an RFC 6901 pointer into this document (percent-decoded, resolved from the
// document root; $id does not change it); recursion works, but a cycle of $ref/allOf/anyOf/
// oneOf that reaches the same schema without descending into the instance is refused. Every
// schema in the document is checked, reachable or not ($defs nobody uses, branches for types
// the schema excludes): a bad keyword, a dangling $ref or a cycle anywhere is a SchemaError.
// pattern and patternProperties are ECMA-262 regexes run by PCRE2 as a search (schema_regex.hpp).
// Formats are asserted, exactly as listed in schema_format.hpp; an unknown format is refused.
// Numbers are compared as the boost::json::value holds them: Boost.JSON parses an integer past
// 64 bits as the nearest double, so the text -9223372036854775809 arrives as -2^63.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace ragent::tools {

namespace schema_detail {
struct CompiledSchema;
}

// A schema the validator refuses: a keyword outside the set above, a keyword whose value has
// the wrong shape, an unresolvable or non-local $ref, a pattern PCRE2 cannot compile, a $ref
// cycle, a document nested deeper than 512 levels. keyword() names the keyword ("" when the
// schema itself is wrong, e.g. a number where a schema belongs) and pointer() is the RFC 6901
// JSON pointer of that keyword in the schema document ("" is the document itself).
class SchemaError : public std::runtime_error {
 public:
  SchemaError(std::string keyword, std::string pointer, const std::string& message)
      : std::runtime_error(message), keyword_(std::move(keyword)), pointer_(std::move(pointer)) {}
  const std::string& keyword() const { return keyword_; }
  const std::string& pointer() const { return pointer_; }

 private:
  std::string keyword_;
  std::string pointer_;
};

// Why an instance is not valid. message repeats the pointers so that it can be shown alone,
// e.g. "/city: expected string, got number 3 (type at /properties/city/type)"; the instance
// itself is written "(root)". When a limit stops validation (nesting deeper than 1000 schema
// applications, or more than 10 million of them) keyword is empty and the message says which
// limit; a pattern PCRE2 gives up on fails as its `pattern` or `patternProperties` keyword.
struct ValidationError {
  std::string instance_pointer;  // RFC 6901, into the instance ("" = the instance)
  std::string keyword;           // e.g. "type", "required"; "false" for the schema false
  std::string schema_pointer;    // RFC 6901, the keyword's place in the schema document
  std::string message;
};

// Immutable once built; copies share the compiled form. validate() and validate_all() are
// const and safe to call from several threads at once.
class SchemaValidator {
 public:
  // Compiles schema (an object or a boolean); the validator keeps its own copy. Throws
  // SchemaError.
  explicit SchemaValidator(const boost::json::value& schema);

  // nullopt when instance is valid, else the first failure found (each schema's keywords in a
  // fixed order: type, enum, const, the instance type's keywords, $ref, allOf, anyOf, oneOf).
  std::optional<ValidationError> validate(const boost::json::value& instance) const;

  // Every failure, at most max_errors of them (>= 1); empty when instance is valid. Inside
  // anyOf/oneOf only the alternatives' closest failure is reported, in the anyOf's message.
  std::vector<ValidationError> validate_all(const boost::json::value& instance, size_t max_errors = 100) const;

 private:
  std::shared_ptr<const schema_detail::CompiledSchema> compiled_;
};

}  // namespace ragent::tools
