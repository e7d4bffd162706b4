// JSON strings: the encodings of decoded code points (so that lengths, patterns and formats,
// which JSON Schema defines on the decoded string, apply to what the model writes), the
// "format" languages, and the exact complement of a set of property names.
//
// Formats (all exact as regular languages over the listed grammar, written as IR):
//   date       RFC 3339 full-date. Month 01-12; day 01-31, 01-30 for 04/06/09/11, 01-29 for 02.
//              Leap years are not checked: 02-29 is accepted for every year, 02-30 never.
//   time       RFC 3339 full-time: hh:mm:ss(.frac)? with offset Z/z or +hh:mm/-hh:mm; hour
//              00-23, minute 00-59, second 00-60 (leap second).
//   date-time  date, T or t, time.
//   uuid       RFC 4122 string form 8-4-4-4-12 hex digits, either case, any version.
//   email      RFC 5321 Mailbox with a dot-atom local part (no quoted local part) and a domain
//              of dot-separated LDH labels (1-63 chars, no leading/trailing '-'); no address
//              literals, no length limits beyond the labels'.
//   uri        RFC 3986 URI (scheme ":" hier-part ["?" query] ["#" fragment]) by its ABNF,
//              IPv6address / IPvFuture host literals included; no IRIs (ASCII only).
#include <algorithm>
#include <map>
#include <utility>

#include "engine/grammar/ir_match.hpp"
#include "engine/grammar/json_schema_detail.hpp"

namespace ragent::grammar::schema_detail {

namespace {

// The code points of s. Schema strings come from parsed JSON, so invalid UTF-8 is a value
// built by hand; it is refused rather than decoded into something else.
std::vector<uint32_t> code_points_of(std::string_view s) {
  std::vector<uint32_t> out;
  if (!decode_utf8_all(s, out)) throw GrammarError("schema: a string is not valid UTF-8");
  return out;
}

bool in_ranges(const std::vector<CharRange>& ranges, uint32_t cp) {
  return std::any_of(ranges.begin(), ranges.end(), [cp](CharRange r) { return cp >= r.lo && cp <= r.hi; });
}

// Code points written raw in a JSON string: everything but controls, '"' and '\'.
bool raw_allowed(uint32_t cp) { return cp >= 0x20 && cp != '"' && cp != '\\'; }

// A small builder vocabulary for the format grammars.
struct Ir {
  Grammar& g;
  ExprId lit(std::string_view s) const { return g.literal(s); }
  ExprId cls(std::vector<CharRange> r) const { return g.chars(std::move(r)); }
  ExprId range(char lo, char hi) const { return g.chars({{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)}}); }
  ExprId seq(std::vector<ExprId> v) const { return g.sequence(std::move(v)); }
  ExprId alt(std::vector<ExprId> v) const { return g.choice(std::move(v)); }
  ExprId rep(ExprId e, int32_t lo, int32_t hi) const { return g.repeat(e, lo, hi); }
  ExprId digit() const { return range('0', '9'); }
  ExprId hex() const { return cls({{'0', '9'}, {'a', 'f'}, {'A', 'F'}}); }
  ExprId alpha() const { return cls({{'a', 'z'}, {'A', 'Z'}}); }
  // One of the ASCII characters in `set`.
  ExprId any_of(std::string_view set) const {
    std::vector<CharRange> r;
    for (char c : set) r.push_back({static_cast<uint32_t>(static_cast<unsigned char>(c)), static_cast<uint32_t>(static_cast<unsigned char>(c))});
    return cls(std::move(r));
  }
};

ExprId date_expr(const Ir& ir) {
  const ExprId d01_28 = ir.alt({ir.seq({ir.lit("0"), ir.range('1', '9')}), ir.seq({ir.lit("1"), ir.digit()}), ir.seq({ir.lit("2"), ir.range('0', '8')})});
  const ExprId d01_29 = ir.alt({d01_28, ir.lit("29")});
  const ExprId d01_30 = ir.alt({d01_29, ir.lit("30")});
  const ExprId d01_31 = ir.alt({d01_30, ir.lit("31")});
  const ExprId long_month = ir.alt({ir.seq({ir.lit("0"), ir.any_of("13578")}), ir.seq({ir.lit("1"), ir.any_of("02")})});
  const ExprId short_month = ir.alt({ir.seq({ir.lit("0"), ir.any_of("469")}), ir.lit("11")});
  const ExprId month_day = ir.alt({ir.seq({long_month, ir.lit("-"), d01_31}), ir.seq({short_month, ir.lit("-"), d01_30}),
                                   ir.seq({ir.lit("02-"), d01_29})});
  return ir.seq({ir.rep(ir.digit(), 4, 4), ir.lit("-"), month_day});
}

ExprId time_expr(const Ir& ir) {
  const ExprId hour = ir.alt({ir.seq({ir.any_of("01"), ir.digit()}), ir.seq({ir.lit("2"), ir.range('0', '3')})});
  const ExprId minute = ir.seq({ir.range('0', '5'), ir.digit()});
  const ExprId second = ir.alt({minute, ir.lit("60")});
  const ExprId fraction = ir.g.optional(ir.seq({ir.lit("."), ir.g.plus(ir.digit())}));
  const ExprId offset = ir.alt({ir.any_of("Zz"), ir.seq({ir.any_of("+-"), hour, ir.lit(":"), minute})});
  return ir.seq({hour, ir.lit(":"), minute, ir.lit(":"), second, fraction, offset});
}

ExprId uuid_expr(const Ir& ir) {
  const ExprId h = ir.hex();
  return ir.seq({ir.rep(h, 8, 8), ir.lit("-"), ir.rep(h, 4, 4), ir.lit("-"), ir.rep(h, 4, 4), ir.lit("-"), ir.rep(h, 4, 4), ir.lit("-"),
                 ir.rep(h, 12, 12)});
}

ExprId email_expr(const Ir& ir) {
  const ExprId atext = ir.alt({ir.alpha(), ir.digit(), ir.any_of("!#$%&'*+/=?^_`{|}~-")});
  const ExprId atom = ir.g.plus(atext);
  const ExprId local = ir.seq({atom, ir.g.star(ir.seq({ir.lit("."), atom}))});
  const ExprId let_dig = ir.alt({ir.alpha(), ir.digit()});
  const ExprId ldh = ir.alt({let_dig, ir.lit("-")});
  const ExprId label = ir.seq({let_dig, ir.g.optional(ir.seq({ir.rep(ldh, 0, 61), let_dig}))});
  const ExprId domain = ir.seq({label, ir.g.star(ir.seq({ir.lit("."), label}))});
  return ir.seq({local, ir.lit("@"), domain});
}

ExprId ipv4_expr(const Ir& ir) {
  const ExprId octet = ir.alt({ir.digit(), ir.seq({ir.range('1', '9'), ir.digit()}), ir.seq({ir.lit("1"), ir.digit(), ir.digit()}),
                               ir.seq({ir.lit("2"), ir.range('0', '4'), ir.digit()}), ir.seq({ir.lit("25"), ir.range('0', '5')})});
  return ir.seq({octet, ir.lit("."), octet, ir.lit("."), octet, ir.lit("."), octet});
}

// RFC 3986 IPv6address: one alternative per count of h16 groups before "::".
ExprId ipv6_expr(const Ir& ir) {
  const ExprId h16 = ir.rep(ir.hex(), 1, 4);
  const ExprId h16c = ir.seq({h16, ir.lit(":")});
  const ExprId ls32 = ir.alt({ir.seq({h16, ir.lit(":"), h16}), ipv4_expr(ir)});
  std::vector<ExprId> alts{ir.seq({ir.rep(h16c, 6, 6), ls32})};
  for (int32_t i = 0; i <= 7; ++i) {
    const ExprId before = i == 0 ? ir.g.empty() : ir.g.optional(ir.seq({ir.rep(h16c, 0, i - 1), h16}));
    const ExprId after = i <= 5 ? ir.seq({ir.rep(h16c, 5 - i, 5 - i), ls32}) : i == 6 ? h16 : ir.g.empty();
    alts.push_back(ir.seq({before, ir.lit("::"), after}));
  }
  return ir.alt(std::move(alts));
}

ExprId uri_expr(const Ir& ir) {
  const ExprId unreserved = ir.alt({ir.alpha(), ir.digit(), ir.any_of("-._~")});
  const ExprId sub_delims = ir.any_of("!$&'()*+,;=");
  const ExprId pct = ir.seq({ir.lit("%"), ir.hex(), ir.hex()});
  const ExprId pchar = ir.alt({unreserved, pct, sub_delims, ir.any_of(":@")});
  const ExprId scheme = ir.seq({ir.alpha(), ir.g.star(ir.alt({ir.alpha(), ir.digit(), ir.any_of("+-.")}))});
  const ExprId userinfo = ir.g.star(ir.alt({unreserved, pct, sub_delims, ir.lit(":")}));
  const ExprId ipvfuture = ir.seq({ir.any_of("vV"), ir.g.plus(ir.hex()), ir.lit("."), ir.g.plus(ir.alt({unreserved, sub_delims, ir.lit(":")}))});
  const ExprId ip_literal = ir.seq({ir.lit("["), ir.alt({ipv6_expr(ir), ipvfuture}), ir.lit("]")});
  const ExprId reg_name = ir.g.star(ir.alt({unreserved, pct, sub_delims}));  // covers IPv4address
  const ExprId host = ir.alt({ip_literal, reg_name});
  const ExprId authority = ir.seq({ir.g.optional(ir.seq({userinfo, ir.lit("@")})), host, ir.g.optional(ir.seq({ir.lit(":"), ir.g.star(ir.digit())}))});
  const ExprId segment = ir.g.star(pchar);
  const ExprId segment_nz = ir.g.plus(pchar);
  const ExprId more_segments = ir.g.star(ir.seq({ir.lit("/"), segment}));
  const ExprId hier = ir.alt({ir.seq({ir.lit("//"), authority, more_segments}),
                              ir.seq({ir.lit("/"), ir.g.optional(ir.seq({segment_nz, more_segments}))}),
                              ir.seq({segment_nz, more_segments}), ir.g.empty()});
  const ExprId query = ir.g.star(ir.alt({pchar, ir.any_of("/?")}));
  return ir.seq({scheme, ir.lit(":"), hier, ir.g.optional(ir.seq({ir.lit("?"), query})), ir.g.optional(ir.seq({ir.lit("#"), query}))});
}

struct TrieNode {
  bool terminal = false;
  std::map<uint32_t, TrieNode> children;
};

ExprId complement_of(Grammar& g, const TrieNode& node, ExprId any_text) {
  std::vector<ExprId> alts;
  if (!node.terminal) alts.push_back(g.empty());
  std::vector<CharRange> next;
  for (const auto& [cp, child] : node.children) next.push_back({cp, cp});
  // A first character no name continues with, then anything.
  alts.push_back(g.sequence({g.chars(next, true), any_text}));
  for (const auto& [cp, child] : node.children) {
    std::string c;
    append_utf8(c, cp);
    alts.push_back(g.sequence({g.literal(c), complement_of(g, child, any_text)}));
  }
  return g.choice(std::move(alts));
}

}  // namespace

ExprId StringEncoder::any_char() {
  if (any_char_ < 0) any_char_ = encode_chars({{0, kMaxCodePoint}});
  return any_char_;
}

ExprId StringEncoder::encode_chars(const std::vector<CharRange>& ranges) {
  std::vector<ExprId> alts;
  // Raw: the class without the characters JSON requires to be escaped.
  static constexpr CharRange kRaw[] = {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, kMaxCodePoint}};
  std::vector<CharRange> raw;
  for (CharRange r : ranges) {
    for (CharRange allowed : kRaw) {
      const uint32_t lo = std::max(r.lo, allowed.lo);
      const uint32_t hi = std::min(r.hi, allowed.hi);
      if (lo <= hi) raw.push_back({lo, hi});
    }
  }
  alts.push_back(g_.chars(std::move(raw)));
  if (in_ranges(ranges, '"')) alts.push_back(g_.literal("\\\""));
  if (in_ranges(ranges, '\\')) alts.push_back(g_.literal("\\\\"));
  if (in_ranges(ranges, '/')) alts.push_back(g_.literal("\\/"));
  // Controls: the short escapes, and \u00XX with hex digits in either case.
  static constexpr std::pair<uint32_t, const char*> kShort[] = {{'\b', "\\b"}, {'\f', "\\f"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};
  for (const auto& [cp, text] : kShort) {
    if (in_ranges(ranges, cp)) alts.push_back(g_.literal(text));
  }
  for (uint32_t high = 0; high <= 1; ++high) {
    std::vector<CharRange> low_digits;
    for (uint32_t low = 0; low < 16; ++low) {
      if (!in_ranges(ranges, high * 16 + low)) continue;
      if (low < 10) {
        low_digits.push_back({'0' + low, '0' + low});
      } else {
        low_digits.push_back({'a' + low - 10, 'a' + low - 10});
        low_digits.push_back({'A' + low - 10, 'A' + low - 10});
      }
    }
    if (low_digits.empty()) continue;
    std::string prefix = "\\u00";
    prefix += static_cast<char>('0' + high);
    alts.push_back(g_.sequence({g_.literal(prefix), g_.chars(std::move(low_digits))}));
  }
  return g_.choice(std::move(alts));
}

ExprId StringEncoder::encode_text(std::string_view utf8) {
  std::vector<ExprId> parts;
  for (uint32_t cp : code_points_of(utf8)) {
    if (raw_allowed(cp) && cp != '/') {
      std::string c;
      append_utf8(c, cp);
      parts.push_back(g_.literal(c));
    } else {
      parts.push_back(encode_chars({{cp, cp}}));
    }
  }
  return g_.sequence(std::move(parts));
}

ExprId StringEncoder::encode(ExprId decoded) {
  if (auto it = memo_.find(decoded); it != memo_.end()) return it->second;
  const Expr e = g_.expr(decoded);  // a copy: building below may move the expression table
  ExprId out = -1;
  switch (e.kind) {
    case ExprKind::kEmpty:
    case ExprKind::kNothing: out = decoded; break;
    case ExprKind::kLiteral: out = encode_text(e.text); break;
    case ExprKind::kChars: out = encode_chars(e.ranges); break;
    case ExprKind::kSequence:
    case ExprKind::kChoice: {
      std::vector<ExprId> children;
      for (ExprId c : e.children) children.push_back(encode(c));
      out = e.kind == ExprKind::kSequence ? g_.sequence(std::move(children)) : g_.choice(std::move(children));
      break;
    }
    case ExprKind::kRepeat: out = g_.repeat(encode(e.children[0]), e.min, e.max); break;
    case ExprKind::kRule: {
      auto it = rules_.find(e.rule);
      if (it == rules_.end()) {
        std::string name = g_.rule_name(e.rule);
        name += "-json";
        const RuleId encoded = g_.declare_rule(name);
        it = rules_.emplace(e.rule, encoded).first;
        g_.define_rule(encoded, encode(g_.rule_body(e.rule) >= 0 ? g_.rule_body(e.rule) : g_.nothing()));
      }
      out = g_.ref(it->second);
      break;
    }
  }
  memo_[decoded] = out;
  return out;
}

bool is_known_format(std::string_view format) {
  return format == "date" || format == "time" || format == "date-time" || format == "uuid" || format == "email" || format == "uri";
}

ExprId format_expr(Grammar& g, std::string_view format) {
  const Ir ir{g};
  if (format == "date") return date_expr(ir);
  if (format == "time") return time_expr(ir);
  if (format == "date-time") return ir.seq({date_expr(ir), ir.any_of("Tt"), time_expr(ir)});
  if (format == "uuid") return uuid_expr(ir);
  if (format == "email") return email_expr(ir);
  if (format == "uri") return uri_expr(ir);
  std::string message = "schema: unknown format '";
  message += format;
  message += "'";
  throw GrammarError(message);
}

ExprId any_string_except(Grammar& g, const std::vector<std::string>& names) {
  TrieNode root;
  for (const std::string& name : names) {
    TrieNode* node = &root;
    for (uint32_t cp : code_points_of(name)) node = &node->children[cp];
    node->terminal = true;
  }
  return complement_of(g, root, g.star(g.any_char()));
}

bool expr_matches(const Grammar& g, ExprId e, std::string_view utf8) { return IrMatcher(g).matches(e, utf8); }

size_t code_point_count(std::string_view utf8) {
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace ragent::grammar::schema_detail
