// The SQLite driver against real files: opening rules, catalog inspection,
// and the database parser as expression validator.
#include <gtest/gtest.h>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::dialect {
namespace {

TEST(SqliteDriver, MissingFileIsAnErrorAndIsNotCreated) {
  test::TempDir dir;
  const auto path = dir / "nope.db";
  EXPECT_THROW(test::connect("sqlite:" + path.string()), DatabaseError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqliteDriver, NonDatabaseFileIsLeftByteIdentical) {
  test::TempDir dir;
  const auto path = dir / "notes.txt";
  const std::string text = "not a database, just some notes\n";
  test::write_file(path, text);
  try {
    test::connect("sqlite:" + path.string());
    FAIL();
  } catch (const DatabaseError& e) {
    EXPECT_NE(std::string(e.what()).find("is not an SQLite database"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::read_file(path), text);
}

class SqliteCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "c.db";
    test::shell("sqlite3 " + path_.string() +
                " 'CREATE TABLE p (id INTEGER PRIMARY KEY); "
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, p_id INT REFERENCES p(id) ON DELETE CASCADE, "
                "x INT NOT NULL DEFAULT 3 CONSTRAINT t_x_pos CHECK (x > 0), \"Mixed\" TEXT CHECK (length(\"Mixed\") < 5), "
                "CONSTRAINT t_pair UNIQUE (x, \"Mixed\")); "
                "CREATE UNIQUE INDEX t_partial ON t (p_id) WHERE x > 1; CREATE INDEX t_plain ON t (x DESC); "
                "CREATE TABLE nokey (a INT, b INT);'");
  }
  test::TempDir dir_;
  std::filesystem::path path_;
};

TEST_F(SqliteCatalog, InspectsColumnsKeysAndConstraints) {
  auto db = test::connect("sqlite:" + path_.string(), true);
  TableInfo t = db->inspect_table({"t"});
  ASSERT_TRUE(t.exists);
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_EQ(t.columns[2].name, "x");
  EXPECT_TRUE(t.columns[2].not_null);
  EXPECT_EQ(t.columns[2].default_sql, "3");
  EXPECT_EQ(t.primary_key, std::vector<std::string>{"id"});
  ASSERT_NE(t.find_constraint("t_x_pos"), nullptr);
  EXPECT_EQ(t.find_constraint("t_x_pos")->definition, "x > 0");
  ASSERT_NE(t.find_constraint("t_pair"), nullptr);
  EXPECT_EQ(t.find_constraint("t_pair")->columns, (std::vector<std::string>{"x", "Mixed"}));
  ASSERT_NE(t.find_constraint("t_partial"), nullptr);
  EXPECT_EQ(t.find_constraint("t_partial")->kind, ExistingConstraint::Kind::unique_index);
  EXPECT_EQ(t.find_constraint("t_plain"), nullptr);  // not unique
  int unnamed_checks = 0, fks = 0;
  for (const auto& c : t.constraints) {
    if (c.kind == ExistingConstraint::Kind::check && c.name.empty()) ++unnamed_checks;
    if (c.kind == ExistingConstraint::Kind::foreign_key) ++fks;
  }
  EXPECT_EQ(unnamed_checks, 1);
  EXPECT_EQ(fks, 1);

  TableInfo nokey = db->inspect_table({"nokey"});
  EXPECT_TRUE(nokey.primary_key.empty());
  EXPECT_EQ(nokey.row_id, "rowid");
  EXPECT_FALSE(db->inspect_table({"absent"}).exists);
}

// The table texts come from sqlite_schema read once and cached: a change on
// another connection (schema_version) and a writable_schema edit on this one
// before any bump (drop-checks, the no-rebuild add) are both seen at once.
TEST_F(SqliteCatalog, TableTextFollowsDdlAndSchemaEdits) {
  auto db = test::connect("sqlite:" + path_.string());
  ASSERT_NE(db->inspect_table({"t"}).find_constraint("t_x_pos"), nullptr);
  ASSERT_FALSE(db->inspect_table({"later"}).exists);
  test::connect("sqlite:" + path_.string())->execute("CREATE TABLE later (a INT CONSTRAINT later_a CHECK (a > 1))");
  const TableInfo later = db->inspect_table({"LATER"});
  ASSERT_TRUE(later.exists);
  ASSERT_NE(later.find_constraint("later_a"), nullptr);
  EXPECT_EQ(later.find_constraint("later_a")->definition, "a > 1");

  db->execute("BEGIN IMMEDIATE");
  db->allow_schema_edits(true);
  db->execute("PRAGMA writable_schema = ON");
  db->execute("UPDATE sqlite_schema SET sql = 'CREATE TABLE later (a INT)' WHERE name = 'later'");
  db->execute("PRAGMA writable_schema = OFF");
  EXPECT_EQ(db->inspect_table({"later"}).find_constraint("later_a"), nullptr) << "the edited text, before the bump";
  db->rollback();
  db->allow_schema_edits(false);
  EXPECT_NE(db->inspect_table({"later"}).find_constraint("later_a"), nullptr) << "rolled back";
  // The index text of a unique index comes from the same read.
  const TableInfo t = db->inspect_table({"t"});
  const auto* partial = t.find_constraint("t_partial");
  ASSERT_NE(partial, nullptr);
  EXPECT_EQ(partial->definition, "CREATE UNIQUE INDEX t_partial ON t (p_id) WHERE x > 1");
}

// The referrers come from a foreign-key graph the connection caches per
// schema_version: DDL on this connection or another one is seen at once.
TEST_F(SqliteCatalog, ReferrersFollowDdlOnAnyConnection) {
  auto db = test::connect("sqlite:" + path_.string());
  TableInfo p = db->inspect_table({"P"});  // names match in any case
  ASSERT_EQ(p.referrers.size(), 1u);
  EXPECT_EQ(p.referrers[0].table.name, "t");
  EXPECT_EQ(p.referrers[0].columns, std::vector<std::string>{"p_id"});
  EXPECT_EQ(p.referrers[0].parent_columns, std::vector<std::string>{"id"});
  EXPECT_TRUE(p.referrers[0].cascade);
  db->execute("CREATE TABLE child2 (id INTEGER PRIMARY KEY, pid INT REFERENCES \"P\" ON DELETE SET NULL)");
  p = db->inspect_table({"p"});
  ASSERT_EQ(p.referrers.size(), 2u);
  EXPECT_EQ(p.referrers[0].table.name, "child2");
  EXPECT_EQ(p.referrers[0].parent_columns, std::vector<std::string>{"id"});  // its primary key
  EXPECT_EQ(p.referrers[0].on_delete, "SET NULL");
  test::connect("sqlite:" + path_.string())->execute("DROP TABLE child2");
  p = db->inspect_table({"p"});
  ASSERT_EQ(p.referrers.size(), 1u);
  EXPECT_EQ(p.referrers[0].table.name, "t");
  EXPECT_TRUE(db->inspect_table({"nokey"}).referrers.empty());
}

TEST_F(SqliteCatalog, ValidatesExpressionsWithTheParser) {
  auto db = test::connect("sqlite:" + path_.string(), true);
  EXPECT_NO_THROW(db->validate_expression({"t"}, "x > 0 AND \"Mixed\" <> 'a'"));
  EXPECT_THROW(db->validate_expression({"t"}, "nope > 0"), DatabaseError);
  // Double-quoted strings are identifiers, never string literals.
  EXPECT_THROW(db->validate_expression({"t"}, "\"Mixed\" <> \"not a column\""), DatabaseError);
  EXPECT_THROW(db->validate_expression({"t"}, "x > 0) OR (1 = 1"), UsageError);
}

TEST_F(SqliteCatalog, ReadOnlyConnectionsCannotWrite) {
  auto db = test::connect("sqlite:" + path_.string(), true);
  EXPECT_THROW(db->execute("INSERT INTO p VALUES (1)"), DatabaseError);
}

}  // namespace
}  // namespace cc::dialect
