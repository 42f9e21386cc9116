#include <gtest/gtest.h>

#include "core/error.h"
#include "model/schema_loader.h"
#include "support/test_support.h"

namespace cc::model {
namespace {

std::string error_of(const std::string& toml) {
  try {
    parse_schema_text(toml, "schema/t.toml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(toml, text)                                       \
  do {                                                                 \
    const std::string err = error_of(toml);                            \
    EXPECT_NE(err.find(text), std::string::npos) << "got: " << err;    \
  } while (0)

TEST(SchemaLoader, LoadsTheReferenceDomain) {
  Schema s = load_schema_dir(test::source_dir() / "schema");
  EXPECT_EQ(s.tables.size(), 5u);
  EXPECT_EQ(s.constraint_count(), 25u);
  const Table* humans = s.find_table("humans");
  ASSERT_NE(humans, nullptr);
  ASSERT_EQ(humans->checks.size(), 5u);
  const Check& le = humans->checks[2];
  EXPECT_EQ(le.name, "humans_temporary_willpower_le_willpower");
  EXPECT_FALSE(le.structured());
  EXPECT_EQ(le.repair.policy, RepairPolicy::set_expr);
  EXPECT_EQ(le.repair.column, "temporary_willpower");
  const Check& wp = humans->checks[0];
  EXPECT_EQ(std::get<std::int64_t>(*wp.min), 1);
  EXPECT_EQ(std::get<std::int64_t>(*wp.max), 10);
  EXPECT_EQ(wp.repair.policy, RepairPolicy::clamp);
  EXPECT_EQ(wp.where.line, 5);
  const Table* st = s.find_table("st_relationships");
  ASSERT_NE(st, nullptr);
  ASSERT_EQ(st->uniques.size(), 1u);
  EXPECT_EQ(st->uniques[0].repair.policy, RepairPolicy::delete_duplicates);
  EXPECT_EQ(st->uniques[0].repair.by, "id");
}

TEST(SchemaLoader, StructuredAndRawForms) {
  Schema s = parse_schema_text(R"(table = "t"
[[check]]
name = "c1"
column = "x"
in = ["a", "b"]
repair = { policy = "set", value = "a" }
[[check]]
name = "c2"
column = "y"
not_null = true
min = 0.5
[[unique]]
name = "u1"
columns = ["a", "b"]
where = "deleted_at IS NULL"
)", "schema/t.toml");
  ASSERT_EQ(s.tables[0].checks.size(), 2u);
  EXPECT_EQ(s.tables[0].checks[0].allowed.size(), 2u);
  EXPECT_TRUE(s.tables[0].checks[1].not_null);
  EXPECT_EQ(std::get<double>(*s.tables[0].checks[1].min), 0.5);
  EXPECT_EQ(s.tables[0].uniques[0].where_expr, "deleted_at IS NULL");
}

TEST(SchemaLoader, SyntaxErrorsHaveLineAndColumn) {
  EXPECT_ERROR("table = \"t\"\n[[check]\nname = 1", "schema/t.toml:2:");
  EXPECT_ERROR("table = \"t\"\ntable = \"u\"\n", "schema/t.toml:2:");  // duplicate key
}

TEST(SchemaLoader, UnknownKeysAreNamed) {
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nminimum = 0\n",
               "schema/t.toml:5:1: unknown key 'minimum' in [[check]]");
  EXPECT_ERROR("table = \"t\"\ncolour = 1\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n", "schema/t.toml:2:1: unknown key 'colour'");
}

TEST(SchemaLoader, WrongTypes) {
  EXPECT_ERROR("table = 5\n", "schema/t.toml:1:9: 'table' must be a string, not an integer");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = \"zero\"\n", "schema/t.toml:5:7: 'min' must be a number");
  EXPECT_ERROR("table = \"t\"\n[[unique]]\nname = \"u\"\ncolumns = \"a\"\n", "'columns' must be a non-empty array");
}

TEST(SchemaLoader, MissingPieces) {
  EXPECT_ERROR("[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n", "missing 'table");
  EXPECT_ERROR("table = \"t\"\n[[check]]\ncolumn = \"x\"\nmin = 0\n", "schema/t.toml:2:1: [[check]] needs a 'name'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\n", "needs either 'expr' or a 'column'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\n", "needs 'min', 'max', 'in' or 'not_null'");
  EXPECT_ERROR("table = \"t\"\n", "declares no [[check]] or [[unique]]");
}

TEST(SchemaLoader, DuplicateNames) {
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n[[check]]\nname = \"c\"\nexpr = \"y > 0\"\n",
               "schema/t.toml:5:1: duplicate constraint name 'c' (first declared at schema/t.toml:2:1)");
}

TEST(SchemaLoader, BadIdentifiersAndExpressions) {
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"" + std::string(64, 'n') + "\"\nexpr = \"x > 0\"\n", "64 bytes long");
  EXPECT_ERROR("table = \"\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n", "table name '' is empty");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0); DROP TABLE canary; --\"\n",
               "schema/t.toml:4:8: check 'c': expr has an unbalanced ')'");
  EXPECT_ERROR("table = \"t\\u0000x\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n", "control character");
}

TEST(SchemaLoader, PoliciesMustFitTheirConstraint) {
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\nrepair = \"clamp\"\n", "'clamp' needs a check with 'min' or 'max'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"s\"\nin = [\"a\"]\nrepair = { policy = \"set\", value = \"z\" }\n",
               "value 'z' itself violates the check");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = 0\nrepair = { policy = \"set\", value = -1 }\n",
               "value -1 itself violates the check");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\nrepair = \"set_null\"\n", "needs a 'column' to assign");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nnot_null = true\nrepair = \"set_null\"\n",
               "'set_null' cannot repair a not_null check");
  EXPECT_ERROR("table = \"t\"\n[[unique]]\nname = \"u\"\ncolumns = [\"a\"]\nrepair = \"clamp\"\n",
               "a UNIQUE constraint can only be repaired by 'delete_duplicates'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = 0\nrepair = \"delete_duplicates\"\n",
               "'delete_duplicates' is for UNIQUE constraints");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = 0\nrepair = { policy = \"clamp\", keep = \"lowest\" }\n",
               "'keep' does not apply to repair policy 'clamp'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = 0\nrepair = \"fix-it\"\n", "unknown repair policy 'fix-it'");
  EXPECT_ERROR("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nmin = 5\nmax = 1\n", "min 5 is greater than max 1");
}

TEST(SchemaLoader, AllProblemsAreReportedAtOnce) {
  const std::string err = error_of("table = \"t\"\n[[check]]\nname = \"c\"\ncolumn = \"x\"\nminimum = 0\n[[check]]\nexpr = 5\n");
  EXPECT_NE(err.find(":5:1:"), std::string::npos) << err;
  EXPECT_NE(err.find(":7:8:"), std::string::npos) << err;
}

TEST(SchemaLoader, DirectoryErrors) {
  test::TempDir dir;
  EXPECT_THROW(load_schema_dir(dir / "nope"), UsageError);
  EXPECT_THROW(load_schema_dir(dir.path()), UsageError);  // no files
  test::write_file(dir / "a.toml", "table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0\"\n");
  test::write_file(dir / "b.toml", "table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 1\"\n");
  try {
    load_schema_dir(dir.path());
    FAIL() << "expected an error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("b.toml:1:9: table 't' is declared again"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("b.toml:2:1: duplicate constraint name 'c'"), std::string::npos) << e.what();
  }
}

TEST(SchemaLoader, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "table = \"t\"\nx = " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_NE(error_of(deep), "");
}

}  // namespace
}  // namespace cc::model

namespace cc::model {
namespace {

// Found by the fuzzer: toml++ 3.3's debug build asserts on this table header;
// the release library must reject it as a parse error with a position.
TEST(SchemaLoader, FuzzRegressionBrokenTableHeader) {
  const std::string text = test::read_file(test::source_dir() / "tests/fuzz/corpus/schema/regression-toml-assert.toml");
  try {
    parse_schema_text(text, "schema/a.toml");
    FAIL() << "expected a parse error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema/a.toml:11:2:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cc::model

namespace cc::model {
namespace {

// Found by the fuzzer: a non-ASCII character where a value starts reaches a
// TOML_UNREACHABLE inside toml++ 3.3's headers; the release library reports it.
TEST(SchemaLoader, FuzzRegressionNonAsciiValueStart) {
  const std::string text = test::read_file(test::source_dir() / "tests/fuzz/corpus/schema/regression-toml-unreachable.toml");
  try {
    parse_schema_text(text, "schema/b.toml");
    FAIL() << "expected a parse error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema/b.toml:4:6:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cc::model
