// The migration engine: compares migrations/ with the database's history and
// decides what to run. How each step runs is the dialect Migrator's business.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dialect/migrator.h"
#include "migrate/diff.h"
#include "model/migration.h"
#include "scan/scanner.h"

namespace cc::migrate {

struct VersionStatus {
  int version = 0;
  std::string name;
  // applied | pending | rolled_back | edited | missing_file, or, after an
  // interrupted run whose plan spans several commits (constraintctl_progress):
  // partially_applied (an apply) | partially_rolled_back (a rollback).
  std::string state;
  std::string file_checksum;
  std::string recorded_checksum;
  std::string applied_at;
  std::string applied_by;
  int steps_done = 0;   // partially_*: steps committed so far
  int steps_total = 0;  // partially_*: steps of the interrupted run
};

struct Status {
  std::vector<VersionStatus> versions;
  std::vector<std::string> problems;  // edited files, missing files, tampered history
  int current = 0;                    // highest applied version
  std::vector<std::string> pending_schema_changes;  // what `generate` would write
  std::string capabilities;
  // Interrupted runs that belong to no version's state (restore_checks: apply
  // putting back what drop-checks removed), and the versions' ones too.
  std::vector<dialect::ProgressRow> in_progress;

  // Versions to apply: pending, rolled back, partially applied or rolled back.
  size_t pending() const;
};

// Reads history and compares it with the files. Never changes anything.
Status compute_status(dialect::Migrator& migrator, const std::vector<Migration>& migrations);

// Throws cc::UsageError naming version and both checksums when history and
// files disagree (an edited applied file, a missing file, a tampered history).
void require_consistent(const Status& status);

struct ApplyOptions {
  std::optional<int> to;  // highest version to apply (default: all)
  bool dry_run = false;
  int sample = 5;
  // apply --fix on PostgreSQL (MigratorOptions::repair): constraints the
  // repairs fix between their NOT VALID step and VALIDATE, so their existing
  // violations refuse nothing; the others still refuse before any change.
  std::vector<std::string> repaired;
};

struct StepResult {
  std::string id;      // 0001_initial, or restore_checks / drop_checks
  std::string direction;
  bool ran = false;    // false: another migrator did it first, or dry run
  double elapsed_ms = 0;
  dialect::Plan plan;  // what ran (dry run: what would run)
};

struct ApplyResult {
  bool dry_run = false;
  // CREATE TABLE statements for the bookkeeping tables that were missing:
  // run before anything else (dry run: would be).
  std::vector<std::string> bookkeeping;
  std::vector<StepResult> steps;
  std::vector<std::string> restored;  // checks drop-checks had removed, put back by apply (dry run: would be)
  std::optional<scan::ScanReport> refused;  // rows violate constraints to be added: nothing was changed (dry run: would refuse)
};

// Applies pending migrations up to options.to. Before changing anything it
// scans the data for every constraint the pending migrations add and refuses
// (ApplyResult::refused) when rows violate them.
ApplyResult apply(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                  const ApplyOptions& options, const dialect::MigratorOptions& migrator_options);

// Reverts applied migrations above `to`, newest first.
ApplyResult rollback(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations, int to,
                     bool dry_run, const dialect::MigratorOptions& migrator_options = {});

struct DropChecksResult {
  std::vector<ConstraintDef> dropped;  // dry run: would be dropped
  std::vector<ConstraintDef> kept;     // adopted CHECKs left in place (not named with --constraint)
  std::vector<std::string> adopted_dropped;  // adopted CHECKs dropped because --constraint names them
  ApplyResult run;                     // the plan run (dry run: that would run)
};

// The partial rollback: drops the applied CHECK constraints (all, those of
// `tables`, as shown: "orders", "sales.orders", or the one named) and keeps every UNIQUE. Recorded, so verify
// expects them absent and the next apply puts them back.
DropChecksResult drop_checks(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                             const std::vector<std::string>& tables, const std::string& constraint, const dialect::MigratorOptions& options,
                             bool dry_run = false);

// The constraints that should exist now: the applied versions replayed, less
// the checks drop-checks removed (returned in `dropped`).
State expected_state(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                     std::vector<ConstraintDef>* dropped = nullptr, Status* status = nullptr);

// The constraints some migrations add, as a schema the scanner can check.
model::Schema schema_of_additions(const std::vector<const Migration*>& migrations, bool up);

}  // namespace cc::migrate
