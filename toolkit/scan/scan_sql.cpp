#include "scan/scan_sql.h"

#include "core/text.h"

namespace cc::scan {
namespace {

using text::join;

// Key columns are names, except the dialects' row ids, which must stay bare.
std::string key_column(const std::string& name, const dialect::Dialect& d) {
  return d.column_ref("", name);
}

std::vector<std::string> quoted(const std::vector<std::string>& names, const dialect::Dialect& d) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(d.quote_ident(n));
  return out;
}

}  // namespace

std::string check_predicate(const model::Check& c, const dialect::Dialect& d) {
  if (!c.structured()) return "(" + c.expr + ")";
  const std::string col = d.quote_ident(c.column);
  std::vector<std::string> parts;
  if (c.not_null) parts.push_back(col + " IS NOT NULL");
  if (c.min && c.max) {
    parts.push_back(col + " BETWEEN " + d.literal(*c.min) + " AND " + d.literal(*c.max));
  } else if (c.min) {
    parts.push_back(col + " >= " + d.literal(*c.min));
  } else if (c.max) {
    parts.push_back(col + " <= " + d.literal(*c.max));
  }
  if (!c.allowed.empty()) {
    std::vector<std::string> values;
    for (const auto& v : c.allowed) values.push_back(d.literal(v));
    parts.push_back(col + " IN (" + join(values, ", ") + ")");
  }
  return join(parts, " AND ");
}

std::string check_count_query(const model::TableName& table, const std::vector<const model::Check*>& checks,
                              const dialect::Dialect& d, const std::string& range) {
  std::vector<std::string> counts, all;
  for (const auto* c : checks) {
    const std::string p = check_predicate(*c, d);
    counts.push_back(d.count_if("NOT (" + p + ")"));
    all.push_back("(" + p + ")");
  }
  return "SELECT " + join(counts, ",\n       ") + "\nFROM " + d.quote_table(table) + "\nWHERE " +
         (range.empty() ? "" : range + "\n  AND ") + "NOT (" + join(all, "\n   AND ") + ")";
}

std::string check_rows_query(const model::TableName& table, const std::vector<const model::Check*>& checks,
                             const std::vector<std::string>& key, const dialect::Dialect& d, const std::string& range) {
  std::vector<std::string> cols, all;
  for (const auto& k : key) cols.push_back(key_column(k, d));
  for (const auto* c : checks) {
    const std::string p = check_predicate(*c, d);
    cols.push_back("CASE WHEN NOT (" + p + ") THEN 1 ELSE 0 END");
    all.push_back("(" + p + ")");
  }
  return "SELECT " + join(cols, ",\n       ") + "\nFROM " + d.quote_table(table) + "\nWHERE " +
         (range.empty() ? "" : range + "\n  AND ") + "NOT (" + join(all, "\n   AND ") + ")";
}

std::string row_key_expr(const std::vector<std::string>& key, const dialect::Dialect& d) {
  if (key.size() == 1) return key_column(key[0], d);
  std::vector<std::string> cols;
  for (const auto& k : key) cols.push_back(key_column(k, d));
  return join(cols, " || '/' || ");
}

std::string check_sample_query(const model::TableName& table, const model::Check& check,
                               const std::vector<std::string>& key, const std::vector<std::string>& shown, int limit,
                               const dialect::Dialect& d) {
  std::vector<std::string> cols;
  for (const auto& k : key) cols.push_back(key_column(k, d));
  const std::string order = join(cols, ", ");
  for (const auto& s : shown) cols.push_back(d.quote_ident(s));
  return "SELECT " + join(cols, ", ") + "\nFROM " + d.quote_table(table) + "\nWHERE NOT (" + check_predicate(check, d) +
         ")\nORDER BY " + order + "\nLIMIT " + std::to_string(limit);
}

std::string unique_query(const model::TableName& table, const model::Unique& u, const std::vector<std::string>& key,
                         int limit, const dialect::Dialect& d) {
  const auto cols = quoted(u.columns, d);
  const std::string col_list = join(cols, ", ");
  std::vector<std::string> filters;
  for (const auto& c : cols) filters.push_back(c + " IS NOT NULL");
  if (!u.where_expr.empty()) filters.push_back("(" + u.where_expr + ")");
  const std::string scope = join(filters, " AND ");
  std::string sql =
      "WITH dup AS MATERIALIZED (\n  SELECT " + col_list + ", count(*) AS n\n  FROM " + d.quote_table(table) +
      "\n  WHERE " + scope + "\n  GROUP BY " + col_list + "\n  HAVING count(*) > 1),\n" +
      "summary AS (SELECT count(*) AS groups, CAST(coalesce(sum(n - 1), 0) AS bigint) AS surplus FROM dup)";
  if (limit <= 0) return sql + "\nSELECT groups, surplus, NULL, NULL FROM summary";
  // Row keys only for the sampled groups: aggregating them for every group
  // cost as much as the grouping itself.
  std::vector<std::string> join_on;
  for (const auto& c : cols) join_on.push_back("cc_ids." + c + " = cc_sample." + c);
  std::vector<std::string> sample_cols;
  for (const auto& c : cols) sample_cols.push_back("cc_sample." + c);
  sql += ",\ncc_sample AS MATERIALIZED (SELECT " + col_list + ", n FROM dup ORDER BY " + col_list + " LIMIT " +
         std::to_string(limit) + "),\ncc_ids AS (SELECT " + col_list + ", " + d.list_agg(row_key_expr(key, d)) +
         " AS ids FROM " + d.quote_table(table) + " WHERE " + scope + " AND (" + col_list + ") IN (SELECT " + col_list +
         " FROM cc_sample) GROUP BY " + col_list + ")\n" +
         "SELECT summary.groups, summary.surplus, cc_sample.n, cc_ids.ids, " + join(sample_cols, ", ") +
         "\nFROM summary LEFT JOIN cc_sample ON true LEFT JOIN cc_ids ON " + join(join_on, " AND ") + "\nORDER BY " +
         join(sample_cols, ", ");
  return sql;
}

std::string unique_groups_query(const model::TableName& table, const model::Unique& u, const dialect::Dialect& d) {
  const auto cols = quoted(u.columns, d);
  const std::string col_list = join(cols, ", ");
  std::vector<std::string> filters;
  for (const auto& c : cols) filters.push_back(c + " IS NOT NULL");
  if (!u.where_expr.empty()) filters.push_back("(" + u.where_expr + ")");
  return "SELECT " + col_list + ", count(*) AS n\nFROM " + d.quote_table(table) + "\nWHERE " + join(filters, " AND ") +
         "\nGROUP BY " + col_list + "\nHAVING count(*) > 1";
}

}  // namespace cc::scan
