#include "dialect/dialect.h"
#include "dialect/quoting.h"

namespace cc::dialect {
namespace {

class PostgresDialect final : public Dialect {
 public:
  Kind kind() const override { return Kind::postgresql; }
  std::string_view name() const override { return "postgresql"; }
  std::string quote_ident(std::string_view name) const override { return detail::wrap_doubling(name, '"', '"', "identifier"); }
  std::string quote_string(std::string_view value) const override { return detail::wrap_doubling(value, '\'', '\'', "string"); }
  std::string count_if(std::string_view predicate) const override {
    return "count(*) FILTER (WHERE " + std::string(predicate) + ")";
  }
  std::string list_agg(std::string_view expr) const override {
    return "string_agg((" + std::string(expr) + ")::text, ',' ORDER BY " + std::string(expr) + ")";
  }
};

}  // namespace

const Dialect& postgresql_dialect() {
  static const PostgresDialect instance;
  return instance;
}

}  // namespace cc::dialect
