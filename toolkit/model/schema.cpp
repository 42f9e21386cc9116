#include "model/schema.h"

namespace cc::model {

std::string SourceLocation::str() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  return out;
}

std::string TableName::str() const { return schema.empty() ? name : schema + "." + name; }

const Table* Schema::find_table(std::string_view shown) const {
  for (const auto& t : tables) {
    if (t.name.str() == shown) return &t;
  }
  return nullptr;
}

size_t Schema::constraint_count() const {
  size_t n = 0;
  for (const auto& t : tables) n += t.checks.size() + t.uniques.size();
  return n;
}

std::string_view to_string(RepairPolicy policy) {
  switch (policy) {
    case RepairPolicy::report: return "report";
    case RepairPolicy::clamp: return "clamp";
    case RepairPolicy::set_value: return "set";
    case RepairPolicy::set_expr: return "set_expr";
    case RepairPolicy::set_null: return "set_null";
    case RepairPolicy::set_default: return "set_default";
    case RepairPolicy::delete_row: return "delete";
    case RepairPolicy::delete_duplicates: return "delete_duplicates";
  }
  return "report";
}

}  // namespace cc::model
