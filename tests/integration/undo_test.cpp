// fix-undo writes back only what the run changed, shows both versions of a
// row changed since (and goes on only with --force), and never mistakes a
// concurrent write for the fix's: the rows a fix changes are locked from
// their before-image to its commit.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/test_support.h"

namespace cc::test {
namespace {

class UndoTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    exec(std::string("CREATE TABLE humans (id integer PRIMARY KEY, wp integer, age integer, note text, j ") +
         (pg() ? "json" : "text") + ")");
    exec(
        "INSERT INTO humans VALUES (1, 0, 20, 'a', '{\"k\": 1,  \"k\": 2}'), (2, 5, -5, 'b', '[1,  2]'), "
        "(3, 5, 40, 'c', NULL)");
    write_file(dir_ / "schema/humans.toml",
               "table = \"humans\"\n[[check]]\nname = \"humans_wp_min\"\ncolumn = \"wp\"\nmin = 1\nrepair = \"clamp\"\n"
               "[[check]]\nname = \"humans_age_min\"\ncolumn = \"age\"\nmin = 0\nrepair = \"clamp\"\n");
  }
  std::string rows() const {
    std::string out;
    connect(url_)->query(std::string("SELECT ") +
                             (pg() ? "concat_ws('|', id, wp, age, note, j::text)"
                                   : "id || '|' || wp || '|' || age || '|' || note || '|' || quote(j)") +
                             " FROM humans ORDER BY id",
                         [&](const dialect::Row& r) { out += dialect::value_text(r[0]) + "\n"; });
    return out;
  }
  std::string run_fix() {
    auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
    EXPECT_EQ(fix.exit_code, 0) << fix.out << fix.err;
    const auto doc = nlohmann::json::parse(fix.out);
    return doc.value("run_id", "");
  }
};

TEST_P(UndoTest, OnlyTheColumnsTheRunChangedAreWrittenBack) {
  const auto before = rows();
  const std::string run = run_fix();
  ASSERT_FALSE(run.empty());
  auto undo = cli({"fix-undo", run}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(rows(), before);  // the json text beside the repaired columns is verbatim (duplicate keys, spacing)
}

TEST_P(UndoTest, DeletedRowsComeBackWithTheirJsonTextVerbatim) {
  exec("UPDATE humans SET j = '{\"x\": 1,   \"x\": [2,  3]}' WHERE id = 3");
  write_file(dir_ / "schema/humans.toml",
             "table = \"humans\"\n[[check]]\nname = \"humans_not_c\"\nexpr = \"note <> 'c'\"\nrepair = \"delete\"\n");
  const auto before = rows();
  const std::string run = run_fix();
  ASSERT_FALSE(run.empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM humans"), 2);
  auto undo = cli({"fix-undo", run}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(rows(), before);  // json: duplicate keys and spacing kept through the audit
}

TEST_P(UndoTest, ChangedSinceShowsBothVersionsAndForceKeepsTheNewerColumns) {
  const std::string run = run_fix();
  ASSERT_FALSE(run.empty());
  exec("UPDATE humans SET note = 'newer' WHERE id = 2");
  const auto now = rows();
  auto undo = cli({"fix-undo", run}, dir_.path());
  EXPECT_EQ(undo.exit_code, 1) << undo.out << undo.err;
  EXPECT_NE(undo.err.find("\"id\""), std::string::npos) << undo.err;
  EXPECT_NE(undo.err.find("the run left"), std::string::npos) << undo.err;
  EXPECT_NE(undo.err.find("newer"), std::string::npos) << "the version there now: " << undo.err;
  EXPECT_NE(undo.err.find("--force"), std::string::npos) << undo.err;
  EXPECT_EQ(rows(), now);

  auto forced = cli({"--json", "fix-undo", run, "--force"}, dir_.path());
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(nlohmann::json::parse(forced.out)["forced"], 1) << forced.out;
  EXPECT_EQ(scalar("SELECT age FROM humans WHERE id = 2"), -5);  // the run's change undone
  std::string note;
  connect(url_)->query("SELECT note FROM humans WHERE id = 2",
                       [&](const dialect::Row& r) { note = dialect::value_text(r[0]); });
  EXPECT_EQ(note, "newer");  // the newer write kept
  EXPECT_EQ(scalar("SELECT wp FROM humans WHERE id = 1"), 0);
}

// A second session updates a row while the fix runs (between its before-image
// and its repair of that row): the update waits for the fix to commit, and
// fix-undo then refuses, naming the row, instead of reverting the newer value.
TEST_P(UndoTest, PostgresConcurrentWriteDuringTheFixIsNeverReverted) {
  if (!pg()) GTEST_SKIP() << "SQLite has one writer at a time";
  auto fixing = std::async(std::launch::async, [&] {
    return run_cli({"--db", url_, "scan", "--fix", "--json"}, dir_.path(), {"CONSTRAINTCTL_FAULT=sleep@fix-rule"});
  });
  // Wait until the fix has written its first rule (it then sleeps 3 s).
  auto watcher = connect(url_);
  bool writing = false;
  for (int i = 0; i < 200 && !writing; ++i) {
    watcher->query(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'humans' AND "
        "l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()",
        [&](const dialect::Row& r) { writing = dialect::value_int(r[0]) > 0; });
    if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(writing) << "the fix never started writing";
  auto other =
      std::async(std::launch::async, [&] { connect(url_)->execute("UPDATE humans SET age = 30 WHERE id = 2"); });
  const auto fix = fixing.get();
  other.get();
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const std::string run = nlohmann::json::parse(fix.out)["run_id"];
  EXPECT_EQ(scalar("SELECT age FROM humans WHERE id = 2"), 30);
  auto undo = cli({"fix-undo", run}, dir_.path());
  // Before the rows were locked, the update landed between the before-image
  // and the repair, was read back as the fix's after-image, and undo
  // reverted it to -5. Now it waits for the commit and undo names it.
  EXPECT_EQ(undo.exit_code, 1) << undo.out << undo.err;
  EXPECT_NE(undo.err.find("{\"id\": 2} (the run left"), std::string::npos) << undo.err;
  EXPECT_NE(undo.err.find("\"age\": 30"), std::string::npos) << undo.err;
  EXPECT_EQ(scalar("SELECT age FROM humans WHERE id = 2"), 30) << "a concurrent write was reverted";
}

// More violating rows than a scan keeps for the fix (50 000 per table): the
// fix collects the rows itself, over every CHECK of the table, and the report
// after it still counts a rule that only reports, on those rows alone; the
// undo restores every row.
TEST_P(UndoTest, MoreViolatingRowsThanTheScanKeepsAreRepairedReportedAndUndone) {
  exec("CREATE TABLE big (id integer PRIMARY KEY, a integer, b integer)");
  exec(pg() ? "INSERT INTO big SELECT g, CASE WHEN g % 7 = 0 THEN 1 ELSE -1 END, CASE WHEN g % 7000 = 0 THEN 99 "
              "ELSE 1 END FROM generate_series(1, 60000) AS g"
            : "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 60000) INSERT INTO big "
              "SELECT g, CASE WHEN g % 7 = 0 THEN 1 ELSE -1 END, CASE WHEN g % 7000 = 0 THEN 99 ELSE 1 END FROM s");
  write_file(dir_ / "schema/big.toml",
             "table = \"big\"\n[[check]]\nname = \"big_a_min\"\ncolumn = \"a\"\nmin = 0\nrepair = \"clamp\"\n"
             "[[check]]\nname = \"big_b_max\"\ncolumn = \"b\"\nmax = 10\nrepair = \"report\"\n");
  auto sum = [&] { return scalar("SELECT sum(id * 3 + a * 5 + b * 7) FROM big"); };
  const auto before = sum();
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  EXPECT_EQ(fix.exit_code, 1) << fix.err;  // big_b_max still reports its rows
  const auto doc = nlohmann::json::parse(fix.out);
  std::int64_t a = -1, b = -1;
  for (const auto& c : doc["constraints"]) {
    if (c["name"] == "big_a_min") a = c["violations"].get<std::int64_t>();
    if (c["name"] == "big_b_max") b = c["violations"].get<std::int64_t>();
  }
  EXPECT_EQ(a, 0) << fix.out;
  EXPECT_EQ(b, 8) << fix.out;  // rows that break no repaired rule (a = 1)
  EXPECT_EQ(scalar("SELECT count(*) FROM big WHERE a < 0"), 0);
  auto undo = cli({"fix-undo", doc.value("run_id", "")}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(sum(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM big WHERE a < 0"), 60000 - 60000 / 7);
}

INSTANTIATE_TEST_SUITE_P(Dialects, UndoTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
