// tools/schema_format.cpp: each format's language at its edges, from the RFCs' grammars, and
// the format keyword on strings only.
#include "tools/schema_format.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "tools/schema.hpp"

namespace ragent::tools {
namespace {

void expect(StringFormat f, std::vector<std::string_view> good, std::vector<std::string_view> bad) {
  for (std::string_view s : good) EXPECT_TRUE(matches_string_format(f, s)) << string_format_name(f) << ": " << s;
  for (std::string_view s : bad) EXPECT_FALSE(matches_string_format(f, s)) << string_format_name(f) << ": " << s;
}

TEST(SchemaFormat, NamesRoundTrip) {
  for (std::string_view name : {"date", "time", "date-time", "uuid", "email", "uri"}) {
    ASSERT_TRUE(string_format_named(name)) << name;
    EXPECT_EQ(string_format_name(*string_format_named(name)), name);
  }
  for (std::string_view name : {"ipv4", "hostname", "uri-reference", "Date", ""}) EXPECT_FALSE(string_format_named(name)) << name;
}

TEST(SchemaFormat, DateChecksMonthLengthsAndLeapYears) {
  expect(StringFormat::date, {"2024-02-29", "2000-02-29", "0000-02-29", "1900-02-28", "2023-12-31", "9999-12-31", "2023-04-30"},
         {"1900-02-29", "2023-02-29", "2100-02-29", "2023-02-30", "2023-04-31", "2023-13-01", "2023-00-01", "2023-01-00",
          "2023-01-32", "2023-1-01", "23-01-01", "20230101", "2023-01-01T", " 2023-01-01", "2023-01-01\n", "2023/01/01",
          "\xef\xbc\x92" "023-01-01", ""});
}

TEST(SchemaFormat, TimeNeedsSecondsAndAnOffset) {
  expect(StringFormat::time, {"00:00:00Z", "23:59:60Z", "23:59:59.999999+14:00", "12:00:00z", "12:00:00-00:00", "01:02:03.4-23:59"},
         {"24:00:00Z", "12:60:00Z", "12:00:61Z", "12:00:00", "12:00Z", "12:00:00.Z", "12:00:00+24:00", "12:00:00+01:60",
          "12:00:00+0100", "12:00:00+1:00", "1:00:00Z", "12:00:00ZZ", "12:00:00 Z", "12:00:00+01:00 ", ""});
}

TEST(SchemaFormat, DateTimeJoinsDateAndTimeWithT) {
  expect(StringFormat::date_time, {"2024-01-01T00:00:00Z", "2024-06-30t12:00:00.5+02:00", "2024-02-29T23:59:60Z"},
         {"2024-01-01 00:00:00Z", "2024-01-01T00:00:00", "2024-01-01", "2023-02-29T00:00:00Z", "2024-01-01TT00:00:00Z",
          "2024-01-01T", "T00:00:00Z", ""});
}

TEST(SchemaFormat, UuidIsTheHyphenatedHexForm) {
  expect(StringFormat::uuid,
         {"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000", "00000000-0000-0000-0000-000000000000"},
         {"123e4567-e89b-12d3-a456-42661417400g", "123e4567-e89b-12d3-a456-4266141740000", "123e4567e89b12d3a456426614174000",
          "{123e4567-e89b-12d3-a456-426614174000}", "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
          "123e4567e-89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-42661417400", ""});
}

TEST(SchemaFormat, EmailIsADotAtomAtADomain) {
  const std::string label63(63, 'a'), label64(64, 'a');
  const std::string long_ok = "x@" + label63 + ".com", long_bad = "x@" + label64 + ".com";
  expect(StringFormat::email,
         {"john.doe@example.com", "a+b@sub.example.co", "x@localhost", "o'neil!#$%&*/=?^_`{|}~-@x-y.z9", "a@1.2.3.4",
          "a@b-c.d", long_ok},
         {"john@", "@example.com", "john doe@example.com", "a..b@example.com", ".a@b", "a.@b", "a@-example.com",
          "a@example-.com", "\"q\"@example.com", "a@b..c", "a@b.", "a@[1.2.3.4]", "a@@b", "\xc3\xa9@example.com",
          "a@\xc3\xa9.com", "a@b_c.d", long_bad, "johnexample.com", ""});
}

TEST(SchemaFormat, UriFollowsTheRfc3986Grammar) {
  expect(StringFormat::uri,
         {"https://example.com/a?b=c#d", "mailto:a@b.c", "urn:isbn:0451450523", "http://[::1]:8080/",
          "http://[2001:db8::7]/c=GB?objectClass?one", "file:///etc/hosts", "http://user:pw@192.168.0.1:80/p%20q",
          "news:comp.infosystems.www.servers.unix", "tel:+1-816-555-1212", "a:", "a:b", "http://[v1.fe]/",
          "http://[::ffff:1.2.3.4]/", "http://[1:2:3:4:5:6:7:8]/", "http://[1:2:3:4:5:6:1.2.3.4]/", "http://[1::]/",
          "http://[::]/", "http://h:/", "foo://u@h:1/p?q#f", "x:/a//b", "s:%41", "http://x?#", "urn:a?b/c#d?e/",
          "http://999.1.1.1/", "HTTP://X.Y"},
         {"", ":", "a", "1a:b", "example.com", "http://[::g]/", "http://[1:2:3:4:5:6:7:8:9]/", "http://[1::2::3]/",
          "http://[:1::]/", "http://[1.2.3.4]/", "http://[::1.2.3.256]/", "http://[1:2:3:4:5:6:7:1.2.3.4]/",
          "http://[::01.2.3.4]/", "http://[12345::]/", "http://x:8a/", "http://a@b@c/", "http://x/%zz", "http://x/%4",
          "http://exa mple.com", "http://\xc3\xa9.com", "http://x/#a#b", "http://[::1/", "a:b c", "http://x/<>", "a:\\",
          "http://[vz.1]/", "http://[v1.]/", "//example.com/", "/a/b"});
}

TEST(SchemaFormat, KeywordAppliesToStringsOnly) {
  const SchemaValidator v(boost::json::parse(R"({"format":"uuid"})"));
  EXPECT_FALSE(v.validate(boost::json::parse("5")));
  EXPECT_FALSE(v.validate(boost::json::parse("null")));
  EXPECT_FALSE(v.validate(boost::json::parse(R"("00000000-0000-0000-0000-000000000000")")));
  EXPECT_TRUE(v.validate(boost::json::parse(R"("0")")));
}

}  // namespace
}  // namespace ragent::tools
