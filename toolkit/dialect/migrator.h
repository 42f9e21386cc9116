// How one dialect applies migrations: the migration lock, the history table,
// and the lock-safe (PostgreSQL) or rebuild-based (SQLite) execution of the
// operations. The engine (migrate/engine) decides what to run; a Migrator
// decides how.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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
// Constraints constraintctl found in the database rather than created
// (inspect's baseline, or a declared constraint that already existed as
// declared): never dropped by rollback, by drop-checks only when named.
constexpr const char* kAdoptedTable = "constraintctl_adopted";
// Constraints a PostgreSQL apply is building (written before its first
// non-transactional step, removed with the history row): a rerun after an
// interruption finds its own half-done work here and never takes it for
// a pre-existing constraint to adopt.
constexpr const char* kIntentTable = "constraintctl_intent";
// A run whose plan spans several commits (PostgreSQL: CONCURRENTLY builds,
// one VALIDATE per CHECK) records itself here before its first commit and
// counts each step done in the same commit as the step (right after it for a
// CONCURRENTLY build); its last step writes the history row and deletes this
// row. A row left behind means the run was interrupted: status shows the
// version as partially applied, k of n steps.
constexpr const char* kProgressTable = "constraintctl_progress";

// One row of constraintctl_progress.
struct ProgressRow {
  int version = 0;
  std::string direction;  // "up" | "down" | "restore_checks"
  std::string name;       // the migration's name (or the event's detail)
  std::string checksum;   // the file's checksum when the run started ("" for an event)
  int steps_total = 0;
  int steps_done = 0;
  std::string started_at;
  std::string updated_at;
  std::string applied_by;
};

// One row of constraintctl_adopted.
struct AdoptedRow {
  std::string table;
  std::string name;        // declared (or, for an unnamed constraint, generated) name
  std::string kind;        // check | unique | unique_index
  std::string definition;  // as the database rendered it when adopted (matches an unnamed one)
  std::string adopted_at;
};

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
  int lock_wait_ms = 10000;    // how long to wait for another migrator, and (PostgreSQL) in total for the
                               // older transactions a CONCURRENTLY build waits for
  int lock_timeout_ms = 2000;  // PostgreSQL: per exclusive DDL attempt
  int lock_retries = 5;        // PostgreSQL: attempts per exclusive step and per CONCURRENTLY build
  // PostgreSQL: statement_timeout of the steps that run outside a transaction
  // (CONCURRENTLY builds and drops); 0 = no limit, whatever the role says.
  int statement_timeout_ms = 0;
  // SQLite: add CHECKs by editing the table's stored CREATE TABLE text under
  // writable_schema (scan, edit, integrity_check in one write transaction)
  // instead of rebuilding it, where that can be proven safe (docs/plans.md).
  bool sqlite_no_rebuild = false;
  // apply --fix where CHECKs go in NOT VALID (PostgreSQL): the repairs, run by
  // the executor once the plan's NOT VALID CHECKs are committed (so every
  // write from then on is checked, the repairs' own included) and before any
  // VALIDATE or unique index build. A plan marks the place (Unit::repair_first).
  std::function<void()> repair;
  // New connections to the same database (SQLite: the scan before a
  // no-rebuild edit of a large table reads on one while the migration's
  // connection goes on). Unset: everything is read on the one connection.
  Connection::Opener open;
  // SQLite: the longest the write lock should be held at once. A migration
  // estimated to take longer runs one transaction per table (or per run of
  // tables whose estimates fit together), each counted
  // in constraintctl_progress; a table whose step alone would take longer
  // is said up front. 0 = no bound (one transaction).
  int sqlite_max_lock_ms = 2000;
  std::string tool_version;
  std::string applied_by;  // user@host
};

// Work for one run: a version in one direction, or operations that belong
// to no version (drop-checks, apply restoring what drop-checks removed).
struct Work {
  const migrate::Migration* migration = nullptr;
  bool up = true;
  std::vector<migrate::Operation> ops;  // what to run (checks drop-checks removed already left out)
  std::vector<std::string> record;      // statements committed with the last transactional step
  // Work without a migration: the event it records ("restore_checks") and
  // the version it belongs to, which key its progress row.
  std::string event;
  int event_version = 0;
  // Rolls back a version an interrupted apply left partially applied (no
  // 'up' history row): runs although the history does not say "up".
  bool partial = false;
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

  // Runs interrupted in the middle of a plan that spans several commits
  // (constraintctl_progress), in version order. Empty where every plan is
  // one transaction.
  virtual std::vector<ProgressRow> progress() { return {}; }

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
  virtual std::string definition_difference(const migrate::ConstraintDef& declared,
                                            const ExistingConstraint& existing) = 0;

  // Before definition_difference() of each of `pairs` (a declared
  // constraint and the one the catalog has of its name): a driver that pays
  // a round trip per question (PostgreSQL) asks the database all of them at
  // once and answers the calls that follow from what it read. Optional: the
  // answers are the same without it.
  using DefinitionPair = std::pair<const migrate::ConstraintDef*, const ExistingConstraint*>;
  virtual void compare_definitions(const std::vector<DefinitionPair>& pairs) { (void)pairs; }

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
// Every row of constraintctl_adopted by name (empty when the table does not exist).
std::map<std::string, AdoptedRow> adopted(Connection& db);
// The statement recording `existing` (found in the catalog) as adopted under
// `def`'s name; a second record of the same name is ignored.
std::string adopt_record(const Dialect& d, const migrate::ConstraintDef& def, const ExistingConstraint& existing);
// Every row of constraintctl_progress (empty when the table does not exist).
std::vector<ProgressRow> read_progress(Connection& db);
// The key of a run's constraintctl_progress row: the migration's version,
// direction ("up" | "down"), name and checksum, or the event of a run without
// a migration ("restore_checks"). direction is "" when the work has neither.
struct ProgressKey {
  std::string direction, name, checksum;
  int version = 0;
};
ProgressKey progress_key(const Work& work);
// The statement that forgets the progress of (version, direction).
std::string forget_progress(const Dialect& d, int version, const std::string& direction);
// The statement that forgets the intents of `names` ("" when names is empty).
std::string forget_intents(const Dialect& d, const std::vector<std::string>& names);
// Names of constraintctl_intent (empty when the table does not exist).
std::vector<std::string> intents(Connection& db);
// The constraint of `info` that `name` refers to: by name, or, for an adopted
// unnamed constraint (SQLite inline CHECK/UNIQUE), by its recorded definition.
const ExistingConstraint* resolve(const TableInfo& info, const std::string& name,
                                  const std::map<std::string, AdoptedRow>& adopted);
// Creates them (what a plan's bookkeeping unit runs).
void create_bookkeeping(Connection& db);
bool table_exists(Connection& db, std::string_view table);
// The names and definitions drop-checks removed. table_name holds the table as
// shown (TableName::str()); migrate::expected_state puts the migrations' own
// TableName in its place.
std::vector<migrate::ConstraintDef> dropped_checks(Connection& db);
// The direction the history says `version` is in now: "up", "down" or "" (never run).
std::string current_direction(Connection& db, int version);
// The steps of `work` (a version or loose operations) that record it.
std::vector<std::string> records(Connection& db, const Work& work, const MigratorOptions& options);
}  // namespace detail

}  // namespace cc::dialect
