// The grammar of a Llama-Nemotron tool-call block, built from the tools' argument schemas:
//
//   [{"name": "<tool>", "arguments": <that tool's arguments>}, ...]</TOOLCALL>
//
// (what follows the trigger `<TOOLCALL>`; required and named tool choices put the trigger in
// front). Whitespace between JSON tokens is bounded by `max_whitespace` both in the wrapper and
// inside the arguments: 1 by default, because the chat format writes its tool-call history
// with ", " and ": " separators and the model should be free to keep that style; 0 is compact.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "engine/grammar/grammar.hpp"
#include "engine/grammar/json_schema.hpp"

namespace ragent::grammar {

struct ToolGrammarSpec {
  std::string name;               // ^[A-Za-z0-9_.-]{1,64}$
  boost::json::value parameters;  // the arguments' JSON Schema; null: any object
};

struct ToolCallGrammarOptions {
  int max_whitespace = 1;
  bool strict_objects = true;  // as JsonSchemaOptions
  int max_calls = 0;           // calls in one block at most; 0: no limit
};

// A schema the compiler refuses, from one tool: what() starts with "tool 'NAME': ".
class ToolSchemaError : public SchemaError {
 public:
  ToolSchemaError(std::string tool, const SchemaError& e);
  const std::string& tool() const { return tool_; }

 private:
  std::string tool_;
};

// The block after `<TOOLCALL>`, for the tools (only the one named `only`, when not empty).
// with_trigger: the block starts with `<TOOLCALL>` (a required call). Throws ToolSchemaError
// for a tool's schema, GrammarError for no tools, a bad or duplicate name, or `only` unknown.
Grammar tool_call_grammar(std::span<const ToolGrammarSpec> tools, const ToolCallGrammarOptions& options = {},
                          std::string_view only = {}, bool with_trigger = false);

inline constexpr std::string_view kToolCallTrigger = "<TOOLCALL>";
inline constexpr std::string_view kThinkingEnd = "</think>";

}  // namespace ragent::grammar
