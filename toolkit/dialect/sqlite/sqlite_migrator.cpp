// SQLite migrations. SQLite 3.40 cannot ALTER a CHECK into a table, so a
// table whose CHECKs change is rebuilt with the documented procedure
// (lang_altertable.html, "other kinds of table schema changes"), once per
// table per migration however many of its constraints change:
//   foreign_keys OFF before BEGIN (a no-op inside a transaction) and verified;
//   BEGIN IMMEDIATE; save the table's indexes and triggers and all views;
//   CREATE TABLE new from the original text with the constraints edited in;
//   copy; drop the views; DROP the old table; RENAME new (legacy_alter_table,
//   so dangling references elsewhere are not re-parsed mid-way); recreate
//   indexes, triggers and views from their saved SQL; restore
//   sqlite_sequence; foreign_key_check; history row; COMMIT; foreign_keys
//   restored. Any error rolls the whole migration back.
// A UNIQUE is a unique index: no rebuild. Where the linked SQLite parses
// ALTER TABLE ... ADD/DROP CONSTRAINT, that native form is used instead.
#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fault.h"
#include "dialect/migrator.h"
#include "core/sql_lexer.h"
#include "dialect/sqlite/create_table.h"

namespace cc::dialect {
namespace {

std::string q(std::string_view s) { return sqlite_dialect().quote_ident(s); }
std::string lit(std::string_view s) { return sqlite_dialect().quote_string(s); }

bool is_busy(const DatabaseError& e) {
  const int primary = e.sqlite_code() & 0xff;
  return primary == 5 /* SQLITE_BUSY */ || primary == 6 /* SQLITE_LOCKED */;
}

// The changes a migration makes to one table's CHECKs.
struct TableChecks {
  std::vector<std::string> drop;
  std::vector<sqlite::CheckToAdd> add;
};

class SqliteMigrator final : public Migrator {
 public:
  SqliteMigrator(Connection& db, MigratorOptions options) : db_(db), options_(std::move(options)) {}

  // SQLite has no advisory lock: each migration takes the write lock with
  // BEGIN IMMEDIATE (waiting up to the busy timeout) and re-reads history
  // inside it, so concurrent migrators serialise and never apply twice.
  void lock() override {
    std::string mode;
    db_.query("PRAGMA journal_mode", [&](const Row& r) { mode = value_text(r[0]); });
    if (mode == "off" || mode == "memory") {
      throw UsageError("journal_mode is " + mode + ": a failed rebuild could not be rolled back; refusing to migrate");
    }
  }
  void unlock() override {}

  void ensure_history() override { detail::create_bookkeeping(db_); }

  std::vector<HistoryRow> history() override {
    bool exists = false;
    db_.query(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '") + kHistoryTable + "'",
              [&](const Row& r) { exists = value_int(r[0]) > 0; });
    return detail::read_history(db_, exists);
  }

  std::vector<PlannedStatement> plan(const migrate::Migration& m, bool up) override {
    std::vector<PlannedStatement> out;
    out.push_back({"PRAGMA foreign_keys = OFF", "before the transaction: inside one it is a no-op"});
    out.push_back({"BEGIN IMMEDIATE", "take the write lock up front"});
    for (const auto& s : statements(m.steps(up))) out.push_back(s);
    out.push_back({"PRAGMA foreign_key_check", "must return no rows, or everything rolls back"});
    out.push_back({detail::history_insert(sqlite_dialect(), m, up, "strftime('%Y-%m-%d %H:%M:%f', 'now')", options_), ""});
    out.push_back({"COMMIT", ""});
    out.push_back({"PRAGMA foreign_keys = <as before>", ""});
    return out;
  }

  bool run(const migrate::Migration& m, bool up, const RunExtras& extras) override {
    std::vector<migrate::Operation> steps;
    for (const auto& op : m.steps(up)) {
      if (std::find(extras.skip.begin(), extras.skip.end(), op.def.name) == extras.skip.end()) steps.push_back(op);
    }
    return execute(steps, extras.record, &m, up);
  }

  void run_ops(const std::vector<migrate::Operation>& ops, const std::vector<std::string>& record) override {
    execute(ops, record, nullptr, true);
  }

  // SQLite keeps constraint text as written and has no normaliser, so both
  // sides are compared as token streams: case-folded keywords and unquoted
  // identifiers, quotes removed, redundant outer parentheses dropped.
  std::string definition_difference(const migrate::ConstraintDef& declared, const ExistingConstraint& existing) override {
    if (!declared.unique) {
      if (existing.kind != ExistingConstraint::Kind::check) return "it is not a CHECK";
      return normalize(existing.definition) == normalize(declared.check) ? "" : "the database has CHECK (" + existing.definition + ")";
    }
    if (existing.kind != ExistingConstraint::Kind::unique && existing.kind != ExistingConstraint::Kind::unique_index) {
      return "it is not a UNIQUE";
    }
    if (existing.columns != declared.columns) return "the database has " + existing.definition;
    std::string where;
    if (existing.kind == ExistingConstraint::Kind::unique_index) {
      const auto toks = sql::significant(sql::tokenize(existing.definition));
      int depth = 0;
      for (size_t i = 0; i < toks.size(); ++i) {
        if (toks[i].is("(")) ++depth;
        if (toks[i].is(")")) --depth;
        if (depth == 0 && toks[i].is_word("WHERE")) {
          where = existing.definition.substr(toks[i].offset + toks[i].text.size());
          break;
        }
      }
    }
    return normalize(where) == normalize(declared.where) ? "" : "the database has " + existing.definition;
  }

  static std::string normalize(std::string_view expr) {
    auto toks = sql::significant(sql::tokenize(expr));
    // Drop parentheses that enclose the whole expression.
    for (;;) {
      if (toks.size() < 2 || !toks.front().is("(") || !toks.back().is(")")) break;
      int depth = 0;
      bool encloses = true;
      for (size_t i = 0; i < toks.size(); ++i) {
        if (toks[i].is("(")) ++depth;
        if (toks[i].is(")")) --depth;
        if (depth == 0 && i + 1 < toks.size()) {
          encloses = false;
          break;
        }
      }
      if (!encloses) break;
      toks = std::vector<sql::Token>(toks.begin() + 1, toks.end() - 1);
    }
    std::string out;
    for (const auto& t : toks) {
      std::string text = t.kind == sql::TokenKind::quoted_identifier ? sql::identifier_name(t) : std::string(t.text);
      if (t.kind == sql::TokenKind::word || t.kind == sql::TokenKind::quoted_identifier) {
        for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      out += text + " ";
    }
    return out;
  }

  std::string capabilities() override {
    return native_alter() ? "native ALTER TABLE ADD/DROP CONSTRAINT" : "table rebuild for CHECK changes (no native ALTER TABLE ADD CONSTRAINT in this SQLite), unique indexes for UNIQUE";
  }

 private:
  // One transaction: foreign keys off before it and verified, BEGIN
  // IMMEDIATE, (for a version) a re-check that nobody applied it meanwhile,
  // the statements, foreign_key_check, history and `record`, COMMIT.
  // Returns false when another migrator had already run the version.
  bool execute(const std::vector<migrate::Operation>& steps, const std::vector<std::string>& record, const migrate::Migration* m,
               bool up) {
    std::string fk_before;
    db_.query("PRAGMA foreign_keys", [&](const Row& r) { fk_before = value_text(r[0]); });
    db_.execute("PRAGMA foreign_keys = OFF");
    std::string fk_now;
    db_.query("PRAGMA foreign_keys", [&](const Row& r) { fk_now = value_text(r[0]); });
    if (fk_now != "0") throw DatabaseError("could not turn foreign keys off before the rebuild (is a transaction open?)");
    std::string started;
    db_.query("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')", [&](const Row& r) { started = value_text(r[0]); });
    db_.allow_schema_edits(true);
    schema_version_ = -1;
    auto restore = [&] {
      try {
        db_.execute("PRAGMA legacy_alter_table = OFF");
        db_.execute("PRAGMA writable_schema = OFF");
        db_.allow_schema_edits(false);
        db_.execute("PRAGMA foreign_keys = " + fk_before);
      } catch (...) {
      }
    };
    try {
      begin_immediate();
    } catch (...) {
      restore();
      throw;
    }
    bool ran = false;
    try {
      const std::string dir = m ? detail::current_direction(db_, m->version) : "";
      if (!m || !(up ? dir == "up" : dir != "up")) {
        rebuilt_ = false;
        for (const auto& s : statements(steps)) {
          db_.execute(s.sql);
          fault::point("sqlite-statement");
        }
        // Only a rebuild can break a foreign key; the check reads the whole
        // database, so removing CHECKs by schema edit stays milliseconds.
        if (rebuilt_) {
          std::string problem;
          db_.query("PRAGMA foreign_key_check", [&](const Row& r) {
            if (problem.empty()) problem = "table " + value_text(r[0]) + " row " + value_text(r[1]) + " references a missing " + value_text(r[2]);
          });
          if (!problem.empty()) throw DatabaseError("foreign_key_check failed after the rebuild: " + problem);
        }
        if (m) db_.execute(detail::history_insert(sqlite_dialect(), *m, up, lit(started), options_));
        for (const auto& sql : record) db_.execute(sql);
        fault::point("before-commit");
        ran = true;
      }
      db_.execute(ran ? "COMMIT" : "ROLLBACK");
    } catch (...) {
      try {
        db_.execute("ROLLBACK");
      } catch (...) {
      }
      restore();
      throw;
    }
    restore();
    return ran;
  }

  void begin_immediate() {
    try {
      db_.execute("BEGIN IMMEDIATE");
    } catch (const DatabaseError& e) {
      if (is_busy(e)) throw Error(ExitCode::locked, "another process holds the database's write lock (" + std::string(e.what()) + ")");
      throw;
    }
  }

  // Newer SQLite releases may parse ALTER TABLE ... ADD CONSTRAINT. Trying it
  // on a scratch temp table inside a savepoint that is rolled back tells,
  // without touching the database: a syntax error means the form is unknown.
  // (The table must exist: SQLite resolves it before parsing the rest.)
  bool native_alter() {
    if (native_alter_known_) return native_alter_;
    native_alter_known_ = true;
    db_.execute("SAVEPOINT cc_probe");
    try {
      db_.execute("CREATE TEMP TABLE cc_probe (x)");
      db_.execute("ALTER TABLE temp.cc_probe ADD CONSTRAINT p CHECK (x > 0)");
      native_alter_ = true;
    } catch (const DatabaseError& e) {
      native_alter_ = std::string(e.what()).find("syntax error") == std::string::npos;
    }
    db_.execute("ROLLBACK TO SAVEPOINT cc_probe");
    db_.execute("RELEASE SAVEPOINT cc_probe");
    return native_alter_;
  }

  // The statements for `steps`, in order: one rebuild per table whose CHECKs
  // change, then the unique indexes.
  std::vector<PlannedStatement> statements(const std::vector<migrate::Operation>& steps) {
    std::vector<std::string> order;
    std::map<std::string, TableChecks> checks;
    std::vector<PlannedStatement> uniques;
    for (const auto& op : steps) {
      const auto& d = op.def;
      switch (op.kind) {
        case migrate::OpKind::add_check:
        case migrate::OpKind::drop_check:
          if (!checks.count(d.table)) order.push_back(d.table);
          if (op.kind == migrate::OpKind::add_check) {
            checks[d.table].add.push_back({d.name, d.check});
          } else {
            checks[d.table].drop.push_back(d.name);
          }
          break;
        case migrate::OpKind::add_unique: {
          std::string cols;
          for (size_t i = 0; i < d.columns.size(); ++i) cols += (i ? ", " : "") + q(d.columns[i]);
          uniques.push_back({"CREATE UNIQUE INDEX " + q(d.name) + " ON " + q(d.table) + " (" + cols + ")" +
                                 (d.where.empty() ? "" : " WHERE " + d.where),
                             "a UNIQUE is a unique index: no rebuild"});
          break;
        }
        case migrate::OpKind::drop_unique:
          uniques.push_back({"DROP INDEX " + q(d.name), ""});
          break;
      }
    }
    std::vector<PlannedStatement> out;
    for (const auto& table : order) {
      const auto& c = checks[table];
      if (c.add.empty()) {
        for (auto& s : drop_by_schema_edit(table, c.drop)) out.push_back(std::move(s));
      } else if (native_alter()) {
        for (const auto& name : c.drop) out.push_back({"ALTER TABLE " + q(table) + " DROP CONSTRAINT " + q(name), "native"});
        for (const auto& a : c.add) {
          out.push_back({"ALTER TABLE " + q(table) + " ADD CONSTRAINT " + q(a.name) + " CHECK (" + a.expr + ")", "native"});
        }
      } else {
        for (auto& s : rebuild(table, c)) out.push_back(std::move(s));
      }
    }
    for (auto& u : uniques) out.push_back(std::move(u));
    return out;
  }

  // SQLite's documented cheap procedure, sanctioned for removing CHECK
  // constraints only: edit the table's text in sqlite_schema and bump
  // schema_version so every connection reloads it. Milliseconds at any size.
  std::vector<PlannedStatement> drop_by_schema_edit(const std::string& table, const std::vector<std::string>& drop) {
    std::string create_sql;
    db_.query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = " + lit(table), [&](const Row& r) {
      create_sql = value_text(r[0]);
    });
    if (create_sql.empty()) throw UsageError("table '" + table + "' does not exist");
    if (schema_version_ < 0) {
      db_.query("PRAGMA schema_version", [&](const Row& r) { schema_version_ = value_int(r[0]); });
    }
    ++schema_version_;
    return {{"PRAGMA writable_schema = ON", "remove CHECKs of " + table + " by editing its stored definition (no rebuild)"},
            {"UPDATE sqlite_schema SET sql = " + lit(sqlite::edit_create_table(create_sql, drop, {}, "")) +
                 " WHERE type = 'table' AND name = " + lit(table),
             ""},
            {"PRAGMA schema_version = " + std::to_string(schema_version_), "other connections reload the schema"},
            {"PRAGMA writable_schema = OFF", ""}};
  }

  std::vector<PlannedStatement> rebuild(const std::string& table, const TableChecks& changes) {
    rebuilt_ = true;
    std::string create_sql;
    db_.query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = " + lit(table), [&](const Row& r) {
      create_sql = value_text(r[0]);
    });
    if (create_sql.empty()) throw UsageError("table '" + table + "' does not exist");
    const std::string temp = "cc_new_" + table;
    const std::string new_sql = sqlite::edit_create_table(create_sql, changes.drop, changes.add, temp);

    std::vector<std::string> cols;
    db_.query("SELECT name FROM pragma_table_xinfo(" + lit(table) + ") WHERE hidden NOT IN (1, 2, 3) ORDER BY cid",
              [&](const Row& r) { cols.push_back(q(value_text(r[0]))); });
    std::string col_list;
    for (size_t i = 0; i < cols.size(); ++i) col_list += (i ? ", " : "") + cols[i];

    std::vector<std::string> restore;  // indexes and triggers of the table, then every view
    db_.query("SELECT sql FROM sqlite_schema WHERE tbl_name = " + lit(table) +
                  " AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type = 'trigger', rowid",
              [&](const Row& r) { restore.push_back(value_text(r[0])); });
    std::vector<std::string> views, view_names;
    db_.query("SELECT name, sql FROM sqlite_schema WHERE type = 'view' ORDER BY rowid", [&](const Row& r) {
      view_names.push_back(value_text(r[0]));
      views.push_back(value_text(r[1]));
    });
    bool has_sequence = false;
    db_.query("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'", [&](const Row& r) { has_sequence = value_int(r[0]) > 0; });

    std::vector<PlannedStatement> out;
    out.push_back({new_sql, "rebuild " + table + ": the original CREATE TABLE text with the constraints edited in"});
    out.push_back({"INSERT INTO " + q(temp) + " (" + col_list + ") SELECT " + col_list + " FROM " + q(table),
                   "copy every row (fails, rolling back, if a row violates a new CHECK)"});
    if (has_sequence) {
      out.push_back({"CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER)", ""});
      out.push_back({"INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = " + lit(table),
                     "AUTOINCREMENT must never go down"});
    }
    for (const auto& v : view_names) out.push_back({"DROP VIEW " + q(v), ""});
    out.push_back({"DROP TABLE " + q(table), "foreign keys are off: nothing cascades"});
    out.push_back({"PRAGMA legacy_alter_table = ON", ""});
    out.push_back({"ALTER TABLE " + q(temp) + " RENAME TO " + q(table), ""});
    out.push_back({"PRAGMA legacy_alter_table = OFF", ""});
    for (const auto& s : restore) out.push_back({s, ""});
    for (const auto& s : views) out.push_back({s, ""});
    // INSTEAD OF triggers belong to views and were dropped with them.
    for (const auto& v : view_names) {
      db_.query("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = " + lit(v) + " ORDER BY rowid",
                [&](const Row& r) { out.push_back({value_text(r[0]), ""}); });
    }
    if (has_sequence) {
      out.push_back({"DELETE FROM sqlite_sequence WHERE name = " + lit(table) + " AND EXISTS (SELECT 1 FROM cc_saved_sequence "
                     "WHERE name = " + lit(table) + ")", ""});
      out.push_back({"INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = " + lit(table), ""});
      out.push_back({"DELETE FROM cc_saved_sequence", ""});
    }
    return out;
  }

  Connection& db_;
  MigratorOptions options_;
  std::int64_t schema_version_ = -1;
  bool rebuilt_ = false;
  bool native_alter_known_ = false;
  bool native_alter_ = false;
};

}  // namespace

std::unique_ptr<Migrator> make_sqlite_migrator(Connection& db, const MigratorOptions& options) {
  return std::make_unique<SqliteMigrator>(db, options);
}

}  // namespace cc::dialect
