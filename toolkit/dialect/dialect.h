// How SQL is written for one database: identifier and literal quoting and the
// few expression forms that differ. Pure rendering, no connection, so that the
// SQL constraintctl runs can be unit-tested as golden files.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/schema.h"

namespace cc::dialect {

enum class Kind { sqlite, postgresql };

// What a database can do, declared by its dialect instead of guessed by the
// layers above (which never compare dialect kinds).
struct Capabilities {
  bool transactional_ddl = true;
  // ADD CONSTRAINT ... NOT VALID then VALIDATE: existing rows are only checked
  // later, so a migration must scan for violations before it starts.
  bool add_not_valid = false;
  bool concurrent_index_build = false;  // CREATE INDEX CONCURRENTLY
  bool advisory_lock = false;           // a session lock for one migrator at a time
  bool native_alter_check = false;      // ALTER TABLE ... ADD/DROP CONSTRAINT for CHECK
  bool deferrable_constraints = false;  // probes need SET CONSTRAINTS ALL IMMEDIATE
  // An INSERT probe leaves a trace (a sequence value) even when rolled back.
  bool insert_probe_leaves_trace = false;
  // The implicit identity of a row when there is no primary key ("" if none).
  std::string_view row_id;
  // The row id stays the row's while it is updated (SQLite's rowid), so a
  // fix and its undo can name rows by it; PostgreSQL's ctid moves.
  bool row_id_survives_updates = false;
  // DELETE ... RETURNING inside WITH, feeding an INSERT in the same
  // statement: the fix deletes the rows of a table without a stable key and
  // audits their images at once, naming them by row id only within it.
  bool delete_returning_in_with = false;
  // Tables live in named schemas (`schema = "sales"` in schema/*.toml).
  bool schemas = false;
  // Identifiers (tables, columns, constraints) match whatever the case of
  // their ASCII letters, quoted or not (SQLite); otherwise a quoted name is
  // exact (PostgreSQL).
  bool names_ignore_case = false;
  // At most how many keys a statement lists as literals (`id IN (1, 2,
  // ...)`) before it joins the temp table holding them instead: PostgreSQL's
  // planner looks literals up by index where a join may read the whole
  // table; SQLite looks either up by index, and parses a long list in the
  // client's own memory (some 300 bytes a key).
  size_t listed_keys = 50000;
  // Connections a scan reads on when the user does not say (scan --jobs):
  // PostgreSQL already spreads each query over its own parallel workers;
  // SQLite runs every query in the client, one core per connection.
  int scan_jobs = 1;
};


class Dialect {
 public:
  virtual ~Dialect() = default;

  virtual Kind kind() const = 0;
  virtual std::string_view name() const = 0;  // "sqlite" | "postgresql"

  // The one function that quotes identifiers for this dialect. Always quotes;
  // throws cc::UsageError for names the database cannot hold (NUL).
  virtual std::string quote_ident(std::string_view name) const = 0;
  // A table, qualified by its schema when it has one ("sales"."orders"). The
  // one way generated SQL names a table. Throws cc::UsageError for a schema
  // where the dialect has none.
  std::string quote_table(const model::TableName& table) const;
  // Do two identifiers name the same object here (names_ignore_case)?
  bool same_name(std::string_view a, std::string_view b) const;

  // A string literal. Both dialects use standard SQL quoting ('' doubling);
  // PostgreSQL connections force standard_conforming_strings on.
  virtual std::string quote_string(std::string_view value) const = 0;

  // An aggregate counting the rows for which `predicate` is TRUE.
  virtual std::string count_if(std::string_view predicate) const = 0;

  // An aggregate joining `expr` values (as text) with ',' in ascending order.
  virtual std::string list_agg(std::string_view expr) const = 0;

  // JSON for the audit trail. row_json: the row `alias` as a JSON object of
  // `columns` (values keep their types); json_get: the value of `key` in the
  // JSON `json`, as SQL type `type`; json_type: the column type that holds it.
  // `types` are the columns' types as inspect_table gives them, one per column.
  virtual std::string row_json(std::string_view alias, const std::vector<std::string>& columns,
                               const std::vector<std::string>& types) const = 0;
  virtual std::string json_get(std::string_view json, std::string_view key, std::string_view type) const = 0;
  virtual std::string json_type() const = 0;
  // The value of `expr` as a member of the audit trail's JSON, which
  // json_get reads back exactly (key_json's members; SQLite: a BLOB or REAL
  // encoded as row_json encodes it).
  virtual std::string json_value(std::string_view expr) const { return std::string(expr); }
  // A condition: member `key` is the same in the JSON documents `a` and `b`
  // (both made by row_json), missing in both included.
  virtual std::string json_member_same(std::string_view a, std::string_view b, std::string_view key) const = 0;

  virtual const Capabilities& capabilities() const = 0;

  // The statement that starts a write transaction (SQLite takes the write
  // lock up front), and the one that starts a transaction of probes.
  virtual std::string begin_write() const = 0;
  virtual std::vector<std::string> begin_probes() const = 0;
  // The current time as text, in SQL.
  virtual std::string now_text() const = 0;
  // The session's temp table `name`, qualified so that a statement naming it
  // never reaches a user's table of that name (DROP TABLE IF EXISTS would).
  virtual std::string temp_table(std::string_view name) const = 0;
  // CREATE INDEX `index` on the temp table `table` for equality lookups of
  // `column`, whatever the length of its values (a PostgreSQL b-tree entry
  // holds at most 2 704 bytes; its hash index has no such limit).
  virtual std::string lookup_index(std::string_view index, std::string_view table, std::string_view column) const = 0;
  // A condition: the row's key (`columns`, a comma-separated list of column
  // references whose declared types, a domain's base type for a domain, are
  // `types`) is among the rows of `subquery`. PostgreSQL's planner may read a
  // whole large table into a hash join for `IN (subquery)` once it knows the
  // subquery's size; its override for one scalar column keeps the primary
  // key's index lookups, as a literal list does.
  virtual std::string key_in(std::string_view columns, const std::vector<std::string>& types,
                             std::string_view subquery) const {
    (void)types;
    return "(" + std::string(columns) + ") IN (" + std::string(subquery) + ")";
  }
  // A query returning one row with 1 when `table` exists, else 0.
  virtual std::string table_exists_sql(const model::TableName& table) const = 0;
  // A query returning one row with 1 when the connection's role may run
  // `privilege` (INSERT, UPDATE) on `table`, else 0; "" where the database
  // has no privileges (SQLite: the file's permissions decide, at the write).
  virtual std::string has_privilege_sql(const model::TableName& table, std::string_view privilege) const {
    (void)table;
    (void)privilege;
    return "";
  }
  // A query listing the rows of `table` (every table when empty) whose
  // foreign key points at no row (referencing table, rowid, parent table,
  // foreign key id), or "" where the database never lets such rows exist.
  virtual std::string dangling_keys_sql(const model::TableName& table) const {
    (void)table;
    return "";
  }
  // The column definition of a generated integer primary key named id.
  virtual std::string identity_primary_key() const = 0;
  // What an INSERT putting back rows with their original identity values needs after its column list.
  virtual std::string insert_keeping_identity() const = 0;
  // Statements that make foreign-key actions happen on this connection (before a transaction).
  virtual std::vector<std::string> enforce_foreign_keys() const = 0;
  // Statements, inside a write transaction, that make its deferrable
  // constraints checked at each statement's end (a deferred foreign key
  // then rejects the statement, not the COMMIT). None where the database
  // has no such switch (see Connection::deferred_violations).
  virtual std::vector<std::string> immediate_constraints() const { return {}; }
  // Appended to a SELECT from `alias` whose rows the transaction is about to
  // change: locks them until it ends, so their image read now is the one the
  // change starts from and no other session writes them meanwhile ("" where
  // one writer at a time holds the database, as in SQLite).
  virtual std::string lock_rows(std::string_view alias) const {
    (void)alias;
    return "";
  }
  // A query returning one number that changes whenever another connection
  // commits a change to the database ("" where there is none, as in
  // PostgreSQL): a fix knows by it that the rows its scan read are still the
  // rows its write transaction starts from.
  virtual std::string data_version_sql() const { return ""; }
  // A query returning one row with 1 when CHECK constraints are switched off for this connection.
  virtual std::string checks_disabled_sql() const = 0;
  // `column` of `alias` as SQL; the row identity (rowid, ctid) is not quoted.
  std::string column_ref(std::string_view alias, std::string_view column) const;
  bool is_row_id(std::string_view column) const { return !capabilities().row_id.empty() && column == capabilities().row_id; }
  // A JSON object of the key columns of row `alias` (values keep their types).
  std::string key_json(std::string_view alias, const std::vector<std::string>& key) const;
  // A JSON object of (name, SQL expression) pairs.
  virtual std::string json_object(const std::vector<std::pair<std::string, std::string>>& members) const = 0;

  // A literal from the schema, rendered for this dialect.
  std::string literal(const model::Literal& value) const;
};

const Dialect& sqlite_dialect();
const Dialect& postgresql_dialect();
const Dialect& dialect_for(Kind kind);

}  // namespace cc::dialect
