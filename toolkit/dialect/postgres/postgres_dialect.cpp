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
  std::string row_json(std::string_view alias, const std::vector<std::string>&) const override {
    return "to_jsonb(" + std::string(alias) + ".*)";
  }
  std::string json_get(std::string_view json, std::string_view key, std::string_view type) const override {
    return "CAST((" + std::string(json) + " ->> " + quote_string(key) + ") AS " + std::string(type) + ")";
  }
  std::string json_type() const override { return "jsonb"; }
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
