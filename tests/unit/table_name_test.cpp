// Schema-qualified table names: how they are declared, recorded in migrations,
// quoted per dialect (Dialect::quote_table) and shown to people.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dialect/postgres/postgres_plan.h"
#include "migrate/diff.h"
#include "model/migration.h"
#include "model/schema_loader.h"
#include "scan/scan_sql.h"
#include "support/test_support.h"

namespace cc {
namespace {

const char* kSales = R"(schema = "sales"
table = "orders"
[[check]]
name = "sales_orders_qty"
column = "qty"
min = 0
[[unique]]
name = "sales_orders_code_key"
columns = ["code"]
)";

std::string problems_of(const std::string& text) {
  try {
    model::parse_schema_text(text, "schema/t.toml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(TableName, ShownWithItsSchemaOnlyOutsideTheDefault) {
  EXPECT_EQ((model::TableName{"orders"}).str(), "orders");
  EXPECT_EQ((model::TableName{"orders", "sales"}).str(), "sales.orders");
  EXPECT_NE((model::TableName{"orders"}), (model::TableName{"orders", "sales"}));
}

TEST(TableName, QuotedQualifiedOnPostgresql) {
  const auto& pg = dialect::postgresql_dialect();
  EXPECT_EQ(pg.quote_table({"orders"}), "\"orders\"");
  EXPECT_EQ(pg.quote_table({"orders", "sales"}), "\"sales\".\"orders\"");
  EXPECT_EQ(pg.quote_table({"Order Lines", "Sales \"Dept\""}), "\"Sales \"\"Dept\"\"\".\"Order Lines\"");
  // A dotted name is one identifier, never split.
  EXPECT_EQ(pg.quote_table({"sales.orders"}), "\"sales.orders\"");
  EXPECT_EQ(pg.table_exists_sql({"orders", "sales"}),
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass('\"sales\".\"orders\"')");
}

TEST(TableName, SqliteHasNoSchemas) {
  const auto& lite = dialect::sqlite_dialect();
  EXPECT_EQ(lite.quote_table({"MixedCase"}), "\"MixedCase\"");
  try {
    lite.quote_table({"orders", "sales"});
    FAIL() << "a schema was accepted on SQLite";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("sales.orders"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no schemas"), std::string::npos) << e.what();
  }
  EXPECT_THROW(lite.table_exists_sql({"orders", "sales"}), UsageError);
}

TEST(TableName, NamesCompareAsTheDatabaseDoes) {
  EXPECT_TRUE(dialect::sqlite_dialect().same_name("MixedCase", "mixedcase"));
  EXPECT_FALSE(dialect::sqlite_dialect().same_name("Straße", "STRASSE"));  // ASCII only, as SQLite
  EXPECT_FALSE(dialect::postgresql_dialect().same_name("MixedCase", "mixedcase"));
  dialect::TableInfo info;
  dialect::ColumnInfo val;
  val.name = "Val";
  val.type = "INTEGER";
  info.columns.push_back(val);
  EXPECT_EQ(info.find_column("val"), nullptr);
  info.names_ignore_case = true;
  ASSERT_NE(info.find_column("val"), nullptr);
  EXPECT_EQ(info.find_column("val")->name, "Val");
}

TEST(TableName, SchemaKeyIsParsedAndTheSameTableNameMayLiveInTwoSchemas) {
  const auto s = model::parse_schema_text(kSales, "schema/sales_orders.toml");
  ASSERT_EQ(s.tables.size(), 1u);
  EXPECT_EQ(s.tables[0].name, (model::TableName{"orders", "sales"}));
  EXPECT_EQ(s.tables[0].schema_where.line, 1);
  EXPECT_EQ(s.find_table("sales.orders"), &s.tables[0]);
  EXPECT_EQ(s.find_table("orders"), nullptr);

  test::TempDir dir;
  test::write_file(dir / "orders.toml",
                   "table = \"orders\"\n[[check]]\nname = \"orders_qty\"\ncolumn = \"qty\"\nmin = 0\n");
  test::write_file(dir / "sales_orders.toml", kSales);
  const auto both = model::load_schema_dir(dir.path());
  ASSERT_EQ(both.tables.size(), 2u);
  EXPECT_EQ(both.find_table("orders")->checks[0].name, "orders_qty");
  EXPECT_EQ(both.find_table("sales.orders")->checks[0].name, "sales_orders_qty");

  test::write_file(dir / "again.toml", kSales);
  try {
    model::load_schema_dir(dir.path());
    FAIL() << "the same schema and table were accepted twice";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("table 'sales.orders' is declared again"), std::string::npos) << e.what();
  }
}

TEST(TableName, BadSchemaValuesAreSchemaErrors) {
  EXPECT_NE(problems_of("schema = 5\ntable = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n")
                .find("schema/t.toml:1:10: 'schema' must be a string, not an integer"),
            std::string::npos);
  EXPECT_NE(problems_of("schema = \"\"\ntable = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n")
                .find("schema name '' is empty"),
            std::string::npos);
}

TEST(TableName, MigrationsRecordTheSchemaAndOldFilesMeanTheDefault) {
  const auto s = model::parse_schema_text(kSales, "schema/sales_orders.toml");
  migrate::Migration m;
  m.version = 1;
  m.name = "initial";
  m.operations = migrate::diff({}, migrate::declared_state(s), s);
  ASSERT_EQ(m.operations.size(), 2u);
  EXPECT_EQ(m.operations[0].describe(), "add_check sales.orders.sales_orders_qty");
  const std::string text = migrate::render_migration(m);
  EXPECT_NE(text.find("table = \"orders\"\nschema = \"sales\"\n"), std::string::npos) << text;
  const auto back = migrate::parse_migration(text, "migrations/0001_initial.toml");
  ASSERT_EQ(back.operations.size(), 2u);
  EXPECT_EQ(back.operations[1].def.table, (model::TableName{"orders", "sales"}));
  EXPECT_TRUE(back.operations[1].def.same_definition(m.operations[1].def));

  // Written before schemas existed: no `schema` key, the default schema.
  const auto old = migrate::parse_migration(
      "version = 1\nname = \"initial\"\n[[operation]]\nop = \"add_check\"\nreverse = \"drop_check\"\ntable = "
      "\"orders\"\n"
      "name = \"orders_qty\"\ncheck = '\"qty\" >= 0'\n",
      "migrations/0001_initial.toml");
  ASSERT_EQ(old.operations.size(), 1u);
  EXPECT_EQ(old.operations[0].def.table, (model::TableName{"orders"}));
  EXPECT_EQ(migrate::render_migration(old).find("schema ="), std::string::npos);
}

// The SQL scan and apply run on a qualified table: every reference to the
// table qualified, nothing else.
TEST(TableName, QualifiedSqlGolden) {
  const auto s = model::parse_schema_text(kSales, "schema/sales_orders.toml");
  const auto& t = s.tables[0];
  const auto& pg = dialect::postgresql_dialect();
  std::string out = scan::check_count_query(t.name, {&t.checks[0]}, pg) + ";\n";
  out += scan::check_sample_query(t.name, t.checks[0], {"id"}, {"qty"}, 5, pg) + ";\n";
  out += scan::unique_query(t.name, t.uniques[0], {"id"}, 5, pg) + ";\n";
  const auto state = migrate::declared_state(s);
  out += dialect::postgres_create_unique_index(state.at("sales_orders_code_key")) + ";\n";
  test::expect_golden("scan/qualified.postgresql.sql", out);
}

}  // namespace
}  // namespace cc
