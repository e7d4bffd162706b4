// The format checks of schema_format.hpp, each a hand-written reading of its RFC's ABNF.
#include "tools/schema_format.hpp"

#include <cstddef>
#include <cstdint>

namespace ragent::tools {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_one_of(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// The value of the n digits at s[at...], or -1 when they are not all digits.
int digits_value(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// ---- RFC 3339 ----

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

bool is_full_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const int year = digits_value(s, 0, 4), month = digits_value(s, 5, 2), day = digits_value(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  return day <= days_in_month(year, month);
}

// hh:mm at s[at...] with hour 00-23 and minute 00-59.
bool is_hour_minute(std::string_view s, size_t at) {
  if (at + 5 > s.size() || s[at + 2] != ':') return false;
  const int hour = digits_value(s, at, 2), minute = digits_value(s, at + 3, 2);
  return hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59;
}

bool is_full_time(std::string_view s) {
  // partial-time: hh:mm:ss [. 1*DIGIT]
  if (!is_hour_minute(s, 0) || s.size() < 9 || s[5] != ':') return false;
  const int second = digits_value(s, 6, 2);
  if (second < 0 || second > 60) return false;
  size_t at = 8;
  if (at < s.size() && s[at] == '.') {
    const size_t first = ++at;
    while (at < s.size() && is_digit(s[at])) ++at;
    if (at == first) return false;
  }
  // time-offset: Z / (+|-) hh:mm
  if (at == s.size()) return false;
  if (s[at] == 'Z' || s[at] == 'z') return at + 1 == s.size();
  if (s[at] != '+' && s[at] != '-') return false;
  return is_hour_minute(s, at + 1) && at + 6 == s.size();
}

bool is_date_time(std::string_view s) {
  return s.size() > 11 && (s[10] == 'T' || s[10] == 't') && is_full_date(s.substr(0, 10)) && is_full_time(s.substr(11));
}

// ---- RFC 4122 ----

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool hyphen_place = i == 8 || i == 13 || i == 18 || i == 23;
    if (hyphen_place ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// ---- RFC 5321 / 1123 ----

bool is_atext(char c) { return is_alpha(c) || is_digit(c) || is_one_of(c, "!#$%&'*+-/=?^_`{|}~"); }

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i - 1] == '.') return false;
    } else if (!is_atext(s[i])) {
      return false;
    }
  }
  return true;
}

bool is_domain_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
  }
  return true;
}

bool is_domain(std::string_view s) {
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!is_domain_label(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_email(std::string_view s) {
  const size_t at = s.rfind('@');
  return at != std::string_view::npos && is_dot_atom(s.substr(0, at)) && is_domain(s.substr(at + 1));
}

// ---- RFC 3986 ----

bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || is_one_of(c, "-._~"); }
bool is_sub_delim(char c) { return is_one_of(c, "!$&'()*+,;="); }

// Whether every character of s is in `allowed` or starts a %HH escape.
template <typename Allowed>
bool all_chars(std::string_view s, Allowed allowed) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    } else if (!allowed(s[i])) {
      return false;
    }
  }
  return true;
}

bool is_pchar(char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@'; }

bool is_dec_octet(std::string_view s) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return false;
  const int v = digits_value(s, 0, s.size());
  return v >= 0 && v <= 255;
}

bool is_ipv4(std::string_view s) {
  size_t start = 0;
  for (int part = 0; part < 4; ++part) {
    const size_t dot = part < 3 ? s.find('.', start) : s.size();
    if (dot == std::string_view::npos || !is_dec_octet(s.substr(start, dot - start))) return false;
    start = dot + 1;
  }
  return true;
}

bool is_h16(std::string_view s) {
  if (s.empty() || s.size() > 4) return false;
  for (char c : s) {
    if (!is_hex(c)) return false;
  }
  return true;
}

// The number of 16-bit pieces in colon-separated h16s, where the last may be an IPv4 address
// (two pieces) if ipv4_last; -1 when malformed. An empty string has no pieces.
int ipv6_pieces(std::string_view s, bool ipv4_last) {
  if (s.empty()) return 0;
  int pieces = 0;
  size_t start = 0;
  while (true) {
    const size_t colon = s.find(':', start);
    const std::string_view piece = s.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    if (colon == std::string_view::npos) {
      if (ipv4_last && is_ipv4(piece)) return pieces + 2;
      return is_h16(piece) ? pieces + 1 : -1;
    }
    if (!is_h16(piece)) return -1;
    ++pieces;
    start = colon + 1;
  }
}

// IPv6address: eight pieces, or fewer with one "::" standing for at least one zero piece.
bool is_ipv6(std::string_view s) {
  const size_t gap = s.find("::");
  if (gap == std::string_view::npos) return ipv6_pieces(s, true) == 8;
  const std::string_view left = s.substr(0, gap), right = s.substr(gap + 2);
  if (right.find("::") != std::string_view::npos) return false;
  const int l = ipv6_pieces(left, false), r = ipv6_pieces(right, true);
  return l >= 0 && r >= 0 && l + r <= 7;
}

// IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool is_ipvfuture(std::string_view s) {
  if (s.size() < 4 || (s[0] != 'v' && s[0] != 'V')) return false;
  size_t i = 1;
  while (i < s.size() && is_hex(s[i])) ++i;
  if (i == 1 || i >= s.size() - 1 || s[i] != '.') return false;
  for (++i; i < s.size(); ++i) {
    if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) && s[i] != ':') return false;
  }
  return true;
}

// authority = [ userinfo "@" ] host [ ":" port ]
bool is_authority(std::string_view s) {
  if (const size_t at = s.find('@'); at != std::string_view::npos) {
    if (!all_chars(s.substr(0, at), [](char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':'; })) return false;
    s.remove_prefix(at + 1);
  }
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view literal = s.substr(1, close - 1);
    if (!is_ipv6(literal) && !is_ipvfuture(literal)) return false;
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
    if (!rest.empty()) port = rest.substr(1);
  } else {
    const size_t colon = s.find(':');
    if (colon != std::string_view::npos) port = s.substr(colon + 1);
    if (!all_chars(s.substr(0, colon), [](char c) { return is_unreserved(c) || is_sub_delim(c); })) return false;
  }
  for (char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool is_uri(std::string_view s) {
  // scheme ":"
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    if (!is_alpha(s[i]) && !is_digit(s[i]) && !is_one_of(s[i], "+-.")) return false;
  }
  std::string_view rest = s.substr(colon + 1);
  // [ "#" fragment ] and [ "?" query ]: both *( pchar / "/" / "?" )
  auto query_char = [](char c) { return is_pchar(c) || c == '/' || c == '?'; };
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    if (!all_chars(rest.substr(hash + 1), query_char)) return false;
    rest = rest.substr(0, hash);
  }
  if (const size_t question = rest.find('?'); question != std::string_view::npos) {
    if (!all_chars(rest.substr(question + 1), query_char)) return false;
    rest = rest.substr(0, question);
  }
  // hier-part: "//" authority path-abempty, or a path (absolute, rootless or empty), which
  // after the "//" case reduces to pchars and slashes.
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const size_t slash = rest.find('/');
    if (!is_authority(rest.substr(0, slash))) return false;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return all_chars(rest, [](char c) { return is_pchar(c) || c == '/'; });
}

}  // namespace

std::optional<StringFormat> string_format_named(std::string_view name) {
  if (name == "date") return StringFormat::date;
  if (name == "time") return StringFormat::time;
  if (name == "date-time") return StringFormat::date_time;
  if (name == "uuid") return StringFormat::uuid;
  if (name == "email") return StringFormat::email;
  if (name == "uri") return StringFormat::uri;
  return std::nullopt;
}

std::string_view string_format_name(StringFormat format) {
  switch (format) {
    case StringFormat::date: return "date";
    case StringFormat::time: return "time";
    case StringFormat::date_time: return "date-time";
    case StringFormat::uuid: return "uuid";
    case StringFormat::email: return "email";
    case StringFormat::uri: return "uri";
  }
  return "";
}

bool matches_string_format(StringFormat format, std::string_view s) {
  switch (format) {
    case StringFormat::date: return is_full_date(s);
    case StringFormat::time: return is_full_time(s);
    case StringFormat::date_time: return is_date_time(s);
    case StringFormat::uuid: return is_uuid(s);
    case StringFormat::email: return is_email(s);
    case StringFormat::uri: return is_uri(s);
  }
  return false;
}

}  // namespace ragent::tools
