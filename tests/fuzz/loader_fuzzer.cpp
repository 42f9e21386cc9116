// libFuzzer target for everything constraintctl reads from files before it
// connects: schema/*.toml, migrations/*.toml and the SQL expressions inside
// them. Any input must end in a value or a cc::Error, never a crash, hang
// or sanitizer report. Built and run by scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/sql_lexer.h"
#include "dialect/sqlite/create_table.h"
#include "model/migration.h"
#include "model/expression.h"
#include "model/schema_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    cc::model::parse_schema_text(text, "fuzz.toml");
  } catch (const cc::Error&) {
  }
  try {
    auto m = cc::migrate::parse_migration(text, "0001_fuzz.toml");
    (void)cc::migrate::render_migration(m);
  } catch (const cc::Error&) {
  }
  (void)cc::model::vet_expression(text);
  (void)cc::model::expression_identifiers(text);
  try {
    (void)cc::dialect::sqlite::parse_create_table(text);
  } catch (const cc::Error&) {
  }
  return 0;
}
