// The keyword check that runs over a whole schema document before it is compiled, JSON
// pointers, and the errors that name them.
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include <boost/json/serialize.hpp>

#include "engine/grammar/json_schema_detail.hpp"

namespace ragent::grammar::schema_detail {

namespace {

constexpr std::string_view kAnnotations[] = {"title", "description", "$comment", "examples", "default", "$schema",
                                             "$id", "deprecated", "readOnly", "writeOnly"};
constexpr std::string_view kConstraints[] = {"type", "properties", "required", "additionalProperties", "patternProperties",
                                             "enum", "const", "items", "prefixItems", "minItems", "maxItems", "minLength",
                                             "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
                                             "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref"};
constexpr std::string_view kTypeNames[] = {"null", "boolean", "object", "array", "number", "integer", "string"};

// "'keyword' <rest>", built with += (GCC 12 warns falsely on operator+ chains).
std::string about(std::string_view keyword, std::string_view rest) {
  std::string out = "'";
  out += keyword;
  out += "' ";
  out += rest;
  return out;
}

template <size_t N>
bool one_of(std::string_view s, const std::string_view (&list)[N]) {
  for (std::string_view x : list) {
    if (x == s) return true;
  }
  return false;
}

bool is_count(const json::value& v) {
  if (v.is_int64()) return v.get_int64() >= 0;
  if (v.is_uint64()) return true;
  if (v.is_double()) return v.get_double() >= 0 && std::floor(v.get_double()) == v.get_double();
  return false;
}

double count_as_double(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

void check_subschemas_map(const json::value& v, const std::string& ptr, std::string_view keyword) {
  if (!v.is_object()) fail(keyword, ptr, about(keyword, "must be an object of schemas"));
  const std::string here = pointer_append(ptr, keyword);
  for (const auto& [name, sub] : v.as_object()) check_schema(sub, pointer_append(here, name));
}

void check_subschemas_list(const json::value& v, const std::string& ptr, std::string_view keyword, bool non_empty) {
  if (!v.is_array() || (non_empty && v.as_array().empty())) {
    fail(keyword, ptr, about(keyword, non_empty ? "must be a non-empty array of schemas" : "must be an array of schemas"));
  }
  const std::string here = pointer_append(ptr, keyword);
  const json::array& a = v.as_array();
  for (size_t i = 0; i < a.size(); ++i) check_schema(a[i], pointer_append(here, std::to_string(i)));
}

void check_type(const json::value& v, const std::string& ptr) {
  auto check_name = [&](const json::value& n) {
    if (!n.is_string()) fail("type", ptr, "'type' must be a type name or an array of them");
    if (!one_of(std::string_view(n.as_string()), kTypeNames)) {
      std::string what = "unknown type '";
      what += std::string_view(n.as_string());
      what += "'";
      fail("type", ptr, what);
    }
  };
  if (v.is_array()) {
    if (v.as_array().empty()) fail("type", ptr, "'type' must not be an empty array");
    std::set<std::string> seen;
    for (const json::value& n : v.as_array()) {
      check_name(n);
      if (!seen.insert(std::string(n.as_string())).second) fail("type", ptr, "'type' lists a type twice");
    }
  } else {
    check_name(v);
  }
}

// Whether the schema's types allow no numbers but integers.
bool integers_only(const json::object& o) {
  const json::value* t = o.if_contains("type");
  if (!t) return false;
  if (t->is_string()) return t->as_string() == "integer";
  for (const json::value& n : t->as_array()) {
    if (n.as_string() != "integer") return false;
  }
  return true;
}

void check_keyword(const json::object& o, std::string_view key, const json::value& v, const std::string& ptr) {
  if (key == "type") {
    check_type(v, ptr);
  } else if (key == "properties" || key == "patternProperties" || key == "$defs" || key == "definitions") {
    check_subschemas_map(v, ptr, key);
  } else if (key == "required") {
    if (!v.is_array()) fail(key, ptr, "'required' must be an array of property names");
    for (const json::value& n : v.as_array()) {
      if (!n.is_string()) fail(key, ptr, "'required' must be an array of property names");
    }
  } else if (key == "additionalProperties") {
    check_schema(v, pointer_append(ptr, key));
  } else if (key == "items") {
    if (v.is_array()) fail(key, ptr, "'items' must be a schema; an array of schemas is 'prefixItems' (draft 2020-12)");
    check_schema(v, pointer_append(ptr, key));
  } else if (key == "prefixItems") {
    check_subschemas_list(v, ptr, key, false);
  } else if (key == "anyOf" || key == "oneOf" || key == "allOf") {
    check_subschemas_list(v, ptr, key, true);
  } else if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength") {
    if (!is_count(v)) fail(key, ptr, about(key, "must be a non-negative integer"));
    if ((key == "minItems" || key == "minLength") && count_as_double(v) > std::numeric_limits<int32_t>::max()) {
      fail(key, ptr, about(key, "is larger than 2147483647"));
    }
  } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
    // A bound past the double range (1e400 parses to infinity) would be a number of no size.
    if (!v.is_number() || (v.is_double() && !std::isfinite(v.get_double()))) fail(key, ptr, about(key, "must be a finite number"));
  } else if (key == "pattern" || key == "$ref") {
    if (!v.is_string()) fail(key, ptr, about(key, "must be a string"));
  } else if (key == "format") {
    if (!v.is_string()) fail(key, ptr, "'format' must be a string");
    if (!is_known_format(v.as_string())) {
      std::string what = "unsupported format '";
      what += std::string_view(v.as_string());
      what += "' (supported: date, time, date-time, uuid, email, uri)";
      fail(key, ptr, what);
    }
  } else if (key == "enum") {
    if (!v.is_array() || v.as_array().empty()) fail(key, ptr, "'enum' must be a non-empty array");
  }
  (void)o;
}

void check_bounds(const json::object& o, const std::string& ptr) {
  auto count = [&](const char* k) { return count_as_double(o.at(k)); };
  if (o.contains("minLength") && o.contains("maxLength") && count("minLength") > count("maxLength")) {
    fail("minLength", ptr, "'minLength' is greater than 'maxLength'");
  }
  if (o.contains("minItems") && o.contains("maxItems") && count("minItems") > count("maxItems")) {
    fail("minItems", ptr, "'minItems' is greater than 'maxItems'");
  }
  const NumberBounds b = number_bounds(o);
  const char* lower_key = o.contains("exclusiveMinimum") ? "exclusiveMinimum" : "minimum";
  if (!bounds_satisfiable(b, false)) fail(lower_key, ptr, "no number satisfies the minimum and maximum");
  if (integers_only(o) && !bounds_satisfiable(b, true)) fail(lower_key, ptr, "no integer satisfies the minimum and maximum");
}

}  // namespace

std::string pointer_append(std::string_view ptr, std::string_view segment) {
  std::string out(ptr);
  out += '/';
  for (char c : segment) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void fail(std::string_view keyword, std::string_view schema_ptr, std::string_view what) {
  const std::string pointer = keyword.empty() ? std::string(schema_ptr) : pointer_append(schema_ptr, keyword);
  std::string message = "schema: ";
  message += what;
  message += " at ";
  message += pointer.empty() ? std::string("the root") : pointer;
  throw SchemaError(std::string(keyword), pointer, message);
}

bool is_annotation(std::string_view keyword) { return one_of(keyword, kAnnotations); }

bool is_constraint(std::string_view keyword) { return one_of(keyword, kConstraints); }

void check_schema(const json::value& schema, const std::string& ptr) {
  if (schema.is_bool()) return;
  if (!schema.is_object()) fail("", ptr, "a schema must be an object or a boolean");
  const json::object& o = schema.as_object();
  for (const auto& [key, value] : o) {
    if (is_annotation(key)) continue;
    if (!is_constraint(key) && key != "$defs" && key != "definitions") {
      std::string what = "unsupported keyword '";
      what += std::string_view(key);
      what += "'";
      fail(key, ptr, what);
    }
    check_keyword(o, key, value, ptr);
  }
  check_bounds(o, ptr);
}

int32_t count_value(const json::value& v, bool unbounded_if_huge) {
  const double d = count_as_double(v);
  if (d > std::numeric_limits<int32_t>::max()) {
    return unbounded_if_huge ? Grammar::kUnbounded : std::numeric_limits<int32_t>::max();
  }
  if (v.is_int64()) return static_cast<int32_t>(v.get_int64());
  if (v.is_uint64()) return static_cast<int32_t>(v.get_uint64());
  return static_cast<int32_t>(d);
}

const json::value* resolve_pointer(const json::value& root, std::string_view ref, std::string* pointer_out) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  // The fragment is percent-encoded (RFC 3986); the pointer inside it escapes ~ and /.
  std::string fragment;
  for (size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] != '%') {
      fragment += ref[i];
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= ref.size()) return nullptr;
    const int h = hex(ref[i + 1]);
    const int l = hex(ref[i + 2]);
    if (h < 0 || l < 0) return nullptr;
    fragment += static_cast<char>(h * 16 + l);
    i += 2;
  }
  if (!fragment.empty() && fragment[0] != '/') return nullptr;  // "#name" anchors are not supported
  const json::value* at = &root;
  std::string canonical;
  size_t pos = 0;
  while (pos < fragment.size()) {
    const size_t next = fragment.find('/', pos + 1);
    const std::string raw = fragment.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next == std::string::npos ? fragment.size() : next;
    std::string segment;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        segment += raw[i];
      } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        segment += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        return nullptr;
      }
    }
    if (at->is_object()) {
      at = at->as_object().if_contains(segment);
    } else if (at->is_array()) {
      const json::array& a = at->as_array();
      if (segment.empty() || segment.size() > 9 || segment.find_first_not_of("0123456789") != std::string::npos ||
          (segment.size() > 1 && segment[0] == '0')) {
        return nullptr;
      }
      const size_t index = std::stoul(segment);
      at = index < a.size() ? &a[index] : nullptr;
    } else {
      at = nullptr;
    }
    if (!at) return nullptr;
    canonical = pointer_append(canonical, segment);
  }
  if (pointer_out) *pointer_out = canonical;
  return at;
}

}  // namespace ragent::grammar::schema_detail
