// Counts the rows that violate each declared constraint, applied or not.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dialect/connection.h"
#include "model/schema.h"

namespace cc::scan {

struct Sample {
  std::vector<std::pair<std::string, dialect::Value>> key;     // primary key (or row id) of a violating row
  std::vector<std::pair<std::string, dialect::Value>> values;  // the columns the constraint looks at
  std::int64_t rows = 0;                                       // UNIQUE: rows sharing this key
  std::string ids;                                             // UNIQUE: their row keys, comma separated
};

struct ConstraintScan {
  std::string table;  // as shown: TableName::str()
  std::string name;
  std::string kind;             // "check" | "unique"
  std::string definition;       // the condition or column list, as SQL
  std::int64_t violations = 0;  // CHECK: violating rows; UNIQUE: rows beyond one per key
  std::int64_t groups = 0;      // UNIQUE: keys held by more than one row
  bool present = false;         // a constraint of this name exists in the database
  model::RepairPolicy policy = model::RepairPolicy::report;
  model::SourceLocation where;
  std::vector<Sample> samples;
  // CHECK with violations: why its declared repair cannot work on this table
  // (what the catalog alone tells), or "". scan --fix refuses it.
  std::string repair_refused;
};

// What the catalog alone says against repairing `check` by `repair` on
// `table`: a generated target column, NULL into NOT NULL, set_default
// without a default. "" when nothing does.
std::string catalog_repair_refusal(const model::Check& check, const model::Repair& repair,
                                   const dialect::TableInfo& table);

struct ScanOptions {
  std::vector<std::string> tables;  // empty: all declared tables; else as shown ("orders", "sales.orders")
  int sample = 5;                   // sample rows per violated constraint (0: none)
  std::function<void(const std::string& table, size_t index, size_t count)> progress;
  // Read in the caller's open transaction (a fix's dry run scans what its
  // rolled-back repairs left) instead of a snapshot of its own.
  bool inside_transaction = false;
  // Also list rows whose foreign key points at no row (where the database
  // allows them), anywhere in the database, when a declared CHECK of a
  // scanned table is still to be added (a rebuild is pending).
  bool foreign_keys = false;
  // Parallel reads: up to `jobs` connections (this one and jobs - 1 from
  // `open`) in one snapshot, each table's CHECK pass split into ranges when
  // it holds at least `split_min_rows` rows. Counts and samples are those of
  // the serial scan. 1, or no `open`: one connection. 0: the dialect's
  // Capabilities::scan_jobs when some table is large enough to split, else 1.
  int jobs = 1;
  dialect::Connection::Opener open;
  std::int64_t split_min_rows = 200000;
  // scan --fix: the CHECK pass returns the key of every row breaking any
  // CHECK of its table (ScanReport::check_keys) instead of only counting
  // them, so the fix collects its rows from this very pass; without samples
  // the UNIQUE pass likewise returns the values of its duplicated groups
  // (ScanReport::unique_groups).
  bool keep_keys = false;
  // A fix's check after its repairs: per table (as shown), a condition on its
  // columns limiting the CHECK pass to the rows the fix touched, and UNIQUEs
  // (by name) whose counts the fix knows without a pass.
  std::map<std::string, std::string> check_rows;
  std::vector<std::string> skip_uniques;
};

// Rows of `table` whose foreign key to `parent` points at no row.
struct DanglingKeys {
  std::string table;
  std::string parent;
  std::int64_t rows = 0;
};

struct ScanReport {
  std::string database;  // for display; no password
  std::string dialect;
  std::vector<ConstraintScan> constraints;
  size_t tables = 0;
  double elapsed_ms = 0;
  bool checked_foreign_keys = false;   // ScanOptions::foreign_keys
  size_t jobs = 1;                     // connections that read in parallel (one snapshot)
  std::vector<DanglingKeys> dangling;  // a warning, not a violation of a declared constraint
  // keep_keys: per table (as shown), the keys (primary key columns, or the
  // row id) of the rows breaking any of its CHECKs. A table is absent when
  // it has no such key or too many rows break its CHECKs to keep.
  std::map<std::string, std::vector<std::vector<dialect::Value>>> check_keys;
  // keep_keys (and no samples): per UNIQUE (by name), the column values of
  // each duplicated group, in the UNIQUE's column order. Absent when there
  // are too many groups to keep.
  std::map<std::string, std::vector<std::vector<dialect::Value>>> unique_groups;

  std::int64_t total_violations() const;
  size_t violated_constraints() const;
};

// Validates the declared tables against the database (tables and columns
// exist; every expression compiles in the database's own parser), then scans
// inside one read-only snapshot. Problems found in validation are all
// reported together, before any scan query runs, as a cc::UsageError naming
// the constraint and its file:line.
ScanReport run_scan(dialect::Connection& db, const model::Schema& schema, const ScanOptions& options);

}  // namespace cc::scan
