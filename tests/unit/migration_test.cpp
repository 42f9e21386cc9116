#include <gtest/gtest.h>

#include "core/error.h"
#include "dialect/sqlite/create_table.h"
#include "migrate/diff.h"
#include "model/migration.h"
#include "model/schema_loader.h"
#include "support/test_support.h"

namespace cc::migrate {
namespace {

model::Schema schema_of(const std::string& toml) { return model::parse_schema_text(toml, "schema/t.toml"); }

const char* kBase = R"(table = "t"
[[check]]
name = "t_x_pos"
column = "x"
min = 0
[[unique]]
name = "t_ab"
columns = ["a", "b"]
where = "a > 0"
)";

TEST(Migration, DiffAddsEverythingFromEmpty) {
  auto s = schema_of(kBase);
  auto ops = diff({}, declared_state(s), s);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, OpKind::add_check);
  EXPECT_EQ(ops[0].def.check, "\"x\" >= 0");
  EXPECT_EQ(ops[1].kind, OpKind::add_unique);
  EXPECT_EQ(ops[1].def.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ops[1].def.where, "a > 0");
}

TEST(Migration, ChangedDefinitionBecomesDropThenAdd) {
  auto before = schema_of(kBase);
  std::string changed = kBase;
  changed.replace(changed.find("min = 0"), 7, "min = 1");
  auto after = schema_of(changed);
  auto ops = diff(declared_state(before), declared_state(after), after);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, OpKind::drop_check);
  EXPECT_EQ(ops[0].def.check, "\"x\" >= 0");  // the drop carries the old definition
  EXPECT_EQ(ops[1].kind, OpKind::add_check);
  EXPECT_EQ(ops[1].def.check, "\"x\" >= 1");
  EXPECT_TRUE(diff(declared_state(after), declared_state(after), after).empty());
}

TEST(Migration, RemovedConstraintIsDroppedWithItsDefinition) {
  auto before = schema_of(kBase);
  auto after = schema_of("table = \"t\"\n[[check]]\nname = \"t_x_pos\"\ncolumn = \"x\"\nmin = 0\n");
  auto ops = diff(declared_state(before), declared_state(after), after);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, OpKind::drop_unique);
  EXPECT_EQ(ops[0].def.where, "a > 0");
  EXPECT_EQ(ops[0].reverse().kind, OpKind::add_unique);
}

TEST(Migration, RenderParseRoundTrip) {
  auto s = schema_of(kBase);
  Migration m;
  m.version = 3;
  m.name = "tricky";
  m.operations = diff({}, declared_state(s), s);
  m.operations[0].def.name = "quote\"and\\backslash";
  const std::string text = render_migration(m);
  Migration back = parse_migration(text, "migrations/0003_tricky.toml");
  EXPECT_EQ(back.version, 3);
  EXPECT_EQ(back.name, "tricky");
  ASSERT_EQ(back.operations.size(), 2u);
  EXPECT_EQ(back.operations[0].def.name, "quote\"and\\backslash");
  EXPECT_TRUE(back.operations[1].def.same_definition(m.operations[1].def));
  EXPECT_EQ(back.checksum, sha256_hex(text));
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Migration, StepsDownAreReversedAndInverted) {
  auto s = schema_of(kBase);
  Migration m;
  m.operations = diff({}, declared_state(s), s);
  auto down = m.steps(false);
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(down[0].kind, OpKind::drop_unique);
  EXPECT_EQ(down[1].kind, OpKind::drop_check);
}

TEST(Migration, ParseErrorsNameTheFile) {
  try {
    parse_migration("version = 1\nname = \"x\"\n[[operation]]\nop = \"add_check\"\ntable = \"t\"\nname = \"c\"\ncheck = \"x > 0); DROP TABLE y; --\"\n",
                    "migrations/0001_x.toml");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("migrations/0001_x.toml:3:1: add_check t.c: check has an unbalanced ')'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_migration("version = 1\nname = \"x\"\n[[operation]]\nop = \"add_thing\"\n", "m.toml"), UsageError);
  EXPECT_THROW(parse_migration("version = 1\nname = \"x\"\n[[operation]]\nop = \"add_check\"\nreverse = \"add_check\"\ntable = \"t\"\nname = \"c\"\ncheck = \"x > 0\"\n", "m.toml"),
               UsageError);
}

TEST(Migration, DirectoryRulesAreCheckedBeforeConnecting) {
  test::TempDir dir;
  const std::string one = "version = 1\nname = \"a\"\n[[operation]]\nop = \"add_check\"\ntable = \"t\"\nname = \"c\"\ncheck = \"x > 0\"\n";
  test::write_file(dir / "m/0001_a.toml", one);
  EXPECT_EQ(load_migrations(dir / "m").size(), 1u);
  test::write_file(dir / "m/0003_c.toml", "version = 3\nname = \"c\"\n");
  EXPECT_THROW(load_migrations(dir / "m"), UsageError);  // gap: 2 is missing
  std::filesystem::remove(dir / "m/0003_c.toml");
  test::write_file(dir / "m/0002_b.toml", "version = 2\nname = \"other\"\n");
  EXPECT_THROW(load_migrations(dir / "m"), UsageError);  // name differs from the file name
  test::write_file(dir / "m/0002_b.toml", "version = 2\nname = \"b\"\n[[operation]]\nop = \"drop_check\"\ntable = \"t\"\nname = \"zz\"\ncheck = \"x > 0\"\n");
  EXPECT_THROW(load_migrations(dir / "m"), UsageError);  // drops what does not exist
  std::filesystem::remove(dir / "m/0002_b.toml");
  test::write_file(dir / "m/2_b.toml", "version = 2\nname = \"b\"\n");
  EXPECT_THROW(load_migrations(dir / "m"), UsageError);  // bad file name
  EXPECT_TRUE(load_migrations(dir / "none").empty());
}

TEST(Migration, ReferenceMigrationMatchesTheSchema) {
  auto schema = model::load_schema_dir(test::source_dir() / "schema");
  auto migrations = load_migrations(test::source_dir() / "migrations");
  EXPECT_TRUE(diff(replay(migrations), declared_state(schema), schema).empty())
      << "schema/ has changes that migrations/ lacks: run constraintctl generate";
}

TEST(MigrationSql, SqliteCreateTableEdits) {
  const std::string sql =
      "CREATE TABLE humans (\n    id INTEGER PRIMARY KEY,\n    willpower INTEGER NOT NULL CONSTRAINT wp_col CHECK (willpower > 0),\n"
      "    age INTEGER,\n    CONSTRAINT \"old check\" CHECK (age < 1000)\n) STRICT";
  const std::string added = dialect::sqlite::edit_create_table(sql, {}, {{"humans_age_range", "\"age\" BETWEEN 0 AND 500"}}, "");
  EXPECT_EQ(added,
            "CREATE TABLE humans (\n    id INTEGER PRIMARY KEY,\n    willpower INTEGER NOT NULL CONSTRAINT wp_col CHECK (willpower > 0),\n"
            "    age INTEGER,\n    CONSTRAINT \"old check\" CHECK (age < 1000),\n  CONSTRAINT \"humans_age_range\" CHECK (\"age\" BETWEEN 0 AND 500)\n) STRICT");
  // Dropping what was added gives back the original text exactly.
  EXPECT_EQ(dialect::sqlite::edit_create_table(added, {"humans_age_range"}, {}, ""), sql);
  EXPECT_EQ(dialect::sqlite::edit_create_table(sql, {"old check", "wp_col"}, {}, "cc_new_humans"),
            "CREATE TABLE \"cc_new_humans\" (\n    id INTEGER PRIMARY KEY,\n    willpower INTEGER NOT NULL,\n    age INTEGER\n) STRICT");
  EXPECT_THROW(dialect::sqlite::edit_create_table(sql, {"nope"}, {}, ""), Error);
}

}  // namespace
}  // namespace cc::migrate
