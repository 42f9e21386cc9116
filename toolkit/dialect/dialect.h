// How SQL is written for one database: identifier and literal quoting and the
// few expression forms that differ. Pure rendering, no connection, so that the
// SQL constraintctl runs can be unit-tested as golden files.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/schema.h"

namespace cc::dialect {

enum class Kind { sqlite, postgresql };

class Dialect {
 public:
  virtual ~Dialect() = default;

  virtual Kind kind() const = 0;
  virtual std::string_view name() const = 0;  // "sqlite" | "postgresql"

  // The one function that quotes identifiers for this dialect. Always quotes;
  // throws cc::UsageError for names the database cannot hold (NUL).
  virtual std::string quote_ident(std::string_view name) const = 0;

  // A string literal. Both dialects use standard SQL quoting ('' doubling);
  // PostgreSQL connections force standard_conforming_strings on.
  virtual std::string quote_string(std::string_view value) const = 0;

  // An aggregate counting the rows for which `predicate` is TRUE.
  virtual std::string count_if(std::string_view predicate) const = 0;

  // An aggregate joining `expr` values (as text) with ',' in ascending order.
  virtual std::string list_agg(std::string_view expr) const = 0;

  // JSON for the audit trail. row_json: the row `alias` as a JSON object of
  // `columns` (values keep their types); json_get: the value of `key` in the
  // JSON `json`, as SQL type `type`; json_type: the column type that holds it.
  virtual std::string row_json(std::string_view alias, const std::vector<std::string>& columns) const = 0;
  virtual std::string json_get(std::string_view json, std::string_view key, std::string_view type) const = 0;
  virtual std::string json_type() const = 0;

  // A literal from the schema, rendered for this dialect.
  std::string literal(const model::Literal& value) const;
};

const Dialect& sqlite_dialect();
const Dialect& postgresql_dialect();
const Dialect& dialect_for(Kind kind);

}  // namespace cc::dialect
