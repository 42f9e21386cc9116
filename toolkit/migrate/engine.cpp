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
  {
    // Scan first: refuse, changing nothing, when existing rows break a
    // constraint to be added (going down, the reverse of a drop adds one).
    model::Schema additions = schema_of_additions(todo, up);
    if (!additions.tables.empty()) {
      scan::ScanOptions so;
      so.sample = sample;
      scan::ScanReport report = scan::run_scan(db, additions, so);
      if (report.total_violations() > 0) {
        result.refused = std::move(report);
        return result;
      }
    }
  }
  for (const auto* m : todo) {
    StepResult step;
    step.id = m->id();
    step.direction = up ? "up" : "down";
    if (dry_run) {
      step.plan = migrator.plan(*m, up);
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        step.ran = migrator.run(*m, up);
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
                  const ApplyOptions& options) {
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
  return run_steps(db, migrator, todo, true, options.dry_run, options.sample);
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
