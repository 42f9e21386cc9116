#include "dialect/connection.h"

namespace cc::dialect {

std::unique_ptr<Connection> open_connection(const ConnectionTarget& target, const ConnectOptions& options) {
  return target.kind == Kind::sqlite ? open_sqlite(target, options) : open_postgres(target, options);
}

}  // namespace cc::dialect
