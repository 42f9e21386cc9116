// The PostgreSQL driver: SOCI's postgresql back end plus the PGconn for what
// SOCI does not expose (PQprepare as a parse-only validator, error fields).
#include <soci/postgresql/soci-postgresql.h>

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/secrets.h"
#include "dialect/soci_connection.h"
#include "dialect/sql_text.h"

namespace cc::dialect {
namespace {

// Catalog queries. %s is the table as a regclass literal ('"Name"'); names are
// resolved through the search_path exactly as the user's own SQL would.
constexpr const char* kColumns =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '' "
    "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
// Foreign keys of every table that point at this one.
constexpr const char* kReferrers =
    "SELECT t.relname, "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum), c.confdeltype = 'c' "
    "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f' AND c.confrelid = %s::regclass "
    "ORDER BY t.relname, c.conname";
constexpr const char* kConstraints =
    "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid, true), c.convalidated, "
    "coalesce(ix.indisvalid AND ix.indisready, true), "
    "(SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) "
    "FROM pg_constraint c LEFT JOIN pg_index ix ON ix.indexrelid = c.conindid AND c.contype IN ('u', 'p') "
    "WHERE c.conrelid = %s::regclass AND c.contype IN ('c', 'u', 'p', 'f') ORDER BY c.conname";
// Unique indexes that back no constraint (CREATE UNIQUE INDEX, partial ones included).
constexpr const char* kUniqueIndexes =
    "SELECT i.relname, pg_get_indexdef(ix.indexrelid), ix.indisvalid AND ix.indisready, "
    "(SELECT string_agg(coalesce(a.attname, '(expression)'), chr(31) ORDER BY k.ord) FROM unnest(ix.indkey::int2[]) "
    " WITH ORDINALITY k(attnum, ord) LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum) "
    "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
    "WHERE ix.indrelid = %s::regclass AND ix.indisunique "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) ORDER BY i.relname";

// SQLSTATE -> kind: the one place PostgreSQL's codes are read.
DbErrorKind kind_of(std::string_view sqlstate) {
  static const std::pair<std::string_view, DbErrorKind> exact[] = {
      {"23514", DbErrorKind::check_violation},  {"23505", DbErrorKind::unique_violation},
      {"23502", DbErrorKind::not_null_violation}, {"23503", DbErrorKind::foreign_key_violation},
      {"55P03", DbErrorKind::lock_timeout},     {"57014", DbErrorKind::statement_timeout},
      {"40P01", DbErrorKind::deadlock},         {"40001", DbErrorKind::serialization},
      {"53100", DbErrorKind::storage_full},     {"25006", DbErrorKind::read_only},
      {"42501", DbErrorKind::permission_denied}, {"42601", DbErrorKind::syntax},
      {"42P01", DbErrorKind::undefined_object}, {"42703", DbErrorKind::undefined_object},
      {"42883", DbErrorKind::undefined_object}, {"42704", DbErrorKind::undefined_object},
      {"57P01", DbErrorKind::connection},       {"57P02", DbErrorKind::connection},
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
  return out;
}

class PostgresConnection final : public SociConnection {
 public:
  PostgresConnection(const ConnectionTarget& target, const ConnectOptions& options) {
    try {
      session_.open(soci::postgresql, keyword_conninfo(target.conninfo));
    } catch (const std::exception& e) {
      raise(e);
    }
    conn_ = static_cast<soci::postgresql_session_backend*>(session_.get_backend())->conn_;
    // Literals are quoted the standard way; make sure the server reads them so.
    execute("SET standard_conforming_strings = on");
    execute("SET client_min_messages = warning");
    execute("SET application_name = 'constraintctl'");
    if (options.statement_timeout_ms > 0) execute("SET statement_timeout = " + std::to_string(options.statement_timeout_ms));
    if (options.read_only) execute("SET default_transaction_read_only = on");
  }

  const Dialect& dialect() const override { return postgresql_dialect(); }

  std::string server_version() override {
    std::string v;
    query("SHOW server_version", [&](const Row& r) { v = value_text(r[0]); });
    return v;
  }

  void allow_schema_edits(bool) override {}

  // Statements that return no rows to read go straight to libpq: one round
  // trip (no prepare and DEALLOCATE), and the error's fields (SQLSTATE,
  // constraint, table) stay readable. PQexecParams refuses a second command.
  void execute(std::string_view sql) override { run(sql); }
  std::int64_t execute_count(std::string_view sql) override { return run(sql); }

  void begin_read_snapshot() override { execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }

  TableInfo inspect_table(std::string_view table) override {
    TableInfo info;
    info.name = std::string(table);
    const std::string lit = dialect().quote_string(dialect().quote_ident(table));
    query("SELECT to_regclass(" + lit + ") IS NOT NULL", [&](const Row& r) { info.exists = truthy(r[0]); });
    if (!info.exists) return info;
    query(detail::substitute(kColumns, lit), [&](const Row& r) {
      ColumnInfo c;
      c.name = value_text(r[0]);
      c.type = value_text(r[1]);
      c.not_null = truthy(r[2]);
      c.generated = truthy(r[4]);
      if (!std::holds_alternative<std::monostate>(r[3]) && !c.generated) c.default_sql = value_text(r[3]);
      info.columns.push_back(std::move(c));
    });
    query(detail::substitute(kConstraints, lit), [&](const Row& r) {
      ExistingConstraint c;
      c.name = value_text(r[0]);
      const std::string type = value_text(r[1]);
      c.kind = type == "c"   ? ExistingConstraint::Kind::check
               : type == "u" ? ExistingConstraint::Kind::unique
               : type == "p" ? ExistingConstraint::Kind::primary_key
                             : ExistingConstraint::Kind::foreign_key;
      c.definition = value_text(r[2]);
      c.valid = truthy(r[3]) && truthy(r[4]);
      if (!std::holds_alternative<std::monostate>(r[5])) c.columns = detail::split_unit(value_text(r[5]));
      if (c.kind == ExistingConstraint::Kind::primary_key) info.primary_key = c.columns;
      info.constraints.push_back(std::move(c));
    });
    query(detail::substitute(kUniqueIndexes, lit), [&](const Row& r) {
      ExistingConstraint c;
      c.kind = ExistingConstraint::Kind::unique_index;
      c.name = value_text(r[0]);
      c.definition = value_text(r[1]);
      c.valid = truthy(r[2]);
      c.columns = detail::split_unit(value_text(r[3]));
      info.constraints.push_back(std::move(c));
    });
    query(detail::substitute(kReferrers, lit), [&](const Row& r) {
      Referrer ref;
      ref.table = value_text(r[0]);
      ref.columns = detail::split_unit(value_text(r[1]));
      ref.parent_columns = detail::split_unit(value_text(r[2]));
      ref.cascade = truthy(r[3]);
      info.referrers.push_back(std::move(ref));
    });
    if (info.primary_key.empty()) info.row_id = "ctid";
    return info;
  }

  // PQprepare parses and plans without executing, and refuses more than one
  // command: the database's own parser vets the expression.
  void validate_expression(std::string_view table, std::string_view expr) override {
    require_single_expression(expr);
    const std::string sql = "SELECT 1 FROM " + dialect().quote_ident(table) + " WHERE NOT (" + std::string(expr) + ")";
    PGresult* res = PQprepare(conn_, "", sql.c_str(), 0, nullptr);
    const bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    std::string message, sqlstate;
    if (!ok) {
      message = res ? trim(PQresultErrorMessage(res)) : trim(PQerrorMessage(conn_));
      if (const char* s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr) sqlstate = s;
      if (const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr) message = primary;
    }
    PQclear(res);
    if (!ok) {
      DbErrorDetail detail;
      detail.code = sqlstate;
      detail.sql = sql;
      throw DatabaseError(secrets::scrub(message), kind_of(sqlstate), std::move(detail));
    }
  }

 protected:
  [[noreturn]] void raise(const std::exception& e) const override {
    std::string sqlstate;
    if (auto* pe = dynamic_cast<const soci::postgresql_soci_error*>(&e)) sqlstate = pe->sqlstate();
    std::string message = trim(secrets::scrub(e.what()));
    // SOCI prefixes libpq's text with its own words; keep the database's.
    for (const char* prefix : {"Cannot execute query. Fatal error. ", "Cannot execute query. ", "ERROR:  ", "ERROR: "}) {
      if (message.rfind(prefix, 0) == 0) message.erase(0, std::strlen(prefix));
    }
    DbErrorDetail detail;
    detail.code = sqlstate;
    throw DatabaseError(message, sqlstate.empty() ? DbErrorKind::connection : kind_of(sqlstate), std::move(detail));
  }

 private:
  std::int64_t run(std::string_view sql) {
    const std::string text(sql);
    PGresult* res = PQexecParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
    const ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      const char* n = PQcmdTuples(res);
      const std::int64_t count = n && *n ? std::atoll(n) : 0;
      PQclear(res);
      return count;
    }
    auto field = [&](int code) -> std::string {
      const char* v = res ? PQresultErrorField(res, code) : nullptr;
      return v ? v : "";
    };
    DbErrorDetail detail;
    detail.code = field(PG_DIAG_SQLSTATE);
    detail.constraint = field(PG_DIAG_CONSTRAINT_NAME);
    detail.table = field(PG_DIAG_TABLE_NAME);
    detail.sql = secrets::scrub(text);
    std::string message = field(PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty()) message = trim(PQerrorMessage(conn_));
    if (const std::string more = field(PG_DIAG_MESSAGE_DETAIL); !more.empty()) message += " (" + more + ")";
    PQclear(res);
    const DbErrorKind kind = detail.code.empty() ? DbErrorKind::connection : kind_of(detail.code);
    throw DatabaseError(secrets::scrub(message), kind, std::move(detail));
  }

  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Connection> open_postgres(const ConnectionTarget& target, const ConnectOptions& options) {
  return std::make_unique<PostgresConnection>(target, options);
}

}  // namespace cc::dialect
