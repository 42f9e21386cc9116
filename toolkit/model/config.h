// constraintctl.toml: optional project settings. Command-line options and
// CONSTRAINTCTL_DB override what it says.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace cc::model {

struct Config {
  std::filesystem::path project_dir = ".";
  std::optional<std::string> database;  // URL; a relative sqlite path is relative to project_dir
  std::filesystem::path schema_dir = "schema";
  std::filesystem::path migrations_dir = "migrations";
  // How long any command waits for another session in total: another
  // migrator's lock, the older transactions a CONCURRENTLY build waits for,
  // and (PostgreSQL lock_timeout of every transaction) a table another
  // session locked. --lock-wait-ms overrides it; 0 = no limit where a limit
  // is optional (lock_timeout).
  int lock_wait_ms = 10000;
  int sqlite_busy_timeout_ms = 5000;
  // [sqlite] no_rebuild: add CHECKs by editing the stored CREATE TABLE text
  // (writable_schema) instead of rebuilding the table; opt-in, docs/plans.md.
  bool sqlite_no_rebuild = false;
  // [sqlite] max_lock_ms: the longest apply and rollback hold the write lock
  // at once where the work allows it (one transaction per table); 0 = one
  // transaction whatever it takes. --sqlite-max-lock-ms overrides it.
  int sqlite_max_lock_ms = 2000;
  int postgres_statement_timeout_ms = 0;  // scans: 0 = no limit
  int postgres_lock_timeout_ms = 2000;
};

// Reads `project_dir`/constraintctl.toml when it exists (defaults otherwise).
// Relative directories in the file are resolved against `project_dir`.
Config load_config(const std::filesystem::path& project_dir);

}  // namespace cc::model
