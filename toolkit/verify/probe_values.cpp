#include "verify/probe_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/sql_lexer.h"
#include "core/text.h"

namespace cc::verify {
namespace {

enum class Family { number, boolean, date, timestamp, time, uuid, json, array, enumeration, text, other };

std::string lower(std::string_view s) { return text::ascii_lower(s); }

bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

Family family_of(const dialect::ColumnInfo& c) {
  if (!c.labels.empty()) return Family::enumeration;
  const std::string t = lower(c.base_type.empty() ? c.type : c.base_type);
  if (t.size() > 2 && t.compare(t.size() - 2, 2, "[]") == 0) return Family::array;
  if (has(t, "bool")) return Family::boolean;
  if (has(t, "timestamp") || has(t, "datetime")) return Family::timestamp;
  if (has(t, "date")) return Family::date;
  if (has(t, "time") && !has(t, "interval")) return Family::time;
  if (has(t, "uuid")) return Family::uuid;
  if (has(t, "json")) return Family::json;
  // SQLite's affinity rules (section 3.1 of its datatype page), which also
  // cover PostgreSQL's numeric type names.
  if (has(t, "int") || has(t, "serial")) return Family::number;
  if (has(t, "char") || has(t, "clob") || has(t, "text")) return Family::text;
  if (t.empty() || has(t, "blob")) return Family::other;
  if (has(t, "real") || has(t, "floa") || has(t, "doub") || has(t, "num") || has(t, "dec") || has(t, "money")) {
    return Family::number;
  }
  return Family::other;
}

std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) return std::to_string(static_cast<long long>(v));
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

}  // namespace

std::vector<std::string> probe_values(const dialect::ColumnInfo& column, std::string_view condition,
                                      const dialect::Dialect& d, size_t limit) {
  std::vector<double> numbers;
  std::vector<std::string> strings;
  for (const auto& t : sql::significant(sql::tokenize(condition))) {
    if (t.kind == sql::TokenKind::number) {
      double v = 0;
      auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
      if (res.ec == std::errc()) numbers.push_back(v);
    } else if (t.kind == sql::TokenKind::string) {
      // 'it''s' -> it's
      std::string s;
      for (size_t i = 1; i + 1 < t.text.size(); ++i) {
        s += t.text[i];
        if (t.text[i] == '\'' && i + 2 < t.text.size() && t.text[i + 1] == '\'') ++i;
      }
      strings.push_back(s);
    }
  }

  std::vector<std::string> out;
  auto add = [&](const std::string& literal) {
    if (std::find(out.begin(), out.end(), literal) == out.end()) out.push_back(literal);
  };
  auto add_text = [&](const std::string& s) { add(d.quote_string(s)); };
  auto add_number = [&](double v) { add(number_text(v)); };

  const Family f = family_of(column);
  switch (f) {
    case Family::number:
      // The neighbours of each bound first: they break a range and nothing else.
      for (double n : numbers) {
        for (double v : {n - 1, n + 1, n, -n, n - 0.5, n + 0.5, n * 10 + 1}) add_number(v);
      }
      for (double v : {-1000000000.0, 1000000000.0, -1.0, 0.0, 1.0, 2.0, 5.0, 9.0, 10.0, 11.0, 100.0, 1000.0, 0.5})
        add_number(v);
      for (const auto& s : strings) add_text(s);
      add_text("~cc-probe~");  // SQLite keeps text in a numeric column: breaks typeof() rules
      break;
    case Family::boolean:
      add("TRUE");
      add("FALSE");
      break;
    case Family::enumeration:
      for (const auto& l : column.labels) add_text(l);
      break;
    case Family::date:
      for (const auto& s : strings) add_text(s);
      for (const char* v : {"0001-01-01", "1900-01-01", "1970-01-01", "2000-01-01", "2099-12-31", "9999-12-31",
                            "-infinity", "infinity"}) {
        add_text(v);
      }
      break;
    case Family::timestamp:
      for (const auto& s : strings) add_text(s);
      for (const char* v : {"0001-01-01 00:00:00", "1900-01-01 00:00:00", "1970-01-01 00:00:00", "2000-01-01 00:00:00",
                            "2099-12-31 23:59:59", "9999-12-31 23:59:59", "-infinity", "infinity"}) {
        add_text(v);
      }
      break;
    case Family::time:
      for (const auto& s : strings) add_text(s);
      for (const char* v : {"00:00:00", "23:59:59", "12:00:00", "06:00:00", "18:00:00"}) add_text(v);
      break;
    case Family::uuid:
      for (const auto& s : strings) add_text(s);
      add_text("00000000-0000-0000-0000-000000000000");
      add_text("ffffffff-ffff-ffff-ffff-ffffffffffff");
      break;
    case Family::json:
      for (const auto& s : strings) add_text(s);
      for (const char* v : {"{}", "[]", "null", "0", "\"\"", "{\"cc_probe\": true}", "[0]"}) add_text(v);
      break;
    case Family::array:
      for (const auto& s : strings) add_text(s);
      for (const char* v : {"{}", "{NULL}", "{-1000000000}", "{0}", "{1000000000}", "{\"\"}"}) add_text(v);
      // A bound on the length: one element more, and one fewer.
      for (double n : numbers) {
        if (n < 1 || n > 1000 || n != std::floor(n)) continue;
        for (size_t count : {static_cast<size_t>(n) + 1, static_cast<size_t>(n) - 1}) {
          std::string list;
          for (size_t k = 0; k < count; ++k) list += (k ? ",0" : "0");
          add_text("{" + list + "}");
        }
      }
      break;
    case Family::text:
    case Family::other:
      for (const auto& s : strings) {
        add_text(s);
        add_text(s + "~");
        add_text(lower(s) == s ? std::string() : lower(s));
      }
      add_text("");
      add_text("~cc-probe~");
      add_text(" ");
      add_text("0");
      add_text("a");
      add_text("Z");
      // A length bound n: strings of n - 1 and n + 1 characters.
      for (double n : numbers) {
        if (n < 0 || n > 10000 || n != std::floor(n)) continue;
        if (n >= 1) add_text(std::string(static_cast<size_t>(n) - 1, 'x'));
        add_text(std::string(static_cast<size_t>(n) + 1, 'x'));
      }
      if (f == Family::other) {
        for (double n : numbers) {
          for (double v : {n - 1, n + 1, n}) add_number(v);
        }
        for (double v : {-1000000000.0, 1000000000.0, -1.0, 0.0, 1.0}) add_number(v);
      }
      break;
  }
  if (out.size() >= limit) out.resize(limit - 1);
  add("NULL");  // last: only breaks NOT NULL-style rules
  return out;
}

}  // namespace cc::verify
