// Compiling a schema document (schema.hpp): every keyword checked and turned into a Node once,
// $refs resolved to the node at their target, and the cycles that would never end refused.
#include "tools/schema.hpp"

#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

#include "tools/schema_detail.hpp"

namespace ragent::tools {

namespace schema_detail {

namespace {

constexpr size_t kMaxDocumentDepth = 512;

constexpr std::string_view kAnnotations[] = {"title", "description", "$comment", "examples", "default", "$schema",
                                             "$id", "deprecated", "readOnly", "writeOnly"};

std::string quoted(std::string_view s) { return cat("'", s, "'"); }

[[noreturn]] void fail(std::string_view keyword, std::string_view schema_ptr, std::string_view what) {
  const std::string pointer = keyword.empty() ? std::string(schema_ptr) : pointer_append(schema_ptr, keyword);
  throw SchemaError(std::string(keyword), pointer, cat("schema: ", what, " at ", pointer.empty() ? "the root" : pointer));
}

// The pointer of a value nested deeper than `limit` levels, or nullopt. Recursion is bounded by
// the limit, so this is safe on any document (and runs before anything copies it).
std::optional<std::string> too_deep(const json::value& v, size_t depth, size_t limit) {
  if (!v.is_object() && !v.is_array()) return std::nullopt;
  if (depth >= limit) return std::string();
  auto below = [&](const json::value& child, std::string_view token) -> std::optional<std::string> {
    std::optional<std::string> rest = too_deep(child, depth + 1, limit);
    if (rest) return cat(pointer_append("", token), *rest);
    return std::nullopt;
  };
  if (v.is_object()) {
    for (const auto& [key, child] : v.as_object()) {
      if (auto p = below(child, key)) return p;
    }
  } else {
    const json::array& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      if (auto p = below(a[i], std::to_string(i))) return p;
    }
  }
  return std::nullopt;
}

// A non-negative integer count (1 and 1.0 alike); past 2^64-1 it saturates.
std::optional<uint64_t> as_count(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_double()) {
    const double d = v.get_double();
    if (!std::isfinite(d) || d < 0 || std::trunc(d) != d) return std::nullopt;
    if (d >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(d);
  }
  return std::nullopt;
}

unsigned type_bit(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "boolean") return kBoolean;
  if (name == "object") return kObject;
  if (name == "array") return kArray;
  if (name == "number") return kNumber;
  if (name == "integer") return kInteger;
  if (name == "string") return kString;
  return 0;
}

std::optional<std::string> percent_decoded(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return std::nullopt;
    out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
    i += 2;
  }
  return out;
}

// The RFC 6901 tokens of pointer ("" or "/..."), or nullopt when a ~ is not ~0 or ~1.
std::optional<std::vector<std::string>> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) return std::nullopt;
      token += pointer[++i] == '0' ? '~' : '/';
    } else {
      token += pointer[i];
    }
  }
  return tokens;
}

// The value at tokens in document, or nullptr.
const json::value* resolve(const json::value& document, const std::vector<std::string>& tokens) {
  const json::value* at = &document;
  for (const std::string& token : tokens) {
    if (at->is_object()) {
      at = at->as_object().if_contains(token);
    } else if (at->is_array()) {
      const json::array& a = at->as_array();
      if (token.empty() || token.size() > 19 || (token.size() > 1 && token[0] == '0')) return nullptr;
      uint64_t index = 0;
      for (char c : token) {
        if (c < '0' || c > '9') return nullptr;
        index = index * 10 + static_cast<uint64_t>(c - '0');
      }
      at = index < a.size() ? &a[index] : nullptr;
    } else {
      return nullptr;
    }
    if (!at) return nullptr;
  }
  return at;
}

class Compiler {
 public:
  explicit Compiler(CompiledSchema& out) : out_(out) {}

  void run() {
    compile(out_.document, "");
    // Targets compiled here may hold $refs of their own, appended to refs_ as they are found.
    for (size_t i = 0; i < refs_.size(); ++i) {
      const PendingRef r = refs_[i];
      const NodeId target = compile_target(r);
      out_.nodes[r.from].ref = target;
    }
    refuse_in_place_cycles();
  }

 private:
  struct PendingRef {
    NodeId from;
    std::string ref;          // as written
    std::string ref_pointer;  // of the $ref keyword
    std::string target;       // canonical pointer of the target
    std::vector<std::string> tokens;
  };

  Node& node(NodeId id) { return out_.nodes[id]; }

  NodeId compile(const json::value& schema, const std::string& ptr) {
    if (auto it = by_pointer_.find(ptr); it != by_pointer_.end()) return it->second;
    const NodeId id = static_cast<NodeId>(out_.nodes.size());
    out_.nodes.emplace_back();
    node(id).pointer = ptr;
    by_pointer_.emplace(ptr, id);
    if (schema.is_bool()) {
      node(id).is_false = !schema.get_bool();
      return id;
    }
    if (!schema.is_object()) fail("", ptr, cat("a schema must be an object or a boolean, not a ", kind_name(schema)));
    for (const auto& [key, value] : schema.as_object()) compile_keyword(id, key, value);
    return id;
  }

  void compile_keyword(NodeId id, std::string_view key, const json::value& v) {
    const std::string ptr = node(id).pointer;  // a copy: compiling children may move the nodes
    for (std::string_view a : kAnnotations) {
      if (key == a) return;
    }
    if (key == "type") {
      node(id).types = compile_type(v, ptr);
    } else if (key == "enum") {
      if (!v.is_array()) fail(key, ptr, "'enum' must be an array");
      node(id).enum_values = &v;
    } else if (key == "const") {
      node(id).const_value = &v;
    } else if (key == "properties") {
      for (const auto& [name, sub] : schema_map(v, ptr, key)) {
        const NodeId child = compile(sub, pointer_append(pointer_append(ptr, key), name));
        node(id).properties.emplace(std::string(name), child);
      }
    } else if (key == "patternProperties") {
      for (const auto& [pattern, sub] : schema_map(v, ptr, key)) {
        const std::string entry = pointer_append(pointer_append(ptr, key), pattern);
        const SchemaRegex* regex = compile_regex(pattern, key, entry);
        const NodeId child = compile(sub, entry);
        node(id).pattern_properties.push_back({regex, child, entry});
      }
    } else if (key == "required") {
      if (!v.is_array()) fail(key, ptr, "'required' must be an array of property names");
      for (const json::value& name : v.as_array()) {
        if (!name.is_string()) fail(key, ptr, "'required' must be an array of property names");
        node(id).required.emplace_back(name.as_string());
      }
    } else if (key == "additionalProperties") {
      const NodeId child = compile(v, pointer_append(ptr, key));
      node(id).additional_properties = child;
    } else if (key == "items") {
      if (v.is_array()) fail(key, ptr, "'items' must be a schema; an array of schemas is 'prefixItems' (draft 2020-12)");
      const NodeId child = compile(v, pointer_append(ptr, key));
      node(id).items = child;
    } else if (key == "prefixItems") {
      const std::vector<NodeId> children = schema_list(v, ptr, key, false);
      node(id).prefix_items = children;
    } else if (key == "allOf" || key == "anyOf" || key == "oneOf") {
      const std::vector<NodeId> children = schema_list(v, ptr, key, true);
      (key == "allOf" ? node(id).all_of : key == "anyOf" ? node(id).any_of : node(id).one_of) = children;
    } else if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength") {
      const std::optional<uint64_t> n = as_count(v);
      if (!n) fail(key, ptr, cat(quoted(key), " must be a non-negative integer"));
      Node& x = node(id);
      (key == "minItems" ? x.min_items : key == "maxItems" ? x.max_items : key == "minLength" ? x.min_length : x.max_length) = n;
    } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      if (!v.is_number() || (v.is_double() && !std::isfinite(v.get_double()))) fail(key, ptr, cat(quoted(key), " must be a finite number"));
      Node& x = node(id);
      (key == "minimum" ? x.minimum : key == "maximum" ? x.maximum : key == "exclusiveMinimum" ? x.exclusive_minimum : x.exclusive_maximum) = &v;
    } else if (key == "pattern") {
      if (!v.is_string()) fail(key, ptr, "'pattern' must be a string");
      const SchemaRegex* regex = compile_regex(v.as_string(), key, pointer_append(ptr, key));
      node(id).pattern = regex;
    } else if (key == "format") {
      if (!v.is_string()) fail(key, ptr, "'format' must be a string");
      node(id).format = string_format_named(v.as_string());
      if (!node(id).format) {
        fail(key, ptr, cat("unsupported format ", quoted(v.as_string()), " (supported: date, time, date-time, uuid, email, uri)"));
      }
    } else if (key == "$ref") {
      add_ref(id, v, ptr);
    } else if (key == "$defs" || key == "definitions") {
      for (const auto& [name, sub] : schema_map(v, ptr, key)) compile(sub, pointer_append(pointer_append(ptr, key), name));
    } else {
      fail(key, ptr, cat("unsupported keyword ", quoted(key)));
    }
  }

  unsigned compile_type(const json::value& v, const std::string& ptr) {
    auto bit = [&](const json::value& name) {
      const unsigned b = name.is_string() ? type_bit(name.as_string()) : 0;
      if (b == 0 && name.is_string()) fail("type", ptr, cat("unknown type ", quoted(name.as_string())));
      if (b == 0) fail("type", ptr, "'type' must be a type name or an array of them");
      return b;
    };
    if (!v.is_array()) return bit(v);
    if (v.as_array().empty()) fail("type", ptr, "'type' must not be an empty array");
    unsigned bits = 0;
    for (const json::value& name : v.as_array()) {
      const unsigned b = bit(name);
      if (bits & b) fail("type", ptr, "'type' lists a type twice");
      bits |= b;
    }
    return bits;
  }

  const json::object& schema_map(const json::value& v, const std::string& ptr, std::string_view key) {
    if (!v.is_object()) fail(key, ptr, cat(quoted(key), " must be an object of schemas"));
    return v.as_object();
  }

  std::vector<NodeId> schema_list(const json::value& v, const std::string& ptr, std::string_view key, bool non_empty) {
    if (!v.is_array() || (non_empty && v.as_array().empty())) {
      fail(key, ptr, cat(quoted(key), non_empty ? " must be a non-empty array of schemas" : " must be an array of schemas"));
    }
    std::vector<NodeId> out;
    const std::string here = pointer_append(ptr, key);
    const json::array& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) out.push_back(compile(a[i], pointer_append(here, std::to_string(i))));
    return out;
  }

  const SchemaRegex* compile_regex(std::string_view pattern, std::string_view key, const std::string& pointer) {
    std::string error;
    std::unique_ptr<SchemaRegex> regex = SchemaRegex::compile(pattern, error);
    if (!regex) {
      throw SchemaError(std::string(key), pointer,
                        cat("schema: the regex ", quoted(pattern), " does not compile (", error, ") at ", pointer));
    }
    out_.regexes.push_back(std::move(regex));
    return out_.regexes.back().get();
  }

  void add_ref(NodeId id, const json::value& v, const std::string& ptr) {
    if (!v.is_string()) fail("$ref", ptr, "'$ref' must be a string");
    const std::string_view ref = v.as_string();
    if (ref.empty() || ref[0] != '#') {
      fail("$ref", ptr, cat("'$ref' ", quoted(ref), " is not a local reference: only '#' followed by a JSON pointer is supported"));
    }
    const std::optional<std::string> fragment = percent_decoded(ref.substr(1));
    if (!fragment) fail("$ref", ptr, cat("'$ref' ", quoted(ref), " has a '%' that is not followed by two hex digits"));
    if (!fragment->empty() && (*fragment)[0] != '/') {
      fail("$ref", ptr, cat("'$ref' ", quoted(ref), " names an anchor: only JSON pointers are supported"));
    }
    std::optional<std::vector<std::string>> tokens = pointer_tokens(*fragment);
    if (!tokens) fail("$ref", ptr, cat("'$ref' ", quoted(ref), " is not a valid JSON pointer ('~' must be '~0' or '~1')"));
    std::string target;
    for (const std::string& t : *tokens) target = pointer_append(target, t);
    refs_.push_back({id, std::string(ref), pointer_append(ptr, "$ref"), std::move(target), std::move(*tokens)});
  }

  NodeId compile_target(const PendingRef& r) {
    if (auto it = by_pointer_.find(r.target); it != by_pointer_.end()) return it->second;
    const json::value* target = resolve(out_.document, r.tokens);
    if (!target) {
      throw SchemaError("$ref", r.ref_pointer, cat("schema: '$ref' ", quoted(r.ref), " points at nothing in the document at ", r.ref_pointer));
    }
    try {
      return compile(*target, r.target);
    } catch (const SchemaError& e) {
      throw SchemaError(e.keyword(), e.pointer(), cat(e.what(), " (reached through the $ref at ", r.ref_pointer, ")"));
    }
  }

  // A schema that reaches itself through $ref/allOf/anyOf/oneOf applies itself to the same
  // value without end. Depth-first search without recursion (chains of $refs can be long).
  void refuse_in_place_cycles() {
    const std::vector<Node>& nodes = out_.nodes;
    auto edges = [&](NodeId id) {
      std::vector<NodeId> e = nodes[id].all_of;
      e.insert(e.end(), nodes[id].any_of.begin(), nodes[id].any_of.end());
      e.insert(e.end(), nodes[id].one_of.begin(), nodes[id].one_of.end());
      if (nodes[id].ref != kNoNode) e.push_back(nodes[id].ref);
      return e;
    };
    enum Color : uint8_t { kWhite, kGrey, kBlack };
    std::vector<Color> color(nodes.size(), kWhite);
    struct Frame {
      NodeId id;
      std::vector<NodeId> next;
      size_t i = 0;
    };
    for (NodeId start = 0; start < nodes.size(); ++start) {
      if (color[start] != kWhite) continue;
      std::vector<Frame> stack;
      stack.push_back({start, edges(start)});
      color[start] = kGrey;
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.i == f.next.size()) {
          color[f.id] = kBlack;
          stack.pop_back();
          continue;
        }
        const NodeId to = f.next[f.i++];
        if (color[to] == kGrey) report_cycle(stack, to);
        if (color[to] == kWhite) {
          color[to] = kGrey;
          stack.push_back({to, edges(to)});
        }
      }
    }
  }

  // The cycle is the stack from `to` to its top, closed by an edge back to `to`; one of its
  // edges is a $ref (the others go into the schema's own subschemas).
  template <typename Stack>
  [[noreturn]] void report_cycle(const Stack& stack, NodeId to) {
    size_t first = 0;
    while (stack[first].id != to) ++first;
    for (size_t i = first; i < stack.size(); ++i) {
      const NodeId next = i + 1 < stack.size() ? stack[i + 1].id : to;
      if (out_.nodes[stack[i].id].ref == next) {
        fail("$ref", out_.nodes[stack[i].id].pointer,
             "'$ref' closes a cycle of $ref/allOf/anyOf/oneOf that applies to the same value without end");
      }
    }
    fail("$ref", out_.nodes[to].pointer, "a cycle of $ref/allOf/anyOf/oneOf applies to the same value without end");
  }

  CompiledSchema& out_;
  std::unordered_map<std::string, NodeId> by_pointer_;
  std::vector<PendingRef> refs_;
};

}  // namespace

void append_pointer_token(std::string& ptr, std::string_view token) {
  ptr += '/';
  for (char c : token) {
    if (c == '~') {
      ptr += "~0";
    } else if (c == '/') {
      ptr += "~1";
    } else {
      ptr += c;
    }
  }
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::object: return "object";
    case json::kind::array: return "array";
    case json::kind::string: return "string";
    default: return "number";
  }
}

std::string pointer_append(std::string_view ptr, std::string_view token) {
  std::string out(ptr);
  append_pointer_token(out, token);
  return out;
}

std::shared_ptr<const CompiledSchema> compile_schema(const json::value& schema) {
  if (std::optional<std::string> deep = too_deep(schema, 0, kMaxDocumentDepth)) {
    throw SchemaError("", *deep, cat("schema: the document nests deeper than 512 levels at ", *deep));
  }
  auto compiled = std::make_shared<CompiledSchema>();
  compiled->document = schema;
  Compiler(*compiled).run();
  return compiled;
}

}  // namespace schema_detail

SchemaValidator::SchemaValidator(const boost::json::value& schema) : compiled_(schema_detail::compile_schema(schema)) {}

}  // namespace ragent::tools
