// How one dialect applies migrations: the migration lock, the history table,
// and the lock-safe (PostgreSQL) or rebuild-based (SQLite) execution of the
// operations. The engine (migrate/engine) decides what to run; a Migrator
// decides how.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dialect/connection.h"
#include "migrate/migration.h"

namespace cc::dialect {

constexpr const char* kHistoryTable = "constraintctl_history";
// CHECKs removed by drop-checks: verify expects them absent, apply puts them back.
constexpr const char* kDroppedTable = "constraintctl_dropped";

struct HistoryRow {
  std::int64_t id = 0;
  int version = 0;
  std::string name;
  std::string checksum;
  std::string direction;  // "up" | "down" | "drop_checks" | "restore_checks"
  std::string started_at;
  std::string finished_at;
  std::string tool_version;
  std::string applied_by;
};

struct MigratorOptions {
  int lock_wait_ms = 10000;     // how long to wait for another migrator
  int lock_timeout_ms = 2000;   // PostgreSQL: per exclusive DDL attempt
  int lock_retries = 5;         // PostgreSQL: attempts per exclusive step
  std::string tool_version;
  std::string applied_by;       // user@host
};

// One statement of a plan, as --dry-run prints it.
struct PlannedStatement {
  std::string sql;
  std::string comment;  // why, e.g. "build the index without blocking writers"
};

// Extra work for one run: operations to leave out (checks that drop-checks
// already removed) and statements committed together with the history row.
struct RunExtras {
  std::vector<std::string> skip;
  std::vector<std::string> record;
};

class Migrator {
 public:
  virtual ~Migrator() = default;

  // Takes the one-migrator-at-a-time lock on this connection, waiting at most
  // lock_wait_ms. Throws cc::Error(ExitCode::locked) naming who holds it.
  virtual void lock() = 0;
  virtual void unlock() = 0;

  // Creates the history table when it does not exist.
  virtual void ensure_history() = 0;
  // All history rows in id order (empty when the table does not exist).
  virtual std::vector<HistoryRow> history() = 0;

  // The statements run() would execute for this migration and direction.
  virtual std::vector<PlannedStatement> plan(const migrate::Migration& m, bool up) = 0;

  // Runs the migration in one direction and records it in history, the
  // history row committing together with the last transactional step. A
  // rerun after an interruption resumes: completed steps are recognised in
  // the catalog, never repeated or recorded twice. Returns false when
  // another migrator had already done it (nothing run).
  virtual bool run(const migrate::Migration& m, bool up, const RunExtras& extras = {}) = 0;

  // Runs operations that belong to no version (drop-checks, and apply
  // restoring dropped checks) the same way, committing `record` with the
  // last transactional step.
  virtual void run_ops(const std::vector<migrate::Operation>& ops, const std::vector<std::string>& record) = 0;

  // Empty when `existing` (from the catalog) has the declared definition, as
  // the database normalises both; otherwise a description of the difference.
  virtual std::string definition_difference(const migrate::ConstraintDef& declared, const ExistingConstraint& existing) = 0;

  // Capabilities, for status output.
  virtual std::string capabilities() = 0;
};

std::unique_ptr<Migrator> make_migrator(Connection& db, const MigratorOptions& options);
std::unique_ptr<Migrator> make_sqlite_migrator(Connection& db, const MigratorOptions& options);
std::unique_ptr<Migrator> make_postgres_migrator(Connection& db, const MigratorOptions& options);

// Shared helpers for the history table.
namespace detail {
std::vector<HistoryRow> read_history(Connection& db, bool table_exists);
std::string history_insert(const Dialect& d, const migrate::Migration& m, bool up, const std::string& started_at,
                           const MigratorOptions& options);
// A history row for an event that is not a version (drop_checks, restore_checks).
std::string history_event(const Dialect& d, int version, const std::string& direction, const std::string& detail,
                          const MigratorOptions& options);
// The DDL of the history and dropped tables, per dialect.
void create_bookkeeping(Connection& db);
// The names and definitions drop-checks removed.
std::vector<migrate::ConstraintDef> dropped_checks(Connection& db);
// The direction the history says `version` is in now: "up", "down" or "" (never run).
std::string current_direction(Connection& db, int version);
}  // namespace detail

}  // namespace cc::dialect
