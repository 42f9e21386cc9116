#include "scan/scanner.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "core/error.h"
#include "model/expression.h"
#include "scan/scan_sql.h"

namespace cc::scan {
namespace {

using dialect::Row;
using dialect::TableInfo;

struct TablePlan {
  const model::Table* spec;
  TableInfo info;
  std::vector<std::string> key;  // primary key columns, or the row id
};

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// Collects every mismatch between the schema and the database before any scan.
class Validation {
 public:
  void add(const model::SourceLocation& where, const std::string& message) {
    lines_.push_back(where.str() + ": " + message);
  }
  void raise_if_any() const {
    if (lines_.empty()) return;
    std::string message = "the schema does not fit the database:";
    for (const auto& l : lines_) message += "\n  " + l;
    throw UsageError(message);
  }

 private:
  std::vector<std::string> lines_;
};

void require_column(const TableInfo& info, const std::string& column, const model::SourceLocation& where,
                    const std::string& what, Validation& v) {
  if (!column.empty() && !info.find_column(column)) {
    v.add(where, what + ": table " + in_quotes(info.name.str()) + " has no column " + in_quotes(column));
  }
}

void validate_expr(dialect::Connection& db, const model::TableName& table, const std::string& expr,
                   const model::SourceLocation& where, const std::string& what, Validation& v) {
  try {
    db.validate_expression(table, expr);
  } catch (const Error& e) {
    v.add(where, what + ": the database rejects the expression: " + e.what());
  }
}

// Why `spec` names no table of the database, with what it probably meant: a
// dotted name that is a table of another schema.
std::string missing_table(dialect::Connection& db, const model::Table& spec) {
  std::string why = "table " + in_quotes(spec.name.str()) + " does not exist in the database";
  const auto dot = spec.name.name.find('.');
  if (!spec.name.schema.empty() || dot == std::string::npos || !db.dialect().capabilities().schemas) return why;
  const model::TableName split{spec.name.name.substr(dot + 1), spec.name.name.substr(0, dot)};
  if (split.name.empty() || split.schema.empty() || !db.inspect_table(split).exists) return why;
  return why + "; table " + in_quotes(split.name) + " of schema " + in_quotes(split.schema) +
         " does: write schema = \"" + split.schema + "\" and table = \"" + split.name + "\"";
}

// A schema the dialect does not have, said at the table's file and line.
bool refuse_schema(dialect::Connection& db, const model::Table& spec, Validation& v) {
  if (spec.name.schema.empty() || db.dialect().capabilities().schemas) return false;
  v.add(spec.schema_where.line > 0 ? spec.schema_where : spec.where,
        "schema = " + in_quotes(spec.name.schema) + ": " + std::string(db.dialect().name()) +
            " has no schemas; remove the key (the table is named by 'table' alone)");
  return true;
}

// `info`: the table as inspect_tables() read it, for all tables at once.
TablePlan plan_table(dialect::Connection& db, const model::Table& spec, TableInfo info, Validation& v) {
  TablePlan plan{&spec, {}, {}};
  plan.info.name = spec.name;
  if (refuse_schema(db, spec, v)) return plan;
  plan.info = std::move(info);
  if (!plan.info.exists) {
    v.add(spec.where, missing_table(db, spec));
    return plan;
  }
  plan.key = plan.info.primary_key.empty() ? std::vector<std::string>{plan.info.row_id} : plan.info.primary_key;
  if (plan.key.size() == 1 && plan.key[0].empty()) plan.key.clear();
  for (const auto& c : spec.checks) {
    const std::string what = "check " + in_quotes(c.name);
    if (c.structured()) {
      require_column(plan.info, c.column, c.where, what, v);
    } else {
      validate_expr(db, spec.name, c.expr, c.where, what, v);
    }
    require_column(plan.info, c.repair.column, c.repair.where, what + " repair", v);
    if (c.repair.policy == model::RepairPolicy::set_expr) {
      validate_expr(db, spec.name, c.repair.expr + " IS NULL", c.repair.where, what + " repair expr", v);
    }
  }
  for (const auto& u : spec.uniques) {
    const std::string what = "unique " + in_quotes(u.name);
    for (const auto& col : u.columns) require_column(plan.info, col, u.where, what, v);
    if (!u.where_expr.empty()) validate_expr(db, spec.name, u.where_expr, u.where, what + " where", v);
    require_column(plan.info, u.repair.by, u.repair.where, what + " repair", v);
  }
  return plan;
}

std::vector<std::string> shown_columns(const model::Check& c, const TableInfo& info,
                                       const std::vector<std::string>& key) {
  std::vector<std::string> out;
  auto add = [&](const std::string& col) {
    if (col.empty() || !info.find_column(col)) return;
    auto same = [&](const std::string& other) { return info.same_name(other, col); };
    if (std::any_of(key.begin(), key.end(), same)) return;
    if (std::none_of(out.begin(), out.end(), same)) out.push_back(col);
  };
  add(c.column);
  if (!c.structured()) {
    for (const auto& id : model::expression_identifiers(c.expr)) add(id);
  }
  add(c.repair.column);
  return out;
}

bool has_constraint(const TableInfo& info, const std::string& name) { return info.find_constraint(name) != nullptr; }

// One query of a scan. Every query reads the same snapshot, so units run on
// any connection in any order, and the report is assembled in the serial
// order afterwards: per table its CHECKs, then its UNIQUEs.
struct Unit {
  enum class Kind { counts, unique, samples, dangling } kind = Kind::counts;
  size_t plan = 0;
  size_t item = 0;    // samples: the CHECK's index; unique: the UNIQUE's index
  std::string range;  // counts: one part of the table ("" = all of it); dangling: the query
  std::string of_table;  // dangling: the referencing table ("" = every table)
  std::vector<DanglingKeys> dangling;
  std::vector<std::int64_t> counts;
  std::vector<std::vector<dialect::Value>> keys;    // keep_keys: rows breaking a CHECK
  bool keys_complete = true;                        // false: too many to keep
  std::vector<std::vector<dialect::Value>> groups;  // keep_keys, unique: the duplicated groups
  bool groups_kept = false;
  ConstraintScan unique;
  std::vector<Sample> samples;
};

std::vector<const model::Check*> checks_of(const model::Table& t) {
  std::vector<const model::Check*> out;
  for (const auto& c : t.checks) out.push_back(&c);
  return out;
}

// Rows whose foreign key points at no row, per referencing and parent table,
// of the tables `sql` (Dialect::dangling_keys_sql) lists; ordered by both.
std::vector<DanglingKeys> count_dangling(dialect::Connection& db, const std::string& sql) {
  std::vector<DanglingKeys> out;
  db.query("SELECT \"table\", parent, count(*) FROM (" + sql + ") AS cc_fk GROUP BY 1, 2 ORDER BY 1, 2",
           [&](const Row& r) {
             out.push_back({dialect::value_text(r[0]), dialect::value_text(r[1]), dialect::value_int(r[2])});
           });
  return out;
}

void run_unit(dialect::Connection& db, const TablePlan& plan, const ScanOptions& options, Unit& u) {
  const auto& d = db.dialect();
  const auto& spec = *plan.spec;
  switch (u.kind) {
    case Unit::Kind::dangling: u.dangling = count_dangling(db, u.range); break;
    case Unit::Kind::counts: {
      const auto checks = checks_of(spec);
      u.counts.assign(checks.size(), 0);
      std::string range = u.range;
      if (auto it = options.check_rows.find(spec.name.str()); it != options.check_rows.end())
        range = range.empty() ? it->second : "(" + range + ") AND (" + it->second + ")";
      if (options.keep_keys && !plan.key.empty()) {
        // Beyond this many a fix collects the rows itself in its own pass:
        // what the client holds for it stays bounded however large the
        // table (a kept key costs about 100 bytes, and a statement listing
        // them as many more).
        constexpr size_t kMaxKeys = 50000;
        const size_t k = plan.key.size();
        db.stream(check_rows_query(spec.name, checks, plan.key, d, range), [&](const Row& r) {
          for (size_t i = 0; i < checks.size() && k + i < r.size(); ++i) u.counts[i] += dialect::value_int(r[k + i]);
          if (!u.keys_complete) return;
          if (u.keys.size() >= kMaxKeys) {
            u.keys_complete = false;
            std::vector<std::vector<dialect::Value>>().swap(u.keys);  // the memory too
            return;
          }
          u.keys.emplace_back(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(k));
        });
        break;
      }
      db.query(check_count_query(spec.name, checks, d, range), [&](const Row& r) {
        for (size_t i = 0; i < checks.size() && i < r.size(); ++i) u.counts[i] = dialect::value_int(r[i]);
      });
      break;
    }
    case Unit::Kind::samples: {
      const auto& c = spec.checks[u.item];
      const auto shown = shown_columns(c, plan.info, plan.key);
      db.query(check_sample_query(spec.name, c, plan.key, shown, options.sample, d), [&](const Row& r) {
        Sample sample;
        for (size_t k = 0; k < plan.key.size(); ++k) sample.key.emplace_back(plan.key[k], r[k]);
        for (size_t k = 0; k < shown.size(); ++k) sample.values.emplace_back(shown[k], r[plan.key.size() + k]);
        u.samples.push_back(std::move(sample));
      });
      break;
    }
    case Unit::Kind::unique: {
      const auto& un = spec.uniques[u.item];
      ConstraintScan& s = u.unique;
      s.table = spec.name.str();
      s.name = un.name;
      s.kind = "unique";
      for (size_t i = 0; i < un.columns.size(); ++i) s.definition += (i ? ", " : "") + d.quote_ident(un.columns[i]);
      s.definition = "UNIQUE (" + s.definition + ")" + (un.where_expr.empty() ? "" : " WHERE " + un.where_expr);
      s.present = has_constraint(plan.info, un.name);
      s.policy = un.repair.policy;
      s.where = un.where;
      const int limit = plan.key.empty() ? 0 : options.sample;
      if (options.keep_keys && limit <= 0) {
        // The same grouped pass, keeping each duplicated group's values.
        constexpr size_t kMaxGroups = 10000;
        const size_t k = un.columns.size();
        u.groups_kept = true;
        db.stream(unique_groups_query(spec.name, un, d), [&](const Row& r) {
          const std::int64_t n = k < r.size() ? dialect::value_int(r[k]) : 0;
          s.groups += 1;
          s.violations += n - 1;
          if (!u.groups_kept) return;
          if (u.groups.size() >= kMaxGroups) {
            u.groups_kept = false;
            u.groups.clear();
            return;
          }
          u.groups.emplace_back(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(std::min(k, r.size())));
        });
        break;
      }
      db.query(unique_query(spec.name, un, plan.key, limit, d), [&](const Row& r) {
        s.groups = dialect::value_int(r[0]);
        s.violations = dialect::value_int(r[1]);
        if (std::holds_alternative<std::monostate>(r[2])) return;  // no sample group
        Sample sample;
        sample.rows = dialect::value_int(r[2]);
        sample.ids = dialect::value_text(r[3]);
        for (size_t k = 0; k < un.columns.size(); ++k) sample.values.emplace_back(un.columns[k], r[4 + k]);
        s.samples.push_back(std::move(sample));
      });
      break;
    }
  }
}

// Runs `units` on the connections, one thread per connection (none for one
// connection). The first failure stops the rest and is rethrown naming its
// table.
void run_units(const std::vector<dialect::Connection*>& conns, const std::vector<TablePlan>& plans,
               const ScanOptions& options, std::vector<Unit>& units, std::vector<bool>& announced) {
  std::mutex m;
  size_t next = 0;
  std::exception_ptr failure;
  std::string failed_at;
  auto work = [&](dialect::Connection& db) {
    for (;;) {
      Unit* u = nullptr;
      {
        std::lock_guard<std::mutex> lock(m);
        if (failure || next >= units.size()) return;
        u = &units[next++];
        if (u->kind != Unit::Kind::dangling && !announced[u->plan]) {
          announced[u->plan] = true;
          if (options.progress) {
            options.progress(plans[u->plan].spec->name.str(),
                             static_cast<size_t>(std::count(announced.begin(), announced.end(), true)) - 1,
                             plans.size());
          }
        }
      }
      try {
        run_unit(db, plans[u->plan], options, *u);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!failure) {
          failure = std::current_exception();
          failed_at = u->kind != Unit::Kind::dangling ? "table " + in_quotes(plans[u->plan].spec->name.str())
                      : u->of_table.empty()           ? std::string("the foreign keys of the database")
                                                      : "the foreign keys of table " + in_quotes(u->of_table);
        }
        return;
      }
    }
  };
  if (conns.size() == 1) {
    work(*conns[0]);
  } else {
    std::vector<std::thread> threads;
    for (auto* c : conns) threads.emplace_back(work, std::ref(*c));
    for (auto& t : threads) t.join();
  }
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    rethrow_with_context(e, failed_at);
  }
}

// Every declared constraint of `plans` counted (and sampled) on `conns`,
// all reading one snapshot; in the serial order. `dangling`: queries listing
// rows whose foreign key points at no row (per referencing table, or one for
// the whole database), counted in the same snapshot.
void scan_tables(dialect::Connection& main, const std::vector<dialect::Connection*>& conns,
                 const std::vector<TablePlan>& plans, const ScanOptions& options,
                 const std::vector<std::pair<std::string, std::string>>& dangling, ScanReport& report) {
  std::vector<bool> announced(plans.size(), false);
  std::vector<Unit> units;
  for (size_t p = 0; p < plans.size(); ++p) {
    if (plans[p].spec->checks.empty()) continue;
    std::vector<std::string> ranges;
    if (conns.size() > 1)
      ranges = main.split_ranges(plans[p].spec->name, static_cast<int>(conns.size()), options.split_min_rows);
    if (ranges.empty()) ranges.emplace_back();
    for (auto& r : ranges) {
      Unit u;
      u.plan = p;
      u.range = std::move(r);
      units.push_back(std::move(u));
    }
  }
  for (size_t p = 0; p < plans.size(); ++p) {
    for (size_t i = 0; i < plans[p].spec->uniques.size(); ++i) {
      const auto& skip = options.skip_uniques;
      if (std::find(skip.begin(), skip.end(), plans[p].spec->uniques[i].name) != skip.end()) continue;
      Unit u;
      u.kind = Unit::Kind::unique;
      u.plan = p;
      u.item = i;
      units.push_back(std::move(u));
    }
  }
  for (const auto& [table, sql] : dangling) {
    Unit u;
    u.kind = Unit::Kind::dangling;
    u.range = sql;
    u.of_table = table;
    units.push_back(std::move(u));
  }
  // Serial: the declared order, which keeps the progress line readable.
  // Parallel: the passes that cannot be split first (each UNIQUE's grouping,
  // each table's foreign keys), then the CHECK ranges, which fill in around
  // them: the longest first balances the connections.
  if (conns.size() > 1)
    std::stable_partition(units.begin(), units.end(), [](const Unit& u) { return u.kind != Unit::Kind::counts; });
  run_units(conns, plans, options, units, announced);
  for (auto& u : units) {
    for (auto& k : u.dangling) report.dangling.push_back(std::move(k));
  }
  std::sort(report.dangling.begin(), report.dangling.end(), [](const DanglingKeys& a, const DanglingKeys& b) {
    return std::tie(a.table, a.parent) < std::tie(b.table, b.parent);
  });

  std::vector<std::vector<std::int64_t>> counts(plans.size());
  std::vector<bool> keys_complete(plans.size(), options.keep_keys);
  for (auto& u : units) {
    if (u.kind != Unit::Kind::counts) continue;
    auto& sum = counts[u.plan];
    sum.resize(u.counts.size(), 0);
    for (size_t i = 0; i < u.counts.size(); ++i) sum[i] += u.counts[i];
    keys_complete[u.plan] = keys_complete[u.plan] && u.keys_complete && !plans[u.plan].key.empty();
  }
  for (auto& u : units) {
    if (u.kind != Unit::Kind::counts || !keys_complete[u.plan]) continue;
    auto& keys = report.check_keys[plans[u.plan].spec->name.str()];
    for (auto& k : u.keys) keys.push_back(std::move(k));
  }
  // Samples: the first rows by key of each violated CHECK, one query each.
  std::vector<Unit> sample_units;
  for (size_t p = 0; p < plans.size(); ++p) {
    if (options.sample <= 0 || plans[p].key.empty()) continue;
    for (size_t i = 0; i < counts[p].size(); ++i) {
      if (counts[p][i] == 0) continue;
      Unit u;
      u.kind = Unit::Kind::samples;
      u.plan = p;
      u.item = i;
      sample_units.push_back(std::move(u));
    }
  }
  std::fill(announced.begin(), announced.end(), true);  // progress was shown
  run_units(conns, plans, options, sample_units, announced);

  const auto& d = main.dialect();
  for (size_t p = 0; p < plans.size(); ++p) {
    const auto& plan = plans[p];
    for (size_t i = 0; i < plan.spec->checks.size(); ++i) {
      const auto& c = plan.spec->checks[i];
      ConstraintScan s;
      s.table = plan.spec->name.str();
      s.name = c.name;
      s.kind = "check";
      s.definition = check_predicate(c, d);
      s.violations = i < counts[p].size() ? counts[p][i] : 0;
      s.present = has_constraint(plan.info, c.name);
      s.policy = c.repair.policy;
      s.where = c.where;
      if (s.violations > 0) s.repair_refused = catalog_repair_refusal(c, c.repair, plan.info);
      for (auto& u : sample_units) {
        if (u.plan == p && u.item == i) s.samples = std::move(u.samples);
      }
      report.constraints.push_back(std::move(s));
    }
    for (auto& u : units) {
      if (u.kind != Unit::Kind::unique || u.plan != p) continue;
      if (u.groups_kept) report.unique_groups[u.unique.name] = std::move(u.groups);
      report.constraints.push_back(std::move(u.unique));
    }
  }
}

}  // namespace

std::int64_t ScanReport::total_violations() const {
  std::int64_t n = 0;
  for (const auto& c : constraints) n += c.violations;
  return n;
}

size_t ScanReport::violated_constraints() const {
  return static_cast<size_t>(
      std::count_if(constraints.begin(), constraints.end(), [](const auto& c) { return c.violations > 0; }));
}

std::string catalog_repair_refusal(const model::Check& check, const model::Repair& repair, const TableInfo& table) {
  using P = model::RepairPolicy;
  if (repair.policy == P::report || repair.policy == P::delete_row || repair.policy == P::delete_duplicates) return "";
  const std::string target = repair.column.empty() ? check.column : repair.column;
  const auto* col = table.find_column(target);
  if (!col) return "";  // reported by the schema validation
  if (col->generated)
    return "column '" + target + "' is a generated column: the database computes it and refuses every write to it";
  if (repair.policy == P::set_null && col->not_null) {
    return "column '" + target + "' is NOT NULL, so the database would reject every row this repair sets to NULL";
  }
  if (repair.policy == P::set_default && col->default_sql.empty())
    return "column '" + target + "' has no default to set";
  for (const auto& k : table.primary_key) {
    if (table.same_name(k, target))
      return "column '" + target +
             "' is part of the primary key, by which the audit names each row it changes: fix-undo could not find a "
             "row whose key the repair rewrote";
  }
  return "";
}

ScanReport run_scan(dialect::Connection& db, const model::Schema& schema, const ScanOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<const model::Table*> tables;
  for (const auto& name : options.tables) {
    const auto* t = schema.find_table(name);
    if (!t) throw UsageError("--table " + in_quotes(name) + ": no such table in the schema");
  }
  for (const auto& t : schema.tables) {
    if (options.tables.empty() ||
        std::find(options.tables.begin(), options.tables.end(), t.name.str()) != options.tables.end()) {
      tables.push_back(&t);
    }
  }

  ScanReport report;
  report.dialect = std::string(db.dialect().name());
  report.tables = tables.size();
  // Validation runs outside the snapshot: on PostgreSQL a rejected expression
  // aborts the surrounding transaction.
  Validation validation;
  std::vector<TablePlan> plans;
  std::vector<model::TableName> names;
  for (const auto* t : tables) {
    if (t->name.schema.empty() || db.dialect().capabilities().schemas) names.push_back(t->name);
  }
  auto infos = db.inspect_tables(names);  // the catalog in one read per kind of object
  size_t next = 0;
  for (const auto* t : tables) {
    const bool has_schema = t->name.schema.empty() || db.dialect().capabilities().schemas;
    plans.push_back(plan_table(db, *t, has_schema ? std::move(infos[next++]) : TableInfo{}, validation));
  }
  validation.raise_if_any();

  std::optional<dialect::Transaction> snapshot;
  std::vector<std::unique_ptr<dialect::Connection>> helpers;
  std::vector<std::unique_ptr<dialect::Transaction>> helper_snapshots;
  int jobs = options.jobs;
  if (jobs <= 0) {
    // Parallel only where a CHECK pass splits: otherwise the extra
    // connections cost more than they read.
    jobs = db.dialect().capabilities().scan_jobs;
    const bool splits =
        jobs > 1 && std::any_of(plans.begin(), plans.end(), [&](const TablePlan& p) {
          return !p.spec->checks.empty() && !db.split_ranges(p.spec->name, 2, options.split_min_rows).empty();
        });
    if (!splits) jobs = 1;
  }
  if (!options.inside_transaction) {
    if (jobs > 1 && options.open && !plans.empty()) {
      helpers = db.begin_shared_snapshot(jobs - 1, options.open);
      snapshot.emplace(db, dialect::Transaction::Mode::begun);
      for (auto& h : helpers)
        helper_snapshots.push_back(std::make_unique<dialect::Transaction>(*h, dialect::Transaction::Mode::begun));
    } else {
      snapshot.emplace(db, dialect::Transaction::Mode::read_snapshot);
    }
  }
  std::vector<dialect::Connection*> conns{&db};
  for (auto& h : helpers) conns.push_back(h.get());
  report.jobs = conns.size();
  // Pre-existing dangling keys: not this schema's findings, but a SQLite
  // rebuild of these tables checks their foreign keys, so they are shown.
  // Only when a rebuild is pending (a declared CHECK not in the catalog yet):
  // the check costs an index probe per row, and a scan run from cron after
  // the apply should not pay for it every time. Then the whole database: a
  // dangling key elsewhere is worth knowing about before a migration, and is
  // never blamed on it. Read in parallel one referencing table at a time.
  report.checked_foreign_keys = options.foreign_keys;
  const bool pending = std::any_of(plans.begin(), plans.end(), [&](const TablePlan& p) {
    return std::any_of(p.spec->checks.begin(), p.spec->checks.end(),
                       [&](const model::Check& c) { return !has_constraint(p.info, c.name); });
  });
  const std::string everywhere = options.foreign_keys && pending ? db.dialect().dangling_keys_sql({}) : "";
  std::vector<std::pair<std::string, std::string>> dangling;
  if (!everywhere.empty() && conns.size() == 1) dangling.emplace_back("", everywhere);
  if (!everywhere.empty() && conns.size() > 1) {
    for (const auto& t : db.list_tables())
      dangling.emplace_back(t, db.dialect().dangling_keys_sql(model::TableName{t}));
  }
  scan_tables(db, conns, plans, options, dangling, report);
  for (auto& t : helper_snapshots) t->rollback();
  if (snapshot) snapshot->rollback();
  report.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace cc::scan
