// The driver interface the engine talks to: one open connection to one
// database. Dialect headers (SOCI, libpq, sqlite3) stay behind it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dialect/catalog.h"
#include "dialect/connection_target.h"
#include "dialect/dialect.h"

namespace cc::dialect {

// A value read from the database, in the type the database gave it: NULL,
// an integer, a float, a boolean, or text (everything else: NUMERIC exactly
// as the database prints it, dates, times, uuid, json, arrays, enums, row
// ids; an SQLite BLOB as x'hex'). Nothing is ever unreadable.
using Value = std::variant<std::monostate, std::int64_t, double, std::string, bool>;
using Row = std::vector<Value>;
using RowHandler = std::function<void(const Row&)>;

std::string value_text(const Value& v);  // NULL -> "NULL"; booleans "true" / "false"
std::int64_t value_int(const Value& v);  // NULL -> 0; text parsed

struct ConnectOptions {
  bool read_only = false;        // scan: nothing may be written
  int busy_timeout_ms = 5000;    // SQLite: wait for other writers this long
  int statement_timeout_ms = 0;  // PostgreSQL: 0 = no limit
  // PostgreSQL: SET LOCAL lock_timeout of every transaction (a scan or probe
  // behind another session's LOCK TABLE gives up after this); 0 = no limit.
  int lock_wait_ms = 10000;
};

// A user trigger and what it is made of (Connection::trigger_sources).
struct TriggerSource {
  std::string name;
  std::string text;          // its definition and body, to find the tables it names
  std::string uncapturable;  // why its effects could escape the database (untrusted language, dblink, NOTIFY), or ""
};

// A table whose row changes a fix records (Connection::begin_change_capture):
// SQL expressions of a row `alias` (NEW or OLD as the dialect names them).
struct CaptureTable {
  model::TableName table;
  std::function<std::string(std::string_view alias)> key;    // JSON of its key columns ('{}' for none)
  std::function<std::string(std::string_view alias)> image;  // the lossless row image the audit stores
};

class Connection {
 public:
  virtual ~Connection() = default;

  virtual const Dialect& dialect() const = 0;
  virtual std::string server_version() = 0;

  // A read-only transaction with one consistent snapshot for every query in it.
  virtual void begin_read_snapshot() = 0;

  // Read-only snapshot transactions on this connection and on up to `extra`
  // new connections from `open` that all see one state of the database, so
  // that reads can run in parallel. Returns the new connections, each inside
  // its transaction (guard them with Transaction::Mode::begun); none where
  // the database cannot share a snapshot here. This connection's snapshot
  // transaction is open on return either way.
  using Opener = std::function<std::unique_ptr<Connection>(bool read_only)>;
  virtual std::vector<std::unique_ptr<Connection>> begin_shared_snapshot(int extra, const Opener& open) {
    (void)extra;
    (void)open;
    begin_read_snapshot();
    return {};
  }

  // WHERE conditions that split `table` into about `parts` ranges of its
  // stored rows (PostgreSQL: ctid blocks; SQLite: rowid), together covering
  // every row once, for one pass read in parallel; empty when the table holds
  // fewer than about `min_rows` rows or cannot be split that way.
  virtual std::vector<std::string> split_ranges(const model::TableName& table, int parts, std::int64_t min_rows) {
    (void)table;
    (void)parts;
    (void)min_rows;
    return {};
  }
  virtual void commit() = 0;
  virtual void rollback() = 0;

  virtual void execute(std::string_view sql) = 0;
  // ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT of `quoted_name` (as
  // Dialect::quote_ident made it): what Savepoint::rollback runs. A driver
  // paying a round trip per statement (PostgreSQL) sends both at once.
  virtual void rollback_to_savepoint(const std::string& quoted_name) {
    execute("ROLLBACK TO SAVEPOINT " + quoted_name);
    execute("RELEASE SAVEPOINT " + quoted_name);
  }
  // Runs one data-changing statement and returns the number of rows it changed.
  virtual std::int64_t execute_count(std::string_view sql) = 0;
  // Runs `sql` and hands each row to `on_row`. Throws cc::DatabaseError with
  // the database's message; the SQL is not repeated in the message.
  virtual void query(std::string_view sql, const RowHandler& on_row) = 0;
  // query(), for a result that may be large: each row is handed over as it
  // arrives, so the client never holds the whole result (libpq otherwise
  // does). `on_row` must not use this connection, and may see some rows of a
  // statement that then fails. SQLite's query() already steps row by row.
  virtual void stream(std::string_view sql, const RowHandler& on_row) { query(sql, on_row); }

  // SQLite: lift defensive mode so the documented sqlite_schema edit for
  // removing CHECKs can run (and restore it). No-op elsewhere.
  virtual void allow_schema_edits(bool allow) = 0;

  // Throws cc::UsageError, before anything is changed, when this connection
  // cannot keep one database session across transactions (a transaction-mode
  // pooler). Commands that hold a session lock or span several transactions
  // call it first. No-op where every connection is its own session (SQLite).
  virtual void require_session() {}

  // The other sessions holding a granted table lock that blocks readers or
  // writers (PostgreSQL: SHARE or stronger, with pid, state, transaction and
  // query start, application), for the message of a lock timeout; "" where
  // the database cannot tell (SQLite).
  virtual std::string lock_holders() { return ""; }

  // Tables, columns, keys and the constraints and unique indexes that exist.
  // `table` is looked up in its schema (empty: the default, as unqualified SQL resolves it).
  virtual TableInfo inspect_table(const model::TableName& table) = 0;

  // inspect_table() of each of `tables`, in the same order: what a command
  // that reads many tables calls once, so that a driver paying a round trip
  // per query (PostgreSQL) reads each kind of catalog object once for all of
  // them. The default asks table by table.
  virtual std::vector<TableInfo> inspect_tables(const std::vector<model::TableName>& tables) {
    std::vector<TableInfo> out;
    out.reserve(tables.size());
    for (const auto& t : tables) out.push_back(inspect_table(t));
    return out;
  }

  // The names of the ordinary tables a user can declare constraints on,
  // sorted: SQLite's main database without its sqlite_* tables;
  // PostgreSQL's current schema (the first of search_path), partitioned
  // parents but not their partitions. Views are never listed.
  virtual std::vector<std::string> list_tables() = 0;

  // Has the database's own parser compile `expr` as a boolean condition on
  // `table` (one expression, nothing after it). Throws cc::DatabaseError with
  // the parser's message (unknown column, syntax error).
  virtual void validate_expression(const model::TableName& table, std::string_view expr) = 0;

  // The enabled triggers a user declared on `table`, by name (not the ones a
  // database uses to enforce its own foreign keys). They fire on the writes
  // of a fix, and their effects are not in its audit.
  virtual std::vector<std::string> user_triggers(const model::TableName& table) = 0;

  // Inside a write transaction: keeps the user triggers of `table` from
  // firing, and returns the statements that put them back exactly as they
  // were, to run in the same transaction before it commits (so no other
  // session ever sees them missing). SQLite drops and re-creates them (its
  // DDL is transactional); PostgreSQL disables and re-enables each one
  // (ALTER TABLE, which the table's owner may run).
  virtual std::vector<std::string> suspend_triggers(const model::TableName& table) = 0;

  // The enabled user triggers of `table` (as user_triggers) with their text
  // (SQLite: the CREATE TRIGGER statement; PostgreSQL: the trigger and its
  // function's source), so a fix can tell which tables they write, and why
  // their effects could escape a change capture ("" when they cannot).
  virtual std::vector<TriggerSource> trigger_sources(const model::TableName& table) = 0;

  // Inside a write transaction: from now on every row inserted, updated or
  // deleted in each of `tables` (by any statement, trigger or foreign-key
  // action) is recorded, in order, in the session's temporary table
  // cc_capture (seq, table_name, table_schema, op 'insert' | 'update' |
  // 'delete', old_key, new_key, old_row, new_row), keys and rows as the
  // CaptureTable's expressions build them. Nothing in the database file or
  // catalog outlives the transaction: end_change_capture removes the
  // recording triggers (SQLite: TEMP triggers; PostgreSQL: triggers calling a
  // pg_temp function, which need the table's owner or TRIGGER privilege).
  // Throws DatabaseError naming the table it could not capture.
  virtual void begin_change_capture(const std::vector<CaptureTable>& tables) = 0;
  // Rows inserted, updated or deleted so far in this transaction per table
  // ("schema.table", the default schema's tables by name alone), whoever
  // wrote them: a check that nothing was written where no capture records
  // it (a trigger's dynamic SQL). Compare two readings; nullopt where the
  // database does not count them (SQLite, whose triggers cannot hide a table).
  virtual std::optional<std::vector<std::pair<std::string, std::int64_t>>> transaction_writes() { return std::nullopt; }
  // Stops recording: drops the recording triggers and cc_capture (read it first).
  virtual void end_change_capture() = 0;
  // Deferred foreign-key violations this transaction holds now, that its
  // COMMIT would be refused for (0 where Dialect::immediate_constraints
  // already makes every statement check them).
  virtual std::int64_t deferred_violations() { return 0; }
};

// One transaction, rolled back on every path that does not commit it
// (an exception, an early return). Never hand-write BEGIN/COMMIT pairs.
class Transaction {
 public:
  // begun: a transaction already open (begin_shared_snapshot), now guarded.
  enum class Mode { write, read_snapshot, probes, begun };
  explicit Transaction(Connection& db, Mode mode = Mode::write);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  void rollback();

 private:
  Connection& db_;
  bool open_ = true;
};

// A savepoint inside a transaction, rolled back and released unless released.
class Savepoint {
 public:
  Savepoint(Connection& db, std::string name);
  ~Savepoint();
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release();   // keep what was done since
  void rollback();  // undo what was done since, and release

 private:
  Connection& db_;
  std::string name_;
  bool open_ = true;
};

// Opens a connection. A missing SQLite file is an error, never a new empty
// database; a file that is not an SQLite database is left untouched.
std::unique_ptr<Connection> open_connection(const ConnectionTarget& target, const ConnectOptions& options);

// Throws cc::UsageError unless `expr` is one balanced expression (see
// model::vet_expression). Wrapping text in NOT (...) proves nothing by itself:
// "x > 0) OR (1 = 1" parses fine once wrapped.
void require_single_expression(std::string_view expr);

std::unique_ptr<Connection> open_sqlite(const ConnectionTarget& target, const ConnectOptions& options);
std::unique_ptr<Connection> open_postgres(const ConnectionTarget& target, const ConnectOptions& options);

}  // namespace cc::dialect
