#include <gtest/gtest.h>

#include <algorithm>

#include "dialect/sqlite/create_table.h"

namespace cc::dialect::sqlite {
namespace {

TEST(CreateTable, FindsColumnsAndConstraints) {
  const std::string sql =
      "CREATE TABLE \"t\" (id INTEGER PRIMARY KEY AUTOINCREMENT, x INT CHECK (x > 0) NOT NULL, "
      "\"we\"\"ird\" TEXT CONSTRAINT named_col CHECK (length(\"we\"\"ird\") < 10) UNIQUE, "
      "y INT REFERENCES other(id) ON DELETE CASCADE, "
      "CONSTRAINT t_xy CHECK (x < y), UNIQUE (x, y), CHECK ((x + y) % 2 = 0), "
      "FOREIGN KEY (y) REFERENCES other(id)) STRICT";
  CreateTable t = parse_create_table(sql);
  EXPECT_TRUE(t.strict);
  EXPECT_FALSE(t.without_rowid);
  std::vector<std::string> got;
  for (const auto& c : t.clauses) {
    std::string kind;
    switch (c.kind) {
      case Clause::Kind::column: kind = "col"; break;
      case Clause::Kind::check: kind = "check"; break;
      case Clause::Kind::unique: kind = "unique"; break;
      case Clause::Kind::primary_key: kind = "pk"; break;
      case Clause::Kind::foreign_key: kind = "fk"; break;
    }
    got.push_back(kind + ":" + c.name + ":" + c.body + ":" + (c.columns.empty() ? "" : c.columns[0]));
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "col:id::", "pk:::id", "col:x::", "check::x > 0:x", "col:we\"ird::", "check:named_col:length(\"we\"\"ird\") < 10:we\"ird",
                     "unique:::we\"ird", "col:y::", "fk:::y", "check:t_xy:x < y:", "unique:::x", "check::(x + y) % 2 = 0:", "fk:::y"}));
  // Offsets cover the clause text exactly.
  const auto& named = t.clauses[9];
  EXPECT_EQ(sql.substr(named.begin, named.end - named.begin), "CONSTRAINT t_xy CHECK (x < y)");
  EXPECT_EQ(sql[t.body_open], '(');
  EXPECT_EQ(sql[t.body_close], ')');
}

// SQLite needs no comma between table constraints: a FOREIGN KEY ends where
// the next constraint begins, and every CHECK is read (check_bodies).
TEST(CreateTable, AForeignKeyEndsAtTheNextTableConstraintWithoutAComma) {
  const std::string sql =
      "CREATE TABLE t (a, b, s, FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE CHECK (b > 0) "
      "CONSTRAINT s_in CHECK (s IN ('x', 'y', 'z')), CHECK (b < 10))";
  const auto bodies = check_bodies(sql);
  ASSERT_TRUE(bodies.has_value());
  EXPECT_EQ(*bodies, (std::vector<std::pair<std::string, std::string>>{
                         {"", "b > 0"}, {"s_in", "s IN ('x', 'y', 'z')"}, {"", "b < 10"}}));
  const auto t = parse_create_table(sql);
  const auto fk = std::find_if(t.clauses.begin(), t.clauses.end(),
                               [](const Clause& c) { return c.kind == Clause::Kind::foreign_key; });
  ASSERT_NE(fk, t.clauses.end());
  EXPECT_EQ(sql.substr(fk->begin, fk->end - fk->begin), "FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE");
  // The word in a string is no CHECK; text that is no CREATE TABLE has none to give.
  EXPECT_EQ(check_bodies("CREATE TABLE t (a INTEGER CHECK (a > 0), b TEXT CHECK (b <> 'CHECK (x)'))")->size(), 2u);
  EXPECT_FALSE(check_bodies("CREATE VIEW v AS SELECT 1").has_value());
}

TEST(CreateTable, WithoutRowid) {
  EXPECT_TRUE(parse_create_table("CREATE TABLE k (a TEXT PRIMARY KEY, b INT) WITHOUT ROWID").without_rowid);
}

}  // namespace
}  // namespace cc::dialect::sqlite
