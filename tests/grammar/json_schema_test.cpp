// JSON Schema into the grammar IR (engine/grammar/json_schema.cpp), checked with the reference
// matcher: the ledger json_schema_cases.json (whose expectations json_schema_reference.py checks
// against python-jsonschema), exhaustive windows around random numeric bounds, the errors, and
// the size of the grammars.
#include "engine/grammar/json_schema.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/grammar_match.hpp"

namespace ragent::grammar {
namespace {

namespace json = boost::json;
__extension__ typedef __int128 i128;  // bounds past 64 bits; GCC and Clang have it

bool accepts(const Grammar& g, std::string_view text) { return testing::ReferenceMatcher(g).matches_root(text); }

Grammar compile(std::string_view schema, JsonSchemaOptions options = {}) { return compile_json_schema(json::parse(schema), options); }

// Integers of any length, as JSON allows them (the default keeps them within 64 bits).
const JsonSchemaOptions kAnyLength{0, true, false};

// JSON with exactly one space in every place whitespace may go.
std::string spaced(const json::value& v) {
  if (v.is_object()) {
    if (v.as_object().empty()) return "{ }";
    std::string out = "{ ";
    bool first = true;
    for (const auto& [k, x] : v.as_object()) {
      if (!first) out += " , ";
      first = false;
      out += json::serialize(json::value(json::string(k)));
      out += " : ";
      out += spaced(x);
    }
    out += " }";
    return out;
  }
  if (v.is_array()) {
    if (v.as_array().empty()) return "[ ]";
    std::string out = "[ ";
    bool first = true;
    for (const json::value& x : v.as_array()) {
      if (!first) out += " , ";
      first = false;
      out += spaced(x);
    }
    out += " ]";
    return out;
  }
  return json::serialize(v);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JsonSchema, LedgerCasesMatchExactly) {
  std::string path = RAGENT_SOURCE_DIR;
  path += "/tests/grammar/json_schema_cases.json";
  const json::value ledger = json::parse(read_file(path));
  size_t cases = 0, texts = 0;
  for (const json::value& c : ledger.at("cases").as_array()) {
    const json::object& tc = c.as_object();
    const std::string name(tc.at("name").as_string());
    SCOPED_TRACE(name);
    JsonSchemaOptions options;
    if (const json::value* o = tc.if_contains("options")) {
      if (const json::value* w = o->as_object().if_contains("max_whitespace")) options.max_whitespace = static_cast<int>(w->as_int64());
      if (const json::value* s = o->as_object().if_contains("strict_objects")) options.strict_objects = s->as_bool();
      if (const json::value* f = o->as_object().if_contains("numbers_fit_64_bits")) options.numbers_fit_64_bits = f->as_bool();
    }
    Grammar g;
    try {
      g = compile_json_schema(tc.at("schema"), options);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "compile failed: " << e.what();
      continue;
    }
    ++cases;
    const bool boost_form = !tc.contains("boost_form") || tc.at("boost_form").as_bool();
    testing::ReferenceMatcher m(g);
    auto each = [&](const char* category, auto&& check) {
      if (const json::value* list = tc.if_contains(category)) {
        for (const json::value& t : list->as_array()) {
          ++texts;
          check(std::string(t.as_string()));
        }
      }
    };
    each("valid", [&](const std::string& text) {
      EXPECT_TRUE(m.matches_root(text)) << "valid text rejected: " << text;
      if (!boost_form) return;
      const json::value v = json::parse(text);
      EXPECT_TRUE(m.matches_root(json::serialize(v))) << "boost::json::serialize form rejected: " << json::serialize(v);
      if (options.max_whitespace >= 1) {
        EXPECT_TRUE(m.matches_root(spaced(v))) << "spaced form rejected: " << spaced(v);
      }
    });
    each("lenient", [&](const std::string& text) { EXPECT_TRUE(m.matches_root(text)) << "lenient text rejected: " << text; });
    each("invalid", [&](const std::string& text) { EXPECT_FALSE(m.matches_root(text)) << "invalid text accepted: " << text; });
    each("stricter", [&](const std::string& text) { EXPECT_FALSE(m.matches_root(text)) << "non-canonical text accepted: " << text; });
  }
  EXPECT_GE(cases, 50u);
  EXPECT_GE(texts, 450u);
}

// ---- integers: every value in windows around random bounds ----

std::string to_text(i128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string digits;
  for (i128 x = v; x != 0; x /= 10) digits += static_cast<char>('0' + static_cast<int>(negative ? -(x % 10) : x % 10));
  if (negative) digits += '-';
  return {digits.rbegin(), digits.rend()};
}

// An integer bound as JSON: int64 or uint64 where it fits, else a double parsed from its digits
// (the generator only makes such bounds as m * 10^e, whose shortest round-trip form is exact).
json::value to_json(i128 v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max()) return static_cast<int64_t>(v);
  if (v > 0 && v <= static_cast<i128>(std::numeric_limits<uint64_t>::max())) return static_cast<uint64_t>(v);
  return json::parse(to_text(v));
}

i128 random_bound(std::mt19937_64& rng) {
  const auto pick = [&](int64_t n) { return static_cast<i128>(rng() % static_cast<uint64_t>(n)); };
  const i128 sign = rng() % 2 ? 1 : -1;
  switch (rng() % 6) {
    case 0: return pick(201) - 100;
    case 1: return pick(2000001) - 1000000;
    case 2: {  // next to a change of digit count
      i128 p = 1;
      for (i128 k = pick(18) + 1; k > 0; --k) p *= 10;
      return sign * p + pick(7) - 3;
    }
    case 3: {  // next to the 64-bit limits
      const i128 edges[] = {std::numeric_limits<int64_t>::max(), static_cast<i128>(std::numeric_limits<int64_t>::min()) + 3,
                            static_cast<i128>(std::numeric_limits<uint64_t>::max()) - 10};
      return edges[rng() % 3] + pick(7) - 3;  // all within int64 / uint64: exact as JSON
    }
    case 4: {  // past 64 bits
      i128 v = pick(999) + 1;
      for (i128 k = pick(6) + 19; k > 0; --k) v *= 10;
      return sign * v;
    }
    default: return 0;
  }
}

TEST(JsonSchemaIntegers, RandomRangesMatchExactlyAroundTheBounds) {
  std::mt19937_64 rng(20240229);
  size_t checked = 0, unsatisfiable = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const int sides = static_cast<int>(rng() % 3);  // 0: both, 1: min only, 2: max only
    std::optional<i128> lo, hi;  // the effective inclusive range
    json::object schema{{"type", "integer"}};
    auto add_bound = [&](bool lower) {
      i128 b = random_bound(rng);
      const bool exclusive = rng() % 2;
      const bool half = rng() % 4 == 0 && b > -(i128(1) << 50) && b < (i128(1) << 50);  // a bound of b + 0.5
      const char* key = lower ? (exclusive ? "exclusiveMinimum" : "minimum") : (exclusive ? "exclusiveMaximum" : "maximum");
      if (half) {
        schema[key] = static_cast<double>(b) + 0.5;
        return lower ? b + 1 : b;
      }
      schema[key] = to_json(b);
      return !exclusive ? b : lower ? b + 1 : b - 1;
    };
    if (sides != 2) lo = add_bound(true);
    if (sides != 1) hi = add_bound(false);
    SCOPED_TRACE(json::serialize(schema));
    if (lo && hi && *lo > *hi) {
      EXPECT_THROW(compile_json_schema(schema, kAnyLength), SchemaError);
      ++unsatisfiable;
      continue;
    }
    const Grammar g = compile_json_schema(schema, kAnyLength);
    testing::ReferenceMatcher m(g);
    std::vector<i128> probes;
    for (i128 d = -3; d <= 3; ++d) probes.push_back(d);
    for (const std::optional<i128>& b : {lo, hi}) {
      if (!b) continue;
      for (i128 d = -25; d <= 25; ++d) probes.push_back(*b + d);
      probes.push_back(-*b);
      probes.push_back(*b * 10);
    }
    for (i128 x : probes) {
      const bool in = (!lo || x >= *lo) && (!hi || x <= *hi);
      EXPECT_EQ(m.matches_root(to_text(x)), in) << to_text(x);
      ++checked;
    }
  }
  EXPECT_GT(checked, 20000u);
  EXPECT_GT(unsatisfiable, 0u);
}

TEST(JsonSchemaIntegers, OnlyCanonicalSpellings) {
  const Grammar g = compile(R"({"type":"integer","minimum":-10,"maximum":10})");
  for (const char* ok : {"0", "-10", "10", "-1", "5"}) EXPECT_TRUE(accepts(g, ok)) << ok;
  // -0 is valid JSON equal to 0, but not canonical: a minus sign never precedes a zero value.
  for (const char* bad : {"-0", "00", "01", "+1", "1.0", "1e0", "-", "", " 1", "1 "}) EXPECT_FALSE(accepts(g, bad)) << bad;
  const Grammar any = compile(R"({"type":"integer"})", kAnyLength);
  const Grammar fits = compile(R"({"type":"integer"})");
  for (const char* ok : {"0", "-9223372036854775808", "18446744073709551615", "123"}) EXPECT_TRUE(accepts(fits, ok)) << ok;
  for (const char* bad : {"-9223372036854775809", "18446744073709551616", "123456789012345678901"}) EXPECT_FALSE(accepts(fits, bad)) << bad;
  const Grammar number = compile(R"({"type":"number"})");
  for (const char* ok : {"123456789012345678", "-9223372036854775808", "18446744073709551615", "1.5e99", "-0.25E-7", "123456789012345678.123456789"}) EXPECT_TRUE(accepts(number, ok)) << ok;
  for (const char* bad : {"18446744073709551616", "-9249978054211134917", "1234567890123456789.5", "1e100", "1e400"}) EXPECT_FALSE(accepts(number, bad)) << bad;
  for (const char* ok : {"0", "-1", "123456789012345678901234567890", "-98765432109876543210"}) EXPECT_TRUE(accepts(any, ok)) << ok;
  for (const char* bad : {"-0", "007", "1.5", "1E3"}) EXPECT_FALSE(accepts(any, bad)) << bad;
}

// ---- decimals: values in units of 10^-4 around random bounds with up to 3 decimals ----

std::string decimal_text(i128 units, bool pad) {  // units of 1e-4
  const bool negative = units < 0;
  const i128 a = negative ? -units : units;
  std::string frac = to_text(a % 10000);
  frac = std::string(4 - frac.size(), '0') + frac;
  if (!pad) {
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
  }
  std::string out = negative ? "-" : "";
  out += to_text(a / 10000);
  if (!frac.empty()) {
    out += '.';
    out += frac;
  }
  return out;
}

TEST(JsonSchemaNumbers, RandomDecimalRangesMatchExactly) {
  std::mt19937_64 rng(7);
  size_t checked = 0;
  for (int iter = 0; iter < 250; ++iter) {
    auto random_units = [&]() -> i128 {  // a bound with up to 3 decimals, in units of 1e-4
      const int64_t scale = rng() % 3 == 0 ? 10 : 2000000;
      return (static_cast<i128>(rng() % static_cast<uint64_t>(2 * scale + 1)) - scale) * 10;
    };
    const int sides = static_cast<int>(rng() % 3);
    std::optional<i128> lo, hi;
    bool lo_ex = false, hi_ex = false;
    json::object schema{{"type", "number"}};
    if (sides != 2) {
      lo = random_units();
      lo_ex = rng() % 2;
      schema[lo_ex ? "exclusiveMinimum" : "minimum"] = json::parse(decimal_text(*lo, false));
    }
    if (sides != 1) {
      hi = random_units();
      hi_ex = rng() % 2;
      schema[hi_ex ? "exclusiveMaximum" : "maximum"] = json::parse(decimal_text(*hi, false));
    }
    SCOPED_TRACE(json::serialize(schema));
    if (lo && hi && (*lo > *hi || (*lo == *hi && (lo_ex || hi_ex)))) {
      EXPECT_THROW(compile_json_schema(schema), SchemaError);
      continue;
    }
    const Grammar g = compile_json_schema(schema);
    testing::ReferenceMatcher m(g);
    std::vector<i128> probes{0, 1, -1, 10000, -10000};
    for (const std::optional<i128>& b : {lo, hi}) {
      if (!b) continue;
      for (i128 d = -12; d <= 12; ++d) probes.push_back(*b + d);
      for (i128 d = -3; d <= 3; ++d) probes.push_back(*b + d * 1000);
      for (i128 d = -2; d <= 2; ++d) probes.push_back(*b + d * 10000);
    }
    for (i128 x : probes) {
      const bool in = (!lo || x > *lo || (x == *lo && !lo_ex)) && (!hi || x < *hi || (x == *hi && !hi_ex));
      for (bool pad : {false, true}) {
        const std::string text = decimal_text(x, pad);
        EXPECT_EQ(m.matches_root(text), in) << text;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

TEST(JsonSchemaNumbers, BoundedNumbersArePlainDecimals) {
  const Grammar g = compile(R"({"type":"number","minimum":-1,"maximum":1})");
  for (const char* ok : {"0", "0.5", "-1", "1.0000", "-0.999", "0.000001"}) EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const char* bad : {"-0", "-0.0", "1e-1", "5E-1", ".5", "1.", "01", "-1.0001", "1.00001"}) EXPECT_FALSE(accepts(g, bad)) << bad;
}

// ---- random JSON values: what boost::json::serialize writes is accepted ----

// A code point biased towards the ones JSON escapes, multi-byte ones and the edges of UTF-8.
uint32_t random_code_point(std::mt19937_64& rng) {
  static constexpr uint32_t kSpecial[] = {0x00, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, '"', '\\', '/', 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF, 0x2028};
  switch (rng() % 4) {
    case 0: return kSpecial[rng() % std::size(kSpecial)];
    case 1: return static_cast<uint32_t>(0x20 + rng() % 0x5F);
    case 2: return static_cast<uint32_t>(rng() % 0x20);
    default: {
      uint32_t cp;
      do {
        cp = static_cast<uint32_t>(rng() % (kMaxCodePoint + 1));
      } while (cp >= 0xD800 && cp <= 0xDFFF);
      return cp;
    }
  }
}

std::string random_text(std::mt19937_64& rng, size_t code_points) {
  std::string out;
  for (size_t i = 0; i < code_points; ++i) append_utf8(out, random_code_point(rng));
  return out;
}

json::value random_value(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 0 ? 8 : 6)) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<int64_t>(rng());
    case 3: return std::ldexp(static_cast<double>(static_cast<int64_t>(rng() >> 11)), static_cast<int>(rng() % 200) - 100);
    case 4:
    case 5: return json::string(random_text(rng, rng() % 6));
    case 6: {
      json::array a;
      for (size_t n = rng() % 4; n > 0; --n) a.push_back(random_value(rng, depth - 1));
      return a;
    }
    default: {
      json::object o;
      for (size_t n = rng() % 4; n > 0; --n) o[random_text(rng, rng() % 3)] = random_value(rng, depth - 1);
      return o;
    }
  }
}

TEST(JsonSchema, SerializedRandomValuesMatchTheirConstAndAnyValue) {
  std::mt19937_64 rng(99);
  const Grammar any = compile("true");
  const Grammar any_spaced = compile("true", JsonSchemaOptions{1, true});
  testing::ReferenceMatcher m_any(any), m_any_spaced(any_spaced);
  for (int iter = 0; iter < 300; ++iter) {
    const json::value v = random_value(rng, 3);
    const json::value other = random_value(rng, 3);
    const std::string text = json::serialize(v);
    SCOPED_TRACE(text);
    EXPECT_TRUE(m_any.matches_root(text));
    EXPECT_TRUE(m_any_spaced.matches_root(spaced(v)));
    const Grammar c = compile_json_schema(json::object{{"const", v}});
    testing::ReferenceMatcher m(c);
    EXPECT_TRUE(m.matches_root(text));
    if (other != v) {
      EXPECT_FALSE(m.matches_root(json::serialize(other))) << json::serialize(other);
    }
    const Grammar e = compile_json_schema(json::object{{"enum", json::array{other, v}}}, JsonSchemaOptions{1, true});
    EXPECT_TRUE(testing::ReferenceMatcher(e).matches_root(spaced(v)));
  }
}

TEST(JsonSchema, RandomStringsCountCodePointsWhateverTheirEscapes) {
  std::mt19937_64 rng(3);
  for (int iter = 0; iter < 200; ++iter) {
    const size_t n = rng() % 6;
    const std::string s = random_text(rng, n);
    json::object schema{{"type", "string"}, {"minLength", n}, {"maxLength", n}};
    const Grammar g = compile_json_schema(schema);
    testing::ReferenceMatcher m(g);
    const std::string text = json::serialize(json::value(json::string(s)));
    SCOPED_TRACE(text);
    EXPECT_TRUE(m.matches_root(text));
    EXPECT_FALSE(m.matches_root(json::serialize(json::value(json::string(s + "x")))));
    if (n > 0) {
      EXPECT_FALSE(m.matches_root(json::serialize(json::value(json::string(random_text(rng, n - 1))))));
    }
  }
}

// ---- errors: each names the keyword and its JSON pointer ----

TEST(JsonSchemaErrors, NameTheKeywordAndPointer) {
  struct Case {
    const char* schema;
    const char* keyword;
    const char* pointer;
  };
  const Case cases[] = {
      {R"({"not":{}})", "not", "/not"},
      {R"({"properties":{"x":{"not":{"type":"null"}}}})", "not", "/properties/x/not"},
      {R"({"properties":{"a/b":{"if":{}}}})", "if", "/properties/a~1b/if"},
      {R"({"properties":{"a~b":{"then":{}}}})", "then", "/properties/a~0b/then"},
      {R"({"else":{}})", "else", "/else"},
      {R"({"type":"array","uniqueItems":true})", "uniqueItems", "/uniqueItems"},
      {R"({"type":"number","multipleOf":2})", "multipleOf", "/multipleOf"},
      {R"({"items":{"contains":{}}})", "contains", "/items/contains"},
      {R"({"minProperties":1})", "minProperties", "/minProperties"},
      {R"({"maxProperties":1})", "maxProperties", "/maxProperties"},
      {R"({"dependentRequired":{}})", "dependentRequired", "/dependentRequired"},
      {R"({"dependentSchemas":{}})", "dependentSchemas", "/dependentSchemas"},
      {R"({"unevaluatedProperties":false})", "unevaluatedProperties", "/unevaluatedProperties"},
      {R"({"propertyNames":{"maxLength":3}})", "propertyNames", "/propertyNames"},
      {R"({"anyOf":[{"type":"null"},{"additionalItems":false}]})", "additionalItems", "/anyOf/1/additionalItems"},
      {R"({"$defs":{"unused":{"$anchor":"x"}}})", "$anchor", "/$defs/unused/$anchor"},
      {R"({"prefixItems":[{},{"dependencies":{}}]})", "dependencies", "/prefixItems/1/dependencies"},
      {R"({"minLength":"3"})", "minLength", "/minLength"},
      {R"({"maxItems":-1})", "maxItems", "/maxItems"},
      {R"({"minItems":1.5})", "minItems", "/minItems"},
      {R"({"minimum":"0"})", "minimum", "/minimum"},
      {R"({"required":"a"})", "required", "/required"},
      {R"({"properties":[]})", "properties", "/properties"},
      {R"({"enum":[]})", "enum", "/enum"},
      {R"({"anyOf":[]})", "anyOf", "/anyOf"},
      {R"({"items":[{"type":"string"}]})", "items", "/items"},
      {R"({"pattern":3})", "pattern", "/pattern"},
      {R"({"type":"strin"})", "type", "/type"},
      {R"({"type":["string","string"]})", "type", "/type"},
      {R"({"properties":{"x":{"format":"ipv4"}}})", "format", "/properties/x/format"},
      {R"({"minimum":5,"maximum":3})", "minimum", "/minimum"},
      {R"({"exclusiveMinimum":3,"maximum":3})", "exclusiveMinimum", "/exclusiveMinimum"},
      {R"({"type":"integer","minimum":1.2,"maximum":1.8})", "minimum", "/minimum"},
      {R"({"minLength":4,"maxLength":3})", "minLength", "/minLength"},
      {R"({"minItems":4,"maxItems":3})", "minItems", "/minItems"},
      {R"({"properties":{"p":{"$ref":"#/$defs/missing"}}})", "$ref", "/properties/p/$ref"},
      {R"({"$ref":"http://example.com/schema.json"})", "$ref", "/$ref"},
      {R"({"$ref":"#anchor"})", "$ref", "/$ref"},
      {R"({"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"})", "$ref", "/$defs/a/anyOf/0/$ref"},
      {R"({"allOf":[{"type":"string"},{"type":"integer"}]})", "allOf", "/allOf"},
      {R"({"properties":{"x":{"allOf":[{"enum":[1,2]},{"enum":[3]}]}}})", "allOf", "/properties/x/allOf"},
      {R"({"allOf":[{"$ref":"#"}]})", "allOf", "/allOf"},
      {R"({"type":"object","allOf":[{"$ref":"#/$defs/none"}]})", "allOf", "/allOf"},
      {R"({"type":"object","$ref":"#/$defs/none"})", "$ref", "/$ref"},
      {R"({"type":"array","prefixItems":[{}],"items":false,"minItems":2})", "minItems", "/minItems"},
      {R"({"type":"object","required":["a"]})", "required", "/required"},
      {R"({"enum":["a"],"properties":{}})", "properties", "/properties"},
      {R"({"type":"string","enum":[1,2]})", "enum", "/enum"},
      {R"x({"pattern":"(?=a)"})x", "pattern", "/pattern"},
      {R"({"type":"string","format":"uri","maxLength":100000})", "maxLength", "/maxLength"},
      {R"({"type":"string","pattern":"a{1000}","minLength":1000})", "minLength", "/minLength"},
      {R"({"properties":{"x-a":{}},"patternProperties":{"^x-":{}}})", "patternProperties", "/patternProperties"},
      {R"({"patternProperties":{"a":{"type":"integer"},"b":{"type":"string"}}})", "patternProperties", "/patternProperties"},
      {R"({"patternProperties":{"a":{}},"additionalProperties":true})", "additionalProperties", "/additionalProperties"},
      {R"({"patternProperties":{"(":{}}})", "patternProperties", "/patternProperties/("},
      {R"({"minimum":1e400})", "minimum", "/minimum"},
      {R"(3)", "", ""},
      {R"({"properties":{"x":"string"}})", "", "/properties/x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schema);
    try {
      (void)compile(c.schema);
      ADD_FAILURE() << "no error";
    } catch (const SchemaError& e) {
      EXPECT_EQ(e.keyword(), c.keyword) << e.what();
      EXPECT_EQ(e.pointer(), c.pointer) << e.what();
      std::string at = " at ";
      at += c.pointer[0] ? c.pointer : "the root";
      EXPECT_NE(std::string(e.what()).find(at), std::string::npos) << e.what();
    }
  }
}

TEST(JsonSchemaErrors, MessageNamesTheUnsupportedKeyword) {
  try {
    (void)compile(R"({"properties":{"x":{"not":{}}}})");
    FAIL();
  } catch (const SchemaError& e) {
    EXPECT_STREQ(e.what(), "schema: unsupported keyword 'not' at /properties/x/not");
  }
  EXPECT_THROW(compile("{}", JsonSchemaOptions{-1, true}), GrammarError);
}

// ---- shape and size ----

TEST(JsonSchema, OptionalPropertiesStayLinear) {
  std::string schema = R"({"type":"object","additionalProperties":false,"properties":{)";
  const int n = 80;
  for (int i = 0; i < n; ++i) {
    if (i > 0) schema += ',';
    schema += "\"p";
    schema += std::to_string(i);
    schema += "\":{\"type\":\"integer\"}";
  }
  schema += "}}";
  const Grammar g = compile(schema);
  EXPECT_LT(g.expr_count(), static_cast<size_t>(n) * 100);
  EXPECT_LT(g.to_gbnf().size(), static_cast<size_t>(n) * 400);
  EXPECT_TRUE(accepts(g, "{}"));
  EXPECT_TRUE(accepts(g, R"({"p0":1,"p40":2,"p79":3})"));
  EXPECT_TRUE(accepts(g, R"({"p79":3})"));
  EXPECT_FALSE(accepts(g, R"({"p40":2,"p0":1})"));
  EXPECT_FALSE(accepts(g, R"({"p0":1,"p0":1})"));
  EXPECT_FALSE(accepts(g, R"({"p80":1})"));
}

TEST(JsonSchema, LargeEnumsAndRangesStaySmall) {
  json::array values;
  for (int i = 0; i < 500; ++i) {
    std::string v = "v";
    v += std::to_string(i);
    values.emplace_back(v);
  }
  const Grammar g = compile_json_schema(json::object{{"enum", values}});
  EXPECT_TRUE(accepts(g, "\"v0\""));
  EXPECT_TRUE(accepts(g, "\"v499\""));
  EXPECT_FALSE(accepts(g, "\"v500\""));
  // A range across twenty digit lengths is O(digits) alternatives.
  const Grammar r = compile(R"({"type":"integer","minimum":-123456789012345678,"maximum":98765432109876543210})");
  EXPECT_LT(r.expr_count(), 1500u);
}

TEST(JsonSchema, IntersectionsStayBounded) {
  // An email of at most 64 code points: the product of the format's automaton and a counter.
  const Grammar g = compile(R"({"type":"string","format":"email","maxLength":64})");
  EXPECT_LT(g.rule_count(), 20000u);
  std::string longest = "\"";
  longest += std::string(58, 'a');
  longest += "@b.com\"";
  EXPECT_TRUE(accepts(g, longest));
  longest.insert(1, "a");
  EXPECT_FALSE(accepts(g, longest));
}

TEST(JsonSchema, CompactGbnfForASmallSchema) {
  const Grammar g = compile(R"({"type":"object","properties":{"a":{"type":"boolean"}},"required":["a"]})");
  EXPECT_EQ(g.to_gbnf(), "value ::= \"{\\\"a\\\":\" (\"true\" | \"false\") \"}\"\n");
}

TEST(JsonSchema, SchemasEmbedSideBySide) {
  Grammar g;
  const RuleId a = add_json_schema(g, json::parse(R"({"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]})"), {}, "tool-a");
  const RuleId b = add_json_schema(g, json::parse(R"({"$defs":{"n":{"type":["null","array"],"items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"})"), {},
                                   "tool-b");
  const RuleId again = add_json_schema(g, json::parse("true"), {}, "tool-a");
  EXPECT_EQ(g.rule_name(a), "tool-a");
  EXPECT_EQ(g.rule_name(b), "tool-b");
  EXPECT_NE(g.rule_name(again), "tool-a");
  g.set_root(a);
  g.validate();
  testing::ReferenceMatcher m(g);
  EXPECT_TRUE(m.matches_rule(a, R"({"x":1})"));
  EXPECT_FALSE(m.matches_rule(a, "[]"));
  EXPECT_TRUE(m.matches_rule(b, "[[null,[]],null]"));
  EXPECT_FALSE(m.matches_rule(b, "[1]"));
  EXPECT_TRUE(m.matches_rule(again, R"({"any":["thing"]})"));
}

}  // namespace
}  // namespace ragent::grammar
