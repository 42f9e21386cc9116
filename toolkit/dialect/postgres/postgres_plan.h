// The statements a PostgreSQL migration runs, rendered without a connection
// (golden-file tested; also what apply --dry-run prints).
#pragma once

#include <vector>

#include "dialect/migrator.h"

namespace cc::dialect {

std::vector<PlannedStatement> postgres_plan(const migrate::Migration& m, bool up, const MigratorOptions& options);
std::string postgres_create_unique_index(const migrate::ConstraintDef& def);

}  // namespace cc::dialect
