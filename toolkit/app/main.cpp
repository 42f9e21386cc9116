// constraintctl: the command line. The only place that catches cc::Error and
// turns it into a message and an exit code (docs/errors.md).
#include <CLI/CLI.hpp>

#include <iostream>
#include <regex>

#include "app/context.h"
#include "app/inspect_command.h"
#include "app/migrate_commands.h"
#include "app/output.h"
#include "app/scan_command.h"
#include "app/verify_commands.h"
#include "core/error.h"
#include "core/secrets.h"
#include "core/text.h"

#ifndef CONSTRAINTCTL_VERSION
#define CONSTRAINTCTL_VERSION "0.0.0"
#endif

namespace {

// Where errors go: stderr always; under --json also a JSON document on stdout
// (docs/json.md), so a script reading stdout never gets an empty document.
struct ErrorSink {
  bool json = false;
  std::string command;

  int fail(cc::ExitCode code, const std::string& raw, const std::vector<cc::Problem>& problems = {},
           const nlohmann::ordered_json& database = nullptr) const {
    const std::string message = cc::secrets::scrub(raw);
    std::cerr << "constraintctl: error: " << message << "\n";
    if (json) {
      std::vector<cc::Problem> shown = problems;
      for (auto& p : shown) p.message = cc::secrets::scrub(p.message);
      if (shown.empty()) shown = parse_problems(message);
      auto doc = cc::app::error_json(command, static_cast<int>(code), message, shown);
      if (!database.is_null()) doc["error"]["database"] = database;
      cc::app::print_json(doc);
    }
    return static_cast<int>(code);
  }

  // Messages that list "  file:line:column: text" lines (the scanner's
  // validation, for one) carry no structured problems: read them back.
  static std::vector<cc::Problem> parse_problems(const std::string& message) {
    static const std::regex line_re(R"(^\s+(.+):(\d+):(\d+): (.*)$)");
    std::vector<cc::Problem> out;
    size_t start = 0;
    while (start <= message.size()) {
      const size_t end = std::min(message.find('\n', start), message.size());
      const std::string line = message.substr(start, end - start);
      std::smatch m;
      if (std::regex_match(line, m, line_re)) out.push_back({m[1], std::stoi(m[2]), std::stoi(m[3]), m[4]});
      start = end + 1;
    }
    return out;
  }
};

// Options of the top level that take a value: their value is not a command.
bool takes_value(const CLI::App& app, const std::string& token) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_items_expected_max() == 0) continue;  // a flag
    for (const auto& l : o->get_lnames()) {
      if (token == "--" + l) return true;
    }
    for (const auto& sn : o->get_snames()) {
      if (token == "-" + sn) return true;
    }
  }
  return false;
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& sn : o->get_snames()) names.push_back("-" + sn);
  }
  return names;
}

// CLI11 2.1 says "The following arguments were not expected: scna" and has
// no suggestions: find the word that is wrong and the name it most likely
// meant. Returns an empty string when the arguments hold no unknown name.
std::string explain_unknown(const CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  const CLI::App* command = nullptr;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (!a.empty() && a[0] == '-') {
      if (a.find('=') == std::string::npos && command == nullptr && takes_value(app, a)) ++i;
      continue;
    }
    if (command != nullptr) continue;  // an argument of the command (fix-undo RUN_ID) or an option's value
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == a) command = sub;
    }
    if (command == nullptr) {
      std::string message = "unknown command '" + a + "'";
      if (auto s = cc::text::closest(a, commands)) return message + "; did you mean '" + *s + "'?";
      std::string list;
      for (const auto& c : commands) list += (list.empty() ? "" : ", ") + c;
      return message + " (commands: " + list + ")";
    }
  }
  std::vector<std::string> known = option_names(app);
  if (command != nullptr) {
    for (auto& n : option_names(*command)) known.push_back(n);
  }
  for (const auto& a : args) {
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) continue;  // not an option, or a negative number
    const std::string name = a.substr(0, a.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string message = "unknown option '" + name + "'" + (command ? " for '" + command->get_name() + "'" : "");
    if (auto s = cc::text::closest(name, known)) return message + "; did you mean '" + *s + "'?";
    return message;
  }
  return "";
}

// Asked for JSON on the command line, judged before parsing (a parse error
// must be JSON too).
bool wants_json(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json" || args[i] == "--format=json") return true;
    if (args[i] == "--format" && i + 1 < args.size() && args[i + 1] == "json") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "constraintctl: declare, scan, repair, migrate and verify CHECK and UNIQUE constraints\n"
      "on PostgreSQL and SQLite.",
      "constraintctl"};
  app.set_version_flag("--version", std::string("constraintctl ") + CONSTRAINTCTL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  cc::app::GlobalOptions global;
  app.add_option("--db", global.db,
                 "Database URL: sqlite:PATH or postgresql://user@host:port/db (default: $CONSTRAINTCTL_DB, then "
                 "constraintctl.toml)");
  app.add_option("--project", global.project, "Project directory holding schema/, migrations/ and constraintctl.toml")
      ->capture_default_str();
  app.add_option("--schema", global.schema_dir, "Schema directory (default: PROJECT/schema)");
  app.add_flag("--json", global.json, "Machine-readable JSON on stdout (docs/json.md); the same as --format json");
  std::string format_name = "text";
  app.add_option("--format", format_name,
                 "Output: text, json, github (workflow annotations), junit (XML); health also prometheus")
      ->capture_default_str();
  app.add_flag("-q,--quiet", global.quiet, "Print only problems");
  app.add_flag("-v,--verbose", global.verbose, "More detail (sample rows)");

  cc::app::ScanCommandOptions scan_options;
  auto* scan = app.add_subcommand("scan", "Count the rows that violate each declared constraint, with sample rows");
  scan->add_option("--table", scan_options.tables,
                   "Only this table (repeatable; sales.orders outside the default schema)");
  scan->add_option("--sample", scan_options.sample,
                   "Sample rows per violated constraint (default 5 with --verbose or --json)")
      ->check(CLI::Range(0, 1000));
  scan->add_option("--jobs", scan_options.jobs,
                   "Connections that read in parallel, in one snapshot (default: on SQLite one per core up to 4 "
                   "when a table holds 200,000 rows or more, else 1; docs/plans.md)")
      ->check(CLI::Range(1, 64));
  scan->add_option("--lock-wait-ms", global.lock_wait_ms,
                   "Wait at most this long for a table another session locked (default: lock_wait_ms in "
                   "constraintctl.toml, else 10000; 0: no limit)")
      ->check(CLI::Range(0, 86'400'000));
  scan->add_flag("--fix", scan_options.fix, "Repair violating rows by each constraint's policy, audited and undoable");
  scan->add_flag("--dry-run", scan_options.dry_run,
                 "With --fix: show what would change (before -> after), change nothing");
  scan->add_flag("--allow-cascade", scan_options.allow_cascade,
                 "With --fix: allow deletes that cascade into child tables");
  scan->add_flag("--refuse-triggers", scan_options.refuse_triggers,
                 "With --fix: refuse, changing nothing, when user triggers would fire on the tables it writes");
  scan->add_flag("--allow-triggers", scan_options.allow_triggers,
                 "With --fix: go ahead when a trigger's effects cannot be audited (it acts outside the database, or "
                 "its table cannot be recorded); recorded in the run");
  scan->add_flag("--skip-refused", scan_options.skip_refused,
                 "With --fix: repair what can be repaired when a repair is refused (duplicates other rows reference)");
  scan->add_option("--policy", scan_options.policies,
                   "With --fix: CONSTRAINT=POLICY override for this run (repeatable)");
  scan->footer(
      "Examples:\n"
      "  constraintctl --db sqlite:app.db scan\n"
      "  constraintctl scan --db postgresql://app@db:5432/app --table humans --verbose\n"
      "  constraintctl scan --json | jq '.constraints[] | select(.violations > 0)'\n"
      "  constraintctl scan --fix --dry-run          # what would change, before -> after\n"
      "  constraintctl scan --fix                    # repair, print the run id\n"
      "  constraintctl scan --fix --policy humans_age_range=report\n"
      "Exit codes: 0 no violations, 1 violations found, 2 usage or schema error, 3 database error,\n"
      "4 gave up waiting for a table another session locked.");

  std::string undo_run_id;
  auto* fix_undo = app.add_subcommand("fix-undo", "Undo one fix run exactly, from its audit trail");
  fix_undo->add_option("RUN_ID", undo_run_id, "The run id printed by scan --fix")->required();
  bool undo_force = false;
  fix_undo->add_flag(
      "--force", undo_force,
      "Undo even when rows the run touched changed since: the columns the run changed get their old values");
  fix_undo->footer("Refuses, changing nothing, when a row the run touched has changed again since (unless --force).");

  cc::app::GenerateOptions generate_options;
  auto* generate =
      app.add_subcommand("generate", "Write the next migration from the difference between schema/ and migrations/");
  generate->add_option("--name", generate_options.name, "Name of the migration (default: derived from its operations)");
  generate->add_flag("--check", generate_options.check,
                     "Write nothing; exit 1 when schema/ holds changes no migration has (for CI)");
  generate->footer(
      "Example:\n  constraintctl generate --name humans_age\nWrites migrations/NNNN_name.toml; nothing is written when "
      "nothing changed.\n"
      "Exit codes: 0 written or nothing to do; with --check 0 up to date, 1 schema/ has unsaved changes.");

  cc::app::InspectOptions inspect_options;
  auto* inspect = app.add_subcommand(
      "inspect", "Write schema/*.toml from the database's CHECK and UNIQUE constraints, and adopt them");
  inspect->add_option("--table", inspect_options.tables, "Only this table (repeatable; default: every table)");
  inspect->add_flag("--dry-run", inspect_options.dry_run, "Print the files on stdout; write and record nothing");
  inspect->add_flag("--force", inspect_options.force, "Overwrite schema files that exist");
  inspect->footer(
      "One schema file per table, names kept (an unnamed constraint gets a generated name), policy report, and\n"
      "migrations/NNNN_baseline.toml, which `apply` adopts without DDL. Adopted constraints are never dropped by\n"
      "rollback, and by drop-checks only when named with --constraint.\n"
      "Examples:\n  constraintctl --db sqlite:app.db inspect\n  constraintctl inspect --table orders --dry-run\n"
      "Exit codes: 0 written (or printed), 2 usage (a file exists, an unknown table), 3 database error.");

  cc::app::StatusOptions status_options;
  auto* status = app.add_subcommand(
      "status", "Applied and pending migrations, edited files, schema changes not yet in a migration");
  status->add_flag("--check", status_options.check,
                   "Exit 1 also when migrations are pending or schema/ holds changes no migration has (for CI)");
  status->footer(
      "Exit codes: 0 consistent, 1 an applied file was edited, a file is missing or history is inconsistent;\n"
      "with --check also 1 when a migration is pending or schema/ has changes no migration holds.");

  cc::app::ApplyCommandOptions apply_options;
  auto* apply = app.add_subcommand("apply", "Apply pending migrations (scans first; refuses while rows violate)");
  apply->add_option("--to", apply_options.to, "Apply up to this version (default: all)");
  apply->add_flag("--dry-run", apply_options.dry_run,
                  "Print the SQL apply would run (runnable in psql / sqlite3), change nothing; exits as apply would");
  apply->add_flag("--fix", apply_options.fix, "Repair violating rows by policy first (audited; undo with fix-undo)");
  apply->add_flag("--allow-cascade", apply_options.allow_cascade,
                  "With --fix: allow deletes that cascade into child tables (as scan --fix --allow-cascade)");
  apply->add_flag("--allow-triggers", apply_options.allow_triggers,
                  "With --fix: go ahead when a trigger's effects cannot be audited (as scan --fix --allow-triggers; "
                  "named in the run's audit)");
  apply->add_option(
      "--lock-wait-ms", apply_options.lock_wait_ms,
      "Wait at most this long for other sessions: another migrator, the older transactions a CONCURRENTLY build waits "
      "for, a locked table (default: lock_wait_ms in constraintctl.toml, else 10000)");
  apply->add_flag("--sqlite-no-rebuild", apply_options.sqlite_no_rebuild,
                  "SQLite: add CHECKs by editing the table's stored definition (writable_schema) after proving no row "
                  "violates, instead of rebuilding the table; outside SQLite's documented procedures (docs/plans.md)");
  apply
      ->add_option("--sqlite-max-lock-ms", apply_options.sqlite_max_lock_ms,
                   "SQLite: hold the write lock at most about this long at once where the work allows it (one "
                   "transaction per table, counted like PostgreSQL's steps); 0 = one transaction (default: [sqlite] "
                   "max_lock_ms in constraintctl.toml, else 2000)")
      ->check(CLI::NonNegativeNumber);
  apply->footer(
      "Examples:\n  constraintctl --db sqlite:app.db apply\n  constraintctl apply --db postgresql://app@db/app "
      "--dry-run\n"
      "Exit codes: 0 applied (or nothing to do), 1 refused because rows violate, 2 usage or edited migration,\n"
      "3 database error, 4 gave up waiting for another session (a migrator's lock, an old transaction, a locked "
      "table).");

  cc::app::RollbackOptions rollback_options;
  auto* rollback = app.add_subcommand("rollback", "Revert applied migrations down to a version");
  rollback->add_option("--to", rollback_options.to, "Revert every version above this one (0: all)")->required();
  rollback->add_flag("--dry-run", rollback_options.dry_run, "Print the SQL without running it");
  rollback->add_option(
      "--lock-wait-ms", rollback_options.lock_wait_ms,
      "Wait at most this long for other sessions: another migrator, the older transactions a CONCURRENTLY build waits "
      "for, a locked table (default: lock_wait_ms in constraintctl.toml, else 10000)");
  rollback
      ->add_option("--sqlite-max-lock-ms", rollback_options.sqlite_max_lock_ms,
                   "SQLite: hold the write lock at most about this long at once where the work allows it (default: "
                   "[sqlite] max_lock_ms in constraintctl.toml, else 2000)")
      ->check(CLI::NonNegativeNumber);

  bool strict = false;
  auto* verify = app.add_subcommand(
      "verify", "Check every constraint is present, as declared, validated and enforced (probe writes)");
  verify->add_flag("--strict", strict,
                   "Count CHECK/UNIQUE constraints constraintctl does not manage (on its tables) as drift");
  verify
      ->add_option("--lock-wait-ms", global.lock_wait_ms,
                   "Wait at most this long for a table another session locked (default: lock_wait_ms in "
                   "constraintctl.toml, else 10000; 0: no limit)")
      ->check(CLI::Range(0, 86'400'000));
  verify->footer(
      "Each constraint is proven with a write that must be rejected, inside a savepoint that is rolled back.\n"
      "Exit codes: 0 all ok, 1 findings (missing, different, not validated, not enforced, drift).");

  cc::app::DropChecksOptions drop_options;
  auto* drop = app.add_subcommand("drop-checks",
                                  "Partial rollback: drop CHECK constraints, keep every UNIQUE (apply restores them)");
  drop->add_option("--table", drop_options.tables, "Only the checks of this table (repeatable)");
  drop->add_option("--constraint", drop_options.constraint, "Only this check");
  drop->add_option("--lock-wait-ms", drop_options.lock_wait_ms,
                   "Wait at most this long for other sessions: another migrator, the older transactions a CONCURRENTLY "
                   "build waits for, a locked table (default: lock_wait_ms in constraintctl.toml, else 10000)");
  drop->add_flag("--dry-run", drop_options.dry_run,
                 "Print the SQL it would run (runnable in psql / sqlite3), change nothing");
  drop->footer(
      "Examples:\n  constraintctl drop-checks\n  constraintctl drop-checks --table humans\n"
      "  constraintctl drop-checks --constraint humans_age_range");

  cc::app::HealthOptions health_options;
  auto* health = app.add_subcommand("health", "A 0-100 score from violations, verification and migration state");
  health->add_option("--fail-under", health_options.fail_under, "Exit 1 when the score is below N (for cron and CI)")
      ->check(CLI::Range(0, 100));
  health
      ->add_option("--lock-wait-ms", global.lock_wait_ms,
                   "Wait at most this long for a table another session locked (default: lock_wait_ms in "
                   "constraintctl.toml, else 10000; 0: no limit)")
      ->check(CLI::Range(0, 86'400'000));
  health->footer("Formula: docs/health.md. Example: constraintctl health --json --fail-under 90");

  const std::vector<std::string> args(argv + 1, argv + argc);
  ErrorSink errors{wants_json(args), ""};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    for (const CLI::App* sub : app.get_subcommands()) errors.command = sub->get_name();
    std::string message = explain_unknown(app, args);
    if (message.empty()) message = e.what();
    return errors.fail(cc::ExitCode::usage,
                       message + "\nRun 'constraintctl --help' (or 'constraintctl COMMAND --help') for usage.");
  }
  for (const CLI::App* sub : app.get_subcommands()) errors.command = sub->get_name();

  try {
    // Every reporting command speaks the CI formats; the others text and JSON.
    const bool reporting = scan->parsed() || verify->parsed() || status->parsed() || health->parsed();
    global.format = cc::app::parse_format(format_name, errors.command, health->parsed());
    if (!reporting && global.format != cc::app::Format::text && global.format != cc::app::Format::json) {
      throw cc::UsageError("--format " + format_name + ": " + errors.command + " prints text or json only");
    }
    if (global.json && global.format != cc::app::Format::text && global.format != cc::app::Format::json) {
      throw cc::UsageError("--json and --format " + format_name + " contradict each other");
    }
    if (global.format == cc::app::Format::json) global.json = true;
    if (global.json) global.format = cc::app::Format::json;

    // The migrating commands' --lock-wait-ms bounds their connection's waits too.
    for (int ms : {apply_options.lock_wait_ms, rollback_options.lock_wait_ms, drop_options.lock_wait_ms}) {
      if (ms >= 0) global.lock_wait_ms = ms;
    }
    cc::app::Context ctx(global);
    cc::ExitCode code = cc::ExitCode::ok;
    if (scan->parsed()) code = cc::app::run_scan_command(ctx, scan_options);
    if (fix_undo->parsed()) code = cc::app::run_fix_undo(ctx, undo_run_id, undo_force);
    if (verify->parsed()) code = cc::app::run_verify(ctx, strict);
    if (drop->parsed()) code = cc::app::run_drop_checks(ctx, drop_options);
    if (health->parsed()) code = cc::app::run_health(ctx, health_options);
    if (generate->parsed()) code = cc::app::run_generate(ctx, generate_options);
    if (inspect->parsed()) code = cc::app::run_inspect(ctx, inspect_options);
    if (status->parsed()) code = cc::app::run_status(ctx, status_options);
    if (apply->parsed()) code = cc::app::run_apply(ctx, apply_options);
    if (rollback->parsed()) code = cc::app::run_rollback(ctx, rollback_options);
    return static_cast<int>(code);
  } catch (const cc::DatabaseError& e) {
    // What the database said, for scripts: the kind, its own code, and the
    // table and constraint where it named them.
    nlohmann::ordered_json database{{"kind", std::string(cc::to_string(e.kind()))}, {"code", e.detail().code}};
    if (!e.detail().table.empty()) database["table"] = e.detail().table;
    if (!e.detail().constraint.empty()) database["constraint"] = e.detail().constraint;
    return errors.fail(cc::exit_code_of(e), cc::database_sentence(e), e.problems(), database);
  } catch (const cc::Error& e) {
    return errors.fail(e.code(), e.what(), e.problems());
  } catch (const std::exception& e) {
    return errors.fail(cc::ExitCode::internal, std::string("internal error: ") + e.what());
  }
}
