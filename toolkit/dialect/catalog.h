// What the database says exists, as read by a driver's inspect_table().
#pragma once

#include <string>
#include <vector>

#include "model/schema.h"

namespace cc::dialect {

struct ColumnInfo {
  std::string name;
  std::string type;
  bool not_null = false;
  std::string default_sql;  // empty when none
  bool generated = false;   // computed by the database: never written
  bool identity_always = false;  // PostgreSQL GENERATED ALWAYS AS IDENTITY: an UPDATE may not set it
  // PostgreSQL: the type a domain is based on ("" for no domain), and the
  // labels of an enum type in their order (empty for other types).
  std::string base_type;
  std::vector<std::string> labels;
};

struct ExistingConstraint {
  enum class Kind { check, unique, primary_key, foreign_key, unique_index };
  std::string name;        // SQLite: empty for an unnamed constraint
  Kind kind = Kind::check;
  std::string definition;  // as the database renders it (CHECK (...), UNIQUE (...), CREATE UNIQUE INDEX ...)
  std::vector<std::string> columns;
  bool valid = true;       // PostgreSQL: convalidated / indisvalid AND indisready
  bool planned = false;    // not in the catalog yet: an earlier step of the same plan adds it
};

// A foreign key in another table that points at this one.
struct Referrer {
  model::TableName table;                   // its schema too, when it is not the default
  std::vector<std::string> columns;         // in the referring table
  std::vector<std::string> parent_columns;  // in this table
  bool cascade = false;                     // ON DELETE CASCADE
  std::string on_delete;                    // CASCADE, SET NULL, SET DEFAULT, RESTRICT or NO ACTION
};

struct TableInfo {
  model::TableName name;  // as asked for
  bool exists = false;
  // Names match whatever the case of their ASCII letters (SQLite): find_column
  // and find_constraint, and same_name, follow it.
  bool names_ignore_case = false;
  std::vector<ColumnInfo> columns;
  std::vector<std::string> primary_key;  // empty: none declared
  std::string row_id;                    // when there is no primary key: "rowid" (SQLite) or "ctid" (PostgreSQL)
  // PostgreSQL: part of a partition or inheritance hierarchy. A parent reads
  // its children's rows, and a ctid names one row per physical table, so it
  // repeats there; a child's writes are counted under its root.
  bool row_id_repeats = false;
  std::vector<ExistingConstraint> constraints;
  std::vector<Referrer> referrers;  // foreign keys of other tables pointing here

  const ColumnInfo* find_column(std::string_view column) const;
  const ExistingConstraint* find_constraint(std::string_view constraint) const;
  bool same_name(std::string_view a, std::string_view b) const;
  // Do the two column lists name the same columns in the same order?
  bool same_names(const std::vector<std::string>& a, const std::vector<std::string>& b) const;
};

std::string_view to_string(ExistingConstraint::Kind kind);

}  // namespace cc::dialect
