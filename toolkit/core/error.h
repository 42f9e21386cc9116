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

// A failure reported by the database or the connection. Keeps the SQLSTATE
// (PostgreSQL) or extended result code (SQLite) so callers can tell a check
// violation from a syntax error.
class DatabaseError : public Error {
 public:
  DatabaseError(std::string message, std::string sqlstate = {}, int sqlite_code = 0)
      : Error(ExitCode::database, std::move(message)), sqlstate_(std::move(sqlstate)), sqlite_code_(sqlite_code) {}
  const std::string& sqlstate() const { return sqlstate_; }
  int sqlite_code() const { return sqlite_code_; }

 private:
  std::string sqlstate_;
  int sqlite_code_;
};

// Returns a copy of `e` (same type and code) whose message is "context: message".
[[noreturn]] void rethrow_with_context(const std::exception& e, std::string_view context);

}  // namespace cc
