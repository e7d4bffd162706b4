// The schema corpus of issue 4: the hand-written tool and structured-output schemas in
// tests/grammar/schemas/ and the generated ones of tests/support/schema_gen.hpp, which the
// property tests and the grammar benchmark run over. Pins that every schema compiles with the
// default options to a grammar that matches some text, that together they use every keyword
// the compiler supports, that the generator's seeds are almost never refused, and that the
// valid instances in schema_instances.json (raw canonical JSON texts) match their grammars.
// schemas/check_instances.py checks the same instances against python-jsonschema.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "engine/grammar/json_schema.hpp"
#include "tests/support/grammar_match.hpp"
#include "tests/support/schema_gen.hpp"

namespace ragent::grammar {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kInstancesFile = "../schema_instances.json";  // beside schemas/, so every file there is a schema
// Schemas whose language is one text, so instances.json lists only that one: a tool without
// arguments is called with {} and nothing else.
const std::set<std::string> kOneTextSchemas = {"get_current_time.json"};

// What the corpus as a whole must exercise: each supported keyword, each format, each kind of
// additionalProperties, each numeric bound on integers and on numbers, type lists, recursion.
const std::vector<std::string> kRequiredFeatures = {
    "type", "type list", "properties", "required", "additionalProperties: false", "additionalProperties: true",
    "additionalProperties: schema", "patternProperties", "enum", "const", "items", "items: false", "prefixItems",
    "minItems", "maxItems", "minLength", "maxLength", "pattern", "format: date", "format: time", "format: date-time",
    "format: uuid", "format: email", "format: uri", "integer minimum", "integer maximum", "integer exclusiveMinimum",
    "integer exclusiveMaximum", "number minimum", "number maximum", "number exclusiveMinimum", "number exclusiveMaximum",
    "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "recursion"};

fs::path schemas_dir() { return fs::path(RAGENT_SOURCE_DIR) / "tests" / "grammar" / "schemas"; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The schema files, sorted by name.
std::vector<fs::path> schema_files() {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(schemas_dir())) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string percent_decoded(std::string_view ref) {
  std::string out;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (ref[i] == '%' && i + 2 < ref.size()) {
      out += static_cast<char>(std::stoi(std::string(ref.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += ref[i];
    }
  }
  return out;
}

// ---- what a schema document uses ----

// "integer" or "number" where the schema's types allow numbers of only that kind, else "".
std::string numeric_kind(const json::object& o) {
  const json::value* t = o.if_contains("type");
  if (!t) return "";
  const json::array names = t->is_array() ? t->as_array() : json::array{*t};
  const bool integer = std::find(names.begin(), names.end(), json::value("integer")) != names.end();
  const bool number = std::find(names.begin(), names.end(), json::value("number")) != names.end();
  return number ? "number" : integer ? "integer" : "";
}

// Adds the features of schema to out: its keywords, and finer ones (see kRequiredFeatures).
// Refs found outside any $defs go to refs[from].
void collect(const json::value& schema, const std::string& from, std::set<std::string>& out,
             std::map<std::string, std::set<std::string>>& refs) {
  if (schema.is_bool()) {
    out.insert("boolean schema");
    return;
  }
  if (!schema.is_object()) return;
  const json::object& o = schema.as_object();
  for (const auto& [key, value] : o) out.insert(std::string(key));
  if (const json::value* t = o.if_contains("type"); t && t->is_array()) out.insert("type list");
  if (const std::string kind = numeric_kind(o); !kind.empty()) {
    for (const char* bound : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (o.contains(bound)) out.insert(kind + " " + bound);
    }
  }
  if (const json::value* f = o.if_contains("format"); f && f->is_string()) out.insert("format: " + std::string(f->as_string()));
  if (const json::value* a = o.if_contains("additionalProperties")) {
    out.insert(a->is_bool() ? (a->as_bool() ? "additionalProperties: true" : "additionalProperties: false") : "additionalProperties: schema");
  }
  if (const json::value* i = o.if_contains("items"); i && i->is_bool() && !i->as_bool()) out.insert("items: false");
  if (const json::value* r = o.if_contains("$ref"); r && r->is_string()) refs[from].insert(percent_decoded(r->as_string()));

  for (const char* key : {"properties", "patternProperties"}) {
    if (const json::value* m = o.if_contains(key); m && m->is_object()) {
      for (const auto& [name, sub] : m->as_object()) collect(sub, from, out, refs);
    }
  }
  for (const char* key : {"$defs", "definitions"}) {
    if (const json::value* m = o.if_contains(key); m && m->is_object()) {
      for (const auto& [name, sub] : m->as_object()) collect(sub, "#/" + std::string(key) + "/" + std::string(name), out, refs);
    }
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (const json::value* s = o.if_contains(key); s && s->is_object()) collect(*s, from, out, refs);  // booleans: features above
  }
  for (const char* key : {"prefixItems", "anyOf", "oneOf", "allOf"}) {
    if (const json::value* l = o.if_contains(key); l && l->is_array()) {
      for (const json::value& sub : l->as_array()) collect(sub, from, out, refs);
    }
  }
}

// Whether the $refs between the document ("#") and its definitions form a cycle.
bool has_cycle(const std::map<std::string, std::set<std::string>>& refs) {
  std::map<std::string, int> state;  // 1 on the stack, 2 done
  std::function<bool(const std::string&)> visit = [&](const std::string& at) {
    state[at] = 1;
    if (auto it = refs.find(at); it != refs.end()) {
      for (const std::string& to : it->second) {
        if (state[to] == 1 || (state[to] == 0 && visit(to))) return true;
      }
    }
    state[at] = 2;
    return false;
  };
  for (const auto& [from, targets] : refs) {
    if (state[from] == 0 && visit(from)) return true;
  }
  return false;
}

std::set<std::string> features(const json::value& schema) {
  std::set<std::string> out;
  std::map<std::string, std::set<std::string>> refs;
  collect(schema, "#", out, refs);
  if (has_cycle(refs)) out.insert("recursion");
  return out;
}

// Whether the grammar matches some text: a schema can compile to a grammar of no texts (an
// allOf whose branches forbid each other's keys, a format longer than its maxLength), and a
// tool call under it could never be written. The least fixpoint of "this rule's body can
// match something".
bool matches_something(const Grammar& g) {
  std::vector<bool> rule_ok(g.rule_count(), false);
  std::function<bool(ExprId)> ok = [&](ExprId id) {
    const Expr& e = g.expr(id);
    switch (e.kind) {
      case ExprKind::kNothing: return false;
      case ExprKind::kSequence: return std::all_of(e.children.begin(), e.children.end(), ok);
      case ExprKind::kChoice: return std::any_of(e.children.begin(), e.children.end(), ok);
      case ExprKind::kRepeat: return e.min == 0 || ok(e.children[0]);
      case ExprKind::kRule: return static_cast<bool>(rule_ok[static_cast<size_t>(e.rule)]);
      default: return true;
    }
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rule_count(); ++r) {
      const ExprId body = g.rule_body(static_cast<RuleId>(r));
      if (!rule_ok[r] && body >= 0 && ok(body)) rule_ok[r] = changed = true;
    }
  }
  return rule_ok[static_cast<size_t>(g.root())];
}

// Per feature, how many of the documents use it.
struct Coverage {
  std::map<std::string, size_t> documents;

  void add(const json::value& schema) {
    for (const std::string& f : features(schema)) ++documents[f];
  }
  size_t count(const std::string& feature) const {
    auto it = documents.find(feature);
    return it == documents.end() ? 0 : it->second;
  }
  std::string table() const {
    std::string out;
    for (const auto& [feature, n] : documents) out += "  " + feature + ": " + std::to_string(n) + "\n";
    return out;
  }
};

std::string describe(const std::exception& e) {
  std::string out = e.what();
  if (const auto* s = dynamic_cast<const SchemaError*>(&e)) out += " [keyword '" + s->keyword() + "', pointer '" + s->pointer() + "']";
  return out;
}

// ---- tests ----

TEST(SchemaCorpus, HandWrittenSchemasCompile) {
  const std::vector<fs::path> files = schema_files();
  EXPECT_GE(files.size(), 70u);
  Coverage coverage;
  size_t large = 0;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    json::value schema;
    try {
      schema = json::parse(read_file(file));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what();
      continue;
    }
    ASSERT_TRUE(schema.is_object()) << "a schema file holds one schema object";
    try {
      EXPECT_TRUE(matches_something(compile_json_schema(schema))) << "the grammar matches no text";
    } catch (const std::exception& e) {
      ADD_FAILURE() << "refused: " << describe(e);
    }
    coverage.add(schema);
    if (const json::value* p = schema.as_object().if_contains("properties"); p && p->as_object().size() >= 20) ++large;
  }
  for (const std::string& f : kRequiredFeatures) EXPECT_GE(coverage.count(f), 1u) << "no hand-written schema uses " << f;
  EXPECT_GE(coverage.count("recursion"), 4u);
  EXPECT_GE(large, 3u) << "schemas with 20 or more top-level properties";
  std::cout << "[ corpus   ] " << files.size() << " hand-written schemas, " << large << " with >= 20 properties; documents per feature:\n"
            << coverage.table();
}

TEST(SchemaCorpus, GeneratedSchemasCompile) {
  // Raw seeds first: the generator should make only schemas the compiler accepts.
  constexpr int kSeeds = 1000;
  int refused = 0;
  std::string refusals;
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    const json::value schema = testing::random_schema(rng, 2 + seed % 4);
    try {
      compile_json_schema(schema);
    } catch (const std::exception& e) {
      if (++refused <= 5) refusals += "seed " + std::to_string(seed) + ": " + describe(e) + "\n  " + json::serialize(schema) + "\n";
    }
  }
  EXPECT_LE(refused, kSeeds / 100) << "refused seeds (first five):\n" << refusals;

  const std::vector<json::value> schemas = testing::generated_schemas(200, 1);
  ASSERT_EQ(schemas.size(), 200u);
  Coverage coverage;
  std::set<std::string> distinct;
  for (const json::value& schema : schemas) {
    const std::string text = json::serialize(schema);
    try {
      EXPECT_TRUE(matches_something(compile_json_schema(schema))) << "the grammar matches no text: " << text;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "refused: " << describe(e) << "\n  " << text;
    }
    distinct.insert(text);
    coverage.add(schema);
  }
  EXPECT_EQ(distinct.size(), schemas.size()) << "duplicate schemas";
  for (const std::string& f : kRequiredFeatures) EXPECT_GE(coverage.count(f), 2u) << "fewer than 2 generated schemas use " << f;
  EXPECT_GE(coverage.count("recursion"), 10u);

  const std::vector<json::value> again = testing::generated_schemas(200, 1);
  EXPECT_TRUE(again == schemas) << "generated_schemas is not deterministic";
  std::cout << "[ corpus   ] " << refused << " of " << kSeeds << " raw seeds refused; generated_schemas(200, 1) per feature:\n"
            << coverage.table();
}

TEST(SchemaCorpus, InstancesMatchTheirGrammar) {
  const json::value instances = json::parse(read_file(schemas_dir() / kInstancesFile));
  ASSERT_TRUE(instances.is_object());
  const json::object& by_file = instances.as_object();
  std::set<std::string> names;
  size_t texts = 0;
  for (const fs::path& file : schema_files()) {
    const std::string name = file.filename().string();
    names.insert(name);
    SCOPED_TRACE(name);
    const json::value* list = by_file.if_contains(name);
    if (!list || !list->is_array()) {
      ADD_FAILURE() << "no array of instances in " << kInstancesFile;
      continue;
    }
    EXPECT_GE(list->as_array().size(), kOneTextSchemas.count(name) ? 1u : 2u);
    EXPECT_LE(list->as_array().size(), 4u);
    Grammar g;
    try {
      g = compile_json_schema(json::parse(read_file(file)));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "refused: " << describe(e);
      continue;
    }
    testing::ReferenceMatcher m(g);
    for (const json::value& item : list->as_array()) {
      ASSERT_TRUE(item.is_string()) << "instances are raw JSON texts, stored as strings";
      const std::string text(item.as_string());
      ++texts;
      boost::system::error_code ec;
      json::parse(text, ec);
      EXPECT_FALSE(ec) << "not JSON: " << text;
      EXPECT_TRUE(m.matches_root(text)) << "valid instance rejected: " << text;
      // Sanity: the matcher is not accepting everything near the text.
      EXPECT_FALSE(m.matches_root(text + " ")) << "trailing space accepted: " << text;
      if (text.back() == '}' || text.back() == ']' || text.back() == '"') {
        EXPECT_FALSE(m.matches_root(text.substr(0, text.size() - 1))) << "truncated text accepted: " << text;
      }
    }
  }
  for (const auto& [name, list] : by_file) {
    EXPECT_TRUE(names.count(std::string(name))) << kInstancesFile << " names a schema file that does not exist: " << std::string_view(name);
  }
  EXPECT_GE(texts, 2 * names.size());
  std::cout << "[ corpus   ] " << texts << " instances over " << names.size() << " schemas matched\n";
}

}  // namespace
}  // namespace ragent::grammar
