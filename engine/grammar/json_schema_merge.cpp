// allOf (and $ref / anyOf / oneOf beside other keywords) as one schema: the branches are
// flattened ($ref targets inlined, nested allOf spliced) and merged keyword by keyword; anyOf
// lists distribute over the merge, so the result is a list of plain alternatives.
//
// Merging rules: types intersect (integer within number); properties and patternProperties
// merge by name (both present: {"allOf": [a, b]}, compiled in turn); required unites; items,
// additionalProperties and prefixItems (index by index, a branch's items beyond its prefix)
// combine as allOf; minimums take the larger, maximums the smaller; enum intersects; const must
// agree. A branch's explicit additionalProperties also applies to the properties the other
// branches declare and it does not (as JSON Schema evaluates each branch on its own); the
// strict_objects default applies to the merged object only. Differing patterns and formats are
// all kept, and the string compiles to the intersection of their languages.
#include <algorithm>
#include <string>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/grammar/json_schema_detail.hpp"

namespace ragent::grammar::schema_detail {

namespace {

constexpr size_t kMaxAlternatives = 256;
constexpr int kMaxDepth = 32;
constexpr size_t kMaxMerges = 10000;   // bounds the work of nested combinations

// Where errors point: the keyword that asked for the merge (allOf, anyOf, oneOf or $ref) in the
// schema at ptr, since merged keywords have no place of their own in the document.
struct Where {
  std::string keyword;
  std::string ptr;
};

// Two branches that cannot both hold: the combination has no instances.
struct Conflict {
  std::string keyword;
  std::string what;
};

bool unconstrained(const json::value& s) {
  if (s.is_bool()) return s.as_bool();
  if (!s.is_object()) return false;
  for (const auto& [k, v] : s.as_object()) {
    if (is_constraint(k)) return false;
  }
  return true;
}

json::value all_of(const json::value& a, const json::value& b) {
  if (unconstrained(a)) return b;
  if (unconstrained(b)) return a;
  if ((a.is_bool() && !a.as_bool()) || (b.is_bool() && !b.as_bool())) return false;
  if (a == b) return a;
  return json::object{{"allOf", json::array{a, b}}};
}

constexpr unsigned kNumberBits = 1u << 4 | 1u << 5;  // number implies integer

unsigned type_bits(const json::value* t) {
  static constexpr std::string_view kNames[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
  if (!t) return 0x7F;
  unsigned bits = 0;
  auto add = [&](const json::value& n) {
    for (unsigned i = 0; i < 7; ++i) {
      if (n.as_string() == kNames[i]) bits |= 1u << i;
    }
  };
  if (t->is_string()) {
    add(*t);
  } else {
    for (const json::value& n : t->as_array()) add(n);
  }
  if (bits & (1u << 4)) bits |= kNumberBits;
  return bits;
}

json::value type_value(unsigned bits) {
  static constexpr std::string_view kNames[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
  if (bits & (1u << 4)) bits &= ~(1u << 5);
  json::array out;
  for (unsigned i = 0; i < 7; ++i) {
    if (bits & (1u << i)) out.emplace_back(json::string(kNames[i]));
  }
  return out;
}

const json::value* get(const json::object& o, std::string_view k) { return o.if_contains(k); }

json::value schema_at(const json::object& o, size_t i) {
  const json::value* prefix = get(o, "prefixItems");
  if (prefix && i < prefix->as_array().size()) return prefix->as_array()[i];
  const json::value* items = get(o, "items");
  return items ? *items : json::value(true);
}

// Applies `from`'s explicit additionalProperties to the names and patterns `to` declares that
// `from` does not: in `from`'s own evaluation those keys are additional.
void apply_additional(const json::object& from, json::object& to, const Where& where) {
  const json::value* add = get(from, "additionalProperties");
  if (!add) return;
  const json::value* from_props = get(from, "properties");
  if (json::value* props = to.if_contains("properties")) {
    for (auto& [name, sub] : props->as_object()) {
      if (from_props && from_props->as_object().contains(name)) continue;
      if (get(from, "patternProperties")) {
        fail(where.keyword, where.ptr, "merging a property with another branch's patternProperties is unsupported");
      }
      sub = all_of(sub, *add);
    }
  }
  if (json::value* patterns = to.if_contains("patternProperties")) {
    const json::value* from_patterns = get(from, "patternProperties");
    for (auto& [pattern, sub] : patterns->as_object()) {
      if (from_patterns && from_patterns->as_object().contains(pattern)) continue;
      sub = all_of(sub, *add);
    }
  }
}

void merge_maps(json::object& out, const json::object& in) {
  for (const auto& [name, sub] : in) {
    if (json::value* have = out.if_contains(name)) {
      *have = all_of(*have, sub);
    } else {
      out[name] = sub;
    }
  }
}

json::object merge_plain(const json::object& a_in, const json::object& b_in, const Where& where) {
  json::object a = a_in;
  json::object b = b_in;
  apply_additional(a_in, b, where);
  apply_additional(b_in, a, where);
  json::object out = a;
  for (const auto& [key, bv] : b) {
    json::value* av = out.if_contains(key);
    if (!av) {
      out[key] = bv;
      continue;
    }
    if (key == "type") {
      const unsigned bits = type_bits(av) & type_bits(&bv);
      if (bits == 0) throw Conflict{"type", "the types of the allOf branches do not intersect"};
      *av = type_value(bits);
    } else if (key == "properties" || key == "patternProperties") {
      merge_maps(av->as_object(), bv.as_object());
    } else if (key == "required") {
      for (const json::value& n : bv.as_array()) {
        bool present = false;
        for (const json::value& m : av->as_array()) present = present || m == n;
        if (!present) av->as_array().push_back(n);
      }
    } else if (key == "additionalProperties" || key == "items" || key == "prefixItems") {
      // items and prefixItems: below, index by index.
      if (key == "additionalProperties") *av = all_of(*av, bv);
    } else if (key == "minLength" || key == "minItems") {
      if (count_value(bv, false) > count_value(*av, false)) *av = bv;
    } else if (key == "maxLength" || key == "maxItems") {
      const int32_t x = count_value(*av, true), y = count_value(bv, true);
      if (x == Grammar::kUnbounded || (y != Grammar::kUnbounded && y < x)) *av = bv;
    } else if (key == "minimum" || key == "exclusiveMinimum") {
      if (compare(to_decimal(bv), to_decimal(*av)) > 0) *av = bv;
    } else if (key == "maximum" || key == "exclusiveMaximum") {
      if (compare(to_decimal(bv), to_decimal(*av)) < 0) *av = bv;
    } else if (key == "enum") {
      json::array kept;
      for (const json::value& x : av->as_array()) {
        for (const json::value& y : bv.as_array()) {
          if (x == y) {
            kept.push_back(x);
            break;
          }
        }
      }
      if (kept.empty()) throw Conflict{"enum", "the enums of the allOf branches have no value in common"};
      *av = std::move(kept);
    } else if (key == "const") {
      if (*av != bv) throw Conflict{"const", "the allOf branches require different constants"};
    } else if (key == "pattern" || key == "format") {
      // Differing ones are all kept (an array, only ever in merged schemas); the string
      // compiles to the intersection of their languages.
      json::array all = av->is_array() ? av->as_array() : json::array{*av};
      const json::array more = bv.is_array() ? bv.as_array() : json::array{bv};
      for (const json::value& x : more) {
        if (std::find(all.begin(), all.end(), x) == all.end()) all.push_back(x);
      }
      if (all.size() == 1) {
        *av = all[0];
      } else {
        *av = std::move(all);
      }
    }
  }
  if (get(a, "prefixItems") || get(b, "prefixItems")) {
    const size_t na = get(a, "prefixItems") ? get(a, "prefixItems")->as_array().size() : 0;
    const size_t nb = get(b, "prefixItems") ? get(b, "prefixItems")->as_array().size() : 0;
    json::array prefix;
    for (size_t i = 0; i < std::max(na, nb); ++i) prefix.push_back(all_of(schema_at(a, i), schema_at(b, i)));
    out["prefixItems"] = std::move(prefix);
  }
  if (get(a, "items") && get(b, "items")) out["items"] = all_of(*get(a, "items"), *get(b, "items"));
  // Bounds the merge made contradictory.
  auto count = [&](const char* k) { return static_cast<double>(count_value(out.at(k), false)); };
  if (out.contains("minLength") && out.contains("maxLength") && count_value(out.at("maxLength"), true) != Grammar::kUnbounded &&
      count("minLength") > count("maxLength")) {
    throw Conflict{"minLength", "the merged minLength is greater than the merged maxLength"};
  }
  if (out.contains("minItems") && out.contains("maxItems") && count_value(out.at("maxItems"), true) != Grammar::kUnbounded &&
      count("minItems") > count("maxItems")) {
    throw Conflict{"minItems", "the merged minItems is greater than the merged maxItems"};
  }
  if (!bounds_satisfiable(number_bounds(out), false)) {
    throw Conflict{"minimum", "the merged minimum is greater than the merged maximum"};
  }
  return out;
}

class Merger {
 public:
  Merger(const json::value& root, Where where) : root_(root), where_(std::move(where)) {}

  std::vector<json::object> alternatives(const json::value& schema, int depth) {
    std::vector<json::object> parts;
    std::vector<const json::array*> any_ofs;
    bool unsatisfiable = false;
    collect(schema, parts, any_ofs, unsatisfiable, depth);
    if (unsatisfiable) return {};
    json::object base;
    for (const json::object& p : parts) base = merge_plain(base, p, where_);
    std::vector<json::object> alts{std::move(base)};
    for (const json::array* list : any_ofs) {
      std::vector<json::object> next;
      for (const json::object& a : alts) {
        for (const json::value& item : *list) {
          std::vector<json::object> item_alts;
          try {
            item_alts = alternatives(item, depth + 1);
          } catch (const Conflict&) {
            continue;  // this branch has no instances
          }
          for (const json::object& b : item_alts) {
            if (++merges_ > kMaxMerges) fail(where_.keyword, where_.ptr, "allOf/anyOf combinations need more than 10000 merges");
            try {
              next.push_back(merge_plain(a, b, where_));
            } catch (const Conflict&) {
              // incompatible with the rest: drop the combination
            }
            if (next.size() > kMaxAlternatives) {
              fail(where_.keyword, where_.ptr, "allOf/anyOf combine into more than 256 alternatives");
            }
          }
        }
      }
      alts = std::move(next);
    }
    return alts;
  }

 private:
  void collect(const json::value& s, std::vector<json::object>& parts, std::vector<const json::array*>& any_ofs, bool& unsatisfiable,
               int depth) {
    if (depth > kMaxDepth) fail(where_.keyword, where_.ptr, "allOf/anyOf reach a recursive $ref that cannot be merged");
    if (s.is_bool()) {
      unsatisfiable = unsatisfiable || !s.as_bool();
      return;
    }
    json::object plain;
    for (const auto& [key, value] : s.as_object()) {
      if (key == "$ref") {
        std::string target_ptr;
        const json::value* target = resolve_pointer(root_, value.as_string(), &target_ptr);
        if (!target) {
          std::string what = "unresolvable $ref '";
          what += std::string_view(value.as_string());
          what += "' (only '#' JSON pointers into this document)";
          fail(where_.keyword, where_.ptr, what);
        }
        check_schema(*target, target_ptr);
        collect(*target, parts, any_ofs, unsatisfiable, depth + 1);
      } else if (key == "allOf") {
        for (const json::value& item : value.as_array()) collect(item, parts, any_ofs, unsatisfiable, depth + 1);
      } else if (key == "anyOf" || key == "oneOf") {
        any_ofs.push_back(&value.as_array());
      } else if (is_constraint(key)) {
        plain[key] = value;
      }
    }
    parts.push_back(std::move(plain));
  }

  const json::value& root_;
  Where where_;
  size_t merges_ = 0;
};

}  // namespace

std::vector<json::object> merge_schema(const json::value& root, const json::object& schema, const std::string& ptr) {
  // Errors name the keyword that asked for the merge.
  const char* combinator = schema.contains("allOf") ? "allOf" : schema.contains("anyOf") ? "anyOf" : schema.contains("oneOf") ? "oneOf" : "$ref";
  Merger merger(root, Where{combinator, ptr});
  std::vector<json::object> alts;
  const json::value whole(schema);
  try {
    alts = merger.alternatives(whole, 0);
  } catch (const Conflict& c) {
    std::string what = c.what;
    what += " ('";
    what += c.keyword;
    what += "')";
    fail(combinator, ptr, what);
  }
  if (alts.empty()) fail(combinator, ptr, "no combination of the allOf/anyOf branches has instances");
  return alts;
}

}  // namespace ragent::grammar::schema_detail
