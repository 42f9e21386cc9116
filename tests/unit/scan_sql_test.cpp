// The exact SQL a scan runs, per dialect, as golden files under tests/golden/scan/.
#include <gtest/gtest.h>

#include "model/schema_loader.h"
#include "scan/scan_sql.h"
#include "support/test_support.h"

namespace cc::scan {
namespace {

std::string render_all(const dialect::Dialect& d) {
  model::Schema s = model::load_schema_dir(test::source_dir() / "schema");
  std::string out;
  for (const auto& t : s.tables) {
    std::vector<const model::Check*> checks;
    for (const auto& c : t.checks) checks.push_back(&c);
    out += "-- " + t.name + ": counts\n";
    if (!checks.empty()) out += check_count_query(t.name, checks, d) + ";\n";
    for (const auto& c : t.checks) {
      const std::vector<std::string> shown = c.structured() ? std::vector<std::string>{c.column} : std::vector<std::string>{};
      out += "-- " + c.name + ": samples\n" + check_sample_query(t.name, c, {"id"}, shown, 5, d) + ";\n";
    }
    for (const auto& u : t.uniques) out += "-- " + u.name + "\n" + unique_query(t.name, u, {"id"}, 5, d) + ";\n";
  }
  return out;
}

TEST(ScanSql, ReferenceDomainSqlite) { test::expect_golden("scan/sqlite.sql", render_all(dialect::sqlite_dialect())); }
TEST(ScanSql, ReferenceDomainPostgres) { test::expect_golden("scan/postgresql.sql", render_all(dialect::postgresql_dialect())); }

TEST(ScanSql, QuotesHostileNamesAndLiterals) {
  model::Schema s = model::parse_schema_text(
      "table = 'we\"ird; DROP TABLE canary; --'\n[[check]]\nname = 'c'\ncolumn = 'Order'\nin = [\"it's\", 5, 1.5]\n"
      "[[unique]]\nname = 'u'\ncolumns = ['a\"b', 'select']\nwhere = 'x > 0'\n",
      "t.toml");
  const auto& t = s.tables[0];
  const auto& d = dialect::postgresql_dialect();
  EXPECT_EQ(check_predicate(t.checks[0], d), "\"Order\" IN ('it''s', 5, 1.5)");
  EXPECT_EQ(check_count_query(t.name, {&t.checks[0]}, d),
            "SELECT count(*) FILTER (WHERE NOT (\"Order\" IN ('it''s', 5, 1.5)))\n"
            "FROM \"we\"\"ird; DROP TABLE canary; --\"\nWHERE NOT ((\"Order\" IN ('it''s', 5, 1.5)))");
  const std::string u = unique_query(t.name, t.uniques[0], {"k1", "k2"}, 0, dialect::sqlite_dialect());
  EXPECT_NE(u.find("WHERE \"a\"\"b\" IS NOT NULL AND \"select\" IS NOT NULL AND (x > 0)"), std::string::npos) << u;
  EXPECT_EQ(u.find("group_concat"), std::string::npos) << u;  // no sample: no key lists
  const std::string with_ids = unique_query(t.name, t.uniques[0], {"k1", "k2"}, 3, dialect::sqlite_dialect());
  EXPECT_NE(with_ids.find("group_concat(\"k1\" || '/' || \"k2\", ',')"), std::string::npos) << with_ids;
}

TEST(ScanSql, RowIdsStayBare) {
  model::Schema s = model::parse_schema_text("table = 't'\n[[check]]\nname = 'c'\nexpr = 'x > 0'\n", "t.toml");
  EXPECT_NE(check_sample_query("t", s.tables[0].checks[0], {"rowid"}, {"x"}, 3, dialect::sqlite_dialect()).find("SELECT rowid, \"x\""),
            std::string::npos);
  EXPECT_EQ(row_key_expr({"ctid"}, dialect::postgresql_dialect()), "ctid");
}

}  // namespace
}  // namespace cc::scan
