// The compiled form of a schema, shared by the compiler (schema.cpp) and the validation
// (schema_validate.cpp). Not an interface for other code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "tools/schema_format.hpp"
#include "tools/schema_regex.hpp"

namespace ragent::tools::schema_detail {

namespace json = boost::json;

using NodeId = uint32_t;
inline constexpr NodeId kNoNode = ~NodeId{0};

enum TypeBits : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,  // every number, integers included
  kInteger = 32,
  kString = 64,
};

struct PatternProperty {
  const SchemaRegex* regex;
  NodeId schema;
  std::string pointer;  // of the patternProperties entry
};

// One schema of the document, at one JSON pointer. Values point into CompiledSchema::document;
// unset keywords are null / empty / kNoNode.
struct Node {
  std::string pointer;
  bool is_false = false;  // the schema false
  unsigned types = 0;     // TypeBits of "type"; 0 when absent
  const json::value* enum_values = nullptr;  // the enum's array
  const json::value* const_value = nullptr;
  // objects
  std::map<std::string, NodeId, std::less<>> properties;
  std::vector<std::string> required;
  std::vector<PatternProperty> pattern_properties;
  NodeId additional_properties = kNoNode;
  // arrays
  std::vector<NodeId> prefix_items;
  NodeId items = kNoNode;
  std::optional<uint64_t> min_items, max_items;
  // strings
  std::optional<uint64_t> min_length, max_length;
  const SchemaRegex* pattern = nullptr;
  std::optional<StringFormat> format;
  // numbers (finite, checked when compiled)
  const json::value* minimum = nullptr;
  const json::value* maximum = nullptr;
  const json::value* exclusive_minimum = nullptr;
  const json::value* exclusive_maximum = nullptr;
  // in-place applicators
  NodeId ref = kNoNode;
  std::vector<NodeId> all_of, any_of, one_of;
};

struct CompiledSchema {
  json::value document;  // the validator's own copy; Node pointers point into it
  std::vector<Node> nodes;  // nodes[0] is the document's root schema
  std::vector<std::unique_ptr<SchemaRegex>> regexes;
};

// Builds the compiled form of schema (schema.cpp). Throws SchemaError.
std::shared_ptr<const CompiledSchema> compile_schema(const json::value& schema);

// The JSON type of v as JSON Schema names it ("number" for every number).
std::string_view kind_name(const json::value& v);

// Concatenation by appending (GCC 12 warns falsely about operator+ chains on strings).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out += ... += parts);
  return out;
}

// ptr + "/" + token, with ~ and / escaped as RFC 6901 says; the second appends in place.
std::string pointer_append(std::string_view ptr, std::string_view token);
void append_pointer_token(std::string& ptr, std::string_view token);

}  // namespace ragent::tools::schema_detail
