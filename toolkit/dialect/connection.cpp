#include "dialect/connection.h"

#include "core/error.h"
#include "model/expression.h"

namespace cc::dialect {

std::unique_ptr<Connection> open_connection(const ConnectionTarget& target, const ConnectOptions& options) {
  return target.kind == Kind::sqlite ? open_sqlite(target, options) : open_postgres(target, options);
}

void require_single_expression(std::string_view expr) {
  if (auto why = model::vet_expression(expr); !why.empty()) throw UsageError("expression " + why);
}

}  // namespace cc::dialect
