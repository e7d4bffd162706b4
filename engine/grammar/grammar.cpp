#include "engine/grammar/grammar.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace ragent::grammar {

namespace {

constexpr CharRange kSurrogates{0xD800, 0xDFFF};

// Sorted, merged (overlapping or adjacent joined), surrogates removed.
std::vector<CharRange> normalize(std::vector<CharRange> ranges) {
  std::vector<CharRange> split;
  for (CharRange r : ranges) {
    if (r.lo > r.hi || r.lo > kMaxCodePoint) continue;
    r.hi = std::min(r.hi, kMaxCodePoint);
    if (r.hi < kSurrogates.lo || r.lo > kSurrogates.hi) {
      split.push_back(r);
      continue;
    }
    if (r.lo < kSurrogates.lo) split.push_back({r.lo, kSurrogates.lo - 1});
    if (r.hi > kSurrogates.hi) split.push_back({kSurrogates.hi + 1, r.hi});
  }
  std::sort(split.begin(), split.end(), [](CharRange a, CharRange b) { return a.lo < b.lo; });
  std::vector<CharRange> out;
  for (CharRange r : split) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

// The complement of normalized ranges within 0..kMaxCodePoint, surrogates excluded.
std::vector<CharRange> complement(const std::vector<CharRange>& ranges) {
  std::vector<CharRange> out;
  uint32_t next = 0;
  for (CharRange r : ranges) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return normalize(std::move(out));
}

std::string hex_escape(uint32_t cp) {
  char buf[16];
  if (cp <= 0xFF) {
    std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
  } else if (cp <= 0xFFFF) {
    std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
  } else {
    std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(cp));
  }
  return buf;
}

// A code point inside "..." (in_class false) or [...] (in_class true).
std::string print_char(uint32_t cp, bool in_class) {
  switch (cp) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\\': return "\\\\";
    default: break;
  }
  if (!in_class && cp == '"') return "\\\"";
  if (in_class && (cp == ']' || cp == '[' || cp == '-' || cp == '^')) {
    std::string escaped(1, '\\');
    escaped += static_cast<char>(cp);
    return escaped;
  }
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x2028 || cp == 0x2029 ||
      (cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000 || cp == 0xFEFF) {
    return hex_escape(cp);
  }
  std::string out;
  append_utf8(out, cp);
  return out;
}

}  // namespace

size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp_out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (b0 < 0x80) {
    *cp_out = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  const uint32_t min_for_length[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[n] || cp > kMaxCodePoint || (cp >= kSurrogates.lo && cp <= kSurrogates.hi)) return 0;
  *cp_out = cp;
  return n;
}

bool decode_utf8_all(std::string_view s, std::vector<uint32_t>& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = decode_utf8(s, i, &cp);
    if (n == 0) return false;
    out.push_back(cp);
    i += n;
  }
  return true;
}

ExprId Grammar::add(Expr e) {
  exprs_.push_back(std::move(e));
  return static_cast<ExprId>(exprs_.size() - 1);
}

ExprId Grammar::empty() {
  if (empty_ < 0) empty_ = add(Expr{});
  return empty_;
}

ExprId Grammar::nothing() {
  if (nothing_ < 0) {
    Expr e;
    e.kind = ExprKind::kNothing;
    nothing_ = add(std::move(e));
  }
  return nothing_;
}

ExprId Grammar::literal(std::string_view utf8) {
  if (utf8.empty()) return empty();
  for (size_t i = 0; i < utf8.size();) {
    uint32_t cp;
    const size_t n = decode_utf8(utf8, i, &cp);
    if (n == 0) throw GrammarError("grammar: literal has invalid UTF-8 at byte " + std::to_string(i));
    i += n;
  }
  Expr e;
  e.kind = ExprKind::kLiteral;
  e.text = std::string(utf8);
  return add(std::move(e));
}

ExprId Grammar::chars(std::vector<CharRange> ranges, bool negated) {
  std::vector<CharRange> set = normalize(std::move(ranges));
  if (negated) set = complement(set);
  if (set.empty()) return nothing();
  Expr e;
  e.kind = ExprKind::kChars;
  e.ranges = std::move(set);
  return add(std::move(e));
}

ExprId Grammar::any_char() { return chars({{0, kMaxCodePoint}}); }

ExprId Grammar::sequence(std::vector<ExprId> items) {
  std::vector<ExprId> flat;
  for (ExprId id : items) {
    const Expr& e = expr(id);
    if (e.kind == ExprKind::kNothing) return nothing();
    if (e.kind == ExprKind::kEmpty) continue;
    const std::vector<ExprId> parts = e.kind == ExprKind::kSequence ? e.children : std::vector<ExprId>{id};
    for (ExprId p : parts) {
      // Adjacent literals join into one.
      if (!flat.empty() && expr(flat.back()).kind == ExprKind::kLiteral && expr(p).kind == ExprKind::kLiteral) {
        std::string joined = expr(flat.back()).text;
        joined += expr(p).text;
        flat.back() = literal(joined);
      } else {
        flat.push_back(p);
      }
    }
  }
  if (flat.empty()) return empty();
  if (flat.size() == 1) return flat[0];
  Expr e;
  e.kind = ExprKind::kSequence;
  e.children = std::move(flat);
  return add(std::move(e));
}

ExprId Grammar::choice(std::vector<ExprId> alternatives) {
  std::vector<ExprId> flat;
  std::vector<CharRange> merged_chars;
  size_t chars_at = SIZE_MAX;  // where the merged class goes: the first class's place
  auto push = [&](ExprId id) {
    const Expr& e = expr(id);
    if (e.kind == ExprKind::kNothing) return;
    if (e.kind == ExprKind::kChars) {
      if (chars_at == SIZE_MAX) {
        chars_at = flat.size();
        flat.push_back(-1);
      }
      merged_chars.insert(merged_chars.end(), e.ranges.begin(), e.ranges.end());
      return;
    }
    if (std::find(flat.begin(), flat.end(), id) == flat.end()) flat.push_back(id);
  };
  for (ExprId id : alternatives) {
    const Expr& e = expr(id);
    if (e.kind == ExprKind::kChoice) {
      const std::vector<ExprId> children = e.children;
      for (ExprId c : children) push(c);
    } else {
      push(id);
    }
  }
  if (chars_at != SIZE_MAX) flat[chars_at] = chars(std::move(merged_chars));
  if (flat.empty()) return nothing();
  if (flat.size() == 1) return flat[0];
  Expr e;
  e.kind = ExprKind::kChoice;
  e.children = std::move(flat);
  return add(std::move(e));
}

ExprId Grammar::repeat(ExprId item, int32_t min, int32_t max) {
  if (min < 0 || (max != kUnbounded && max < min)) {
    throw GrammarError("grammar: bad repetition bounds {" + std::to_string(min) + "," +
                       (max == kUnbounded ? std::string() : std::to_string(max)) + "}");
  }
  const Expr& e = expr(item);
  if (max == 0 || e.kind == ExprKind::kEmpty) return empty();
  if (e.kind == ExprKind::kNothing) return min == 0 ? empty() : nothing();
  if (min == 1 && max == 1) return item;
  Expr r;
  r.kind = ExprKind::kRepeat;
  r.children = {item};
  r.min = min;
  r.max = max;
  return add(std::move(r));
}

RuleId Grammar::declare_rule(std::string_view name) {
  // GBNF names: letters, digits and '-'. Anything else becomes '-'.
  std::string base;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    base += ok ? c : '-';
  }
  if (base.empty()) base = "rule";
  std::string unique = base;
  if (rule_ids_.count(unique) != 0) {
    // Suffixes continue from the last one given to this base, so that many rules of one base
    // (the items of a large schema) are declared in linear time.
    int& n = next_suffix_[base];
    n = std::max(n, 2);
    do {
      unique = base;
      unique += '-';
      unique += std::to_string(n++);
    } while (rule_ids_.count(unique) != 0);
  }
  const auto id = static_cast<RuleId>(rules_.size());
  rule_ids_.emplace(unique, id);
  rules_.push_back(Rule{std::move(unique), -1});
  return id;
}

void Grammar::define_rule(RuleId rule, ExprId body) {
  Rule& r = rules_.at(static_cast<size_t>(rule));
  if (r.body >= 0) throw GrammarError("grammar: rule '" + r.name + "' is defined twice");
  r.body = body;
}

ExprId Grammar::ref(RuleId rule) {
  (void)rules_.at(static_cast<size_t>(rule));
  Expr e;
  e.kind = ExprKind::kRule;
  e.rule = rule;
  return add(std::move(e));
}

RuleId Grammar::find_rule(std::string_view name) const {
  const auto it = rule_ids_.find(std::string(name));
  return it == rule_ids_.end() ? -1 : it->second;
}

void Grammar::validate() const {
  if (root_ < 0 || static_cast<size_t>(root_) >= rules_.size()) throw GrammarError("grammar: no root rule");
  for (const Rule& r : rules_) {
    if (r.body < 0) throw GrammarError("grammar: rule '" + r.name + "' is used but never defined");
  }
  const std::vector<RuleId> cycle = left_recursive_cycle();
  if (!cycle.empty()) {
    std::string path;
    for (RuleId r : cycle) {
      if (!path.empty()) path += " -> ";
      path += rule_name(r);
    }
    std::string message = "grammar: rule '";
    message += rule_name(cycle[0]);
    message += "' is left-recursive: ";
    message += path;
    throw GrammarError(message);
  }
}

std::vector<RuleId> Grammar::left_recursive_cycle() const {
  // Which expressions match the empty string. A child is always added before its parent, so
  // one pass in id order settles everything but rule references; repeat until the rules settle.
  std::vector<char> nullable(exprs_.size(), 0);
  std::vector<char> rule_nullable(rules_.size(), 0);
  for (bool changed = true; changed;) {
    for (size_t id = 0; id < exprs_.size(); ++id) {
      const Expr& e = exprs_[id];
      auto child = [&](ExprId c) { return nullable[static_cast<size_t>(c)] != 0; };
      bool n = false;
      switch (e.kind) {
        case ExprKind::kEmpty: n = true; break;
        case ExprKind::kNothing:
        case ExprKind::kLiteral:
        case ExprKind::kChars: n = false; break;
        case ExprKind::kSequence: n = std::all_of(e.children.begin(), e.children.end(), child); break;
        case ExprKind::kChoice: n = std::any_of(e.children.begin(), e.children.end(), child); break;
        case ExprKind::kRepeat: n = e.min == 0 || child(e.children[0]); break;
        case ExprKind::kRule: n = rule_nullable[static_cast<size_t>(e.rule)] != 0; break;
      }
      nullable[id] = n;
    }
    changed = false;
    for (size_t r = 0; r < rules_.size(); ++r) {
      const bool n = rules_[r].body >= 0 && nullable[static_cast<size_t>(rules_[r].body)] != 0;
      if (n && !rule_nullable[r]) {
        rule_nullable[r] = 1;
        changed = true;
      }
    }
  }

  // begins[r]: the rules r's body can begin with (reached through nullable prefixes only).
  std::vector<std::vector<RuleId>> begins(rules_.size());
  std::vector<size_t> seen_for(exprs_.size(), SIZE_MAX);  // the rule whose walk reached it
  for (size_t r = 0; r < rules_.size(); ++r) {
    if (rules_[r].body < 0) continue;
    std::vector<ExprId> pending{rules_[r].body};
    while (!pending.empty()) {
      const ExprId id = pending.back();
      pending.pop_back();
      if (seen_for[static_cast<size_t>(id)] == r) continue;
      seen_for[static_cast<size_t>(id)] = r;
      const Expr& e = exprs_[static_cast<size_t>(id)];
      if (e.kind == ExprKind::kRule) {
        begins[r].push_back(e.rule);
      } else if (e.kind == ExprKind::kSequence) {
        for (ExprId c : e.children) {
          pending.push_back(c);
          if (!nullable[static_cast<size_t>(c)]) break;
        }
      } else if (e.kind == ExprKind::kChoice || e.kind == ExprKind::kRepeat) {
        pending.insert(pending.end(), e.children.begin(), e.children.end());
      }
    }
  }

  // Depth-first search for a cycle in "begins with", without recursion: a grammar may have
  // many rules. state: 0 unvisited, 1 on the current path, 2 done.
  std::vector<char> state(rules_.size(), 0);
  for (size_t start = 0; start < rules_.size(); ++start) {
    if (state[start] != 0) continue;
    std::vector<std::pair<RuleId, size_t>> path{{static_cast<RuleId>(start), 0}};
    state[start] = 1;
    while (!path.empty()) {
      auto& [rule, next] = path.back();
      const std::vector<RuleId>& edges = begins[static_cast<size_t>(rule)];
      if (next == edges.size()) {
        state[static_cast<size_t>(rule)] = 2;
        path.pop_back();
        continue;
      }
      const RuleId to = edges[next++];
      if (state[static_cast<size_t>(to)] == 1) {
        std::vector<RuleId> cycle;
        size_t from = 0;
        while (path[from].first != to) ++from;
        for (size_t k = from; k < path.size(); ++k) cycle.push_back(path[k].first);
        cycle.push_back(to);
        return cycle;
      }
      if (state[static_cast<size_t>(to)] == 0) {
        state[static_cast<size_t>(to)] = 1;
        path.push_back({to, 0});
      }
    }
  }
  return {};
}

std::string Grammar::to_gbnf(ExprId id) const {
  const Expr& e = expr(id);
  // Children that bind looser than their parent get parentheses.
  auto child = [&](ExprId c, bool in_repeat) {
    const ExprKind k = expr(c).kind;
    // A repeated literal of several characters is quoted, so it needs no parentheses.
    const bool wrap = k == ExprKind::kChoice || (in_repeat && (k == ExprKind::kSequence || k == ExprKind::kRepeat));
    if (!wrap) return to_gbnf(c);
    std::string out(1, '(');
    out += to_gbnf(c);
    out += ')';
    return out;
  };
  switch (e.kind) {
    case ExprKind::kEmpty: return "\"\"";
    case ExprKind::kNothing: return "[^\\x00-\\U0010FFFF]";
    case ExprKind::kLiteral: {
      std::string out = "\"";
      for (size_t i = 0; i < e.text.size();) {
        uint32_t cp = 0;
        i += decode_utf8(e.text, i, &cp);
        out += print_char(cp, false);
      }
      return out + "\"";
    }
    case ExprKind::kChars: {
      if (e.ranges == normalize({{0, kMaxCodePoint}})) return ".";
      const std::vector<CharRange> comp = complement(e.ranges);
      const bool negate = comp.size() < e.ranges.size();
      std::string out = negate ? "[^" : "[";
      for (CharRange r : negate ? comp : e.ranges) {
        out += print_char(r.lo, true);
        if (r.hi > r.lo + 1) out += '-';
        if (r.hi > r.lo) out += print_char(r.hi, true);
      }
      return out + "]";
    }
    case ExprKind::kSequence: {
      std::string out;
      for (ExprId c : e.children) {
        if (!out.empty()) out += ' ';
        out += child(c, false);
      }
      return out;
    }
    case ExprKind::kChoice: {
      std::string out;
      for (ExprId c : e.children) {
        if (!out.empty()) out += " | ";
        out += to_gbnf(c);
      }
      return out;
    }
    case ExprKind::kRepeat: {
      std::string out = child(e.children[0], true);
      if (e.min == 0 && e.max == kUnbounded) return out + "*";
      if (e.min == 1 && e.max == kUnbounded) return out + "+";
      if (e.min == 0 && e.max == 1) return out + "?";
      if (e.max == kUnbounded) return out + "{" + std::to_string(e.min) + ",}";
      if (e.min == e.max) return out + "{" + std::to_string(e.min) + "}";
      return out + "{" + std::to_string(e.min) + "," + std::to_string(e.max) + "}";
    }
    case ExprKind::kRule: return rule_name(e.rule);
  }
  return {};
}

std::string Grammar::to_gbnf() const {
  std::string out;
  std::vector<RuleId> order;
  if (root_ >= 0) order.push_back(root_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (static_cast<RuleId>(i) != root_) order.push_back(static_cast<RuleId>(i));
  }
  for (RuleId r : order) {
    out += rule_name(r) + " ::= ";
    out += rule_body(r) >= 0 ? to_gbnf(rule_body(r)) : std::string("[^\\x00-\\U0010FFFF]  # undefined");
    out += '\n';
  }
  return out;
}

}  // namespace ragent::grammar
