#include "app/verify_commands.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/migrate_commands.h"
#include "migrate/engine.h"
#include "scan/scanner.h"
#include "verify/health.h"
#include "verify/verifier.h"

namespace cc::app {
namespace {

using json = nlohmann::ordered_json;

json finding_json(const verify::Finding& f) {
  json j{{"table", f.table}, {"name", f.name}, {"kind", f.kind}, {"status", f.status}};
  if (!f.detail.empty()) j["detail"] = f.detail;
  if (!f.probe.empty()) j["probe"] = f.probe;
  if (f.expected_absent) j["expected"] = "absent";
  return j;
}

}  // namespace

ExitCode run_verify(Context& ctx, bool strict) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(false);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 0));
  const verify::VerifyReport r = verify::run_verify(*db, *migrator, migrations, strict);
  if (ctx.options().json) {
    json doc;
    doc["command"] = "verify";
    doc["database"] = ctx.target().display();
    doc["version"] = r.version;
    doc["constraints"] = json::array();
    for (const auto& f : r.constraints) doc["constraints"].push_back(finding_json(f));
    doc["unmanaged"] = json::array();
    for (const auto& f : r.unmanaged) doc["unmanaged"].push_back(finding_json(f));
    doc["problems"] = r.problems;
    doc["failures"] = r.failures();
    doc["strict"] = strict;
    std::cout << doc.dump(2) << "\n";
  } else {
    std::cout << "verify " << ctx.target().display() << " at version " << r.version << "\n\n";
    for (const auto& f : r.constraints) {
      if (ctx.options().quiet && f.status == "ok") continue;
      char line[512];
      const bool good = f.status == "ok";
      const char* on = !ctx.color() ? "" : (good ? "\033[32m" : "\033[31m");
      const char* off = ctx.color() ? "\033[0m" : "";
      std::snprintf(line, sizeof line, "%s%-14s%s %-18s %-48s %s\n", on, f.status.c_str(), off, f.table.c_str(), f.name.c_str(),
                    (f.status == "ok" ? (f.expected_absent ? f.detail : f.probe) : f.detail).c_str());
      std::cout << line;
    }
    if (ctx.options().verbose || strict) {
      for (const auto& f : r.unmanaged) {
        std::cout << (strict && (f.kind == "check" || f.kind == "unique" || f.kind == "unique_index") ? "unmanaged!     " : "unmanaged      ")
                  << f.table << " " << f.name << " (" << f.kind << ")\n";
      }
    } else if (!r.unmanaged.empty()) {
      std::cout << "(" << r.unmanaged.size() << " constraints not managed by constraintctl: primary keys, foreign keys, others; --verbose lists them)\n";
    }
    for (const auto& p : r.problems) std::cout << "problem: " << p << "\n";
    std::cout << "\n" << (r.failures() == 0 ? "ok: every constraint is present, as declared, validated and enforced\n"
                                             : std::to_string(r.failures()) + " finding(s)\n");
  }
  return r.failures() == 0 ? ExitCode::ok : ExitCode::findings;
}

ExitCode run_drop_checks(Context& ctx, const DropChecksOptions& options) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(false);
  db->require_session();
  const auto mo = migrator_options(ctx, options.lock_wait_ms);
  auto migrator = dialect::make_migrator(*db, mo);
  const auto r = migrate::drop_checks(*db, *migrator, migrations, options.tables, options.constraint, mo, options.dry_run);
  if (options.dry_run && !r.dropped.empty()) return report_run(ctx, "drop-checks", r.run, db->dialect());
  if (options.dry_run && !ctx.options().json) {
    std::cout << "-- constraintctl drop-checks --dry-run: nothing to drop, no applied CHECK constraint matches\n";
    return ExitCode::ok;
  }
  if (ctx.options().json) {
    json doc{{"command", "drop-checks"}, {"dry_run", options.dry_run}, {"dropped", json::array()}};
    for (const auto& d : r.dropped) doc["dropped"].push_back(json{{"table", d.table}, {"name", d.name}, {"check", d.check}});
    std::cout << doc.dump(2) << "\n";
  } else if (r.dropped.empty()) {
    std::cout << "Nothing to drop: no applied CHECK constraint matches.\n";
  } else {
    std::cout << "dropped " << r.dropped.size() << " CHECK constraint(s); every UNIQUE constraint, index, trigger and row is kept:\n";
    for (const auto& d : r.dropped) std::cout << "  " << d.table << "." << d.name << "  CHECK (" << d.check << ")\n";
    std::cout << "`constraintctl apply` puts them back.\n";
  }
  return ExitCode::ok;
}

ExitCode run_health(Context& ctx, const HealthOptions& options) {
  const auto& schema = ctx.schema();
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  const auto unsaved = migrate::diff(migrate::replay(migrations), migrate::declared_state(schema), schema);
  auto db = ctx.connect(false);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 0));
  scan::ScanOptions so;
  so.sample = 0;
  const scan::ScanReport scanned = scan::run_scan(*db, schema, so);
  const verify::VerifyReport verified = verify::run_verify(*db, *migrator, migrations, false);
  const migrate::Status status = migrate::compute_status(*migrator, migrations);
  const verify::HealthReport h = verify::compute_health(scanned, verified, status, unsaved.size());
  if (ctx.options().json) {
    json doc{{"command", "health"}, {"database", ctx.target().display()}, {"score", h.score}};
    doc["components"] = json{{"data", h.data}, {"enforcement", h.enforcement}, {"migrations", h.migrations}};
    doc["violations"] = h.violations;
    doc["verify_failures"] = h.failures;
    doc["pending_migrations"] = h.pending;
    doc["unsaved_schema_changes"] = h.unsaved_changes;
    doc["tables"] = json::array();
    for (const auto& t : h.tables) {
      doc["tables"].push_back(json{{"table", t.table}, {"score", t.score}, {"violations", t.violations}, {"declared", t.declared},
                                   {"violated", t.violated}, {"expected", t.expected}, {"verified", t.verified}});
    }
    doc["notes"] = h.notes;
    std::cout << doc.dump(2) << "\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "health %d/100  (data %.0f%% x40, enforcement %.0f%% x40, migrations %.0f%% x20)\n\n", h.score,
                  h.data * 100, h.enforcement * 100, h.migrations * 100);
    std::cout << line;
    std::printf("%-20s %5s %10s %9s %9s\n", "TABLE", "SCORE", "VIOLATIONS", "VIOLATED", "VERIFIED");
    std::fflush(stdout);
    for (const auto& t : h.tables) {
      std::snprintf(line, sizeof line, "%-20s %5d %10lld %4zu/%-4zu %4zu/%-4zu\n", t.table.c_str(), t.score,
                    static_cast<long long>(t.violations), t.violated, t.declared, t.verified, t.expected);
      std::cout << line;
    }
    for (const auto& n : h.notes) std::cout << "note: " << n << "\n";
  }
  if (options.fail_under >= 0 && h.score < options.fail_under) return ExitCode::findings;
  return ExitCode::ok;
}

}  // namespace cc::app
