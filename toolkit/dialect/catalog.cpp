#include "dialect/catalog.h"

namespace cc::dialect {

const ColumnInfo* TableInfo::find_column(std::string_view column) const {
  for (const auto& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

const ExistingConstraint* TableInfo::find_constraint(std::string_view constraint) const {
  for (const auto& c : constraints) {
    if (c.name == constraint) return &c;
  }
  return nullptr;
}

std::string_view to_string(ExistingConstraint::Kind kind) {
  switch (kind) {
    case ExistingConstraint::Kind::check: return "check";
    case ExistingConstraint::Kind::unique: return "unique";
    case ExistingConstraint::Kind::primary_key: return "primary_key";
    case ExistingConstraint::Kind::foreign_key: return "foreign_key";
    case ExistingConstraint::Kind::unique_index: return "unique_index";
  }
  return "check";
}

}  // namespace cc::dialect
