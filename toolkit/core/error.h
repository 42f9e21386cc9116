// Errors that abort a command, and the process exit codes they map to.
//
// Only main() catches these. Expected outcomes ("violations found", "nothing to
// do") are results, not exceptions. Messages chain context from the outside in:
// "scan: characters: characters_xp_nonnegative: ...".
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cc {

// The documented exit codes (docs/errors.md). Stable: scripts depend on them.
enum class ExitCode : int {
  ok = 0,
  findings = 1,  // violations, drift or failed verification: the command worked
  usage = 2,     // bad command line, configuration or schema files
  database = 3,  // connection failed, SQL error, missing table
  locked = 4,    // another migrator holds the lock
  internal = 70, // a bug in constraintctl
};

// One positioned problem (a schema or configuration file's line), kept apart
// from the message text so `--json` can report it as data.
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, std::string message, std::vector<Problem> problems = {})
      : std::runtime_error(std::move(message)), code_(code), problems_(std::move(problems)) {}
  ExitCode code() const { return code_; }
  // The positioned problems behind the message, when it lists some.
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  ExitCode code_;
  std::vector<Problem> problems_;
};

// A bad command line, configuration or schema file. Raised before any
// connection is opened wherever possible.
class UsageError : public Error {
 public:
  explicit UsageError(std::string message, std::vector<Problem> problems = {})
      : Error(ExitCode::usage, std::move(message), std::move(problems)) {}
};

// What went wrong in the database, mapped once by each driver from its own
// codes (SQLSTATE, SQLite extended result codes) so that no code above the
// dialect layer compares codes.
enum class DbErrorKind {
  other,
  check_violation,
  unique_violation,      // includes a PRIMARY KEY collision
  not_null_violation,
  foreign_key_violation,
  lock_timeout,          // a lock wait gave up (PostgreSQL lock_timeout)
  statement_timeout,     // the statement was cancelled by a timeout
  busy,                  // SQLite: another connection holds the lock
  deadlock,
  serialization,
  storage_full,
  read_only,             // read-only transaction, connection or file
  permission_denied,
  syntax,                // the database could not parse or resolve the SQL
  undefined_object,      // no such table, column, function, constraint
  connection,            // the connection failed or was lost
};

std::string_view to_string(DbErrorKind kind);

// A violation of a data rule: the write was refused because of the data.
inline bool is_violation(DbErrorKind k) {
  return k == DbErrorKind::check_violation || k == DbErrorKind::unique_violation || k == DbErrorKind::not_null_violation ||
         k == DbErrorKind::foreign_key_violation;
}
// The statement gave up waiting for another session.
inline bool is_wait(DbErrorKind k) {
  return k == DbErrorKind::lock_timeout || k == DbErrorKind::busy || k == DbErrorKind::statement_timeout ||
         k == DbErrorKind::deadlock;
}

// What the database said beside its message, where it says it.
struct DbErrorDetail {
  std::string code;        // SQLSTATE, or the SQLite extended result code in decimal
  std::string code_label;  // the code as people look it up: "SQLSTATE 55P03", "SQLITE_BUSY (5)"
  std::string constraint;  // PG_DIAG_CONSTRAINT_NAME; SQLite: the CHECK name in its message
  std::string table;       // PG_DIAG_TABLE_NAME; SQLite: the table in its message
  std::vector<std::string> columns;  // SQLite UNIQUE: "t.a, t.b" from its message
  std::string sql;         // the statement that failed
};

// A failure reported by the database or the connection. Carries its kind and
// the detail the database gave, so callers can tell a check violation from a
// lock timeout without looking at codes or message text.
class DatabaseError : public Error {
 public:
  explicit DatabaseError(std::string message, DbErrorKind kind = DbErrorKind::other, DbErrorDetail detail = {})
      : Error(ExitCode::database, std::move(message)), kind_(kind), detail_(std::move(detail)) {}
  DbErrorKind kind() const { return kind_; }
  const DbErrorDetail& detail() const { return detail_; }
  const std::string& constraint() const { return detail_.constraint; }
  // The database's own code, for messages only.
  const std::string& native_code() const { return detail_.code; }

 private:
  DbErrorKind kind_;
  DbErrorDetail detail_;
};

// The error as the user reads it: one line, the database's words, then
// what it names that the words do not (table, constraint) and its code:
// "table 'humans': canceling statement due to lock timeout (lock_timeout, SQLSTATE 55P03)".
std::string database_sentence(const DatabaseError& e);

// A database error that a later run can get past once another session lets
// go (a lock wait, a busy file, a deadlock): exit 4, not 3. A statement
// timeout is the configured limit on the work itself: 3.
inline ExitCode exit_code_of(const DatabaseError& e) {
  const auto k = e.kind();
  return k == DbErrorKind::lock_timeout || k == DbErrorKind::busy || k == DbErrorKind::deadlock ? ExitCode::locked
                                                                                               : e.code();
}

// Returns a copy of `e` (same type and code) whose message is "context: message".
[[noreturn]] void rethrow_with_context(const std::exception& e, std::string_view context);

}  // namespace cc
