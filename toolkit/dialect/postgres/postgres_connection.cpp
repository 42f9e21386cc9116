// The PostgreSQL driver: SOCI's postgresql back end plus the PGconn for what
// SOCI does not expose (PQprepare as a parse-only validator, error fields).
#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/secrets.h"
#include "core/sql_lexer.h"
#include "core/text.h"
#include "dialect/postgres/postgres_batch.h"
#include "dialect/postgres/postgres_wait.h"
#include "dialect/soci_connection.h"
#include "dialect/sql_text.h"

namespace cc::dialect {
namespace {

// Catalog queries of inspect_tables(): each reads one kind of object for
// every table asked for at once (hundreds of tables cost one round trip per
// kind, not one per table). %s is the set of tables, kRequested: their names
// as regclass text ('"Name"' or '"sales"."Name"') in a text[] literal, each
// resolved by to_regclass(): a qualified name in its schema, an unqualified
// one through the search_path exactly as the user's own SQL would. `ord` is
// the position of the table in the request (1-based), the first column of
// every row.
constexpr const char* kRequested =
    "(SELECT u.ord, to_regclass(u.name) AS rel FROM unnest(%s::text[]) WITH ORDINALITY u(name, ord)) r";
// And whether it is part of a hierarchy (partitions, inheritance): a
// parent reads its children's rows, whose ctids repeat its own, and a
// child's writes are counted under its root (kTransactionWrites).
constexpr const char* kExists =
    "SELECT r.ord, r.rel IS NOT NULL, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = r.rel OR i.inhrelid = "
    "r.rel) FROM %s ORDER BY r.ord";
// Then the base type of a domain and the labels of an enum (of the domain's base type too).
constexpr const char* kColumns =
    "SELECT r.ord, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), "
    "a.attgenerated <> '', "
    "CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, "
    "(SELECT string_agg(e.enumlabel, chr(31) ORDER BY e.enumsortorder) FROM pg_enum e "
    " WHERE e.enumtypid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END), a.attidentity = 'a' "
    "FROM %s JOIN pg_attribute a ON a.attrelid = r.rel JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY r.ord, a.attnum";
// Foreign keys of every table that point at the tables asked for, with the
// referring table's schema unless it is the default one (current_schema()).
// One pass over pg_constraint for all of them (confrelid has no index).
constexpr const char* kReferrers =
    "SELECT r.ord, t.relname, CASE WHEN tn.nspname = current_schema() THEN '' ELSE tn.nspname END, "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum), c.confdeltype = 'c', "
    "c.confdeltype::text "
    "FROM %s JOIN pg_constraint c ON c.confrelid = r.rel JOIN pg_class t ON t.oid = c.conrelid "
    "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
    "WHERE c.contype = 'f' ORDER BY r.ord, tn.nspname, t.relname, c.conname";
// Enabled user triggers of the table (not the internal ones behind foreign
// keys), with how each is enabled: O (origin), A (always), R (replica).
// Not one of this session's change-capture triggers (begin_change_capture):
// those call a function in its own pg_temp schema.
#define CC_NOT_CAPTURING \
  "NOT EXISTS (SELECT 1 FROM pg_proc cc_p WHERE cc_p.oid = tg.tgfoid AND cc_p.pronamespace = pg_my_temp_schema())"
constexpr const char* kTriggers =
    "SELECT tg.tgname, tg.tgenabled::text FROM pg_trigger tg WHERE tg.tgrelid = %s::regclass AND NOT tg.tgisinternal "
    "AND tg.tgenabled <> 'D' AND " CC_NOT_CAPTURING " ORDER BY tg.tgname";
constexpr const char* kTriggerSources =
    "SELECT tg.tgname, pg_get_triggerdef(tg.oid) || chr(10) || coalesce(p.prosrc, ''), l.lanname, "
    "p.oid::regprocedure::text FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid "
    "JOIN pg_language l ON l.oid = p.prolang WHERE tg.tgrelid = %s::regclass AND NOT tg.tgisinternal "
    "AND tg.tgenabled <> 'D' AND " CC_NOT_CAPTURING " ORDER BY tg.tgname";
// Per table, a partition's writes counted under the partitioned table at the
// root of its tree (the capture records rows there: a row trigger on a
// partitioned table fires for the rows of every partition).
constexpr const char* kTransactionWrites =
    "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END, "
    "sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::bigint FROM pg_stat_xact_user_tables s "
    "JOIN pg_class c ON c.oid = coalesce(pg_partition_root(s.relid), s.relid) "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE s.schemaname NOT LIKE 'pg\\_temp\\_%' "
    "GROUP BY 1 ORDER BY 1";
constexpr const char* kConstraints =
    "SELECT r.ord, c.conname, c.contype, pg_get_constraintdef(c.oid, true), c.convalidated, "
    "coalesce(ix.indisvalid AND ix.indisready, true), "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) "
    "FROM %s JOIN pg_constraint c ON c.conrelid = r.rel "
    "LEFT JOIN pg_index ix ON ix.indexrelid = c.conindid AND c.contype IN ('u', 'p') "
    "WHERE c.contype IN ('c', 'u', 'p', 'f') ORDER BY r.ord, c.conname";
// Ordinary and partitioned tables of the current schema (not partitions).
constexpr const char* kListTables =
    "SELECT c.relname FROM pg_class c "
    "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
    "AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname";
// Unique indexes that back no constraint (CREATE UNIQUE INDEX, partial ones included).
// The indexes backing a constraint are read in one pass over pg_constraint
// (conindid has no index) rather than one pass per index.
constexpr const char* kUniqueIndexes =
    "SELECT r.ord, i.relname, pg_get_indexdef(ix.indexrelid), ix.indisvalid AND ix.indisready, "
    "(SELECT string_agg(coalesce(a.attname, '(expression)'), chr(31) ORDER BY k.ord) FROM unnest(ix.indkey::int2[]) "
    " WITH ORDINALITY k(attnum, ord) LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum) "
    "FROM %s JOIN pg_index ix ON ix.indrelid = r.rel JOIN pg_class i ON i.oid = ix.indexrelid "
    "WHERE ix.indisunique AND ix.indexrelid NOT IN (SELECT c.conindid FROM pg_constraint c WHERE c.conindid <> 0) "
    "ORDER BY r.ord, i.relname";

// SQLSTATE -> kind: the one place PostgreSQL's codes are read.
DbErrorKind kind_of(std::string_view sqlstate) {
  static const std::pair<std::string_view, DbErrorKind> exact[] = {
      {"23514", DbErrorKind::check_violation},    {"23505", DbErrorKind::unique_violation},
      {"23502", DbErrorKind::not_null_violation}, {"23503", DbErrorKind::foreign_key_violation},
      {"55P03", DbErrorKind::lock_timeout},       {"57014", DbErrorKind::statement_timeout},
      {"40P01", DbErrorKind::deadlock},           {"40001", DbErrorKind::serialization},
      {"53100", DbErrorKind::storage_full},       {"25006", DbErrorKind::read_only},
      {"42501", DbErrorKind::permission_denied},  {"42601", DbErrorKind::syntax},
      {"42P01", DbErrorKind::undefined_object},   {"42703", DbErrorKind::undefined_object},
      {"42883", DbErrorKind::undefined_object},   {"42704", DbErrorKind::undefined_object},
      {"57P01", DbErrorKind::connection},         {"57P02", DbErrorKind::connection},
      {"57P03", DbErrorKind::connection},
  };
  for (const auto& [code, kind] : exact) {
    if (sqlstate == code) return kind;
  }
  if (sqlstate.substr(0, 2) == "08") return DbErrorKind::connection;
  if (sqlstate.substr(0, 2) == "42") return DbErrorKind::syntax;
  return DbErrorKind::other;
}

bool truthy(const Value& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s == "t" || *s == "true" || *s == "1";
  return value_int(v) != 0;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// SOCI 4.0.3 reads its own options out of the connect string and mangles
// URIs ("postgresql://u@h/db" reached libpq as dbname "postgres="), so libpq
// parses the user's string and SOCI gets plain keyword='value' pairs.
std::string keyword_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "unparseable";
    if (err) PQfreemem(err);
    throw UsageError("invalid PostgreSQL connection string: " + trim(secrets::scrub(why)));
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    out += (out.empty() ? "" : " ") + std::string(o->keyword) + "='";
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\\' || *c == '\'') out += '\\';
      out += *c;
    }
    out += "'";
  }
  PQconninfoFree(opts);
  // Set at connection start-up, which poolers track per client, not by SET.
  if (out.find("fallback_application_name=") == std::string::npos) out += " fallback_application_name='constraintctl'";
  return out;
}

bool starts_with_keyword(std::string_view sql, std::string_view keyword) {
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front()))) sql.remove_prefix(1);
  if (sql.size() < keyword.size()) return false;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(sql[i])) != keyword[i]) return false;
  }
  return sql.size() == keyword.size() || !std::isalpha(static_cast<unsigned char>(sql[keyword.size()]));
}

// NOTICEs (CREATE ... IF NOT EXISTS and the like) are noise; warnings and
// worse are shown, scrubbed. Filtering here rather than with SET
// client_min_messages keeps the server session untouched.
void on_notice(void*, const PGresult* res) {
  const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string_view level = severity ? severity : "";
  if (level == "NOTICE" || level == "INFO" || level == "DEBUG" || level == "LOG") return;
  std::fprintf(stderr, "%s", secrets::scrub(PQresultErrorMessage(res)).c_str());
}

// Sessions as a person needs them to find the one to end: pid, state, when
// its transaction and its last query started, application, and the query
// (shortened). %s is the condition on pg_stat_activity a.
constexpr const char* kSessions =
    "SELECT a.pid, coalesce(a.state, 'state not visible: pg_read_all_stats'), coalesce(to_char(a.xact_start, "
    "'YYYY-MM-DD HH24:MI:SS TZ'), ''), "
    "coalesce(to_char(a.query_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''), coalesce(a.application_name, ''), "
    "coalesce(left(rtrim(regexp_replace(a.query, '\\s+', ' ', 'g'), '; '), 80), '') "
    "FROM pg_stat_activity a WHERE %s ORDER BY a.pid";

// Runs kSessions with `condition` on `c` (a plain libpq connection, outside
// any transaction of ours) and describes each session; "" when none or on error.
std::string describe_sessions(PGconn* c, const std::string& condition) {
  const std::string sql = detail::substitute(kSessions, condition);
  PGresult* res = PQexec(c, sql.c_str());
  std::string out;
  if (PQresultStatus(res) == PGRES_TUPLES_OK) {
    for (int r = 0; r < PQntuples(res); ++r) {
      auto v = [&](int col) { return std::string(PQgetvalue(res, r, col)); };
      std::string one = "pid " + v(0) + " (" + v(1);
      if (!v(2).empty()) one += ", transaction started " + v(2);
      if (!v(3).empty()) one += ", last query started " + v(3);
      if (!v(4).empty()) one += ", application '" + v(4) + "'";
      one += ")";
      if (!v(5).empty() && v(5) != "<insufficient privilege>") one += ": " + v(5);
      out += (out.empty() ? "" : "; ") + text::terminal_safe(secrets::scrub(one));
    }
  }
  PQclear(res);
  return out;
}

// See postgres_wait.h. The thread owns its own connection; the statement's
// connection is touched only through its PGcancel, which libpq allows from
// another thread.
class PgWaitWatch final : public WaitWatch {
 public:
  PgWaitWatch(const std::string& conninfo, PGconn* watched, std::string what, long long limit_ms)
      : what_(std::move(what)), limit_ms_(limit_ms), pid_(PQbackendPID(watched)), cancel_(PQgetCancel(watched)) {
    thread_ = std::thread([this, conninfo] { run(conninfo); });
  }

  ~PgWaitWatch() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (cancel_) PQfreeCancel(cancel_);
  }

  bool gave_up() const override { return gave_up_; }
  std::string blockers() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return blockers_;
  }
  long long waited_ms() const override { return waited_ms_; }

 private:
  void run(const std::string& conninfo) {
    // Most statements are done before anyone could wait: those pay no
    // second connection.
    {
      std::unique_lock<std::mutex> first(mutex_);
      if (wake_.wait_for(first, std::chrono::milliseconds(20), [&] { return stop_; })) return;
    }
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      PQfinish(c);
      return;  // nothing to report with; lock_timeout still bounds every lock wait
    }
    using clock = std::chrono::steady_clock;
    const std::string blocking = "a.pid = ANY (pg_blocking_pids(" + std::to_string(pid_) + "))";
    bool waiting = false;
    clock::time_point since{};  // the current wait began
    long long before = 0;       // earlier waits, in ms
    clock::time_point reported{};
    std::string last_reported;
    int polls = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      // Soon at first (a lock_timeout of 100 ms must not end the wait
      // unseen), then every 200 ms.
      if (polls > 0)
        wake_.wait_for(lock, std::chrono::milliseconds(polls < 3 ? 25 << polls : 200), [&] { return stop_; });
      ++polls;
      if (stop_) break;
      lock.unlock();
      const std::string who = describe_sessions(c, blocking);
      const auto now = clock::now();
      lock.lock();
      if (who.empty()) {
        if (waiting) before += std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
        waiting = false;
        continue;
      }
      if (!waiting) {
        waiting = true;
        since = now;
      }
      blockers_ = who;
      waited_ms_ = before + std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
      // Said after a second of waiting, again when the blockers change or
      // every 10 s: enough to act on, never a flood.
      if (waited_ms_ >= 1000 && (who != last_reported || now - reported >= std::chrono::seconds(10))) {
        std::fprintf(stderr, "constraintctl: %s has waited %.1f s%s for %s\n", what_.c_str(), waited_ms_ / 1000.0,
                     limit_ms_ > 0 ? (" (gives up at " + std::to_string(limit_ms_) + " ms)").c_str() : "", who.c_str());
        last_reported = who;
        reported = now;
      }
      if (limit_ms_ > 0 && waited_ms_ >= limit_ms_ && cancel_) {
        char err[256];
        gave_up_ = true;
        PQcancel(cancel_, err, sizeof err);
        break;
      }
    }
    lock.unlock();
    PQfinish(c);
  }

  const std::string what_;
  const long long limit_ms_;
  const int pid_;
  PGcancel* cancel_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::string blockers_;
  std::atomic<bool> gave_up_{false};
  std::atomic<long long> waited_ms_{0};
  std::thread thread_;
};

// Pooler-safe: nothing here sets session state (SET, default_transaction_*)
// on the server connection, because behind a transaction-mode pooler
// (pgbouncer) that state would stay on a server connection other clients get
// next. Read-only mode and the statement timeout are per transaction instead:
// BEGIN ... READ ONLY / SET TRANSACTION READ ONLY and SET LOCAL.
class PostgresConnection final : public SociConnection {
 public:
  PostgresConnection(const ConnectionTarget& target, const ConnectOptions& options)
      : options_(options), conninfo_(keyword_conninfo(target.conninfo)) {
    try {
      session_.open(soci::postgresql, conninfo_);
    } catch (const std::exception& e) {
      raise(e);
    }
    conn_ = static_cast<soci::postgresql_session_backend*>(session_.get_backend())->conn_;
    PQsetNoticeReceiver(conn_, on_notice, nullptr);
    // Literals are quoted the standard way (the default since PostgreSQL 9.1);
    // refuse a server that reads them otherwise rather than SET it.
    const char* scs = PQparameterStatus(conn_, "standard_conforming_strings");
    if (scs && std::string_view(scs) != "on") {
      throw DatabaseError("the server has standard_conforming_strings = off; constraintctl needs it on");
    }
  }

  ~PostgresConnection() override {
    // A deferred BEGIN was never sent. Never hand a pooler a connection in
    // the middle of our transaction.
    if (conn_ && PQtransactionStatus(conn_) != PQTRANS_IDLE) PQclear(PQexec(conn_, "ROLLBACK"));
  }

  void execute(std::string_view sql) override {
    const bool begin = starts_with_keyword(sql, "BEGIN") || starts_with_keyword(sql, "START");
    if (begin) {
      end_implicit();
      flush_begin();
      // Deferred: BEGIN and its per-transaction settings go with the
      // transaction's first statement, in its round trip.
      pending_.push_back(std::string(sql) + "; " + transaction_settings(options_.read_only));
      begin_pending_ = true;
      return;
    }
    // A SAVEPOINT inside a transaction is deferred the same way (a verify
    // probe: SAVEPOINT and the probe's write in one round trip).
    if (starts_with_keyword(sql, "SAVEPOINT") && (begin_pending_ || PQtransactionStatus(conn_) == PQTRANS_INTRANS)) {
      pending_.emplace_back(sql);
      return;
    }
    if (const std::string_view release = "RELEASE SAVEPOINT ";
        sql.substr(0, release.size()) == release && drop_pending_savepoint(sql.substr(release.size()))) {
      return;  // nothing ran since it
    }
    if (begin_pending_ && (sql == "COMMIT" || sql == "ROLLBACK")) {
      pending_.clear();  // a transaction that ran nothing: nothing to send
      begin_pending_ = false;
      implicit_ = false;
      return;
    }
    // Statements that return no rows to read go straight to libpq (run()):
    // one round trip, no prepare and DEALLOCATE, and the error's fields
    // (SQLSTATE, constraint, table) stay readable.
    guarded([&] {
      open_implicit();
      run(sql);
    });
    if (starts_with_keyword(sql, "COMMIT") || starts_with_keyword(sql, "ROLLBACK") || starts_with_keyword(sql, "END")) {
      implicit_ = false;
    }
  }

  std::int64_t execute_count(std::string_view sql) override {
    std::int64_t n = 0;
    guarded([&] {
      open_implicit();
      n = run(sql);
    });
    return n;
  }

  // Rows through libpq in text form, typed by the column's type OID: every
  // type reads (enums, dates, tid, arrays, ...), NUMERIC stays exact text.
  void query(std::string_view sql, const RowHandler& on_row) override {
    guarded([&] {
      flush_begin();  // PQexecParams takes one statement: the deferred BEGIN goes first
      open_implicit();
      // A query outside any transaction gets one of its own with the
      // tool's timeouts: a role's statement_timeout does not cancel it, and
      // it waits at most lock_wait_ms behind another session's LOCK TABLE
      // (verify's EXPLAIN of a definition, the catalog reads of a plan).
      const bool own = PQtransactionStatus(conn_) == PQTRANS_IDLE;
      if (own) run("BEGIN; " + timeout_settings());
      struct EndOwn {
        PGconn* conn;
        bool own;
        bool ok = false;
        ~EndOwn() {
          if (own) PQclear(PQexec(conn, ok ? "COMMIT" : "ROLLBACK"));
        }
      } end_own{conn_, own};
      const std::string text(sql);
      PGresult* res = PQexecParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
      std::unique_ptr<PGresult, void (*)(PGresult*)> owned(res, PQclear);
      const ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) raise_result(res, text);
      rows_of(res, on_row);
      end_own.ok = true;
    });
  }

  // query() in libpq's single-row mode; see Connection::stream.
  void stream(std::string_view sql, const RowHandler& on_row) override {
    bool idle = false;
    guarded([&] {
      flush_begin();  // a deferred BEGIN goes first
      open_implicit();
      idle = PQtransactionStatus(conn_) == PQTRANS_IDLE;
    });
    if (idle) return query(sql, on_row);  // which wraps it in a transaction with the tool's timeouts
    guarded([&] {
      const std::string text(sql);
      if (!PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0))
        raise_result(nullptr, text);
      PQsetSingleRowMode(conn_);
      PGresult* error = nullptr;
      std::exception_ptr thrown;
      while (PGresult* res = PQgetResult(conn_)) {  // every result read, so the connection is ready again
        const ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE || status == PGRES_TUPLES_OK) {
          if (!error && !thrown) {
            try {
              rows_of(res, on_row);
            } catch (...) {
              thrown = std::current_exception();
            }
          }
        } else if (status != PGRES_COMMAND_OK && !error) {
          error = res;
          continue;
        }
        PQclear(res);
      }
      if (error) {
        std::unique_ptr<PGresult, void (*)(PGresult*)> owned(error, PQclear);
        raise_result(error, text);
      }
      if (thrown) std::rethrow_exception(thrown);
    });
  }

  void commit() override { execute("COMMIT"); }

  void rollback() override { execute("ROLLBACK"); }

  // Both in one string: ROLLBACK TO runs in an aborted transaction too, and
  // the RELEASE after it then runs normally.
  void rollback_to_savepoint(const std::string& quoted_name) override {
    if (drop_pending_savepoint(quoted_name)) return;  // never sent: nothing to undo
    execute("ROLLBACK TO SAVEPOINT " + quoted_name + "; RELEASE SAVEPOINT " + quoted_name);
  }

  // See postgres_batch.h.
  void execute_batch(const std::vector<std::string>& sqls, size_t& failed) {
    failed = sqls.size();
    guarded([&] {
      open_implicit();
      run_batch(sqls, nullptr, failed);
    });
  }

  std::vector<std::optional<DatabaseError>> query_each(const std::vector<std::string>& sqls,
                                                       const std::function<void(size_t, const Row&)>& on_row) {
    std::vector<std::optional<DatabaseError>> errors(sqls.size());
    guarded([&] {
      flush_begin();
      open_implicit();
    });
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      // Inside the caller's transaction: one at a time, as query() would.
      for (size_t i = 0; i < sqls.size(); ++i) {
        try {
          query(sqls[i], [&](const Row& r) { on_row(i, r); });
        } catch (const DatabaseError& e) {
          errors[i] = e;
        }
      }
      return errors;
    }
    // Chunks of a bounded size: each chunk's transaction holds the locks
    // its queries take (ACCESS SHARE on every table an EXPLAIN plans) until
    // it commits, and the lock table is shared by every session.
    constexpr size_t kChunk = 100;
    size_t next = 0;
    while (next < sqls.size()) {
      const size_t end = std::min(sqls.size(), next + kChunk);
      std::vector<std::string> chunk{"BEGIN; " + transaction_settings(false)};
      chunk.insert(chunk.end(), sqls.begin() + static_cast<std::ptrdiff_t>(next),
                   sqls.begin() + static_cast<std::ptrdiff_t>(end));
      chunk.push_back("COMMIT");
      size_t failed = chunk.size();
      try {
        run_batch(
            chunk, [&](size_t k, const Row& r) { on_row(next + k - 1, r); }, failed);
        next = end;
      } catch (const DatabaseError& e) {
        if (PQtransactionStatus(conn_) != PQTRANS_IDLE) PQclear(PQexec(conn_, "ROLLBACK"));
        // BEGIN or COMMIT failing (a lost connection) is no query's answer.
        if (failed == 0 || failed + 1 >= chunk.size() || e.kind() == DbErrorKind::connection) throw;
        errors[next + failed - 1] = e;
        next += failed;  // the queries before it answered; go on after it
      }
    }
    return errors;
  }

  // A transaction-mode pooler runs consecutive transactions of one client on
  // whichever server connection is free; what needs one session (the
  // migrator's advisory lock, multi-transaction steps) would then silently
  // lose it. Two signs, either enough: our backend changes between two
  // transactions, or a second client is handed the backend we just released.
  // Neither can happen on a direct connection or a session-mode pooler.
  void require_session() override {
    flush_begin();
    PGconn* other = PQconnectdb(conninfo_.c_str());
    const bool other_ok = PQstatus(other) == CONNECTION_OK;
    bool pooled = false;
    auto pid_of = [](PGconn* c) -> long {
      PGresult* res = PQexec(c, "SELECT pg_backend_pid()");
      long pid = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? std::atol(PQgetvalue(res, 0, 0)) : -1;
      PQclear(res);
      return pid;
    };
    for (int attempt = 0; attempt < 3 && !pooled; ++attempt) {
      const long first = pid_of(conn_);
      const long theirs = other_ok ? pid_of(other) : -1;
      const long second = pid_of(conn_);
      pooled = first != second || (theirs >= 0 && theirs == first);
    }
    PQfinish(other);
    if (pooled) {
      throw UsageError(
          "this command needs one database session, but the connection goes through a transaction-mode pooler "
          "(such as pgbouncer with pool_mode = transaction): connect directly to PostgreSQL, or through a session-mode "
          "pool; nothing was changed");
    }
  }

  const Dialect& dialect() const override { return postgresql_dialect(); }

  const std::string& conninfo() const { return conninfo_; }
  PGconn* pg() const { return conn_; }

  // Read from a second session: this one may be in a failed transaction.
  std::string lock_holders() override {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    std::string out;
    if (PQstatus(c) == CONNECTION_OK) {
      out = describe_sessions(
          c, "a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'relation' AND l.granted AND l.pid <> " +
                 std::to_string(PQbackendPID(conn_)) +
                 " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.mode IN "
                 "('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))");
    }
    PQfinish(c);
    return out;
  }

  std::string server_version() override {
    std::string v;
    query("SHOW server_version", [&](const Row& r) { v = value_text(r[0]); });
    return v;
  }

  void allow_schema_edits(bool) override {}

  void begin_read_snapshot() override { execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }

  // pg_export_snapshot() in this transaction; each worker joins it with SET
  // TRANSACTION SNAPSHOT before its first query. Valid while this transaction
  // stays open, through a transaction-mode pooler too (any backend may join).
  std::vector<std::unique_ptr<Connection>> begin_shared_snapshot(int extra, const Opener& open) override {
    begin_read_snapshot();
    std::vector<std::unique_ptr<Connection>> workers;
    if (extra <= 0) return workers;
    // Behind a pooler (pgbouncer hands out its own backend key, so the pid
    // libpq was told differs from the server's) the open snapshot holds one
    // server connection while the others queue for one: with a small pool
    // they would wait for it until the pooler's timeout. Read alone there.
    long server_pid = -1;
    query("SELECT pg_backend_pid()", [&](const Row& r) { server_pid = static_cast<long>(value_int(r[0])); });
    if (server_pid != PQbackendPID(conn_)) return workers;
    std::string id;
    try {
      query("SELECT pg_export_snapshot()", [&](const Row& r) { id = value_text(r[0]); });
    } catch (const DatabaseError&) {
      // A hot standby exports none before PostgreSQL 10 and some poolers or
      // proxies refuse it: this connection reads alone, in its own snapshot.
      rollback();
      begin_read_snapshot();
      return workers;
    }
    for (int i = 0; i < extra; ++i) {
      auto c = open(true);
      c->begin_read_snapshot();
      c->execute("SET TRANSACTION SNAPSHOT " + dialect().quote_string(id));
      workers.push_back(std::move(c));
    }
    return workers;
  }

  // Block ranges of a plain table (a TID range scan reads only its blocks);
  // a partitioned parent or a small table is read whole.
  std::vector<std::string> split_ranges(const model::TableName& table, int parts, std::int64_t min_rows) override {
    std::vector<std::string> out;
    if (parts < 2) return out;
    std::int64_t blocks = 0;
    double rows = 0;
    query(
        "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint, c.reltuples FROM pg_class c WHERE "
        "c.oid = "
        "to_regclass(" +
            dialect().quote_string(dialect().quote_table(table)) + ") AND c.relkind = 'r'",
        [&](const Row& r) {
          blocks = value_int(r[0]);
          rows = std::holds_alternative<double>(r[1]) ? std::get<double>(r[1]) : static_cast<double>(value_int(r[1]));
        });
    if (blocks < parts || rows < static_cast<double>(min_rows)) return out;
    const std::int64_t step = (blocks + parts - 1) / parts;
    for (int i = 0; i < parts; ++i) {
      const std::int64_t lo = i * step, hi = (i + 1) * step;
      std::string cond;
      if (i > 0) cond = "ctid >= '(" + std::to_string(lo) + ",0)'::tid";
      if (i + 1 < parts)
        cond += (cond.empty() ? "" : " AND ") + std::string("ctid < '(") + std::to_string(hi) + ",0)'::tid";
      out.push_back(cond);
    }
    return out;
  }

  std::vector<std::string> list_tables() override {
    std::vector<std::string> out;
    query(kListTables, [&](const Row& r) { out.push_back(value_text(r[0])); });
    return out;
  }

  TableInfo inspect_table(const model::TableName& table) override { return std::move(inspect_tables({table}).front()); }

  // Five queries whatever the number of tables: rows come back ordered by
  // the table's position in `tables`, then as each query orders them.
  std::vector<TableInfo> inspect_tables(const std::vector<model::TableName>& tables) override {
    std::vector<TableInfo> infos(tables.size());
    if (tables.empty()) return infos;
    std::string names = "ARRAY[";
    for (size_t i = 0; i < tables.size(); ++i) {
      infos[i].name = tables[i];
      names += (i ? ", " : "") + dialect().quote_string(dialect().quote_table(tables[i]));
    }
    const std::string requested = detail::substitute(kRequested, names + "]");
    auto of = [&](const Row& r) -> TableInfo& { return infos.at(static_cast<size_t>(value_int(r[0])) - 1); };
    query(detail::substitute(kExists, requested), [&](const Row& r) {
      of(r).exists = truthy(r[1]);
      of(r).row_id_repeats = truthy(r[2]);
    });
    if (std::none_of(infos.begin(), infos.end(), [](const TableInfo& i) { return i.exists; })) return infos;
    query(detail::substitute(kColumns, requested), [&](const Row& r) {
      ColumnInfo c;
      c.name = value_text(r[1]);
      c.type = value_text(r[2]);
      c.not_null = truthy(r[3]);
      c.generated = truthy(r[5]);
      if (!std::holds_alternative<std::monostate>(r[4]) && !c.generated) c.default_sql = value_text(r[4]);
      if (!std::holds_alternative<std::monostate>(r[6])) c.base_type = value_text(r[6]);
      if (!std::holds_alternative<std::monostate>(r[7])) c.labels = detail::split_unit(value_text(r[7]));
      c.identity_always = truthy(r[8]);
      of(r).columns.push_back(std::move(c));
    });
    query(detail::substitute(kConstraints, requested), [&](const Row& r) {
      TableInfo& info = of(r);
      ExistingConstraint c;
      c.name = value_text(r[1]);
      const std::string type = value_text(r[2]);
      c.kind = type == "c"   ? ExistingConstraint::Kind::check
               : type == "u" ? ExistingConstraint::Kind::unique
               : type == "p" ? ExistingConstraint::Kind::primary_key
                             : ExistingConstraint::Kind::foreign_key;
      c.definition = value_text(r[3]);
      c.valid = truthy(r[4]) && truthy(r[5]);
      if (!std::holds_alternative<std::monostate>(r[6])) c.columns = detail::split_unit(value_text(r[6]));
      if (c.kind == ExistingConstraint::Kind::primary_key) info.primary_key = c.columns;
      info.constraints.push_back(std::move(c));
    });
    query(detail::substitute(kUniqueIndexes, requested), [&](const Row& r) {
      ExistingConstraint c;
      c.kind = ExistingConstraint::Kind::unique_index;
      c.name = value_text(r[1]);
      c.definition = value_text(r[2]);
      c.valid = truthy(r[3]);
      c.columns = detail::split_unit(value_text(r[4]));
      of(r).constraints.push_back(std::move(c));
    });
    query(detail::substitute(kReferrers, requested), [&](const Row& r) {
      Referrer ref;
      ref.table = {value_text(r[1]), value_text(r[2])};
      ref.columns = detail::split_unit(value_text(r[3]));
      ref.parent_columns = detail::split_unit(value_text(r[4]));
      ref.cascade = truthy(r[5]);
      const std::string action = value_text(r[6]);
      ref.on_delete = action == "c"   ? "CASCADE"
                      : action == "n" ? "SET NULL"
                      : action == "d" ? "SET DEFAULT"
                      : action == "r" ? "RESTRICT"
                                      : "NO ACTION";
      of(r).referrers.push_back(std::move(ref));
    });
    for (auto& info : infos) {
      if (info.exists && info.primary_key.empty()) info.row_id = "ctid";
    }
    return infos;
  }

  // PQprepare parses and analyses without executing, and refuses more than
  // one command: the database's own parser vets the expression. Then every
  // function it can call must be IMMUTABLE or STABLE (see volatile_call).
  // In a transaction (a read snapshot) a savepoint keeps a rejected
  // expression from aborting it.
  std::vector<std::string> user_triggers(const model::TableName& table) override {
    std::vector<std::string> out;
    query(detail::substitute(kTriggers, dialect().quote_string(dialect().quote_table(table))),
          [&](const Row& r) { out.push_back(value_text(r[0])); });
    return out;
  }

  // DISABLE / ENABLE TRIGGER are transactional: re-enabled before the
  // caller commits, no other session sees them off (they wait on the
  // table's lock instead).
  std::vector<std::string> suspend_triggers(const model::TableName& table) override {
    const std::string q = dialect().quote_table(table);
    std::vector<std::pair<std::string, std::string>> triggers;
    query(detail::substitute(kTriggers, dialect().quote_string(q)),
          [&](const Row& r) { triggers.emplace_back(value_text(r[0]), value_text(r[1])); });
    std::vector<std::string> restore;
    for (const auto& [name, mode] : triggers) {
      execute("ALTER TABLE " + q + " DISABLE TRIGGER " + dialect().quote_ident(name));
      const std::string how = mode == "A"   ? "ENABLE ALWAYS TRIGGER "
                              : mode == "R" ? "ENABLE REPLICA TRIGGER "
                                            : "ENABLE TRIGGER ";
      restore.push_back("ALTER TABLE " + q + " " + how + dialect().quote_ident(name));
    }
    return restore;
  }

  // What a trigger function does outside this database cannot be captured
  // nor undone: a language that reaches the file system or the network
  // (anything but plpgsql and sql), or a call that sends something out.
  std::vector<TriggerSource> trigger_sources(const model::TableName& table) override {
    std::vector<TriggerSource> out;
    query(detail::substitute(kTriggerSources, dialect().quote_string(dialect().quote_table(table))), [&](const Row& r) {
      TriggerSource t{value_text(r[0]), value_text(r[1]), ""};
      const std::string language = value_text(r[2]), function = value_text(r[3]);
      std::string lower = t.text;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (language != "plpgsql" && language != "sql") {
        t.uncapturable =
            "its function " + function + " is written in " + language + ", which can act outside the database";
      }
      for (const char* call : {"dblink", "pg_notify", "notify", "lo_export", "pg_file_write", "to program"}) {
        if (t.uncapturable.empty() && lower.find(call) != std::string::npos)
          t.uncapturable = "its function " + function + " uses " + call + ", which acts outside the database";
      }
      // TRUNCATE fires no row trigger and counts no deleted tuple: the
      // capture would miss what it empties, and undo could not put it back.
      if (t.uncapturable.empty() && text::names_word(lower, "truncate"))
        t.uncapturable = "its function " + function +
                         " uses TRUNCATE, whose rows no row-level capture sees (so fix-undo could not restore them)";
      out.push_back(std::move(t));
    });
    return out;
  }

  // No TEMP triggers here: a trigger on the table (DDL, transactional,
  // taken back before commit) calls a function in pg_temp that writes the
  // row images into a temporary table.
  void begin_change_capture(const std::vector<CaptureTable>& tables) override {
    const auto& d = dialect();
    execute("DROP TABLE IF EXISTS pg_temp.cc_capture");
    execute(
        "CREATE TEMP TABLE cc_capture (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, table_name text NOT NULL, "
        "table_schema text NOT NULL, op text NOT NULL, old_key jsonb, new_key jsonb, old_row jsonb, new_row jsonb)");
    capture_triggers_.clear();
    for (size_t i = 0; i < tables.size(); ++i) {
      const auto& t = tables[i];
      const std::string q = d.quote_table(t.table);
      const std::string name = "cc_capture_" + std::to_string(i);
      const std::string into =
          "INSERT INTO pg_temp.cc_capture (table_name, table_schema, op, old_key, new_key, old_row, "
          "new_row) SELECT " +
          d.quote_string(t.table.name) + ", " + d.quote_string(t.table.schema) + ", ";
      execute("CREATE FUNCTION pg_temp." + name +
              "() RETURNS trigger LANGUAGE plpgsql AS $cc_capture$ BEGIN IF TG_OP = 'INSERT' THEN " + into +
              "'insert', NULL, " + t.key("cc_new") + ", NULL, " + t.image("cc_new") +
              " FROM (SELECT NEW.*) AS cc_new; ELSIF TG_OP = 'UPDATE' THEN " + into + "'update', " + t.key("cc_old") +
              ", " + t.key("cc_new") + ", " + t.image("cc_old") + ", " + t.image("cc_new") +
              " FROM (SELECT OLD.*) AS cc_old, (SELECT NEW.*) AS cc_new; ELSE " + into + "'delete', " +
              t.key("cc_old") + ", NULL, " + t.image("cc_old") +
              ", NULL FROM (SELECT OLD.*) AS cc_old; END IF; RETURN NULL; END $cc_capture$");
      try {
        execute("CREATE TRIGGER " + name + " AFTER INSERT OR UPDATE OR DELETE ON " + q +
                " FOR EACH ROW EXECUTE FUNCTION pg_temp." + name + "()");
      } catch (const DatabaseError& e) {
        throw DatabaseError("cannot record the changes of table '" + t.table.str() +
                                "' (a trigger on it needs its owner or the TRIGGER privilege): " + e.what(),
                            e.kind());
      }
      capture_triggers_.emplace_back(name, q);
    }
  }

  // pg_stat_xact_user_tables counts this transaction's writes, a trigger's
  // and a foreign-key action's included (with what this backend has not
  // reported yet: hence two readings compared). Temporary tables left out.
  std::optional<std::vector<std::pair<std::string, std::int64_t>>> transaction_writes() override {
    std::vector<std::pair<std::string, std::int64_t>> out;
    query(kTransactionWrites, [&](const Row& r) { out.emplace_back(value_text(r[0]), value_int(r[1])); });
    return out;
  }

  void end_change_capture() override {
    for (const auto& [name, q] : capture_triggers_) {
      execute("DROP TRIGGER IF EXISTS " + name + " ON " + q);
      execute("DROP FUNCTION IF EXISTS pg_temp." + name + "()");
    }
    capture_triggers_.clear();
    execute("DROP TABLE IF EXISTS pg_temp.cc_capture");
  }

  void validate_expression(const model::TableName& table, std::string_view expr) override {
    require_single_expression(expr);
    flush_begin();
    const std::string sql = "SELECT 1 FROM " + dialect().quote_table(table) + " WHERE NOT (" + std::string(expr) + ")";
    const bool in_transaction = PQtransactionStatus(conn_) == PQTRANS_INTRANS;
    if (in_transaction) SociConnection::execute("SAVEPOINT constraintctl_validate");
    PGresult* res = PQprepare(conn_, "", sql.c_str(), 0, nullptr);
    const bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    std::string message, sqlstate;
    if (!ok) {
      message = res ? trim(PQresultErrorMessage(res)) : trim(PQerrorMessage(conn_));
      if (const char* s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr) sqlstate = s;
      if (const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr) message = primary;
    }
    PQclear(res);
    if (in_transaction) {
      SociConnection::execute(ok ? "RELEASE SAVEPOINT constraintctl_validate"
                                 : "ROLLBACK TO SAVEPOINT constraintctl_validate");
    } else if (!ok && implicit_) {
      end_implicit();
    }
    if (!ok) {
      DbErrorDetail detail;
      detail.code = sqlstate;
      if (!sqlstate.empty()) detail.code_label = "SQLSTATE " + sqlstate;
      detail.sql = sql;
      throw DatabaseError(secrets::scrub(message), kind_of(sqlstate), std::move(detail));
    }
    if (const std::string why = volatile_call(expr); !why.empty()) throw DatabaseError(why, DbErrorKind::other);
  }

 protected:
  [[noreturn]] void raise(const std::exception& e) const override {
    std::string sqlstate;
    if (auto* pe = dynamic_cast<const soci::postgresql_soci_error*>(&e)) sqlstate = pe->sqlstate();
    std::string message = trim(secrets::scrub(e.what()));
    // SOCI prefixes libpq's text with its own words; keep the database's.
    for (const char* prefix :
         {"Cannot execute query. Fatal error. ", "Cannot execute query. ", "ERROR:  ", "ERROR: "}) {
      if (message.rfind(prefix, 0) == 0) message.erase(0, std::strlen(prefix));
    }
    DbErrorDetail detail;
    detail.code = sqlstate;
    if (!sqlstate.empty()) detail.code_label = "SQLSTATE " + sqlstate;
    throw DatabaseError(message, sqlstate.empty() ? DbErrorKind::connection : kind_of(sqlstate), std::move(detail));
  }

 private:
  std::vector<std::pair<std::string, std::string>> capture_triggers_;  // (trigger, table) of begin_change_capture
  // True when the last deferred statement is SAVEPOINT `quoted_name`, now dropped.
  bool drop_pending_savepoint(std::string_view quoted_name) {
    if (pending_.empty() || pending_.back() != "SAVEPOINT " + std::string(quoted_name)) return false;
    pending_.pop_back();
    begin_pending_ = begin_pending_ && !pending_.empty();
    return true;
  }

  // The deferred statements, "a; b; " ("" for none), and no longer deferred.
  std::string take_pending() {
    std::string text;
    for (const auto& p : pending_) text += p + "; ";
    pending_.clear();
    begin_pending_ = false;
    return text;
  }

  // Sends the deferred statements on their own (before what cannot carry them).
  void flush_begin() {
    if (pending_.empty()) return;
    const std::string text = take_pending();
    PGresult* res = PQexec(conn_, text.c_str());
    std::unique_ptr<PGresult, void (*)(PGresult*)> owned(res, PQclear);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) raise_result(res, text);
  }

  std::int64_t run(std::string_view sql) {
    // The deferred statements go in front, in the same round trip; PQexec's
    // result is the last statement's, or the first error.
    const std::string text = take_pending() + std::string(sql);
    // PQexec, as SOCI used: tests and bookkeeping send several statements at once
    // (every declared expression was vetted to be one expression before).
    PGresult* res = PQexec(conn_, text.c_str());
    std::unique_ptr<PGresult, void (*)(PGresult*)> owned(res, PQclear);
    const ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      const char* n = PQcmdTuples(res);
      return n && *n ? std::atoll(n) : 0;
    }
    raise_result(res, std::string(sql));  // the caller's statement, not the BEGIN in front
  }

  // The elements of `sqls` (each one or more statements) as one simple-query
  // string: one round trip. PostgreSQL runs them in order and stops at the
  // first that fails; that element's index goes to `failed` and its error is
  // thrown with its own SQL. Outside a transaction the string is one
  // implicit transaction. `on_row(i, row)` gets the rows of element i.
  void run_batch(const std::vector<std::string>& sqls, const std::function<void(size_t, const Row&)>& on_row,
                 size_t& failed) {
    failed = sqls.size();
    if (sqls.empty()) return;
    // The statements of the string, in order -> their element (deferred
    // ones count as the first element's).
    std::string text = take_pending();
    std::vector<size_t> owner(text.empty() ? 0 : statement_count(text), 0);
    for (size_t i = 0; i < sqls.size(); ++i) {
      text += (i ? "; " : "") + sqls[i];
      owner.insert(owner.end(), statement_count(sqls[i]), i);
    }
    if (!PQsendQuery(conn_, text.c_str())) {
      failed = 0;
      raise_result(nullptr, text);
    }
    size_t k = 0;
    PGresult* error = nullptr;
    std::exception_ptr thrown;
    while (PGresult* res = PQgetResult(conn_)) {  // every result read, so the connection is ready again
      const ExecStatusType status = PQresultStatus(res);
      const size_t element = owner[std::min(k++, owner.size() - 1)];
      if (status == PGRES_TUPLES_OK && on_row && !error && !thrown) {
        try {
          rows_of(res, [&](const Row& r) { on_row(element, r); });
        } catch (...) {
          thrown = std::current_exception();
        }
      } else if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY && !error) {
        error = res;
        failed = element;
        continue;
      }
      PQclear(res);
    }
    if (error) {
      std::unique_ptr<PGresult, void (*)(PGresult*)> owned(error, PQclear);
      raise_result(error, sqls[failed]);
    }
    if (thrown) std::rethrow_exception(thrown);
  }

  // The statements in `sql` (semicolons between significant tokens, plus one).
  static size_t statement_count(const std::string& sql) {
    try {
      const auto tokens = sql::significant(sql::tokenize(sql));
      size_t n = 1;
      for (size_t i = 0; i + 1 < tokens.size(); ++i) n += tokens[i].is(";") ? 1 : 0;
      return n;
    } catch (const Error&) {
      return 1;  // only the attribution of an error suffers
    }
  }

  static void rows_of(PGresult* res, const RowHandler& on_row) {
    const int rows = PQntuples(res), cols = PQnfields(res);
    std::vector<Oid> types(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c) types[static_cast<size_t>(c)] = PQftype(res, c);
    Row out;
    for (int r = 0; r < rows; ++r) {
      out.clear();
      out.reserve(static_cast<size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        out.push_back(PQgetisnull(res, r, c) ? Value{std::monostate{}}
                                             : typed_value(types[static_cast<size_t>(c)], PQgetvalue(res, r, c),
                                                           static_cast<size_t>(PQgetlength(res, r, c))));
      }
      on_row(out);
    }
  }

  // Text from the server -> a Value, by type OID (pg_type.h).
  static Value typed_value(Oid type, const char* text, size_t length) {
    std::string_view v(text, length);
    switch (type) {
      case 16: return v == "t";  // bool
      case 20:
      case 21:
      case 23:
      case 26: {  // int8, int2, int4, oid
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec == std::errc() && end == v.data() + v.size()) return n;
        return std::string(v);
      }
      case 700:
      case 701: {  // float4, float8 (NaN, Infinity stay text)
        if (v == "NaN" || v == "Infinity" || v == "-Infinity") return std::string(v);
        return std::strtod(std::string(v).c_str(), nullptr);
      }
      default: return std::string(v);  // numeric exactly, and every other type as PostgreSQL prints it
    }
  }

  // Throws the error `res` (or the connection) reports, with its fields.
  // The caller still owns `res`.
  [[noreturn]] void raise_result(PGresult* res, const std::string& text) {
    auto field = [&](int code) -> std::string {
      const char* v = res ? PQresultErrorField(res, code) : nullptr;
      return v ? v : "";
    };
    DbErrorDetail detail;
    detail.code = field(PG_DIAG_SQLSTATE);
    if (!detail.code.empty()) detail.code_label = "SQLSTATE " + detail.code;
    detail.constraint = field(PG_DIAG_CONSTRAINT_NAME);
    detail.table = field(PG_DIAG_TABLE_NAME);
    detail.sql = secrets::scrub(text);
    std::string message = field(PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty()) message = trim(PQerrorMessage(conn_));
    if (const std::string more = field(PG_DIAG_MESSAGE_DETAIL); !more.empty()) message += " (" + more + ")";
    const DbErrorKind kind = detail.code.empty() ? DbErrorKind::connection : kind_of(detail.code);
    // Who holds the lock is what the user needs to act on a lock timeout.
    if (kind == DbErrorKind::lock_timeout) {
      if (const std::string who = lock_holders(); !who.empty()) message += "; the lock is held by " + who;
    }
    throw DatabaseError(secrets::scrub(message), kind, std::move(detail));
  }

  // A declared expression runs once per row during every scan, verify and
  // fix: a VOLATILE function in it (pg_terminate_backend, nextval, random,
  // anything user-defined that writes) would act on the database or give
  // arbitrary results. PostgreSQL does not say which functions a parsed
  // statement resolved to without executing or storing it (both would need
  // writes or TEMP, which a monitoring role may lack), so this reads the
  // catalog for every name the expression calls: any function of that name
  // on the search path (or in the schema given), and any operator spelled as
  // in the expression, whose implementation is VOLATILE. Overloads are judged
  // together, which errs on the side of refusing. Returns the reason, or "".
  std::string volatile_call(std::string_view expr) {
    const auto tokens = sql::significant(sql::tokenize(expr));
    std::vector<std::pair<std::string, std::string>> functions;  // schema (may be empty), name
    std::vector<std::string> operators;
    auto name_of = [](const sql::Token& t) {
      std::string n = sql::identifier_name(t);
      if (t.kind == sql::TokenKind::word) {
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      return n;
    };
    auto is_name = [](const sql::Token& t) {
      return t.kind == sql::TokenKind::word || t.kind == sql::TokenKind::quoted_identifier;
    };
    // Adjacent operator characters form one operator in PostgreSQL ("===");
    // one that ends in + or - and holds none of ~!@#%^&|`? is split before
    // those, as PostgreSQL's lexer does ("x>-5" is "x > -5").
    std::string pending_op;
    size_t pending_end = 0;
    auto flush_op = [&] {
      if (pending_op.empty() || pending_op == "::") {
        pending_op.clear();
        return;
      }
      if (pending_op.size() > 1 && pending_op.find_first_of("~!@#%^&|`?") == std::string::npos) {
        while (pending_op.size() > 1 && (pending_op.back() == '+' || pending_op.back() == '-')) {
          operators.emplace_back(1, pending_op.back());
          pending_op.pop_back();
        }
      }
      operators.push_back(pending_op);
      pending_op.clear();
    };
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto& t = tokens[i];
      if (t.kind == sql::TokenKind::op) {
        if (!pending_op.empty() && t.offset != pending_end) flush_op();
        pending_op += t.text;
        pending_end = t.offset + t.text.size();
        continue;
      }
      flush_op();
      if (!is_name(t) || i + 1 >= tokens.size() || !tokens[i + 1].is("(")) continue;
      std::string schema;
      if (i >= 2 && tokens[i - 1].is(".") && is_name(tokens[i - 2])) schema = name_of(tokens[i - 2]);
      functions.emplace_back(schema, name_of(t));
    }
    flush_op();
    const Dialect& d = dialect();
    for (const auto& [schema, name] : functions) {
      std::string found;
      const std::string where =
          schema.empty() ? "n.nspname = ANY (current_schemas(true))" : "n.nspname = " + d.quote_string(schema);
      query(
          "SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
          "WHERE p.proname = " +
              d.quote_string(name) + " AND p.provolatile = 'v' AND " + where + " ORDER BY 1 LIMIT 1",
          [&](const Row& r) { found = value_text(r[0]); });
      if (!found.empty()) {
        return "the expression calls " + found +
               "(), a VOLATILE function: it could change the database or give a different "
               "answer per evaluation; only IMMUTABLE or STABLE functions may appear in a declared expression";
      }
    }
    for (const auto& op : operators) {
      std::string found;
      query(
          "SELECT o.oprname || ' (' || p.proname || ')' FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode "
          "JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE o.oprname = " +
              d.quote_string(op) +
              " AND p.provolatile = 'v' AND n.nspname = ANY (current_schemas(true)) ORDER BY 1 LIMIT 1",
          [&](const Row& r) { found = value_text(r[0]); });
      if (!found.empty()) {
        return "the expression uses the operator " + found +
               ", whose function is VOLATILE; only IMMUTABLE or STABLE "
               "functions may appear in a declared expression";
      }
    }
    return "";
  }

  // Right after BEGIN (sent with it): the per-transaction settings that
  // would otherwise be session SETs.
  std::string transaction_settings(bool read_only) const {
    // Always set, 0 included: a role's or database's own statement_timeout
    // must not cancel a scan or a VALIDATE that the configuration allows.
    // Likewise lock_timeout, so that no read waits unbounded behind another
    // session's LOCK TABLE (the migrator's exclusive steps set their own).
    return (read_only ? "SET TRANSACTION READ ONLY; " : "") + timeout_settings();
  }

  std::string timeout_settings() const {
    return "SET LOCAL statement_timeout = " + std::to_string(options_.statement_timeout_ms) +
           "; SET LOCAL lock_timeout = " + std::to_string(options_.lock_wait_ms);
  }

  // A read-only connection runs nothing outside a read-only transaction: a
  // statement issued outside one opens one (ended by the next BEGIN, COMMIT,
  // ROLLBACK, an error, or closing the connection).
  void open_implicit() {
    if (!options_.read_only || !pending_.empty() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return;
    run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + transaction_settings(false));
    implicit_ = true;
  }

  void end_implicit() {
    if (implicit_ && PQtransactionStatus(conn_) != PQTRANS_IDLE) SociConnection::execute("ROLLBACK");
    implicit_ = false;
  }

  // A failed statement in a transaction we opened on the caller's behalf
  // must not leave the caller in an aborted transaction it never began.
  template <typename F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const Error&) {
      if (implicit_) {
        PQclear(PQexec(conn_, "ROLLBACK"));
        implicit_ = false;
      }
      throw;
    }
  }

  ConnectOptions options_;
  std::string conninfo_;
  PGconn* conn_ = nullptr;
  bool implicit_ = false;
  // Statements not sent yet (a BEGIN with its settings, SAVEPOINTs): they
  // go in front of the next statement (run, run_batch), or alone before one
  // that cannot carry them (flush_begin). begin_pending_: the first is a BEGIN.
  std::vector<std::string> pending_;
  bool begin_pending_ = false;
};

}  // namespace

std::unique_ptr<WaitWatch> watch_waits(Connection& db, std::string what, long long limit_ms) {
  auto& pg = dynamic_cast<PostgresConnection&>(db);
  return std::make_unique<PgWaitWatch>(pg.conninfo(), pg.pg(), std::move(what), limit_ms);
}

std::string older_transactions(Connection& db, const std::vector<std::string>& tables, bool any_older,
                               long long older_ms) {
  auto& pg = dynamic_cast<PostgresConnection&>(db);
  const auto& d = postgresql_dialect();
  std::string on_tables;
  for (const auto& t : tables) on_tables += (on_tables.empty() ? "" : ", ") + d.quote_string(t);
  const std::string holds =
      "a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'relation' AND l.granted AND l.database = (SELECT "
      "oid FROM pg_database WHERE datname = current_database())" +
      (on_tables.empty()
           ? std::string()
           : " AND l.relation IN (SELECT to_regclass(t) FROM unnest(ARRAY[" + on_tables + "]::text[]) t)") +
      ")";
  const std::string condition =
      "a.pid <> " + std::to_string(PQbackendPID(pg.pg())) +
      " AND a.datname = current_database() AND a.xact_start <= now() - make_interval(secs => " +
      std::to_string(std::max<long long>(0, older_ms) / 1000.0) + ") AND (" + holds +
      (any_older ? " OR a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL" : "") + ")";
  PGconn* c = PQconnectdb(pg.conninfo().c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) out = describe_sessions(c, condition);
  PQfinish(c);
  return out;
}

void execute_batch(Connection& db, const std::vector<std::string>& sqls, size_t& failed) {
  dynamic_cast<PostgresConnection&>(db).execute_batch(sqls, failed);
}

std::vector<std::optional<DatabaseError>> query_each(Connection& db, const std::vector<std::string>& sqls,
                                                     const std::function<void(size_t, const Row&)>& on_row) {
  return dynamic_cast<PostgresConnection&>(db).query_each(sqls, on_row);
}

std::unique_ptr<Connection> open_postgres(const ConnectionTarget& target, const ConnectOptions& options) {
  return std::make_unique<PostgresConnection>(target, options);
}

}  // namespace cc::dialect
