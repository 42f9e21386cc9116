// Repairs by policy (scan --fix) with an audit trail, and their exact undo.
//
// A fix run works set-based, one table at a time, inside one transaction:
//   1. the keys of the rows that break any repairable rule, in one pass;
//   2. the before-image of each of those rows into constraintctl_audit;
//   3. one UPDATE or DELETE per rule, restricted to those keys, in schema
//      order, repeated until no rule is broken (interacting rules such as
//      clamping willpower, then temporary_willpower <= willpower) or the run
//      gives up and rolls back;
//   4. after-images, so undo can tell whether a row changed again since.
// Rows that foreign keys' ON DELETE actions change, at any depth, are audited
// too (CASCADE only with an explicit opt-in; SET NULL / SET DEFAULT always).
// What user triggers write meanwhile is captured into the audit too
// (scan/capture.h). Nothing is lost: undo restores the exact prior content of
// every table, with triggers suspended.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dialect/connection.h"
#include "model/schema.h"
#include "scan/capture.h"
#include "scan/scanner.h"

namespace cc::scan {

struct FixOptions {
  std::vector<std::string> tables;  // empty: all
  bool dry_run = false;
  bool allow_cascade = false;  // for every delete policy
  // User triggers on the tables a fix writes fire; what they write in this
  // database is captured into the audit (fix-undo reverses it). They are
  // listed in the report and the run's summary, and with this the fix
  // refuses instead, naming them, before anything changes.
  bool refuse_triggers = false;
  // A trigger whose effects cannot be captured (it can act outside the
  // database; PostgreSQL: a language other than plpgsql / sql, dblink,
  // NOTIFY; or a table the fix may not put a recording trigger on) refuses
  // the fix, naming it, unless this is given: then the fix goes ahead, and
  // the run's summary and report name what was not captured.
  bool allow_triggers = false;
  // A repair refused before the run (duplicates other rows reference, with
  // references = "refuse") leaves its rows for review while the other
  // repairs of the run go ahead; without it the whole run is refused.
  bool skip_refused = false;
  std::map<std::string, model::RepairPolicy> overrides;  // constraint name -> policy for this run
  int sample = 5;
  std::string tool_version;
  std::string applied_by;
};

struct FixAction {
  std::string table;
  std::string name;
  std::string kind;  // check | unique
  std::string policy;
  std::int64_t violations = 0;  // before the run
  std::int64_t changed = 0;     // rows updated
  std::int64_t deleted = 0;     // rows deleted (UNIQUE duplicates, delete policy)
  std::int64_t repointed = 0;   // rows of other tables moved to the kept row (references = "repoint")
  std::vector<Sample> preview;  // dry run: key, values before, and "after" values
};

// Rows of another table that a foreign key's ON DELETE action changed when
// the fix deleted rows, at any depth; every one audited, and put back by fix-undo.
struct ChildChange {
  std::string table;
  std::string action;  // cascade (deleted) | set_null | set_default
  std::int64_t rows = 0;
};

struct FixReport {
  std::string run_id;  // empty for a dry run or when nothing needed fixing
  bool dry_run = false;
  std::vector<FixAction> actions;
  std::int64_t cascaded = 0;                   // child rows deleted through ON DELETE CASCADE, at any depth
  std::vector<ChildChange> children;           // per table and ON DELETE action
  std::vector<std::string> triggers;           // table.trigger that fired (their writes in the database are captured)
  std::vector<TriggerEffect> trigger_effects;  // what they changed, per table, audited and undone by fix-undo
  std::vector<std::string> uncaptured;         // allowed (allow_triggers) although not captured, and why
  std::int64_t audited = 0;                    // audit rows written
  std::vector<std::string> refused;            // repairs refused before the run (with skip_refused), and why
  ScanReport after;                            // scan after the run (dry run: the scan before)
};

FixReport run_fix(dialect::Connection& db, const model::Schema& schema, const FixOptions& options);

struct UndoReport {
  std::string run_id;
  std::int64_t restored = 0;    // updated rows put back
  std::int64_t reinserted = 0;  // deleted rows inserted again
  std::int64_t forced = 0;      // rows changed since the run, undone anyway (force)
  std::int64_t triggered = 0;   // rows written back that the run's triggers had changed
};

// Restores every row a fix run changed or deleted. Refuses, changing nothing,
// when the run is unknown or undone already, or when any of its rows changed
// again since (naming them, with what the run left and what is there now),
// unless `force`: then the columns the run changed get their before-image
// anyway, and deleted rows whose key is taken again stay out. Only the
// columns a run changed are ever written back; user triggers do not fire.
UndoReport undo_fix(dialect::Connection& db, const std::string& run_id, const std::string& applied_by,
                    bool force = false);

}  // namespace cc::scan
