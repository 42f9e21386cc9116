// The SQLite driver: SOCI's sqlite3 back end plus the native handle for what
// SOCI does not expose (extended result codes, DQS, prepare-with-tail).
#include <soci/sqlite3/soci-sqlite3.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/secrets.h"
#include "core/sql_lexer.h"
#include "core/text.h"
#include "dialect/soci_connection.h"
#include "dialect/sql_text.h"
#include "dialect/sqlite/create_table.h"

namespace cc::dialect {
namespace {

using sqlite_api::sqlite3;

// Catalog queries. Each takes the table name as a quoted string literal; names
// match case-insensitively (ASCII), as SQLite itself resolves them.
// Every object of sqlite_schema, read once while neither the schema_version
// moves nor this connection runs a statement (a writable_schema edit changes
// the text before any bump, and its rollback after): sqlite_schema has no
// index on name, so looking each table up in it would cost N*N for N tables.
constexpr const char* kSchemaObjects = "SELECT type, name, sql FROM sqlite_schema ORDER BY rowid";
constexpr const char* kColumns =
    "SELECT name, type, \"notnull\", dflt_value, pk, hidden IN (2, 3) FROM pragma_table_xinfo(%s) WHERE hidden <> 1 ORDER BY cid";
// Every foreign key of the database (the parent table as written, which
// names it case-insensitively): read once per schema_version, not once per
// inspected table, so inspecting N tables reads N tables' keys, not N*N.
constexpr const char* kForeignKeyGraph =
    "SELECT fk.\"table\", m.name, group_concat(fk.\"from\", char(31)), group_concat(coalesce(fk.\"to\", ''), "
    "char(31)), "
    "max(fk.on_delete) FROM sqlite_schema m, pragma_foreign_key_list(m.name) fk WHERE m.type = 'table' "
    "GROUP BY m.name, fk.id ORDER BY m.name, fk.id";
// The CREATE INDEX text of each comes from kSchemaObjects.
constexpr const char* kUniqueIndexes =
    "SELECT il.name, il.origin, (SELECT group_concat(ii.name, char(31)) FROM "
    "(SELECT name FROM pragma_index_info(il.name) ORDER BY seqno) ii) "
    "FROM pragma_index_list(%s) il WHERE il.\"unique\" = 1 ORDER BY il.name";
constexpr const char* kListTables =
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
// Triggers on the table, with the statement that creates each one.
constexpr const char* kTriggers =
    "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = %s COLLATE NOCASE ORDER BY name";
constexpr const char* kForeignKeys =
    "SELECT id, \"table\", group_concat(\"from\", char(31)) FROM pragma_foreign_key_list(%s) GROUP BY id ORDER BY id";
// The same three for many tables in one statement each (inspect_tables):
// the table's name (as stored) first, then the columns of the query above.
// %s: a list of quoted names.
constexpr const char* kColumnsOf =
    "SELECT m.name, x.name, x.type, x.\"notnull\", x.dflt_value, x.pk, x.hidden IN (2, 3) FROM sqlite_schema m, "
    "pragma_table_xinfo(m.name) x WHERE m.type = 'table' AND m.name COLLATE NOCASE IN (%s) AND x.hidden <> 1 "
    "ORDER BY m.name, x.cid";
constexpr const char* kUniqueIndexesOf =
    "SELECT m.name, il.name, il.origin, (SELECT group_concat(ii.name, char(31)) FROM "
    "(SELECT name FROM pragma_index_info(il.name) ORDER BY seqno) ii) "
    "FROM sqlite_schema m, pragma_index_list(m.name) il WHERE m.type = 'table' AND m.name COLLATE NOCASE IN (%s) "
    "AND il.\"unique\" = 1 ORDER BY m.name, il.name";
constexpr const char* kForeignKeysOf =
    "SELECT m.name, fk.id, fk.\"table\", group_concat(fk.\"from\", char(31)) FROM sqlite_schema m, "
    "pragma_foreign_key_list(m.name) fk WHERE m.type = 'table' AND m.name COLLATE NOCASE IN (%s) "
    "GROUP BY m.name, fk.id ORDER BY m.name, fk.id";

// Extended result code -> kind: the one place SQLite's codes are read.
// "SQLITE_BUSY (5)", "SQLITE_CONSTRAINT (2067)": the primary code's name
// (sqlite3.h), and the extended code as SQLite returned it.
std::string code_label(int code) {
  static const char* const names[] = {
      "SQLITE_OK",       "SQLITE_ERROR",      "SQLITE_INTERNAL", "SQLITE_PERM",      "SQLITE_ABORT", "SQLITE_BUSY",
      "SQLITE_LOCKED",   "SQLITE_NOMEM",      "SQLITE_READONLY", "SQLITE_INTERRUPT", "SQLITE_IOERR", "SQLITE_CORRUPT",
      "SQLITE_NOTFOUND", "SQLITE_FULL",       "SQLITE_CANTOPEN", "SQLITE_PROTOCOL",  "SQLITE_EMPTY", "SQLITE_SCHEMA",
      "SQLITE_TOOBIG",   "SQLITE_CONSTRAINT", "SQLITE_MISMATCH", "SQLITE_MISUSE",    "SQLITE_NOLFS", "SQLITE_AUTH",
      "SQLITE_FORMAT",   "SQLITE_RANGE",      "SQLITE_NOTADB"};
  const int primary = code & 0xff;
  const std::string name =
      primary >= 0 && primary < static_cast<int>(std::size(names)) ? names[primary] : "SQLite code";
  return name + " (" + std::to_string(code) + ")";
}

DbErrorKind kind_of(int code, std::string_view message) {
  switch (code) {
    case SQLITE_CONSTRAINT_CHECK: return DbErrorKind::check_violation;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return DbErrorKind::unique_violation;
    case SQLITE_CONSTRAINT_NOTNULL: return DbErrorKind::not_null_violation;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return DbErrorKind::foreign_key_violation;
    default: break;
  }
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      // Native ALTER TABLE ADD CONSTRAINT reports existing rows that break
      // the new CHECK with the primary code only ("constraint failed").
      return DbErrorKind::check_violation;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DbErrorKind::busy;
    case SQLITE_FULL: return DbErrorKind::storage_full;
    case SQLITE_READONLY: return DbErrorKind::read_only;
    case SQLITE_AUTH:
    case SQLITE_PERM: return DbErrorKind::permission_denied;
    case SQLITE_INTERRUPT: return DbErrorKind::statement_timeout;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB: return DbErrorKind::connection;
    case SQLITE_ERROR:
      if (message.find("no such") != std::string_view::npos) return DbErrorKind::undefined_object;
      if (message.find("syntax error") != std::string_view::npos) return DbErrorKind::syntax;
      return DbErrorKind::other;
    default: return DbErrorKind::other;
  }
}

// SQLite names the failed CHECK ("CHECK constraint failed: name") and the
// columns of a failed UNIQUE ("UNIQUE constraint failed: t.a, t.b").
void parse_constraint(DbErrorKind kind, const std::string& message, DbErrorDetail& detail) {
  const std::string marker = " constraint failed: ";
  const auto at = message.find(marker);
  if (at == std::string::npos) return;
  const std::string rest = message.substr(at + marker.size());
  if (kind == DbErrorKind::check_violation) {
    detail.constraint = rest;
    return;
  }
  if (kind != DbErrorKind::unique_violation && kind != DbErrorKind::not_null_violation) return;
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t end = rest.find(", ", pos);
    if (end == std::string::npos) end = rest.size();
    const std::string item = rest.substr(pos, end - pos);
    const auto dot = item.find('.');
    if (dot != std::string::npos) {
      detail.table = item.substr(0, dot);
      detail.columns.push_back(item.substr(dot + 1));
    }
    pos = end + 2;
  }
}

// The 16-byte header every SQLite database file starts with.
bool looks_like_sqlite(const std::filesystem::path& path, std::uintmax_t size) {
  if (size == 0) return true;  // an empty file is an empty database to SQLite
  std::ifstream in(path, std::ios::binary);
  char header[16] = {};
  in.read(header, sizeof header);
  return in.gcount() == 16 && std::memcmp(header, "SQLite format 3\0", 16) == 0;
}

// SQLite evaluates a CHECK on every write and rejects, at that write, a
// call whose answer can change between evaluations ("non-deterministic use
// of datetime() in a CHECK constraint"): date and time functions reading the
// clock ('now', no time value at all) or the time zone ('localtime', 'utc'),
// and CURRENT_TIME/DATE/TIMESTAMP. Functions SQLite does not mark
// deterministic at all (random(), changes(), ...) it accepts in a CHECK but
// refuses in an index or generated column; a rule that answers differently
// per evaluation is refused here as PostgreSQL refuses VOLATILE functions.
// Returns why `expr` is refused, or "".
std::string non_deterministic_call(std::string_view expr) {
  const auto toks = sql::significant(sql::tokenize(expr));
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  static const std::set<std::string> kNever = {"random",        "randomblob",        "changes",
                                               "total_changes", "last_insert_rowid", "load_extension"};
  static const std::set<std::string> kDateTime = {"date",      "time",     "datetime", "julianday",
                                                  "unixepoch", "strftime", "timediff"};
  for (size_t i = 0; i < toks.size(); ++i) {
    const auto& t = toks[i];
    if (t.kind != sql::TokenKind::word) continue;
    const bool call = i + 1 < toks.size() && toks[i + 1].is("(");
    const bool qualified = i > 0 && toks[i - 1].is(".");
    if (qualified) continue;  // a column of a named table, not a function
    const std::string name = lower(t.text);
    if (!call) {
      if (name == "current_time" || name == "current_date" || name == "current_timestamp") {
        return "the expression uses " + std::string(t.text) +
               ", which reads the clock: SQLite rejects it at the first write "
               "(\"non-deterministic use\" in a CHECK constraint), and a rule must give the same answer for the same "
               "row";
      }
      continue;
    }
    if (kNever.count(name)) {
      return "the expression calls " + name +
             "(), which SQLite does not treat as deterministic: its answer changes per "
             "evaluation, so the rule would not be a rule; only deterministic functions may appear in a declared "
             "expression";
    }
    if (!kDateTime.count(name)) continue;
    // The arguments at depth one: literals 'now', 'localtime', 'utc' (any
    // case, surrounding spaces) read the clock or the time zone; no time
    // value at all (date(), strftime('%Y')) means 'now'.
    int depth = 0;
    size_t args = 0;
    bool any = false;
    std::string found;
    for (size_t j = i + 1; j < toks.size(); ++j) {
      if (toks[j].is("(")) {
        ++depth;
        continue;
      }
      if (toks[j].is(")")) {
        if (--depth == 0) break;
        continue;
      }
      if (depth == 1 && toks[j].is(",")) {
        ++args;
        continue;
      }
      if (depth >= 1 && !any) {
        any = true;
        args = std::max<size_t>(args, 1);
      }
      if (depth >= 1 && toks[j].kind == sql::TokenKind::string && found.empty()) {
        std::string v = lower(sql::identifier_name(toks[j]));
        if (v.size() >= 2) v = v.substr(1, v.size() - 2);
        const auto b = v.find_first_not_of(" \t");
        const auto e = v.find_last_not_of(" \t");
        v = b == std::string::npos ? "" : v.substr(b, e - b + 1);
        if (v == "now" || v == "localtime" || v == "utc") found = "'" + v + "'";
      }
    }
    if (any) args = std::max<size_t>(args, 1);
    const size_t time_values = name == "strftime" ? (args > 0 ? args - 1 : 0) : args;
    if (found.empty() && time_values == 0) found = "no time value (which means 'now')";
    if (!found.empty()) {
      return "the expression calls " + name + "() with " + found +
             ": SQLite rejects that at the first write (\"non-deterministic use of " + name +
             "() in a CHECK constraint\"), since the answer changes with the clock or time zone; compare with a "
             "fixed date instead";
    }
  }
  return "";
}

class SqliteConnection final : public SociConnection {
 public:
  SqliteConnection(const ConnectionTarget& target, const ConnectOptions& options) : path_(target.sqlite_path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto status = fs::status(path_, ec);
    if (!fs::exists(status)) {
      throw DatabaseError(
          "SQLite database '" + path_ + "' does not exist (constraintctl never creates an empty database)",
          DbErrorKind::connection);
    }
    if (!fs::is_regular_file(status))
      throw DatabaseError("SQLite database '" + path_ + "' is not a regular file", DbErrorKind::connection);
    const auto size = fs::file_size(path_, ec);
    // SQLite treats an empty file as an empty database and would write its
    // first page (and our bookkeeping tables) into it: a file that is not yet
    // a database is never opened for writing.
    if (size == 0 && !options.read_only) {
      throw DatabaseError("'" + path_ + "' is empty (0 bytes), not an SQLite database; it was not opened for writing",
                          DbErrorKind::connection);
    }
    if (!looks_like_sqlite(path_, size)) {
      throw DatabaseError("'" + path_ + "' is not an SQLite database (no SQLite header); it was not opened",
                          DbErrorKind::connection);
    }
    // SOCI's connect string takes the path quoted; quotes inside are not representable.
    if (path_.find('"') != std::string::npos) throw UsageError("SQLite path '" + path_ + "' contains a double quote");
    std::string connect = "db=\"" + path_ + "\"";
    if (options.read_only) connect += " readonly=true";
    // One bound on SQLite's heap for the whole process (the page caches of
    // every connection, sorters, temporary b-trees): beyond it SQLite reuses
    // cache pages and spills sorts to its temp files instead of holding more,
    // so a command's memory stays flat as tables grow (measured: a fix of a
    // 10M-row fixture peaked 1.16x its 1M figure with it, 1.29x without, in
    // the same time; docs/benchmarks.md).
    static const bool heap_bounded = [] {
      sqlite_api::sqlite3_soft_heap_limit64(std::int64_t{4} << 20);
      return true;
    }();
    (void)heap_bounded;
    try {
      session_.open(soci::sqlite3, connect);
    } catch (const std::exception& e) {
      raise(e);
    }
    db_ = static_cast<soci::sqlite3_session_backend*>(session_.get_backend())->conn_;
    sqlite_api::sqlite3_extended_result_codes(db_, 1);
    sqlite_api::sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    busy_timeout_ms_ = options.busy_timeout_ms;
    // What the audit's BLOB encoding needs to read one back (SQLite's own
    // unhex() arrived in 3.41).
    sqlite_api::sqlite3_create_function_v2(db_, "constraintctl_unhex", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                           unhex, nullptr, nullptr, nullptr);
    // Double-quoted strings fall back to string literals in SQLite by default,
    // so a mistyped column in "quotes" would silently compare to a string.
    sqlite_api::sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DML, 0, static_cast<int*>(nullptr));
    sqlite_api::sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DDL, 0, static_cast<int*>(nullptr));
  }

  const Dialect& dialect() const override { return sqlite_dialect(); }

  std::string server_version() override { return sqlite_api::sqlite3_libversion(); }

  // Statements and transaction ends of this connection may change
  // sqlite_schema without a schema_version bump (a writable_schema edit, its
  // rollback): the cached copy is dropped.
  void execute(std::string_view sql) override {
    schema_objects_version_ = -1;
    SociConnection::execute(sql);
  }
  std::int64_t execute_count(std::string_view sql) override {
    schema_objects_version_ = -1;
    return SociConnection::execute_count(sql);
  }
  void commit() override {
    schema_objects_version_ = -1;
    SociConnection::commit();
  }
  void rollback() override {
    schema_objects_version_ = -1;
    SociConnection::rollback();
  }

  void allow_schema_edits(bool allow) override {
    sqlite_api::sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, allow ? 0 : 1, static_cast<int*>(nullptr));
  }

  void begin_read_snapshot() override {
    execute("BEGIN");
    // A deferred transaction takes its snapshot at the first read; take it now.
    query("SELECT count(*) FROM sqlite_schema", [](const Row&) {});
  }

  // SQLite cannot hand a snapshot to another connection (the snapshot API is
  // not in Debian's build), so no commit may land while the readers start: a
  // writable connection holds the write lock (BEGIN IMMEDIATE) while every
  // reader, opened beforehand, starts its read transaction (well under a
  // millisecond), then lets go. It asks for the lock once, without waiting:
  // while another writer holds it, or on a read-only file, or when a reader
  // cannot be opened, this connection reads alone, at once.
  std::vector<std::unique_ptr<Connection>> begin_shared_snapshot(int extra, const Opener& open) override {
    std::vector<std::unique_ptr<Connection>> workers;
    std::unique_ptr<Connection> gate;
    if (extra > 0) {
      try {
        for (int i = 0; i < extra; ++i) workers.push_back(open(true));
        gate = open(false);
        gate->execute("PRAGMA busy_timeout = 0");
        gate->execute("BEGIN IMMEDIATE");
      } catch (const Error&) {
        gate.reset();
        workers.clear();
      }
    }
    begin_read_snapshot();
    if (!gate) return workers;
    try {
      for (auto& w : workers) w->begin_read_snapshot();
    } catch (...) {
      gate->rollback();
      throw;
    }
    gate->rollback();
    return workers;
  }

  // rowid ranges; a WITHOUT ROWID table (no rowid) is read whole.
  std::vector<std::string> split_ranges(const model::TableName& table, int parts, std::int64_t min_rows) override {
    std::vector<std::string> out;
    if (parts < 2) return out;
    std::int64_t lo = 0, hi = -1, shadowed = 0;
    // A column named rowid hides the row id (and may hold NULLs no range holds).
    query("SELECT count(*) FROM pragma_table_info(" + dialect().quote_string(table.name) +
              ") WHERE lower(name) IN ('rowid', '_rowid_', 'oid')",
          [&](const Row& r) { shadowed = value_int(r[0]); });
    if (shadowed > 0) return out;
    try {
      // Two subqueries: SQLite answers min() or max() alone from the b-tree's
      // ends, but both in one SELECT by reading every row.
      const std::string t = dialect().quote_table(table);
      query("SELECT (SELECT min(rowid) FROM " + t + "), (SELECT max(rowid) FROM " + t + ")", [&](const Row& r) {
        if (std::holds_alternative<std::int64_t>(r[0]) && std::holds_alternative<std::int64_t>(r[1])) {
          lo = std::get<std::int64_t>(r[0]);
          hi = std::get<std::int64_t>(r[1]);
        }
      });
    } catch (const DatabaseError&) {
      return out;  // no rowid
    }
    if (hi < lo || hi - lo + 1 < min_rows) return out;
    const std::int64_t step = (hi - lo) / parts + 1;
    for (int i = 0; i < parts; ++i) {
      const std::int64_t from = lo + i * step, to = lo + (i + 1) * step;
      std::string cond;
      if (i > 0) cond = "rowid >= " + std::to_string(from);
      if (i + 1 < parts) cond += (cond.empty() ? "" : " AND ") + std::string("rowid < ") + std::to_string(to);
      out.push_back(cond);
    }
    return out;
  }

  std::vector<std::string> list_tables() override {
    std::vector<std::string> out;
    query(kListTables, [&](const Row& r) { out.push_back(value_text(r[0])); });
    return out;
  }

  TableInfo inspect_table(const model::TableName& table) override {
    dialect().quote_table(table);  // refuses a schema: SQLite has none
    TableInfo info;
    info.name = table;
    info.names_ignore_case = dialect().capabilities().names_ignore_case;
    const std::string lit = dialect().quote_string(table.name);
    const auto& objects = schema_objects();
    const auto found = objects.find(ascii_lower(table.name));
    if (found == objects.end() || found->second.type != "table") return info;  // missing, a view, an index
    const std::string& create_sql = found->second.sql;
    info.exists = true;
    rows_of(kColumns, 0, lit, table.name, [&](const Row& r) {
      ColumnInfo c;
      c.name = value_text(r[0]);
      c.type = value_text(r[1]);
      c.not_null = value_int(r[2]) != 0;
      if (!std::holds_alternative<std::monostate>(r[3])) c.default_sql = value_text(r[3]);
      c.generated = value_int(r[5]) != 0;
      const auto pk = value_int(r[4]);
      if (pk > 0) {
        if (info.primary_key.size() < static_cast<size_t>(pk)) info.primary_key.resize(pk);
        info.primary_key[pk - 1] = c.name;
      }
      info.columns.push_back(std::move(c));
    });
    auto parsed = sqlite::parse_create_table(create_sql);
    if (info.primary_key.empty() && !parsed.without_rowid) info.row_id = "rowid";
    for (const auto& clause : parsed.clauses) {
      ExistingConstraint c;
      c.name = clause.name;
      c.columns = clause.columns;
      c.definition = create_sql.substr(clause.begin, clause.end - clause.begin);
      switch (clause.kind) {
        case sqlite::Clause::Kind::column: continue;
        case sqlite::Clause::Kind::check:
          c.kind = ExistingConstraint::Kind::check;
          c.definition = clause.body;
          break;
        case sqlite::Clause::Kind::unique: c.kind = ExistingConstraint::Kind::unique; break;
        case sqlite::Clause::Kind::primary_key: c.kind = ExistingConstraint::Kind::primary_key; break;
        case sqlite::Clause::Kind::foreign_key: continue;  // read from the pragma below
      }
      info.constraints.push_back(std::move(c));
    }
    std::vector<size_t> newer;  // unique indexes not in the cached sqlite_schema
    rows_of(kUniqueIndexes, 1, lit, table.name, [&](const Row& r) {
      if (value_text(r[1]) != "c") return;  // 'u' and 'pk' come from the table text above
      ExistingConstraint c;
      c.kind = ExistingConstraint::Kind::unique_index;
      c.name = value_text(r[0]);
      if (const auto it = objects.find(ascii_lower(c.name)); it != objects.end() && it->second.type == "index")
        c.definition = it->second.sql;
      else
        newer.push_back(info.constraints.size());
      c.columns = detail::split_unit(value_text(r[2]));
      info.constraints.push_back(std::move(c));
    });
    // Outside a transaction another connection may commit between the
    // cached read of sqlite_schema and the pragma: an index it just created
    // is read from sqlite_schema itself (never left without its text, which
    // would look like a different constraint of that name).
    for (const size_t i : newer) {
      query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = " +
                dialect().quote_string(info.constraints[i].name),
            [&](const Row& r) { info.constraints[i].definition = value_text(r[0]); });
    }
    rows_of(kForeignKeys, 2, lit, table.name, [&](const Row& r) {
      ExistingConstraint c;
      c.kind = ExistingConstraint::Kind::foreign_key;
      c.definition = "REFERENCES " + value_text(r[1]);
      c.columns = detail::split_unit(value_text(r[2]));
      info.constraints.push_back(std::move(c));
    });
    for (Referrer ref : referrers_of(table.name)) {
      if (ref.parent_columns.size() == 1 && ref.parent_columns[0].empty()) ref.parent_columns = info.primary_key;
      info.referrers.push_back(std::move(ref));
    }
    return info;
  }

  // Many tables: their columns, unique indexes and foreign keys read by one
  // statement per kind for all of them (not three per table, each prepared
  // and parsed), in one read transaction when none is open, so that every
  // table is read as of one moment. The rest as inspect_table().
  std::vector<TableInfo> inspect_tables(const std::vector<model::TableName>& tables) override {
    if (tables.size() < 2) return Connection::inspect_tables(tables);
    std::string names;
    for (const auto& t : tables) {
      dialect().quote_table(t);  // refuses a schema: SQLite has none
      names += (names.empty() ? "" : ", ") + dialect().quote_string(t.name);
    }
    const bool own_transaction = sqlite_api::sqlite3_get_autocommit(db_) != 0;
    if (own_transaction) SociConnection::execute("BEGIN");
    std::vector<TableInfo> out;
    try {
      Prefetched rows;
      const char* const kinds[] = {kColumnsOf, kUniqueIndexesOf, kForeignKeysOf};
      for (size_t k = 0; k < 3; ++k) {
        query(detail::substitute(kinds[k], names),
              [&](const Row& r) { rows.of[k][ascii_lower(value_text(r[0]))].emplace_back(r.begin() + 1, r.end()); });
      }
      prefetched_ = &rows;
      out.reserve(tables.size());
      for (const auto& t : tables) out.push_back(inspect_table(t));
      prefetched_ = nullptr;
      if (own_transaction) SociConnection::execute("COMMIT");
    } catch (...) {
      prefetched_ = nullptr;
      if (own_transaction) {
        try {
          SociConnection::execute("ROLLBACK");
        } catch (const std::exception&) {
          // The error that got us here is reported.
        }
      }
      throw;
    }
    return out;
  }

  struct Prefetched {
    std::map<std::string, std::vector<Row>> of[3];  // kind -> table (ASCII lower case) -> rows
  };
  // The rows of catalog query `sql` (kind `kind` of Prefetched) for `table`:
  // prefetched by inspect_tables(), or read now.
  void rows_of(const char* sql, size_t kind, const std::string& lit, const std::string& table,
               const RowHandler& on_row) {
    if (!prefetched_) {
      query(detail::substitute(sql, lit), on_row);
      return;
    }
    const auto& by_table = prefetched_->of[kind];
    const auto it = by_table.find(ascii_lower(table));
    if (it == by_table.end()) return;
    for (const auto& r : it->second) on_row(r);
  }

  struct SchemaObject {
    std::string type, sql;  // sql: "" when sqlite_schema holds NULL (automatic indexes)
  };

  // sqlite_schema by name (ASCII case folded, as SQLite resolves names),
  // cached while neither the schema_version nor this connection's count of
  // changed rows moves, and until this connection's next execute, commit or
  // rollback.
  const std::map<std::string, SchemaObject>& schema_objects() {
    std::int64_t version = -1;
    query("PRAGMA schema_version", [&](const Row& r) { version = value_int(r[0]); });
    const std::int64_t changes = sqlite_api::sqlite3_total_changes(db_);
    // Outside a transaction another connection may commit between the two
    // statements: the copy is kept under a version read on both sides of it.
    for (int attempt = 0; attempt < 3 && (version != schema_objects_version_ || changes != schema_objects_changes_);
         ++attempt) {
      schema_objects_.clear();
      query(kSchemaObjects, [&](const Row& r) {
        SchemaObject o;
        o.type = value_text(r[0]);
        if (std::holds_alternative<std::string>(r[2])) o.sql = std::get<std::string>(r[2]);
        schema_objects_.emplace(ascii_lower(value_text(r[1])), std::move(o));
      });
      std::int64_t after = -1;
      query("PRAGMA schema_version", [&](const Row& r) { after = value_int(r[0]); });
      schema_objects_version_ = after == version ? version : -1;
      schema_objects_changes_ = changes;
      version = after;
    }
    return schema_objects_;
  }

  // The foreign keys that point at `table`, from the graph cached for the
  // current schema_version (any DDL, on this connection or another, bumps
  // it). An empty parent_columns entry means "its primary key".
  const std::vector<Referrer>& referrers_of(const std::string& table) {
    std::int64_t version = -1;
    query("PRAGMA schema_version", [&](const Row& r) { version = value_int(r[0]); });
    if (version != fk_graph_version_) {
      fk_graph_.clear();
      query(kForeignKeyGraph, [&](const Row& r) {
        Referrer ref;
        ref.table = {value_text(r[1])};
        ref.columns = detail::split_unit(value_text(r[2]));
        ref.parent_columns = detail::split_unit(value_text(r[3]));
        ref.on_delete = value_text(r[4]);
        ref.cascade = ref.on_delete == "CASCADE";
        fk_graph_[ascii_lower(value_text(r[0]))].push_back(std::move(ref));
      });
      fk_graph_version_ = version;
    }
    static const std::vector<Referrer> none;
    const auto it = fk_graph_.find(ascii_lower(table));
    return it == fk_graph_.end() ? none : it->second;
  }

  static std::string ascii_lower(std::string_view s) { return text::ascii_lower(s); }

  // Rows straight from sqlite3_step: each value in its storage class, not in
  // the type a column was declared with (SQLite stores 'abc' in an INTEGER
  // column, and a violating row often does exactly that).
  void query(std::string_view sql, const RowHandler& on_row) override {
    sqlite_api::sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int prc = sqlite_api::sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, &tail);
    std::unique_ptr<sqlite_api::sqlite3_stmt, int (*)(sqlite_api::sqlite3_stmt*)> stmt(raw,
                                                                                       sqlite_api::sqlite3_finalize);
    if (prc != SQLITE_OK) raise_native();
    if (!stmt) return;  // only whitespace or a comment
    Row out;
    int rc = SQLITE_OK;
    while ((rc = sqlite_api::sqlite3_step(stmt.get())) == SQLITE_ROW) {
      const int n = sqlite_api::sqlite3_column_count(stmt.get());
      out.clear();
      out.reserve(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) out.push_back(column_value(stmt.get(), i));
      on_row(out);
    }
    if (rc != SQLITE_DONE) raise_native();
  }

  std::vector<std::string> user_triggers(const model::TableName& table) override {
    dialect().quote_table(table);  // refuses a schema: SQLite has none
    std::vector<std::string> out;
    query(detail::substitute(kTriggers, dialect().quote_string(table.name)),
          [&](const Row& r) { out.push_back(value_text(r[0])); });
    return out;
  }

  // SQLite cannot disable a trigger: it is dropped and created again from
  // its own statement, both inside the caller's transaction.
  std::vector<std::string> suspend_triggers(const model::TableName& table) override {
    dialect().quote_table(table);
    std::vector<std::pair<std::string, std::string>> triggers;
    query(detail::substitute(kTriggers, dialect().quote_string(table.name)),
          [&](const Row& r) { triggers.emplace_back(value_text(r[0]), value_text(r[1])); });
    std::vector<std::string> restore;
    for (const auto& [name, sql] : triggers) {
      execute("DROP TRIGGER " + dialect().quote_ident(name));
      restore.push_back(sql);
    }
    return restore;
  }

  // A trigger holds SQL only, on this database (attached ones are not
  // written by a fix), so all it does can be captured.
  std::vector<TriggerSource> trigger_sources(const model::TableName& table) override {
    dialect().quote_table(table);
    std::vector<TriggerSource> out;
    query(detail::substitute(kTriggers, dialect().quote_string(table.name)), [&](const Row& r) {
      out.push_back(TriggerSource{value_text(r[0]), value_text(r[1]), ""});
    });
    return out;
  }

  // TEMP triggers on main's tables: they live in this connection's temp
  // schema, never in the database file, and go with the transaction.
  void begin_change_capture(const std::vector<CaptureTable>& tables) override {
    const auto& d = dialect();
    execute("DROP TABLE IF EXISTS temp.cc_capture");
    execute(
        "CREATE TEMP TABLE cc_capture (seq INTEGER PRIMARY KEY, table_name TEXT NOT NULL, table_schema TEXT NOT NULL, "
        "op TEXT NOT NULL, old_key TEXT, new_key TEXT, old_row TEXT, new_row TEXT)");
    capture_triggers_.clear();
    for (size_t i = 0; i < tables.size(); ++i) {
      const auto& t = tables[i];
      const std::string on = "main." + d.quote_ident(t.table.name);
      const std::string names = d.quote_string(t.table.name) + ", " + d.quote_string(t.table.schema);
      const std::string base = "cc_capture_" + std::to_string(i);
      const std::string into =
          "INSERT INTO cc_capture (table_name, table_schema, op, old_key, new_key, old_row, new_row) VALUES (" + names +
          ", ";
      const std::pair<const char*, std::string> events[] = {
          {"INSERT", "'insert', NULL, " + t.key("NEW") + ", NULL, " + t.image("NEW")},
          {"UPDATE", "'update', " + t.key("OLD") + ", " + t.key("NEW") + ", " + t.image("OLD") + ", " + t.image("NEW")},
          {"DELETE", "'delete', " + t.key("OLD") + ", NULL, " + t.image("OLD") + ", NULL"},
      };
      for (const auto& [event, values] : events) {
        const std::string name = base + "_" + event;
        execute("CREATE TEMP TRIGGER " + name + " AFTER " + event + " ON " + on + " BEGIN " + into + values + "); END");
        capture_triggers_.push_back(name);
      }
    }
  }

  void end_change_capture() override {
    for (const auto& name : capture_triggers_) execute("DROP TRIGGER IF EXISTS temp." + name);
    capture_triggers_.clear();
  }

  // SQLite has no SET CONSTRAINTS: a DEFERRABLE INITIALLY DEFERRED foreign
  // key counts its violations until COMMIT, and this reads the count.
  std::int64_t deferred_violations() override {
    int current = 0, highest = 0;
    if (sqlite_api::sqlite3_db_status(db_, SQLITE_DBSTATUS_DEFERRED_FKS, &current, &highest, 0) != SQLITE_OK) return 0;
    return current;
  }

  void validate_expression(const model::TableName& table, std::string_view expr) override {
    require_single_expression(expr);
    const std::string sql = "SELECT 1 FROM " + dialect().quote_table(table) + " WHERE NOT (" + std::string(expr) + ")";
    sqlite_api::sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite_api::sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, &tail);
    std::string error = rc == SQLITE_OK ? "" : sqlite_api::sqlite3_errmsg(db_);
    sqlite_api::sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) {
      DbErrorDetail detail;
      detail.code = std::to_string(rc);
      detail.code_label = code_label(rc);
      detail.sql = sql;
      throw DatabaseError(error, kind_of(rc, error), std::move(detail));
    }
    for (; tail && *tail; ++tail) {
      if (!std::isspace(static_cast<unsigned char>(*tail)))
        throw DatabaseError("text after the expression", DbErrorKind::syntax);
    }
    if (const std::string why = non_deterministic_call(expr); !why.empty())
      throw DatabaseError(why, DbErrorKind::other);
  }

 protected:
  [[noreturn]] void raise(const std::exception& e) const override {
    int code = 0;
    if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) code = se->result();
    std::string native;  // SQLite's own words, without SOCI's "loadOne: ... while executing"
    if (db_ && code != 0) {
      code = sqlite_api::sqlite3_extended_errcode(db_);
      native = sqlite_api::sqlite3_errmsg(db_);
    }
    raise_with(code, native.empty() ? std::string(e.what()) : native);
  }

 private:
  std::vector<std::string> capture_triggers_;  // TEMP triggers of begin_change_capture

  // The connection's last error, from SQLite itself.
  [[noreturn]] void raise_native() const {
    raise_with(sqlite_api::sqlite3_extended_errcode(db_), sqlite_api::sqlite3_errmsg(db_));
  }

  static void unhex(sqlite_api::sqlite3_context* ctx, int, sqlite_api::sqlite3_value** argv) {
    const auto* text = sqlite_api::sqlite3_value_text(argv[0]);
    if (!text) return sqlite_api::sqlite3_result_null(ctx);
    const std::string_view hex(reinterpret_cast<const char*>(text),
                               static_cast<size_t>(sqlite_api::sqlite3_value_bytes(argv[0])));
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    std::string bytes;
    for (size_t k = 0; k + 1 < hex.size(); k += 2) bytes += static_cast<char>(nibble(hex[k]) * 16 + nibble(hex[k + 1]));
    sqlite_api::sqlite3_result_blob(ctx, bytes.data(), static_cast<int>(bytes.size()),
                                    reinterpret_cast<sqlite_api::sqlite3_destructor_type>(-1));  // SQLITE_TRANSIENT
  }

  static Value column_value(sqlite_api::sqlite3_stmt* stmt, int i) {
    switch (sqlite_api::sqlite3_column_type(stmt, i)) {
      case SQLITE_NULL: return std::monostate{};
      case SQLITE_INTEGER: return static_cast<std::int64_t>(sqlite_api::sqlite3_column_int64(stmt, i));
      case SQLITE_FLOAT: return sqlite_api::sqlite3_column_double(stmt, i);
      case SQLITE_BLOB: {
        const auto* bytes = static_cast<const unsigned char*>(sqlite_api::sqlite3_column_blob(stmt, i));
        const int n = sqlite_api::sqlite3_column_bytes(stmt, i);
        static const char* hex = "0123456789ABCDEF";
        std::string out = "x'";
        for (int k = 0; k < n; ++k) {
          out += hex[bytes[k] >> 4];
          out += hex[bytes[k] & 15];
        }
        return out + "'";
      }
      default: {
        const auto* text = reinterpret_cast<const char*>(sqlite_api::sqlite3_column_text(stmt, i));
        return std::string(text ? text : "", static_cast<size_t>(sqlite_api::sqlite3_column_bytes(stmt, i)));
      }
    }
  }

  [[noreturn]] void raise_with(int code, const std::string& native) const {
    std::string message = secrets::scrub(native);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    if ((code & 0xff) == SQLITE_FULL) {
      message = "storage full: the filesystem holding '" + path_ + "' has no room left (" + message +
                "); the transaction was rolled back";
    }
    DbErrorDetail detail;
    detail.code = std::to_string(code);
    detail.code_label = code_label(code);
    const DbErrorKind kind = kind_of(code, message);
    if (kind == DbErrorKind::busy) {
      message = "another connection holds the lock on '" + path_ + "' (" + message + "); gave up after waiting " +
                std::to_string(busy_timeout_ms_) +
                " ms ([sqlite] busy_timeout_ms); nothing was changed by this statement. Run the command again when "
                "the other writer is done";
    }
    parse_constraint(kind, message, detail);
    throw DatabaseError(message, kind, std::move(detail));
  }

  std::string path_;
  int busy_timeout_ms_ = 0;
  sqlite3* db_ = nullptr;
  // Parent table (ASCII lower case) -> the foreign keys pointing at it.
  std::map<std::string, std::vector<Referrer>> fk_graph_;
  std::int64_t fk_graph_version_ = -1;
  std::map<std::string, SchemaObject> schema_objects_;
  std::int64_t schema_objects_version_ = -1, schema_objects_changes_ = -1;
  const Prefetched* prefetched_ = nullptr;  // during inspect_tables()
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const ConnectionTarget& target, const ConnectOptions& options) {
  return std::make_unique<SqliteConnection>(target, options);
}

}  // namespace cc::dialect
