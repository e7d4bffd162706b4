#include "engine/grammar/tool_call.hpp"

#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace ragent::grammar {

namespace {

bool valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

ToolSchemaError::ToolSchemaError(std::string tool, const SchemaError& e)
    : SchemaError(e.keyword(), e.pointer(), "tool '" + tool + "': " + e.what()), tool_(std::move(tool)) {}

Grammar tool_call_grammar(std::span<const ToolGrammarSpec> tools, const ToolCallGrammarOptions& options,
                          std::string_view only, bool with_trigger) {
  if (options.max_whitespace < 0) throw GrammarError("tool calls: max_whitespace must not be negative");
  if (options.max_calls < 0) throw GrammarError("tool calls: max_calls must not be negative");
  Grammar g;
  const ExprId ws = g.repeat(g.chars({{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}}), 0, options.max_whitespace);
  auto token = [&](std::string_view text) { return g.sequence({ws, g.literal(text), ws}); };
  JsonSchemaOptions json_options;
  json_options.max_whitespace = options.max_whitespace;
  json_options.strict_objects = options.strict_objects;

  const boost::json::value any_object = boost::json::parse(R"({"type":"object","additionalProperties":true})");
  std::set<std::string> names;
  std::vector<ExprId> calls;
  for (const ToolGrammarSpec& tool : tools) {
    if (!valid_tool_name(tool.name)) {
      throw GrammarError("tool calls: tool name '" + tool.name + "' is not 1-64 characters of A-Z a-z 0-9 _ . -");
    }
    if (!names.insert(tool.name).second) throw GrammarError("tool calls: two tools are named '" + tool.name + "'");
    if (!only.empty() && tool.name != only) continue;
    RuleId args;
    try {
      args = add_json_schema(g, tool.parameters.is_null() ? any_object : tool.parameters, json_options, tool.name + "-arguments");
    } catch (const SchemaError& e) {
      throw ToolSchemaError(tool.name, e);
    }
    const std::string quoted_name = boost::json::serialize(boost::json::value(tool.name));
    calls.push_back(g.sequence({g.literal("{"), ws, g.literal("\"name\""), token(":"), g.literal(quoted_name), token(","),
                                g.literal("\"arguments\""), token(":"), g.ref(args), ws, g.literal("}")}));
  }
  if (calls.empty()) {
    throw GrammarError(only.empty() ? std::string("tool calls: no tools to call")
                                    : "tool calls: no tool is named '" + std::string(only) + "'");
  }
  const RuleId call_rule = g.declare_rule("call");
  g.define_rule(call_rule, g.choice(std::move(calls)));
  const ExprId call = g.ref(call_rule);
  const ExprId more = g.repeat(g.sequence({token(","), call}), 0,
                               options.max_calls == 0 ? Grammar::kUnbounded : options.max_calls - 1);
  std::vector<ExprId> block;
  if (with_trigger) block.push_back(g.literal(kToolCallTrigger));
  block.insert(block.end(), {g.literal("["), ws, call, more, ws, g.literal("]</TOOLCALL>")});
  const RuleId root = g.declare_rule("root");
  g.define_rule(root, g.sequence(std::move(block)));
  g.set_root(root);
  g.validate();
  return g;
}

}  // namespace ragent::grammar
