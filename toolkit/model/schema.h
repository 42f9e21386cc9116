// The declared constraints: what schema/*.toml says the database must enforce.
// Plain data; loading and validation live in schema_loader, SQL rendering in
// the dialect and scan layers.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cc::model {

struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string str() const;  // "schema/humans.toml:12:1"
};

// A literal from TOML: integer, floating point or text.
using Literal = std::variant<std::int64_t, double, std::string>;

enum class RepairPolicy {
  report,             // no automatic repair: apply refuses while rows violate
  clamp,              // move out-of-range values to the nearest bound
  set_value,          // assign a literal
  set_expr,           // assign an SQL expression of the row
  set_null,
  set_default,        // the column's declared default
  delete_row,
  delete_duplicates,  // UNIQUE only: keep one row per key
};

enum class Keep { lowest, highest };

struct Repair {
  RepairPolicy policy = RepairPolicy::report;
  std::string column;             // target column (set_*); defaults to the check's column
  std::optional<Literal> value;   // set_value
  std::string expr;               // set_expr
  Keep keep = Keep::lowest;       // delete_duplicates: which row of a group survives
  std::string by;                 // delete_duplicates: ordering column (default: primary key)
  bool allow_cascade = false;     // deletes may cascade into child tables
  // delete_duplicates: what happens to rows of other tables that reference a
  // surplus row. refuse: the repair is refused before anything changes,
  // naming them; repoint: they are moved to the kept row (audited) first.
  enum class References { refuse, repoint } references = References::refuse;
  SourceLocation where;
};

// A CHECK is either structured (column + bounds / allowed values / not null)
// or a raw SQL expression. Structured forms let repairs like clamp be derived.
struct Check {
  std::string name;
  std::string column;            // structured form; empty for expr
  std::optional<Literal> min;
  std::optional<Literal> max;
  std::vector<Literal> allowed;  // `in`
  bool not_null = false;
  std::string expr;              // raw form; empty for structured
  std::string description;
  Repair repair;
  SourceLocation where;

  bool structured() const { return expr.empty(); }
};

struct Unique {
  std::string name;
  std::vector<std::string> columns;
  std::string where_expr;  // partial unique: only rows matching it must be unique
  std::string description;
  Repair repair;
  SourceLocation where;
};

// A table as the database names it: its name and the schema (namespace) that
// holds it. An empty schema is the connection's default (PostgreSQL: the
// first schema of search_path); SQLite has none. SQL renders it through
// Dialect::quote_table, people read str().
struct TableName {
  std::string name;
  std::string schema = {};  // initialised, so {"orders"} names a table of the default schema without a warning

  std::string str() const;  // "orders", or "sales.orders" outside the default schema
  friend bool operator==(const TableName&, const TableName&) = default;
  friend auto operator<=>(const TableName&, const TableName&) = default;
};

struct Table {
  TableName name;
  std::vector<Check> checks;
  std::vector<Unique> uniques;
  SourceLocation where;
  SourceLocation schema_where;  // the `schema = ` line, when there is one
};

struct Schema {
  std::vector<Table> tables;  // sorted by file name, then order within the file

  // By the name as people write it (TableName::str(): "orders", "sales.orders").
  const Table* find_table(std::string_view shown) const;
  size_t constraint_count() const;
};

std::string_view to_string(RepairPolicy policy);

}  // namespace cc::model
