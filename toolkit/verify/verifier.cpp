#include "verify/verifier.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "migrate/engine.h"
#include "model/expression.h"
#include "verify/probe_values.h"

namespace cc::verify {
namespace {

using dialect::ExistingConstraint;
using dialect::Row;
using dialect::TableInfo;
using dialect::Value;

std::string literal_of(const dialect::Dialect& d, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "NULL";
  if (std::holds_alternative<std::string>(v)) return d.quote_string(std::get<std::string>(v));
  return dialect::value_text(v);
}

std::string key_col(const dialect::Dialect& d, const std::string& c) { return d.column_ref("", c); }

// Names compare as the table's database compares them (SQLite: ASCII case aside).
bool subset_of(const TableInfo& info, const std::vector<std::string>& small, const std::vector<std::string>& big) {
  return !small.empty() && std::all_of(small.begin(), small.end(), [&](const std::string& c) {
    return std::any_of(big.begin(), big.end(), [&](const std::string& b) { return info.same_name(b, c); });
  });
}

// What a probe write met.
struct Outcome {
  bool refused = false;
  bool breaks = false;  // accepted, and the row written breaks the condition
  DbErrorKind kind = DbErrorKind::other;
  DbErrorDetail detail;
  std::string message;
};

class Prober {
 public:
  Prober(dialect::Connection& db) : db_(db), d_(db.dialect()) {}

  // The caller runs every probe in one transaction that is rolled back at
  // the end (dialect::Transaction in probes mode).

  // An adopted unnamed CHECK (SQLite inline) is named in errors by its text.
  void alias(const std::string& name, const std::string& reported_as) { aliases_[name] = reported_as; }

  // "" when rejected by this constraint (`how` says by which value) or when
  // no probe could prove anything (`how` starts with "skipped: "); otherwise
  // why it is not enforced: a written row breaks the condition.
  std::string check(const migrate::ConstraintDef& def, const TableInfo& info, std::string& how) {
    std::vector<const dialect::ColumnInfo*> cols;
    for (const auto& id : model::expression_identifiers(def.check)) {
      const auto* c = info.find_column(id);
      if (c && !c->generated && std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
    }
    const auto key = keys(info);
    // A rule on generated columns only (total <= 1000, total = price * qty)
    // is broken through the columns they are computed from: try them all.
    if (cols.empty()) {
      for (const auto& c : info.columns) {
        if (!c.generated && !c.identity_always && std::find(key.begin(), key.end(), c.name) == key.end()) cols.push_back(&c);
      }
    }
    if (cols.empty()) {
      how = "skipped: the condition names no column of the table that can be written";
      return "";
    }
    const std::vector<Value> row = first_rows(info, key, "", 1);
    const std::string table = d_.quote_table(info.name);
    if (row.empty() && d_.capabilities().insert_probe_leaves_trace) {
      how = "skipped: the table is empty and an INSERT probe would advance sequences; the catalog shows it validated";
      return "";
    }
    if (auto why = lacks_privilege(info, row.empty() ? "INSERT" : "UPDATE"); !why.empty()) {
      how = why;
      return "";
    }
    // Whether the probe row, as written, breaks the condition: only then
    // does an accepted write prove the rule is not enforced.
    const std::string broken = "SELECT count(*) FROM " + table + " WHERE " +
                               (row.empty() ? "" : where_key(key, row) + " AND ") + "NOT (" + def.check + ")";
    size_t tried = 0;
    std::string refused_by;
    // One probe: `assigned` (column = value, ...) written to the probe row.
    // True when it settled the verdict (`how` or the returned finding set).
    std::string finding;
    auto probe = [&](const std::vector<std::pair<const dialect::ColumnInfo*, std::string>>& assigned) {
      std::vector<std::string> names, values, sets;
      for (const auto& [col, v] : assigned) {
        names.push_back(d_.quote_ident(col->name));
        values.push_back(v);
        sets.push_back(d_.quote_ident(col->name) + " = " + v);
      }
      const std::string said = text::join(sets, ", ");
      const std::string sql = row.empty() ? "INSERT INTO " + table + " (" + text::join(names, ", ") + ") VALUES (" +
                                                text::join(values, ", ") + ")"
                                          : "UPDATE " + table + " SET " + said + " WHERE " + where_key(key, row);
      ++tried;
      const Outcome o = attempt(sql, broken);
      if (auto why = not_run(o); !why.empty()) {
        how = why;
        return true;
      }
      if (o.refused && o.kind == DbErrorKind::check_violation &&
          (info.same_name(o.detail.constraint, def.name) ||
           (aliases_.count(def.name) && o.detail.constraint == aliases_[def.name]))) {
        how = "rejected: " + said;
        return true;
      }
      if (!o.refused && o.breaks) {
        finding = "the database accepted " + said + ", which breaks the condition";
        return true;
      }
      // Refused by another rule (a type, NOT NULL, another CHECK), or the
      // value keeps the rule: try the next.
      if (o.refused && refused_by.empty()) refused_by = o.message;
      return false;
    };
    std::vector<std::vector<std::string>> values;
    for (const auto* col : cols) values.push_back(probe_values(*col, def.check, d_));
    for (size_t i = 0; i < cols.size(); ++i) {
      for (const auto& v : values[i]) {
        if (probe({{cols[i], v}})) return finding;
      }
    }
    // A rule of several columns that no one of them breaks alone from the
    // probe row (a OR b, "status <> 'x' OR amount >= 1"): two at a time,
    // within a bounded number of writes.
    constexpr size_t kMaxPairProbes = 600;
    const size_t before_pairs = tried;
    for (size_t i = 0; i < cols.size() && tried - before_pairs < kMaxPairProbes; ++i) {
      for (size_t j = i + 1; j < cols.size() && tried - before_pairs < kMaxPairProbes; ++j) {
        for (const auto& a : values[i]) {
          for (const auto& b : values[j]) {
            if (tried - before_pairs >= kMaxPairProbes) break;
            if (probe({{cols[i], a}, {cols[j], b}})) return finding;
          }
        }
      }
    }
    std::string names;
    for (const auto* c : cols) names += (names.empty() ? "" : ", ") + model::printable(c->name);
    how = "skipped: none of " + std::to_string(tried) + " probe writes to " + names +
          " broke the condition without first breaking another rule" +
          (refused_by.empty() ? "" : " (such as: " + refused_by + ")") + "; the catalog shows it validated";
    return "";
  }

  // "skipped: ..." when the role may not write the probe at all: asked
  // before trying, so the answer is at once and never taken for a verdict.
  // Asked once per table and privilege: every constraint of the table shares the answer.
  std::string lacks_privilege(const TableInfo& info, const std::string& privilege) {
    const std::string sql = d_.has_privilege_sql(info.name, privilege);
    if (sql.empty()) return "";
    auto known = privileges_.find(sql);
    if (known == privileges_.end()) {
      std::int64_t allowed = 1;
      db_.query(sql, [&](const dialect::Row& r) { allowed = dialect::value_int(r[0]); });
      known = privileges_.emplace(sql, allowed != 0).first;
    }
    return known->second ? ""
                         : "skipped: no " + privilege + " privilege on " + info.name.str() + " to write a probe row";
  }

  std::string unique(const migrate::ConstraintDef& def, const TableInfo& info, std::string& how) {
    const auto key = keys(info);
    std::string scope;
    for (const auto& c : def.columns) scope += (scope.empty() ? "" : " AND ") + d_.quote_ident(c) + " IS NOT NULL";
    if (!def.where.empty()) scope += " AND (" + def.where + ")";
    std::vector<Value> rows = first_rows(info, key, scope, 2);
    if (rows.size() < 2 * key.size()) {
      how = "skipped: fewer than two rows in the constraint's scope to collide";
      return "";
    }
    if (auto why = lacks_privilege(info, "UPDATE"); !why.empty()) {
      how = why;
      return "";
    }
    std::vector<Value> first(rows.begin(), rows.begin() + key.size()), second(rows.begin() + key.size(), rows.end());
    std::string sets;
    for (const auto& c : def.columns) {
      sets += (sets.empty() ? "" : ", ") + d_.quote_ident(c) + " = (SELECT " + d_.quote_ident(c) + " FROM " +
              d_.quote_table(info.name) + " WHERE " + where_key(key, first) + ")";
    }
    const Outcome o =
        attempt("UPDATE " + d_.quote_table(info.name) + " SET " + sets + " WHERE " + where_key(key, second));
    if (auto why = not_run(o); !why.empty()) {
      how = why;
      return "";
    }
    if (o.refused && o.kind == DbErrorKind::unique_violation) {
      const std::string by = unique_rejecter(def, info, o);
      if (by == def.name) {
        how = "rejected: a second row given the first row's key";
        return "";
      }
      if (!by.empty()) {
        how = "rejected: a second row given the first row's key; enforced, also covered by " + by;
        return "";
      }
    }
    if (o.refused) return "the probe was refused, but not by a UNIQUE on these columns (" + o.message + ")";
    return "a duplicate key was accepted";
  }

 private:
  std::vector<std::string> keys(const TableInfo& info) {
    if (!info.primary_key.empty()) return info.primary_key;
    return {info.row_id.empty() ? "rowid" : info.row_id};
  }

  // Every probe is rolled back, so the same query gives the same rows for
  // the whole run: read once (the CHECKs of one table share one probe row).
  std::vector<Value> first_rows(const TableInfo& info, const std::vector<std::string>& key, const std::string& scope, int n) {
    std::string cols;
    for (const auto& k : key) cols += (cols.empty() ? "" : ", ") + key_col(d_, k);
    const std::string sql = "SELECT " + cols + " FROM " + d_.quote_table(info.name) +
                            (scope.empty() ? "" : " WHERE " + scope) + " ORDER BY " + cols + " LIMIT " +
                            std::to_string(n);
    if (auto known = rows_.find(sql); known != rows_.end()) return known->second;
    std::vector<Value> out;
    db_.query(sql, [&](const Row& r) { out.insert(out.end(), r.begin(), r.end()); });
    rows_.emplace(sql, out);
    return out;
  }

  std::string where_key(const std::vector<std::string>& key, const std::vector<Value>& values) {
    std::string w;
    for (size_t i = 0; i < key.size(); ++i) {
      w += (w.empty() ? "" : " AND ") + key_col(d_, key[i]) + " = " + literal_of(d_, values[i]);
    }
    return w;
  }

  // "skipped: ..." when the probe could not run at all (a lock or statement
  // timeout, no privilege): that proves nothing either way.
  static std::string not_run(const Outcome& o) {
    if (!o.refused) return "";
    if (is_wait(o.kind)) return "skipped: the probe could not run (" + std::string(to_string(o.kind)) + ": " + o.message + ")";
    if (o.kind == DbErrorKind::permission_denied) return "skipped: no privilege to write a probe row (" + o.message + ")";
    if (o.kind == DbErrorKind::read_only) return "skipped: the connection is read-only (" + o.message + ")";
    return "";
  }

  // Runs `sql` in a savepoint that is always rolled back; when it is
  // accepted, `breaks_sql` (a count) says whether what it wrote breaks the rule.
  Outcome attempt(const std::string& sql, const std::string& breaks_sql = "") {
    Outcome o;
    dialect::Savepoint sp(db_, "cc_probe");
    try {
      db_.execute(sql);
      if (!breaks_sql.empty()) db_.query(breaks_sql, [&](const Row& r) { o.breaks = dialect::value_int(r[0]) > 0; });
    } catch (const DatabaseError& e) {
      o.refused = true;
      o.kind = e.kind();
      o.detail = e.detail();
      o.message = e.what();
    }
    sp.rollback();
    return o;
  }

  // The UNIQUE that refused a duplicate, when it enforces at least the
  // declared rule: the declared one, or a full UNIQUE on a subset of its
  // columns (every duplicate of the declared key is one of its keys too).
  // Databases that name the constraint (PostgreSQL) are taken at their word;
  // SQLite names the columns instead. Empty: refused by something else.
  std::string unique_rejecter(const migrate::ConstraintDef& def, const TableInfo& info, const Outcome& o) {
    if (!o.detail.constraint.empty()) {
      if (info.same_name(o.detail.constraint, def.name)) return def.name;
      const auto* other = info.find_constraint(o.detail.constraint);
      // On a partitioned table the row lands in a partition, whose own index
      // (attached to the declared one, under another name) is what refuses it.
      std::optional<TableInfo> partition;
      if (!other && !o.detail.table.empty() && o.detail.table != info.name.name) {
        partition = db_.inspect_table(model::TableName{o.detail.table, info.name.schema});  // partitions: the parent's schema
        other = partition->find_constraint(o.detail.constraint);
        const bool attached = other && (other->kind == ExistingConstraint::Kind::unique ||
                                        other->kind == ExistingConstraint::Kind::unique_index);
        if (attached && other->columns == def.columns && def.where.empty() &&
            other->definition.find(" WHERE ") == std::string::npos && info.find_constraint(def.name)) {
          return def.name;
        }
      }
      const bool unique = other && (other->kind == ExistingConstraint::Kind::unique || other->kind == ExistingConstraint::Kind::unique_index ||
                                    other->kind == ExistingConstraint::Kind::primary_key);
      const bool partial = other && other->definition.find(" WHERE ") != std::string::npos;
      return unique && !partial && subset_of(info, other->columns, def.columns) ? other->name : "";
    }
    if (o.detail.columns.empty() || !subset_of(info, o.detail.columns, def.columns)) return "";
    if (info.same_names(o.detail.columns, def.columns))
      return def.name;  // SQLite cannot tell which index of these columns fired
    for (const auto& c : info.constraints) {
      if (info.same_names(c.columns, o.detail.columns) && c.definition.find(" WHERE ") == std::string::npos)
        return c.name.empty() ? "(unnamed)" : c.name;
    }
    return "";
  }

  dialect::Connection& db_;
  const dialect::Dialect& d_;
  std::map<std::string, std::string> aliases_;
  std::map<std::string, bool> privileges_;          // has_privilege_sql -> allowed
  std::map<std::string, std::vector<Value>> rows_;  // first_rows query -> its rows
};

std::string kind_name(ExistingConstraint::Kind k) { return std::string(dialect::to_string(k)); }

}  // namespace

bool is_failure(const std::string& status) {
  return status != "ok" && status != "dropped" && status != "not_applied" && status != "skipped" &&
         status != "in_progress";
}

size_t VerifyReport::count(const std::string& status) const {
  return static_cast<size_t>(std::count_if(constraints.begin(), constraints.end(), [&](const Finding& f) { return f.status == status; }));
}

size_t VerifyReport::failures() const {
  size_t n = static_cast<size_t>(std::count_if(constraints.begin(), constraints.end(), [](const Finding& f) { return is_failure(f.status); }));
  if (strict) {
    n += static_cast<size_t>(std::count_if(unmanaged.begin(), unmanaged.end(), [](const Finding& f) {
      return f.kind == "check" || f.kind == "unique" || f.kind == "unique_index";
    }));
  }
  return n + problems.size();
}

VerifyReport run_verify(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<migrate::Migration>& migrations,
                        bool strict) {
  VerifyReport report;
  report.strict = strict;
  migrate::Status st;
  std::vector<migrate::ConstraintDef> dropped;
  const migrate::State expected = migrate::expected_state(db, migrator, migrations, &dropped, &st);
  report.version = st.current;
  report.problems = st.problems;

  // Every name constraintctl ever managed: anything a migration file adds.
  std::map<std::string, model::TableName> managed;  // name -> table
  for (const auto& m : migrations) {
    for (const auto& op : m.operations) managed[op.def.name] = op.def.table;
  }
  std::set<model::TableName> tables;
  for (const auto& [name, table] : managed) tables.insert(table);

  std::map<model::TableName, TableInfo> infos;
  {
    const std::vector<model::TableName> names(tables.begin(), tables.end());
    auto read = db.inspect_tables(names);  // one catalog read per kind of object
    for (size_t i = 0; i < names.size(); ++i) infos[names[i]] = std::move(read[i]);
  }
  // Constraints found rather than created: an unnamed one (SQLite inline) is
  // known by its recorded definition; none of them is "created by constraintctl".
  const auto adopted = dialect::detail::adopted(db);
  // Built by a run that was interrupted (its progress row says how far it
  // got): neither promised by the history nor stray, so "in_progress".
  const auto intent = dialect::detail::intents(db);
  auto intended = [&](const std::string& name) {
    return std::find(intent.begin(), intent.end(), name) != intent.end();
  };
  std::string progress;
  for (const auto& p : st.in_progress) {
    progress += (progress.empty() ? "" : "; ") +
                (p.direction == "up" || p.direction == "down" ? "version " + std::to_string(p.version) + " " : "") +
                (p.direction == "down" ? "partially rolled back"
                 : p.direction == "up" ? "partially applied"
                                       : p.direction + " partially applied") +
                ": " + std::to_string(p.steps_done) + " of " + std::to_string(p.steps_total) + " steps";
  }
  const std::string in_progress_detail = "built by an interrupted run" +
                                         (progress.empty() ? "" : " (" + progress + ")") +
                                         "; run apply to finish it or rollback to undo it";

  bool ignore_checks = false;
  if (const auto sql = db.dialect().checks_disabled_sql(); !sql.empty()) {
    db.query(sql, [&](const Row& r) { ignore_checks = dialect::value_int(r[0]) != 0; });
  }

  // Catalog and definition first (PostgreSQL normalises in its own
  // transactions), then every probe in one rolled-back transaction.
  std::vector<std::pair<size_t, const migrate::ConstraintDef*>> to_probe;
  {
    // Every definition compared below, asked of the database at once.
    std::vector<dialect::Migrator::DefinitionPair> pairs;
    for (const auto& [name, def] : expected) {
      const TableInfo& info = infos[def.table];
      if (const auto* existing = info.exists ? dialect::detail::resolve(info, name, adopted) : nullptr)
        pairs.emplace_back(&def, existing);
    }
    migrator.compare_definitions(pairs);
  }
  for (const auto& [name, def] : expected) {
    Finding f{def.table.str(), name, def.unique ? "unique" : "check", "ok", "", "", false};
    const TableInfo& info = infos[def.table];
    const ExistingConstraint* existing = info.exists ? dialect::detail::resolve(info, name, adopted) : nullptr;
    if (!info.exists) {
      f.status = "missing_table";
      f.detail = "table '" + def.table.str() + "' does not exist";
    } else if (!existing) {
      f.status = "missing";
      f.detail = "declared " + def.describe() + " but the database has no constraint of that name";
    } else if (auto diff = migrator.definition_difference(def, *existing); !diff.empty()) {
      f.status = "different";
      f.detail = "declared " + def.describe() + "; " + diff;
    } else if (!existing->valid) {
      f.status = "not_validated";
      f.detail = def.unique ? "its index is INVALID or not ready" : "NOT VALID: existing rows were never checked";
    } else if (!def.unique && ignore_checks) {
      f.status = "not_enforced";
      f.detail = "PRAGMA ignore_check_constraints is ON for this connection";
    } else {
      to_probe.emplace_back(report.constraints.size(), &def);
    }
    report.constraints.push_back(std::move(f));
  }
  if (!to_probe.empty()) {
    Prober prober(db);
    for (auto [index, def] : to_probe) {
      const auto* c = dialect::detail::resolve(infos[def->table], def->name, adopted);
      if (c && c->name.empty()) prober.alias(def->name, c->definition);
    }
    dialect::Transaction probes(db, dialect::Transaction::Mode::probes);
    for (auto [index, def] : to_probe) {
      Finding& f = report.constraints[index];
      const std::string why = def->unique ? prober.unique(*def, infos[def->table], f.probe) : prober.check(*def, infos[def->table], f.probe);
      if (!why.empty()) {
        f.status = "not_enforced";
        f.detail = why;
        f.probe = "accepted";
      } else if (f.probe.rfind("skipped", 0) == 0) {
        f.status = "skipped";  // present and validated; enforcement not proven
        f.detail = f.probe;
      }
    }
    probes.rollback();
  }
  for (const auto& d : dropped) {
    Finding f{
        d.table.str(), d.name, "check", "dropped", "removed by drop-checks: expected absent (apply restores it)", "",
        true};
    const TableInfo& info = infos[d.table];
    if (info.exists && info.find_constraint(d.name) && intended(d.name)) {
      f.status = "in_progress";
      f.detail = "removed by drop-checks and being put back: " + in_progress_detail;
    } else if (info.exists && info.find_constraint(d.name)) {
      f.status = "unexpected";
      f.detail = "drop-checks removed it, yet the database has it";
    }
    report.constraints.push_back(std::move(f));
  }
  // Declared by migrations that are not applied yet: promised by nothing so
  // far, so not findings, but never reported as present either.
  std::vector<migrate::Migration> pending;
  for (const auto& m : migrations) {
    if (m.version > st.current) pending.push_back(m);
  }
  if (!pending.empty()) {
    for (const auto& [name, def] : migrate::replay(migrations)) {
      if (expected.count(name) ||
          std::any_of(dropped.begin(), dropped.end(), [&](const auto& d) { return d.name == name; }))
        continue;
      const TableInfo& info = infos[def.table];
      if (intended(name) && info.exists && dialect::detail::resolve(info, name, adopted)) {
        report.constraints.push_back(Finding{def.table.str(), name, def.unique ? "unique" : "check", "in_progress",
                                             in_progress_detail, "", false});
        continue;
      }
      report.constraints.push_back(Finding{def.table.str(), name, def.unique ? "unique" : "check", "not_applied",
                                           "declared by a migration not applied yet (run constraintctl apply)", "",
                                           false});
    }
  }
  for (const auto& [name, table] : managed) {
    if (expected.count(name) ||
        std::any_of(report.constraints.begin(), report.constraints.end(),
                    [&](const Finding& f) {
                      return f.name == name && (f.status == "not_applied" || f.status == "in_progress");
                    }) ||
        std::any_of(dropped.begin(), dropped.end(), [&](const auto& d) { return d.name == name; }))
      continue;
    const TableInfo& info = infos[table];
    if (const auto* c = info.exists ? dialect::detail::resolve(info, name, adopted) : nullptr) {
      if (adopted.count(name)) {
        report.unmanaged.push_back(
            Finding{table.str(), name, kind_name(c->kind), "unmanaged",
                    "adopted: it existed before constraintctl, which keeps it (" + c->definition + ")", "", false});
        continue;
      }
      if (intended(name)) {
        report.constraints.push_back(
            Finding{table.str(), name, kind_name(c->kind), "in_progress", in_progress_detail, "", false});
        continue;
      }
      report.constraints.push_back(Finding{table.str(), name, kind_name(c->kind), "unexpected",
                                           "created by constraintctl but no applied migration declares it (" + c->definition + ")", "", false});
    }
  }
  for (const auto& [table, info] : infos) {
    for (const auto& c : info.constraints) {
      if (!c.name.empty() && managed.count(c.name)) continue;
      if (c.name.empty() && std::any_of(adopted.begin(), adopted.end(), [&](const auto& kv) {
            return kv.second.table == table.str() && managed.count(kv.first) &&
                   dialect::detail::resolve(info, kv.first, adopted) == &c;
          })) {
        continue;  // an adopted unnamed constraint, reported under its generated name
      }
      report.unmanaged.push_back(Finding{table.str(), c.name.empty() ? "(unnamed)" : c.name, kind_name(c.kind), "unmanaged", c.definition, "", false});
    }
  }
  return report;
}

}  // namespace cc::verify
