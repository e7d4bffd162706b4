// Numeric ranges as grammars, exactly: integers and plain decimals between bounds of any size,
// built digit by digit so that a range costs O(digits) alternatives.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/grammar/json_schema_detail.hpp"

namespace ragent::grammar::schema_detail {

namespace {

std::string trim_leading_zeros(std::string s) {
  const size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? "0" : s.substr(nz);
}

std::string trim_trailing_zeros(std::string s) {
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

// Magnitude strings (canonical, no sign) plus or minus one; minus needs mag >= 1.
std::string plus_one(std::string mag) {
  for (size_t i = mag.size(); i-- > 0;) {
    if (mag[i] != '9') {
      ++mag[i];
      return mag;
    }
    mag[i] = '0';
  }
  mag.insert(mag.begin(), '1');
  return mag;
}

std::string minus_one(std::string mag) {
  for (size_t i = mag.size(); i-- > 0;) {
    if (mag[i] != '0') {
      --mag[i];
      return trim_leading_zeros(mag);
    }
    mag[i] = '9';
  }
  return "0";  // unreachable for mag >= 1
}

int compare_magnitude(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

bool is_zero(const Decimal& d) { return d.int_digits == "0" && d.frac_digits.empty(); }

Decimal make_integer(bool negative, std::string mag) {
  Decimal d;
  d.int_digits = trim_leading_zeros(std::move(mag));
  d.negative = negative && d.int_digits != "0";
  return d;
}

Decimal increment(const Decimal& x) {  // x an integer
  if (!x.negative) return make_integer(false, plus_one(x.int_digits));
  return make_integer(true, minus_one(x.int_digits));
}

Decimal decrement(const Decimal& x) {  // x an integer
  if (x.negative) return make_integer(true, plus_one(x.int_digits));
  if (x.int_digits == "0") return make_integer(true, "1");
  return make_integer(false, minus_one(x.int_digits));
}

Decimal floor_of(const Decimal& x) {
  if (x.frac_digits.empty()) return x;
  if (!x.negative) return make_integer(false, x.int_digits);
  return make_integer(true, plus_one(x.int_digits));
}

Decimal ceil_of(const Decimal& x) {
  if (x.frac_digits.empty()) return x;
  if (!x.negative) return make_integer(false, plus_one(x.int_digits));
  return make_integer(true, x.int_digits);
}

// The inclusive integer range of b: [lo, hi], either side open (nullopt).
std::pair<std::optional<Decimal>, std::optional<Decimal>> integer_bounds(const NumberBounds& b) {
  std::optional<Decimal> lo, hi;
  if (b.lower) {
    lo = b.lower->exclusive ? increment(floor_of(b.lower->value)) : ceil_of(b.lower->value);
  }
  if (b.upper) {
    hi = b.upper->exclusive ? decrement(ceil_of(b.upper->value)) : floor_of(b.upper->value);
  }
  return {lo, hi};
}

ExprId digit_class(Grammar& g, char lo, char hi) {
  return g.chars({{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)}});
}

// Fixed-width digit strings between x and y (equal lengths, x <= y), leading zeros allowed.
ExprId fixed_width_range(Grammar& g, const std::string& x, const std::string& y) {
  const size_t n = x.size();
  if (n == 0) return g.empty();
  if (x == y) return g.literal(x);
  const bool x_rest_zero = x.find_first_not_of('0', 1) == std::string::npos;
  const bool y_rest_nine = y.find_first_not_of('9', 1) == std::string::npos;
  const ExprId any_rest = g.repeat(digit_class(g, '0', '9'), static_cast<int32_t>(n - 1), static_cast<int32_t>(n - 1));
  if (x[0] == y[0]) return g.sequence({g.literal(x.substr(0, 1)), fixed_width_range(g, x.substr(1), y.substr(1))});
  // First digits differ: x0 then >= rest of x; the digits strictly between; y0 then <= rest of
  // y. A rest of x that is all zeros (of y, all nines) joins the middle class.
  std::vector<ExprId> alts;
  char mid_lo = static_cast<char>(x[0] + 1);
  char mid_hi = static_cast<char>(y[0] - 1);
  if (x_rest_zero) {
    mid_lo = x[0];
  } else {
    alts.push_back(g.sequence({g.literal(x.substr(0, 1)), fixed_width_range(g, x.substr(1), std::string(n - 1, '9'))}));
  }
  if (y_rest_nine) mid_hi = y[0];
  if (mid_lo <= mid_hi) alts.push_back(g.sequence({digit_class(g, mid_lo, mid_hi), any_rest}));
  if (!y_rest_nine) {
    alts.push_back(g.sequence({g.literal(y.substr(0, 1)), fixed_width_range(g, std::string(n - 1, '0'), y.substr(1))}));
  }
  return g.choice(std::move(alts));
}

// Canonical non-negative integers (0 | [1-9][0-9]*) in [a, b]; b nullopt = no upper bound.
ExprId digits_range(Grammar& g, std::string a, const std::optional<std::string>& b) {
  std::vector<ExprId> alts;
  if (a == "0") {
    alts.push_back(g.literal("0"));
    if (b && *b == "0") return alts[0];
    a.clear();  // = "1": GCC 12 warns falsely (-Wrestrict) on assigning the literal
    a.push_back('1');
  }
  const size_t la = a.size();
  if (b && b->size() == la) {
    alts.push_back(fixed_width_range(g, a, *b));
    return g.choice(std::move(alts));
  }
  alts.push_back(fixed_width_range(g, a, std::string(la, '9')));
  const ExprId digit = digit_class(g, '0', '9');
  const ExprId lead = digit_class(g, '1', '9');
  if (!b) {
    alts.push_back(g.sequence({lead, g.repeat(digit, static_cast<int32_t>(la), Grammar::kUnbounded)}));
    return g.choice(std::move(alts));
  }
  const size_t lb = b->size();
  if (lb >= la + 2) {  // every length strictly between
    alts.push_back(g.sequence({lead, g.repeat(digit, static_cast<int32_t>(la), static_cast<int32_t>(lb - 2))}));
  }
  std::string lowest = "1";
  lowest.append(lb - 1, '0');
  alts.push_back(fixed_width_range(g, lowest, *b));
  return g.choice(std::move(alts));
}

// Digit strings d read as the fraction 0.d with lower s (strict: >) and upper t (nullopt: below
// one, which every fraction is; t_strict: <). s and t have no trailing zeros ("" is zero).
// allow_empty: whether d may be empty (the value 0).
ExprId fraction_digits(Grammar& g, const std::string& s, bool s_strict, const std::optional<std::string>& t,
                       bool t_strict, bool allow_empty) {
  const ExprId digit = digit_class(g, '0', '9');
  const bool zero_fits = s.empty() && !s_strict && (!t || !t->empty() || !t_strict);
  if (s.empty() && !t) {
    if (!s_strict) return g.repeat(digit, allow_empty ? 0 : 1, Grammar::kUnbounded);
    return g.sequence({g.star(g.literal("0")), digit_class(g, '1', '9'), g.star(digit)});
  }
  if (s.empty() && t && t->empty()) {  // the value must be zero
    if (s_strict || t_strict) return g.nothing();
    return g.repeat(g.literal("0"), allow_empty ? 0 : 1, Grammar::kUnbounded);
  }
  std::vector<ExprId> alts;
  if (allow_empty && zero_fits) alts.push_back(g.empty());
  const char s0 = s.empty() ? '0' : s[0];
  const std::string s_rest = s.empty() ? "" : trim_trailing_zeros(s.substr(1));
  const int t0 = t ? (t->empty() ? '0' : (*t)[0]) : '9' + 1;
  const std::optional<std::string> t_rest =
      t ? std::optional<std::string>(t->empty() ? "" : trim_trailing_zeros(t->substr(1))) : std::nullopt;
  if (s0 == t0) {
    alts.push_back(g.sequence({g.literal(std::string(1, s0)), fraction_digits(g, s_rest, s_strict, t_rest, t_strict, true)}));
    return g.choice(std::move(alts));
  }
  alts.push_back(g.sequence({g.literal(std::string(1, s0)), fraction_digits(g, s_rest, s_strict, std::nullopt, false, true)}));
  if (s0 + 1 <= t0 - 1) alts.push_back(g.sequence({digit_class(g, static_cast<char>(s0 + 1), static_cast<char>(t0 - 1)), g.star(digit)}));
  if (t) {
    alts.push_back(g.sequence({g.literal(std::string(1, static_cast<char>(t0))), fraction_digits(g, "", false, t_rest, t_strict, true)}));
  }
  return g.choice(std::move(alts));
}

// The fraction part of a plain decimal: "" or "." digits, valued within (s, t) as above.
ExprId fraction_part(Grammar& g, const std::string& s, bool s_strict, const std::optional<std::string>& t, bool t_strict) {
  const bool zero_fits = s.empty() && !s_strict && (!t || !t->empty() || !t_strict);
  return g.choice({zero_fits ? g.empty() : g.nothing(),
                   g.sequence({g.literal("."), fraction_digits(g, s, s_strict, t, t_strict, false)})});
}

// Plain decimals without sign whose value is within [lo, hi] (strictness per side; hi nullopt
// = unbounded). lo is non-negative and the range is not empty.
ExprId magnitude_range(Grammar& g, const Decimal& lo, bool lo_strict, const std::optional<Decimal>& hi, bool hi_strict) {
  if (hi && hi->int_digits == lo.int_digits) {
    return g.sequence({g.literal(lo.int_digits), fraction_part(g, lo.frac_digits, lo_strict, hi->frac_digits, hi_strict)});
  }
  std::vector<ExprId> alts;
  alts.push_back(g.sequence({g.literal(lo.int_digits), fraction_part(g, lo.frac_digits, lo_strict, std::nullopt, false)}));
  const std::string first_middle = plus_one(lo.int_digits);
  const std::optional<std::string> last_middle = hi ? std::optional<std::string>(minus_one(hi->int_digits)) : std::nullopt;
  if (!last_middle || compare_magnitude(first_middle, *last_middle) <= 0) {
    alts.push_back(g.sequence({digits_range(g, first_middle, last_middle), fraction_part(g, "", false, std::nullopt, false)}));
  }
  if (hi) alts.push_back(g.sequence({g.literal(hi->int_digits), fraction_part(g, "", false, hi->frac_digits, hi_strict)}));
  return g.choice(std::move(alts));
}

Decimal absolute(Decimal d) {
  d.negative = false;
  return d;
}

}  // namespace

Decimal to_decimal(const json::value& number) {
  std::string text;
  if (number.is_int64()) {
    text = std::to_string(number.get_int64());
  } else if (number.is_uint64()) {
    text = std::to_string(number.get_uint64());
  } else {
    text = json::serialize(number);  // the shortest round-trip form, e.g. 1E-1 for 0.1
  }
  Decimal d;
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  std::string digits;
  long point = -1;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.') {
      point = static_cast<long>(digits.size());
    } else {
      digits += text[i];
    }
  }
  if (point < 0) point = static_cast<long>(digits.size());
  if (i < text.size()) point += std::stol(text.substr(i + 1));
  // digits with the decimal point before index `point` (which may lie outside digits).
  std::string int_part, frac_part;
  if (point <= 0) {
    frac_part.assign(static_cast<size_t>(-point), '0');
    frac_part += digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    int_part = digits;
    int_part.append(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    int_part = digits.substr(0, static_cast<size_t>(point));
    frac_part = digits.substr(static_cast<size_t>(point));
  }
  d.int_digits = trim_leading_zeros(int_part);
  d.frac_digits = trim_trailing_zeros(frac_part);
  d.negative = negative && !is_zero(d);
  return d;
}

int compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int c = compare_magnitude(a.int_digits, b.int_digits);
  if (c == 0) {
    const int f = a.frac_digits.compare(b.frac_digits);  // no trailing zeros: lexicographic = numeric
    c = f < 0 ? -1 : f > 0 ? 1 : 0;
  }
  return a.negative ? -c : c;
}

std::string to_string(const Decimal& d) {
  std::string out = d.negative ? "-" : "";
  out += d.int_digits;
  if (!d.frac_digits.empty()) {
    out += '.';
    out += d.frac_digits;
  }
  return out;
}

NumberBounds number_bounds(const json::object& schema) {
  NumberBounds b;
  auto tighten = [](std::optional<Bound>& slot, const Bound& candidate, int better_sign) {
    if (!slot) {
      slot = candidate;
      return;
    }
    const int c = compare(candidate.value, slot->value);
    if (c * better_sign > 0 || (c == 0 && candidate.exclusive)) slot = candidate;
  };
  if (const auto* v = schema.if_contains("minimum")) tighten(b.lower, Bound{to_decimal(*v), false}, 1);
  if (const auto* v = schema.if_contains("exclusiveMinimum")) tighten(b.lower, Bound{to_decimal(*v), true}, 1);
  if (const auto* v = schema.if_contains("maximum")) tighten(b.upper, Bound{to_decimal(*v), false}, -1);
  if (const auto* v = schema.if_contains("exclusiveMaximum")) tighten(b.upper, Bound{to_decimal(*v), true}, -1);
  return b;
}

bool bounds_satisfiable(const NumberBounds& b, bool integers_only) {
  if (integers_only) {
    const auto [lo, hi] = integer_bounds(b);
    return !lo || !hi || compare(*lo, *hi) <= 0;
  }
  if (!b.lower || !b.upper) return true;
  const int c = compare(b.lower->value, b.upper->value);
  return c < 0 || (c == 0 && !b.lower->exclusive && !b.upper->exclusive);
}

bool in_bounds(const NumberBounds& b, const Decimal& d) {
  if (b.lower) {
    const int c = compare(d, b.lower->value);
    if (c < 0 || (c == 0 && b.lower->exclusive)) return false;
  }
  if (b.upper) {
    const int c = compare(d, b.upper->value);
    if (c > 0 || (c == 0 && b.upper->exclusive)) return false;
  }
  return true;
}

ExprId integer_expr(Grammar& g, const NumberBounds& b) {
  const auto [lo, hi] = integer_bounds(b);
  std::vector<ExprId> alts;
  // Non-negative part: [max(lo, 0), hi].
  if (!hi || !hi->negative) {
    const std::string from = lo && !lo->negative ? lo->int_digits : "0";
    const std::optional<std::string> to = hi ? std::optional<std::string>(hi->int_digits) : std::nullopt;
    alts.push_back(digits_range(g, from, to));
  }
  // Negative part: magnitudes [max(-hi, 1), -lo].
  if (!lo || lo->negative) {
    const std::string from = hi && hi->negative ? hi->int_digits : "1";
    const std::optional<std::string> to = lo ? std::optional<std::string>(lo->int_digits) : std::nullopt;
    alts.push_back(g.sequence({g.literal("-"), digits_range(g, from, to)}));
  }
  return g.choice(std::move(alts));
}

ExprId decimal_expr(Grammar& g, const NumberBounds& b) {
  std::vector<ExprId> alts;
  const Decimal zero;
  const bool nonnegative_part = !b.upper || compare(b.upper->value, zero) > 0 ||
                                (is_zero(b.upper->value) && !b.upper->exclusive);
  if (nonnegative_part) {
    const bool lower_used = b.lower && !b.lower->value.negative;
    const Decimal lo = lower_used ? b.lower->value : zero;
    const bool lo_strict = lower_used && b.lower->exclusive;
    std::optional<Decimal> hi;
    if (b.upper) hi = b.upper->value;
    alts.push_back(magnitude_range(g, lo, lo_strict, hi, b.upper && b.upper->exclusive));
  }
  if (!b.lower || b.lower->value.negative) {
    // x = -m with m > 0: m from |upper| (when upper < 0) or from 0 exclusive, up to |lower|.
    const bool upper_negative = b.upper && b.upper->value.negative;
    const Decimal lo = upper_negative ? absolute(b.upper->value) : zero;
    const bool lo_strict = upper_negative ? b.upper->exclusive : true;
    std::optional<Decimal> hi;
    if (b.lower) hi = absolute(b.lower->value);
    alts.push_back(g.sequence({g.literal("-"), magnitude_range(g, lo, lo_strict, hi, b.lower && b.lower->exclusive)}));
  }
  return g.choice(std::move(alts));
}

ExprId json_number_expr(Grammar& g, int32_t max_int_digits, int32_t max_exp_digits) {
  const ExprId digit = digit_class(g, '0', '9');
  const int32_t more_int = max_int_digits == Grammar::kUnbounded ? Grammar::kUnbounded : max_int_digits - 1;
  const ExprId int_part = g.choice({g.literal("0"), g.sequence({digit_class(g, '1', '9'), g.repeat(digit, 0, more_int)})});
  const ExprId frac = g.optional(g.sequence({g.literal("."), g.plus(digit)}));
  const ExprId exp = g.optional(g.sequence({g.chars({{'e', 'e'}, {'E', 'E'}}), g.optional(g.chars({{'+', '+'}, {'-', '-'}})),
                                            g.repeat(digit, 1, max_exp_digits)}));
  return g.sequence({g.optional(g.literal("-")), int_part, frac, exp});
}

}  // namespace ragent::grammar::schema_detail
