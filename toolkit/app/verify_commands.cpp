#include "app/verify_commands.h"

#include <algorithm>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/migrate_commands.h"
#include "app/output.h"
#include "app/scan_command.h"
#include "core/text.h"
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

// verify as CI formats see it: one outcome per managed constraint (and per
// unmanaged one that --strict counts), located at its declaration.
std::vector<Outcome> verify_outcomes(Context& ctx, const verify::VerifyReport& r) {
  const model::Schema* schema = nullptr;
  try {
    schema = &ctx.schema();
  } catch (const Error&) {
    // verify works from migrations/: an unreadable schema/ only costs the locations.
  }
  std::vector<Outcome> out;
  auto add = [&](const verify::Finding& f, bool failed) {
    Outcome o;
    o.group = f.table;
    o.name = f.name;
    o.failed = failed;
    o.message = f.name + " on " + f.table + ": " + f.status + (f.detail.empty() ? "" : " (" + f.detail + ")");
    if (!f.probe.empty()) o.detail = o.message + "; probe: " + f.probe;
    if (schema) o.where = find_declaration(*schema, f.name);
    out.push_back(std::move(o));
  };
  for (const auto& f : r.constraints) add(f, verify::is_failure(f.status));
  if (r.strict) {
    for (const auto& f : r.unmanaged) {
      if (f.kind == "check" || f.kind == "unique" || f.kind == "unique_index") add(f, true);
    }
  }
  for (const auto& p : r.problems) out.push_back(Outcome{"history", "consistency", true, p, "", {}});
  return out;
}

// node_exporter's textfile collector format (Prometheus text exposition
// 0.0.4): # HELP and # TYPE before each metric family, one sample per line.
std::string health_prometheus(const std::string& database, const verify::HealthReport& h, const scan::ScanReport& scanned) {
  std::string out;
  const std::string db = "database=\"" + prometheus_label(database) + "\"";
  auto family = [&](const std::string& name, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  };
  family("constraintctl_health_score", "Health score from 0 to 100 (docs/health.md).");
  out += "constraintctl_health_score{" + db + "} " + std::to_string(h.score) + "\n";
  family("constraintctl_table_health_score", "Health score of one table, from 0 to 100.");
  for (const auto& t : h.tables) {
    out += "constraintctl_table_health_score{" + db + ",table=\"" + prometheus_label(t.table) + "\"} " + std::to_string(t.score) + "\n";
  }
  family("constraintctl_constraint_violations", "Rows violating a declared constraint (UNIQUE: surplus rows).");
  for (const auto& c : scanned.constraints) {
    out += "constraintctl_constraint_violations{" + db + ",table=\"" + prometheus_label(c.table) + "\",constraint=\"" +
           prometheus_label(c.name) + "\",kind=\"" + c.kind + "\"} " + std::to_string(c.violations) + "\n";
  }
  family("constraintctl_verify_failures", "Constraints verify found missing, different, not validated or not enforced.");
  out += "constraintctl_verify_failures{" + db + "} " + std::to_string(h.failures) + "\n";
  family("constraintctl_pending_migrations", "Migrations not yet applied.");
  out += "constraintctl_pending_migrations{" + db + "} " + std::to_string(h.pending) + "\n";
  family("constraintctl_unsaved_schema_changes", "Changes in schema/ that no migration holds yet.");
  out += "constraintctl_unsaved_schema_changes{" + db + "} " + std::to_string(h.unsaved_changes) + "\n";
  family("constraintctl_last_run_timestamp_seconds", "When this health check ran, in seconds since the Unix epoch.");
  out += "constraintctl_last_run_timestamp_seconds{" + db + "} " + std::to_string(static_cast<long long>(std::time(nullptr))) + "\n";
  return out;
}

}  // namespace

ExitCode run_verify(Context& ctx, bool strict) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(false);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 0));
  const verify::VerifyReport r = verify::run_verify(*db, *migrator, migrations, strict);
  const Format format = ctx.options().format;
  if (format == Format::github || format == Format::junit) {
    const auto outcomes = verify_outcomes(ctx, r);
    if (format == Format::junit) {
      std::cout << render_junit("verify", outcomes, 0);
    } else {
      std::cout << render_github("verify", outcomes,
                                 std::to_string(r.failures()) + " finding(s) among " + std::to_string(r.constraints.size()) +
                                     " managed constraints at version " + std::to_string(r.version));
    }
  } else if (ctx.options().json) {
    json doc;
    doc["command"] = "verify";
    doc["database"] = ctx.target().display();
    doc["dialect"] = std::string(db->dialect().name());
    doc["version"] = r.version;
    doc["constraints"] = json::array();
    for (const auto& f : r.constraints) doc["constraints"].push_back(finding_json(f));
    doc["unmanaged"] = json::array();
    for (const auto& f : r.unmanaged) doc["unmanaged"].push_back(finding_json(f));
    doc["problems"] = r.problems;
    doc["failures"] = r.failures();
    doc["strict"] = strict;
    print_json(with_envelope(ctx, "verify", r.failures() == 0, std::move(doc)));
  } else {
    std::cout << "verify " << ctx.target().display() << " at version " << r.version << "\n\n";
    text::Table table({});
    for (const auto& f : r.constraints) {
      const bool bad = verify::is_failure(f.status);
      if (ctx.options().quiet && !bad) continue;
      const std::string color = !ctx.color() ? "" : (f.status == "ok" ? "\033[32m" : bad ? "\033[31m" : "\033[33m");
      table.add({text::colored(f.status, color), f.table, f.name, text::terminal_safe(f.status == "ok" ? f.probe : f.detail)});
    }
    std::cout << table.render();
    if (ctx.options().verbose || strict) {
      for (const auto& f : r.unmanaged) {
        std::cout << (strict && (f.kind == "check" || f.kind == "unique" || f.kind == "unique_index") ? "unmanaged!     " : "unmanaged      ")
                  << f.table << " " << f.name << " (" << f.kind << ")\n";
      }
    } else if (!r.unmanaged.empty()) {
      std::cout << "(" << r.unmanaged.size() << " constraints not managed by constraintctl: primary keys, foreign keys, others; --verbose lists them)\n";
    }
    for (const auto& p : r.problems) std::cout << "problem: " << text::terminal_safe(p) << "\n";
    // Say what was verified, never more: "ok" only when every constraint the
    // applied migrations promise is present, validated and proven enforced.
    std::vector<std::string> parts{std::to_string(r.count("ok")) + " enforced"};
    if (const auto n = r.count("dropped")) parts.push_back(std::to_string(n) + " removed by drop-checks (apply restores them)");
    if (const auto n = r.count("not_applied")) parts.push_back(std::to_string(n) + " declared but not applied (run apply)");
    if (const auto n = r.count("in_progress"))
      parts.push_back(std::to_string(n) +
                      " built by an interrupted run (see status; apply finishes it, rollback undoes it)");
    if (const auto n = r.count("skipped")) parts.push_back(std::to_string(n) + " skipped (present and validated; the probe could not run)");
    if (r.failures() > 0) parts.push_back(std::to_string(r.failures()) + " finding(s)");
    std::string summary;
    for (const auto& p : parts) summary += (summary.empty() ? "" : ", ") + p;
    const bool all_proven = r.failures() == 0 && r.count("skipped") == 0;
    std::cout << "\n"
              << (r.failures() > 0       ? summary
                  : all_proven && r.count("ok") > 0 && r.count("dropped") == 0
                      ? "ok: every applied constraint is present, as declared, validated and enforced (" + summary + ")"
                      : "no findings: " + summary)
              << "\n";
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
  json dropped = json::array();
  for (const auto& d : r.dropped) dropped.push_back(json{{"table", d.table.str()}, {"name", d.name}, {"check", d.check}});
  json kept = json::array();
  for (const auto& d : r.kept) {
    kept.push_back(
        json{{"table", d.table.str()},
             {"name", d.name},
             {"check", d.check},
             {"reason",
              "adopted: it existed before constraintctl; drop-checks drops it only when named with --constraint"}});
  }
  const std::string kept_line =
      "kept (adopted: it existed before constraintctl; name it with --constraint to drop it): ";
  // A dry run's document is the run it would make, and says what it would drop.
  if (options.dry_run && !r.dropped.empty()) {
    return report_run(ctx, "drop-checks", r.run, db->dialect(),
                      json{{"dropped", dropped}, {"kept", kept}, {"adopted_dropped", r.adopted_dropped}});
  }
  if (options.dry_run && !ctx.options().json) {
    std::cout << "-- constraintctl drop-checks --dry-run: nothing to drop, no applied CHECK constraint matches\n";
    for (const auto& d : r.kept) std::cout << "-- " << kept_line << d.table.str() << "." << d.name << "\n";
    return ExitCode::ok;
  }
  if (ctx.options().json) {
    json doc{{"command", "drop-checks"},
             {"dry_run", options.dry_run},
             {"dropped", std::move(dropped)},
             {"kept", std::move(kept)},
             {"adopted_dropped", r.adopted_dropped}};
    print_json(with_envelope(ctx, "drop-checks", true, std::move(doc)));
  } else {
    if (r.dropped.empty()) {
      std::cout << "Nothing to drop: no applied CHECK constraint matches.\n";
    } else {
      std::cout << "dropped " << r.dropped.size()
                << " CHECK constraint(s); every UNIQUE constraint, index, trigger and row is kept:\n";
      for (const auto& d : r.dropped) {
        const bool was_adopted =
            std::find(r.adopted_dropped.begin(), r.adopted_dropped.end(), d.name) != r.adopted_dropped.end();
        std::cout << "  " << d.table.str() << "." << d.name << "  CHECK (" << d.check << ")"
                  << (was_adopted
                          ? "  (adopted: it existed before constraintctl; dropped because --constraint names it)"
                          : "")
                  << "\n";
      }
      std::cout << "`constraintctl apply` puts them back.\n";
    }
    for (const auto& d : r.kept) std::cout << kept_line << d.table.str() << "." << d.name << "\n";
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
  const bool failing = options.fail_under >= 0 && h.score < options.fail_under;
  const Format format = ctx.options().format;
  if (format == Format::json) {
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
    if (options.fail_under >= 0) doc["fail_under"] = options.fail_under;
    print_json(with_envelope(ctx, "health", !failing, std::move(doc)));
  } else if (format == Format::prometheus) {
    std::cout << health_prometheus(ctx.target().display(), h, scanned);
  } else if (format == Format::github || format == Format::junit) {
    // The findings behind the score: violated constraints, then verify's.
    auto outcomes = scan_outcomes(scanned);
    for (auto& o : verify_outcomes(ctx, verified)) {
      if (o.failed) outcomes.push_back(std::move(o));
    }
    if (failing) {
      outcomes.push_back(Outcome{"health", "score", true,
                                 "health score " + std::to_string(h.score) + " is below --fail-under " + std::to_string(options.fail_under),
                                 "", {}});
    }
    if (format == Format::junit) {
      std::cout << render_junit("health", outcomes, scanned.elapsed_ms);
    } else {
      std::cout << render_github("health", outcomes, "health " + std::to_string(h.score) + "/100");
    }
  } else if (ctx.options().quiet) {
    // --quiet: nothing when all is well; otherwise the score and what lowers it.
    if (h.score < 100 || failing) {
      std::cout << "health " << h.score << "/100" << (failing ? " (below " + std::to_string(options.fail_under) + ")" : "") << "\n";
      for (const auto& t : h.tables) {
        if (t.score < 100) std::cout << "table " << t.table << ": " << t.score << "/100, " << t.violations << " violating rows\n";
      }
      for (const auto& n : h.notes) std::cout << "note: " << n << "\n";
    }
  } else {
    auto percent = [](double share) { return std::to_string(static_cast<int>(share * 100 + 0.5)) + "%"; };
    std::cout << "health " << h.score << "/100  (data " << percent(h.data) << " x40, enforcement " << percent(h.enforcement)
              << " x40, migrations " << percent(h.migrations) << " x20)\n\n";
    using A = text::Table::Align;
    text::Table table({A::left, A::right, A::right, A::right, A::right});
    table.add({"TABLE", "SCORE", "VIOLATIONS", "VIOLATED", "VERIFIED"});
    for (const auto& t : h.tables) {
      table.add({t.table, std::to_string(t.score), std::to_string(t.violations), std::to_string(t.violated) + "/" + std::to_string(t.declared),
                 std::to_string(t.verified) + "/" + std::to_string(t.expected)});
    }
    std::cout << table.render();
    for (const auto& n : h.notes) std::cout << "note: " << n << "\n";
  }
  if (options.fail_under >= 0 && h.score < options.fail_under) return ExitCode::findings;
  return ExitCode::ok;
}

}  // namespace cc::app
