// constraintctl: the command line. The only place that catches cc::Error and
// turns it into a message and an exit code (docs/errors.md).
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/context.h"
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
  scan->footer(
      "Examples:\n"
      "  constraintctl --db sqlite:app.db scan\n"
      "  constraintctl scan --db postgresql://app@db:5432/app --table humans --verbose\n"
      "  constraintctl scan --json | jq '.constraints[] | select(.violations > 0)'\n"
      "Exit codes: 0 no violations, 1 violations found, 2 usage or schema error, 3 database error.");

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
    return static_cast<int>(code);
  } catch (const cc::Error& e) {
    return fail(e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(cc::ExitCode::internal, std::string("internal error: ") + e.what());
  }
}
