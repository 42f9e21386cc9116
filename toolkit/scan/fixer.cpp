#include "scan/fixer.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <random>
#include <set>

#include "core/error.h"
#include "core/fault.h"
#include "core/sql_lexer.h"
#include "core/text.h"
#include "scan/audited_table.h"
#include "scan/scan_sql.h"

namespace cc::scan {
namespace {

using dialect::Connection;
using dialect::Dialect;
using dialect::Row;
using dialect::TableInfo;

constexpr const char* kAudit = "constraintctl_audit";
constexpr const char* kRuns = "constraintctl_fix_runs";
constexpr int kMaxPasses = 5;

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

using text::join;

std::string new_run_id() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::gmtime(&now));
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xffff);
  return std::string(buf) + "-" + suffix;
}

std::int64_t scalar(Connection& db, const std::string& sql) {
  std::int64_t v = 0;
  db.query(sql, [&](const Row& r) { v = dialect::value_int(r[0]); });
  return v;
}

// Runs `fn` in one write transaction (SQLite takes the write lock up front),
// commits after `fault_point`, and rolls back on any exception.
template <typename Fn>
void in_write_transaction(Connection& db, const char* fault_point, Fn&& fn) {
  dialect::Transaction tx(db);
  fn();
  fault::point(fault_point);
  tx.commit();
}

// An audit table from before schema-qualified tables gets their column: its
// rows are of tables in the default schema ('').
void upgrade_audit_table(Connection& db) {
  const TableInfo audit = db.inspect_table({kAudit});
  if (audit.exists && !audit.find_column("table_schema")) {
    db.execute(std::string("ALTER TABLE ") + kAudit + " ADD COLUMN table_schema TEXT NOT NULL DEFAULT ''");
  }
}

void ensure_audit_tables(Connection& db) {
  const auto& d = db.dialect();
  const std::string id = d.identity_primary_key();
  const std::string json = d.json_type();
  db.execute(std::string("CREATE TABLE IF NOT EXISTS ") + kRuns +
             " (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, tool_version TEXT NOT NULL, "
             "applied_by TEXT NOT NULL, summary TEXT, undone_at TEXT, undone_by TEXT)");
  db.execute(std::string("CREATE TABLE IF NOT EXISTS ") + kAudit + " (" + id +
             ", run_id TEXT NOT NULL, table_name TEXT NOT NULL, table_schema TEXT NOT NULL DEFAULT '', action TEXT NOT "
             "NULL, row_key " +
             json + " NOT NULL, before_row " + json + " NOT NULL, after_row " + json + ")");
  upgrade_audit_table(db);
  db.execute(std::string("CREATE INDEX IF NOT EXISTS constraintctl_audit_run ON ") + kAudit + " (run_id, table_name)");
}

std::string now_sql(const Dialect& d) { return d.now_text(); }

// The SQL value a repair assigns to its column.
std::string repair_value(const model::Check& c, const model::Repair& r, const AuditedTable& t) {
  const auto& d = *t.d;
  const std::string col = d.quote_ident(r.column.empty() ? c.column : r.column);
  switch (r.policy) {
    case model::RepairPolicy::clamp: {
      std::string out = "CASE";
      if (c.min) out += " WHEN " + col + " < " + d.literal(*c.min) + " THEN " + d.literal(*c.min);
      if (c.max) out += " WHEN " + col + " > " + d.literal(*c.max) + " THEN " + d.literal(*c.max);
      return out + " ELSE " + col + " END";
    }
    case model::RepairPolicy::set_value: return d.literal(*r.value);
    case model::RepairPolicy::set_expr: return "(" + r.expr + ")";
    case model::RepairPolicy::set_null: return "NULL";
    case model::RepairPolicy::set_default: {
      const auto* info = t.info.find_column(r.column.empty() ? c.column : r.column);
      if (!info || info->default_sql.empty()) {
        throw UsageError("repair of '" + c.name + "': column has no default to set (" + r.where.str() + ")");
      }
      return info->default_sql;
    }
    default: return "";
  }
}

model::Repair effective_repair(const model::Repair& declared, const std::string& name, const FixOptions& o) {
  model::Repair r = declared;
  if (auto it = o.overrides.find(name); it != o.overrides.end()) r.policy = it->second;
  return r;
}

bool repairs(model::RepairPolicy p) { return p != model::RepairPolicy::report; }

// A repair the database or the tool refuses for one table: raised before
// anything of that table changes or, as the safety net, when the database
// rejects a repair statement (the table's work is rolled back to its
// savepoint). With skip_refused the other tables of the run go ahead.
class RepairRefused : public Error {
 public:
  explicit RepairRefused(std::string why) : Error(ExitCode::findings, std::move(why)) {}
};

// Before the fix writes rows of `table`: its user triggers would fire.
// What they write in the database is captured (scan/capture.h); one that
// could act outside it refuses the fix, naming it, unless --allow-triggers.
// Listed in the report and in the run's summary, or refused (--refuse-triggers).
void check_triggers(Connection& db, const model::TableName& table, const FixOptions& o, FixReport& report,
                    const std::string& what) {
  const auto sources = db.trigger_sources(table);
  if (sources.empty()) return;
  std::vector<std::string> names, qualified;
  for (const auto& t : sources) {
    names.push_back(t.name);
    qualified.push_back(table.str() + "." + t.name);
  }
  if (o.refuse_triggers) {
    throw RepairRefused(what + ": the fix writes rows of '" + table.str() + "', which would fire its trigger(s) " +
                        join(names, ", ") +
                        " (refused by --refuse-triggers; without it the fix goes ahead, and what the triggers write "
                        "is audited and undone by fix-undo)");
  }
  for (const auto& t : sources) {
    if (t.uncapturable.empty()) continue;
    const std::string why = "trigger " + t.name + " on '" + table.str() + "': " + t.uncapturable;
    if (!o.allow_triggers) {
      throw RepairRefused(what + ": the fix writes rows of '" + table.str() + "', which would fire " + why +
                          "; what it does there cannot be audited nor undone. --allow-triggers goes ahead anyway "
                          "(recorded in the run)");
    }
    if (std::find(report.uncaptured.begin(), report.uncaptured.end(), why) == report.uncaptured.end())
      report.uncaptured.push_back(why);
  }
  for (const auto& q : qualified) {
    if (std::find(report.triggers.begin(), report.triggers.end(), q) == report.triggers.end())
      report.triggers.push_back(q);
  }
}

// The run's summary of what the triggers changed (audited), and what was let through uncaptured.
std::string trigger_summary(const FixReport& report) {
  std::string out;
  for (const auto& e : report.trigger_effects) {
    out += (out.empty() ? "; trigger effects audited: " : ", ") + e.table + " " + std::to_string(e.inserted) +
           " inserted, " + std::to_string(e.updated) + " updated, " + std::to_string(e.deleted) + " deleted";
  }
  if (!report.uncaptured.empty())
    out += "; allowed without capture (--allow-triggers): " + join(report.uncaptured, "; ");
  return out;
}

void count_child(FixReport& report, const model::TableName& table, const std::string& action, std::int64_t n) {
  for (auto it = report.children.begin(); it != report.children.end(); ++it) {
    if (it->table == table.str() && it->action == action) {
      it->rows += n;
      if (it->rows <= 0) report.children.erase(it);
      return;
    }
  }
  if (n > 0) report.children.push_back(ChildChange{table.str(), action, n});
}

// What the foreign keys' ON DELETE actions do when the rows of `t` matching
// `doomed` (a condition on t's own columns, unqualified) are deleted, at any
// depth, audited before the delete runs: CASCADE children (only with
// consent) as 'cascade', and followed further; SET NULL / SET DEFAULT
// children as 'set_null' / 'set_default', whose after-images
// fk_after_images reads once the delete ran. RESTRICT and NO ACTION children
// make the database refuse the delete (a RepairRefused). Each child row is
// audited once, however many paths lead to it.
struct FkWalk {
  const FixOptions& options;
  bool allowed;  // cascades consented to
  std::string what;
  std::string run_id;
  FixReport& report;
  std::vector<std::string> path;             // tables from the repaired one down, to refuse cycles
  std::vector<model::TableName> set_tables;  // tables with SET NULL / SET DEFAULT rows to read back
};

std::int64_t audit_fk_actions(Connection& db, const AuditedTable& t, const std::string& doomed, FkWalk& walk) {
  constexpr size_t kMaxDepth = 32;
  std::int64_t audited = 0;
  const auto& d = *t.d;
  walk.path.push_back(t.name.str());
  for (const auto& ref : t.info.referrers) {
    std::string action;
    if (ref.on_delete == "CASCADE") action = "cascade";
    if (ref.on_delete == "SET NULL") action = "set_null";
    if (ref.on_delete == "SET DEFAULT") action = "set_default";
    if (action.empty() || ref.parent_columns.empty()) continue;
    AuditedTable child = audited_table(db, ref.table, Keyless::refused);
    std::vector<std::string> fk, pk;
    for (const auto& c : ref.columns) fk.push_back(d.quote_ident(c));
    for (const auto& c : ref.parent_columns) pk.push_back(d.quote_ident(c));
    const std::string cond =
        "(" + join(fk, ", ") + ") IN (SELECT " + join(pk, ", ") + " FROM " + t.q + " WHERE " + doomed + ")";
    const std::int64_t affected = scalar(db, "SELECT count(*) FROM " + child.q + " AS cc_row WHERE " + cond);
    if (affected == 0) continue;
    const std::string via =
        "'" + ref.table.str() + "' (" + join(ref.columns, ", ") + " ON DELETE " + ref.on_delete + ")";
    if (action == "cascade" && !walk.allowed) {
      throw UsageError(walk.what + ": deleting these rows of '" + t.name.str() + "' would also delete " +
                       std::to_string(affected) + " row(s) of " + via +
                       ". Nothing was changed. Allow it with --allow-cascade or allow_cascade = true in the repair.");
    }
    if (action == "cascade" && (std::find(walk.path.begin(), walk.path.end(), ref.table.str()) != walk.path.end() ||
                                walk.path.size() > kMaxDepth)) {
      throw RepairRefused(walk.what + ": the cascade from '" + t.name.str() + "' into " + via +
                          " comes back to a table it started from (" + join(walk.path, " -> ") + " -> " +
                          ref.table.str() +
                          "); a cyclic cascade is not supported. Repair these rows by hand, or report them");
    }
    check_triggers(db, ref.table, walk.options, walk.report, walk.what);
    const std::string seen = std::string("NOT EXISTS (SELECT 1 FROM ") + kAudit +
                             " AS cc_seen WHERE cc_seen.run_id = " + d.quote_string(walk.run_id) + " AND " +
                             child.audit_of("cc_seen") +
                             " AND cc_seen.action IN ('cascade', 'set_null', 'set_default') AND " +
                             child.key_match("cc_row", "cc_seen") + ")";
    const auto n = db.execute_count(std::string("INSERT INTO ") + kAudit + " (run_id, " + AuditedTable::kAuditColumns +
                                    ", action, row_key, before_row) SELECT " + d.quote_string(walk.run_id) + ", " +
                                    child.audit_values() + ", '" + action + "', " + child.key_json("cc_row") + ", " +
                                    child.row_json("cc_row") + " FROM " + child.q + " AS cc_row WHERE " + cond +
                                    " AND " + seen + d.lock_rows("cc_row"));
    audited += n;
    if (action == "cascade") {
      // A row an earlier path set to NULL / DEFAULT is deleted by this one
      // (a child of two doomed rows, or of one through two foreign keys): it
      // is audited as deleted, its before-image the original row, and its own
      // children follow it below.
      std::int64_t moved = 0;
      for (const char* earlier : {"set_null", "set_default"}) {
        const auto k =
            db.execute_count(std::string("UPDATE ") + kAudit + " SET action = 'cascade', after_row = NULL WHERE " +
                             kAudit + ".run_id = " + d.quote_string(walk.run_id) + " AND " + child.audit_of(kAudit) +
                             " AND " + kAudit + ".action = '" + earlier + "' AND EXISTS (SELECT 1 FROM " + child.q +
                             " AS cc_row WHERE " + child.key_match("cc_row", kAudit) + " AND " + cond + ")");
        if (k > 0) count_child(walk.report, ref.table, earlier, -k);
        moved += k;
      }
      walk.report.cascaded += n + moved;
      count_child(walk.report, ref.table, action, n + moved);
      audited += audit_fk_actions(db, child, cond, walk);  // its own children go with it
    } else {
      bool known = false;
      for (const auto& s : walk.set_tables) known = known || s.str() == ref.table.str();
      if (!known) walk.set_tables.push_back(ref.table);
      count_child(walk.report, ref.table, action, n);
    }
  }
  walk.path.pop_back();
  return audited;
}

// After the delete: what SET NULL / SET DEFAULT wrote into the children, so
// fix-undo can tell whether such a row changed again since.
void fk_after_images(Connection& db, const FkWalk& walk) {
  for (const auto& name : walk.set_tables) {
    AuditedTable child = audited_table(db, name, Keyless::refused);
    db.execute(std::string("UPDATE ") + kAudit + " SET after_row = (SELECT " + child.row_json("cc_row") + " FROM " +
               child.q + " AS cc_row WHERE " + child.key_match("cc_row", kAudit) + ") WHERE " + kAudit +
               ".run_id = " + child.d->quote_string(walk.run_id) + " AND " + child.audit_of(kAudit) + " AND " + kAudit +
               ".action IN ('set_null', 'set_default')");
  }
}

// Audits (and asks consent for) what deleting the rows of `t` matching
// `doomed` does to other tables, runs `del`, then reads back the children's
// after-images. Returns the audit rows written.
template <typename Delete>
std::int64_t delete_with_fk_actions(Connection& db, const AuditedTable& t, const std::string& doomed,
                                    const FixOptions& o, bool allowed, const std::string& what,
                                    const std::string& run_id, FixReport& report, Delete&& del) {
  FkWalk walk{o, allowed, what, run_id, report, {}, {}};
  const auto n = audit_fk_actions(db, t, doomed, walk);
  del();
  fk_after_images(db, walk);
  return n;
}

struct TableWork {
  const model::Table* spec;
  std::vector<const model::Check*> checks;  // with a repairing policy and violations
  std::vector<const model::Unique*> uniques;
  // The keys of the rows breaking any CHECK of the table, as the scan before
  // the fix read them in its own pass (null: the fix collects them itself).
  const std::vector<std::vector<dialect::Value>>* scan_keys = nullptr;
  // The duplicated groups of each UNIQUE (by name), as the scan before the
  // fix found them (null: the fix searches the whole table).
  const std::map<std::string, std::vector<std::vector<dialect::Value>>>* unique_groups = nullptr;
  std::string keys_table;  // temp table holding the keys the fix works on
  // No stable key (PostgreSQL without a primary key): every repair of the
  // table deletes, one statement each (AuditedTable::deletes_only).
  bool deletes_only = false;
};

// `v` as an SQL literal for a key column, or "" when it cannot be one.
std::string key_literal(const Dialect& d, const dialect::Value& v);

// The declared types of `t`'s key columns, a domain's base type for a
// domain (Dialect::key_in).
std::vector<std::string> key_types(const AuditedTable& t) {
  std::vector<std::string> out;
  for (const auto& c : t.key) {
    const auto* col = t.info.find_column(c);
    // The row id is a scalar; a column not in `info` is of no known type.
    out.push_back(t.d->is_row_id(c) ? "row id" : !col ? "" : !col->base_type.empty() ? col->base_type : col->type);
  }
  return out;
}

// The rows of `t` whose key is in `keys` (the scan's), or else in the temp
// table `table`. A single-column key is listed as literals, up to the
// dialect's listed_keys of them: `id IN (1, 2, ...)` is looked up by the
// primary key's index on both databases. Past that, the temp table, in the
// form the dialect looks up by key (Dialect::key_in).
// `alias`: the name the table goes by in the statement ("" for its own).
std::string keys_condition(const AuditedTable& t, const std::string& table,
                           const std::vector<std::vector<dialect::Value>>* keys, std::string_view alias = "") {
  const std::string join_cond =
      t.d->key_in(t.key_list(alias), key_types(t), "SELECT " + t.key_list() + " FROM " + table);
  if (!keys || t.key.size() != 1 || keys->size() > t.d->capabilities().listed_keys) return join_cond;
  if (keys->empty()) return "1 = 0";
  std::string list;
  list.reserve(keys->size() * 8);
  for (const auto& k : *keys) {
    if (k.size() != 1) return join_cond;
    const std::string lit = key_literal(*t.d, k[0]);
    if (lit.empty()) return join_cond;
    list += (list.empty() ? "" : ", ") + lit;
  }
  return t.d->column_ref(alias, t.key[0]) + " IN (" + list + ")";
}

// `v` as an SQL literal for a key column, or "" when it cannot be one.
std::string key_literal(const Dialect& d, const dialect::Value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return d.quote_string(*s);
  return "";
}

// The temp table `name` holding `keys` (rows of t's key columns), batched
// VALUES inserts. False (nothing left behind) when a key has no literal.
bool load_keys(Connection& db, const AuditedTable& t, const std::string& name,
               const std::vector<std::vector<dialect::Value>>& keys) {
  constexpr size_t kBatch = 500;
  std::vector<std::string> rows;
  for (const auto& k : keys) {
    std::vector<std::string> lits;
    for (const auto& v : k) {
      lits.push_back(key_literal(*t.d, v));
      if (lits.back().empty()) return false;
    }
    rows.push_back("(" + join(lits, ", ") + ")");
  }
  db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table(name));
  db.execute("CREATE TEMP TABLE " + name + " AS SELECT " + t.key_list() + " FROM " + t.q + " WHERE 1 = 0");
  for (size_t i = 0; i < rows.size(); i += kBatch) {
    const auto end = std::min(rows.size(), i + kBatch);
    db.execute("INSERT INTO " + name + " VALUES " +
               join(std::vector<std::string>(rows.begin() + static_cast<std::ptrdiff_t>(i),
                                             rows.begin() + static_cast<std::ptrdiff_t>(end)),
                    ", "));
  }
  // Its size known to the planner, each statement restricted to these keys
  // looks them up by key instead of reading the whole table.
  db.execute("ANALYZE " + name);
  return true;
}

// A condition keeping only the rows of the duplicated `groups` (the UNIQUE's
// column values), as a list of literals per column: every row of a group
// passes it, and a group is either wholly in or wholly out, so numbering the
// rows per group over what passes finds the same surplus rows as over the
// whole table. "" when there is no usable list (a value without a literal).
std::string duplicate_groups_condition(const AuditedTable& t, const model::Unique& u,
                                       const std::vector<std::vector<dialect::Value>>* groups) {
  constexpr size_t kMaxListed = 10000;
  if (!groups || groups->empty() || groups->size() > kMaxListed) return "";
  std::vector<std::string> parts;
  for (size_t i = 0; i < u.columns.size(); ++i) {
    std::set<std::string> seen;
    std::string list;
    for (const auto& g : *groups) {
      if (i >= g.size()) return "";
      const std::string lit = key_literal(*t.d, g[i]);
      if (lit.empty()) return "";
      if (seen.insert(lit).second) list += (list.empty() ? "" : ", ") + lit;
    }
    parts.push_back(t.d->quote_ident(u.columns[i]) + " IN (" + list + ")");
  }
  return join(parts, " AND ");
}

// The keys of a UNIQUE's surplus rows: all but the kept one per duplicated
// key (among the scan's duplicated `groups` when they are known).
std::string duplicate_keys_sql(const AuditedTable& t, const model::Unique& u, const model::Repair& r,
                               const std::vector<std::vector<dialect::Value>>* groups = nullptr) {
  std::vector<std::string> cols, filters;
  for (const auto& c : u.columns) {
    cols.push_back(t.d->quote_ident(c));
    filters.push_back(t.d->quote_ident(c) + " IS NOT NULL");
  }
  if (!u.where_expr.empty()) filters.push_back("(" + u.where_expr + ")");
  if (const std::string only = duplicate_groups_condition(t, u, groups); !only.empty()) filters.push_back(only);
  const std::string dir = r.keep == model::Keep::lowest ? " ASC" : " DESC";
  std::string order = r.by.empty() ? "" : t.d->quote_ident(r.by) + dir + ", ";
  order += t.key_list();  // ties broken by key, so the run is deterministic
  if (r.by.empty()) order = t.key_list() + dir;
  return "SELECT " + t.key_list() + " FROM (SELECT " + t.key_list() + ", row_number() OVER (PARTITION BY " +
         join(cols, ", ") + " ORDER BY " + order + ") AS cc_rn FROM " + t.q + " WHERE " + join(filters, " AND ") +
         ") AS cc_d WHERE cc_rn > 1";
}

// Dry run: the keys (and shown values) of up to `limit` rows matching `where`.
std::vector<Sample> sample_rows(Connection& db, const AuditedTable& t, const std::string& where,
                                const std::string& column, int limit) {
  std::vector<Sample> out;
  if (limit <= 0) return out;
  std::vector<std::string> cols;
  for (const auto& k : t.key) cols.push_back(t.d->column_ref("", k));
  const std::string shown = column.empty() ? "" : ", " + t.d->quote_ident(column);
  db.query("SELECT " + join(cols, ", ") + shown + " FROM " + t.q + " WHERE " + where + " ORDER BY " + t.key_list() +
               " LIMIT " + std::to_string(limit),
           [&](const Row& row) {
             Sample s;
             for (size_t k = 0; k < t.key.size(); ++k) s.key.emplace_back(t.key[k], row[k]);
             if (!column.empty()) s.values.emplace_back(column, row[t.key.size()]);
             out.push_back(std::move(s));
           });
  return out;
}

// The condition matching the row a sample names.
std::string sample_match(const AuditedTable& t, const Sample& s) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : s.key) {
    std::string lit =
        std::holds_alternative<std::string>(v) ? t.d->quote_string(std::get<std::string>(v)) : dialect::value_text(v);
    parts.push_back(t.d->column_ref("", k) + " = " + lit);
  }
  return join(parts, " AND ");
}

// The rows of other tables that reference rows of `t` matching `doomed`,
// per referencing foreign key that deleting them would not cascade through.
std::vector<std::pair<std::string, std::int64_t>> referencing_rows(Connection& db, const AuditedTable& t,
                                                                   const std::string& doomed) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  const auto& d = *t.d;
  for (const auto& ref : t.info.referrers) {
    if (ref.cascade || ref.parent_columns.empty()) continue;  // cascades need their own consent (allow_cascade)
    std::vector<std::string> fk, pk;
    for (const auto& c : ref.columns) fk.push_back("cc_row." + d.quote_ident(c));
    for (const auto& c : ref.parent_columns) pk.push_back(d.quote_ident(c));
    const auto n =
        scalar(db, "SELECT count(*) FROM " + d.quote_table(ref.table) + " AS cc_row WHERE (" + join(fk, ", ") +
                       ") IN (SELECT " + join(pk, ", ") + " FROM " + t.q + " WHERE " + doomed + ")");
    if (n > 0)
      out.emplace_back(ref.table.str() + " (" + join(ref.columns, ", ") + ", ON DELETE " + ref.on_delete + ")", n);
  }
  return out;
}

// references = "repoint": every row of another table that references a
// surplus row of `u` is moved to the row its group keeps, audited (before-
// and after-images) so fix-undo puts it back. Returns the rows moved.
std::int64_t repoint_references(Connection& db, const AuditedTable& t, const model::Unique& u, const model::Repair& r,
                                const std::string& run_id, const FixOptions& o, FixReport& report) {
  const auto& d = *t.d;
  std::int64_t moved = 0;
  std::vector<std::string> cols, filters;
  for (const auto& c : u.columns) {
    cols.push_back(d.quote_ident(c));
    filters.push_back(d.quote_ident(c) + " IS NOT NULL");
  }
  if (!u.where_expr.empty()) filters.push_back("(" + u.where_expr + ")");
  std::string order =
      r.by.empty() ? "" : d.quote_ident(r.by) + (r.keep == model::Keep::lowest ? " ASC" : " DESC") + ", ";
  order += t.key_list();
  if (r.by.empty()) order = t.key_list() + (r.keep == model::Keep::lowest ? " ASC" : " DESC");
  for (const auto& ref : t.info.referrers) {
    if (ref.parent_columns.empty()) continue;
    std::vector<std::string> select, old_cols, fk, set, match;
    for (size_t i = 0; i < ref.parent_columns.size(); ++i) {
      const std::string p = d.quote_ident(ref.parent_columns[i]), i_s = std::to_string(i);
      select.push_back(p + " AS cc_old_" + i_s + ", first_value(" + p + ") OVER cc_w AS cc_new_" + i_s);
      old_cols.push_back("cc_old_" + i_s);
      fk.push_back(d.quote_ident(ref.columns[i]));
      match.push_back("cc_map.cc_old_" + i_s + " = " + d.quote_table(ref.table) + "." + d.quote_ident(ref.columns[i]));
    }
    for (size_t i = 0; i < ref.parent_columns.size(); ++i) {
      set.push_back(fk[i] + " = (SELECT cc_new_" + std::to_string(i) + " FROM cc_fix_map AS cc_map WHERE " +
                    join(match, " AND ") + ")");
    }
    db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table("cc_fix_map"));
    db.execute("CREATE TEMP TABLE cc_fix_map AS SELECT " + join(old_cols, ", ") + ", " +
               [&] {
                 std::vector<std::string> n;
                 for (size_t i = 0; i < ref.parent_columns.size(); ++i) n.push_back("cc_new_" + std::to_string(i));
                 return join(n, ", ");
               }() +
               " FROM (SELECT " + join(select, ", ") + ", row_number() OVER cc_w AS cc_rn FROM " + t.q + " WHERE " +
               join(filters, " AND ") + " WINDOW cc_w AS (PARTITION BY " + join(cols, ", ") + " ORDER BY " + order +
               ")) AS cc_m WHERE cc_rn > 1");
    AuditedTable child = audited_table(db, ref.table, Keyless::refused);
    const std::string refers = "(" + join(fk, ", ") + ") IN (SELECT " + join(old_cols, ", ") + " FROM cc_fix_map)";
    const std::string run = d.quote_string(run_id);
    // The row's key after the move: a foreign key can be part of the child's
    // own key (PlaylistTrack's), and undo finds the row by what it is now.
    std::vector<std::pair<std::string, std::string>> new_key;
    for (const auto& k : child.key) {
      std::string expr = d.column_ref("cc_row", k);
      for (size_t i = 0; i < ref.columns.size(); ++i) {
        if (ref.columns[i] != k) continue;
        std::vector<std::string> m;
        for (size_t j = 0; j < ref.columns.size(); ++j) {
          m.push_back("cc_map.cc_old_" + std::to_string(j) + " = cc_row." + d.quote_ident(ref.columns[j]));
        }
        expr = "(SELECT cc_new_" + std::to_string(i) + " FROM cc_fix_map AS cc_map WHERE " + join(m, " AND ") + ")";
      }
      new_key.emplace_back(k, expr);
    }
    report.audited +=
        db.execute_count(std::string("INSERT INTO ") + kAudit + " (run_id, " + AuditedTable::kAuditColumns +
                         ", action, row_key, before_row) SELECT " + run + ", " + child.audit_values() +
                         ", 'repoint', " + d.json_object(new_key) + ", " + child.row_json("cc_row") + " FROM " +
                         child.q + " AS cc_row WHERE " + refers + d.lock_rows("cc_row"));
    if (scalar(db, "SELECT count(*) FROM " + child.q + " WHERE " + refers) > 0)
      check_triggers(db, child.name, o, report, u.name + " (references = \"repoint\")");
    const auto n = db.execute_count("UPDATE " + child.q + " SET " + join(set, ", ") + " WHERE " + refers);
    // After-images: what the repoint wrote, read back inside the same transaction.
    db.execute(std::string("UPDATE ") + kAudit + " SET after_row = (SELECT " + child.row_json("cc_row") + " FROM " +
               child.q + " AS cc_row WHERE " + child.key_match("cc_row", kAudit) + ") WHERE " + kAudit +
               ".run_id = " + run + " AND " + child.audit_of(kAudit) + " AND " + kAudit + ".action = 'repoint' AND " +
               kAudit + ".after_row IS NULL");
    db.execute("DROP TABLE " + db.dialect().temp_table("cc_fix_map"));
    moved += n;
  }
  return moved;
}

// Where a check's repair is declared (the check itself for a --policy override).
std::string repair_location(const model::Check& c) {
  return (c.repair.where.line > 0 ? c.repair.where : c.where).str();
}

std::string repair_target(const model::Check& c, const model::Repair& r) {
  return r.column.empty() ? c.column : r.column;
}

// A policy that could work for `c` instead of `r`, for the messages.
std::string suggested_policy(const model::Check& c, const model::Repair& r, const AuditedTable& t) {
  const auto* col = t.info.find_column(repair_target(c, r));
  std::vector<std::string> out;
  if (col && col->generated) return "delete, or report and repair the columns it is computed from";
  bool keyed = false;  // a key column, or one other rows reference: no rewrite is offered
  for (const auto& k : t.info.primary_key) keyed = keyed || t.info.same_name(k, repair_target(c, r));
  for (const auto& ref : t.info.referrers) {
    for (const auto& pc : ref.parent_columns) keyed = keyed || t.info.same_name(pc, repair_target(c, r));
  }
  if (keyed) return "delete (its referencing rows follow their foreign keys' ON DELETE, audited), or report";
  if (r.policy != model::RepairPolicy::clamp && c.structured() && (c.min || c.max)) out.push_back("clamp");
  if (r.policy != model::RepairPolicy::set_default && col && !col->default_sql.empty()) out.push_back("set_default");
  if (r.policy != model::RepairPolicy::set_value) out.push_back("set with a value the table accepts");
  if (r.policy != model::RepairPolicy::set_null && col && !col->not_null) out.push_back("set_null");
  out.push_back("delete");
  out.push_back("report");
  return join(out, ", ");
}

std::string refusal(const model::Check& c, const model::Repair& r, const AuditedTable& t, const std::string& why) {
  return c.name + ": repair " + std::string(model::to_string(r.policy)) + " (" + repair_location(c) +
         ") cannot work on table '" + t.name.str() + "': " + why + ". Suggested policy: " + suggested_policy(c, r, t);
}

// `expr` with every reference to `column` replaced by `value`; "" when it
// does not refer to the column.
std::string substitute_column(std::string_view expr, const std::string& column, const std::string& value) {
  const auto tokens = sql::tokenize(expr);
  std::string out;
  bool changed = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto& tok = tokens[i];
    if (tok.kind == sql::TokenKind::word || tok.kind == sql::TokenKind::quoted_identifier) {
      size_t next = i + 1;
      while (next < tokens.size() &&
             (tokens[next].kind == sql::TokenKind::space || tokens[next].kind == sql::TokenKind::comment))
        ++next;
      const bool call = next < tokens.size() && tokens[next].is("(");
      std::string name = sql::identifier_name(tok);
      bool same = tok.kind == sql::TokenKind::quoted_identifier ? name == column : false;
      if (tok.kind == sql::TokenKind::word) {
        std::string a = name, b = column;
        for (auto& ch : a) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (auto& ch : b) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        same = a == b;
      }
      const bool qualified = !out.empty() && out.back() == '.';
      if (same && !call && !qualified) {
        out += "(" + value + ")";
        changed = true;
        continue;
      }
    }
    out += tok.text;
  }
  return changed ? out : "";
}

// The condition of a CHECK as the catalog renders it ("CHECK (x > 0) NOT VALID" on PostgreSQL, the bare text on
// SQLite).
std::string check_condition(std::string definition) {
  const auto toks = sql::significant(sql::tokenize(definition));
  if (toks.empty()) return definition;
  size_t begin = 0, end = definition.size();
  if (toks.front().is_word("CHECK")) begin = toks.front().offset + toks.front().text.size();
  if (toks.size() >= 2 && toks.back().is_word("VALID") && toks[toks.size() - 2].is_word("NOT"))
    end = toks[toks.size() - 2].offset;
  return definition.substr(begin, end - begin);
}

// Why the repair `r` of `c` cannot work on table `t` (its catalog: generated
// and NOT NULL columns, CHECKs, UNIQUEs), or "" when nothing known refuses it.
std::string repair_refusal(Connection& db, const AuditedTable& t, const model::Check& c, const model::Repair& r) {
  if (r.policy == model::RepairPolicy::delete_row || r.policy == model::RepairPolicy::report) return "";
  const auto& d = *t.d;
  const std::string target = repair_target(c, r);
  const auto* col = t.info.find_column(target);
  if (!col) return "";  // reported by the schema validation
  if (auto why = catalog_repair_refusal(c, r, t.info); !why.empty()) return why;
  // A referenced column: rewriting it would make the database cascade, null
  // or refuse in the referencing tables, which the repair's audit does not
  // follow. Refused when some referencing row points at a row it changes.
  for (const auto& ref : t.info.referrers) {
    bool hit = false;
    for (const auto& pc : ref.parent_columns) hit = hit || t.info.same_name(pc, target);
    if (!hit) continue;
    std::vector<std::string> match;
    for (size_t i = 0; i < ref.columns.size() && i < ref.parent_columns.size(); ++i)
      match.push_back(d.column_ref("cc_p", ref.parent_columns[i]) + " = " + d.column_ref("cc_c", ref.columns[i]));
    std::int64_t n = 0;
    try {
      n = scalar(db, "SELECT count(*) FROM " + d.quote_table(ref.table) + " AS cc_c WHERE EXISTS (SELECT 1 FROM " +
                         t.q + " AS cc_p WHERE " + join(match, " AND ") + " AND NOT (" + check_predicate(c, d) + "))");
    } catch (const DatabaseError&) {
      n = 1;  // could not be counted here: refused rather than risk what the database would do to them
    }
    if (n > 0)
      return "column '" + target + "' is referenced by a foreign key of '" + ref.table.str() + "' (" +
             std::to_string(n) +
             " of its rows point at rows this repair would change): rewriting it would change, "
             "orphan or be refused for those rows, outside what the fix audits";
  }
  std::string value;
  switch (r.policy) {
    case model::RepairPolicy::set_null: value = "NULL"; break;
    case model::RepairPolicy::set_value: value = d.literal(*r.value); break;
    case model::RepairPolicy::set_default:
      if (col->default_sql.empty()) return "column '" + target + "' has no default to set";
      // Only a default without calls is evaluated here: nextval() would
      // advance its sequence. The savepoint catches the rest.
      for (const auto& tok : sql::significant(sql::tokenize(col->default_sql))) {
        if (tok.is("(")) return "";
      }
      value = col->default_sql;
      break;
    default: return "";  // clamp, set_expr: row-dependent; the savepoint catches what the table rejects
  }
  if (value == "NULL" && col->not_null) {
    return "column '" + target + "' is NOT NULL, so the database would reject every row this repair sets to NULL";
  }
  const std::string broken = "NOT (" + check_predicate(c, d) + ")";
  // Other CHECKs the database enforces, with the assigned value in place of the column.
  for (const auto& k : t.info.constraints) {
    if (k.kind != dialect::ExistingConstraint::Kind::check || !k.valid) continue;
    const std::string cond = substitute_column(check_condition(k.definition), target, value);
    if (cond.empty()) continue;
    std::int64_t n = 0;
    try {  // before the run's transaction: a failed query leaves nothing to roll back
      n = scalar(db, "SELECT count(*) FROM " + t.q + " WHERE " + broken + " AND NOT (" + cond + ")");
    } catch (const DatabaseError&) {
      continue;  // could not be evaluated here; the savepoint around the repair still catches it
    }
    if (n > 0) {
      const std::string name = k.name.empty() ? "(" + check_condition(k.definition) + ")" : "'" + k.name + "'";
      return "the value it assigns to '" + target + "' (" + value + ") breaks the table's CHECK " + name + " for " +
             std::to_string(n) + " of the rows it would change";
    }
  }
  // UNIQUE constraints and full unique indexes over the column: two rows given the same key.
  if (value == "NULL") return "";  // NULLs never collide
  for (const auto& k : t.info.constraints) {
    using K = dialect::ExistingConstraint::Kind;
    if (k.kind != K::unique && k.kind != K::unique_index && k.kind != K::primary_key) continue;
    if (k.columns.empty() || std::find(k.columns.begin(), k.columns.end(), target) == k.columns.end()) continue;
    bool partial = false;
    for (const auto& tok : sql::significant(sql::tokenize(k.definition))) partial = partial || tok.is_word("WHERE");
    if (partial) continue;  // which rows it covers is row-dependent: left to the savepoint
    std::vector<std::string> cols, filters;
    for (const auto& kc : k.columns) {
      const std::string qc = d.quote_ident(kc);
      cols.push_back((kc == target ? "CASE WHEN " + broken + " THEN " + value + " ELSE " + qc + " END" : qc) + " AS " +
                     qc);
      filters.push_back(qc + " IS NOT NULL");
    }
    std::vector<std::string> keys;
    for (const auto& kc : k.columns) keys.push_back(d.quote_ident(kc));
    std::int64_t n = 0;
    try {
      n = scalar(db, "SELECT count(*) FROM (SELECT 1 AS cc_one FROM (SELECT " + join(cols, ", ") + ", CASE WHEN " +
                         broken + " THEN 1 ELSE 0 END AS cc_changed FROM " + t.q + ") AS cc_u WHERE " +
                         join(filters, " AND ") + " GROUP BY " + join(keys, ", ") +
                         " HAVING count(*) > 1 AND max(cc_changed) = 1) AS cc_g");
    } catch (const DatabaseError&) {
      continue;
    }
    if (n > 0) {
      const std::string name = k.name.empty() ? k.definition : "'" + k.name + "'";
      return "the value it assigns to '" + target + "' (" + value +
             ") would give several rows the same key of the UNIQUE " + name;
    }
  }
  return "";
}

// Repairs a table without a stable key, whose repairs all delete: each rule
// is one statement that deletes the rows and writes their images to the
// audit (DELETE ... RETURNING in WITH), so the row id naming a row is read
// and used in one statement, and the image audited is the one the delete
// removed (a row an application updated meanwhile is deleted as updated).
// UNIQUE duplicates first, as in fix_table; then each CHECK's rows, in
// schema order (a delete breaks no other rule, so one pass converges).
void fix_by_deleting(Connection& db, const TableWork& w, const FixOptions& o, const std::string& run_id,
                     FixReport& report) {
  const AuditedTable t = audited_table(db, w.spec->name, Keyless::deletes);
  const auto& d = *t.d;
  check_triggers(db, t.name, o, report, "fix of table '" + t.name.str() + "'");
  auto delete_audited = [&](const std::string& rule, const std::string& where) {
    try {
      const auto n =
          db.execute_count("WITH cc_gone AS (DELETE FROM " + t.q + " WHERE " + where + " RETURNING *) INSERT INTO " +
                           kAudit + " (run_id, " + AuditedTable::kAuditColumns +
                           ", action, row_key, before_row) SELECT " + d.quote_string(run_id) + ", " + t.audit_values() +
                           ", 'delete', " + t.key_json("cc_gone") + ", " + t.row_json("cc_gone") + " FROM cc_gone");
      report.audited += n;
      return n;
    } catch (const DatabaseError& e) {
      if (!is_violation(e.kind())) throw;
      throw RepairRefused(rule + ": the database rejected deleting rows of table '" + t.name.str() + "' (" +
                          std::string(to_string(e.kind())) + ": " + e.what() + "). Suggested policy: report");
    }
  };
  for (const auto* u : w.uniques) {
    const auto r = effective_repair(u->repair, u->name, o);
    if (r.references == model::Repair::References::repoint) continue;  // refused before (run_fix): never here
    report.actions.push_back(FixAction{t.name.str(), u->name, "unique", "delete_duplicates", 0, 0, 0, 0, {}});
    const size_t a = report.actions.size() - 1;
    const std::vector<std::vector<dialect::Value>>* groups = nullptr;
    if (w.unique_groups) {
      if (auto it = w.unique_groups->find(u->name); it != w.unique_groups->end()) groups = &it->second;
    }
    // Kept per group: the first by `by`, else by row id (the physical order).
    const std::string doomed = d.key_in(t.key_list(), key_types(t), duplicate_keys_sql(t, *u, r, groups));
    if (o.dry_run) report.actions[a].preview = sample_rows(db, t, doomed, "", o.sample);
    report.actions[a].deleted = delete_audited(u->name, doomed);
  }
  for (const auto* c : w.checks) {
    const auto r = effective_repair(c->repair, c->name, o);
    // A rule that updates had nothing to repair at the scan (run_fix refuses
    // the table otherwise); rows broken since are reported by the check after.
    if (r.policy != model::RepairPolicy::delete_row) continue;
    report.actions.push_back(
        FixAction{t.name.str(), c->name, "check", std::string(model::to_string(r.policy)), 0, 0, 0, 0, {}});
    const size_t a = report.actions.size() - 1;
    const std::string where = "NOT (" + check_predicate(*c, d) + ")";
    if (o.dry_run) {
      report.actions[a].preview = sample_rows(db, t, where, "", o.sample);
      report.actions[a].violations = scalar(db, "SELECT count(*) FROM " + t.q + " WHERE " + where);
    }
    report.actions[a].deleted = delete_audited(c->name, where);
    fault::point("fix-rule");
  }
}

// Repairs one table. Returns the temp table of the keys it worked on (every
// row that broke any CHECK of the table, from the scan or collected in its
// own pass), so the check after the run can count those rows alone; "" when
// it repaired no CHECK and the scan gave none.
std::string fix_table(Connection& db, const TableWork& w, const FixOptions& o, const std::string& run_id,
                      FixReport& report) {
  if (w.deletes_only) {
    fix_by_deleting(db, w, o, run_id, report);
    return "";
  }
  AuditedTable t = audited_table(db, w.spec->name, Keyless::refused);
  const bool preview = o.dry_run;
  const auto& d = *t.d;
  const std::string run = d.quote_string(run_id);
  const std::string audit_prefix = std::string("INSERT INTO ") + kAudit + " (run_id, " + AuditedTable::kAuditColumns +
                                   ", action, row_key, before_row) SELECT " + run + ", " + t.audit_values() + ", ";
  // Indices, not pointers: report.actions grows while we work.
  std::map<std::string, size_t> actions;
  auto action_for = [&](const std::string& name, const std::string& kind, const std::string& policy) {
    report.actions.push_back(FixAction{t.name.str(), name, kind, policy, 0, 0, 0, 0, {}});
    return report.actions.size() - 1;
  };

  check_triggers(db, t.name, o, report, "fix of table '" + t.name.str() + "'");
  const std::string keys = w.keys_table;
  const bool scanned_keys = w.scan_keys && load_keys(db, t, keys, *w.scan_keys);

  // UNIQUE duplicates first: a deleted row need not be clamped.
  for (const auto* u : w.uniques) {
    const auto r = effective_repair(u->repair, u->name, o);
    const size_t a = action_for(u->name, "unique", "delete_duplicates");
    db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table("cc_fix_dups"));
    const std::vector<std::vector<dialect::Value>>* groups = nullptr;
    if (w.unique_groups) {
      if (auto it = w.unique_groups->find(u->name); it != w.unique_groups->end()) groups = &it->second;
    }
    db.execute("CREATE TEMP TABLE cc_fix_dups AS " + duplicate_keys_sql(t, *u, r, groups));
    const std::string doomed = t.d->key_in(t.key_list(), key_types(t), "SELECT " + t.key_list() + " FROM cc_fix_dups");
    if (preview) report.actions[a].preview = sample_rows(db, t, doomed, "", o.sample);
    if (r.references == model::Repair::References::repoint)
      report.actions[a].repointed = repoint_references(db, t, *u, r, run_id, o, report);
    try {
      report.audited +=
          delete_with_fk_actions(db, t, doomed, o, o.allow_cascade || r.allow_cascade, u->name, run_id, report, [&] {
            report.audited +=
                db.execute_count(audit_prefix + "'delete', " + t.key_json("cc_row") + ", " + t.row_json("cc_row") +
                                 " FROM " + t.q + " AS cc_row WHERE " + doomed + d.lock_rows("cc_row"));
            report.actions[a].deleted = db.execute_count("DELETE FROM " + t.q + " WHERE " + doomed);
          });
    } catch (const DatabaseError& e) {
      if (!is_violation(e.kind())) throw;
      throw RepairRefused(u->name + ": repair delete_duplicates (" +
                          (u->repair.where.line > 0 ? u->repair.where : u->where).str() + ") cannot work on table '" +
                          t.name.str() + "': the database rejected deleting the surplus rows (" +
                          std::string(to_string(e.kind())) + ": " + e.what() +
                          "). Suggested policy: report, or references = \"repoint\"");
    }
    db.execute("DROP TABLE " + db.dialect().temp_table("cc_fix_dups"));
  }
  if (w.checks.empty()) return scanned_keys ? keys : "";

  // The rows breaking any CHECK of the table: those the scan before found,
  // or, where its rows may have changed since or were too many to keep,
  // found again in one pass. Either way the check after the run counts
  // these rows alone.
  std::vector<std::string> preds, all;
  for (const auto* c : w.checks) preds.push_back("(" + check_predicate(*c, d) + ")");
  for (const auto& c : w.spec->checks) all.push_back("(" + check_predicate(c, d) + ")");
  if (!scanned_keys) {
    db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table(keys));
    db.execute("CREATE TEMP TABLE " + keys + " AS SELECT " + t.key_list() + " FROM " + t.q + " WHERE NOT (" +
               join(all, " AND ") + ")");
    db.execute("ANALYZE " + keys);
  }
  const std::string mine = keys_condition(t, keys, scanned_keys ? w.scan_keys : nullptr);
  // The before-images of the rows the rules may change (locked until the
  // run ends), kept in a temp table beside their keys: once the repairs are
  // done, one INSERT writes each audit row once, with both images, for the
  // rows that changed or are gone.
  std::vector<std::string> image_keys, image_match;
  for (size_t k = 0; k < t.key.size(); ++k) {
    const std::string kc = "cc_fix_k" + std::to_string(k);
    image_keys.push_back(d.column_ref("cc_row", t.key[k]) + " AS " + kc);
    image_match.push_back(d.column_ref("cc_row", t.key[k]) + " = cc_img." + kc);
  }
  db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table("cc_fix_images"));
  db.execute("CREATE TEMP TABLE cc_fix_images AS SELECT " + join(image_keys, ", ") + ", " + t.key_json("cc_row") +
             " AS cc_fix_key, " + t.row_json("cc_row") + " AS cc_fix_before FROM " + t.q + " AS cc_row WHERE " + mine +
             d.lock_rows("cc_row"));
  for (const auto* c : w.checks) {
    const auto r = effective_repair(c->repair, c->name, o);
    actions[c->name] = action_for(c->name, "check", std::string(model::to_string(r.policy)));
    if (preview) {
      // Before: the rows this rule flags now; their after-values are read
      // once the repairs converged, so interacting rules show what really happens.
      const std::string col =
          r.policy == model::RepairPolicy::delete_row ? "" : (r.column.empty() ? c->column : r.column);
      auto& a = report.actions[actions[c->name]];
      a.preview = sample_rows(db, t, mine + " AND NOT (" + check_predicate(*c, d) + ")", col, o.sample);
      a.violations = scalar(db, "SELECT count(*) FROM " + t.q + " WHERE NOT (" + check_predicate(*c, d) + ")");
    }
  }
  // One rule at a time, as declared: its UPDATE or DELETE.
  auto apply_rule = [&](const model::Check* c) -> std::int64_t {
    const auto r = effective_repair(c->repair, c->name, o);
    const std::string where = mine + " AND NOT (" + check_predicate(*c, d) + ")";
    FixAction& a = report.actions[actions[c->name]];
    try {
      if (r.policy == model::RepairPolicy::delete_row) {
        std::int64_t n = 0;
        report.audited +=
            delete_with_fk_actions(db, t, where, o, o.allow_cascade || r.allow_cascade, c->name, run_id, report,
                                   [&] { n = db.execute_count("DELETE FROM " + t.q + " WHERE " + where); });
        a.deleted += n;
        return n;
      }
      const std::string col = d.quote_ident(repair_target(*c, r));
      const auto n =
          db.execute_count("UPDATE " + t.q + " SET " + col + " = " + repair_value(*c, r, t) + " WHERE " + where);
      a.changed += n;
      return n;
    } catch (const DatabaseError& e) {
      if (!is_violation(e.kind())) throw;
      const std::string by = e.constraint().empty() ? "" : " '" + e.constraint() + "'";
      throw RepairRefused(refusal(
          *c, r, t,
          "the database rejected the repaired rows (" + std::string(to_string(e.kind())) + by + ": " + e.what() + ")"));
    }
  };
  // Consecutive rules that cannot see each other's writes run as one UPDATE
  // (SET a = CASE WHEN NOT (pa) THEN repair_a ELSE a END, b = ...): no rule
  // of a batch writes a column that a later rule of it writes, tests or
  // assigns from, and none deletes. Each rule then reads the values it would
  // read after the earlier ones ran, so the batch equals them in order, and
  // the dry run (which runs this very code) equals the real run.
  std::vector<std::vector<const model::Check*>> batches;
  for (const auto* c : w.checks) {
    const auto r = effective_repair(c->repair, c->name, o);
    const bool deletes = r.policy == model::RepairPolicy::delete_row;
    bool joins = !deletes && !batches.empty();
    if (joins) {
      const std::string target = repair_target(*c, r), pred = check_predicate(*c, d), value = repair_value(*c, r, t);
      for (const auto* b : batches.back()) {
        const auto rb = effective_repair(b->repair, b->name, o);
        const std::string written = repair_target(*b, rb);
        if (rb.policy == model::RepairPolicy::delete_row || t.info.same_name(written, target) ||
            !substitute_column(pred, written, "NULL").empty() || !substitute_column(value, written, "NULL").empty()) {
          joins = false;
        }
      }
    }
    if (joins) {
      batches.back().push_back(c);
    } else {
      batches.push_back({c});
    }
  }
  auto apply_batch = [&](const std::vector<const model::Check*>& batch) -> std::int64_t {
    if (batch.size() == 1) return apply_rule(batch[0]);
    std::vector<std::string> counts, sets, broken;
    for (const auto* c : batch) {
      const auto r = effective_repair(c->repair, c->name, o);
      const std::string p = check_predicate(*c, d), col = d.quote_ident(repair_target(*c, r));
      counts.push_back(d.count_if("NOT (" + p + ")"));
      sets.push_back(col + " = CASE WHEN NOT (" + p + ") THEN " + repair_value(*c, r, t) + " ELSE " + col + " END");
      broken.push_back("(" + p + ")");
    }
    const std::string where = mine + " AND NOT (" + join(broken, " AND ") + ")";
    // What each rule changes, as its own UPDATE would count it.
    std::vector<std::int64_t> per_rule(batch.size(), 0);
    db.query("SELECT " + join(counts, ", ") + " FROM " + t.q + " WHERE " + where, [&](const Row& row) {
      for (size_t i = 0; i < batch.size() && i < row.size(); ++i) per_rule[i] = dialect::value_int(row[i]);
    });
    dialect::Savepoint one(db, "cc_fix_batch");
    try {
      db.execute("UPDATE " + t.q + " SET " + join(sets, ", ") + " WHERE " + where);
      one.release();
    } catch (const DatabaseError& e) {
      if (!is_violation(e.kind())) throw;
      // Rejected: rule by rule, so the refusal names the rule the database rejects.
      one.rollback();
      std::int64_t n = 0;
      for (const auto* c : batch) n += apply_rule(c);
      return n;
    }
    std::int64_t n = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      report.actions[actions[batch[i]->name]].changed += per_rule[i];
      n += per_rule[i];
    }
    return n;
  };
  // Apply the rules in schema order until none is broken.
  for (int pass = 1;; ++pass) {
    std::int64_t changed = 0;
    for (const auto& batch : batches) {
      changed += apply_batch(batch);
      fault::point("fix-rule");
    }
    const auto left =
        scalar(db, "SELECT count(*) FROM " + t.q + " WHERE " + mine + " AND NOT (" + join(preds, " AND ") + ")");
    if (left == 0) break;
    if (changed == 0 || pass == kMaxPasses) {
      throw Error(ExitCode::findings, "table '" + t.name.str() + "': the repairs do not converge (" +
                                          std::to_string(left) + " row(s) still break a rule after " +
                                          std::to_string(pass) +
                                          " passes); the rules contradict each other. Nothing was changed.");
    }
  }
  if (preview) {
    for (const auto* c : w.checks) {
      auto& a = report.actions[actions[c->name]];
      for (auto& sample : a.preview) {
        if (sample.values.empty()) continue;  // deleted
        const std::string col = sample.values[0].first;
        dialect::Value after = std::monostate{};
        bool present = false;
        db.query("SELECT " + d.quote_ident(col) + " FROM " + t.q + " WHERE " + sample_match(t, sample),
                 [&](const Row& row) {
                   after = row[0];
                   present = true;
                 });
        if (present) {
          sample.values.emplace_back(col + " (after)", after);
        } else {
          sample.values.clear();  // deleted by another rule of the run
        }
      }
    }
  }
  // The audit rows: both images, for the rows that changed ('update') or are
  // gone ('delete': a rule of the table deletes, or one of its triggers
  // did); rows that ended up unchanged leave none. The after-images are read
  // here, inside the run's transaction, from rows it holds locked.
  const std::string here = d.column_ref("cc_row", t.key.front()) + " IS NOT NULL";
  // MATERIALIZED: each after-image is built once, not once per mention.
  report.audited += db.execute_count(
      "WITH cc_x AS MATERIALIZED (SELECT cc_img.cc_fix_key, cc_img.cc_fix_before, CASE WHEN " + here + " THEN " +
      t.row_json("cc_row") + " END AS cc_fix_after FROM cc_fix_images AS cc_img LEFT JOIN " + t.q + " AS cc_row ON " +
      join(image_match, " AND ") + " AND " + keys_condition(t, keys, scanned_keys ? w.scan_keys : nullptr, "cc_row") +
      ") INSERT INTO " + kAudit + " (run_id, " + AuditedTable::kAuditColumns +
      ", action, row_key, before_row, after_row) SELECT " + run + ", " + t.audit_values() +
      ", CASE WHEN cc_fix_after IS NULL THEN 'delete' ELSE 'update' END, cc_fix_key, cc_fix_before, cc_fix_after "
      "FROM cc_x WHERE cc_fix_after IS NULL OR cc_fix_after <> cc_fix_before");
  db.execute("DROP TABLE " + db.dialect().temp_table("cc_fix_images"));
  return keys;
}

// The report after the repairs, inside the run's transaction, without a full
// scan where the run can prove what it did not touch:
//  - a repaired table whose keys came from the scan: every row that broke
//    any of its CHECKs is among them, and the run wrote (or deleted) no
//    other row of it, so its CHECKs are counted on those rows alone;
//  - its UNIQUEs: none after a delete_duplicates (each group keeps one row)
//    and none where there was none, unless a CHECK repair wrote one of its
//    columns or it is partial; otherwise one grouped pass;
//  - tables whose rows foreign keys or the repairs of another table changed
//    (children, referencing rows), repaired tables without scan keys and
//    untouched tables that still have violations (for their samples) get
//    the full pass; untouched tables without violations keep their zeros.
//  - tables in which the trigger capture recorded a change (`trigger_changed`,
//    by name) get the full pass too.
// A write by another connection since the scan (SQLite's data_version), a
// trigger that fired without a complete capture (`trigger_changed` null, or
// effects let through uncaptured), or a captured change in a table that
// foreign keys refer to (its ON DELETE actions are not captured), and every
// table gets the full pass.
ScanReport check_after(Connection& db, const model::Schema& schema, const FixOptions& options, const ScanReport& before,
                       const std::vector<TableWork>& work, const std::map<std::string, std::string>& worked_keys,
                       const std::vector<std::string>& refused_tables, bool fresh, const FixReport& report,
                       const std::set<std::string>* trigger_changed) {
  ScanOptions ao;
  ao.sample = options.sample;
  ao.inside_transaction = true;
  bool everything = !fresh;
  if (!report.triggers.empty()) {
    everything = everything || !trigger_changed || !report.uncaptured.empty();
    for (const auto& name : trigger_changed ? *trigger_changed : std::set<std::string>{}) {
      if (everything) break;
      everything = !db.inspect_table(model::TableName{name, ""}).referrers.empty();
    }
  }
  if (everything) {
    ao.tables = options.tables;
    return run_scan(db, schema, ao);
  }
  const auto& d = db.dialect();
  std::vector<std::string> full;  // tables (as shown) that get the full pass
  auto add = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const auto& c : report.children) add(full, c.table);
  if (trigger_changed) {
    for (const auto& t : schema.tables) {
      if (trigger_changed->count(t.name.name)) add(full, t.name.str());
    }
  }
  std::map<std::string, const TableWork*> worked;
  for (const auto& w : work) {
    worked[w.spec->name.str()] = &w;
    // A referencing row changes only when the run moves it (repoint) or
    // writes a column its foreign key points at (ON UPDATE actions); what
    // deletes do to children is in report.children.
    bool repoints = false;
    for (const auto* u : w.uniques)
      repoints =
          repoints || effective_repair(u->repair, u->name, options).references == model::Repair::References::repoint;
    std::vector<std::string> written;
    for (const auto* c : w.checks) {
      const auto r = effective_repair(c->repair, c->name, options);
      if (r.policy != model::RepairPolicy::delete_row) written.push_back(repair_target(*c, r));
    }
    const TableInfo info = db.inspect_table(w.spec->name);
    for (const auto& ref : info.referrers) {
      bool moved = repoints || ref.parent_columns.empty();
      for (const auto& col : written) {
        for (const auto& p : ref.parent_columns) moved = moved || info.same_name(p, col);
      }
      if (moved) add(full, ref.table.str());
    }
  }
  for (const auto& t : refused_tables) add(full, t);
  std::vector<std::string> rescan;
  std::map<std::string, bool> known_unique;  // name -> counted as none without a pass
  for (const auto& t : schema.tables) {
    const std::string name = t.name.str();
    if (!options.tables.empty() &&
        std::find(options.tables.begin(), options.tables.end(), name) == options.tables.end())
      continue;
    auto w = worked.find(name);
    const bool is_full = std::find(full.begin(), full.end(), name) != full.end();
    if (w == worked.end() && !is_full) {
      bool violated = false;
      for (const auto& c : before.constraints) violated = violated || (c.table == name && c.violations > 0);
      if (violated) rescan.push_back(name);
      continue;
    }
    rescan.push_back(name);
    if (is_full) continue;
    auto k = worked_keys.find(name);
    if (!t.checks.empty()) {
      if (k == worked_keys.end()) continue;  // no keys: the full pass
      AuditedTable ctx;
      ctx.d = &d;
      ctx.info = db.inspect_table(t.name);  // the key's types too (Dialect::key_in)
      ctx.key = ctx.info.primary_key;
      if (ctx.key.empty()) ctx.key = {ctx.info.row_id};
      ao.check_rows[name] = keys_condition(ctx, k->second, w->second->scan_keys);
    }
    std::vector<std::string> written;  // columns the CHECK repairs of the run wrote
    for (const auto* c : w->second->checks) {
      const auto r = effective_repair(c->repair, c->name, options);
      if (r.policy != model::RepairPolicy::delete_row) written.push_back(repair_target(*c, r));
    }
    for (const auto& u : t.uniques) {
      bool touched = !u.where_expr.empty();
      for (const auto& col : u.columns) {
        touched = touched || std::find(written.begin(), written.end(), col) != written.end();
      }
      const bool repaired =
          std::find(w->second->uniques.begin(), w->second->uniques.end(), &u) != w->second->uniques.end();
      bool had = false;
      for (const auto& c : before.constraints) had = had || (c.table == name && c.name == u.name && c.violations > 0);
      if (!touched && (repaired || !had)) {
        known_unique[u.name] = true;
        ao.skip_uniques.push_back(u.name);
      }
    }
  }
  ScanReport out = before;
  if (!rescan.empty()) {
    ao.tables = rescan;
    ScanReport again = run_scan(db, schema, ao);
    for (auto& c : out.constraints) {
      for (auto& a : again.constraints) {
        if (a.table == c.table && a.name == c.name) c = std::move(a);
      }
    }
  }
  for (auto& c : out.constraints) {
    if (c.kind == "unique" && known_unique.count(c.name) &&
        std::find(rescan.begin(), rescan.end(), c.table) != rescan.end()) {
      c.violations = 0;
      c.groups = 0;
      c.samples.clear();
    }
  }
  out.check_keys.clear();
  return out;
}

}  // namespace

FixReport run_fix(Connection& db, const model::Schema& schema, const FixOptions& options) {
  for (const auto& [name, policy] : options.overrides) {
    bool found = false;
    for (const auto& t : schema.tables) {
      for (const auto& c : t.checks) {
        if (c.name != name) continue;
        found = true;
        if (policy == model::RepairPolicy::clamp && (!c.structured() || (!c.min && !c.max))) {
          throw UsageError("--policy " + name + "=clamp: clamp needs a check with min or max");
        }
        if (policy == model::RepairPolicy::delete_duplicates)
          throw UsageError("--policy " + name + ": delete_duplicates is for UNIQUE");
        if ((policy == model::RepairPolicy::set_value && !c.repair.value) ||
            (policy == model::RepairPolicy::set_expr && c.repair.expr.empty())) {
          throw UsageError("--policy " + name +
                           ": set and set_expr need their value in schema/; only report, clamp, set_null, set_default "
                           "and delete can be chosen here");
        }
      }
      for (const auto& u : t.uniques) {
        if (u.name != name) continue;
        found = true;
        if (policy != model::RepairPolicy::report && policy != model::RepairPolicy::delete_duplicates) {
          throw UsageError("--policy " + name + ": a UNIQUE can only be report or delete_duplicates");
        }
      }
    }
    if (!found) throw UsageError("--policy " + name + ": no such constraint in the schema");
  }

  // The scan before the fix also returns the keys of the rows breaking a
  // CHECK: the fix repairs those rows without a pass of its own. Where the
  // database can tell (SQLite's data_version), the fix makes sure that no
  // other connection committed since; otherwise it collects them again.
  const std::string version_sql = db.dialect().data_version_sql();
  auto data_version = [&] { return version_sql.empty() ? std::int64_t{0} : scalar(db, version_sql); };
  const std::int64_t version_before = data_version();
  ScanOptions so;
  so.tables = options.tables;
  so.sample = 0;
  so.keep_keys = true;
  ScanReport before = run_scan(db, schema, so);  // validates the schema against the database, counts

  std::vector<TableWork> work;
  for (const auto& t : schema.tables) {
    if (!options.tables.empty() &&
        std::find(options.tables.begin(), options.tables.end(), t.name.str()) == options.tables.end())
      continue;
    auto violated = [&](const std::string& name) {
      for (const auto& c : before.constraints) {
        if (c.name == name) return c.violations > 0;
      }
      return false;
    };
    TableWork w{&t, {}, {}, nullptr, &before.unique_groups, {}};
    for (const auto& c : t.checks) {
      if (repairs(effective_repair(c.repair, c.name, options).policy) && violated(c.name)) w.checks.push_back(&c);
    }
    for (const auto& u : t.uniques) {
      if (repairs(effective_repair(u.repair, u.name, options).policy) && violated(u.name)) w.uniques.push_back(&u);
    }
    // Once one rule of a table is repaired, all its repairable rules take
    // part: a clamp on one column can break another rule (willpower).
    if (!w.checks.empty()) {
      w.checks.clear();
      for (const auto& c : t.checks) {
        if (repairs(effective_repair(c.repair, c.name, options).policy)) w.checks.push_back(&c);
      }
    }
    if (auto it = before.check_keys.find(t.name.str()); it != before.check_keys.end()) w.scan_keys = &it->second;
    w.keys_table = "cc_fix_keys_" + std::to_string(work.size());
    if (!w.checks.empty() || !w.uniques.empty()) work.push_back(w);
  }

  FixReport report;
  report.dry_run = options.dry_run;
  // A table whose rows cannot be named stably is refused on its own; the
  // other tables of the run are repaired.
  // Deleting needs no stable key where the dialect deletes and audits in
  // one statement: then only repairs that update rows are refused.
  for (auto& w : work) {
    const TableInfo info = db.inspect_table(w.spec->name);
    const std::string why = unnamable_rows(db.dialect(), info);
    if (why.empty()) continue;
    // A rule of the table that would update rows (one with nothing to
    // repair changes nothing, and is left out).
    auto violated = [&](const std::string& name) {
      return std::any_of(before.constraints.begin(), before.constraints.end(), [&](const auto& k) {
        return k.table == w.spec->name.str() && k.name == name && k.violations > 0;
      });
    };
    std::string updating;
    for (const auto* c : w.checks) {
      if (updating.empty() && violated(c->name) &&
          effective_repair(c->repair, c->name, options).policy != model::RepairPolicy::delete_row)
        updating = c->name;
    }
    for (const auto* u : w.uniques) {
      if (updating.empty() && violated(u->name) &&
          effective_repair(u->repair, u->name, options).references == model::Repair::References::repoint)
        updating = u->name;
    }
    if (updating.empty() && info.referrers.empty() && !info.row_id.empty() && !info.row_id_repeats &&
        db.dialect().capabilities().delete_returning_in_with) {
      w.deletes_only = true;
      w.scan_keys = nullptr;  // row ids from another snapshot name nothing now
      continue;
    }
    std::string detail = why;
    if (info.row_id_repeats)
      detail += " (it is part of a partition or inheritance hierarchy, whose tables share row addresses)";
    else if (!updating.empty() && db.dialect().capabilities().delete_returning_in_with)
      detail += " (" + updating + " would update rows; repairs that delete, delete and delete_duplicates, work on it)";
    else if (!info.referrers.empty())
      detail += " (other tables' foreign keys refer to it)";
    report.refused.push_back(detail);
    w.checks.clear();
    w.uniques.clear();
  }
  // Repairs that cannot work here, refused before anything changes: a
  // repair whose result the table itself rejects (a generated column, NULL
  // into NOT NULL, a value another CHECK or a UNIQUE of the table refuses),
  // and duplicates that other rows reference (references = "refuse", the
  // default), naming who refers. Every refusal of the run is listed at once.
  std::vector<std::string> refusals;
  for (auto& w : work) {
    std::vector<const model::Check*> usable;
    std::optional<AuditedTable> ctx;
    for (const auto* c : w.checks) {
      const auto r = effective_repair(c->repair, c->name, options);
      if (!ctx) ctx = audited_table(db, w.spec->name, w.deletes_only ? Keyless::deletes : Keyless::refused);
      const std::string why = repair_refusal(db, *ctx, *c, r);
      if (why.empty()) {
        usable.push_back(c);
        continue;
      }
      bool violated = false;
      for (const auto& k : before.constraints) violated = violated || (k.name == c->name && k.violations > 0);
      // A rule with nothing to repair is only left out: it would fail only if another rule broke it.
      if (violated) refusals.push_back(refusal(*c, r, *ctx, why));
    }
    bool any_violated = false;
    for (const auto* c : usable) {
      for (const auto& k : before.constraints) any_violated = any_violated || (k.name == c->name && k.violations > 0);
    }
    w.checks = any_violated ? usable : std::vector<const model::Check*>{};
    std::vector<const model::Unique*> keep;
    for (const auto* u : w.uniques) {
      const auto r = effective_repair(u->repair, u->name, options);
      if (r.references == model::Repair::References::repoint || w.deletes_only) {
        keep.push_back(u);  // deletes_only: no table refers to it
        continue;
      }
      AuditedTable t = audited_table(db, w.spec->name, Keyless::refused);
      const auto g = before.unique_groups.find(u->name);
      const std::string doomed = "(" + t.key_list() + ") IN (" +
                                 duplicate_keys_sql(t, *u, r, g == before.unique_groups.end() ? nullptr : &g->second) +
                                 ")";
      const auto refs = referencing_rows(db, t, doomed);
      if (refs.empty()) {
        keep.push_back(u);
        continue;
      }
      std::string who;
      for (const auto& [table, n] : refs)
        who += (who.empty() ? "" : ", ") + table + ": " + std::to_string(n) + " row(s)";
      const std::string why =
          u->name + ": the surplus rows of '" + t.name.str() + "' are referenced by " + who +
          "; deleting them would break or change those rows. Set references = \"repoint\" in its repair (" +
          u->repair.where.str() + ") to move them to the kept row first, or repair them by hand";
      refusals.push_back(why);
    }
    w.uniques = keep;
  }
  if (!refusals.empty() && !options.skip_refused) {
    throw Error(ExitCode::findings, "fix refused: " + join(refusals, ";\n  ") +
                                        ".\nNothing was changed (--skip-refused repairs the rest).");
  }
  report.refused.insert(report.refused.end(), refusals.begin(), refusals.end());
  work.erase(std::remove_if(work.begin(), work.end(),
                            [](const TableWork& w) { return w.checks.empty() && w.uniques.empty(); }),
             work.end());
  if (work.empty()) {
    report.after = std::move(before);
    return report;
  }

  const auto& d = db.dialect();
  for (const auto& sql : d.enforce_foreign_keys())
    db.execute(sql);  // the declared cascades must happen, and be audited
  report.run_id = new_run_id();
  // The dry run is the real run, rolled back: the same statements in the
  // same order, so it predicts counts, cascades, refusals and convergence
  // exactly, and leaves nothing behind (the audit tables included).
  std::optional<dialect::Transaction> trial;
  if (options.dry_run) trial.emplace(db);
  // Filled by the body: per table (as shown), the temp table of the keys it
  // worked on, when they came from the scan; tables refused on their own.
  std::map<std::string, std::string> worked_keys;
  std::vector<std::string> refused_tables;
  bool fresh = true;
  auto body = [&] {
    for (const auto& sql : d.immediate_constraints()) db.execute(sql);  // a deferred foreign key refuses a statement
    fresh = data_version() == version_before;
    if (!fresh) {
      for (auto& w : work) {  // another connection committed since the scan
        w.scan_keys = nullptr;
        w.unique_groups = nullptr;
      }
    }
    // Created in the run's own transaction: no commit of their own to wait for.
    ensure_audit_tables(db);
    db.execute(std::string("INSERT INTO ") + kRuns + " (run_id, started_at, tool_version, applied_by) VALUES (" +
               d.quote_string(report.run_id) + ", " + now_sql(d) + ", " + d.quote_string(options.tool_version) + ", " +
               d.quote_string(options.applied_by) + ")");
    // What the user triggers the fix fires write is recorded from here on.
    std::vector<model::TableName> written;
    for (const auto& w : work) written.push_back(w.spec->name);
    TriggerCapture capture(db, written);
    bool capture_complete = false;  // every table a trigger may write is recorded
    {
      dialect::Savepoint capturing(db, "cc_fix_capture");
      try {
        capture.start();
        capturing.release();
        capture_complete = true;
      } catch (const DatabaseError& e) {
        capturing.rollback();
        if (!options.allow_triggers) {
          throw Error(ExitCode::findings, "fix refused: the changes user triggers make cannot be recorded (" +
                                              std::string(e.what()) +
                                              "), so fix-undo could not reverse them.\nNothing was changed "
                                              "(--allow-triggers goes ahead without recording them).");
        }
        report.uncaptured.push_back(std::string("no trigger effects captured: ") + e.what());
      }
    }
    // The database's own count of this transaction's writes per table,
    // before the repairs (keyless tables, below).
    const bool any_keyless = std::any_of(work.begin(), work.end(), [](const TableWork& w) { return w.deletes_only; });
    const auto writes_before = any_keyless ? db.transaction_writes() : std::nullopt;
    for (const auto& w : work) {
      // Each table in a savepoint: a repair the database still rejects
      // (what plan time could not know, e.g. a foreign key) refuses that
      // table cleanly instead of failing the run half-way.
      const size_t actions_before = report.actions.size();
      const auto cascaded_before = report.cascaded, audited_before = report.audited;
      const auto children_before = report.children;
      const auto triggers_before = report.triggers;
      const auto uncaptured_before = report.uncaptured;
      dialect::Savepoint table_work(db, "cc_fix_table");
      try {
        const std::string keys = fix_table(db, w, options, report.run_id, report);
        if (const auto pending = db.deferred_violations(); pending > 0) {
          std::vector<std::string> deferred;
          for (const auto& ref : db.inspect_table(w.spec->name).referrers) {
            if (ref.on_delete == "NO ACTION" || ref.on_delete == "RESTRICT")
              deferred.push_back("'" + ref.table.str() + "'");
          }
          std::vector<std::string> rules;
          for (const auto* c : w.checks) rules.push_back(c->name);
          for (const auto* u : w.uniques) rules.push_back(u->name);
          throw RepairRefused(join(rules, ", ") + ": the repairs of table '" + w.spec->name.str() + "' leave " +
                              std::to_string(pending) + " reference(s) to rows they delete or change" +
                              (deferred.empty() ? std::string() : " (from " + join(deferred, ", ") + ")") +
                              ", through a deferred foreign key: the database would refuse the COMMIT. Repair or "
                              "delete the referencing rows first, or report these rows");
        }
        table_work.release();
        if (!keys.empty()) worked_keys[w.spec->name.str()] = keys;
      } catch (const RepairRefused& e) {
        if (!options.skip_refused) {
          throw Error(ExitCode::findings, "fix refused: " + std::string(e.what()) +
                                              ".\nNothing was changed (--skip-refused repairs the rest).");
        }
        table_work.rollback();
        report.actions.resize(actions_before);
        report.cascaded = cascaded_before;
        report.audited = audited_before;
        report.children = children_before;
        report.triggers = triggers_before;
        report.uncaptured = uncaptured_before;
        report.refused.push_back(std::string(e.what()) + " (no repair of table '" + w.spec->name.str() + "' was kept)");
        refused_tables.push_back(w.spec->name.str());
      } catch (const std::exception& e) {
        rethrow_with_context(e, "fix table '" + w.spec->name.str() + "'");
      }
    }
    // A table without a key that the fix deleted from: its audit rows have
    // no key, so neither the capture nor undo could tell a trigger's change
    // of it from the fix's own deletes. The database counts every write of
    // the transaction per table: the writes of every table of that name (in
    // any schema) since the repairs began must be exactly the fix's own
    // deletes, or the whole run is refused.
    std::vector<const TableWork*> keyless_done;
    if (any_keyless) {
      const auto writes_after = db.transaction_writes();
      for (const auto& w : work) {
        if (!w.deletes_only) continue;
        const auto& n = w.spec->name;
        AuditedTable named;
        named.d = &d;
        named.name = n;
        const std::int64_t own = scalar(db, std::string("SELECT count(*) FROM ") + kAudit + " WHERE run_id = " +
                                                d.quote_string(report.run_id) + " AND " + named.audit_of(kAudit));
        if (own == 0) continue;
        auto same_name = [&](const std::string& t) {
          return t == n.name ||
                 (t.size() > n.name.size() && t.compare(t.size() - n.name.size(), n.name.size(), n.name) == 0 &&
                  t[t.size() - n.name.size() - 1] == '.');
        };
        std::int64_t written_now = 0;
        if (writes_before && writes_after) {
          for (const auto& [t, k] : *writes_after) written_now += same_name(t) ? k : 0;
          for (const auto& [t, k] : *writes_before) written_now -= same_name(t) ? k : 0;
        }
        if (!writes_before || !writes_after || written_now != own) {
          throw Error(ExitCode::findings,
                      "fix refused: table '" + n.str() + "' has no primary key, and " +
                          (writes_before && writes_after ? std::to_string(written_now) + " row(s) of tables named '" +
                                                               n.name + "' were written during the fix, " +
                                                               std::to_string(own) + " of them the fix's own deletes"
                                                         : std::string("the database does not count this "
                                                                       "transaction's writes")) +
                          ": a trigger (or another repair of a table of that name) changed them too, and the audit "
                          "could not tell its rows from the fix's, so undo could miss them.\nNothing was changed (add "
                          "a primary key to repair it).");
        }
        // The capture names the tables of the current schema without one:
        // whether this is one, the write counts say (they name those bare).
        bool current = false;
        for (const auto& [t, k] : *writes_after) current = current || t == n.name;
        if (current) keyless_done.push_back(&w);
      }
    }
    report.trigger_effects = capture.finish(report.run_id, report.audited, options.allow_triggers, report.uncaptured);
    // What the capture recorded of those tables can only be the fix's own
    // deletes (counted above), recorded again where it names the table
    // another way (schema = "public" written out): not the triggers'.
    for (const auto* w : keyless_done) {
      const auto& n = w->spec->name;
      report.audited -= db.execute_count(
          std::string("DELETE FROM ") + kAudit + " WHERE run_id = " + d.quote_string(report.run_id) +
          " AND table_name = " + d.quote_string(n.name) + " AND table_schema IN ('', " + d.quote_string(n.schema) +
          ") AND action IN ('trigger_insert', 'trigger_update', 'trigger_delete')");
      auto& effects = report.trigger_effects;
      effects.erase(std::remove_if(effects.begin(), effects.end(),
                                   [&](const TriggerEffect& e) { return e.table == n.name || e.table == n.str(); }),
                    effects.end());
    }
    std::int64_t changed = 0, deleted = 0;
    for (const auto& a : report.actions) {
      changed += a.changed;
      deleted += a.deleted;
    }
    db.execute(
        std::string("UPDATE ") + kRuns + " SET finished_at = " + now_sql(d) + ", summary = " +
        d.quote_string(std::to_string(changed) + " updated, " + std::to_string(deleted) + " deleted, " +
                       std::to_string(report.cascaded) + " cascaded" +
                       (report.triggers.empty() ? std::string() : "; triggers fired: " + join(report.triggers, ", ")) +
                       trigger_summary(report)) +
        " WHERE run_id = " + d.quote_string(report.run_id));
    // What the run leaves, counted inside its transaction (the dry run: what
    // the real run would leave).
    report.after = check_after(db, schema, options, before, work, worked_keys, refused_tables, fresh, report,
                               capture_complete ? &capture.changed_tables() : nullptr);
    for (const auto& [table, keys] : worked_keys) db.execute("DROP TABLE IF EXISTS " + db.dialect().temp_table(keys));
  };
  if (options.dry_run) {
    body();
    trial->rollback();
    report.run_id.clear();
    return report;
  }
  in_write_transaction(db, "before-commit", body);
  return report;
}

// `tables` reordered so that a table comes after every other one of them it
// references (rows are re-inserted parents first, whatever order the audit
// met them in); among tables free to go, and in a cycle, the given order.
std::vector<model::TableName> parents_first(Connection& db, const std::vector<model::TableName>& tables) {
  std::vector<std::vector<size_t>> after(tables.size());  // after[i]: tables referencing tables[i]
  std::vector<size_t> waiting(tables.size(), 0);
  for (size_t i = 0; i < tables.size(); ++i) {
    for (const auto& ref : db.inspect_table(tables[i]).referrers) {
      for (size_t j = 0; j < tables.size(); ++j) {
        if (j == i || ref.table.str() != tables[j].str()) continue;
        if (std::find(after[i].begin(), after[i].end(), j) != after[i].end()) continue;
        after[i].push_back(j);
        ++waiting[j];
      }
    }
  }
  std::vector<model::TableName> out;
  std::vector<bool> done(tables.size(), false);
  while (out.size() < tables.size()) {
    size_t pick = tables.size();
    for (size_t i = 0; i < tables.size() && pick == tables.size(); ++i) {
      if (!done[i] && waiting[i] == 0) pick = i;
    }
    for (size_t i = 0; i < tables.size() && pick == tables.size(); ++i) {
      if (!done[i]) pick = i;  // a cycle: the audit's order
    }
    done[pick] = true;
    out.push_back(tables[pick]);
    for (size_t j : after[pick]) {
      if (waiting[j] > 0) --waiting[j];
    }
  }
  return out;
}

UndoReport undo_fix(Connection& db, const std::string& run_id, const std::string& applied_by, bool force) {
  const auto& d = db.dialect();
  const std::string run = d.quote_string(run_id);
  UndoReport report;
  report.run_id = run_id;
  bool runs_table = false;
  db.query(d.table_exists_sql({kRuns}), [&](const Row& r) { runs_table = dialect::value_int(r[0]) > 0; });
  if (!runs_table) throw UsageError("fix run " + in_quotes(run_id) + " is unknown: this database has no fix runs");
  for (const auto& sql : d.enforce_foreign_keys()) db.execute(sql);
  in_write_transaction(db, "undo-before-commit", [&] {
    std::string undone;
    bool found = false;
    db.query(std::string("SELECT coalesce(undone_at, '') FROM ") + kRuns + " WHERE run_id = " + run, [&](const Row& r) {
      found = true;
      undone = dialect::value_text(r[0]);
    });
    if (!found) throw UsageError("fix run " + in_quotes(run_id) + " is unknown");
    if (!undone.empty()) throw UsageError("fix run " + in_quotes(run_id) + " was already undone at " + undone);

    upgrade_audit_table(db);
    std::vector<model::TableName> tables;
    db.query(std::string("SELECT table_name, table_schema, min(id) FROM ") + kAudit + " WHERE run_id = " + run +
                 " AND action NOT IN ('trigger_insert', 'trigger_update', 'trigger_delete')"
                 " GROUP BY table_name, table_schema ORDER BY 3",
             [&](const Row& r) {
               tables.push_back({dialect::value_text(r[0]), dialect::value_text(r[1])});
             });
    // Refuse if anything changed since the run: updated rows must still hold
    // their after-image, deleted keys must still be free. Each named by its
    // key, with what the run left and what is there now. --force goes on:
    // the columns the run changed get their before-image (other columns keep
    // the newer values), deleted rows whose key is taken again stay out.
    for (const auto& name : tables) {
      AuditedTable t = audited_table(db, name, Keyless::deletes);
      const std::string mine = std::string(kAudit) + ".run_id = " + run + " AND " + t.audit_of(kAudit);
      // Rows the run deleted from a table without a key were audited with
      // none ({}): the table must be keyless now too, and the other way round.
      const bool keyless_run = scalar(db, std::string("SELECT count(*) FROM ") + kAudit + " WHERE " + mine +
                                              " AND CAST(row_key AS TEXT) = '{}'") > 0;
      if (keyless_run && !t.deletes_only) {
        throw Error(ExitCode::findings,
                    "fix run " + in_quotes(run_id) + ": table '" + name.str() +
                        "' had no primary key when the run deleted its rows and has one now, so undo cannot tell "
                        "which of them are present again; nothing was changed (the deleted rows' images are in " +
                        kAudit + ".before_row of the run)");
      }
      if (!keyless_run && t.deletes_only) {
        throw Error(ExitCode::findings, "fix run " + in_quotes(run_id) + ": table '" + name.str() +
                                            "' had a primary key when the run changed its rows and has none now, so "
                                            "undo cannot find them again; nothing was changed (put the key back, then "
                                            "run fix-undo)");
      }
      if (t.deletes_only) {
        // No key names its rows: the run may only have deleted them (its
        // images are put back); whether a row "is present again" cannot be
        // told from another row with the same values.
        if (scalar(db, std::string("SELECT count(*) FROM ") + kAudit + " WHERE " + mine +
                           " AND action NOT IN ('delete', 'cascade')") > 0) {
          throw Error(ExitCode::findings, "fix run " + in_quotes(run_id) + ": table '" + name.str() +
                                              "' has no primary key now, so the rows the run updated cannot be found "
                                              "again; nothing was changed");
        }
        continue;
      }
      std::vector<std::string> changed;
      const std::string limit = force ? "" : " LIMIT 5";
      const std::string now = "(SELECT CAST(" + t.row_json("cc_now") + " AS TEXT) FROM " + t.q + " AS cc_now WHERE " +
                              t.key_match("cc_now", kAudit) + ")";
      db.query(
          std::string("SELECT CAST(row_key AS TEXT), CAST(after_row AS TEXT), ") + now + " FROM " + kAudit + " WHERE " +
              mine + " AND action IN ('update', 'repoint', 'set_null', 'set_default') AND NOT EXISTS (SELECT 1 FROM " +
              t.q + " AS cc_row WHERE " + t.key_match("cc_row", kAudit) + " AND " + t.row_json("cc_row") + " = " +
              kAudit + ".after_row) ORDER BY " + kAudit + ".id" + limit,
          [&](const Row& r) {
            changed.push_back(
                dialect::value_text(r[0]) + " (the run left " + dialect::value_text(r[1]) + "; now " +
                (std::holds_alternative<std::monostate>(r[2]) ? std::string("deleted") : dialect::value_text(r[2])) +
                ")");
          });
      db.query(std::string("SELECT CAST(row_key AS TEXT), ") + now + " FROM " + kAudit + " WHERE " + mine +
                   " AND action IN ('delete', 'cascade') AND EXISTS (SELECT 1 FROM " + t.q + " AS cc_row WHERE " +
                   t.key_match("cc_row", kAudit) + ") ORDER BY " + kAudit + ".id" + limit,
               [&](const Row& r) {
                 changed.push_back(dialect::value_text(r[0]) +
                                   " (deleted by the run; now present again: " + dialect::value_text(r[1]) + ")");
               });
      if (!changed.empty() && !force) {
        throw Error(ExitCode::findings,
                    "fix run " + in_quotes(run_id) + ": rows of '" + name.str() +
                        "' changed again since the run, so undo would overwrite newer data; nothing was changed "
                        "(--force puts back the columns the run changed anyway). Rows: " +
                        join(changed, ", "));
      }
      report.forced += static_cast<std::int64_t>(changed.size());
    }
    // Nothing the undo writes may fire a trigger (an AFTER INSERT adding to
    // a total again, an event log growing): the triggers of every table it
    // writes are suspended, and put back before it commits.
    // What the run's triggers wrote: checked the same way, before anything is written.
    const CapturedUndo captured = check_captured(db, run_id, force, report.forced);
    std::vector<std::string> resume;
    std::vector<model::TableName> suspended;
    for (const auto& list : {tables, captured.tables}) {
      for (const auto& name : list) {
        bool done = false;
        for (const auto& s : suspended) done = done || s.str() == name.str();
        if (done) continue;
        suspended.push_back(name);
        for (auto& sql : db.suspend_triggers(name)) resume.push_back(std::move(sql));
      }
    }
    // Deleted rows come back first, parents before the children that
    // cascaded from them (audited in that order, at any depth); then updated
    // rows get their before-image, children an ON DELETE SET NULL / SET
    // DEFAULT changed get their key back, and references moved to a kept row
    // (repoint) point at their own row again.
    // One statement per table, parents' tables first: a foreign key is
    // checked at the end of each statement, so rows of one table that
    // reference each other come back together.
    for (const auto& name : parents_first(db, tables)) {
      AuditedTable t = audited_table(db, name, Keyless::deletes);
      std::vector<std::string> cols, values;
      for (const auto& c : t.data) {
        cols.push_back(d.quote_ident(c));
        values.push_back(d.json_get("a.before_row", c, t.type_of(c)));
      }
      if (t.key.size() == 1 && d.is_row_id(t.key[0]) && !t.deletes_only) {
        cols.push_back(t.key[0]);
        values.push_back(d.json_get("a.row_key", t.key[0], "INTEGER"));
      }
      // Without a key every image comes back (the run deleted each once).
      const std::string free_key = t.deletes_only ? ""
                                                  : " AND NOT EXISTS (SELECT 1 FROM " + t.q + " AS cc_row WHERE " +
                                                        t.key_match("cc_row", "a") + ")";
      report.reinserted += db.execute_count("INSERT INTO " + t.q + " (" + join(cols, ", ") + ")" +
                                            d.insert_keeping_identity() + " SELECT " + join(values, ", ") + " FROM " +
                                            kAudit + " AS a WHERE a.run_id = " + run + " AND " + t.audit_of("a") +
                                            " AND a.action IN ('delete', 'cascade')" + free_key + " ORDER BY a.id");
    }
    for (const auto& name : tables) {
      AuditedTable t = audited_table(db, name, Keyless::deletes);
      if (t.deletes_only) continue;  // deleted rows only: put back above
      // SET col = (before-image) for each audited row, matched by its key
      // now. A repointed row gets its key columns back too: its foreign key
      // may be part of its key.
      for (const char* action : {"update", "set_null", "set_default", "repoint"}) {
        const bool keys_too = std::string(action) == "repoint";
        std::vector<std::string> sets;
        for (const auto& c : t.data) {
          if (!keys_too && std::find(t.key.begin(), t.key.end(), c) != t.key.end()) continue;
          // Never changed by a fix, and an UPDATE may not name it.
          if (const auto* info = t.info.find_column(c); info && info->identity_always) continue;
          // Only what the run changed is written back: a column it left
          // alone keeps its value exactly (json text, newer data with --force).
          sets.push_back(
              d.quote_ident(c) + " = CASE WHEN " +
              d.json_member_same(std::string(kAudit) + ".before_row", std::string(kAudit) + ".after_row", c) +
              " THEN " + t.q + "." + d.quote_ident(c) + " ELSE " +
              d.json_get(std::string(kAudit) + ".before_row", c, t.type_of(c)) + " END");
        }
        if (sets.empty()) continue;
        report.restored +=
            db.execute_count("UPDATE " + t.q + " SET " + join(sets, ", ") + " FROM " + kAudit + " WHERE " + kAudit +
                             ".run_id = " + run + " AND " + t.audit_of(kAudit) + " AND " + kAudit + ".action = '" +
                             action + "' AND " + t.key_match(t.q, kAudit));
      }
    }
    // Then what the triggers wrote, newest first.
    report.triggered = undo_captured(db, run_id, captured);
    for (const auto& sql : resume) db.execute(sql);
    db.execute(std::string("UPDATE ") + kRuns + " SET undone_at = " + now_sql(d) +
               ", undone_by = " + d.quote_string(applied_by) + " WHERE run_id = " + run);
  });
  return report;
}

}  // namespace cc::scan
