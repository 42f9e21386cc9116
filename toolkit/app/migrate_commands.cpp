#include "app/migrate_commands.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "dialect/migrator.h"
#include "dialect/plan.h"
#include "migrate/engine.h"
#include "app/scan_command.h"
#include "scan/fixer.h"
#include "scan/scan_report.h"

#ifndef CONSTRAINTCTL_VERSION
#define CONSTRAINTCTL_VERSION "0.0.0"
#endif

namespace cc::app {
namespace {

using json = nlohmann::ordered_json;

std::string sanitize_name(std::string s) {
  for (auto& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (s.size() > 1 && s.back() == '_') s.pop_back();
  if (s.size() > 60) s.resize(60);
  return s.empty() ? "migration" : s;
}

json steps_json(const migrate::ApplyResult& r) {
  json list = json::array();
  for (const auto& s : r.steps) {
    json j;
    j["migration"] = s.id;
    j["direction"] = s.direction;
    j["ran"] = s.ran;
    j["elapsed_ms"] = static_cast<std::int64_t>(s.elapsed_ms);
    j["sql"] = json::array();
    for (const auto& u : s.plan.units) {
      for (const auto& st : u.steps) j["sql"].push_back(st.sql);
    }
    j["already_done"] = s.plan.already_done;
    list.push_back(std::move(j));
  }
  return list;
}

}  // namespace

std::string dry_run_script(const migrate::ApplyResult& r, const dialect::Dialect& d) {
  std::string out;
  if (!r.bookkeeping.empty()) {
    dialect::Plan book;
    book.title = "constraintctl's bookkeeping tables (history, dropped checks)";
    dialect::Unit u;
    u.kind = dialect::Unit::Kind::alone;
    for (const auto& sql : r.bookkeeping) u.steps.push_back({sql, "", "", "bookkeeping", false, ""});
    book.units.push_back(std::move(u));
    out += dialect::render_script(book, d) + "\n";
  }
  for (const auto& s : r.steps) out += dialect::render_script(s.plan, d) + "\n";
  return out;
}

ExitCode report_run(Context& ctx, const std::string& command, const migrate::ApplyResult& r, const dialect::Dialect& d) {
  const bool json_out = ctx.options().json;
  const bool dry_run = r.dry_run;
  if (r.refused) {
    const std::string what = dry_run ? command + " would refuse: existing rows violate constraints it would add; nothing would run"
                                     : command + " refused: existing rows violate constraints it would add; nothing was changed";
    if (json_out) {
      json doc;
      doc["command"] = command;
      doc["dry_run"] = dry_run;
      doc["refused"] = true;
      doc["reason"] = what;
      doc["scan"] = scan::to_json(*r.refused);
      std::cout << doc.dump(2) << "\n";
    } else {
      auto report = *r.refused;
      report.database = ctx.target().display();
      std::cerr << "constraintctl: " << what << ".\n"
                << "Repair them (see below), then run " << command << " again.\n\n";
      // A dry run's stdout stays SQL: the table goes to stderr.
      (dry_run ? std::cerr : std::cout) << scan::render_text(report, scan::TextOptions{true, true, ctx.color()});
      if (dry_run) std::cout << "-- " << what << "\n";
    }
    return ExitCode::findings;
  }
  if (json_out) {
    json doc;
    doc["command"] = command;
    doc["dry_run"] = dry_run;
    doc["bookkeeping"] = r.bookkeeping;
    doc["steps"] = steps_json(r);
    doc["restored"] = r.restored;
    if (dry_run) doc["script"] = dry_run_script(r, d);
    std::cout << doc.dump(2) << "\n";
    return ExitCode::ok;
  }
  if (dry_run) {
    std::cout << "-- constraintctl " << command << " --dry-run: the SQL it would run, in order, on " << ctx.target().display() << "\n";
    if (r.steps.empty() && r.bookkeeping.empty()) {
      std::cout << "-- nothing to do: the database is at the requested version\n";
      return ExitCode::ok;
    }
    std::cout << "\n" << dry_run_script(r, d);
    return ExitCode::ok;
  }
  if (r.steps.empty()) {
    if (!ctx.options().quiet) {
      std::cout << "Nothing to do: the database is at the requested version"
                << (r.bookkeeping.empty() ? "" : " (constraintctl's bookkeeping tables were created)") << ".\n";
    }
    return ExitCode::ok;
  }
  for (const auto& s : r.steps) {
    if (s.id == "restore_checks" || s.id == "drop_checks") continue;
    if (!ctx.options().quiet) {
      char line[256];
      std::snprintf(line, sizeof line, "%s %-40s %s (%.0f ms)\n", s.direction == "up" ? "applied   " : "rolled back", s.id.c_str(),
                    s.ran ? "ok" : "already done by another migrator", s.elapsed_ms);
      std::cout << line;
    }
  }
  return ExitCode::ok;
}

dialect::MigratorOptions migrator_options(const Context& ctx, int lock_wait_ms) {
  dialect::MigratorOptions o;
  o.lock_wait_ms = lock_wait_ms;
  o.lock_timeout_ms = ctx.config().postgres_lock_timeout_ms;
  o.tool_version = CONSTRAINTCTL_VERSION;
  o.applied_by = applied_by();
  return o;
}

ExitCode run_generate(Context& ctx, const GenerateOptions& options) {
  const auto& schema = ctx.schema();
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  const auto ops = migrate::diff(migrate::replay(migrations), migrate::declared_state(schema), schema);
  if (ops.empty()) {
    if (ctx.options().json) {
      std::cout << json{{"command", "generate"}, {"written", nullptr}, {"operations", 0}}.dump(2) << "\n";
    } else if (!ctx.options().quiet) {
      std::cout << "No changes: schema/ matches what migrations/ builds.\n";
    }
    return ExitCode::ok;
  }
  migrate::Migration m;
  m.version = static_cast<int>(migrations.size()) + 1;
  if (!options.name.empty()) {
    m.name = sanitize_name(options.name);
  } else if (migrations.empty()) {
    m.name = "initial";
  } else if (ops.size() == 1) {
    m.name = sanitize_name(std::string(migrate::to_string(ops[0].kind)) + "_" + ops[0].def.name);
  } else {
    m.name = "update_constraints";
  }
  m.operations = ops;
  std::filesystem::create_directories(ctx.config().migrations_dir);
  const auto path = (ctx.config().migrations_dir / (m.id() + ".toml")).lexically_normal();
  if (std::filesystem::exists(path)) throw UsageError(path.string() + " already exists");
  {
    const std::string text = migrate::render_migration(m);
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw UsageError("cannot write " + path.string());
  }
  if (ctx.options().json) {
    std::cout << json{{"command", "generate"}, {"written", path.string()}, {"operations", ops.size()}}.dump(2) << "\n";
  } else {
    std::cout << "wrote " << path.string() << " (" << ops.size() << " operations)\n";
    for (const auto& op : ops) std::cout << "  " << op.describe() << "\n";
  }
  return ExitCode::ok;
}

ExitCode run_status(Context& ctx) {
  const auto& schema = ctx.schema();
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  const auto unsaved = migrate::diff(migrate::replay(migrations), migrate::declared_state(schema), schema);
  auto db = ctx.connect(false);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 0));
  migrate::Status st = migrate::compute_status(*migrator, migrations);
  for (const auto& op : unsaved) st.pending_schema_changes.push_back(op.describe());
  if (ctx.options().json) {
    json doc;
    doc["command"] = "status";
    doc["database"] = ctx.target().display();
    doc["dialect"] = std::string(db->dialect().name());
    doc["current_version"] = st.current;
    doc["migrations"] = json::array();
    for (const auto& v : st.versions) {
      json j{{"version", v.version}, {"name", v.name}, {"state", v.state}, {"checksum", v.file_checksum}};
      if (!v.recorded_checksum.empty()) j["recorded_checksum"] = v.recorded_checksum;
      if (!v.applied_at.empty()) j["applied_at"] = v.applied_at;
      if (!v.applied_by.empty()) j["applied_by"] = v.applied_by;
      doc["migrations"].push_back(std::move(j));
    }
    doc["pending"] = st.pending();
    doc["problems"] = st.problems;
    doc["schema_changes_not_in_migrations"] = st.pending_schema_changes;
    doc["capabilities"] = st.capabilities;
    std::cout << doc.dump(2) << "\n";
  } else {
    std::cout << "database " << ctx.target().display() << " (" << db->dialect().name() << "), at version " << st.current << "\n\n";
    std::printf("%-8s %-40s %-12s %s\n", "VERSION", "NAME", "STATE", "APPLIED");
    std::fflush(stdout);
    for (const auto& v : st.versions) {
      char line[512];
      std::snprintf(line, sizeof line, "%-8d %-40s %-12s %s\n", v.version, v.name.c_str(), v.state.c_str(),
                    v.state == "applied" ? (v.applied_at + " by " + v.applied_by).c_str() : "");
      std::cout << line;
    }
    if (st.versions.empty()) std::cout << "(no migrations in " << ctx.config().migrations_dir.string() << ")\n";
    std::cout << "\n" << st.pending() << " pending.\n";
    if (!st.pending_schema_changes.empty()) {
      std::cout << "schema/ has " << st.pending_schema_changes.size() << " change(s) not in any migration yet (run `constraintctl generate`):\n";
      for (const auto& c : st.pending_schema_changes) std::cout << "  " << c << "\n";
    }
    for (const auto& p : st.problems) std::cout << "problem: " << p << "\n";
    if (ctx.options().verbose) std::cout << "dialect: " << st.capabilities << "\n";
  }
  return st.problems.empty() ? ExitCode::ok : ExitCode::findings;
}

ExitCode run_apply(Context& ctx, const ApplyCommandOptions& options) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);  // before connecting
  if (options.fix && options.dry_run) throw UsageError("apply --fix --dry-run: use scan --fix --dry-run to preview repairs");
  if (options.fix) {
    // Repair first, in its own audited transaction; the apply that follows
    // scans again, so rows written in between are caught, never slipped in.
    const auto& schema = ctx.schema();
    auto fix_db = ctx.connect(false);
    fix_db->require_session();
    scan::FixOptions fo;
    fo.tool_version = CONSTRAINTCTL_VERSION;
    fo.applied_by = applied_by();
    fo.sample = 0;
    scan::FixReport fixed = scan::run_fix(*fix_db, schema, fo);
    if (!fixed.run_id.empty() && !ctx.options().json && !ctx.options().quiet) {
      std::int64_t changed = 0, deleted = 0;
      for (const auto& a : fixed.actions) {
        changed += a.changed;
        deleted += a.deleted;
      }
      std::cout << "fixed      " << changed << " updates, " << deleted << " deletes (run " << fixed.run_id
                << "; undo with constraintctl fix-undo " << fixed.run_id << ")\n";
    }
  }
  auto db = ctx.connect(false);
  db->require_session();
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, options.lock_wait_ms));
  migrate::ApplyOptions ao;
  ao.to = options.to;
  ao.dry_run = options.dry_run;
  const auto result = migrate::apply(*db, *migrator, migrations, ao, migrator_options(ctx, options.lock_wait_ms));
  if (!result.restored.empty() && !result.dry_run && !ctx.options().json && !ctx.options().quiet) {
    std::cout << "restored   " << result.restored.size() << " CHECK constraint(s) that drop-checks had removed\n";
  }
  return report_run(ctx, "apply", result, db->dialect());
}

ExitCode run_rollback(Context& ctx, const RollbackOptions& options) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(false);
  db->require_session();
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, options.lock_wait_ms));
  return report_run(ctx, "rollback", migrate::rollback(*db, *migrator, migrations, options.to, options.dry_run), db->dialect());
}

}  // namespace cc::app
