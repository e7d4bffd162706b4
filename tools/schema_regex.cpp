// ECMA-262 patterns on PCRE2 (schema_regex.hpp): the rewrite of what the two read differently,
// and the compile and search calls with their limits.
#include "tools/schema_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

namespace ragent::tools {

namespace {

constexpr uint32_t kMatchLimit = 1'000'000;  // backtracking steps per search
constexpr uint32_t kDepthLimit = 100'000;    // nested backtracking points
constexpr uint32_t kHeapLimitKib = 16 * 1024;

struct CodePointRange {
  uint32_t lo, hi;
};

// ECMA-262 WhiteSpace (TAB VT FF SP NBSP ZWNBSP and the Zs category) and LineTerminator (LF CR
// LS PS), sorted.
constexpr CodePointRange kEcmaSpace[] = {{0x09, 0x0D}, {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                                         {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                         {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

void append_code_point(std::string& out, uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(cp));
  out += buf;
}

void append_range(std::string& out, uint32_t lo, uint32_t hi) {
  append_code_point(out, lo);
  if (hi != lo) {
    out += '-';
    append_code_point(out, hi);
  }
}

// The members of \s (or of \S when negated) for use inside a class; surrogates never appear,
// since PCRE2 in UTF mode refuses them.
void append_space_members(std::string& out, bool negated) {
  if (!negated) {
    for (CodePointRange r : kEcmaSpace) append_range(out, r.lo, r.hi);
    return;
  }
  uint32_t next = 0;
  auto gap = [&](uint32_t lo, uint32_t hi) {
    if (lo > hi) return;
    if (lo < 0xD800 && hi > 0xDFFF) {
      append_range(out, lo, 0xD7FF);
      append_range(out, 0xE000, hi);
    } else {
      append_range(out, lo, hi);
    }
  };
  for (CodePointRange r : kEcmaSpace) {
    if (r.lo > 0) gap(next, r.lo - 1);
    next = r.hi + 1;
  }
  gap(next, kMaxCodePoint);
}

struct CompileContext {
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  ~CompileContext() { pcre2_compile_context_free(context); }
};

}  // namespace

std::string ecma_to_pcre2(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's' || e == 'S') {
        if (!in_class) out += e == 's' ? "[" : "[^";
        append_space_members(out, e == 'S' && in_class);
        if (!in_class) out += ']';
      } else if (e == 'v') {
        out += "\\x0b";
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c == '[' ? "\\[" : std::string(1, c);
      continue;
    }
    if (c == '.') {
      out += "[^\\n\\r\\u2028\\u2029]";
      continue;
    }
    out += c;
    if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      // [] and [^] end at once in ECMA-262 (and in PCRE2 with ALLOW_EMPTY_CLASS).
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') {
        out += pattern[++i];
        in_class = false;
      }
    }
  }
  return out;
}

RegexScratch::RegexScratch() = default;

RegexScratch::~RegexScratch() { pcre2_match_data_free(static_cast<pcre2_match_data*>(data_)); }

void* RegexScratch::match_data() {
  // One ovector pair is enough: only whether there is a match matters.
  if (!data_) data_ = pcre2_match_data_create(1, nullptr);
  return data_;
}

std::unique_ptr<SchemaRegex> SchemaRegex::compile(std::string_view pattern, std::string& error) {
  const std::string translated = ecma_to_pcre2(pattern);
  CompileContext cc;
  pcre2_set_compile_extra_options(cc.context, PCRE2_EXTRA_ALT_BSUX);
  int code = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY |
                           PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C;
  pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options,
                                       &code, &offset, cc.context);
  if (!compiled) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(code, message, sizeof message);
    error = reinterpret_cast<const char*>(message);
    // The offset is in the rewritten pattern; it is the original's when nothing was rewritten.
    if (translated == pattern) {
      error += " at byte ";
      error += std::to_string(offset);
    }
    return nullptr;
  }
  std::unique_ptr<SchemaRegex> regex(new SchemaRegex());
  regex->pattern_ = std::string(pattern);
  regex->code_ = compiled;
  pcre2_match_context* mc = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mc, kMatchLimit);
  pcre2_set_depth_limit(mc, kDepthLimit);
  pcre2_set_heap_limit(mc, kHeapLimitKib);
  regex->match_context_ = mc;
  return regex;
}

SchemaRegex::~SchemaRegex() {
  pcre2_match_context_free(static_cast<pcre2_match_context*>(match_context_));
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::optional<bool> SchemaRegex::search(std::string_view s, RegexScratch& scratch) const {
  const char* subject = s.data() ? s.data() : "";  // PCRE2 10.42 refuses a null subject, even empty
  const int rc = pcre2_match(static_cast<const pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject), s.size(), 0, 0,
                             static_cast<pcre2_match_data*>(scratch.match_data()),
                             static_cast<pcre2_match_context*>(match_context_));
  if (rc >= 0) return true;  // 0: a match that did not fit the one-pair ovector
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  return std::nullopt;
}

}  // namespace ragent::tools
