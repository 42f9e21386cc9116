#include "migrate/engine.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

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
    return v.state == "pending" || v.state == "rolled_back" || v.state == "partially_applied" ||
           v.state == "partially_rolled_back";
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
  // An interrupted run: what its progress row says, checked like history
  // (an edited file is refused as for an applied version).
  st.in_progress = migrator.progress();
  for (const auto& p : st.in_progress) {
    if (p.direction != "up" && p.direction != "down") continue;
    auto v =
        std::find_if(st.versions.begin(), st.versions.end(), [&](const auto& x) { return x.version == p.version; });
    if (v == st.versions.end()) {
      st.problems.push_back("version " + std::to_string(p.version) + " (" + p.name + ") is partially " +
                            (p.direction == "up" ? "applied" : "rolled back") +
                            " in the database but migrations/ has no file for it");
      continue;
    }
    v->steps_done = p.steps_done;
    v->steps_total = p.steps_total;
    v->applied_at = p.updated_at;
    v->applied_by = p.applied_by;
    v->recorded_checksum = p.checksum;
    if (p.direction == "up" && p.checksum != v->file_checksum) {
      v->state = "edited";
      const auto m = std::find_if(migrations.begin(), migrations.end(),
                                  [&](const Migration& x) { return x.version == p.version; });
      st.problems.push_back(m->file.string() + ": version " + std::to_string(p.version) +
                            " was edited after it was partially applied (recorded sha256 " + p.checksum +
                            ", file now " + v->file_checksum +
                            "); restore the file to finish or roll back the interrupted run");
    } else {
      v->state = p.direction == "up" ? "partially_applied" : "partially_rolled_back";
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
  std::map<model::TableName, size_t> index;
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

// Creates the bookkeeping tables that are missing (dry run: only lists them).
void bookkeeping(dialect::Connection& db, bool dry_run, ApplyResult& result) {
  result.dry_run = dry_run;
  result.bookkeeping = dialect::detail::missing_bookkeeping(db);
  if (dry_run) return;
  for (const auto& sql : result.bookkeeping) db.execute(sql);
}

// Scans the rows for the constraints `ops` add; true (and `result.refused`)
// when some rows violate them.
bool refuse_if_violated(dialect::Connection& db, const model::Schema& additions, int sample, ApplyResult& result) {
  if (additions.tables.empty()) return false;
  scan::ScanOptions so;
  so.sample = sample;
  scan::ScanReport report = scan::run_scan(db, additions, so);
  if (report.total_violations() == 0) return false;
  result.refused = std::move(report);
  return true;
}

// Plans `work` and (unless a dry run) executes exactly that plan.
StepResult run_work(dialect::Migrator& migrator, const dialect::Work& work, const std::string& id, bool dry_run) {
  StepResult step;
  step.id = id;
  step.direction = work.up ? "up" : "down";
  try {
    step.plan = migrator.plan(work);
    if (!dry_run) {
      const auto t0 = std::chrono::steady_clock::now();
      step.ran = migrator.execute(step.plan, work);
      step.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  } catch (const std::exception& e) {
    rethrow_with_context(e, (work.migration ? std::string(work.up ? "apply " : "rollback ") : std::string()) + id);
  }
  return step;
}

std::string forget_dropped(const dialect::Dialect& d, const std::string& name) {
  return std::string("DELETE FROM ") + dialect::kDroppedTable + " WHERE name = " + d.quote_string(name);
}

// Bookkeeping rows written per statement: few statements for hundreds of
// tables, each well under SQLite's default 1 MB statement length.
constexpr size_t kBatchRows = 500;

std::vector<std::string> forget_dropped(const dialect::Dialect& d, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); i += kBatchRows) {
    std::string list;
    for (size_t j = i; j < std::min(names.size(), i + kBatchRows); ++j)
      list += (list.empty() ? "" : ", ") + d.quote_string(names[j]);
    out.push_back(std::string("DELETE FROM ") + dialect::kDroppedTable + " WHERE name IN (" + list + ")");
  }
  return out;
}

// The same name with another definition in the catalog is refused before
// anything else (the scan included: no repair of rows would help), naming both
// definitions. A name an earlier step of this run drops is left to the plan.
void refuse_same_name_different_definition(dialect::Connection& db, dialect::Migrator& migrator,
                                           const std::vector<const Migration*>& todo, bool up) {
  const auto adopted = dialect::detail::adopted(db);
  std::set<std::string> dropped_before;
  std::map<std::string, dialect::TableInfo> infos;
  {
    // Every table the loop below looks at, read in one go (one catalog query
    // per kind of object where the driver can), not one inspection per table.
    std::vector<model::TableName> names;
    std::set<std::string> seen, dropped;
    for (const auto* m : todo) {
      for (const auto& op : m->steps(up)) {
        if (!op.adds()) {
          dropped.insert(op.def.name);
        } else if (!dropped.count(op.def.name) && seen.insert(op.def.table.str()).second) {
          names.push_back(op.def.table);
        }
      }
    }
    auto read = db.inspect_tables(names);
    for (size_t i = 0; i < names.size(); ++i) infos.emplace(names[i].str(), std::move(read[i]));
  }
  for (const auto* m : todo) {
    for (const auto& op : m->steps(up)) {
      if (!op.adds()) {
        dropped_before.insert(op.def.name);
        continue;
      }
      if (dropped_before.count(op.def.name)) continue;
      auto it = infos.find(op.def.table.str());
      if (it == infos.end()) it = infos.emplace(op.def.table.str(), db.inspect_table(op.def.table)).first;
      if (!it->second.exists) continue;  // the plan says so
      const auto* existing = dialect::detail::resolve(it->second, op.def.name, adopted);
      if (!existing) continue;
      if (const std::string diff = migrator.definition_difference(op.def, *existing); !diff.empty()) {
        throw Error(ExitCode::findings,
                    m->id() + ": " + op.describe() + ": a different constraint of that name already exists; declared " +
                        op.def.describe() + ", " + diff + "; drift is never dropped silently; nothing was changed");
      }
    }
  }
}

// What the database could never build, in any version of the run: refused
// before the first change (the bookkeeping tables included).
void refuse_early(dialect::Migrator& migrator, const std::vector<const Migration*>& todo, bool up) {
  std::vector<Operation> all;
  for (const auto* m : todo) {
    for (const auto& op : m->steps(up)) all.push_back(op);
  }
  migrator.refuse_early(all);
}

// `schema` without the constraints named in `names`.
model::Schema without(model::Schema schema, const std::vector<std::string>& names) {
  if (names.empty()) return schema;
  auto named = [&](const auto& c) { return std::find(names.begin(), names.end(), c.name) != names.end(); };
  for (auto& t : schema.tables) {
    t.checks.erase(std::remove_if(t.checks.begin(), t.checks.end(), named), t.checks.end());
    t.uniques.erase(std::remove_if(t.uniques.begin(), t.uniques.end(), named), t.uniques.end());
  }
  schema.tables.erase(std::remove_if(schema.tables.begin(), schema.tables.end(),
                                     [](const model::Table& t) { return t.checks.empty() && t.uniques.empty(); }),
                      schema.tables.end());
  return schema;
}

void run_steps(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<const Migration*>& todo, bool up,
               bool dry_run, int sample, ApplyResult& result, const Status* status = nullptr,
               const std::vector<std::string>& repaired = {}) {
  if (todo.empty()) return;
  // Refuse, changing nothing, when existing rows break a constraint to be
  // added (going down, the reverse of a drop adds one). Where constraints go
  // in NOT VALID, violations would only show at VALIDATE, so the scan comes
  // first. Elsewhere (SQLite) the rebuild's copy enforces every CHECK and the
  // unique index build every UNIQUE inside the migration's transaction, so a
  // violation rolls it back and the scan then only explains why. A dry run
  // always scans: it must predict the refusal without running anything.
  refuse_same_name_different_definition(db, migrator, todo, up);
  const model::Schema additions = schema_of_additions(todo, up);
  const bool scan_first = db.dialect().capabilities().add_not_valid || dry_run;
  // apply --fix: what the repairs fix after the NOT VALID step is no refusal.
  if (scan_first && refuse_if_violated(db, without(additions, repaired), sample, result)) return;
  const auto dropped = dialect::detail::dropped_checks(db);
  const auto adopted = dialect::detail::adopted(db);
  // What an interrupted run was building (constraintctl_intent): going down,
  // a partially applied version drops only these, and a check drop-checks
  // removed that an interrupted restore put back is dropped again.
  const auto intent = dialect::detail::intents(db);
  auto intended = [&](const std::string& name) {
    return std::find(intent.begin(), intent.end(), name) != intent.end();
  };
  auto is_dropped = [&](const std::string& name) {
    return std::any_of(dropped.begin(), dropped.end(), [&](const auto& d) { return d.name == name; });
  };
  auto partial_version = [&](int version) {
    return status && std::any_of(status->versions.begin(), status->versions.end(), [&](const VersionStatus& v) {
             return v.version == version && v.state == "partially_applied";
           });
  };
  const bool restore_in_progress = status && std::any_of(status->in_progress.begin(), status->in_progress.end(),
                                                         [](const auto& p) { return p.direction == "restore_checks"; });
  size_t restored_left = static_cast<size_t>(
      std::count_if(dropped.begin(), dropped.end(), [&](const auto& d) { return intended(d.name); }));
  for (const auto* m : todo) {
    // Checks that drop-checks already removed are not dropped again; they
    // leave the dropped list with the migration that drops them for good.
    // An adopted constraint (constraintctl did not create it) is never
    // dropped by a migration: it is kept and said so.
    dialect::Work work;
    work.migration = m;
    work.up = up;
    work.partial = !up && partial_version(m->version);
    std::vector<std::string> kept, forget;
    for (const auto& op : m->steps(up)) {
      const bool was_dropped = op.kind == OpKind::drop_check && is_dropped(op.def.name);
      const bool restored = was_dropped && intended(op.def.name);  // put back by an interrupted apply
      if (was_dropped) work.record.push_back(forget_dropped(db.dialect(), op.def.name));
      if (restored) {
        --restored_left;
        forget.push_back(op.def.name);
        work.ops.push_back(op);
      } else if (was_dropped) {
        // drop-checks removed it already
      } else if (work.partial && !op.adds() && !intended(op.def.name)) {
        kept.push_back(op.def.table.str() + "." + op.def.name +
                       ": not built by the interrupted apply of this version, so rollback leaves it");
      } else if (!op.adds() && adopted.count(op.def.name)) {
        kept.push_back(op.def.table.str() + "." + op.def.name + ": adopted (it existed before constraintctl), so " +
                       (up ? "a migration" : "rollback") + " never drops it");
      } else {
        if (work.partial) forget.push_back(op.def.name);
        work.ops.push_back(op);
      }
    }
    // Going down past an interrupted run: its bookkeeping goes with the
    // last step of this one.
    if (work.partial) work.record.push_back(dialect::detail::forget_progress(db.dialect(), m->version, "up"));
    if (!forget.empty()) work.record.push_back(dialect::detail::forget_intents(db.dialect(), forget));
    if (!up && restore_in_progress && restored_left == 0 && m == todo.back())
      work.record.push_back(dialect::detail::forget_progress(db.dialect(), 0, "restore_checks"));
    try {
      result.steps.push_back(run_work(migrator, work, m->id(), dry_run));
      auto& plan = result.steps.back().plan;
      plan.kept.insert(plan.kept.end(), kept.begin(), kept.end());
    } catch (const DatabaseError& e) {
      if (!scan_first && is_violation(e.kind()) && refuse_if_violated(db, additions, sample, result)) return;
      throw;
    }
  }
}

}  // namespace

ApplyResult apply(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                  const ApplyOptions& options, const dialect::MigratorOptions& migrator_options) {
  if (options.to && (*options.to < 0 || *options.to > static_cast<int>(migrations.size()))) {
    throw UsageError("--to " + std::to_string(*options.to) + ": no such version (have 1.." + std::to_string(migrations.size()) + ")");
  }
  LockGuard guard(migrator);
  ApplyResult result;
  Status st = compute_status(migrator, migrations);
  require_consistent(st);
  const int target = options.to.value_or(static_cast<int>(migrations.size()));
  std::vector<const Migration*> todo;
  for (const auto& m : migrations) {
    if (m.version > st.current && m.version <= target) todo.push_back(&m);
  }
  refuse_early(migrator, todo, true);
  bookkeeping(db, options.dry_run, result);
  run_steps(db, migrator, todo, true, options.dry_run, options.sample, result, nullptr, options.repaired);
  if (result.refused) return result;

  // Put back the checks drop-checks removed that the applied state still has.
  const std::vector<ConstraintDef> dropped = dialect::detail::dropped_checks(db);
  dialect::Work restore;
  std::string names;
  std::vector<std::string> forget_names;
  std::vector<Migration> applied;
  for (const auto& m : migrations) {
    if (m.version <= std::max(st.current, target)) applied.push_back(m);
  }
  const State full = replay(applied);
  for (const auto& d : dropped) {
    auto it = full.find(d.name);
    if (it == full.end()) continue;
    restore.ops.push_back(Operation{OpKind::add_check, it->second});
    forget_names.push_back(d.name);
    names += (names.empty() ? "" : ", ") + d.name;
  }
  if (restore.ops.empty()) return result;
  for (auto& sql : forget_dropped(db.dialect(), forget_names)) restore.record.push_back(std::move(sql));
  restore.event = "restore_checks";  // its progress row, when it spans commits (version 0: no version's state)
  Migration pseudo;
  pseudo.operations = restore.ops;
  if (refuse_if_violated(db, without(schema_of_additions({&pseudo}, true), options.repaired), options.sample, result))
    return result;
  restore.record.push_back(
      dialect::detail::history_event(db.dialect(), std::max(st.current, target), "restore_checks", names, migrator_options));
  StepResult step = run_work(migrator, restore, "restore_checks", options.dry_run);
  step.plan.title = "restore the CHECKs drop-checks removed: " + names;
  result.steps.push_back(std::move(step));
  for (const auto& op : restore.ops) result.restored.push_back(op.def.name);
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
  for (auto& d : gone) {
    // The bookkeeping row shows the table; the migrations name it exactly (its schema too).
    if (auto it = state.find(d.name); it != state.end()) d.table = it->second.table;
    state.erase(d.name);
  }
  if (dropped) *dropped = std::move(gone);
  if (status) *status = std::move(st);
  return state;
}

DropChecksResult drop_checks(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations,
                             const std::vector<std::string>& tables, const std::string& constraint,
                             const dialect::MigratorOptions& options, bool dry_run) {
  LockGuard guard(migrator);
  DropChecksResult result;
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
    const bool known =
        std::any_of(state.begin(), state.end(), [&](const auto& kv) { return kv.second.table.str() == t; }) ||
        std::any_of(already.begin(), already.end(), [&](const auto& d) { return d.table.str() == t; });
    if (!known) throw UsageError("--table " + t + ": no applied constraint on that table");
  }
  dialect::Work work;
  auto& ops = work.ops;
  auto& record = work.record;
  std::string names;
  std::vector<std::string> dropped_rows;
  const auto& d = db.dialect();
  const std::string now = d.now_text();
  const auto adopted = dialect::detail::adopted(db);
  for (const auto& [name, def] : state) {
    if (def.unique) continue;
    if (!constraint.empty() && name != constraint) continue;
    if (!tables.empty() && std::find(tables.begin(), tables.end(), def.table.str()) == tables.end()) continue;
    if (adopted.count(name)) {
      if (constraint.empty()) {
        result.kept.push_back(def);  // only dropped when named with --constraint
        continue;
      }
      // Named: dropped, and constraintctl owns it from now on (apply restores it).
      result.adopted_dropped.push_back(name);
      record.push_back(std::string("DELETE FROM ") + dialect::kAdoptedTable + " WHERE name = " + d.quote_string(name));
    }
    ops.push_back(Operation{OpKind::drop_check, def});
    dropped_rows.push_back("(" + d.quote_string(name) + ", " + d.quote_string(def.table.str()) + ", " +
                           d.quote_string(def.check) + ", " + now + ", " + d.quote_string(options.applied_by) + ")");
    names += (names.empty() ? "" : ", ") + name;
    result.dropped.push_back(def);
  }
  if (ops.empty()) return result;
  // One statement per kBatchRows CHECKs dropped, not one per CHECK (hundreds of tables).
  for (size_t i = 0; i < dropped_rows.size(); i += kBatchRows) {
    std::string values;
    for (size_t j = i; j < std::min(dropped_rows.size(), i + kBatchRows); ++j)
      values += (values.empty() ? "" : ", ") + dropped_rows[j];
    record.push_back(std::string("INSERT INTO ") + dialect::kDroppedTable +
                     " (name, table_name, definition, dropped_at, dropped_by) VALUES " + values);
  }
  bookkeeping(db, dry_run, result.run);
  record.push_back(dialect::detail::history_event(d, st.current, "drop_checks", names, options));
  StepResult step = run_work(migrator, work, "drop_checks", dry_run);
  step.plan.title = "drop-checks: " + names;
  for (const auto& name : result.adopted_dropped) {
    step.plan.notes.push_back(name +
                              " was adopted (it existed before constraintctl); dropped because --constraint names it");
  }
  for (const auto& k : result.kept) {
    step.plan.kept.push_back(k.table.str() + "." + k.name +
                             ": adopted (it existed before constraintctl); drop-checks drops it only when "
                             "named with --constraint");
  }
  result.run.steps.push_back(std::move(step));
  return result;
}

ApplyResult rollback(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<Migration>& migrations, int to,
                     bool dry_run, const dialect::MigratorOptions&) {
  if (to < 0 || to > static_cast<int>(migrations.size())) throw UsageError("--to " + std::to_string(to) + ": no such version");
  LockGuard guard(migrator);
  ApplyResult result;
  result.dry_run = dry_run;
  Status st = compute_status(migrator, migrations);
  require_consistent(st);
  std::vector<const Migration*> todo;
  for (auto it = migrations.rbegin(); it != migrations.rend(); ++it) {
    // A version an interrupted apply left partially applied is undone too:
    // the steps it did, not what it found.
    const bool partial = std::any_of(st.versions.begin(), st.versions.end(), [&](const VersionStatus& v) {
      return v.version == it->version && v.state == "partially_applied";
    });
    if (it->version > to && (it->version <= st.current || partial)) todo.push_back(&*it);
  }
  refuse_early(migrator, todo, false);
  run_steps(db, migrator, todo, false, dry_run, 0, result, &st);
  return result;
}

}  // namespace cc::migrate
