// Random JSON Schemas over the keywords engine/grammar/json_schema.cpp supports, for property
// tests and benchmarks that need many schemas: nested objects and arrays, enums and consts,
// numeric bounds, string lengths, a small pool of patterns and formats, anyOf / oneOf, allOf
// shaped so that it merges, $defs / definitions with $refs (some recursive), annotations.
//
// random_schema only builds combinations the compiler is meant to accept: patternProperties
// only beside additionalProperties false, one schema per pattern set and no declared name that
// a pattern matches; required names declared unless additional keys are allowed; satisfiable
// bounds; definitions whose bodies begin with text of their own ('{', '[' or a scalar without
// $refs), so that no cycle of $refs consumes no input, and recursion only below an optional
// property or array items; allOf branches without additionalProperties; formats under a
// maxLength that leaves room for a value, and never uri or email (their intersection with a
// length is past the compiler's state limit). A seed the compiler still refuses is a bug in one of the two;
// generated_schemas skips such seeds, and SchemaCorpus.GeneratedSchemasCompile bounds them.
//
// The output depends only on the seed (the helpers below use the generator's raw output, not
// the standard distributions, whose results differ between standard libraries).
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "engine/grammar/grammar.hpp"
#include "engine/grammar/json_schema.hpp"

namespace ragent::grammar::testing {

namespace schema_gen_detail {

namespace json = boost::json;

// Property names. None starts with "x-", "meta_" or a digit or capital, which the key patterns
// below claim.
inline constexpr const char* kNames[] = {"id",    "name",  "count", "status", "note",  "value", "enabled", "tags",
                                         "owner", "limit", "query", "kind",   "score", "label", "unit",    "start",
                                         "end",   "path",  "mode",  "level",  "url",   "email", "display name", "größe"};
inline constexpr const char* kKeyPatterns[] = {"^x-[a-z]+$", "^[0-9]+$", "^meta_", "^[A-Z][A-Z0-9_]*$"};
// Value patterns within the regex subset, small enough to intersect with a length bound.
inline constexpr const char* kPatterns[] = {"^[a-z]+$",        "^[A-Z]{3}$",           "^[0-9]{4}-[0-9]{2}$",
                                            "^[a-z0-9_-]{3,16}$", "^#[0-9a-fA-F]{6}$", "^(draft|open|closed)$",
                                            "error",           "^\\+?[0-9]{7,15}$",    "^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$",
                                            "^v\\d+(\\.\\d+){0,2}$", "\\.json$",       "^\\w+( \\w+)*$"};
inline constexpr const char* kFormats[] = {"date", "time", "date-time", "uuid", "email", "uri"};
inline constexpr const char* kBoundedFormats[] = {"date", "time", "date-time", "uuid"};
// Pattern pairs whose languages intersect, for allOf branches that each bring one.
inline constexpr const char* kPatternPairs[][2] = {{"^[a-z]+$", "^[a-z0-9_-]{3,16}$"}, {"^[A-Z]{3}$", "^[A-Z]+$"}, {"error", "\\.json$"}};
// Enum and const strings, a few with characters that JSON escapes or that are not ASCII.
inline constexpr const char* kWords[] = {"low",  "medium", "high", "open", "closed", "draft", "asc",       "desc",
                                         "json", "xml",    "red",  "blue", "a/b",    "größe", "say \"hi\"", "tab\there"};
inline constexpr const char* kDefNames[] = {"node", "address", "money", "item", "entry", "range", "tag", "point", "money amount"};

class SchemaGenerator {
 public:
  explicit SchemaGenerator(std::mt19937_64& rng) : rng_(rng) {}

  json::value document(int depth_budget) {
    defs_key_ = chance(20) ? "definitions" : "$defs";
    const int def_count = depth_budget >= 2 ? pick(0, 3) : 0;
    for (int i = 0; i < def_count; ++i) add_def(depth_budget - 1);
    json::object root;
    if (chance(85)) {
      root = object_schema(depth_budget, false);
      json::value& props_value = root["properties"];
      if (!props_value.is_object()) props_value.emplace_object();
      json::object& props = props_value.as_object();
      if (chance(8)) props[unique_name(props)] = json::object{{"anyOf", json::array{json::object{{"$ref", "#"}}, json::object{{"type", "null"}}}}};
      for (const Def& d : defs_) {
        if (!d.used) props[unique_name(props)] = json::object{{"$ref", d.ref}};
      }
    } else {
      json::value v = any(depth_budget);
      if (v.is_object()) root = std::move(v.as_object());
      else root["anyOf"] = json::array{std::move(v), json::object{{"type", "null"}}};
    }
    if (!defs_.empty()) {
      json::object& defs = root[defs_key_].emplace_object();
      for (Def& d : defs_) defs[d.name] = std::move(d.body);
    }
    if (chance(30)) root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
    return root;
  }

 private:
  struct Def {
    std::string name;
    std::string ref;
    json::value body;
    bool mergeable = false;  // a plain object schema an allOf may extend
    bool used = false;
  };

  // ---- randomness ----

  int pick(int lo, int hi) { return lo + static_cast<int>(rng_() % static_cast<uint64_t>(hi - lo + 1)); }
  bool chance(int percent) { return pick(0, 99) < percent; }
  template <size_t N>
  const char* one(const char* const (&pool)[N]) {
    return pool[rng_() % N];
  }

  // A property name not yet in `taken`.
  std::string unique_name(const json::object& taken) {
    std::string name = one(kNames);
    for (int k = 2; taken.contains(name); ++k) name = std::string(one(kNames)) + "_" + std::to_string(k);
    return name;
  }

  void annotate(json::object& o) {
    if (chance(25)) o["description"] = "A generated field.";
    if (chance(5)) o["title"] = "Generated";
  }

  // ---- dispatch ----

  json::value any(int depth) {
    if (depth <= 0 || nodes_left_ <= 0) return leaf();
    --nodes_left_;
    const int r = pick(0, 99);
    if (r < 22) return object_schema(depth - 1, false);
    if (r < 36) return array_schema(depth - 1);
    if (r < 46) return combination(depth - 1);
    if (r < 54 && !defs_.empty()) return ref_to(defs_[rng_() % defs_.size()]);
    return leaf();
  }

  json::value leaf() {
    const int r = pick(0, 99);
    if (r < 35) return string_schema();
    if (r < 50) return number_schema(true);
    if (r < 62) return number_schema(false);
    if (r < 70) return json::object{{"type", chance(20) ? json::value(json::array{"boolean", "null"}) : json::value("boolean")}};
    if (r < 84) return enum_schema();
    if (r < 93) return const_schema();
    if (r < 96) return json::object{{"type", "null"}};
    if (r < 98) return json::value(true);
    return json::object{{"description", "Any JSON value."}};
  }

  json::object ref_to(Def& d) {
    d.used = true;
    json::object o{{"$ref", d.ref}};
    if (chance(15)) o["description"] = "See the definition.";
    return o;
  }

  // ---- $defs ----

  void add_def(int depth) {
    Def d;
    d.name = one(kDefNames);
    for (int k = 2; find_def_named(d.name); ++k) d.name = std::string(one(kDefNames)) + std::to_string(k);
    std::string escaped = d.name;
    if (const size_t space = escaped.find(' '); space != std::string::npos) escaped.replace(space, 1, "%20");
    d.ref = "#/" + defs_key_ + "/" + escaped;
    const int r = pick(0, 99);
    if (r < 30) {
      d.body = chance(50) ? string_schema() : number_schema(chance(50));
    } else if (r < 70) {
      // Bodies start with '{' or '[' so that every $ref inside them comes after some text.
      d.mergeable = chance(60);
      d.body = object_schema(depth, d.mergeable);
    } else {
      d.body = recursive_object(d.ref, depth);
    }
    defs_.push_back(std::move(d));
  }

  const Def* find_def_named(const std::string& name) const {
    for (const Def& d : defs_) {
      if (d.name == name) return &d;
    }
    return nullptr;
  }

  // The properties an object schema declares, following a $ref to one of the definitions.
  const json::object* declared_properties(const json::object& schema) const {
    const json::object* o = &schema;
    if (const json::value* ref = schema.if_contains("$ref")) {
      for (const Def& d : defs_) {
        if (d.ref == ref->as_string()) o = &d.body.as_object();
      }
    }
    const json::value* props = o->if_contains("properties");
    return props ? &props->as_object() : nullptr;
  }

  // An object that refers to itself below one of its properties, never required without a
  // way out, so that finite instances exist.
  json::object recursive_object(const std::string& self, int depth) {
    json::object props;
    props[one(kNames)] = leaf();
    switch (pick(0, 2)) {
      case 0: {
        json::object children{{"type", "array"}, {"items", json::object{{"$ref", self}}}};
        if (chance(40)) children["maxItems"] = pick(1, 8);
        props["children"] = std::move(children);
        break;
      }
      case 1: props["next"] = json::object{{"anyOf", json::array{json::object{{"$ref", self}}, json::object{{"type", "null"}}}}}; break;
      default: props["parent"] = json::object{{"$ref", self}}; break;
    }
    if (depth > 1 && chance(40)) props[unique_name(props)] = any(depth - 1);
    json::object o{{"type", "object"}, {"properties", std::move(props)}};
    json::array required{o.at("properties").as_object().begin()->key()};
    if (o.at("properties").as_object().contains("next")) required.push_back("next");
    o["required"] = std::move(required);
    return o;
  }

  // ---- objects and arrays ----

  // mergeable: no additionalProperties or patternProperties, for an allOf to extend.
  json::object object_schema(int depth, bool mergeable) {
    json::object o;
    if (!chance(5) || mergeable) o["type"] = "object";
    annotate(o);
    json::object props;
    const int n = chance(8) ? 0 : pick(1, std::clamp(depth + 2, 2, 6));
    for (int i = 0; i < n; ++i) {
      json::value sub = any(depth - 1);
      if (sub.is_object() && !sub.as_object().contains("$ref")) annotate(sub.as_object());
      props[unique_name(props)] = std::move(sub);
    }
    json::array required;
    for (const auto& p : props) {
      if (chance(50)) required.push_back(json::value(p.key()));
    }
    if (chance(30)) std::reverse(required.begin(), required.end());  // order of required does not matter
    if (!props.empty() || chance(50)) o["properties"] = std::move(props);
    if (!mergeable) {
      const int r = pick(0, 99);
      if (r < 10) {
        o["additionalProperties"] = false;
      } else if (r < 20) {
        o["additionalProperties"] = true;
      } else if (r < 30) {
        o["additionalProperties"] = leaf();
      }
      const bool extra_allowed = r >= 10 && r < 30;
      if (extra_allowed && chance(20)) required.push_back("extra_key");  // an additional key that must be there
      if (!extra_allowed && chance(12)) {
        const json::value shared = leaf();
        json::object patterns;
        patterns[one(kKeyPatterns)] = shared;
        if (chance(40)) patterns[one(kKeyPatterns)] = shared;
        o["patternProperties"] = std::move(patterns);
      }
    }
    if (!required.empty()) o["required"] = std::move(required);
    return o;
  }

  json::object array_schema(int depth) {
    json::object o{{"type", "array"}};
    annotate(o);
    int prefix = 0;
    bool closed = false;
    const int r = pick(0, 99);
    if (r < 65) {
      o["items"] = any(depth - 1);
    } else if (r < 90) {
      prefix = pick(1, 3);
      json::array list;
      for (int i = 0; i < prefix; ++i) list.push_back(any(depth - 1));
      o["prefixItems"] = std::move(list);
      const int tail = pick(0, 9);
      closed = tail < 5;
      if (closed) o["items"] = false;
      else if (tail < 8) o["items"] = leaf();
    }
    if (chance(40)) {
      const int min = closed ? pick(0, prefix) : pick(0, 3);
      if (chance(70)) o["minItems"] = min;
      if (chance(70)) o["maxItems"] = min + pick(0, 4);
    }
    return o;
  }

  // ---- allOf / anyOf / oneOf ----

  json::value combination(int depth) {
    const int r = pick(0, 99);
    if (r < 55) {
      json::array branches;
      for (int i = pick(2, 3); i > 0; --i) branches.push_back(any(depth - 1));
      return json::object{{r < 35 ? "anyOf" : "oneOf", std::move(branches)}};
    }
    return all_of(depth);
  }

  // allOf in one of the shapes that merge: an object extended by more properties (or by a
  // mergeable definition), an anyOf of required sets, numeric bounds split across branches,
  // string constraints split across branches (compiled as an intersection).
  json::value all_of(int depth) {
    json::array branches;
    switch (pick(0, 5)) {
      case 0:
      case 1: branches = extended_object(depth); break;
      case 2: branches = object_requiring_either(); break;
      case 3: {
        const int lo = pick(-100, 100);
        branches.push_back(json::object{{"type", "integer"}, {chance(50) ? "minimum" : "exclusiveMinimum", lo}});
        branches.push_back(json::object{{chance(50) ? "maximum" : "exclusiveMaximum", lo + pick(2, 200)}});
        break;
      }
      case 4: {
        const double lo = pick(-400, 400) / 4.0;
        branches.push_back(json::object{{"type", "number"}, {"exclusiveMinimum", lo}});
        branches.push_back(json::object{{"maximum", lo + pick(1, 400) / 8.0}});
        break;
      }
      default: branches = split_string(); break;
    }
    return json::object{{"allOf", std::move(branches)}};
  }

  // [base object or $ref to a mergeable definition, more properties (some required)].
  json::array extended_object(int depth) {
    std::vector<Def*> bases;
    for (Def& d : defs_) {
      if (d.mergeable) bases.push_back(&d);
    }
    json::object base = bases.empty() || chance(50) ? object_schema(depth, true) : ref_to(*bases[rng_() % bases.size()]);
    const json::object* base_props = declared_properties(base);
    json::object taken = base_props ? *base_props : json::object{};
    json::object more;
    json::array required;
    for (int i = pick(1, 3); i > 0; --i) {
      const std::string name = unique_name(taken);
      taken[name] = nullptr;
      more[name] = leaf();
      if (chance(50)) required.push_back(json::value(name));
    }
    json::object extension{{"properties", std::move(more)}};
    if (!required.empty()) extension["required"] = std::move(required);
    return {std::move(base), std::move(extension)};
  }

  // [an object of two optional properties, anyOf [required the first, required the second]].
  json::array object_requiring_either() {
    json::object props;
    const std::string a = unique_name(props);
    props[a] = leaf();
    const std::string b = unique_name(props);
    props[b] = leaf();
    json::array either{json::object{{"required", json::array{json::value(a)}}}, json::object{{"required", json::array{json::value(b)}}}};
    return {json::object{{"type", "object"}, {"properties", std::move(props)}}, json::object{{"anyOf", std::move(either)}}};
  }

  // [a string with a pattern or a minimum length, a maximum length and maybe a second pattern].
  json::array split_string() {
    json::object first{{"type", "string"}};
    json::object second{{"maxLength", pick(12, 40)}};
    if (chance(40)) {
      const auto& pair = kPatternPairs[rng_() % std::size(kPatternPairs)];
      first["pattern"] = pair[0];
      second["pattern"] = pair[1];
    } else if (chance(50)) {
      first["pattern"] = one(kPatterns);
    } else {
      first["minLength"] = pick(1, 4);
    }
    return {std::move(first), std::move(second)};
  }

  // ---- scalars ----

  json::object string_schema() {
    json::object o;
    o["type"] = chance(15) ? json::value(json::array{"string", "null"}) : json::value("string");
    const int r = pick(0, 99);
    if (r < 35) return o;
    if (r < 52) {
      const int min = pick(0, 5);
      if (chance(70)) o["minLength"] = min;
      if (chance(70) || !o.contains("minLength")) o["maxLength"] = min + pick(0, 60);
    } else if (r < 68) {
      o["pattern"] = one(kPatterns);
    } else if (r < 84) {
      o["format"] = one(kFormats);
    } else if (r < 94) {
      o["pattern"] = one(kPatterns);
      if (chance(60)) o["minLength"] = pick(1, 3);
      o["maxLength"] = pick(8, 40);
    } else {
      // Not uri or email: their automata times a length bound pass the intersection's limit.
      const char* format = one(kBoundedFormats);
      o["format"] = format;
      o["maxLength"] = pick(std::string_view(format) == "uuid" ? 36 : 20, 64);  // room for one value
    }
    return o;
  }

  json::object number_schema(bool integer) {
    json::object o;
    const char* type = integer ? "integer" : "number";
    o["type"] = chance(15) ? json::value(json::array{type, "null"}) : json::value(type);
    const bool quarters = !integer && chance(50);
    auto bound = [quarters](int v) { return quarters ? json::value(v / 4.0) : json::value(v); };
    const int lo = pick(-1000, 1000);
    const int hi = lo + pick(8, 2000);  // integer bounds and quarters: a gap of 2 always holds an integer
    switch (pick(0, 8)) {
      case 0: break;
      case 1: o["minimum"] = bound(lo); break;
      case 2: o["maximum"] = bound(hi); break;
      case 3: o["minimum"] = bound(lo); o["maximum"] = bound(hi); break;
      case 4: o["exclusiveMinimum"] = bound(lo); break;
      case 5: o["exclusiveMaximum"] = bound(hi); break;
      case 6: o["exclusiveMinimum"] = bound(lo); o["exclusiveMaximum"] = bound(hi); break;
      case 7: o["minimum"] = bound(lo); o["exclusiveMaximum"] = bound(hi); break;
      default: o["minimum"] = 0; o["maximum"] = integer ? json::value(1) : json::value(0.5); break;
    }
    return o;
  }

  json::object enum_schema() {
    json::array values;
    const int kind = pick(0, 2);  // strings, integers, mixed
    for (int i = pick(1, 5); i > 0; --i) {
      json::value v;
      if (kind == 0 || (kind == 2 && chance(40))) v = one(kWords);
      else if (kind == 1 || chance(50)) v = pick(-50, 50);
      else v = chance(50) ? json::value(nullptr) : json::value(json::array{1, "a"});
      if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(std::move(v));
    }
    json::object o{{"enum", std::move(values)}};
    if (kind == 0 && chance(60)) o["type"] = "string";
    if (kind == 1 && chance(60)) o["type"] = "integer";
    return o;
  }

  json::object const_schema() {
    switch (pick(0, 4)) {
      case 0: return {{"const", one(kWords)}};
      case 1: return {{"const", pick(-5, 500)}};
      case 2: return {{"const", true}};
      case 3: return {{"type", "string"}, {"const", one(kWords)}};
      default: return {{"const", json::object{{"version", 2}, {"tags", json::array{"a", "b"}}}}};
    }
  }

  std::mt19937_64& rng_;
  std::string defs_key_ = "$defs";
  std::vector<Def> defs_;
  int nodes_left_ = 40;  // bounds the size of one document
};

}  // namespace schema_gen_detail

// A random schema document; depth_budget bounds its nesting. Meant to compile with the default
// JsonSchemaOptions; whether it does is for the caller to check.
inline boost::json::value random_schema(std::mt19937_64& rng, int depth_budget) {
  return schema_gen_detail::SchemaGenerator(rng).document(depth_budget);
}

// Whether schema compiles with the default options.
inline bool schema_compiles(const boost::json::value& schema) {
  try {
    compile_json_schema(schema);
    return true;
  } catch (const GrammarError&) {
    return false;
  }
}

// n schemas that compile, the same for the same seed: each from its own seed drawn from one
// generator, of depth 2 to 5; seeds the compiler refuses are skipped (at most 10 n + 100 tries,
// so the result is shorter than n only when the generator is broken).
inline std::vector<boost::json::value> generated_schemas(size_t n, uint64_t seed) {
  std::mt19937_64 seeds(seed);
  std::vector<boost::json::value> out;
  for (size_t tries = 0; out.size() < n && tries < 10 * n + 100; ++tries) {
    std::mt19937_64 rng(seeds());
    const int depth = 2 + static_cast<int>(rng() % 4);
    boost::json::value schema = random_schema(rng, depth);
    if (schema_compiles(schema)) out.push_back(std::move(schema));
  }
  return out;
}

}  // namespace ragent::grammar::testing
