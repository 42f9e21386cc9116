#include "migrate/engine.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/error.h"

namespace cc::migrate {
namespace {

// The last history row per version.
std::map<int, dialect::HistoryRow> latest_rows(const std::vector<dialect::HistoryRow>& rows) {
  std::map<int, dialect::HistoryRow> latest;
  for (const auto& r : rows) {
    if (r.direction == "up" || r.direction == "down") latest[r.version] = r;
  }
  return latest;
}

// A guard that releases the migration lock on every path.
class LockGuard {
 public:
  explicit LockGuard(dialect::Migrator& m) : m_(m) { m_.lock(); }
  ~LockGuard() {
    try {
      m_.unlock();
    } catch (...) {
    }
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  dialect::Migrator& m_;
};

}  // namespace

size_t Status::pending() const {
  return static_cast<size_t>(std::count_if(versions.begin(), versions.end(), [](const auto& v) {
    return v.state == "pending" || v.state == "rolled_back";
  }));
}

Status compute_status(dialect::Migrator& migrator, const std::vector<Migration>& migrations) {
  Status st;
  st.capabilities = migrator.capabilities();
  const auto rows = migrator.history();
  const auto latest = latest_rows(rows);
  {
    std::map<int, std::string> last_dir;
    for (const auto& r : rows) {
      if (r.direction != "up" && r.direction != "down") continue;
      if (r.direction == last_dir[r.version]) {
        st.problems.push_back("history row " + std::to_string(r.id) + " records version " + std::to_string(r.version) + " '" +
                              r.direction + "' twice in a row (tampered or duplicated history)");
      }
      last_dir[r.version] = r.direction;
    }
  }
  for (const auto& m : migrations) {
    VersionStatus v;
    v.version = m.version;
    v.name = m.name;
    v.file_checksum = m.checksum;
    auto it = latest.find(m.version);
    if (it == latest.end()) {
      v.state = "pending";
    } else {
      const auto& r = it->second;
      v.recorded_checksum = r.checksum;
      v.applied_at = r.finished_at;
      v.applied_by = r.applied_by;
      if (r.direction == "up") {
        if (r.checksum != m.checksum) {
          v.state = "edited";
          st.problems.push_back(m.file.string() + ": version " + std::to_string(m.version) +
                                " was edited after it was applied (recorded sha256 " + r.checksum + ", file now " +
                                m.checksum + ")");
        } else {
          v.state = "applied";
          st.current = std::max(st.current, m.version);
        }
      } else {
        v.state = "rolled_back";
      }
    }
    st.versions.push_back(std::move(v));
  }
  for (const auto& [version, r] : latest) {
    const bool known = std::any_of(migrations.begin(), migrations.end(), [&](const Migration& m) { return m.version == version; });
    if (!known && r.direction == "up") {
      VersionStatus v;
      v.version = version;
      v.name = r.name;
      v.state = "missing_file";
      v.recorded_checksum = r.checksum;
      v.applied_at = r.finished_at;
      st.versions.push_back(v);
      st.problems.push_back("version " + std::to_string(version) + " (" + r.name +
                            ") is applied in the database but migrations/ has no file for it");
    } else if (known) {
      const auto& m = *std::find_if(migrations.begin(), migrations.end(), [&](const Migration& x) { return x.version == version; });
      if (m.name != r.name) {
        st.problems.push_back("history names version " + std::to_string(version) + " '" + r.name + "', but its file is " +
                              m.file.string());
      }
    }
  }
  // Applied versions must be 1..current without holes.
  for (const auto& v : st.versions) {
    if (v.version < st.current && v.state != "applied" && v.state != "edited") {
      st.problems.push_back("version " + std::to_string(v.version) + " is " + v.state + " below applied version " +
                            std::to_string(st.current) + " (history out of order)");
    }
  }
  std::sort(st.versions.begin(), st.versions.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return st;
}

void require_consistent(const Status& status) {
  if (status.problems.empty()) return;
  std::string message = "migrations and the database's history disagree; nothing was changed:";
  for (const auto& p : status.problems) message += "\n  " + p;
  throw UsageError(message);
}

model::Schema schema_of_additions(const std::vector<const Migration*>& migrations, bool up) {
  model::Schema schema;
  std::map<std::string, size_t> index;
  for (const auto* m : migrations) {
    for (const auto& op : m->steps(up)) {
      if (!op.adds()) continue;
      auto [it, fresh] = index.emplace(op.def.table, schema.tables.size());
      if (fresh) {
        model::Table t;
        t.name = op.def.table;
        t.where = model::SourceLocation{m->file.string(), 0, 0};
        schema.tables.push_back(std::move(t));
      }
      auto& table = schema.tables[it->second];
      const model::SourceLocation where{m->file.string(), 0, 0};
      if (op.def.unique) {
        model::Unique u;
        u.name = op.def.name;
        u.columns = op.def.columns;
        u.where_expr = op.def.where;
        u.where = where;
        table.uniques.push_back(std::move(u));
      } else {
        model::Check c;
        c.name = op.def.name;
        c.expr = op.def.check;
        c.where = where;
        table.checks.push_back(std::move(c));
      }
    }
  }
  return schema;
}

namespace {

ApplyResult run_steps(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<const Migration*>& todo, bool up,
                      bool dry_run, int sample) {
  ApplyResult result;
  if (todo.empty()) return result;
  // Refuse, changing nothing, when existing rows break a constraint to be
  // added (going down, the reverse of a drop adds one). PostgreSQL scans
  // first: its constraints go in NOT VALID, so violations would only show at
  // VALIDATE. SQLite needs no separate pass: the rebuild's copy into the new
  // table enforces every CHECK and the unique index build every UNIQUE,
  // inside the migration's transaction, so a violation rolls it back and the
  // scan then only explains why.
  model::Schema additions = schema_of_additions(todo, up);
  auto refuse_if_violated = [&]() -> bool {
    if (additions.tables.empty()) return false;
    scan::ScanOptions so;
    so.sample = sample;
    scan::ScanReport report = scan::run_scan(db, additions, so);
    if (report.total_violations() == 0) return false;
    result.refused = std::move(report);
    return true;
  };
  const bool scan_first = db.dialect().kind() == dialect::Kind::postgresql;
  if (scan_first && !dry_run && refuse_if_violated()) return result;
  const auto dropped = dialect::detail::dropped_checks(db);
  for (const auto* m : todo) {
    StepResult step;
    step.id = m->id();
    step.direction = up ? "up" : "down";
    // Checks that drop-checks already removed are not dropped again; they
    // leave the dropped list with the migration that drops them for good.
    dialect::RunExtras extras;
    for (const auto& op : m->steps(up)) {
      if (op.kind != OpKind::drop_check) continue;
      for (const auto& d : dropped) {
        if (d.name == op.def.name) {
          extras.skip.push_back(d.name);
          extras.record.push_back(std::string("DELETE FROM ") + dialect::kDroppedTable + " WHERE name = " +
                                  db.dialect().quote_string(d.name));
        }
      }
    }
    if (dry_run) {
      step.plan = migrator.plan(*m, up);
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        step.ran = migrator.run(*m, up, extras);
      } catch (const DatabaseError& e) {
        const int code = e.sqlite_code();
        const bool violated = code == 275 /* CHECK */ || code == 2067 /* UNIQUE */ || code == 1555 /* PRIMARY KEY */;
        if (!scan_first && violated && refuse_if_violated()) return result;
        rethrow_with_context(e, std::string(up ? "apply " : "rollback ") + m->id());
      } catch (const std::exception& e) {
        rethrow_with_context(e, std::string(up ? "apply " : "rollback ") + m->id());
      }
      step.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    result.steps.push_back(std::move(step));
  }
  return result;
}

}  // namespace

ApplyResult apply(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                  const ApplyOptions& options, const dialect::MigratorOptions& migrator_options) {
  if (options.to && (*options.to < 0 || *options.to > static_cast<int>(migrations.size()))) {
    throw UsageError("--to " + std::to_string(*options.to) + ": no such version (have 1.." + std::to_string(migrations.size()) + ")");
  }
  LockGuard guard(migrator);
  if (!options.dry_run) migrator.ensure_history();
  Status st = compute_status(migrator, migrations);
  require_consistent(st);
  const int target = options.to.value_or(static_cast<int>(migrations.size()));
  std::vector<const Migration*> todo;
  for (const auto& m : migrations) {
    if (m.version > st.current && m.version <= target) todo.push_back(&m);
  }
  ApplyResult result = run_steps(db, migrator, todo, true, options.dry_run, options.sample);
  if (result.refused || options.dry_run) return result;

  // Put back the checks drop-checks removed that the applied state still has.
  const std::vector<ConstraintDef> dropped = dialect::detail::dropped_checks(db);
  std::vector<Operation> restore;
  std::vector<std::string> record;
  std::string names;
  std::vector<Migration> applied;
  for (const auto& m : migrations) {
    if (m.version <= std::max(st.current, target)) applied.push_back(m);
  }
  const State full = replay(applied);
  for (const auto& d : dropped) {
    auto it = full.find(d.name);
    if (it == full.end()) continue;
    restore.push_back(Operation{OpKind::add_check, it->second});
    record.push_back(std::string("DELETE FROM ") + dialect::kDroppedTable + " WHERE name = " + db.dialect().quote_string(d.name));
    names += (names.empty() ? "" : ", ") + d.name;
  }
  if (restore.empty()) return result;
  Migration pseudo;
  pseudo.operations = restore;
  scan::ScanOptions so;
  so.sample = options.sample;
  scan::ScanReport report = scan::run_scan(db, schema_of_additions({&pseudo}, true), so);
  if (report.total_violations() > 0) {
    result.refused = std::move(report);
    return result;
  }
  record.push_back(dialect::detail::history_event(db.dialect(), std::max(st.current, target), "restore_checks", names, migrator_options));
  try {
    migrator.run_ops(restore, record);
  } catch (const std::exception& e) {
    rethrow_with_context(e, "restore the checks drop-checks removed");
  }
  for (const auto& op : restore) result.restored.push_back(op.def.name);
  return result;
}

State expected_state(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                     std::vector<ConstraintDef>* dropped, Status* status) {
  Status st = compute_status(migrator, migrations);
  std::vector<Migration> applied;
  for (const auto& m : migrations) {
    if (m.version <= st.current) applied.push_back(m);
  }
  State state = replay(applied);
  auto gone = dialect::detail::dropped_checks(db);
  for (const auto& d : gone) state.erase(d.name);
  if (dropped) *dropped = std::move(gone);
  if (status) *status = std::move(st);
  return state;
}

DropChecksResult drop_checks(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                             const std::vector<std::string>& tables, const std::string& constraint,
                             const dialect::MigratorOptions& options) {
  LockGuard guard(migrator);
  migrator.ensure_history();
  Status st;
  std::vector<ConstraintDef> already;
  const State state = expected_state(db, migrator, migrations, &already, &st);
  require_consistent(st);
  if (!constraint.empty()) {
    auto it = state.find(constraint);
    if (it == state.end()) {
      const bool was = std::any_of(already.begin(), already.end(), [&](const auto& d) { return d.name == constraint; });
      throw UsageError("--constraint " + constraint + (was ? ": already dropped by drop-checks" : ": no applied constraint of that name"));
    }
    if (it->second.unique) throw UsageError("--constraint " + constraint + " is a UNIQUE; drop-checks keeps UNIQUE constraints");
  }
  for (const auto& t : tables) {
    const bool known = std::any_of(state.begin(), state.end(), [&](const auto& kv) { return kv.second.table == t; }) ||
                       std::any_of(already.begin(), already.end(), [&](const auto& d) { return d.table == t; });
    if (!known) throw UsageError("--table " + t + ": no applied constraint on that table");
  }
  DropChecksResult result;
  std::vector<Operation> ops;
  std::vector<std::string> record;
  std::string names;
  const auto& d = db.dialect();
  const std::string now = d.kind() == dialect::Kind::postgresql ? "CAST(clock_timestamp() AS text)" : "strftime('%Y-%m-%d %H:%M:%f', 'now')";
  for (const auto& [name, def] : state) {
    if (def.unique) continue;
    if (!constraint.empty() && name != constraint) continue;
    if (!tables.empty() && std::find(tables.begin(), tables.end(), def.table) == tables.end()) continue;
    ops.push_back(Operation{OpKind::drop_check, def});
    record.push_back(std::string("INSERT INTO ") + dialect::kDroppedTable + " (name, table_name, definition, dropped_at, dropped_by) VALUES (" +
                     d.quote_string(name) + ", " + d.quote_string(def.table) + ", " + d.quote_string(def.check) + ", " + now + ", " +
                     d.quote_string(options.applied_by) + ")");
    names += (names.empty() ? "" : ", ") + name;
    result.dropped.push_back(def);
  }
  if (ops.empty()) return result;
  record.push_back(dialect::detail::history_event(d, st.current, "drop_checks", names, options));
  migrator.run_ops(ops, record);
  return result;
}

ApplyResult rollback(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations, int to,
                     bool dry_run) {
  if (to < 0 || to > static_cast<int>(migrations.size())) throw UsageError("--to " + std::to_string(to) + ": no such version");
  LockGuard guard(migrator);
  Status st = compute_status(migrator, migrations);
  require_consistent(st);
  std::vector<const Migration*> todo;
  for (auto it = migrations.rbegin(); it != migrations.rend(); ++it) {
    if (it->version > to && it->version <= st.current) todo.push_back(&*it);
  }
  return run_steps(db, migrator, todo, false, dry_run, 0);
}

}  // namespace cc::migrate
