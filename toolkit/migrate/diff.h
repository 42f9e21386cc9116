// From schema/ to migrations: what the schema declares, and the operations
// that turn one state into another (what `generate` writes).
#pragma once

#include <vector>

#include "model/migration.h"
#include "model/schema.h"

namespace cc::migrate {

// What schema/ declares, as constraint definitions.
State declared_state(const model::Schema& schema);

// Operations turning `from` into `to`: drops first (reverse name order),
// then adds (schema order). A changed definition becomes drop + add.
std::vector<Operation> diff(const State& from, const State& to, const model::Schema& order);

}  // namespace cc::migrate
