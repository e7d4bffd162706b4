// Validating an instance against a compiled schema (schema.hpp): one pass over the instance,
// each node's keywords in a fixed order, errors built only when a keyword fails.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <compare>
#include <utility>

#include <boost/json/serialize.hpp>

#include "tools/schema.hpp"
#include "tools/schema_detail.hpp"

namespace ragent::tools {

namespace schema_detail {

namespace {

constexpr size_t kMaxDepth = 1000;          // nested schema applications
constexpr size_t kMaxSteps = 10'000'000;    // schema applications in one validation
constexpr size_t kPreviewCodePoints = 40;   // of a string quoted in a message
constexpr size_t kPreviewBytes = 200;       // of an enum or const quoted in a message

// ---- numbers, compared exactly across int64, uint64 and double ----

std::partial_ordering compare(double d, int64_t i) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= 9223372036854775808.0) return std::partial_ordering::greater;
  if (d < -9223372036854775808.0) return std::partial_ordering::less;
  const double whole = std::trunc(d);  // in [-2^63, 2^63), so exact as an int64
  const int64_t w = static_cast<int64_t>(whole);
  if (w != i) return w <=> i;
  return d - whole <=> 0.0;
}

std::partial_ordering compare(double d, uint64_t u) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d < 0) return std::partial_ordering::less;
  if (d >= 18446744073709551616.0) return std::partial_ordering::greater;
  const double whole = std::trunc(d);
  const uint64_t w = static_cast<uint64_t>(whole);
  if (w != u) return w <=> u;
  return d - whole <=> 0.0;
}

std::partial_ordering reversed(std::partial_ordering o) { return 0 <=> o; }

std::partial_ordering compare_numbers(const json::value& a, const json::value& b) {
  if (a.is_double()) {
    if (b.is_double()) return a.get_double() <=> b.get_double();
    return b.is_int64() ? compare(a.get_double(), b.get_int64()) : compare(a.get_double(), b.get_uint64());
  }
  if (b.is_double()) return reversed(compare_numbers(b, a));
  if (a.is_int64() && b.is_int64()) return a.get_int64() <=> b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() <=> b.get_uint64();
  if (a.is_int64()) return a.get_int64() < 0 ? std::partial_ordering::less : static_cast<uint64_t>(a.get_int64()) <=> b.get_uint64();
  return reversed(compare_numbers(b, a));
}

bool is_integral(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::isfinite(v.get_double()) && std::trunc(v.get_double()) == v.get_double();
}

// JSON Schema equality: numbers by value (1 == 1.0), objects regardless of key order. The
// recursion ends with the shallower value; schema values are at most 512 deep.
bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::kind::null: return true;
    case json::kind::bool_: return a.get_bool() == b.get_bool();
    case json::kind::string: return a.get_string() == b.get_string();
    case json::kind::array: {
      const json::array &x = a.get_array(), &y = b.get_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!json_equal(x[i], y[i])) return false;
      }
      return true;
    }
    case json::kind::object: {
      const json::object &x = a.get_object(), &y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x) {
        const json::value* other = y.if_contains(key);
        if (!other || !json_equal(value, *other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

// ---- strings ----

// The number of code points in s, or nullopt when s is not valid UTF-8 (strings parsed by
// Boost.JSON always are; a value built by hand may not be).
std::optional<uint64_t> code_points(std::string_view s) {
  uint64_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    uint32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMinOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinOfLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    i += len;
  }
  return n;
}

// ---- message parts ----

std::string number_text(const json::value& v) {
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v.get_double());
  return std::string(buf, r.ptr);
}

std::string string_preview(std::string_view s) {
  size_t end = 0, count = 0;
  while (end < s.size() && count < kPreviewCodePoints) {
    ++end;
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
    ++count;
  }
  std::string out = json::serialize(json::string_view(s.data(), end));
  if (end < s.size()) out.insert(out.size() - 1, "...");
  return out;
}

// A value as a message shows it: scalars written out, containers by size.
std::string preview(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::string: return string_preview(v.get_string());
    case json::kind::object: return cat("an object of ", std::to_string(v.get_object().size()), " properties");
    case json::kind::array: return cat("an array of ", std::to_string(v.get_array().size()), " items");
    default: return number_text(v);
  }
}

// A schema's value (enum, const) written out, shortened past kPreviewBytes.
std::string schema_value_text(const json::value& v) {
  std::string out = json::serialize(v);
  if (out.size() > kPreviewBytes) {
    out.resize(kPreviewBytes);
    out += "...";
  }
  return out;
}

std::string types_text(unsigned types) {
  static constexpr std::pair<unsigned, std::string_view> kNames[] = {
      {kNull, "null"}, {kBoolean, "boolean"}, {kObject, "object"}, {kArray, "array"},
      {kNumber, "number"}, {kInteger, "integer"}, {kString, "string"}};
  std::vector<std::string_view> names;
  for (const auto& [bit, name] : kNames) {
    if (types & bit) names.push_back(name);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::string where(std::string_view pointer) { return pointer.empty() ? "(root)" : std::string(pointer); }

bool has_type(const json::value& v, unsigned types) {
  switch (v.kind()) {
    case json::kind::null: return types & kNull;
    case json::kind::bool_: return types & kBoolean;
    case json::kind::object: return types & kObject;
    case json::kind::array: return types & kArray;
    case json::kind::string: return types & kString;
    default: return (types & kNumber) || ((types & kInteger) && is_integral(v));
  }
}

// Thrown past every anyOf/oneOf when a limit stops the validation.
struct LimitReached {
  ValidationError error;
};

class Validation {
 public:
  Validation(const CompiledSchema& schema, std::vector<ValidationError>& errors, size_t max_errors)
      : nodes_(schema.nodes), errors_(&errors), max_errors_(max_errors) {}

  bool check(NodeId id, const json::value& v) {
    const Node& n = nodes_[id];
    if (++steps_ > kMaxSteps) limit(n, "validation stopped after 10000000 schema applications");
    if (depth_ >= kMaxDepth) limit(n, "validation stopped: schemas nest deeper than 1000 applications here");
    ++depth_;
    const bool ok = check_node(n, v);
    --depth_;
    return ok;
  }

 private:
  bool full() const { return errors_->size() >= max_errors_; }

  // Records a failure of keyword (at schema_ptr) at the current instance pointer; returns false.
  bool report(std::string_view keyword, std::string_view schema_ptr, std::string_view what) {
    if (full()) return false;
    std::string message = cat(where(ptr_), ": ", what, " (", keyword == "false" ? "schema false" : keyword, " at ", where(schema_ptr), ")");
    errors_->push_back({ptr_, std::string(keyword), std::string(schema_ptr), std::move(message)});
    return false;
  }

  [[noreturn]] void limit(const Node& n, std::string_view what) {
    throw LimitReached{{ptr_, "", n.pointer, cat(where(ptr_), ": ", what, " (at ", where(n.pointer), ")")}};
  }

  std::string keyword_ptr(const Node& n, std::string_view keyword) const { return pointer_append(n.pointer, keyword); }

  bool check_node(const Node& n, const json::value& v) {
    if (n.is_false) return report("false", n.pointer, "no value is allowed here");
    bool ok = true;
    if (n.types && !has_type(v, n.types)) {
      std::string got(kind_name(v));
      if (!v.is_object() && !v.is_array()) got += cat(" ", preview(v));
      ok = report("type", keyword_ptr(n, "type"), cat("expected ", types_text(n.types), ", got ", got));
    }
    if (!full() && n.enum_values) {
      const json::array& values = n.enum_values->get_array();
      if (std::none_of(values.begin(), values.end(), [&](const json::value& e) { return json_equal(e, v); })) {
        ok = report("enum", keyword_ptr(n, "enum"), cat(preview(v), " is not one of ", schema_value_text(*n.enum_values)));
      }
    }
    if (!full() && n.const_value && !json_equal(*n.const_value, v)) {
      ok = report("const", keyword_ptr(n, "const"), cat("expected ", schema_value_text(*n.const_value), ", got ", preview(v)));
    }
    if (!full()) {
      switch (v.kind()) {
        case json::kind::object: ok = check_object(n, v.get_object()) && ok; break;
        case json::kind::array: ok = check_array(n, v.get_array()) && ok; break;
        case json::kind::string: ok = check_string(n, v.get_string()) && ok; break;
        case json::kind::null:
        case json::kind::bool_: break;
        default: ok = check_number(n, v) && ok; break;
      }
    }
    if (!full() && n.ref != kNoNode) ok = check(n.ref, v) && ok;
    for (NodeId sub : n.all_of) {
      if (full()) break;
      ok = check(sub, v) && ok;
    }
    if (!full() && !n.any_of.empty()) ok = check_any_of(n, v) && ok;
    if (!full() && !n.one_of.empty()) ok = check_one_of(n, v) && ok;
    return ok;
  }

  // Applies child to the value under token. A child that is the schema false fails as
  // keyword, with refusal() -> {schema pointer, message} built only then.
  template <typename Refusal>
  bool check_child(NodeId child, const json::value& v, std::string_view token, std::string_view keyword, Refusal refusal) {
    const size_t length = ptr_.size();
    append_pointer_token(ptr_, token);
    bool ok;
    if (nodes_[child].is_false) {
      const auto [schema_ptr, what] = refusal();
      ok = report(keyword, schema_ptr, what);
    } else {
      ok = check(child, v);
    }
    ptr_.resize(length);
    return ok;
  }

  bool check_object(const Node& n, const json::object& o) {
    bool ok = true;
    for (const std::string& name : n.required) {
      if (full()) return false;
      if (!o.contains(name)) ok = report("required", keyword_ptr(n, "required"), cat("missing required property ", string_preview(name)));
    }
    for (const auto& [key, value] : o) {
      if (full()) return false;
      const std::string_view name(key.data(), key.size());
      auto not_allowed = [&](std::string schema_ptr, std::string_view why = "") {
        return std::pair{std::move(schema_ptr), cat("property ", string_preview(name), " is not allowed", why)};
      };
      bool declared = false;
      if (auto it = n.properties.find(name); it != n.properties.end()) {
        declared = true;
        ok = check_child(it->second, value, name, "properties",
                         [&] { return not_allowed(pointer_append(keyword_ptr(n, "properties"), name)); }) && ok;
      }
      for (const PatternProperty& pp : n.pattern_properties) {
        if (full()) return false;
        const std::optional<bool> match = pp.regex->search(name, scratch_);
        if (!match) {
          ok = report("patternProperties", pp.pointer, cat("the pattern gave up on the name ", string_preview(name), " (PCRE2 limits, or not UTF-8)"));
          continue;
        }
        if (!*match) continue;
        declared = true;
        ok = check_child(pp.schema, value, name, "patternProperties", [&] { return not_allowed(pp.pointer, " (it matches the pattern)"); }) && ok;
      }
      if (!declared && n.additional_properties != kNoNode && !full()) {
        ok = check_child(n.additional_properties, value, name, "additionalProperties",
                         [&] { return not_allowed(keyword_ptr(n, "additionalProperties")); }) && ok;
      }
    }
    return ok;
  }

  bool check_array(const Node& n, const json::array& a) {
    bool ok = true;
    const std::string size = std::to_string(a.size());
    if (n.min_items && a.size() < *n.min_items) {
      ok = report("minItems", keyword_ptr(n, "minItems"), cat("an array of ", size, " items is shorter than minItems ", std::to_string(*n.min_items)));
    }
    if (!full() && n.max_items && a.size() > *n.max_items) {
      ok = report("maxItems", keyword_ptr(n, "maxItems"), cat("an array of ", size, " items is longer than maxItems ", std::to_string(*n.max_items)));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      if (full()) return false;
      const std::string index = std::to_string(i);
      if (i < n.prefix_items.size()) {
        ok = check_child(n.prefix_items[i], a[i], index, "prefixItems", [&] {
          return std::pair{pointer_append(keyword_ptr(n, "prefixItems"), index), cat("item ", index, " is not allowed")};
        }) && ok;
      } else if (n.items != kNoNode) {
        ok = check_child(n.items, a[i], index, "items", [&] {
          return std::pair{keyword_ptr(n, "items"),
                           cat("item ", index, " is not allowed: the array may hold only its ", std::to_string(n.prefix_items.size()), " prefixItems")};
        }) && ok;
      }
    }
    return ok;
  }

  bool check_string(const Node& n, const json::string& js) {
    const std::string_view s(js.data(), js.size());
    bool ok = true;
    if (n.min_length || n.max_length) {
      const std::optional<uint64_t> count = code_points(s);
      const std::string_view keyword = n.min_length ? "minLength" : "maxLength";
      if (!count) return report(keyword, keyword_ptr(n, keyword), "the string is not valid UTF-8");
      const std::string text = cat("a string of ", std::to_string(*count), " characters");
      if (n.min_length && *count < *n.min_length) {
        ok = report("minLength", keyword_ptr(n, "minLength"), cat(text, " is shorter than minLength ", std::to_string(*n.min_length)));
      }
      if (!full() && n.max_length && *count > *n.max_length) {
        ok = report("maxLength", keyword_ptr(n, "maxLength"), cat(text, " is longer than maxLength ", std::to_string(*n.max_length)));
      }
    }
    if (!full() && n.pattern) {
      const std::optional<bool> match = n.pattern->search(s, scratch_);
      if (!match) {
        ok = report("pattern", keyword_ptr(n, "pattern"), cat("the pattern gave up on ", string_preview(s), " (PCRE2 limits, or not UTF-8)"));
      } else if (!*match) {
        ok = report("pattern", keyword_ptr(n, "pattern"), cat(string_preview(s), " does not match the pattern ", string_preview(n.pattern->pattern())));
      }
    }
    if (!full() && n.format && !matches_string_format(*n.format, s)) {
      ok = report("format", keyword_ptr(n, "format"), cat(string_preview(s), " is not a valid ", string_format_name(*n.format)));
    }
    return ok;
  }

  bool check_number(const Node& n, const json::value& v) {
    bool ok = true;
    struct Bound {
      const json::value* bound;
      std::string_view keyword;
      bool (*passes)(std::partial_ordering);
      std::string_view failure;
    };
    const Bound bounds[] = {
        {n.minimum, "minimum", [](std::partial_ordering o) { return o >= 0; }, " is less than the minimum "},
        {n.exclusive_minimum, "exclusiveMinimum", [](std::partial_ordering o) { return o > 0; }, " is not greater than the exclusive minimum "},
        {n.maximum, "maximum", [](std::partial_ordering o) { return o <= 0; }, " is greater than the maximum "},
        {n.exclusive_maximum, "exclusiveMaximum", [](std::partial_ordering o) { return o < 0; }, " is not less than the exclusive maximum "},
    };
    for (const Bound& b : bounds) {
      if (full()) return false;
      if (b.bound && !b.passes(compare_numbers(v, *b.bound))) {
        ok = report(b.keyword, keyword_ptr(n, b.keyword), cat(number_text(v), b.failure, number_text(*b.bound)));
      }
    }
    return ok;
  }

  // Whether sub accepts v, without reporting; when not, *first holds its first failure.
  bool accepts(NodeId sub, const json::value& v, std::optional<ValidationError>* first) {
    std::vector<ValidationError> local;
    std::vector<ValidationError>* outer = errors_;
    const size_t outer_max = max_errors_;
    errors_ = &local;
    max_errors_ = 1;
    bool ok = false;
    try {
      ok = check(sub, v);
    } catch (...) {
      errors_ = outer;
      max_errors_ = outer_max;
      throw;
    }
    errors_ = outer;
    max_errors_ = outer_max;
    if (!ok && first && !local.empty()) *first = std::move(local.front());
    return ok;
  }

  // How near a failure is to what the alternative meant: deeper in the instance, then a keyword
  // other than type (the value had the right type).
  static size_t closeness(const ValidationError& e) {
    const size_t depth = static_cast<size_t>(std::count(e.instance_pointer.begin(), e.instance_pointer.end(), '/'));
    return 2 * depth + (e.keyword != "type" && e.keyword != "false" ? 1 : 0);
  }

  bool report_no_alternative(const Node& n, std::string_view keyword, const std::vector<std::optional<ValidationError>>& failures) {
    size_t best = failures.size();
    for (size_t i = 0; i < failures.size(); ++i) {
      if (failures[i] && (best == failures.size() || closeness(*failures[i]) > closeness(*failures[best]))) best = i;
    }
    std::string what = cat("matches none of the ", std::to_string(failures.size()), " alternatives of ", keyword);
    if (best < failures.size()) what += cat("; closest, alternative ", std::to_string(best), ": ", failures[best]->message);
    return report(keyword, keyword_ptr(n, keyword), what);
  }

  bool check_any_of(const Node& n, const json::value& v) {
    std::vector<std::optional<ValidationError>> failures(n.any_of.size());
    for (size_t i = 0; i < n.any_of.size(); ++i) {
      if (accepts(n.any_of[i], v, &failures[i])) return true;
    }
    return report_no_alternative(n, "anyOf", failures);
  }

  bool check_one_of(const Node& n, const json::value& v) {
    std::vector<std::optional<ValidationError>> failures(n.one_of.size());
    std::optional<size_t> matched;
    for (size_t i = 0; i < n.one_of.size(); ++i) {
      if (!accepts(n.one_of[i], v, &failures[i])) continue;
      if (matched) {
        return report("oneOf", keyword_ptr(n, "oneOf"), cat("matches alternatives ", std::to_string(*matched), " and ", std::to_string(i), " of oneOf, which must match exactly one"));
      }
      matched = i;
    }
    return matched ? true : report_no_alternative(n, "oneOf", failures);
  }

  const std::vector<Node>& nodes_;
  std::vector<ValidationError>* errors_;
  size_t max_errors_;
  std::string ptr_;  // the instance pointer of the value being checked
  size_t depth_ = 0;
  size_t steps_ = 0;
  RegexScratch scratch_;
};

}  // namespace

}  // namespace schema_detail

std::vector<ValidationError> SchemaValidator::validate_all(const boost::json::value& instance, size_t max_errors) const {
  std::vector<ValidationError> errors;
  const size_t limit = std::max<size_t>(max_errors, 1);
  try {
    schema_detail::Validation(*compiled_, errors, limit).check(0, instance);
  } catch (schema_detail::LimitReached& stop) {
    if (errors.size() >= limit) errors.pop_back();
    errors.push_back(std::move(stop.error));
  }
  return errors;
}

std::optional<ValidationError> SchemaValidator::validate(const boost::json::value& instance) const {
  std::vector<ValidationError> errors = validate_all(instance, 1);
  if (errors.empty()) return std::nullopt;
  return std::move(errors.front());
}

}  // namespace ragent::tools
