// JSON Schema (draft 2020-12 vocabulary, with draft-7 `definitions`) into the grammar IR.
//
// Supported keywords; every other keyword is a SchemaError naming it and its pointer:
//   type (a name or a list; integer is a subset of number), enum, const (any JSON values; the
//     other keywords beside them filter the listed values: type, numeric bounds, lengths,
//     pattern, format, minItems/maxItems, required; structural ones beside enum are refused;
//     strict_objects does not apply to listed values)
//   properties, required, additionalProperties (false / true / a schema; additional keys are
//     "any string but the declared names", built exactly), patternProperties (keys by
//     regex_search; additionalProperties must then be false, the patterns must share one
//     schema, and no declared name may match a pattern: anything else needs the complement
//     of a regex, or schemas merged per subset of matching patterns, neither of which is built)
//   items (a schema or false), prefixItems, minItems, maxItems (counts past 2^31-1: a minimum
//     is refused, a maximum means no maximum)
//   minLength, maxLength (code points), pattern, format (json_schema_string.cpp); several of
//     them on one string combine by automaton intersection (json_schema_intersect.cpp), refused
//     past 20000 product states
//   minimum, maximum, exclusiveMinimum, exclusiveMaximum (exact, json_schema_number.cpp)
//   anyOf, oneOf (as anyOf), allOf (merged, json_schema_merge.cpp)
//   $ref into this document ("#" + JSON pointer, percent-decoded; each target is one rule, so
//     recursion works; a cycle of $refs that consumes no input is refused), $defs, definitions
// Annotations are ignored: title, description, $comment, examples, default, $schema, $id,
// deprecated, readOnly, writeOnly.
#include "engine/grammar/json_schema.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/grammar/json_schema_detail.hpp"
#include "engine/grammar/regex.hpp"

namespace ragent::grammar {

namespace {

using namespace schema_detail;

constexpr size_t kMaxCompiledSchemas = 20000;

enum TypeBits : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,  // every number, integers included
  kInteger = 32,
  kString = 64,
  kAllTypes = kNull | kBoolean | kObject | kArray | kNumber | kString,
};

unsigned allowed_types(const json::object& o) {
  const json::value* t = o.if_contains("type");
  if (!t) return kAllTypes;
  unsigned bits = 0;
  auto add = [&](const json::value& n) {
    const json::string& s = n.as_string();
    bits |= s == "null" ? kNull : s == "boolean" ? kBoolean : s == "object" ? kObject : s == "array" ? kArray
          : s == "number" ? kNumber : s == "integer" ? kInteger : kString;
  };
  if (t->is_string()) {
    add(*t);
  } else {
    for (const json::value& n : t->as_array()) add(n);
  }
  return bits;
}

bool has_type(const json::value& v, unsigned types) {
  switch (v.kind()) {
    case json::kind::null: return types & kNull;
    case json::kind::bool_: return types & kBoolean;
    case json::kind::object: return types & kObject;
    case json::kind::array: return types & kArray;
    case json::kind::string: return types & kString;
    default: break;
  }
  if (types & kNumber) return true;
  return (types & kInteger) && to_decimal(v).frac_digits.empty();
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

class Compiler {
 public:
  Compiler(Grammar& g, const json::value& root, const JsonSchemaOptions& options, std::string_view name)
      : g_(g), root_(root), options_(options), name_(name), encoder_(g) {}

  RuleId compile_root() {
    check_schema(root_, "");
    const RuleId rule = target_rule("", root_, name_);
    check_ref_cycles();
    return rule;
  }

 private:
  // ---- dispatch ----

  ExprId compile(const json::value& schema, const std::string& ptr) {
    // Merged alternatives compile their sub-schemas once each, so nesting can multiply the
    // work; a bound keeps a hostile schema from running for ever.
    if (++compiled_ > kMaxCompiledSchemas) fail("", ptr, "the schema expands to more than 20000 sub-schemas (allOf/anyOf combinations)");
    if (schema.is_bool()) return schema.as_bool() ? any_value() : g_.nothing();
    if (!schema.is_object()) fail("", ptr, "a schema must be an object or a boolean");
    const json::object& o = schema.as_object();
    const bool ref = o.contains("$ref"), all = o.contains("allOf"), any = o.contains("anyOf"), one = o.contains("oneOf");
    size_t others = 0;
    for (const auto& [k, v] : o) {
      if (is_constraint(k) && k != "$ref" && k != "allOf" && k != "anyOf" && k != "oneOf") ++others;
    }
    if (!ref && !all && !any && !one) return others == 0 ? any_value() : compile_plain(o, ptr);
    if (ref && !all && !any && !one && others == 0) return ref_expr(view(o.at("$ref").as_string()), ptr);
    if (!ref && !all && any != one && others == 0) {
      const char* key = any ? "anyOf" : "oneOf";
      const json::array& list = o.at(key).as_array();
      std::vector<ExprId> alts;
      for (size_t i = 0; i < list.size(); ++i) alts.push_back(compile(list[i], pointer_append(pointer_append(ptr, key), std::to_string(i))));
      return g_.choice(std::move(alts));
    }
    std::vector<ExprId> alts;
    for (const json::object& alt : merge_schema(root_, o, ptr)) alts.push_back(compile_plain(alt, ptr));
    return g_.choice(std::move(alts));
  }

  // A value nested in an object or array: text has been consumed before it, so a $ref cycle
  // through here is not left recursion.
  ExprId compile_nested(const json::value& schema, const std::string& ptr) {
    std::optional<std::string> saved = std::move(owner_);
    owner_.reset();
    const ExprId e = compile(schema, ptr);
    owner_ = std::move(saved);
    return e;
  }

  // A schema object without $ref / allOf / anyOf / oneOf at its top.
  ExprId compile_plain(const json::object& o, const std::string& ptr) {
    const unsigned types = allowed_types(o);
    if (o.contains("enum") || o.contains("const")) return enum_expr(o, ptr, types);
    std::vector<ExprId> alts;
    if (types & kNull) alts.push_back(g_.literal("null"));
    if (types & kBoolean) alts.push_back(g_.choice({g_.literal("true"), g_.literal("false")}));
    if (types & kObject) alts.push_back(object_expr(o, ptr));
    if (types & kArray) alts.push_back(array_expr(o, ptr));
    if (types & kString) alts.push_back(string_expr(o, ptr));
    if (types & (kNumber | kInteger)) alts.push_back(number_expr(o, (types & kNumber) == 0));
    return g_.choice(std::move(alts));
  }

  // ---- $ref ----

  RuleId target_rule(const std::string& pointer, const json::value& target, const std::string& rule_name) {
    if (auto it = ref_rules_.find(pointer); it != ref_rules_.end()) return it->second;
    const RuleId rule = g_.declare_rule(rule_name);
    ref_rules_.emplace(pointer, rule);
    std::optional<std::string> saved = std::move(owner_);
    owner_ = pointer;
    const ExprId body = compile(target, pointer);
    owner_ = std::move(saved);
    g_.define_rule(rule, body);
    return rule;
  }

  ExprId ref_expr(std::string_view ref, const std::string& ptr) {
    std::string pointer;
    const json::value* target = resolve_pointer(root_, ref, &pointer);
    if (!target) {
      std::string what = "unresolvable $ref '";
      what += ref;
      what += "' (only '#' JSON pointers into this document)";
      fail("$ref", ptr, what);
    }
    if (owner_) ref_edges_[*owner_].push_back({pointer, ptr});
    if (!ref_rules_.count(pointer)) check_schema(*target, pointer);
    std::string rule_name = name_;
    rule_name += '-';
    rule_name += pointer.empty() ? std::string("root") : pointer.substr(pointer.rfind('/') + 1);
    return g_.ref(target_rule(pointer, *target, rule_name));
  }

  // A cycle of $refs met before any text is consumed would be left recursion.
  void check_ref_cycles() {
    std::map<std::string, int> state;  // 1 on the stack, 2 done
    std::function<void(const std::string&)> visit = [&](const std::string& at) {
      state[at] = 1;
      for (const RefEdge& e : ref_edges_[at]) {
        if (state[e.to] == 1) fail("$ref", e.schema_ptr, "a cycle of $refs that consumes no input (left recursion)");
        if (state[e.to] == 0) visit(e.to);
      }
      state[at] = 2;
    };
    std::vector<std::string> owners;
    for (const auto& [from, edges] : ref_edges_) owners.push_back(from);
    for (const std::string& from : owners) {
      if (state[from] == 0) visit(from);
    }
  }

  // ---- enum / const ----

  ExprId enum_expr(const json::object& o, const std::string& ptr, unsigned types) {
    for (const char* k : {"properties", "patternProperties", "additionalProperties", "items", "prefixItems"}) {
      if (o.contains(k)) {
        std::string what = "'";
        what += k;
        what += "' beside 'enum'/'const' is unsupported (list only the allowed values)";
        fail(k, ptr, what);
      }
    }
    std::vector<json::value> values;
    if (const json::value* c = o.if_contains("const")) {
      values.push_back(*c);
    } else {
      for (const json::value& v : o.at("enum").as_array()) values.push_back(v);
    }
    if (const json::value* e = o.if_contains("enum"); e && o.contains("const")) {
      bool listed = false;
      for (const json::value& v : e->as_array()) listed = listed || v == values[0];
      if (!listed) values.clear();
    }
    std::vector<ExprId> alts;
    for (const json::value& v : values) {
      if (satisfies_scalar_keywords(o, v, types, ptr)) alts.push_back(literal_value(v));
    }
    if (alts.empty()) fail(o.contains("const") ? "const" : "enum", ptr, "no listed value satisfies the other keywords");
    return g_.choice(std::move(alts));
  }

  bool satisfies_scalar_keywords(const json::object& o, const json::value& v, unsigned types, const std::string& ptr) {
    if (!has_type(v, types)) return false;
    if (v.is_number() && !in_bounds(number_bounds(o), to_decimal(v))) return false;
    if (v.is_string()) {
      const std::string_view s = view(v.as_string());
      const size_t n = code_point_count(s);
      if (const json::value* m = o.if_contains("minLength"); m && n < static_cast<size_t>(count_value(*m, false))) return false;
      if (const json::value* m = o.if_contains("maxLength")) {
        const int32_t max = count_value(*m, true);
        if (max != Grammar::kUnbounded && n > static_cast<size_t>(max)) return false;
      }
      for (ExprId language : string_languages(o, ptr)) {
        if (!expr_matches(g_, language, s)) return false;
      }
    }
    if (v.is_array()) {
      const size_t n = v.as_array().size();
      if (const json::value* m = o.if_contains("minItems"); m && n < static_cast<size_t>(count_value(*m, false))) return false;
      if (const json::value* m = o.if_contains("maxItems")) {
        const int32_t max = count_value(*m, true);
        if (max != Grammar::kUnbounded && n > static_cast<size_t>(max)) return false;
      }
    }
    if (v.is_object()) {
      if (const json::value* r = o.if_contains("required")) {
        for (const json::value& name : r->as_array()) {
          if (!v.as_object().contains(view(name.as_string()))) return false;
        }
      }
    }
    return true;
  }

  // A listed value, written in the canonical form (numbers also as boost writes them).
  ExprId literal_value(const json::value& v) {
    switch (v.kind()) {
      case json::kind::null: return g_.literal("null");
      case json::kind::bool_: return g_.literal(v.as_bool() ? "true" : "false");
      case json::kind::int64:
      case json::kind::uint64: return g_.literal(json::serialize(v));
      case json::kind::double_:
        if (!std::isfinite(v.get_double())) return g_.literal(json::serialize(v));
        return g_.choice({g_.literal(to_string(to_decimal(v))), g_.literal(json::serialize(v))});
      case json::kind::string: return quoted(encoder_.encode_text(view(v.as_string())));
      case json::kind::array: {
        const json::array& a = v.as_array();
        std::vector<ExprId> parts{g_.literal("["), ws()};
        for (size_t i = 0; i < a.size(); ++i) {
          if (i > 0) parts.push_back(separator());
          parts.push_back(literal_value(a[i]));
        }
        if (!a.empty()) parts.push_back(ws());
        parts.push_back(g_.literal("]"));
        return g_.sequence(std::move(parts));
      }
      case json::kind::object: {
        std::vector<ExprId> parts{g_.literal("{"), ws()};
        bool first = true;
        for (const auto& [key, value] : v.as_object()) {
          if (!first) parts.push_back(separator());
          first = false;
          parts.push_back(quoted(encoder_.encode_text(key)));
          parts.push_back(colon());
          parts.push_back(literal_value(value));
        }
        if (!first) parts.push_back(ws());
        parts.push_back(g_.literal("}"));
        return g_.sequence(std::move(parts));
      }
    }
    return g_.nothing();
  }

  // ---- objects ----

  struct Property {
    std::string name;
    const json::value* schema;
    std::string ptr;
    bool required;
  };

  ExprId object_expr(const json::object& o, const std::string& ptr);
  ExprId array_expr(const json::object& o, const std::string& ptr);

  // ---- strings and numbers ----

  ExprId pattern_expr(std::string_view pattern, const std::string& ptr) {
    try {
      return regex_search(g_, pattern);
    } catch (const RegexError& e) {
      std::string what = "bad pattern: ";
      what += e.what();
      fail("pattern", ptr, what);
    }
  }

  // The languages of format and pattern: one each as written, several where allOf merged
  // differing ones (kept as arrays in merged schemas, json_schema_merge.cpp).
  std::vector<ExprId> string_languages(const json::object& o, const std::string& ptr) {
    std::vector<ExprId> out;
    for (const char* key : {"format", "pattern"}) {
      const json::value* v = o.if_contains(key);
      if (!v) continue;
      const json::array values = v->is_array() ? v->as_array() : json::array{*v};
      for (const json::value& x : values) {
        const std::string_view text = view(x.as_string());
        out.push_back(key[0] == 'f' ? format_expr(g_, text) : pattern_expr(text, ptr));
      }
    }
    return out;
  }

  ExprId string_expr(const json::object& o, const std::string& ptr) {
    const json::value* min = o.if_contains("minLength");
    const json::value* max = o.if_contains("maxLength");
    const std::vector<ExprId> languages = string_languages(o, ptr);
    if (languages.size() == 1 && !min && !max) return quoted(encoder_.encode(languages[0]));
    if (!languages.empty()) {
      // Several constraints on one string: their intersection, built as an automaton.
      const char* keyword = max ? "maxLength" : min ? "minLength" : o.contains("pattern") ? "pattern" : "format";
      try {
        std::string rule_name = name_;
        rule_name += "-str";
        return quoted(intersect_strings(g_, languages, min ? count_value(*min, false) : 0, max ? count_value(*max, true) : Grammar::kUnbounded,
                                        rule_name, [this](const std::vector<CharRange>& r) { return encoder_.encode_chars(r); }));
      } catch (const SchemaError&) {
        throw;
      } catch (const GrammarError& e) {
        std::string what = "cannot combine pattern / format / length here: ";
        what += e.what();
        fail(keyword, ptr, what);
      }
    }
    if (!min && !max) return g_.ref(string_rule());
    return quoted(g_.repeat(encoder_.any_char(), min ? count_value(*min, false) : 0, max ? count_value(*max, true) : Grammar::kUnbounded));
  }

  ExprId number_expr(const json::object& o, bool integers_only) {
    NumberBounds b = number_bounds(o);
    if (integers_only && options_.numbers_fit_64_bits) {
      if (!b.lower && !b.upper) return int64_any();
      clamp_to_64_bits(b);
    }
    if (!bounds_satisfiable(b, integers_only)) return g_.nothing();
    if (integers_only) return integer_expr(g_, b);
    if (!b.lower && !b.upper) return options_.numbers_fit_64_bits ? number64() : json_number_expr(g_);
    if (options_.numbers_fit_64_bits) {
      clamp_to_64_bits(b);  // a plain decimal of more integer digits would read as a big integer
      if (!bounds_satisfiable(b, false)) return g_.nothing();
    }
    return decimal_expr(g_, b);
  }

  // Every 64-bit integer, built once.
  ExprId int64_any() {
    if (int64_any_ < 0) {
      NumberBounds b;
      clamp_to_64_bits(b);
      int64_any_ = share(integer_expr(g_, b), "int64");
    }
    return int64_any_;
  }

  // An unbounded number a 64-bit parser reads back: a 64-bit integer, or a double of at most
  // 18 integer digits (which never reads as an integer past 64 bits).
  ExprId number64() {
    if (number64_ < 0) number64_ = share(g_.choice({int64_any(), json_number_expr(g_, 18, 2)}), "number");
    return number64_;
  }

  static void clamp_to_64_bits(NumberBounds& b) {
    const Bound lowest{to_decimal(json::value(std::numeric_limits<int64_t>::min())), false};
    const Bound highest{to_decimal(json::value(std::numeric_limits<uint64_t>::max())), false};
    if (!b.lower || compare(b.lower->value, lowest.value) < 0) b.lower = lowest;
    if (!b.upper || compare(b.upper->value, highest.value) > 0) b.upper = highest;
  }

  // ---- shared pieces ----

  ExprId quoted(ExprId body) { return g_.sequence({g_.literal("\""), body, g_.literal("\"")}); }

  ExprId int64_any_ = -1;
  ExprId number64_ = -1;

  ExprId ws() {
    if (ws_ < 0) ws_ = g_.repeat(g_.chars({{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}}), 0, options_.max_whitespace);
    return ws_;
  }
  ExprId separator() { return g_.sequence({ws(), g_.literal(","), ws()}); }
  ExprId colon() { return g_.sequence({ws(), g_.literal(":"), ws()}); }

  // e itself where it is small, else a rule: an expression used twice is printed twice by
  // to_gbnf(), so shared pieces become rules to keep the output linear.
  ExprId share(ExprId e, std::string_view suffix) {
    const ExprKind k = g_.expr(e).kind;
    if (k == ExprKind::kEmpty || k == ExprKind::kNothing || k == ExprKind::kLiteral || k == ExprKind::kChars || k == ExprKind::kRule) return e;
    std::string name = name_;
    name += '-';
    name += suffix;
    const RuleId r = g_.declare_rule(name);
    g_.define_rule(r, e);
    return g_.ref(r);
  }

  RuleId string_rule() {
    if (string_rule_ < 0) {
      string_rule_ = g_.declare_rule(name_ + "-string");
      g_.define_rule(string_rule_, quoted(g_.star(encoder_.any_char())));
    }
    return string_rule_;
  }

  // Any JSON value, whitespace bounded as everywhere else.
  ExprId any_value() {
    if (any_rule_ < 0) {
      any_rule_ = g_.declare_rule(name_ + "-any");
      const ExprId any = g_.ref(any_rule_);
      const ExprId member = g_.sequence({g_.ref(string_rule()), colon(), any});
      const ExprId object = g_.sequence({g_.literal("{"), ws(),
                                         g_.optional(g_.sequence({member, g_.star(g_.sequence({separator(), member})), ws()})), g_.literal("}")});
      const ExprId array = g_.sequence({g_.literal("["), ws(),
                                        g_.optional(g_.sequence({any, g_.star(g_.sequence({separator(), any})), ws()})), g_.literal("]")});
      const ExprId number = options_.numbers_fit_64_bits ? number64() : json_number_expr(g_);
      g_.define_rule(any_rule_, g_.choice({object, array, g_.ref(string_rule()), number, g_.literal("true"),
                                           g_.literal("false"), g_.literal("null")}));
    }
    return g_.ref(any_rule_);
  }

  struct RefEdge {
    std::string to;
    std::string schema_ptr;
  };

  Grammar& g_;
  const json::value& root_;
  JsonSchemaOptions options_;
  std::string name_;
  StringEncoder encoder_;
  std::map<std::string, RuleId> ref_rules_;
  std::optional<std::string> owner_;  // the $ref target whose value starts here, if any
  std::map<std::string, std::vector<RefEdge>> ref_edges_;
  size_t compiled_ = 0;
  RuleId string_rule_ = -1;
  RuleId any_rule_ = -1;
  ExprId ws_ = -1;
};

// Declared properties in order, each optional one skippable, then additional keys. With
// B_i = "members from property i on, at least one, none written yet" and A_i = "members from
// property i on after one was written (each with its comma)":
//   B_i = kv_i A_i+1 (required)  |  kv_i A_i+1 | B_i+1 (optional);  B_n = extra A_n
//   A_i = , kv_i A_i+1 (required) | (, kv_i)? A_i+1 (optional);     A_n = (, extra)*
// Each B and A refers to the next ones once, except that A_i+1 is shared by A_i and B_i: it
// becomes a rule then, so the grammar stays linear in the number of properties.
ExprId Compiler::object_expr(const json::object& o, const std::string& ptr) {
  std::set<std::string> required;
  std::vector<std::string> required_order;
  if (const json::value* r = o.if_contains("required")) {
    for (const json::value& name : r->as_array()) {
      if (required.insert(std::string(view(name.as_string()))).second) required_order.emplace_back(view(name.as_string()));
    }
  }
  std::vector<Property> props;
  std::vector<std::string> declared;
  if (const json::value* p = o.if_contains("properties")) {
    const std::string props_ptr = pointer_append(ptr, "properties");
    for (const auto& [name, sub] : p->as_object()) {
      const std::string key(name);
      props.push_back({key, &sub, pointer_append(props_ptr, key), required.count(key) > 0});
      declared.push_back(key);
    }
  }
  const json::value default_additional(!options_.strict_objects);
  const json::value* additional = o.if_contains("additionalProperties");
  const std::string additional_ptr = pointer_append(ptr, "additionalProperties");
  if (!additional) additional = &default_additional;
  const bool additional_allowed = !(additional->is_bool() && !additional->as_bool());

  // patternProperties: keys by regex, exact only where no key can fall under two rules.
  std::vector<ExprId> pattern_keys;
  const json::value* pattern_schema = nullptr;
  std::string pattern_schema_ptr;
  if (const json::value* pp = o.if_contains("patternProperties"); pp && !pp->as_object().empty()) {
    if (additional_allowed) {
      fail(o.contains("additionalProperties") ? "additionalProperties" : "patternProperties", ptr,
           "patternProperties beside additionalProperties other than false is unsupported (the other keys would need the "
           "complement of the patterns)");
    }
    const std::string patterns_ptr = pointer_append(ptr, "patternProperties");
    for (const auto& [pattern, sub] : pp->as_object()) {
      const std::string here = pointer_append(patterns_ptr, pattern);
      if (pattern_schema && *pattern_schema != sub) {
        fail("patternProperties", ptr, "patterns with different schemas are unsupported (a key matching several patterns "
                                       "must satisfy all of them, which needs regex intersection)");
      }
      if (!pattern_schema) {
        pattern_schema = &sub;
        pattern_schema_ptr = here;
      }
      ExprId key = -1;
      try {
        key = regex_search(g_, pattern);
      } catch (const RegexError& e) {
        std::string message = "schema: bad pattern: ";
        message += e.what();
        message += " at ";
        message += here;
        throw SchemaError("patternProperties", here, message);
      }
      for (const std::vector<std::string>* names : {&declared, &required_order}) {
        for (const std::string& name : *names) {
          if (!expr_matches(g_, key, name)) continue;
          std::string what = "property '";
          what += name;
          what += "' also matches pattern '";
          what += std::string_view(pattern);
          what += "', which is unsupported (the pattern's keys would need it removed: regex difference)";
          fail("patternProperties", ptr, what);
        }
      }
      pattern_keys.push_back(key);
    }
  }
  // Required names without a declaration are additional keys that must be present.
  for (const std::string& name : required_order) {
    if (std::find(declared.begin(), declared.end(), name) != declared.end()) continue;
    if (!additional_allowed) {
      std::string what = "required property '";
      what += name;
      what += "' is not in 'properties' and additional properties are not allowed";
      if (!o.contains("additionalProperties")) what += " (strict_objects)";
      fail("required", ptr, what);
    }
    props.push_back({name, additional, additional_ptr, true});
    declared.push_back(name);
  }

  std::vector<ExprId> kv;
  for (const Property& p : props) {
    kv.push_back(g_.sequence({quoted(encoder_.encode_text(p.name)), colon(), compile_nested(*p.schema, p.ptr)}));
  }
  std::vector<ExprId> extra_alts;
  if (additional_allowed) {
    const ExprId key = quoted(encoder_.encode(any_string_except(g_, declared)));
    extra_alts.push_back(g_.sequence({key, colon(), compile_nested(*additional, additional_ptr)}));
  }
  if (pattern_schema) {
    const ExprId key = quoted(encoder_.encode(g_.choice(pattern_keys)));
    extra_alts.push_back(g_.sequence({key, colon(), compile_nested(*pattern_schema, pattern_schema_ptr)}));
  }
  const ExprId extra = share(g_.choice(std::move(extra_alts)), "extra");

  const size_t n = props.size();
  std::vector<int> a_uses(n + 1, 0);
  std::vector<bool> b_used(n + 1, false);
  b_used[0] = true;
  for (size_t i = 0; i < n; ++i) {
    if (a_uses[i] > 0) ++a_uses[i + 1];
    if (b_used[i]) {
      ++a_uses[i + 1];
      if (!props[i].required) b_used[i + 1] = true;
    }
  }
  std::vector<ExprId> a(n + 1), b(n + 1);
  a[n] = g_.star(g_.sequence({separator(), extra}));
  if (a_uses[n] > 1) a[n] = share(a[n], "rest");
  b[n] = g_.sequence({extra, a[n]});
  bool any_required = false;
  for (size_t i = n; i-- > 0;) {
    any_required = any_required || props[i].required;
    const ExprId member = g_.sequence({separator(), kv[i]});
    a[i] = g_.sequence({props[i].required ? member : g_.optional(member), a[i + 1]});
    if (a_uses[i] > 1) a[i] = share(a[i], "rest");
    const ExprId here = g_.sequence({kv[i], a[i + 1]});
    b[i] = props[i].required ? here : g_.choice({here, b[i + 1]});
  }
  const ExprId members = g_.sequence({b[0], ws()});
  return g_.sequence({g_.literal("{"), ws(), any_required ? members : g_.optional(members), g_.literal("}")});
}

// prefixItems p_0..p_k-1 then items, between minItems and maxItems elements. Elements past the
// minimum are optional, nested so that the grammar stays linear: p_0 (, p_1 (, p_2 tail)?)?.
ExprId Compiler::array_expr(const json::object& o, const std::string& ptr) {
  const int32_t min = o.contains("minItems") ? count_value(o.at("minItems"), false) : 0;
  int32_t max = o.contains("maxItems") ? count_value(o.at("maxItems"), true) : Grammar::kUnbounded;
  std::vector<ExprId> prefix;
  if (const json::value* p = o.if_contains("prefixItems")) {
    const std::string prefix_ptr = pointer_append(ptr, "prefixItems");
    const json::array& list = p->as_array();
    for (size_t i = 0; i < list.size(); ++i) prefix.push_back(compile_nested(list[i], pointer_append(prefix_ptr, std::to_string(i))));
  }
  const auto k = static_cast<int32_t>(prefix.size());
  const json::value* items = o.if_contains("items");
  ExprId item = g_.nothing();
  if (items && items->is_bool() && !items->as_bool()) {
    if (max == Grammar::kUnbounded || max > k) max = k;
    if (min > max) fail("minItems", ptr, "'minItems' is more than the prefixItems that 'items': false allows");
  } else {
    item = share(items ? compile_nested(*items, pointer_append(ptr, "items")) : any_value(), "item");
  }
  if (max == 0) return g_.sequence({g_.literal("["), ws(), g_.literal("]")});
  const ExprId next_item = g_.sequence({separator(), item});
  ExprId elements;
  if (k > 0) {
    ExprId rest = g_.repeat(next_item, std::max(0, min - k), max == Grammar::kUnbounded ? Grammar::kUnbounded : std::max(0, max - k));
    for (int32_t i = k - 1; i >= 1; --i) {
      if (max != Grammar::kUnbounded && i >= max) {
        rest = g_.empty();
        continue;
      }
      const ExprId here = g_.sequence({separator(), prefix[static_cast<size_t>(i)], rest});
      rest = i < min ? here : g_.optional(here);
    }
    elements = g_.sequence({prefix[0], rest});
  } else {
    elements = g_.sequence({item, g_.repeat(next_item, std::max(0, min - 1), max == Grammar::kUnbounded ? Grammar::kUnbounded : max - 1)});
  }
  const ExprId content = g_.sequence({elements, ws()});
  return g_.sequence({g_.literal("["), ws(), min == 0 ? g_.optional(content) : content, g_.literal("]")});
}

}  // namespace

RuleId add_json_schema(Grammar& g, const boost::json::value& schema, const JsonSchemaOptions& options, std::string_view name) {
  if (options.max_whitespace < 0) throw GrammarError("schema: max_whitespace must not be negative");
  return Compiler(g, schema, options, name).compile_root();
}

Grammar compile_json_schema(const boost::json::value& schema, const JsonSchemaOptions& options) {
  Grammar g;
  g.set_root(add_json_schema(g, schema, options));
  g.validate();
  return g;
}

}  // namespace ragent::grammar
