// PostgreSQL SQL shared by the migrator's plan and its tests.
#pragma once

#include <vector>

#include "dialect/migrator.h"

namespace cc::dialect {

std::string postgres_create_unique_index(const migrate::ConstraintDef& def);

}  // namespace cc::dialect
