#include "dialect/sqlite/schema_objects.h"

#include "core/text.h"
#include "dialect/dialect.h"

namespace cc::dialect::sqlite {
namespace {

std::string lower(std::string_view s) { return text::ascii_lower(s); }

std::string describe(const SchemaObject& o) {
  const Dialect& d = sqlite_dialect();
  return o.type + " " + d.quote_ident(o.name) +
         (o.tbl_name.empty() || o.tbl_name == o.name ? "" : " (on " + d.quote_ident(o.tbl_name) + ")");
}

}  // namespace

std::string object_key(const std::string& type, const std::string& name) { return type + '\x1f' + lower(name); }

std::string schema_difference(SchemaObjects before, const SchemaObjects& after, const PlannedSchemaChange& planned) {
  std::set<std::string> any_sql;
  for (const auto& [table, sql] : planned.table_sql) {
    const auto it = before.find(object_key("table", table));
    if (it == before.end()) continue;
    if (sql) {
      it->second.sql = *sql;
    } else {
      any_sql.insert(it->first);
    }
  }
  for (const auto& key : planned.dropped) before.erase(key);
  for (const auto& [key, o] : planned.created) before[key] = o;
  const Dialect& d = sqlite_dialect();
  for (const auto& [key, o] : before) {
    const auto it = after.find(key);
    if (it == after.end()) return describe(o) + " is missing";
    const SchemaObject& a = it->second;
    if (a.name != o.name) return describe(o) + " is now named " + d.quote_ident(a.name);
    if (a.tbl_name != o.tbl_name) return describe(o) + " now belongs to " + d.quote_ident(a.tbl_name);
    if (a.sql != o.sql && !any_sql.count(key)) return describe(o) + " has other SQL text: " + a.sql;
  }
  for (const auto& [key, a] : after) {
    if (!before.count(key)) return describe(a) + " appeared";
  }
  return "";
}

}  // namespace cc::dialect::sqlite
