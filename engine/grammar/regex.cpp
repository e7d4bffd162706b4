// Regular expressions into the grammar IR.
//
// Supported subset: ECMA-262 pattern syntax (what JSON Schema's "pattern" uses), read as UTF-8
// and matched by code point, as a RegExp with the u flag does.
//   - Characters stand for themselves, except the syntax characters ^ $ \ . * + ? ( ) [ ] { } |.
//     A lone ] or } is a literal (ECMA-262 Annex B and PCRE agree); a { that does not start
//     a quantifier is an error, since it is easy to misread.
//   - . is any code point except the line terminators \n \r U+2028 U+2029.
//   - Escapes: \d \D \w \W \s \S with their ECMA-262 sets (\d [0-9], \w [A-Za-z0-9_], \s the
//     WhiteSpace and LineTerminator code points, U+FEFF included and U+0085 not), \t \n \r \f \v,
//     \0 (not followed by a digit), \xHH, \uHHHH (a surrogate pair written \uD83D\uDE00 is one
//     code point, a lone surrogate an error), \u{H...}, \cX (X an ASCII letter), and a
//     backslash before any ASCII punctuation character (\. \* \\ \/ \- ...).
//   - Classes [...] and [^...] with single characters, ranges a-z and the escapes above; \b
//     in a class is U+0008; - first or last is a literal; [] matches nothing and [^] anything.
//   - Groups ( ), (?: ) and (?<name> ) (an ASCII identifier, unique); alternation |.
//   - Quantifiers * + ? {n} {n,} {n,m}, each also lazy with a trailing ? (same language);
//     bounds at most 10000 (kMaxRepeatBound), n <= m.
//   - Anchors: ^ only at the start and $ only at the end of the pattern or of one of its
//     top-level alternatives (^a$|^b$ works; a mix such as ^a|b too).
// Everything else is a RegexError naming the construct and its byte offset: backreferences
// (\1, \k<name>), lookaround ((?= (?! (?<= (?<!), word boundaries (\b \B), inline flags and other
// (? groups, property escapes (\p{...} \P{...}), octal escapes, anchors anywhere else, unknown
// escapes (\a, \e, \q ...), unbalanced parentheses or brackets, ranges out of order or bounded by
// a class escape ([z-a], [\d-z]), a quantifier with nothing to repeat, bad bounds, invalid UTF-8
// and a dangling backslash. Captures do not matter for the language and are not recorded.
#include "engine/grammar/regex.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ragent::grammar {

namespace {

// Larger {n,m} bounds are refused: a matcher expands bounded repetition into states, so a
// bound is a size, and a pattern is untrusted input.
constexpr int64_t kMaxRepeatBound = 10000;
// Deeper nesting is refused, so that a hostile pattern cannot exhaust the parser's stack.
constexpr int kMaxGroupDepth = 200;

// ECMA-262 character sets, sorted and disjoint.
constexpr CharRange kDigit[] = {{'0', '9'}};
constexpr CharRange kWord[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
constexpr CharRange kSpace[] = {{0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                                {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
constexpr CharRange kLineTerminator[] = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

// Appends set (sorted, disjoint) or, when negated, its complement in 0..kMaxCodePoint.
void append_set(std::span<const CharRange> set, bool negated, std::vector<CharRange>& out) {
  if (!negated) {
    out.insert(out.end(), set.begin(), set.end());
    return;
  }
  uint32_t next = 0;
  for (CharRange r : set) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
}

// Concatenation by appending (GCC 12 warns falsely about operator+ chains on strings).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  ((out += parts), ...);
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

// One top-level alternative and the anchors around it.
struct Alternative {
  ExprId expr = -1;
  bool anchored_start = false;
  bool anchored_end = false;
};

// What an escape or a class member stands for: one code point, or a set such as \d.
struct ClassAtom {
  uint32_t cp = 0;
  std::span<const CharRange> set;  // empty for a code point
  bool negated = false;            // the set's complement (\D \W \S)
  bool is_set() const { return !set.empty(); }
  void append_to(std::vector<CharRange>& out) const {
    if (is_set()) {
      append_set(set, negated, out);
    } else {
      out.push_back({cp, cp});
    }
  }
};

// A recursive-descent parser over the pattern's bytes; pos_ is always at a code point boundary.
class RegexParser {
 public:
  RegexParser(Grammar& g, std::string_view pattern) : g_(g), p_(pattern) {}

  // pattern := alternative ('|' alternative)*
  std::vector<Alternative> parse() {
    std::vector<Alternative> alternatives;
    for (;;) {
      alternatives.push_back(parse_alternative(/*top_level=*/true));
      if (at_end()) return alternatives;
      if (peek() != '|') fail("unmatched )", pos_);  // the only other end of an alternative
      ++pos_;
    }
  }

 private:
  [[noreturn]] void fail(std::string_view what, size_t offset) const {
    std::string message = "regex: byte ";
    message += std::to_string(offset);
    message += ": ";
    message += what;
    throw RegexError(message, offset);
  }
  [[noreturn]] void fail_anchor(char anchor) const {
    std::string message = "anchor ";
    message += anchor;
    message += anchor == '^' ? " is only supported at the start" : " is only supported at the end";
    message += " of the pattern or of a top-level alternative";
    fail(message, pos_);
  }

  bool at_end() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }
  std::string text_from(size_t start) const { return std::string(p_.substr(start, pos_ - start)); }

  uint32_t next_code_point() {
    uint32_t cp = 0;
    const size_t n = decode_utf8(p_, pos_, &cp);
    if (n == 0) fail("invalid UTF-8", pos_);
    pos_ += n;
    return cp;
  }

  // alternative := '^'? term* '$'?   (anchors only at the top level)
  Alternative parse_alternative(bool top_level) {
    Alternative alt;
    if (!at_end() && peek() == '^') {
      if (!top_level) fail_anchor('^');
      alt.anchored_start = true;
      ++pos_;
    }
    std::vector<ExprId> items;
    std::string run;  // consecutive unquantified literals, kept as one
    auto flush_run = [&] {
      if (run.empty()) return;
      items.push_back(g_.literal(run));
      run.clear();
    };
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '$') {
        const bool last = pos_ + 1 == p_.size() || p_[pos_ + 1] == '|';
        if (!top_level || !last) fail_anchor('$');
        alt.anchored_end = true;
        ++pos_;
        break;
      }
      if (peek() == '^') fail_anchor('^');
      const ExprId atom = parse_atom();
      if (!at_quantifier() && g_.expr(atom).kind == ExprKind::kLiteral) {
        run += g_.expr(atom).text;
        continue;
      }
      flush_run();
      items.push_back(parse_quantifier(atom));
    }
    flush_run();
    alt.expr = g_.sequence(std::move(items));
    return alt;
  }

  bool at_quantifier() const {
    return !at_end() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{');
  }

  // atom := '.' | class | group | escape | character
  ExprId parse_atom() {
    const char c = peek();
    if (c == '.') {
      ++pos_;
      return g_.chars(std::vector<CharRange>(std::begin(kLineTerminator), std::end(kLineTerminator)), /*negated=*/true);
    }
    if (c == '[') return parse_class();
    if (c == '(') return parse_group();
    if (c == '*' || c == '+' || c == '?') fail(cat("quantifier ", c, " has nothing to repeat"), pos_);
    if (c == '{') {
      const size_t start = pos_;
      int32_t min = 0;
      int32_t max = 0;
      parse_braces(min, max);
      fail(cat("quantifier ", text_from(start), " has nothing to repeat"), start);
    }
    ClassAtom atom;
    if (c == '\\') {
      atom = parse_escape(/*in_class=*/false);
    } else {
      atom.cp = next_code_point();
    }
    if (atom.is_set()) {
      std::vector<CharRange> ranges;
      atom.append_to(ranges);
      return g_.chars(std::move(ranges));
    }
    std::string utf8;
    append_utf8(utf8, atom.cp);
    return g_.literal(utf8);
  }

  // quantifier := ('*' | '+' | '?' | '{' n (',' m?)? '}') '?'?
  ExprId parse_quantifier(ExprId item) {
    if (!at_quantifier()) return item;
    int32_t min = 0;
    int32_t max = Grammar::kUnbounded;
    switch (peek()) {
      case '*': ++pos_; break;
      case '+': min = 1; ++pos_; break;
      case '?': max = 1; ++pos_; break;
      default: parse_braces(min, max); break;
    }
    if (!at_end() && peek() == '?') ++pos_;  // lazy: the same strings, in another order
    return g_.repeat(item, min, max);
  }

  // {n}, {n,} or {n,m} at pos_.
  void parse_braces(int32_t& min, int32_t& max) {
    const size_t start = pos_;
    size_t i = pos_ + 1;
    auto number = [&](int64_t& value) {
      const size_t from = i;
      value = 0;
      for (; i < p_.size() && is_digit(p_[i]); ++i) {
        if (value <= kMaxRepeatBound) value = value * 10 + (p_[i] - '0');  // saturates past the cap
      }
      return i > from;
    };
    int64_t lo = 0;
    int64_t hi = 0;
    bool ok = number(lo);
    hi = lo;
    if (ok && i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(hi)) hi = Grammar::kUnbounded;
    }
    ok = ok && i < p_.size() && p_[i] == '}';
    if (!ok) fail("{ does not start a quantifier {n}, {n,} or {n,m}; a literal brace is written \\{", start);
    pos_ = i + 1;
    if (lo > kMaxRepeatBound || hi > kMaxRepeatBound) {
      fail(cat("quantifier ", text_from(start), " has a bound above ", std::to_string(kMaxRepeatBound)), start);
    }
    if (hi != Grammar::kUnbounded && lo > hi) fail(cat("quantifier ", text_from(start), " has its bounds out of order"), start);
    min = static_cast<int32_t>(lo);
    max = static_cast<int32_t>(hi);
  }

  // group := '(' ('?:' | '?<' name '>')? alternative ('|' alternative)* ')'
  ExprId parse_group() {
    const size_t open = pos_;
    if (++depth_ > kMaxGroupDepth) fail(cat("groups nested deeper than ", std::to_string(kMaxGroupDepth)), open);
    ++pos_;
    if (!at_end() && peek() == '?') parse_group_kind(open);
    std::vector<ExprId> alternatives;
    for (;;) {
      alternatives.push_back(parse_alternative(/*top_level=*/false).expr);
      if (at_end()) fail("unterminated group: ( has no matching )", open);
      if (peek() == ')') break;
      ++pos_;  // '|'
    }
    ++pos_;
    --depth_;
    return g_.choice(std::move(alternatives));
  }

  // After "(?": accepts ':' and '<name>', refuses the rest by name.
  void parse_group_kind(size_t open) {
    const std::string_view rest = p_.substr(pos_ + 1);
    if (rest.starts_with(":")) {
      pos_ += 2;
    } else if (rest.starts_with("<=") || rest.starts_with("<!")) {
      fail(cat("lookbehind (?", rest.substr(0, 2), " is not supported"), open);
    } else if (rest.starts_with("=") || rest.starts_with("!")) {
      fail(cat("lookahead (?", rest.substr(0, 1), " is not supported"), open);
    } else if (rest.starts_with("<")) {
      pos_ += 2;
      const size_t name_at = pos_;
      auto name_char = [](char c, bool first) { return is_ascii_letter(c) || c == '_' || c == '$' || (!first && is_digit(c)); };
      while (!at_end() && name_char(peek(), pos_ == name_at)) ++pos_;
      if (pos_ == name_at || at_end() || peek() != '>') {
        fail("a group name must be an ASCII identifier followed by >", name_at);
      }
      std::string name = text_from(name_at);
      for (const std::string& seen : group_names_) {
        if (seen == name) fail(cat("duplicate group name '", name, "'"), name_at);
      }
      group_names_.push_back(std::move(name));
      ++pos_;
    } else {
      fail(cat("group (?", rest.substr(0, 1), " is not supported (inline flags and other extensions are not ECMA-262)"),
           open);
    }
  }

  // class := '[' '^'? (member | member '-' member)* ']'
  ExprId parse_class() {
    const size_t open = pos_;
    ++pos_;
    bool negated = false;
    if (!at_end() && peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CharRange> ranges;
    for (;;) {
      if (at_end()) fail("unterminated character class: [ has no matching ]", open);
      if (peek() == ']') break;
      const size_t lo_at = pos_;
      const ClassAtom lo = parse_class_member();
      // A - before ] (or at the start, handled as a member above) is a literal.
      if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        const size_t dash = pos_;
        ++pos_;
        const ClassAtom hi = parse_class_member();
        if (lo.is_set() || hi.is_set()) fail("a class escape such as \\d cannot bound a range", dash);
        if (lo.cp > hi.cp) fail(cat("character range ", text_from(lo_at), " is out of order"), lo_at);
        ranges.push_back({lo.cp, hi.cp});
        continue;
      }
      lo.append_to(ranges);
    }
    ++pos_;
    return g_.chars(std::move(ranges), negated);
  }

  ClassAtom parse_class_member() {
    if (peek() == '\\') return parse_escape(/*in_class=*/true);
    ClassAtom atom;
    atom.cp = next_code_point();
    return atom;
  }

  // escape := '\' (set | control | hex | unicode | 'c' letter | '0' | punctuation)
  ClassAtom parse_escape(bool in_class) {
    const size_t start = pos_;
    ++pos_;
    if (at_end()) fail("the pattern ends with a lone backslash", start);
    const char c = peek();
    ++pos_;
    ClassAtom atom;
    auto set = [&](std::span<const CharRange> s, bool negated) {
      atom.set = s;
      atom.negated = negated;
      return atom;
    };
    auto code_point = [&](uint32_t cp) {
      atom.cp = cp;
      return atom;
    };
    switch (c) {
      case 'd': return set(kDigit, false);
      case 'D': return set(kDigit, true);
      case 'w': return set(kWord, false);
      case 'W': return set(kWord, true);
      case 's': return set(kSpace, false);
      case 'S': return set(kSpace, true);
      case 't': return code_point('\t');
      case 'n': return code_point('\n');
      case 'r': return code_point('\r');
      case 'f': return code_point('\f');
      case 'v': return code_point('\v');
      case 'b':
        if (in_class) return code_point('\b');
        fail("word boundary \\b is not supported", start);
      case 'B': fail("word boundary \\B is not supported", start);
      case '0':
        if (!at_end() && is_digit(peek())) fail("octal escapes are not supported (\\0 followed by a digit); write \\xHH", start);
        return code_point(0);
      case 'x': return code_point(read_hex(2, start, "\\x needs two hex digits"));
      case 'u': return code_point(parse_unicode_escape(start));
      case 'c':
        if (at_end() || !is_ascii_letter(peek())) fail("\\c must be followed by an ASCII letter", start);
        return code_point(static_cast<uint32_t>(p_[pos_++]) % 32);
      case 'k': fail("named backreference \\k is not supported", start);
      case 'p':
      case 'P': fail(cat("Unicode property escape \\", c, " is not supported"), start);
      default: break;
    }
    if (is_digit(c)) fail(cat("backreference \\", c, " is not supported"), start);
    const bool punctuation = c >= '!' && c <= '~' && !is_ascii_letter(c);
    if (punctuation) return code_point(static_cast<uint32_t>(c));
    if (is_ascii_letter(c)) fail(cat("unknown escape \\", c), start);
    fail("a backslash must be followed by an escape or ASCII punctuation", start);
  }

  // After "\u": HHHH (two of them for a surrogate pair) or {H...}.
  uint32_t parse_unicode_escape(size_t start) {
    uint32_t cp = 0;
    if (!at_end() && peek() == '{') {
      ++pos_;
      const size_t digits_at = pos_;
      uint64_t value = 0;
      for (; !at_end() && hex_value(peek()) >= 0; ++pos_) {
        if (value <= kMaxCodePoint) value = value * 16 + static_cast<uint64_t>(hex_value(peek()));
      }
      if (pos_ == digits_at || at_end() || peek() != '}') fail("\\u{ needs hex digits and a closing }", start);
      ++pos_;
      if (value > kMaxCodePoint) fail("\\u{...} is above U+10FFFF", start);
      cp = static_cast<uint32_t>(value);
    } else {
      cp = read_hex(4, start, "\\u needs four hex digits or {...}");
      uint32_t low = 0;
      if (cp >= 0xD800 && cp <= 0xDBFF && p_.substr(pos_).starts_with("\\u") && try_hex(pos_ + 2, 4, &low) &&
          low >= 0xDC00 && low <= 0xDFFF) {
        pos_ += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
    }
    if (is_surrogate(cp)) fail(cat("lone surrogate ", text_from(start), ": patterns match code points, not UTF-16 units"), start);
    return cp;
  }

  bool try_hex(size_t at, size_t digits, uint32_t* out) const {
    if (at + digits > p_.size()) return false;
    uint32_t value = 0;
    for (size_t k = 0; k < digits; ++k) {
      const int h = hex_value(p_[at + k]);
      if (h < 0) return false;
      value = value * 16 + static_cast<uint32_t>(h);
    }
    *out = value;
    return true;
  }

  uint32_t read_hex(size_t digits, size_t start, std::string_view error) {
    uint32_t value = 0;
    if (!try_hex(pos_, digits, &value)) fail(error, start);
    pos_ += digits;
    return value;
  }

  Grammar& g_;
  std::string_view p_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<std::string> group_names_;
};

// The alternatives' union, where each lacking anchor is made explicit with any code point,
// repeated (ECMA-262 test() looks for a match anywhere; . in that padding includes newlines).
ExprId with_padding(Grammar& g, const std::vector<Alternative>& alternatives) {
  const ExprId any = g.star(g.any_char());
  std::vector<ExprId> padded;
  for (const Alternative& a : alternatives) {
    padded.push_back(g.sequence({a.anchored_start ? g.empty() : any, a.expr, a.anchored_end ? g.empty() : any}));
  }
  return g.choice(std::move(padded));
}

}  // namespace

ParsedRegex parse_regex(Grammar& g, std::string_view pattern) {
  const std::vector<Alternative> alternatives = RegexParser(g, pattern).parse();
  bool same_anchors = true;
  std::vector<ExprId> exprs;
  for (const Alternative& a : alternatives) {
    exprs.push_back(a.expr);
    same_anchors = same_anchors && a.anchored_start == alternatives[0].anchored_start &&
                   a.anchored_end == alternatives[0].anchored_end;
  }
  if (same_anchors) return {g.choice(std::move(exprs)), alternatives[0].anchored_start, alternatives[0].anchored_end};
  // Alternatives anchored differently (^a|b): the padding goes inside, and the whole is anchored.
  return {with_padding(g, alternatives), true, true};
}

ExprId regex_search(Grammar& g, std::string_view pattern) {
  const ParsedRegex parsed = parse_regex(g, pattern);
  return with_padding(g, {{parsed.expr, parsed.anchored_start, parsed.anchored_end}});
}

ExprId regex_full_match(Grammar& g, std::string_view pattern) {
  // Anchors at the ends of a whole match change nothing.
  std::vector<ExprId> exprs;
  for (const Alternative& a : RegexParser(g, pattern).parse()) exprs.push_back(a.expr);
  return g.choice(std::move(exprs));
}

}  // namespace ragent::grammar
