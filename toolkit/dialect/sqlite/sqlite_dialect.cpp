#include "dialect/dialect.h"
#include "dialect/quoting.h"

namespace cc::dialect {
namespace {

class SqliteDialect final : public Dialect {
 public:
  Kind kind() const override { return Kind::sqlite; }
  std::string_view name() const override { return "sqlite"; }
  std::string quote_ident(std::string_view name) const override { return detail::wrap_doubling(name, '"', '"', "identifier"); }
  std::string quote_string(std::string_view value) const override { return detail::wrap_doubling(value, '\'', '\'', "string"); }
  // NOT (p) is 1, 0 or NULL; sum() skips NULL. Cheaper than CASE in SQLite's VM.
  std::string count_if(std::string_view predicate) const override {
    return "coalesce(sum((" + std::string(predicate) + ") IS TRUE), 0)";
  }
  std::string list_agg(std::string_view expr) const override { return "group_concat(" + std::string(expr) + ", ',')"; }
};

}  // namespace

const Dialect& sqlite_dialect() {
  static const SqliteDialect instance;
  return instance;
}

}  // namespace cc::dialect
