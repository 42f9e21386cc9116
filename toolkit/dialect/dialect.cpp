#include "dialect/dialect.h"

#include <charconv>
#include <cmath>

#include "core/error.h"
#include "core/text.h"

namespace cc::dialect {

std::string Dialect::literal(const model::Literal& value) const {
  if (auto i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&value)) {
    if (!std::isfinite(*d)) throw UsageError("a numeric bound must be finite");
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, *d);
    std::string out(buf, res.ptr);
    // Keep it a decimal literal in both dialects ("1e+20" is fine too, but "5" would be an integer).
    if (out.find_first_of(".e") == std::string::npos) out += ".0";
    return out;
  }
  return quote_string(std::get<std::string>(value));
}

std::string Dialect::quote_table(const model::TableName& table) const {
  if (table.schema.empty()) return quote_ident(table.name);
  if (!capabilities().schemas) {
    throw UsageError("table '" + table.str() + "': " + std::string(name()) + " has no schemas; remove schema = \"" +
                     table.schema + "\"");
  }
  return quote_ident(table.schema) + "." + quote_ident(table.name);
}

bool Dialect::same_name(std::string_view a, std::string_view b) const {
  return capabilities().names_ignore_case ? text::ascii_iequal(a, b) : a == b;
}

std::string Dialect::column_ref(std::string_view alias, std::string_view column) const {
  const std::string col = is_row_id(column) ? std::string(column) : quote_ident(column);
  return alias.empty() ? col : std::string(alias) + "." + col;
}

std::string Dialect::key_json(std::string_view alias, const std::vector<std::string>& key) const {
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& k : key) members.emplace_back(k, json_value(column_ref(alias, k)));
  return json_object(members);
}

const Dialect& dialect_for(Kind kind) { return kind == Kind::sqlite ? sqlite_dialect() : postgresql_dialect(); }

}  // namespace cc::dialect
