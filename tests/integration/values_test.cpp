// Values that plain JSON cannot hold, or that change when read through the
// wrong type, survive a fix and its undo exactly and are shown as the
// database holds them: SQLite BLOBs, REALs to the last bit, Inf, text in an INTEGER
// column; PostgreSQL bytea, NaN and Infinity, NUMERIC scale, a jsonb string,
// arrays; columns with odd names.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

class ValuesTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    if (pg()) {
      exec("CREATE TABLE v (id integer PRIMARY KEY, \"we\"\"ird col\" integer, f float8, n numeric(10,3), b bytea, j jsonb, a int[])");
      exec("INSERT INTO v VALUES (1, -1, 'NaN', 1.500, '\\x00ff', '\"text\"', '{5,-1}'), (2, -2, 'Infinity', -2.250, NULL, '[1]', '{}'), "
           "(3, 4, 0.30000000000000004, 0.000, '\\x', 'null', NULL)");
    } else {
      exec("CREATE TABLE v (id INTEGER PRIMARY KEY, \"we\"\"ird col\" INTEGER, f REAL, n TEXT, b BLOB, j, a)");
      exec("INSERT INTO v VALUES (1, 'abc', 9e999, '1.500', x'00ff', '\"text\"', 0.30000000000000004), "
           "(2, -2, -9e999, '-2.250', NULL, '[1]', 123456789.12345678), (3, 4, 0.1, '0.000', x'', 'null', 5)");
    }
    write_file(dir_ / "schema/v.toml",
               "table = \"v\"\n[[check]]\nname = \"v_weird_pos\"\ncolumn = 'we\"ird col'\nmin = 0\n"
               "repair = { policy = \"set\", value = 0 }\n"
               "[[check]]\nname = \"v_gone\"\nexpr = \"id > 1\"\nrepair = \"delete\"\n");
  }
  // Every value with its type, as the database prints it.
  std::string rows() const {
    std::string out;
    auto db = connect(url_);
    const std::string sql = pg() ? "SELECT concat_ws('|', id, \"we\"\"ird col\", f::text, n::text, b::text, j::text, a::text) FROM v ORDER BY id"
                                 : "SELECT id || '|' || quote(\"we\"\"ird col\") || typeof(\"we\"\"ird col\") || '|' || printf('%!.17g', f) || '|' || "
                                   "quote(n) || '|' || quote(b) || '|' || quote(j) || '|' || printf('%!.17g', a) || typeof(a) FROM v ORDER BY id";
    db->query(sql, [&](const dialect::Row& r) { out += dialect::value_text(r[0]) + "\n"; });
    return out;
  }
};

TEST_P(ValuesTest, FixAndUndoKeepEveryValueExactly) {
  const std::string before = rows();
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const auto doc = nlohmann::json::parse(fix.out);
  const std::string run_id = doc.value("run_id", "");
  ASSERT_FALSE(run_id.empty()) << fix.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM v"), 2);
  EXPECT_NE(rows(), before);
  auto undo = cli({"fix-undo", run_id}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(rows(), before);
}

TEST_P(ValuesTest, SamplesShowValuesAsTheDatabaseHoldsThem) {
  write_file(dir_ / "schema/v.toml",
             "table = \"v\"\n[[check]]\nname = \"v_f_finite\"\nexpr = \"f < 1e308 AND f > -1e308\"\n"
             "[[check]]\nname = \"v_weird_int\"\nexpr = \"" + std::string(pg() ? "true" : "typeof(\\\"we\\\"\\\"ird col\\\") = 'integer'") + "\"\n");
  auto scan = cli({"scan", "--json"}, dir_.path());
  EXPECT_EQ(scan.exit_code, 1) << scan.out << scan.err;
  const auto doc = nlohmann::json::parse(scan.out);
  const std::string all = doc.dump();
  EXPECT_EQ(all.find("unsupported"), std::string::npos) << all;
  auto verbose = cli({"scan", "--verbose"}, dir_.path());
  EXPECT_EQ(verbose.exit_code, 1) << verbose.err;
  EXPECT_NE(all.find("\"Infinity\""), std::string::npos) << "an infinite float is shown as text, JSON has no Infinity: " << all;
  if (pg()) {
    EXPECT_NE(all.find("\"NaN\""), std::string::npos) << all;
  } else {
    EXPECT_NE(all.find("\"abc\""), std::string::npos) << "text in an INTEGER column is shown as text: " << all;
  }
}

// A key that is itself an array (PostgreSQL int[]) or a BLOB (SQLite: a
// UUID, say, which the audit trail's JSON holds encoded):
// the fix finds its rows by key past the listed keys (a temp table of keys)
// and the duplicates it deletes, and its undo puts every row back.
TEST_P(ValuesTest, AnArrayKeyFindsItsRowsPastTheListedKeysAndAmongDuplicates) {
  exec("DROP TABLE v");
  if (pg()) {
    exec("CREATE TABLE ak (id int[] PRIMARY KEY, code text, n integer)");
    exec("INSERT INTO ak SELECT ARRAY[g, g % 7], 'c' || (g % 60000), -1 FROM generate_series(1, 60010) AS g");
  } else {
    exec("CREATE TABLE ak (id BLOB PRIMARY KEY, code TEXT, n INTEGER) WITHOUT ROWID");
    exec(
        "WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 60010) "
        "INSERT INTO ak SELECT CAST(randomblob(12) || printf('%08x', value) AS BLOB), 'c' || (value % 60000), -1 "
        "FROM g");
  }
  std::filesystem::remove(dir_ / "schema/v.toml");
  write_file(dir_ / "schema/ak.toml",
             "table = \"ak\"\n[[check]]\nname = \"ak_n\"\ncolumn = \"n\"\nmin = 0\nrepair = \"clamp\"\n"
             "[[unique]]\nname = \"ak_code\"\ncolumns = [\"code\"]\nrepair = \"delete_duplicates\"\n");
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM ak"), 60000);
  EXPECT_EQ(scalar("SELECT count(DISTINCT code) FROM ak"), 60000);
  EXPECT_EQ(scalar("SELECT count(*) FROM ak WHERE n = 0"), 60000);
  const std::string run_id = nlohmann::json::parse(fix.out).value("run_id", "");
  ASSERT_FALSE(run_id.empty()) << fix.out;
  auto undo = cli({"fix-undo", run_id}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM ak"), 60010);
  EXPECT_EQ(scalar("SELECT count(*) FROM ak WHERE n = -1"), 60010);
  if (!pg()) {
    EXPECT_EQ(scalar("SELECT count(*) FROM ak WHERE typeof(id) = 'blob' AND length(id) = 20"), 60010);
  }
}

// A REAL key that 15 digits do not tell apart from its neighbours: the
// undo finds every row the fix changed and puts its value back.
TEST_P(ValuesTest, ARealKeyIsFoundAgainByTheUndo) {
  exec("DROP TABLE v");
  exec(std::string("CREATE TABLE rk (id ") + (pg() ? "float8" : "REAL") + " PRIMARY KEY, n integer)");
  exec("INSERT INTO rk VALUES (0.30000000000000004, -1), (0.1, -2), (0.30000000000000009, -3), (1e300, -4)");
  std::filesystem::remove(dir_ / "schema/v.toml");
  write_file(dir_ / "schema/rk.toml",
             "table = \"rk\"\n[[check]]\nname = \"rk_n\"\ncolumn = \"n\"\nmin = 0\nrepair = \"clamp\"\n");
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM rk WHERE n = 0"), 4);
  auto undo = cli({"fix-undo", nlohmann::json::parse(fix.out).value("run_id", "")}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(scalar("SELECT n FROM rk WHERE id = 0.30000000000000004"), -1);
  EXPECT_EQ(scalar("SELECT n FROM rk WHERE id = 0.30000000000000009"), -3);
  EXPECT_EQ(scalar("SELECT sum(n) FROM rk"), -10);
}

// SQLite keeps any bytes in a TEXT value: a key that is not UTF-8 is shown
// in the JSON samples escaped as the text output shows it (a JSON string
// cannot hold it, and `scan --json` stopped with an internal error), and the
// fix and its undo keep its bytes.
TEST_P(ValuesTest, ATextKeyThatIsNotUtf8IsShownEscapedAndKeptByTheUndo) {
  if (pg()) GTEST_SKIP() << "PostgreSQL checks text against the database's encoding";
  exec("DROP TABLE v");
  exec("CREATE TABLE tk (k TEXT PRIMARY KEY, n INTEGER)");
  exec("INSERT INTO tk VALUES (CAST(x'ff41' AS TEXT), -1), (CAST(x'c328' AS TEXT), -2), ('ok\\', -3), ('fine', 4)");
  std::filesystem::remove(dir_ / "schema/v.toml");
  write_file(dir_ / "schema/tk.toml",
             "table = \"tk\"\n[[check]]\nname = \"tk_n\"\ncolumn = \"n\"\nmin = 0\nrepair = \"clamp\"\n");
  auto scan = cli({"scan", "--json"}, dir_.path());
  ASSERT_EQ(scan.exit_code, 1) << scan.out << scan.err;
  std::vector<std::string> keys;
  const auto doc = nlohmann::json::parse(scan.out);
  for (const auto& s : doc["constraints"][0]["samples"]) keys.push_back(s["key"]["k"]);
  EXPECT_EQ(keys, (std::vector<std::string>{"ok\\", "\\xc3(", "\\xffA"})) << scan.out;
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM tk WHERE n = 0"), 3);
  auto undo = cli({"fix-undo", nlohmann::json::parse(fix.out).value("run_id", "")}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(scalar("SELECT n FROM tk WHERE k = CAST(x'ff41' AS TEXT)"), -1);
  EXPECT_EQ(scalar("SELECT n FROM tk WHERE k = CAST(x'c328' AS TEXT)"), -2);
  EXPECT_EQ(scalar("SELECT sum(n) FROM tk"), -2);
}

INSTANTIATE_TEST_SUITE_P(Dialects, ValuesTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace cc::test
