// Fuzzes engine/grammar/json_schema.cpp: any JSON document compiles into a grammar that
// validates and prints, or is refused with a GrammarError (SchemaError, RegexError); nothing
// else may escape, and nothing may crash. Byte 0 picks the options, the rest is the schema.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json/parse.hpp>

#include "engine/grammar/json_schema.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ragent::grammar::JsonSchemaOptions options;
  options.max_whitespace = data[0] & 3;
  options.strict_objects = (data[0] & 4) == 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  boost::json::error_code ec;
  const boost::json::value schema = boost::json::parse(text, ec);
  if (ec) return 0;
  try {
    const ragent::grammar::Grammar g = ragent::grammar::compile_json_schema(schema, options);
    g.validate();
    if (g.to_gbnf().empty()) std::abort();
  } catch (const ragent::grammar::GrammarError&) {
    // a refused schema: fine
  }
  return 0;
}
