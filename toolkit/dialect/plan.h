// A migration plan: the exact statements a Migrator runs, grouped the way they
// run (one transaction, or one statement alone outside any transaction), each
// with its reverse, a comment and the operation it came from. `apply` executes
// a plan; `apply --dry-run` prints the same plan as SQL that psql or sqlite3
// can run. Nothing runs that the plan does not list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cc::dialect {

class Dialect;

struct Step {
  std::string sql;
  std::string reverse;  // undoes this step ("" when it has none: bookkeeping, checks)
  std::string comment;  // why, printed as a -- comment
  std::string origin;   // the operation it came from ("add_check humans.humans_age_range"), or "history"
  // The statement is a check: the executor fails the unit when it returns a
  // row (printed as a query whose rows a person must look at).
  bool must_return_no_rows = false;
  std::string fault;    // fault point hit after the step (tests)
};

struct Unit {
  enum class Kind {
    transaction,  // BEGIN (IMMEDIATE) ... COMMIT; rolled back whole on any error
    alone,        // one statement outside any transaction (CONCURRENTLY, PRAGMA foreign_keys)
  };
  Kind kind = Kind::transaction;
  std::string comment;
  std::vector<Step> steps;
  // PostgreSQL: the unit's first step sets lock_timeout; on a lock timeout the
  // whole unit is rolled back and retried, a bounded number of times.
  bool lock_retries = false;
  // Run when the unit fails (an alone build that failed leaves an INVALID index).
  std::string cleanup;
  // The unit adds a constraint that existing rows may violate (the executor
  // reports such a failure as "rows violate", not as a database error).
  bool may_violate = false;
  // Said on stderr when the unit runs (and printed as a comment): the user
  // should know, e.g. that an INVALID index left by a crash is dropped.
  std::string notice;
  // Session settings around an alone unit, which cannot SET LOCAL: run before
  // its statement and reset after it whatever happened (PostgreSQL: the
  // tool's own statement_timeout and lock_timeout for a CONCURRENTLY build).
  // The dry run prints them where they run.
  std::vector<std::string> session_set, session_reset;
  // PostgreSQL: the tables (as the dialect quotes them) whose locks the unit
  // takes; when it gives up waiting, the sessions holding them are named.
  std::vector<std::string> tables;
  std::string fault_before_commit;  // fault points (tests)
  std::string fault_after;
  // apply --fix where CHECKs go in NOT VALID: the repairs (scan --fix, in its
  // own audited transaction) run just before this unit, once the NOT VALID
  // constraints are committed and check every write. Should they fail,
  // `repair_undo` (one transaction) takes back what the plan ran before them.
  bool repair_first = false;
  std::vector<std::string> repair_undo;
};

// One statement alone outside any transaction.
Unit alone(Step step);

struct Plan {
  std::string title;        // "0001_initial (up)"
  std::vector<std::string> notes;  // printed as -- comments before the units
  std::vector<Unit> units;
  // SQLite: the schema_version the plan was made against. The executor
  // refuses to run it if the schema changed since (another writer).
  std::int64_t schema_version = -1;
  // Operations found already done in the catalog (a resumed run), for output.
  std::vector<std::string> already_done;
  // Declared constraints found in the catalog as declared, not created by
  // constraintctl: no DDL, recorded in constraintctl_adopted.
  std::vector<std::string> adopted;
  // Adopted constraints a rollback (or a migration's drop) leaves in place.
  std::vector<std::string> kept;
  // Said on stderr and in JSON: e.g. an equivalent constraint under another
  // name already enforces one this plan adds.
  std::vector<std::string> warnings;
  // Those of `warnings` the executor says itself before its first change
  // (a long write lock ahead), so they are not repeated after it ran.
  std::vector<std::string> said_before_execute;

  bool empty() const;
  size_t statement_count() const;
};

// The plan as a script: notes and comments as "--" lines, transactions as
// BEGIN ... COMMIT, every statement ended by ";". Only SQL, so that
// `constraintctl apply --dry-run | sqlite3 copy.db` (or psql) runs it.
std::string render_script(const Plan& plan, const Dialect& dialect);

}  // namespace cc::dialect
