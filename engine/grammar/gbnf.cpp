#include "engine/grammar/gbnf.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ragent::grammar {

namespace {

// Deeper nesting is refused, so that a hostile text cannot exhaust the parser's stack.
constexpr int kMaxGroupDepth = 200;

std::string format_error(std::string_view message, size_t line, size_t column) {
  std::string out = "gbnf:";
  out += std::to_string(line);
  out += ':';
  out += std::to_string(column);
  out += ": ";
  out += message;
  return out;
}

// Concatenation by appending (GCC 12 warns falsely about operator+ chains on strings).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  ((out += parts), ...);
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_newline(char c) { return c == '\n' || c == '\r'; }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A character as an error message shows it: itself if printable ASCII, else its byte value.
std::string describe(char c) {
  if (c > ' ' && c < 0x7F) return cat("'", c, "'");
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(c)));
  return buf;
}

// A recursive-descent parser over the text's bytes into g. The rules it meets are declared in
// g on first sight (reference or definition), unless g declares them already.
class GbnfParser {
 public:
  struct Definition {
    std::string name;
    size_t offset;
  };

  GbnfParser(Grammar& g, std::string_view text) : g_(g), text_(text) {
    for (size_t r = 0; r < g.rule_count(); ++r) rules_.emplace(g.rule_name(static_cast<RuleId>(r)), static_cast<RuleId>(r));
  }

  // grammar := rule*, at least one; then every rule used must be defined.
  void parse() {
    skip_space(/*newline_ok=*/true);
    if (at_end()) fail("empty grammar: no rules", 0);
    while (!at_end()) {
      parse_rule();
      skip_space(/*newline_ok=*/true);
    }
    for (size_t r = 0; r < g_.rule_count(); ++r) {
      if (g_.rule_body(static_cast<RuleId>(r)) < 0) {
        const std::string& name = g_.rule_name(static_cast<RuleId>(r));
        fail(cat("undefined rule '", name, "'"), first_use_.at(name));
      }
    }
  }

  const std::vector<Definition>& definitions() const { return definitions_; }

  [[noreturn]] void fail(std::string_view message, size_t offset) const {
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    throw GbnfError(message, line, offset - line_start + 1);
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  // Spaces, tabs and comments; line breaks too where a rule goes on (newline_ok).
  void skip_space(bool newline_ok) {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || (newline_ok && is_newline(c))) {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && !is_newline(peek())) ++pos_;
      } else {
        return;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    if (pos_ == start) fail(at_end() ? std::string("expected a rule name") : cat("expected a rule name, found ", describe(peek())), pos_);
    return std::string(text_.substr(start, pos_ - start));
  }

  RuleId rule_named(const std::string& name, size_t offset) {
    first_use_.emplace(name, offset);
    const auto [it, inserted] = rules_.emplace(name, -1);
    if (inserted) it->second = g_.declare_rule(name);
    return it->second;
  }

  // rule := name '::=' alternatives (end of line | end of text)
  void parse_rule() {
    const size_t name_at = pos_;
    const std::string name = parse_name();
    skip_space(/*newline_ok=*/false);
    if (!text_.substr(pos_).starts_with("::=")) fail(cat("expected ::= after the rule name '", name, "'"), pos_);
    pos_ += 3;
    skip_space(/*newline_ok=*/true);
    const ExprId body = parse_alternatives(/*nested=*/false);
    if (!at_end() && !is_newline(peek())) {
      fail(cat("expected the end of the line after rule '", name, "', found ", describe(peek())), pos_);
    }
    const RuleId rule = rule_named(name, name_at);
    if (g_.rule_body(rule) >= 0) fail(cat("rule '", name, "' is defined twice"), name_at);
    g_.define_rule(rule, body);
    definitions_.push_back({name, name_at});
  }

  // alternatives := sequence ('|' sequence)*
  ExprId parse_alternatives(bool nested) {
    std::vector<ExprId> alternatives{parse_sequence(nested)};
    while (!at_end() && peek() == '|') {
      ++pos_;
      skip_space(/*newline_ok=*/true);
      alternatives.push_back(parse_sequence(nested));
    }
    return g_.choice(std::move(alternatives));
  }

  // sequence := (item postfix*)*; line breaks separate items only inside parentheses.
  ExprId parse_sequence(bool nested) {
    std::vector<ExprId> items;
    while (!at_end()) {
      const char c = peek();
      ExprId item = -1;
      if (c == '"') {
        item = parse_literal();
      } else if (c == '[') {
        item = parse_class();
      } else if (c == '.') {
        ++pos_;
        item = g_.any_char();
      } else if (c == '(') {
        item = parse_group();
      } else if (is_name_char(c)) {
        const size_t at = pos_;
        item = g_.ref(rule_named(parse_name(), at));
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        fail(cat("'", c, "' has nothing to repeat"), pos_);
      } else {
        break;
      }
      skip_space(nested);
      while (!at_end() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) {
        item = parse_postfix(item, nested);
        skip_space(nested);
      }
      items.push_back(item);
    }
    return g_.sequence(std::move(items));
  }

  // group := '(' alternatives ')', line breaks allowed inside.
  ExprId parse_group() {
    const size_t open = pos_;
    if (++depth_ > kMaxGroupDepth) fail(cat("groups nested deeper than ", std::to_string(kMaxGroupDepth)), open);
    ++pos_;
    skip_space(/*newline_ok=*/true);
    const ExprId body = parse_alternatives(/*nested=*/true);
    if (at_end()) fail("unterminated group: ( has no matching )", open);
    if (peek() != ')') fail(cat("expected ) or |, found ", describe(peek())), pos_);
    ++pos_;
    --depth_;
    return body;
  }

  // postfix := '*' | '+' | '?' | '{' m '}' | '{' m ',' '}' | '{' m ',' n '}' | '{' ',' n '}'
  ExprId parse_postfix(ExprId item, bool nested) {
    const char c = peek();
    ++pos_;
    if (c == '*') return g_.star(item);
    if (c == '+') return g_.plus(item);
    if (c == '?') return g_.optional(item);
    const size_t open = pos_ - 1;
    skip_space(nested);
    int32_t min = -1;
    if (!at_end() && is_digit(peek())) {
      min = parse_count();
      skip_space(nested);
    }
    int32_t max = min;
    if (!at_end() && peek() == ',') {
      ++pos_;
      skip_space(nested);
      max = Grammar::kUnbounded;
      if (!at_end() && is_digit(peek())) {
        max = parse_count();
        skip_space(nested);
      }
      if (min < 0 && max == Grammar::kUnbounded) fail("repetition {,} needs at least one bound", open);
      if (min < 0) min = 0;
    }
    if (at_end()) fail("unterminated repetition: { has no matching }", open);
    if (peek() != '}' || min < 0) fail("expected {m}, {m,}, {m,n} or {,n}", open);
    ++pos_;
    if (max != Grammar::kUnbounded && min > max) fail("repetition bounds out of order", open);
    return g_.repeat(item, min, max);
  }

  int32_t parse_count() {
    const size_t start = pos_;
    int64_t value = 0;
    for (; !at_end() && is_digit(peek()); ++pos_) {
      value = value * 10 + (peek() - '0');
      if (value > INT32_MAX) fail("repetition count too large", start);
    }
    return static_cast<int32_t>(value);
  }

  // literal := '"' (character | escape)* '"' on one line
  ExprId parse_literal() {
    const size_t open = pos_;
    ++pos_;
    std::string utf8;
    for (;;) {
      if (at_end() || is_newline(peek())) fail("unterminated string literal", open);
      if (peek() == '"') break;
      const size_t at = pos_;
      const uint32_t cp = parse_char();
      if (cp >= 0xD800 && cp <= 0xDFFF) fail("a surrogate is not a character and cannot be in a literal", at);
      append_utf8(utf8, cp);
    }
    ++pos_;
    return g_.literal(utf8);
  }

  // class := '[' '^'? (char | char '-' char)* ']' on one line
  ExprId parse_class() {
    const size_t open = pos_;
    ++pos_;
    bool negated = false;
    if (!at_end() && peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CharRange> ranges;
    auto check_open = [&] {
      if (at_end() || is_newline(peek())) fail("unterminated character class", open);
    };
    for (;;) {
      check_open();
      if (peek() == ']') break;
      const size_t lo_at = pos_;
      const uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (pos_ + 1 < text_.size() && peek() == '-' && text_[pos_ + 1] != ']') {
        ++pos_;
        check_open();
        hi = parse_char();
        if (hi < lo) fail("character range out of order", lo_at);
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    return g_.chars(std::move(ranges), negated);
  }

  // One character of a literal or class: an escape or a UTF-8 code point.
  uint32_t parse_char() {
    if (peek() != '\\') {
      uint32_t cp = 0;
      const size_t n = decode_utf8(text_, pos_, &cp);
      if (n == 0) fail("invalid UTF-8", pos_);
      pos_ += n;
      return cp;
    }
    const size_t at = pos_;
    ++pos_;
    if (at_end() || is_newline(peek())) fail("bad escape: \\ at the end of the line", at);
    const char c = peek();
    ++pos_;
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
      case '^': return static_cast<uint32_t>(c);
      case 'x': return parse_hex(2, at);
      case 'u': return parse_hex(4, at);
      case 'U': return parse_hex(8, at);
      default: break;
    }
    if (c > ' ' && c < 0x7F) fail(cat("bad escape \\", c), at);
    fail(cat("bad escape: \\ followed by byte ", describe(c)), at);
  }

  uint32_t parse_hex(size_t digits, size_t at) {
    uint64_t value = 0;
    for (size_t k = 0; k < digits; ++k, ++pos_) {
      if (at_end() || hex_value(peek()) < 0) fail(cat("bad escape: ", std::to_string(digits), " hex digits expected"), at);
      value = value * 16 + static_cast<uint64_t>(hex_value(peek()));
    }
    if (value > kMaxCodePoint) fail("bad escape: above U+10FFFF", at);
    return static_cast<uint32_t>(value);
  }

  Grammar& g_;
  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::unordered_map<std::string, RuleId> rules_;
  std::unordered_map<std::string, size_t> first_use_;  // offset of each rule's first mention
  std::vector<Definition> definitions_;
};

}  // namespace

GbnfError::GbnfError(std::string_view message, size_t line, size_t column)
    : GrammarError(format_error(message, line, column)), line_(line), column_(column) {}

Grammar parse_gbnf(std::string_view text, std::string_view root) {
  // Rules are numbered in the order of their definitions, so that printing the grammar and
  // parsing it back is a fixed point. A first pass finds that order (and every syntax error);
  // the second builds the grammar with the rules declared in that order.
  Grammar scratch;
  GbnfParser first(scratch, text);
  first.parse();
  Grammar g;
  for (const GbnfParser::Definition& d : first.definitions()) g.declare_rule(d.name);
  GbnfParser(g, text).parse();

  const RuleId root_rule = g.find_rule(root);
  if (root_rule < 0) throw GbnfError(cat("no root rule: no rule is named '", root, "'"), 1, 1);
  g.set_root(root_rule);
  const std::vector<RuleId> cycle = g.left_recursive_cycle();
  if (!cycle.empty()) {
    std::string path;
    for (RuleId r : cycle) {
      if (!path.empty()) path += " -> ";
      path += g.rule_name(r);
    }
    first.fail(cat("rule '", g.rule_name(cycle[0]), "' is left-recursive: ", path),
               first.definitions()[static_cast<size_t>(cycle[0])].offset);
  }
  g.validate();
  return g;
}

}  // namespace ragent::grammar
