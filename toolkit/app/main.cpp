// constraintctl: the command line. The only place that catches cc::Error and
// turns it into a message and an exit code (docs/errors.md).
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/context.h"
#include "app/migrate_commands.h"
#include "app/verify_commands.h"
#include "app/scan_command.h"
#include "core/error.h"
#include "core/secrets.h"

#ifndef CONSTRAINTCTL_VERSION
#define CONSTRAINTCTL_VERSION "0.0.0"
#endif

namespace {

int fail(cc::ExitCode code, const std::string& message) {
  std::cerr << "constraintctl: error: " << cc::secrets::scrub(message) << "\n";
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"constraintctl: declare, scan, repair, migrate and verify CHECK and UNIQUE constraints\n"
               "on PostgreSQL and SQLite.",
               "constraintctl"};
  app.set_version_flag("--version", std::string("constraintctl ") + CONSTRAINTCTL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  cc::app::GlobalOptions global;
  app.add_option("--db", global.db, "Database URL: sqlite:PATH or postgresql://user@host:port/db (default: $CONSTRAINTCTL_DB, then constraintctl.toml)");
  app.add_option("--project", global.project, "Project directory holding schema/, migrations/ and constraintctl.toml")->capture_default_str();
  app.add_option("--schema", global.schema_dir, "Schema directory (default: PROJECT/schema)");
  app.add_flag("--json", global.json, "Machine-readable JSON on stdout (docs/json.md)");
  app.add_flag("-q,--quiet", global.quiet, "Print only problems");
  app.add_flag("-v,--verbose", global.verbose, "More detail (sample rows)");

  cc::app::ScanCommandOptions scan_options;
  auto* scan = app.add_subcommand("scan", "Count the rows that violate each declared constraint, with sample rows");
  scan->add_option("--table", scan_options.tables, "Only this table (repeatable)");
  scan->add_option("--sample", scan_options.sample, "Sample rows per violated constraint (default 5 with --verbose or --json)")
      ->check(CLI::Range(0, 1000));
  scan->add_flag("--fix", scan_options.fix, "Repair violating rows by each constraint's policy, audited and undoable");
  scan->add_flag("--dry-run", scan_options.dry_run, "With --fix: show what would change (before -> after), change nothing");
  scan->add_flag("--allow-cascade", scan_options.allow_cascade, "With --fix: allow deletes that cascade into child tables");
  scan->add_option("--policy", scan_options.policies, "With --fix: CONSTRAINT=POLICY override for this run (repeatable)");
  scan->footer(
      "Examples:\n"
      "  constraintctl --db sqlite:app.db scan\n"
      "  constraintctl scan --db postgresql://app@db:5432/app --table humans --verbose\n"
      "  constraintctl scan --json | jq '.constraints[] | select(.violations > 0)'\n"
      "  constraintctl scan --fix --dry-run          # what would change, before -> after\n"
      "  constraintctl scan --fix                    # repair, print the run id\n"
      "  constraintctl scan --fix --policy humans_age_range=report\n"
      "Exit codes: 0 no violations, 1 violations found, 2 usage or schema error, 3 database error.");

  std::string undo_run_id;
  auto* fix_undo = app.add_subcommand("fix-undo", "Undo one fix run exactly, from its audit trail");
  fix_undo->add_option("RUN_ID", undo_run_id, "The run id printed by scan --fix")->required();
  fix_undo->footer("Refuses, changing nothing, when a row the run touched has changed again since.");

  cc::app::GenerateOptions generate_options;
  auto* generate = app.add_subcommand("generate", "Write the next migration from the difference between schema/ and migrations/");
  generate->add_option("--name", generate_options.name, "Name of the migration (default: derived from its operations)");
  generate->footer("Example:\n  constraintctl generate --name humans_age\nWrites migrations/NNNN_name.toml; nothing is written when nothing changed.");

  auto* status = app.add_subcommand("status", "Applied and pending migrations, edited files, schema changes not yet in a migration");
  status->footer("Exit codes: 0 consistent, 1 an applied file was edited, a file is missing or history is inconsistent.");

  cc::app::ApplyCommandOptions apply_options;
  auto* apply = app.add_subcommand("apply", "Apply pending migrations (scans first; refuses while rows violate)");
  apply->add_option("--to", apply_options.to, "Apply up to this version (default: all)");
  apply->add_flag("--dry-run", apply_options.dry_run,
                  "Print the SQL apply would run (runnable in psql / sqlite3), change nothing; exits as apply would");
  apply->add_flag("--fix", apply_options.fix, "Repair violating rows by policy first (audited; undo with fix-undo)");
  apply->add_option("--lock-wait-ms", apply_options.lock_wait_ms, "Wait this long for another migrator (default 10000)");
  apply->footer(
      "Examples:\n  constraintctl --db sqlite:app.db apply\n  constraintctl apply --db postgresql://app@db/app --dry-run\n"
      "Exit codes: 0 applied (or nothing to do), 1 refused because rows violate, 2 usage or edited migration,\n"
      "3 database error, 4 another migrator holds the lock.");

  cc::app::RollbackOptions rollback_options;
  auto* rollback = app.add_subcommand("rollback", "Revert applied migrations down to a version");
  rollback->add_option("--to", rollback_options.to, "Revert every version above this one (0: all)")->required();
  rollback->add_flag("--dry-run", rollback_options.dry_run, "Print the SQL without running it");
  rollback->add_option("--lock-wait-ms", rollback_options.lock_wait_ms, "Wait this long for another migrator (default 10000)");

  bool strict = false;
  auto* verify = app.add_subcommand("verify", "Check every constraint is present, as declared, validated and enforced (probe writes)");
  verify->add_flag("--strict", strict, "Count CHECK/UNIQUE constraints constraintctl does not manage (on its tables) as drift");
  verify->footer(
      "Each constraint is proven with a write that must be rejected, inside a savepoint that is rolled back.\n"
      "Exit codes: 0 all ok, 1 findings (missing, different, not validated, not enforced, drift).");

  cc::app::DropChecksOptions drop_options;
  auto* drop = app.add_subcommand("drop-checks", "Partial rollback: drop CHECK constraints, keep every UNIQUE (apply restores them)");
  drop->add_option("--table", drop_options.tables, "Only the checks of this table (repeatable)");
  drop->add_option("--constraint", drop_options.constraint, "Only this check");
  drop->add_option("--lock-wait-ms", drop_options.lock_wait_ms, "Wait this long for another migrator (default 10000)");
  drop->add_flag("--dry-run", drop_options.dry_run, "Print the SQL it would run (runnable in psql / sqlite3), change nothing");
  drop->footer("Examples:\n  constraintctl drop-checks\n  constraintctl drop-checks --table humans\n"
               "  constraintctl drop-checks --constraint humans_age_range");

  cc::app::HealthOptions health_options;
  auto* health = app.add_subcommand("health", "A 0-100 score from violations, verification and migration state");
  health->add_option("--fail-under", health_options.fail_under, "Exit 1 when the score is below N (for cron and CI)")
      ->check(CLI::Range(0, 100));
  health->footer("Formula: docs/health.md. Example: constraintctl health --json --fail-under 90");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(cc::ExitCode::usage);
  }

  try {
    cc::app::Context ctx(global);
    cc::ExitCode code = cc::ExitCode::ok;
    if (scan->parsed()) code = cc::app::run_scan_command(ctx, scan_options);
    if (fix_undo->parsed()) code = cc::app::run_fix_undo(ctx, undo_run_id);
    if (verify->parsed()) code = cc::app::run_verify(ctx, strict);
    if (drop->parsed()) code = cc::app::run_drop_checks(ctx, drop_options);
    if (health->parsed()) code = cc::app::run_health(ctx, health_options);
    if (generate->parsed()) code = cc::app::run_generate(ctx, generate_options);
    if (status->parsed()) code = cc::app::run_status(ctx);
    if (apply->parsed()) code = cc::app::run_apply(ctx, apply_options);
    if (rollback->parsed()) code = cc::app::run_rollback(ctx, rollback_options);
    return static_cast<int>(code);
  } catch (const cc::Error& e) {
    return fail(e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(cc::ExitCode::internal, std::string("internal error: ") + e.what());
  }
}
