#include "scan/audited_table.h"

#include "core/error.h"
#include "core/text.h"

namespace cc::scan {
namespace {

using text::join;

}  // namespace

std::string AuditedTable::audit_values() const {
  return d->quote_string(name.name) + ", " + d->quote_string(name.schema);
}

std::string AuditedTable::audit_of(const std::string& audit) const {
  return audit + ".table_name = " + d->quote_string(name.name) + " AND " + audit +
         ".table_schema = " + d->quote_string(name.schema);
}

std::string AuditedTable::key_list(std::string_view alias) const {
  std::vector<std::string> k;
  for (const auto& c : key) k.push_back(d->column_ref(alias, c));
  return join(k, ", ");
}

std::string AuditedTable::key_json(std::string_view alias) const {
  return key.empty() || deletes_only ? d->json_object({}) : d->key_json(alias, key);
}

std::string AuditedTable::row_json(std::string_view alias) const { return d->row_json(alias, data, types); }

std::string AuditedTable::type_of(const std::string& col) const {
  if (d->is_row_id(col)) return "INTEGER";
  const auto* c = info.find_column(col);
  return c && !c->type.empty() ? c->type : "TEXT";
}

std::string AuditedTable::key_values(const std::string& audit) const {
  std::vector<std::string> v;
  for (const auto& c : key) v.push_back(d->json_get(audit + ".row_key", c, type_of(c)));
  return join(v, ", ");
}

std::string AuditedTable::key_match(const std::string& alias, const std::string& audit) const {
  std::vector<std::string> parts;
  for (const auto& c : key) {
    parts.push_back(d->column_ref(alias, c) + " = " + d->json_get(audit + ".row_key", c, type_of(c)));
  }
  return join(parts, " AND ");
}

std::string unnamable_rows(const dialect::Dialect& d, const dialect::TableInfo& info) {
  if (!info.primary_key.empty()) return "";
  if (!info.row_id.empty() && d.capabilities().row_id_survives_updates) return "";
  return "table '" + info.name.str() + "' has no primary key, and " + std::string(d.name()) + "'s row address (" +
         (info.row_id.empty() ? std::string("none") : info.row_id) +
         ") changes when a row is updated: the audit could not name the rows a fix changes, so undo could not find "
         "them. "
         "Its repairs are refused; add a primary key to repair it";
}

AuditedTable audited_table(dialect::Connection& db, const model::TableName& table, Keyless keyless) {
  AuditedTable t;
  t.d = &db.dialect();
  t.name = table;
  t.q = t.d->quote_table(table);
  t.info = db.inspect_table(table);
  if (keyless != Keyless::allowed && !t.info.exists) throw UsageError("table '" + table.str() + "' does not exist");
  t.key = t.info.primary_key;
  if (t.key.empty()) {
    const std::string why = unnamable_rows(*t.d, t.info);
    if (why.empty()) {
      t.key = {t.info.row_id};
    } else if (keyless == Keyless::deletes && !t.info.row_id.empty() && !t.info.row_id_repeats &&
               t.d->capabilities().delete_returning_in_with) {
      t.key = {t.info.row_id};
      t.deletes_only = true;
    } else if (keyless != Keyless::allowed) {
      throw UsageError(why);
    }
  }
  for (const auto& c : t.info.columns) {
    if (c.generated) continue;
    t.data.push_back(c.name);
    t.types.push_back(t.type_of(c.name));
  }
  return t;
}

}  // namespace cc::scan
