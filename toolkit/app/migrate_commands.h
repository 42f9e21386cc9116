// generate, status, apply, rollback.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "app/context.h"
#include "core/error.h"
#include "dialect/migrator.h"
#include "migrate/engine.h"

namespace cc::app {

struct GenerateOptions {
  std::string name;
  bool check = false;  // write nothing; findings when schema/ has unsaved changes
};
ExitCode run_generate(Context& ctx, const GenerateOptions& options);

struct StatusOptions {
  bool check = false;  // findings also for pending versions and unsaved schema changes
};
ExitCode run_status(Context& ctx, const StatusOptions& options);

struct ApplyCommandOptions {
  std::optional<int> to;
  bool dry_run = false;
  bool fix = false;                // repair violating rows by policy first (audited, undoable)
  bool allow_cascade = false;      // with fix: as scan --fix --allow-cascade
  bool allow_triggers = false;     // with fix: as scan --fix --allow-triggers
  int lock_wait_ms = -1;           // -1: lock_wait_ms in constraintctl.toml (default 10000)
  bool sqlite_no_rebuild = false;  // or [sqlite] no_rebuild in constraintctl.toml
  int sqlite_max_lock_ms = -1;     // -1: [sqlite] max_lock_ms in constraintctl.toml (default 2000)
};
ExitCode run_apply(Context& ctx, const ApplyCommandOptions& options);

struct RollbackOptions {
  int to = -1;
  bool dry_run = false;
  int lock_wait_ms = -1;        // -1: lock_wait_ms in constraintctl.toml (default 10000)
  int sqlite_max_lock_ms = -1;  // -1: [sqlite] max_lock_ms in constraintctl.toml (default 2000)
};
ExitCode run_rollback(Context& ctx, const RollbackOptions& options);

dialect::MigratorOptions migrator_options(const Context& ctx, int lock_wait_ms);

// The output of a command that ran (or, dry run, would run) migration plans:
// a dry run prints SQL only on stdout, and exits as the real run would.
// `extra`: keys the command's JSON document adds after dry_run (drop-checks: dropped).
ExitCode report_run(Context& ctx, const std::string& command, const migrate::ApplyResult& r, const dialect::Dialect& d,
                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace cc::app
