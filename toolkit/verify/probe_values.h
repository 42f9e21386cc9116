// The values verify writes to prove a CHECK is enforced: chosen for the
// column's type (an enum's labels, dates, booleans, uuid, json, arrays,
// numbers, text) and from the condition itself (each number's neighbours,
// its string literals, strings one longer than a length bound), so that a
// probe breaks the rule without first breaking the type.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dialect/catalog.h"
#include "dialect/dialect.h"

namespace cc::verify {

// SQL literals (NULL last), without duplicates, at most `limit` of them.
std::vector<std::string> probe_values(const dialect::ColumnInfo& column, std::string_view condition,
                                      const dialect::Dialect& d, size_t limit = 64);

}  // namespace cc::verify
