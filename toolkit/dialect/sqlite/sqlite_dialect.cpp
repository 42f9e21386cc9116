#include <sqlite3.h>

#include <algorithm>
#include <thread>

#include "dialect/dialect.h"
#include "dialect/quoting.h"

namespace cc::dialect {
namespace {

class SqliteDialect final : public Dialect {
 public:
  Kind kind() const override { return Kind::sqlite; }
  std::string_view name() const override { return "sqlite"; }
  std::string quote_ident(std::string_view name) const override { return detail::wrap_doubling(name, '"', '"', "identifier"); }
  std::string quote_string(std::string_view value) const override { return detail::wrap_doubling(value, '\'', '\'', "string"); }
  // NOT (p) is 1, 0 or NULL; sum() skips NULL. Cheaper than CASE in SQLite's VM.
  std::string count_if(std::string_view predicate) const override {
    return "coalesce(sum((" + std::string(predicate) + ") IS TRUE), 0)";
  }
  std::string list_agg(std::string_view expr) const override { return "group_concat(" + std::string(expr) + ", ',')"; }
  // JSON cannot hold a BLOB, and SQLite's JSON keeps 15 digits of a REAL
  // (and writes a bare Inf, which it cannot read back): they are kept as
  // {"cc:blob": "<hex>"} and {"cc:real": "<17 digits>" | "Infinity"} (a text
  // value is always a JSON string, so an object can only be one of these). constraintctl_unhex() is registered by
  // the connection.
  std::string row_json(std::string_view alias, const std::vector<std::string>& columns,
                       const std::vector<std::string>&) const override {
    std::string out = "json_object(";
    for (size_t i = 0; i < columns.size(); ++i) {
      out += (i ? ", " : "") + quote_string(columns[i]) + ", " +
             json_value(std::string(alias) + "." + quote_ident(columns[i]));
    }
    return out + ")";
  }
  // A key column is encoded as a row's value is: a BLOB key (a UUID, say)
  // or a REAL key survives the audit trail too.
  std::string json_value(std::string_view expr) const override {
    const std::string v(expr);
    return "CASE WHEN typeof(" + v + ") = 'blob' THEN json_object('cc:blob', hex(" + v + ")) WHEN typeof(" + v +
           ") = 'real' THEN json_object('cc:real', CASE WHEN abs(" + v +
           ") <= 1.7976931348623157e308 THEN printf('%!.17g', " + v + ") WHEN " + v +
           " > 0 THEN 'Infinity' ELSE '-Infinity' END) ELSE " + v + " END";
  }
  // The members as json_each gives them (JSON text for an encoded BLOB or
  // REAL), compared with IS: NULL and missing alike, no conversions.
  std::string json_member_same(std::string_view a, std::string_view b, std::string_view key) const override {
    // json_extract and json_each give a member the same SQL value (JSON
    // text for an object); the path is one lookup, json_each a scan of the
    // object per row. It cannot spell a key holding a double quote.
    if (key.find('"') == std::string_view::npos) {
      const std::string path = quote_string("$.\"" + std::string(key) + "\"");
      return "json_extract(" + std::string(a) + ", " + path + ") IS json_extract(" + std::string(b) + ", " + path + ")";
    }
    auto member = [&](std::string_view json) {
      return "(SELECT cc_e.value FROM json_each(" + std::string(json) +
             ") AS cc_e WHERE cc_e.key = " + quote_string(key) + ")";
    };
    return member(a) + " IS " + member(b);
  }
  std::string json_get(std::string_view json, std::string_view key, std::string_view) const override {
    auto decode = [](const std::string& value, const std::string& type) {
      return "CASE WHEN " + type + " = 'object' THEN coalesce(constraintctl_unhex(json_extract(" + value +
             ", '$.\"cc:blob\"')), CASE json_extract(" + value + ", '$.\"cc:real\"') WHEN 'Infinity' THEN 9e999 WHEN '-Infinity' THEN "
             "-9e999 ELSE CAST(json_extract(" + value + ", '$.\"cc:real\"') AS REAL) END) ELSE " + value + " END";
    };
    // A JSON path cannot spell a key holding a double quote: json_each finds it by equality.
    if (key.find('"') != std::string_view::npos) {
      return "(SELECT " + decode("cc_e.value", "cc_e.type") + " FROM json_each(" + std::string(json) + ") AS cc_e WHERE cc_e.key = " +
             quote_string(key) + ")";
    }
    const std::string j(json), path = quote_string("$.\"" + std::string(key) + "\"");
    return decode("json_extract(" + j + ", " + path + ")", "json_type(" + j + ", " + path + ")");
  }
  std::string json_type() const override { return "TEXT"; }

  const Capabilities& capabilities() const override {
    static const Capabilities caps = [] {
      Capabilities c;
      c.transactional_ddl = true;
      c.listed_keys = 1000;
      c.scan_jobs = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
      // 3.53.0 added ALTER TABLE ... ADD/DROP CONSTRAINT for CHECK.
      c.native_alter_check = sqlite3_libversion_number() >= 3053000;
      c.row_id = "rowid";
      c.row_id_survives_updates = true;
      c.names_ignore_case = true;
      return c;
    }();
    return caps;
  }
  std::string begin_write() const override { return "BEGIN IMMEDIATE"; }
  std::vector<std::string> begin_probes() const override { return {"BEGIN IMMEDIATE"}; }
  std::string now_text() const override { return "strftime('%Y-%m-%d %H:%M:%f', 'now')"; }
  // Foreign keys are enforced only on connections that turn them on, so
  // rows written by others may reference nothing.
  std::string dangling_keys_sql(const model::TableName& table) const override {
    if (table.name.empty()) return "SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check";
    return "SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check(" + quote_string(table.name) + ")";
  }
  std::string table_exists_sql(const model::TableName& table) const override {
    quote_table(table);  // refuses a schema
    // Table names match case-insensitively (ASCII), as SQLite resolves them.
    return "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = " + quote_string(table.name) +
           " COLLATE NOCASE";
  }
  std::string temp_table(std::string_view name) const override { return "temp." + quote_ident(name); }
  std::string lookup_index(std::string_view index, std::string_view table, std::string_view column) const override {
    return "CREATE INDEX " + quote_ident(index) + " ON " + quote_ident(table) + " (" + quote_ident(column) + ")";
  }
  std::string identity_primary_key() const override { return "id INTEGER PRIMARY KEY"; }
  std::string insert_keeping_identity() const override { return ""; }
  std::vector<std::string> enforce_foreign_keys() const override { return {"PRAGMA foreign_keys = ON"}; }
  std::string checks_disabled_sql() const override { return "PRAGMA ignore_check_constraints"; }
  std::string data_version_sql() const override { return "PRAGMA data_version"; }
  std::string json_object(const std::vector<std::pair<std::string, std::string>>& members) const override {
    std::string out = "json_object(";
    for (size_t i = 0; i < members.size(); ++i) out += (i ? ", " : "") + quote_string(members[i].first) + ", " + members[i].second;
    return out + ")";
  }
};

}  // namespace

const Dialect& sqlite_dialect() {
  static const SqliteDialect instance;
  return instance;
}

}  // namespace cc::dialect
