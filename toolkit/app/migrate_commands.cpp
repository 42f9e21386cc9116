#include "app/migrate_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "app/output.h"
#include "app/scan_command.h"
#include "core/text.h"
#include "dialect/migrator.h"
#include "dialect/plan.h"
#include "migrate/engine.h"
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
    j["adopted"] = s.plan.adopted;
    j["kept"] = s.plan.kept;
    j["warnings"] = s.plan.warnings;
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

namespace {

// A refusal's scan reads the constraints from migrations/, which hold no
// repairs: where schema/ declares the same constraint, show its policy and
// where it is declared, so the table says what `apply --fix` would do.
scan::ScanReport with_declared_repairs(Context& ctx, scan::ScanReport report) {
  const model::Schema* schema = nullptr;
  try {
    schema = &ctx.schema();
  } catch (const Error&) {
    return report;  // no usable schema/: the migration's words stand
  }
  for (auto& c : report.constraints) {
    const model::Table* t = schema->find_table(c.table);
    if (!t) continue;
    for (const auto& check : t->checks) {
      if (check.name != c.name) continue;
      c.policy = check.repair.policy;
      c.where = check.where;
    }
    for (const auto& u : t->uniques) {
      if (u.name != c.name) continue;
      c.policy = u.repair.policy;
      c.where = u.where;
    }
  }
  return report;
}

bool repairable(const scan::ScanReport& report) {
  for (const auto& c : report.constraints) {
    if (c.violations > 0 && c.policy != model::RepairPolicy::report && c.repair_refused.empty()) return true;
  }
  return false;
}

}  // namespace

ExitCode report_run(Context& ctx, const std::string& command, const migrate::ApplyResult& r, const dialect::Dialect& d,
                    const nlohmann::ordered_json& extra) {
  const bool json_out = ctx.options().json;
  const bool dry_run = r.dry_run;
  // Warnings go to stderr in every format (stdout stays SQL or JSON).
  for (const auto& s : r.steps) {
    const auto& said = s.plan.said_before_execute;
    for (const auto& w : s.plan.warnings) {
      if (s.ran && std::find(said.begin(), said.end(), w) != said.end()) continue;  // said before it ran
      std::cerr << "constraintctl: warning: " << text::terminal_safe(w) << "\n";
    }
  }
  if (r.refused) {
    // True to the letter: the bookkeeping tables may have been created first.
    const std::string what =
        dry_run ? command + " would refuse: existing rows violate constraints it would add; nothing would run"
        : r.bookkeeping.empty()
            ? command + " refused: existing rows violate constraints it would add; nothing was changed"
            : command +
                  " refused: existing rows violate constraints it would add; no constraint or row was "
                  "changed (constraintctl's bookkeeping tables were created)";
    auto report = with_declared_repairs(ctx, *r.refused);
    if (json_out) {
      json doc;
      doc["command"] = command;
      doc["dry_run"] = dry_run;
      doc["refused"] = true;
      doc["reason"] = what;
      doc["scan"] = scan::to_json(report);
      print_json(with_envelope(ctx, command, false, std::move(doc)));
    } else {
      report.database = ctx.target().display();
      std::cerr << "constraintctl: " << what << ".\n"
                << (repairable(report) && command == "apply"
                        ? "Repair them by the policies declared in schema/ (REPAIR and DECLARED AT below) with "
                          "`constraintctl "
                          "apply --fix` (preview: `constraintctl scan --fix --dry-run`), or by hand; then run apply "
                          "again.\n\n"
                        : "Repair them (see below), then run " + command + " again.\n\n");
      // A dry run's stdout stays SQL: the table goes to stderr.
      scan::TextOptions shown{true, true, ctx.color()};
      shown.sources = true;
      (dry_run ? std::cerr : std::cout) << scan::render_text(report, shown);
      if (dry_run) std::cout << "-- " << what << "\n";
    }
    return ExitCode::findings;
  }
  if (json_out) {
    json doc;
    doc["command"] = command;
    doc["dry_run"] = dry_run;
    for (const auto& [key, value] : extra.items()) doc[key] = value;
    doc["bookkeeping"] = r.bookkeeping;
    doc["steps"] = steps_json(r);
    doc["restored"] = r.restored;
    if (dry_run) doc["script"] = dry_run_script(r, d);
    print_json(with_envelope(ctx, command, true, std::move(doc)));
    return ExitCode::ok;
  }
  if (dry_run) {
    std::cout << "-- constraintctl " << command << " --dry-run: the SQL it would run, in order, on "
              << ctx.target().display() << "\n";
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
      std::cout << (s.direction == "up" ? "applied     " : "rolled back ")
                << text::pad_right(text::terminal_safe(s.id), 40) << " "
                << (s.ran ? "ok" : "already done by another migrator") << " ("
                << static_cast<long long>(s.elapsed_ms + 0.5) << " ms)\n";
      for (const auto& a : s.plan.adopted) std::cout << "  adopted " << text::terminal_safe(a) << "\n";
      for (const auto& k : s.plan.kept) std::cout << "  kept    " << text::terminal_safe(k) << "\n";
    }
  }
  return ExitCode::ok;
}

dialect::MigratorOptions migrator_options(const Context& ctx, int lock_wait_ms) {
  dialect::MigratorOptions o;
  o.lock_wait_ms = lock_wait_ms >= 0 ? lock_wait_ms : ctx.config().lock_wait_ms;
  o.lock_timeout_ms = ctx.config().postgres_lock_timeout_ms;
  o.statement_timeout_ms = ctx.config().postgres_statement_timeout_ms;
  o.sqlite_no_rebuild = ctx.config().sqlite_no_rebuild;
  o.sqlite_max_lock_ms = ctx.config().sqlite_max_lock_ms;
  o.tool_version = CONSTRAINTCTL_VERSION;
  o.applied_by = applied_by();
  return o;
}

ExitCode run_generate(Context& ctx, const GenerateOptions& options) {
  const auto& schema = ctx.schema();
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  const auto declared = migrate::declared_state(schema);
  const auto ops = migrate::diff(migrate::replay(migrations), declared, schema);
  const bool json_out = ctx.options().json;
  // Offline, generate sees only schema/: two declared constraints with one
  // definition would build a second CHECK or index (apply warns about the
  // database's own equivalents).
  // Compared within each table only: hundreds of tables must not cost
  // (constraints x constraints).
  std::map<model::TableName, std::vector<const migrate::ConstraintDef*>> by_table;
  for (const auto& [name, def] : declared) by_table[def.table].push_back(&def);
  std::vector<std::string> warnings;
  for (const auto& op : ops) {
    if (!op.adds()) continue;
    for (const auto* other_def : by_table[op.def.table]) {
      const auto& name = other_def->name;
      const auto& other = *other_def;
      if (name == op.def.name) continue;
      auto same = other;
      same.name = op.def.name;
      if (same.same_definition(op.def)) {
        warnings.push_back(op.describe() + ": already enforced by " + name + " (" + other.describe() +
                           "), also declared in schema/");
      }
    }
  }
  for (const auto& w : warnings) std::cerr << "constraintctl: warning: " << text::terminal_safe(w) << "\n";
  if (options.check) {
    // CI's question "did someone edit schema/ and forget generate?": the
    // same diff, reported, nothing written.
    if (json_out) {
      json changes = json::array();
      for (const auto& op : ops) changes.push_back(op.describe());
      json doc{{"written", nullptr},
               {"operations", ops.size()},
               {"check", true},
               {"schema_changes_not_in_migrations", changes}};
      print_json(with_envelope(ctx, "generate", ops.empty(), std::move(doc)));
    } else if (ops.empty()) {
      if (!ctx.options().quiet) std::cout << "Up to date: schema/ matches what migrations/ builds.\n";
    } else {
      std::cout << "schema/ has " << ops.size() << " change(s) no migration holds (run `constraintctl generate`):\n";
      for (const auto& op : ops) std::cout << "  " << op.describe() << "\n";
    }
    return ops.empty() ? ExitCode::ok : ExitCode::findings;
  }
  if (ops.empty()) {
    if (json_out) {
      print_json(with_envelope(ctx, "generate", true, json{{"written", nullptr}, {"operations", 0}}));
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
  if (json_out) {
    print_json(with_envelope(ctx, "generate", true,
                             json{{"written", path.string()}, {"operations", ops.size()}, {"warnings", warnings}}));
  } else if (!ctx.options().quiet) {
    std::cout << "wrote " << path.string() << " (" << ops.size() << " operations)\n";
    for (const auto& op : ops) std::cout << "  " << op.describe() << "\n";
  }
  return ExitCode::ok;
}

namespace {

// "partially applied: 7 of 26 steps" for an interrupted run, else the state.
std::string state_text(const migrate::VersionStatus& v) {
  if (v.state != "partially_applied" && v.state != "partially_rolled_back") return v.state;
  return std::string(v.state == "partially_applied" ? "partially applied: " : "partially rolled back: ") +
         std::to_string(v.steps_done) + " of " + std::to_string(v.steps_total) + " steps";
}

// status as CI formats see it: one outcome per version, per history problem
// and (with --check) per schema change no migration holds. Failed exactly
// when the exit code counts it.
std::vector<Outcome> status_outcomes(Context& ctx, const migrate::Status& st,
                                     const std::vector<migrate::Migration>& migrations,
                                     const std::vector<migrate::Operation>& unsaved, bool check) {
  std::vector<Outcome> out;
  for (const auto& v : st.versions) {
    Outcome o;
    o.group = "migrations";
    migrate::Migration id_of;
    id_of.version = v.version;
    id_of.name = v.name;
    o.name = id_of.id();
    const bool pending = v.state == "pending" || v.state == "rolled_back" || v.steps_total > 0;
    o.failed = (v.state != "applied" && !pending) || (pending && check);
    o.message = "version " + std::to_string(v.version) + " (" + v.name + ") is " + state_text(v);
    for (const auto& m : migrations) {
      if (m.version == v.version) o.where = model::SourceLocation{m.file.string(), 1, 1};
    }
    out.push_back(std::move(o));
  }
  for (const auto& p : st.problems) out.push_back(Outcome{"history", "consistency", true, p, "", {}});
  if (check) {
    for (const auto& op : unsaved) {
      out.push_back(Outcome{op.def.table.str(), op.def.name, true,
                            "schema/ change no migration holds: " + op.describe() + " (run `constraintctl generate`)",
                            "", find_declaration(ctx.schema(), op.def.name)});
    }
  }
  return out;
}

}  // namespace

ExitCode run_status(Context& ctx, const StatusOptions& options) {
  const auto& schema = ctx.schema();
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  const auto unsaved = migrate::diff(migrate::replay(migrations), migrate::declared_state(schema), schema);
  auto db = ctx.connect(false);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 0));
  migrate::Status st = migrate::compute_status(*migrator, migrations);
  for (const auto& op : unsaved) st.pending_schema_changes.push_back(op.describe());
  // The intended state drop-checks recorded: not a problem, and apply
  // puts them back.
  const auto dropped = dialect::detail::dropped_checks(*db);
  // A version applied out of order or half recorded shows up in problems;
  // --check adds what CI must not ship: pending versions, unsaved changes.
  const bool behind = st.pending() > 0 || !st.pending_schema_changes.empty() || !st.in_progress.empty();
  const ExitCode code = !st.problems.empty() || (options.check && behind) ? ExitCode::findings : ExitCode::ok;
  const Format format = ctx.options().format;
  if (format == Format::json) {
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
      if (v.steps_total > 0) {
        j["steps_done"] = v.steps_done;
        j["steps_total"] = v.steps_total;
      }
      doc["migrations"].push_back(std::move(j));
    }
    doc["in_progress"] = json::array();
    for (const auto& p : st.in_progress) {
      doc["in_progress"].push_back(json{{"version", p.version},
                                        {"direction", p.direction},
                                        {"name", p.name},
                                        {"steps_done", p.steps_done},
                                        {"steps_total", p.steps_total},
                                        {"started_at", p.started_at},
                                        {"updated_at", p.updated_at},
                                        {"applied_by", p.applied_by}});
    }
    doc["pending"] = st.pending();
    doc["problems"] = st.problems;
    doc["schema_changes_not_in_migrations"] = st.pending_schema_changes;
    doc["dropped_checks"] = json::array();
    for (const auto& d : dropped)
      doc["dropped_checks"].push_back(json{{"table", d.table.str()}, {"name", d.name}, {"check", d.check}});
    doc["capabilities"] = st.capabilities;
    doc["check"] = options.check;
    print_json(with_envelope(ctx, "status", code == ExitCode::ok, std::move(doc)));
    return code;
  }
  if (format == Format::github || format == Format::junit) {
    const auto outcomes = status_outcomes(ctx, st, migrations, unsaved, options.check);
    if (format == Format::junit) {
      std::cout << render_junit("status", outcomes, 0);
    } else {
      std::cout << render_github("status", outcomes,
                                 "version " + std::to_string(st.current) + ", " + std::to_string(st.pending()) +
                                     " pending, " + std::to_string(st.pending_schema_changes.size()) +
                                     " unsaved schema change(s), " + std::to_string(st.problems.size()) +
                                     " problem(s)");
    }
    return code;
  }
  const bool quiet = ctx.options().quiet;
  if (!quiet) {
    std::cout << "database " << ctx.target().display() << " (" << db->dialect().name() << "), at version " << st.current
              << "\n\n";
    text::Table table({text::Table::Align::right});
    table.add({"VERSION", "NAME", "STATE", "APPLIED"});
    for (const auto& v : st.versions) {
      table.add(
          {std::to_string(v.version), text::terminal_safe(v.name), state_text(v),
           v.state == "applied" || v.steps_total > 0 ? text::terminal_safe(v.applied_at + " by " + v.applied_by) : ""});
    }
    std::cout << table.render();
    if (st.versions.empty()) std::cout << "(no migrations in " << ctx.config().migrations_dir.string() << ")\n";
    std::cout << "\n" << st.pending() << " pending.\n";
    if (!dropped.empty()) {
      std::cout << dropped.size()
                << " CHECK constraint(s) dropped by drop-checks on purpose (`constraintctl apply` puts them back):\n";
      for (const auto& d : dropped)
        std::cout << "  " << text::terminal_safe(d.table.str() + "." + d.name) << "  CHECK ("
                  << text::terminal_safe(d.check) << ")\n";
    }
  } else {
    // --quiet: only what needs acting on.
    for (const auto& v : st.versions) {
      if (v.state != "applied")
        std::cout << "version " << v.version << " (" << text::terminal_safe(v.name) << "): " << state_text(v) << "\n";
    }
  }
  for (const auto& p : st.in_progress) {
    if (p.direction == "up") {
      std::cout << "version " << p.version
                << " was interrupted: run `constraintctl apply` to finish it or `constraintctl rollback --to "
                << p.version - 1 << "` to undo its done steps\n";
    } else if (p.direction == "down") {
      std::cout << "the rollback of version " << p.version << " was interrupted: run `constraintctl rollback --to "
                << p.version - 1 << "` to finish it\n";
    } else {
      std::cout << p.direction << " (" << text::terminal_safe(p.name) << ") partially applied: " << p.steps_done
                << " of " << p.steps_total
                << " steps; run `constraintctl apply` to finish it (or `constraintctl rollback` to undo the versions "
                   "it restores)\n";
    }
  }
  if (!st.pending_schema_changes.empty()) {
    std::cout << "schema/ has " << st.pending_schema_changes.size()
              << " change(s) not in any migration yet (run `constraintctl generate`):\n";
    for (const auto& c : st.pending_schema_changes) std::cout << "  " << c << "\n";
  }
  // Problems quote history rows, which anyone with write access could have edited.
  for (const auto& p : st.problems) std::cout << "problem: " << text::terminal_safe(p) << "\n";
  if (ctx.options().verbose && !quiet) std::cout << "dialect: " << st.capabilities << "\n";
  return code;
}

// apply and rollback run the files of migrations/: run from another
// directory (or with a wrong --project), where neither schema/ nor
// migrations/ exists, "nothing to do" would be an answer about files nobody
// looked at. (A project with schema/ and no migration yet has nothing to do.)
static void require_migrations_dir(const Context& ctx) {
  std::error_code ec;
  const auto& dir = ctx.config().migrations_dir;
  if (!std::filesystem::is_directory(dir, ec) && !std::filesystem::is_directory(ctx.config().schema_dir, ec))
    throw UsageError("migrations directory '" + dir.lexically_normal().string() +
                     "' does not exist (run from the project directory, or pass --project; `constraintctl generate` "
                     "writes the first migration there)");
}

ExitCode run_apply(Context& ctx, const ApplyCommandOptions& options) {
  require_migrations_dir(ctx);
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);  // before connecting
  auto db = ctx.connect(false);
  db->require_session();
  // Where CHECKs go in NOT VALID (PostgreSQL), the repairs run between that
  // step and VALIDATE, so every write is checked from before the repairs on;
  // elsewhere (SQLite: one transaction per migration) they run first.
  const bool fix_inside = options.fix && db->dialect().capabilities().add_not_valid;
  if ((options.allow_cascade || options.allow_triggers) && !options.fix)
    throw UsageError("apply: --allow-cascade and --allow-triggers go with --fix");
  if (options.fix && options.dry_run && !fix_inside)
    throw UsageError("apply --fix --dry-run: use scan --fix --dry-run to preview repairs");
  std::unique_ptr<dialect::Connection> fix_db;
  bool repaired = false;
  auto repair = [&] {
    // In its own audited transaction on its own connection; the apply that
    // follows (SQLite) or the VALIDATE (PostgreSQL) checks every row again,
    // so rows written in between are caught, never slipped in.
    const auto& schema = ctx.schema();
    if (!fix_db) {
      fix_db = ctx.connect(false);
      fix_db->require_session();
    }
    scan::FixOptions fo;
    fo.tool_version = CONSTRAINTCTL_VERSION;
    fo.applied_by = applied_by();
    fo.sample = 0;
    fo.allow_cascade = options.allow_cascade;
    fo.allow_triggers = options.allow_triggers;
    scan::FixReport fixed = scan::run_fix(*fix_db, schema, fo);
    repaired = true;
    if (!fixed.run_id.empty() && !ctx.options().json && !ctx.options().quiet) {
      std::int64_t changed = 0, deleted = 0;
      for (const auto& a : fixed.actions) {
        changed += a.changed;
        deleted += a.deleted;
      }
      std::cout << "fixed      " << changed << " updates, " << deleted << " deletes (run " << fixed.run_id
                << "; undo with constraintctl fix-undo " << fixed.run_id << ")\n";
      for (const auto& u : fixed.uncaptured)
        std::cout << "  NOT audited (--allow-triggers): " << text::terminal_safe(u) << "\n";
    }
  };
  if (options.fix && !fix_inside) repair();
  auto mo = migrator_options(ctx, options.lock_wait_ms);
  mo.sqlite_no_rebuild = mo.sqlite_no_rebuild || options.sqlite_no_rebuild;
  mo.open = [&ctx](bool read_only) { return ctx.connect(read_only); };
  if (options.sqlite_max_lock_ms >= 0) mo.sqlite_max_lock_ms = options.sqlite_max_lock_ms;
  migrate::ApplyOptions ao;
  if (fix_inside) {
    mo.repair = repair;
    for (const auto& t : ctx.schema().tables) {
      for (const auto& c : t.checks) {
        if (c.repair.policy != model::RepairPolicy::report) ao.repaired.push_back(c.name);
      }
      for (const auto& u : t.uniques) {
        if (u.repair.policy != model::RepairPolicy::report) ao.repaired.push_back(u.name);
      }
    }
  }
  auto migrator = dialect::make_migrator(*db, mo);
  ao.to = options.to;
  ao.dry_run = options.dry_run;
  const auto result = [&] {
    try {
      return migrate::apply(*db, *migrator, migrations, ao, mo);
    } catch (const UsageError& e) {
      // A refusal names the migration's operation ("add_check t.name: ...");
      // where schema/ declares that constraint, say where.
      const std::string message = e.what();
      const model::Schema* schema = nullptr;
      try {
        schema = &ctx.schema();
      } catch (const Error&) {
        // No usable schema/: the migration's own words stand.
      }
      if (schema) {
        for (const auto& t : schema->tables) {
          auto declared_at = [&](const std::string& name, const model::SourceLocation& where) {
            return message.find("." + name + ":") != std::string::npos ? " (declared at " + where.str() + ")"
                                                                       : std::string();
          };
          for (const auto& c : t.checks) {
            if (auto at = declared_at(c.name, c.where); !at.empty()) throw UsageError(message + at, e.problems());
          }
          for (const auto& u : t.uniques) {
            if (auto at = declared_at(u.name, u.where); !at.empty()) throw UsageError(message + at, e.problems());
          }
        }
      }
      throw;
    }
  }();
  // Nothing added that existing rows could break: the repairs had no place in
  // the plans, and run now.
  if (fix_inside && !repaired && !result.dry_run && !result.refused) repair();
  if (!result.restored.empty() && !result.dry_run && !ctx.options().json && !ctx.options().quiet) {
    std::cout << "restored   " << result.restored.size() << " CHECK constraint(s) that drop-checks had removed\n";
  }
  return report_run(ctx, "apply", result, db->dialect());
}

ExitCode run_rollback(Context& ctx, const RollbackOptions& options) {
  require_migrations_dir(ctx);
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(false);
  db->require_session();
  auto mo = migrator_options(ctx, options.lock_wait_ms);
  if (options.sqlite_max_lock_ms >= 0) mo.sqlite_max_lock_ms = options.sqlite_max_lock_ms;
  auto migrator = dialect::make_migrator(*db, mo);
  return report_run(ctx, "rollback", migrate::rollback(*db, *migrator, migrations, options.to, options.dry_run),
                    db->dialect());
}

}  // namespace cc::app
