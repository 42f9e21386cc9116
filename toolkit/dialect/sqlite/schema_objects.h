// The list of SQLite schema objects (sqlite_schema: type, name, tbl_name and
// SQL text of every table, index, trigger and view), and its comparison
// before and after a migration modulo the change the migration planned. A
// migration rolls back when anything else differs, so a rebuild can never
// silently lose or alter a trigger, index or view.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

namespace cc::dialect::sqlite {

struct SchemaObject {
  std::string type, name, tbl_name, sql;
};

// Keyed by object_key(type, name): SQLite matches names ASCII
// case-insensitively, within one type's namespace.
using SchemaObjects = std::map<std::string, SchemaObject>;
std::string object_key(const std::string& type, const std::string& name);

// What a migration means to change.
struct PlannedSchemaChange {
  // Table (lower-cased name) -> its CREATE TABLE text afterwards; nullopt:
  // any text (native ALTER TABLE writes the clause its own way).
  std::map<std::string, std::optional<std::string>> table_sql;
  std::map<std::string, SchemaObject> created;  // by object_key
  std::set<std::string> dropped;                // object_keys
};

// The first difference between `after` and `before` with `planned` applied,
// naming the object ("trigger \"items_audit\" (on items) is missing"), or "".
std::string schema_difference(SchemaObjects before, const SchemaObjects& after, const PlannedSchemaChange& planned);

}  // namespace cc::dialect::sqlite
