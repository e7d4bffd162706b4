// Fuzzes tools/schema*.cpp: the first line is a schema, the rest an instance (the schema
// document itself when the rest is not JSON). A schema compiles or is refused with a
// SchemaError whose pointer exists in the schema; validation never crashes, validate() agrees
// with validate_all(), and every failure's pointers exist in the instance and the schema.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "tools/schema.hpp"

namespace {

namespace json = boost::json;

// The value at an RFC 6901 pointer, or nullptr.
const json::value* at_pointer(const json::value& root, std::string_view pointer) {
  const json::value* at = &root;
  size_t i = 0;
  while (i < pointer.size()) {
    if (pointer[i] != '/') return nullptr;
    std::string token;
    for (++i; i < pointer.size() && pointer[i] != '/'; ++i) {
      if (pointer[i] != '~') {
        token += pointer[i];
      } else if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[++i] == '0' ? '~' : '/';
      } else {
        return nullptr;
      }
    }
    if (at->is_object()) {
      at = at->as_object().if_contains(token);
    } else if (at->is_array()) {
      char* end = nullptr;
      const unsigned long index = std::strtoul(token.c_str(), &end, 10);
      if (token.empty() || *end != '\0' || index >= at->as_array().size()) return nullptr;
      at = &at->as_array()[index];
    } else {
      return nullptr;
    }
    if (!at) return nullptr;
  }
  return at;
}

void check_failures(const ragent::tools::SchemaValidator& v, const json::value& schema, const json::value& instance) {
  const std::vector<ragent::tools::ValidationError> all = v.validate_all(instance, 8);
  if (all.size() > 8 || v.validate(instance).has_value() == all.empty()) std::abort();
  for (const ragent::tools::ValidationError& e : all) {
    if (!at_pointer(instance, e.instance_pointer) || !at_pointer(schema, e.schema_pointer) || e.message.empty()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t newline = text.find('\n');
  json::parse_options options;
  options.max_depth = 1000;
  json::error_code ec;
  const json::value schema = json::parse(text.substr(0, newline), ec, {}, options);
  if (ec) return 0;
  try {
    const ragent::tools::SchemaValidator v(schema);
    json::value instance;
    if (newline != std::string_view::npos) instance = json::parse(text.substr(newline + 1), ec, {}, options);
    if (newline == std::string_view::npos || ec) instance = schema;
    check_failures(v, schema, instance);
    check_failures(v, schema, json::value());
  } catch (const ragent::tools::SchemaError& e) {
    if (!at_pointer(schema, e.pointer())) std::abort();
  }
  return 0;
}
