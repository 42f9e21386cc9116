// constraintctl inspect: schema/*.toml written from what a live database
// already enforces, and the baseline that adopts it. Reads only; writing the
// files and recording the adoption is the command's business.
#pragma once

#include <string>
#include <vector>

#include "dialect/catalog.h"
#include "dialect/connection.h"
#include "dialect/migrator.h"
#include "model/migration.h"

namespace cc::migrate {

// One constraint found in the catalog, as schema/ declares it.
struct Found {
  ConstraintDef def;                     // as `generate` would write it (declared name, definition from schema/)
  dialect::ExistingConstraint existing;  // as the catalog has it
  bool generated_name = false;           // unnamed in the database (SQLite inline): a name was made up
  bool structured = false;               // written as column + min/max/in/not_null
};

struct InspectedTable {
  std::string table;
  std::string file_name;             // "humans.toml"
  std::string toml;                  // the file's text
  std::vector<Found> found;          // in the order of the file
  std::vector<std::string> skipped;  // constraints that cannot be declared, with the reason
};

// Reads `tables` (every table of list_tables() but constraintctl's own when
// empty) and renders one schema file per table. Throws cc::UsageError naming
// a --table that does not exist, or a constraint name two tables share
// (schema/ needs names unique across the whole schema).
std::vector<InspectedTable> inspect(dialect::Connection& db, dialect::Migrator& migrator,
                                    const std::vector<std::string>& tables, const std::string& source);

// The operations of the baseline migration: every constraint found that the
// migrations so far do not already build.
std::vector<Operation> baseline_operations(const std::vector<InspectedTable>& tables, const State& built);

// constraintctl's own tables (constraintctl_*), never inspected.
bool is_bookkeeping_table(const std::string& table);

}  // namespace cc::migrate
