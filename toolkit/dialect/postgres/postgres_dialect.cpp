#include "dialect/dialect.h"
#include "dialect/quoting.h"

namespace cc::dialect {
namespace {

bool scalar_type(std::string_view type) {
  static const std::string_view exact[] = {"smallint",         "integer", "bigint", "text",    "boolean", "real",
                                           "double precision", "uuid",    "date",   "INTEGER", "TEXT"};
  static const std::string_view prefixes[] = {"numeric", "character", "timestamp", "time "};
  for (auto e : exact) {
    if (type == e) return true;
  }
  for (auto p : prefixes) {
    if (type.substr(0, p.size()) == p && type.find('[') == std::string_view::npos) return true;
  }
  return false;
}

class PostgresDialect final : public Dialect {
 public:
  Kind kind() const override { return Kind::postgresql; }
  std::string_view name() const override { return "postgresql"; }
  std::string quote_ident(std::string_view name) const override { return detail::wrap_doubling(name, '"', '"', "identifier"); }
  std::string quote_string(std::string_view value) const override { return detail::wrap_doubling(value, '\'', '\'', "string"); }
  std::string count_if(std::string_view predicate) const override {
    return "count(*) FILTER (WHERE " + std::string(predicate) + ")";
  }
  // A json (not jsonb) value is kept as its text, verbatim: to_jsonb would
  // parse it, dropping duplicate keys and spacing.
  std::string row_json(std::string_view alias, const std::vector<std::string>& columns,
                       const std::vector<std::string>& types) const override {
    std::string out = "to_jsonb(" + std::string(alias) + ".*)";
    for (size_t i = 0; i < columns.size() && i < types.size(); ++i) {
      if (types[i] != "json") continue;
      out += " || jsonb_build_object(" + quote_string(columns[i]) + ", (" + std::string(alias) + "." +
             quote_ident(columns[i]) + ")::text)";
    }
    return out;
  }
  // to_jsonb turns arrays into JSON arrays, json into JSON, composites into
  // objects: only jsonb_to_record reads those back exactly. Plain scalar
  // types take the cheaper cast of their text (key matches use it per row).
  std::string json_get(std::string_view json, std::string_view key, std::string_view type) const override {
    if (scalar_type(type) || type == "json")  // json: its text (an older image: the value's JSON, as text)
      return "CAST((" + std::string(json) + " ->> " + quote_string(key) + ") AS " + std::string(type) + ")";
    return "(SELECT cc_v FROM jsonb_to_record(jsonb_build_object('cc_v', (" + std::string(json) + ") -> " +
           quote_string(key) + ")) AS cc_r(cc_v " + std::string(type) + "))";
  }
  std::string json_type() const override { return "jsonb"; }
  std::string json_member_same(std::string_view a, std::string_view b, std::string_view key) const override {
    return "((" + std::string(a) + ") -> " + quote_string(key) + ") IS NOT DISTINCT FROM ((" + std::string(b) +
           ") -> " + quote_string(key) + ")";
  }
  std::string list_agg(std::string_view expr) const override {
    return "string_agg((" + std::string(expr) + ")::text, ',' ORDER BY " + std::string(expr) + ")";
  }

  const Capabilities& capabilities() const override {
    static const Capabilities caps = [] {
      Capabilities c;
      c.transactional_ddl = true;
      c.add_not_valid = true;
      c.concurrent_index_build = true;
      c.advisory_lock = true;
      c.native_alter_check = true;
      c.deferrable_constraints = true;
      c.insert_probe_leaves_trace = true;
      c.row_id = "ctid";
      c.delete_returning_in_with = true;
      c.schemas = true;
      return c;
    }();
    return caps;
  }
  std::string begin_write() const override { return "BEGIN"; }
  std::vector<std::string> begin_probes() const override { return {"BEGIN", "SET CONSTRAINTS ALL IMMEDIATE"}; }
  std::string now_text() const override { return "CAST(clock_timestamp() AS text)"; }
  std::string table_exists_sql(const model::TableName& table) const override {
    return "SELECT count(*) FROM pg_class WHERE oid = to_regclass(" + quote_string(quote_table(table)) + ")";
  }
  std::string has_privilege_sql(const model::TableName& table, std::string_view privilege) const override {
    return "SELECT CASE WHEN has_table_privilege(to_regclass(" + quote_string(quote_table(table)) + "), " +
           quote_string(std::string(privilege)) + ") THEN 1 ELSE 0 END";
  }
  std::string temp_table(std::string_view name) const override { return "pg_temp." + quote_ident(name); }
  std::string lookup_index(std::string_view index, std::string_view table, std::string_view column) const override {
    return "CREATE INDEX " + quote_ident(index) + " ON " + quote_ident(table) + " USING hash (" + quote_ident(column) +
           ")";
  }
  // `id = ANY (ARRAY(subquery))`: the array is one value computed before the
  // scan, which the planner can only look up by index; given `IN (subquery)`
  // and an analyzed temp table of 50 000 keys it read all 10M rows of the
  // table into a hash join instead.
  // Not for an array-typed key: ARRAY() of arrays is one array of a
  // dimension more, which `=` cannot compare with the key.
  std::string key_in(std::string_view columns, const std::vector<std::string>& types,
                     std::string_view subquery) const override {
    if (types.size() != 1 || types[0].empty() || types[0].back() == ']')
      return Dialect::key_in(columns, types, subquery);
    return std::string(columns) + " = ANY (ARRAY(" + std::string(subquery) + "))";
  }
  std::string identity_primary_key() const override { return "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"; }
  std::string insert_keeping_identity() const override { return " OVERRIDING SYSTEM VALUE"; }
  std::vector<std::string> enforce_foreign_keys() const override { return {}; }
  std::vector<std::string> immediate_constraints() const override { return {"SET CONSTRAINTS ALL IMMEDIATE"}; }
  std::string checks_disabled_sql() const override { return ""; }
  // READ COMMITTED: a row another session commits meanwhile is read in its
  // newest version (after waiting for it), and stays as read until commit.
  std::string lock_rows(std::string_view alias) const override { return " FOR UPDATE OF " + std::string(alias); }
  std::string json_object(const std::vector<std::pair<std::string, std::string>>& members) const override {
    std::string out = "jsonb_build_object(";
    for (size_t i = 0; i < members.size(); ++i) out += (i ? ", " : "") + quote_string(members[i].first) + ", " + members[i].second;
    return out + ")";
  }
};

}  // namespace

const Dialect& postgresql_dialect() {
  static const PostgresDialect instance;
  return instance;
}

}  // namespace cc::dialect
