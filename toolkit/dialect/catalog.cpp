#include "dialect/catalog.h"

#include "core/text.h"

namespace cc::dialect {

const ColumnInfo* TableInfo::find_column(std::string_view column) const {
  for (const auto& c : columns) {
    if (same_name(c.name, column)) return &c;
  }
  return nullptr;
}

const ExistingConstraint* TableInfo::find_constraint(std::string_view constraint) const {
  for (const auto& c : constraints) {
    if (same_name(c.name, constraint)) return &c;
  }
  return nullptr;
}

bool TableInfo::same_name(std::string_view a, std::string_view b) const {
  return names_ignore_case ? text::ascii_iequal(a, b) : a == b;
}

bool TableInfo::same_names(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same_name(a[i], b[i])) return false;
  }
  return true;
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
