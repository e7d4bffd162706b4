// tools/schema.cpp and tools/schema_validate.cpp: each keyword's meaning, the pointers and
// messages of failures, the refusals with their pointers, $ref recursion and cycles, the limits,
// and the grammar's ledger (tests/grammar/json_schema_cases.json), whose expectations
// json_schema_reference.py checked against python-jsonschema.
#include "tools/schema.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace ragent::tools {
namespace {

namespace json = boost::json;

SchemaValidator make(std::string_view schema) { return SchemaValidator(json::parse(schema)); }

bool accepts(const SchemaValidator& v, std::string_view instance) { return !v.validate(json::parse(instance)); }

ValidationError failure(std::string_view schema, std::string_view instance) {
  const std::optional<ValidationError> e = make(schema).validate(json::parse(instance));
  if (!e) {
    ADD_FAILURE() << instance << " was accepted by " << schema;
    return {};
  }
  return *e;
}

SchemaError refusal(std::string_view schema) {
  try {
    make(schema);
  } catch (const SchemaError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << schema;
  return SchemaError("", "", "");
}

// Each instance in `good` is accepted and each in `bad` refused.
void expect(std::string_view schema, std::vector<std::string_view> good, std::vector<std::string_view> bad) {
  const SchemaValidator v = make(schema);
  for (std::string_view g : good) EXPECT_TRUE(accepts(v, g)) << g << " against " << schema;
  for (std::string_view b : bad) EXPECT_FALSE(accepts(v, b)) << b << " against " << schema;
}

// ---- keywords ----

TEST(SchemaValidator, TypeNamesAndLists) {
  expect(R"({"type":"string"})", {R"("")", R"("x")"}, {"1", "null", "[]", "{}", "true"});
  expect(R"({"type":"integer"})", {"0", "-5", "1.0", "1e2", "18446744073709551615", "1e300"}, {"1.5", "\"1\"", "true"});
  expect(R"({"type":"number"})", {"0", "1.5", "-1e-9"}, {"\"1\"", "null", "false"});
  expect(R"({"type":["null","boolean"]})", {"null", "true", "false"}, {"0", "\"\"", "[]"});
  expect(R"({"type":["object","array"]})", {"{}", "[]"}, {"0", "\"\""});
}

TEST(SchemaValidator, TypeOfNonFiniteDoubleIsNumberNotInteger) {
  const SchemaValidator integer = make(R"({"type":"integer"})");
  EXPECT_TRUE(integer.validate(json::value(std::numeric_limits<double>::infinity())));
  EXPECT_TRUE(make(R"({"type":"number"})").validate(json::value(std::nan(""))) == std::nullopt);
}

TEST(SchemaValidator, EnumAndConstCompareNumbersByValue) {
  expect(R"({"enum":[1,"a",null,{"k":[1,2]}]})", {"1", "1.0", "1e0", R"("a")", "null", R"({"k":[1,2.0]})"},
         {"true", "2", R"("A")", R"({"k":[2,1]})", R"({"k":[1,2],"j":0})", "[1]"});
  expect(R"({"const":{"a":1,"b":[true]}})", {R"({"b":[true],"a":1.0})"}, {R"({"a":1})", R"({"a":1,"b":[1]})"});
  expect(R"({"const":false})", {"false"}, {"0", "null"});
  expect(R"({"const":0})", {"0", "-0", "0.0", "-0.0"}, {"false", "1e-300"});
  expect(R"({"enum":[]})", {}, {"null", "0"});
  expect(R"({"const":18446744073709551615})", {"18446744073709551615"}, {"18446744073709551614", "1.8446744073709552e19"});
}

TEST(SchemaValidator, PropertiesRequiredAndAdditional) {
  const std::string_view schema =
      R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})";
  expect(schema, {R"({"a":1})", R"({"a":1,"b":"x"})", R"({"a":1,"z":[]})"}, {"{}", R"({"a":"1"})", R"({"a":1,"b":2})"});
  expect(R"({"properties":{"a":true},"additionalProperties":false})", {"{}", R"({"a":[]})", "3"}, {R"({"b":1})"});
  expect(R"({"additionalProperties":{"type":"null"}})", {"{}", R"({"x":null})"}, {R"({"x":0})"});
  expect(R"({"properties":{"a":false}})", {"{}", R"({"b":1})"}, {R"({"a":null})"});
  expect(R"({"required":["x","y"]})", {R"({"x":0,"y":0})", "[]", "\"s\""}, {R"({"x":0})", "{}"});
}

TEST(SchemaValidator, PatternPropertiesAndAdditionalTogether) {
  const std::string_view schema =
      R"({"properties":{"id":{"type":"integer"}},"patternProperties":{"^x-":{"type":"string"},"[0-9]$":{"maxLength":1}},"additionalProperties":false})";
  expect(schema, {"{}", R"({"id":1,"x-a":"s"})", R"({"x-1":"s"})", R"({"a1":"s"})", R"({"a1":5})"},
         {R"({"y":1})", R"({"x-a":1})", R"({"x-1":"ss"})", R"({"id":"1"})"});
  // a declared name that also matches a pattern meets both schemas
  expect(R"({"properties":{"x-id":{"type":"string"}},"patternProperties":{"^x-":{"maxLength":2}}})", {R"({"x-id":"ab"})"},
         {R"({"x-id":"abc"})", R"({"x-id":1})"});
}

TEST(SchemaValidator, ItemsPrefixItemsAndCounts) {
  expect(R"({"items":{"type":"integer"},"minItems":1,"maxItems":2})", {"[1]", "[1,2]", "{}"}, {"[]", "[1,2,3]", "[\"a\"]"});
  expect(R"({"prefixItems":[{"type":"string"},{"type":"null"}],"items":false})", {"[]", R"(["a"])", R"(["a",null])"},
         {R"(["a",null,1])", "[1]"});
  expect(R"({"prefixItems":[{"const":1}],"items":{"const":2}})", {"[1]", "[1,2,2]"}, {"[2]", "[1,1]"});
  expect(R"({"items":false})", {"[]"}, {"[0]"});
  expect(R"({"maxItems":1.0})", {"[0]"}, {"[0,0]"});
}

TEST(SchemaValidator, LengthsCountCodePoints) {
  expect(R"({"minLength":2,"maxLength":3})", {R"("ab")", "\"\xc3\xa9\xc3\xa9\"", "\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"", "7"},
         {R"("a")", R"("abcd")", "\"\xf0\x9f\x98\x80\""});
  // a string built by hand that is not UTF-8 fails rather than being counted
  EXPECT_TRUE(make(R"({"maxLength":5})").validate(json::value(json::string("\xff"))));
}

TEST(SchemaValidator, PatternIsAnUnanchoredEcmaSearch) {
  expect(R"({"pattern":"b+"})", {R"("abbc")", R"("b")", "1"}, {R"("ac")", R"("")"});
  expect(R"({"pattern":"^\\d{2}$"})", {R"("12")"}, {R"("123")", "\"12\\n\"", "\"\xd9\xa3\xd9\xa3\""});
  expect(R"({"pattern":"^.$"})", {R"("a")", "\"\xf0\x9f\x98\x80\""}, {R"("\n")", R"("\r")", "\"\xe2\x80\xa8\""});
  expect(R"({"pattern":"^\\s$"})", {R"("\t")", "\"\xef\xbb\xbf\"", "\"\xc2\xa0\""}, {"\"\xc2\x85\"", R"("a")"});
  expect(R"({"pattern":"^\\u00e9$"})", {"\"\xc3\xa9\""}, {R"("u00e9")"});
  expect(R"({"pattern":"^[[:a]+$"})", {R"("[:a")", R"(":")"}, {R"("b")"});
}

TEST(SchemaValidator, NumericBoundsAreExact) {
  expect(R"({"minimum":1,"exclusiveMaximum":2})", {"1", "1.5", "1.9999999999", "1.0"}, {"0.9999999999", "2", "2.0", "-1"});
  expect(R"({"exclusiveMinimum":0.1,"maximum":0.3})", {"0.2", "0.3"}, {"0.1", "0.30000000000000004"});
  // 2^53 + 1 is not a double; compared as an int64 it is past a 2^53 maximum
  expect(R"({"maximum":9007199254740992})", {"9007199254740992", "9007199254740992.0"}, {"9007199254740993"});
  expect(R"({"maximum":9007199254740992.0})", {"9007199254740992"}, {"9007199254740993"});
  expect(R"({"minimum":-9223372036854775808})", {"-9223372036854775808", "0", "18446744073709551615"}, {"-1e19", "-9223372036854775808.5e1"});
  expect(R"({"maximum":18446744073709551615})", {"18446744073709551615", "-1"}, {"18446744073709551616", "1e20"});
  expect(R"({"exclusiveMinimum":-1,"exclusiveMaximum":1})", {"0", "-0.5", "0.999"}, {"-1", "1", "-1.0"});
  // NaN built by hand is not comparable, so no bound holds
  EXPECT_TRUE(make(R"({"minimum":0})").validate(json::value(std::nan(""))));
}

TEST(SchemaValidator, CombinatorsAnyOfOneOfAllOf) {
  expect(R"({"anyOf":[{"type":"string"},{"minimum":5}]})", {R"("a")", "7", "null"}, {"3"});
  expect(R"({"oneOf":[{"type":"number"},{"type":"integer"}]})", {"1.5"}, {"1", "\"a\""});
  expect(R"({"allOf":[{"minimum":0},{"maximum":3},{"type":"integer"}]})", {"0", "3"}, {"-1", "4", "1.5"});
  expect(R"({"anyOf":[false,true]})", {"null"}, {});
  expect(R"({"oneOf":[true,true]})", {}, {"null"});
}

TEST(SchemaValidator, KeywordsApplyOnlyToTheirType) {
  expect(R"({"minimum":5,"minLength":3,"minItems":1,"required":["a"],"pattern":"x"})",
         {"null", "true", "5", R"("xxx")", "[0]", R"({"a":0})"}, {"4", R"("xx")", R"("yyy")", "[]", "{}"});
}

TEST(SchemaValidator, BooleanSchemasAndAnnotations) {
  expect("true", {"null", "{}", "[1]"}, {});
  expect("false", {}, {"null", "{}", "0"});
  expect(R"({"title":"t","description":"d","$comment":"c","examples":[{"not":1}],"default":{"x":1},"$schema":"s",)"
         R"("$id":"https://example.com/s","deprecated":true,"readOnly":false,"writeOnly":false})",
         {"1", "{}"}, {});
}

// ---- $ref ----

TEST(SchemaValidator, RefsResolveRecursively) {
  const std::string_view tree = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},)"
                                R"("kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},"$ref":"#/$defs/node"})";
  expect(tree, {R"({"v":1})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]})"}, {R"({"v":1,"kids":[{}]})", "{}"});
  expect(R"({"anyOf":[{"type":"null"},{"type":"array","items":{"$ref":"#"}}]})", {"null", "[]", "[[null],[]]"}, {"[1]", "[[[0]]]"});
  // draft-7 definitions, escaped and percent-encoded pointers, a ref into properties
  expect(R"({"definitions":{"a/b":{"type":"integer"},"c~d":{"type":"string"},"e f":{"type":"null"}},)"
         R"("prefixItems":[{"$ref":"#/definitions/a~1b"},{"$ref":"#/definitions/c~0d"},{"$ref":"#/definitions/e%20f"}]})",
         {R"([1,"x",null])"}, {R"(["x"])", R"([1,2])", R"([1,"x",1])"});
  expect(R"({"properties":{"a":{"type":"string"},"b":{"$ref":"#/properties/a"}}})", {R"({"b":"x"})"}, {R"({"b":1})"});
  expect(R"({"prefixItems":[{"type":"null"},{"$ref":"#/prefixItems/0"}]})", {"[null,null]"}, {"[null,1]"});
}

TEST(SchemaValidator, RefBesideOtherKeywordsAppliesBoth) {
  expect(R"({"$defs":{"pos":{"minimum":1}},"$ref":"#/$defs/pos","maximum":3})", {"1", "3"}, {"0", "4"});
}

TEST(SchemaValidator, RefusesRefCyclesThatNeverDescend) {
  EXPECT_EQ(refusal(R"({"$ref":"#"})").pointer(), "/$ref");
  EXPECT_EQ(refusal(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"})").keyword(), "$ref");
  EXPECT_EQ(refusal(R"({"anyOf":[{"type":"null"},{"$ref":"#"}]})").pointer(), "/anyOf/1/$ref");
  EXPECT_NO_THROW(make(R"({"items":{"$ref":"#"}})"));
}

TEST(SchemaValidator, RefusesRefsItCannotResolve) {
  EXPECT_EQ(refusal(R"({"$ref":"other.json#/a"})").pointer(), "/$ref");
  EXPECT_EQ(refusal(R"({"properties":{"a":{"$ref":"#anchor"}}})").pointer(), "/properties/a/$ref");
  EXPECT_EQ(refusal(R"({"$ref":"#/$defs/missing"})").pointer(), "/$ref");
  EXPECT_EQ(refusal(R"({"$ref":"#/a~2"})").pointer(), "/$ref");
  EXPECT_EQ(refusal(R"({"$ref":"#/%zz"})").pointer(), "/$ref");
  EXPECT_EQ(refusal(R"({"$ref":7})").pointer(), "/$ref");
  // a target that is not a schema is refused where it is, naming the $ref that led there
  const SchemaError e = refusal(R"({"required":["a"],"$ref":"#/required/0"})");
  EXPECT_EQ(e.pointer(), "/required/0");
  EXPECT_NE(std::string(e.what()).find("reached through the $ref at /$ref"), std::string::npos) << e.what();
}

// ---- refusals ----

TEST(SchemaValidator, RefusesUnsupportedKeywordsNamingThePointer) {
  const SchemaError e = refusal(R"({"properties":{"a":{"items":{"not":{}}}}})");
  EXPECT_EQ(e.keyword(), "not");
  EXPECT_EQ(e.pointer(), "/properties/a/items/not");
  EXPECT_STREQ(e.what(), "schema: unsupported keyword 'not' at /properties/a/items/not");
  for (const char* keyword : {"if", "then", "uniqueItems", "contains", "multipleOf", "propertyNames", "minProperties",
                              "dependentRequired", "additionalItems", "unevaluatedProperties", "$anchor", "$dynamicRef"}) {
    const std::string schema = std::string(R"({"allOf":[{"type":"object",")") + keyword + R"(":0}]})";
    EXPECT_EQ(refusal(schema).pointer(), std::string("/allOf/0/") + keyword) << schema;
  }
  EXPECT_EQ(refusal(R"({"$defs":{"a/b":{"nope":1}}})").pointer(), "/$defs/a~1b/nope");
}

TEST(SchemaValidator, RefusesMalformedKeywords) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {R"({"type":"text"})", "/type"},
      {R"({"type":[]})", "/type"},
      {R"({"type":["string","string"]})", "/type"},
      {R"({"type":3})", "/type"},
      {R"({"enum":1})", "/enum"},
      {R"({"required":"a"})", "/required"},
      {R"({"required":[1]})", "/required"},
      {R"({"properties":[]})", "/properties"},
      {R"({"properties":{"a":1}})", "/properties/a"},
      {R"({"items":[{}]})", "/items"},
      {R"({"prefixItems":{}})", "/prefixItems"},
      {R"({"anyOf":[]})", "/anyOf"},
      {R"({"oneOf":{}})", "/oneOf"},
      {R"({"allOf":[{},null]})", "/allOf/1"},
      {R"({"minLength":-1})", "/minLength"},
      {R"({"maxItems":1.5})", "/maxItems"},
      {R"({"minimum":"1"})", "/minimum"},
      {R"({"exclusiveMaximum":1e400})", "/exclusiveMaximum"},
      {R"({"pattern":"("})", "/pattern"},
      {R"({"pattern":1})", "/pattern"},
      {R"({"patternProperties":{"[":{}}})", "/patternProperties/["},
      {R"({"format":"ipv4"})", "/format"},
      {R"({"format":1})", "/format"},
      {R"({"additionalProperties":"no"})", "/additionalProperties"},
      {"[]", ""},
      {"1", ""},
  };
  for (const auto& [schema, pointer] : cases) EXPECT_EQ(refusal(schema).pointer(), pointer) << schema;
}

TEST(SchemaValidator, RefusesDocumentsNestedTooDeep) {
  std::string deep = R"({"examples":)";
  for (int i = 0; i < 600; ++i) deep += "[";
  for (int i = 0; i < 600; ++i) deep += "]";
  deep += "}";
  json::parse_options options;
  options.max_depth = 1000;
  const SchemaError e = [&] {
    try {
      SchemaValidator v(json::parse(deep, {}, options));
    } catch (const SchemaError& x) {
      return x;
    }
    return SchemaError("", "", "accepted");
  }();
  EXPECT_EQ(e.pointer().substr(0, 13), "/examples/0/0");
  EXPECT_NE(std::string(e.what()).find("deeper than 512"), std::string::npos) << e.what();
}

// ---- failures: pointers and messages ----

TEST(SchemaValidator, FailuresNameInstanceAndSchemaPointers) {
  const std::string_view schema = R"({"type":"object","properties":{"city":{"type":"string"},"tags":{"items":{"maxLength":2}}}})";
  ValidationError e = failure(schema, R"({"city":3})");
  EXPECT_EQ(e.instance_pointer, "/city");
  EXPECT_EQ(e.keyword, "type");
  EXPECT_EQ(e.schema_pointer, "/properties/city/type");
  EXPECT_EQ(e.message, "/city: expected string, got number 3 (type at /properties/city/type)");
  e = failure(schema, R"({"tags":["ab","abc"]})");
  EXPECT_EQ(e.instance_pointer, "/tags/1");
  EXPECT_EQ(e.message, "/tags/1: a string of 3 characters is longer than maxLength 2 (maxLength at /properties/tags/items/maxLength)");
  e = failure(schema, "[]");
  EXPECT_EQ(e.message, "(root): expected object, got array (type at /type)");
}

TEST(SchemaValidator, FailureMessagesPerKeyword) {
  auto message = [](std::string_view schema, std::string_view instance) { return failure(schema, instance).message; };
  EXPECT_EQ(message(R"({"required":["b"]})", "{}"), R"((root): missing required property "b" (required at /required))");
  EXPECT_EQ(message(R"({"additionalProperties":false})", R"({"a/b":1})"),
            R"(/a~1b: property "a/b" is not allowed (additionalProperties at /additionalProperties))");
  EXPECT_EQ(message(R"({"properties":{"x":false}})", R"({"x":1})"), R"(/x: property "x" is not allowed (properties at /properties/x))");
  EXPECT_EQ(message(R"({"prefixItems":[{}],"items":false})", "[1,2]"),
            "/1: item 1 is not allowed: the array may hold only its 1 prefixItems (items at /items)");
  EXPECT_EQ(message(R"({"enum":["a",1]})", "2"), R"((root): 2 is not one of ["a",1] (enum at /enum))");
  EXPECT_EQ(message(R"({"const":"a"})", "{}"), R"((root): expected "a", got an object of 0 properties (const at /const))");
  EXPECT_EQ(message(R"({"minItems":2})", "[1]"), "(root): an array of 1 items is shorter than minItems 2 (minItems at /minItems)");
  EXPECT_EQ(message(R"({"pattern":"^a"})", R"("b")"), R"((root): "b" does not match the pattern "^a" (pattern at /pattern))");
  EXPECT_EQ(message(R"({"format":"date"})", R"("2023-02-29")"), R"((root): "2023-02-29" is not a valid date (format at /format))");
  EXPECT_EQ(message(R"({"minimum":1.5})", "1"), "(root): 1 is less than the minimum 1.5 (minimum at /minimum)");
  EXPECT_EQ(message(R"({"exclusiveMaximum":2})", "2.0"), "(root): 2 is not less than the exclusive maximum 2 (exclusiveMaximum at /exclusiveMaximum)");
  EXPECT_EQ(message("false", "1"), "(root): no value is allowed here (schema false at (root))");
  EXPECT_EQ(message(R"({"oneOf":[{},{}]})", "1"), "(root): matches alternatives 0 and 1 of oneOf, which must match exactly one (oneOf at /oneOf)");
  EXPECT_EQ(message(R"({"type":["string","null","integer"]})", "1.5"), "(root): expected null, integer or string, got number 1.5 (type at /type)");
}

TEST(SchemaValidator, AnyOfNamesTheClosestAlternative) {
  const ValidationError e = failure(R"({"anyOf":[{"type":"null"},{"type":"object","properties":{"a":{"minimum":1}}}]})", R"({"a":0})");
  EXPECT_EQ(e.keyword, "anyOf");
  EXPECT_EQ(e.instance_pointer, "");
  EXPECT_EQ(e.message,
            "(root): matches none of the 2 alternatives of anyOf; closest, alternative 1: /a: 0 is less than the minimum 1 "
            "(minimum at /anyOf/1/properties/a/minimum) (anyOf at /anyOf)");
}

TEST(SchemaValidator, LongStringsAreShortenedInMessages) {
  const ValidationError e = failure(R"({"pattern":"^a"})", json::serialize(json::value(std::string(100, 'b'))));
  EXPECT_EQ(e.message, "(root): \"" + std::string(40, 'b') + "...\" does not match the pattern \"^a\" (pattern at /pattern)");
}

TEST(SchemaValidator, ValidateAllReportsEveryFailureUpToALimit) {
  const SchemaValidator v = make(R"({"required":["a","b"],"additionalProperties":{"type":"integer"}})");
  const json::value instance = json::parse(R"({"x":"1","y":"2"})");
  const std::vector<ValidationError> all = v.validate_all(instance);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].message, R"((root): missing required property "a" (required at /required))");
  EXPECT_EQ(all[3].instance_pointer, "/y");
  EXPECT_EQ(v.validate_all(instance, 2).size(), 2u);
  EXPECT_EQ(v.validate_all(instance, 0).size(), 1u);
  EXPECT_TRUE(v.validate_all(json::parse(R"({"a":1,"b":2})")).empty());
}

json::value nest(json::value inner) {
  json::array outer;
  outer.emplace_back(std::move(inner));
  return outer;
}

TEST(SchemaValidator, StopsAtTheDepthLimitWithAClearError) {
  const SchemaValidator v = make(R"({"items":{"$ref":"#"}})");
  json::value deep = json::array();
  for (int i = 0; i < 2000; ++i) deep = nest(std::move(deep));
  const std::optional<ValidationError> e = v.validate(deep);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->keyword, "");
  EXPECT_NE(e->message.find("deeper than 1000"), std::string::npos) << e->message;
  // each level of the instance is two applications (the items schema, then the root by $ref)
  EXPECT_EQ(e->instance_pointer.size(), std::string("/0").size() * 500);
  json::value ok = json::array();
  for (int i = 0; i < 400; ++i) ok = nest(std::move(ok));
  EXPECT_FALSE(v.validate(ok));
}

TEST(SchemaValidator, CopiesShareTheCompiledSchemaSafely) {
  std::optional<SchemaValidator> original = make(R"({"pattern":"^a","enum":["ab","b"]})");
  const SchemaValidator copy = *original;
  original.reset();
  EXPECT_TRUE(accepts(copy, R"("ab")"));
  EXPECT_FALSE(accepts(copy, R"("b")"));
}

// ---- the grammar's ledger ----

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Texts the reference accepts and this validator refuses, each for a format the reference
// does not check as strictly: its email checker only looks for an '@', and it has no uri
// checker at all (python-jsonschema needs rfc3987 for that).
const std::set<std::pair<std::string, std::string>> kKnownDifferences = {
    {"format email (the reference only checks for an @)", R"("john@")"},
    {"format email (the reference only checks for an @)", R"("@example.com")"},
    {"format email (the reference only checks for an @)", R"("john doe@example.com")"},
    {"format email (the reference only checks for an @)", R"("a..b@example.com")"},
    {"format email (the reference only checks for an @)", R"("a@-example.com")"},
    {"format email (the reference only checks for an @)", R"("a@example-.com")"},
    {"format email (the reference only checks for an @)", R"("\"q\"@example.com")"},
    {"format with a maximum length", R"("a@")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("example.com")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("http://exa mple.com")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("1http://x")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("http://[::g]/")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("http://x/%zz")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", R"("http://[1:2:3:4:5:6:7:8:9]/")"},
    {"format uri (the reference has no uri checker: invalid URIs count as stricter)", "\"http://\xc3\xa9.com\""},
};

// valid and stricter texts are valid (the reference accepts them), invalid and lenient ones are
// not (skipping invalid texts that are not JSON), each against the schema the reference
// checked: reference_schema where the grammar's strict_objects changes the meaning, else schema.
TEST(SchemaValidator, AgreesWithTheReferenceOnTheGrammarLedger) {
  const json::value ledger = json::parse(read_file(std::string(RAGENT_SOURCE_DIR) + "/tests/grammar/json_schema_cases.json"));
  size_t checked = 0;
  std::set<std::pair<std::string, std::string>> differences;
  for (const json::value& c : ledger.at("cases").as_array()) {
    const json::object& tc = c.as_object();
    const std::string name(tc.at("name").as_string());
    SCOPED_TRACE(name);
    const json::value& schema = tc.contains("reference_schema") ? tc.at("reference_schema") : tc.at("schema");
    std::optional<SchemaValidator> v;
    try {
      v.emplace(schema);
    } catch (const SchemaError& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    for (const char* category : {"valid", "invalid", "stricter", "lenient"}) {
      const json::value* texts = tc.if_contains(category);
      if (!texts) continue;
      const bool expected = std::string_view(category) == "valid" || std::string_view(category) == "stricter";
      for (const json::value& t : texts->as_array()) {
        const std::string text(t.as_string());
        json::error_code ec;
        const json::value instance = json::parse(text, ec);
        if (ec) {
          EXPECT_EQ(std::string_view(category), "invalid") << "not JSON: " << text;
          continue;
        }
        ++checked;
        const std::optional<ValidationError> error = v->validate(instance);
        if (expected && error && kKnownDifferences.count({name, text})) {
          EXPECT_EQ(error->keyword, "format") << text;
          differences.insert({name, text});
          continue;
        }
        EXPECT_EQ(!error, expected) << category << " text " << text << (error ? ": " + error->message : std::string());
      }
    }
  }
  EXPECT_EQ(differences, kKnownDifferences) << "a known difference is gone: remove it from the list";
  EXPECT_GT(checked, 400u);
}

}  // namespace
}  // namespace ragent::tools
