// The "format" keyword's checks. Each is exact for the grammar given here, over ASCII (any other
// code point fails every format):
//   date       RFC 3339 full-date YYYY-MM-DD: month 01-12, day 01 to the month's length in the
//              proleptic Gregorian calendar (02-29 only in leap years: divisible by 4 and not
//              by 100, or by 400; year 0000 is accepted and is a leap year).
//   time       RFC 3339 full-time hh:mm:ss[.digits](Z|z|+hh:mm|-hh:mm): hour 00-23, minute
//              00-59, second 00-60 (a leap second is accepted at any time, as the ABNF does),
//              offset hour 00-23 and minute 00-59.
//   date-time  date, "T" or "t", time (no space instead of the T).
//   uuid       RFC 4122 string form: 8-4-4-4-12 hex digits of either case, any version and
//              variant (no braces, no "urn:uuid:").
//   email      RFC 5321 Mailbox with a dot-atom local part (atoms of ALPHA DIGIT and
//              !#$%&'*+-/=?^_`{|}~ joined by single dots) "@" a domain of one or more
//              dot-separated labels of 1-63 letters, digits and '-', not starting or ending with
//              '-'. No quoted local parts, no address literals, no length limits but the labels'.
//   uri        RFC 3986 URI (scheme ":" hier-part ["?" query] ["#" fragment]) by its ABNF: a
//              scheme of ALPHA *(ALPHA DIGIT + - .); authority with userinfo, host (reg-name,
//              IPv4 as reg-name, "[" IPv6address or IPvFuture "]") and port digits; paths, query
//              and fragment of pchar / "/" / "?", every '%' starting %HH. No relative references,
//              no IRIs.
#pragma once

#include <optional>
#include <string_view>

namespace ragent::tools {

enum class StringFormat { date, time, date_time, uuid, email, uri };

// The format named by a "format" value, or nullopt for one not listed above.
std::optional<StringFormat> string_format_named(std::string_view name);

// The format's name as JSON Schema spells it ("date-time").
std::string_view string_format_name(StringFormat format);

// Whether s (UTF-8) is in the format's language.
bool matches_string_format(StringFormat format, std::string_view s);

}  // namespace ragent::tools
