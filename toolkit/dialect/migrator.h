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
#include "dialect/plan.h"
#include "model/migration.h"

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

// Work for one run: a version in one direction, or operations that belong
// to no version (drop-checks, apply restoring what drop-checks removed).
struct Work {
  const migrate::Migration* migration = nullptr;
  bool up = true;
  std::vector<migrate::Operation> ops;  // what to run (checks drop-checks removed already left out)
  std::vector<std::string> record;      // statements committed with the last transactional step
};

class Migrator {
 public:
  virtual ~Migrator() = default;

  // Takes the one-migrator-at-a-time lock on this connection, waiting at most
  // lock_wait_ms. Throws cc::Error(ExitCode::locked) naming who holds it.
  virtual void lock() = 0;
  virtual void unlock() = 0;

  // All history rows in id order (empty when the table does not exist).
  virtual std::vector<HistoryRow> history() = 0;

  // The plan for `work`, made from the catalog as it is now: operations found
  // done already (an interrupted run) are left out and listed, and what
  // cannot work (a different constraint of the same name) is refused here,
  // before any change. Reads only.
  virtual Plan plan(const Work& work) = 0;

  // Refuses, before any change of the run, operations this database could
  // never build (PostgreSQL: a UNIQUE on a partitioned table without its
  // partition key). plan() checks too; the engine calls this first for every
  // version of an apply or rollback, so a later version's impossible
  // operation refuses before an earlier version's DDL. Reads only.
  virtual void refuse_early(const std::vector<migrate::Operation>& ops) { (void)ops; }

  // Runs exactly `plan`, the history row committing with its last
  // transactional step. Returns false when another migrator had already run
  // the version (nothing run).
  virtual bool execute(const Plan& plan, const Work& work) = 0;

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
// `started_at` is SQL (a literal or an expression).
std::string history_insert(const Dialect& d, const migrate::Migration& m, bool up, const std::string& started_at,
                           const MigratorOptions& options);
// The statement recording that a version was run, with the time now as a literal.
std::string history_insert_now(Connection& db, const migrate::Migration& m, bool up, const MigratorOptions& options);
// A history row for an event that is not a version (drop_checks, restore_checks).
std::string history_event(const Dialect& d, int version, const std::string& direction, const std::string& detail,
                          const MigratorOptions& options);
// The DDL of the bookkeeping tables (history, dropped) that do not exist yet.
std::vector<std::string> missing_bookkeeping(Connection& db);
// Creates them (what a plan's bookkeeping unit runs).
void create_bookkeeping(Connection& db);
bool table_exists(Connection& db, std::string_view table);
// The names and definitions drop-checks removed.
std::vector<migrate::ConstraintDef> dropped_checks(Connection& db);
// The direction the history says `version` is in now: "up", "down" or "" (never run).
std::string current_direction(Connection& db, int version);
// The steps of `work` (a version or loose operations) that record it.
std::vector<std::string> records(Connection& db, const Work& work, const MigratorOptions& options);
}  // namespace detail

}  // namespace cc::dialect
