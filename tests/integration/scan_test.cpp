// Scan against real databases: the reference fixtures on both dialects must
// give exactly the committed expected counts (computed by independent
// per-rule SQL), and the edge cases (NULLs, composite and partial UNIQUE,
// hostile identifiers) must count the way the databases themselves enforce.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "core/error.h"
#include "model/schema_loader.h"
#include "scan/scan_report.h"
#include "scan/scanner.h"
#include "support/test_support.h"

namespace cc::scan {
namespace {

// One database of either dialect, created empty for a test.
class TestDb {
 public:
  virtual ~TestDb() = default;
  virtual std::string url() const = 0;
  virtual void load_fixture(int n) = 0;
  void exec(const std::string& sql) {
    auto db = test::connect(url());
    db->execute(sql);
  }
};

class SqliteDb : public TestDb {
 public:
  SqliteDb() {
    test::shell("sqlite3 " + (dir_ / "t.db").string() + " 'PRAGMA user_version = 0'");
  }
  std::string url() const override { return "sqlite:" + (dir_ / "t.db").string(); }
  void load_fixture(int n) override { test::make_sqlite_fixture(dir_ / "t.db", n); }

 private:
  test::TempDir dir_;
};

class PostgresDb : public TestDb {
 public:
  std::string url() const override { return db_.url(); }
  void load_fixture(int n) override { db_.load_fixture(n); }

 private:
  test::PgDatabase db_;
};

class ScanTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      CC_REQUIRE_POSTGRES();
      db_ = std::make_unique<PostgresDb>();
    } else {
      db_ = std::make_unique<SqliteDb>();
    }
  }

  ScanReport scan(const model::Schema& schema, ScanOptions options = {}) {
    auto conn = test::connect(db_->url(), /*read_only=*/true);
    return run_scan(*conn, schema, options);
  }

  static std::map<std::string, const ConstraintScan*> by_name(const ScanReport& r) {
    std::map<std::string, const ConstraintScan*> m;
    for (const auto& c : r.constraints) m[c.name] = &c;
    return m;
  }

  std::unique_ptr<TestDb> db_;
};

TEST_P(ScanTest, ReferenceFixtureMatchesExpectedCounts) {
  for (int n : {1000, 10000}) {
    SCOPED_TRACE("N=" + std::to_string(n));
    db_->load_fixture(n);
    const auto report = scan(model::load_schema_dir(test::source_dir() / "schema"));
    const auto got = by_name(report);
    const auto expected = test::expected_counts(n);
    ASSERT_EQ(report.constraints.size(), expected["constraints"].size());
    for (const auto& e : expected["constraints"]) {
      const std::string name = e["name"];
      ASSERT_TRUE(got.count(name)) << name;
      EXPECT_EQ(got.at(name)->table, e["table"].get<std::string>()) << name;
      EXPECT_EQ(got.at(name)->kind, e["kind"].get<std::string>()) << name;
      EXPECT_EQ(got.at(name)->violations, e["violations"].get<std::int64_t>()) << name;
      if (e.contains("groups")) {
        EXPECT_EQ(got.at(name)->groups, e["groups"].get<std::int64_t>()) << name;
      }
      EXPECT_FALSE(got.at(name)->present) << name;
    }
  }
}

TEST_P(ScanTest, SamplesShowKeysAndValuesOfViolatingRows) {
  db_->load_fixture(1000);
  ScanOptions options;
  options.sample = 3;
  options.tables = {"characters", "st_relationships"};
  const auto report = scan(model::load_schema_dir(test::source_dir() / "schema"), options);
  const auto got = by_name(report);
  const auto* xp = got.at("characters_xp_nonnegative");
  ASSERT_FALSE(xp->samples.empty());
  EXPECT_LE(xp->samples.size(), 3u);
  for (const auto& s : xp->samples) {
    ASSERT_EQ(s.key.size(), 1u);
    EXPECT_EQ(s.key[0].first, "id");
    ASSERT_EQ(s.values.size(), 1u);
    EXPECT_EQ(s.values[0].first, "xp");
    EXPECT_LT(dialect::value_int(s.values[0].second), 0);
  }
  const auto* uq = got.at("st_relationships_user_chronicle_gameline_unique");
  ASSERT_FALSE(uq->samples.empty());
  for (const auto& s : uq->samples) {
    EXPECT_GE(s.rows, 2);
    EXPECT_EQ(std::count(s.ids.begin(), s.ids.end(), ',') + 1, s.rows) << s.ids;
  }
  EXPECT_EQ(report.tables, 2u);
  EXPECT_EQ(got.count("humans_age_range"), 0u);
}

// --jobs: the same counts and samples as the serial scan, every table's
// CHECK pass split into ranges read on other connections, all in one
// snapshot: a write committed once the scan started is seen by none of them.
TEST_P(ScanTest, ParallelScanEqualsSerialAndReadsOneSnapshot) {
  db_->load_fixture(10000);
  if (GetParam() == "sqlite") {
    db_->exec("PRAGMA journal_mode = WAL");  // a writer may commit while readers read
    // Keys pointing at no row, in two tables (one not in the schema): a
    // parallel scan counts them one table per connection.
    const std::string file = db_->url().substr(std::string("sqlite:").size());
    test::shell("sqlite3 " + file +
                " 'CREATE TABLE orphans (id integer PRIMARY KEY, character_id integer REFERENCES characters (id)); "
                "INSERT INTO orphans VALUES (1, -1), (2, -2), (3, 1); "
                "INSERT INTO st_relationships (id, user_id, chronicle_id, gameline) "
                "SELECT max(id) + 1, -5, -6, NULL FROM st_relationships'");
  }
  const auto schema = model::load_schema_dir(test::source_dir() / "schema");
  ScanOptions serial;
  serial.sample = 5;
  serial.foreign_keys = true;
  auto shown = [](ScanReport r) {
    r.elapsed_ms = 0;
    r.jobs = 0;
    return to_json(r).dump(1);
  };
  const auto before = scan(schema, serial);
  EXPECT_EQ(before.jobs, 1u);
  ScanOptions parallel = serial;
  parallel.jobs = 3;
  parallel.split_min_rows = 1;
  const std::string url = db_->url();
  parallel.open = [url](bool read_only) { return test::connect(url, read_only); };
  bool wrote = false;
  parallel.progress = [&](const std::string&, size_t, size_t) {
    if (wrote) return;
    wrote = true;
    // Another session breaks one more row and commits, mid-scan.
    auto writer = test::connect(url);
    writer->execute("UPDATE characters SET xp = -7 WHERE id = (SELECT min(id) FROM characters WHERE xp >= 0)");
  };
  const auto during = scan(schema, parallel);
  EXPECT_TRUE(wrote);
  EXPECT_EQ(during.jobs, 3u);
  EXPECT_EQ(shown(during), shown(before));
  if (GetParam() == "sqlite") {
    ASSERT_EQ(before.dangling.size(), 3u) << shown(before);
    EXPECT_EQ(before.dangling[0].table, "orphans");
    EXPECT_EQ(before.dangling[0].rows, 2);
    EXPECT_EQ(before.dangling[1].table, "st_relationships");
    EXPECT_EQ(before.dangling[1].parent, "chronicles");
    EXPECT_EQ(before.dangling[2].parent, "users");
  }
  // Afterwards both see the write, and still agree.
  parallel.progress = nullptr;
  const auto after_serial = scan(schema, serial), after_parallel = scan(schema, parallel);
  EXPECT_EQ(shown(after_parallel), shown(after_serial));
  EXPECT_EQ(by_name(after_serial).at("characters_xp_nonnegative")->violations,
            by_name(before).at("characters_xp_nonnegative")->violations + 1);
}

// Without --jobs a scan reads in parallel where the dialect does it in the
// client (SQLite, one connection per core) and a table is large enough to
// split; a writer holding SQLite's write lock makes it read alone at once,
// not wait for the lock.
TEST_P(ScanTest, DefaultJobsFollowTheDialectAndNeverWaitForAWriter) {
  db_->load_fixture(1000);
  const auto schema = model::load_schema_dir(test::source_dir() / "schema");
  const std::string url = db_->url();
  ScanOptions options;
  options.sample = 2;
  options.jobs = 0;
  options.split_min_rows = 1;
  options.open = [url](bool read_only) {
    auto c = test::connect(url, read_only);
    if (url.rfind("sqlite:", 0) == 0) c->execute("PRAGMA busy_timeout = 20000");
    return c;
  };
  ScanOptions serial = options;
  serial.jobs = 1;
  const auto one = scan(schema, serial);
  auto same = [&](ScanReport r) {
    r.elapsed_ms = 0;
    r.jobs = 0;
    return to_json(r).dump(1);
  };
  auto c = test::connect(url);
  const auto expected = static_cast<size_t>(c->dialect().capabilities().scan_jobs);
  EXPECT_EQ(GetParam() == "sqlite", expected > 1 || std::thread::hardware_concurrency() < 2);
  const auto wide = scan(schema, options);
  EXPECT_EQ(wide.jobs, expected);
  EXPECT_EQ(same(wide), same(one));
  options.split_min_rows = 1'000'000'000;  // no table worth splitting
  EXPECT_EQ(scan(schema, options).jobs, 1u);
  if (GetParam() != "sqlite") return;
  options.split_min_rows = 1;
  options.jobs = 3;
  auto writer = test::connect(url);
  writer->execute("BEGIN IMMEDIATE");
  const auto started = std::chrono::steady_clock::now();
  const auto alone = scan(schema, options);
  const auto waited = std::chrono::steady_clock::now() - started;
  writer->rollback();
  EXPECT_EQ(alone.jobs, 1u);
  EXPECT_EQ(same(alone), same(one));
  EXPECT_LT(waited, std::chrono::seconds(10));  // the readers' busy timeout is 20 s
}

TEST_P(ScanTest, NullsPassChecksAndAreDistinctForUnique) {
  db_->exec("CREATE TABLE \"Mixed Case\" (\"Id\" integer PRIMARY KEY, \"Order\" integer, \"we\"\"ird\" text, "
            "a integer, b integer, c text)");
  db_->exec("INSERT INTO \"Mixed Case\" VALUES "
            "(1, -1, 'ok', 1, 1, 'x'), (2, NULL, 'bad', 1, 1, 'x'), (3, 5, NULL, 1, 1, NULL), (4, -7, 'ok', 1, 1, NULL), "
            "(5, 0, 'ok', 1, NULL, NULL), (6, 1, 'ok', 2, 2, 'y'), (7, 1, 'ok', 2, 2, 'y'), (8, 1, 'ok', 2, 2, 'y')");
  test::TempDir dir;
  test::write_file(dir / "schema/mixed.toml", R"(table = "Mixed Case"
[[check]]
name = "Order nonnegative"
column = "Order"
min = 0
[[check]]
name = "weird; not bad"
expr = "\"we\"\"ird\" <> 'bad'"
[[check]]
name = "order small"
expr = '"Order" < 100 OR "Order" IS NULL'
[[unique]]
name = "abc"
columns = ["a", "b", "c"]
[[unique]]
name = "abc partial"
columns = ["a", "b", "c"]
where = "c <> 'y'"
[[unique]]
name = "a only"
columns = ["a"]
)");
  ScanOptions options;
  options.sample = 10;
  const auto report = scan(model::load_schema_dir(dir / "schema"), options);
  const auto got = by_name(report);
  EXPECT_EQ(got.at("Order nonnegative")->violations, 2);  // -1, -7; NULL passes
  EXPECT_EQ(got.at("weird; not bad")->violations, 1);     // 'bad'; NULL passes
  EXPECT_EQ(got.at("order small")->violations, 0);
  EXPECT_EQ(got.at("abc")->groups, 2);                     // (1,1,'x') x2 and (2,2,'y') x3; NULL keys never collide
  EXPECT_EQ(got.at("abc")->violations, 3);
  EXPECT_EQ(got.at("abc partial")->groups, 1);
  EXPECT_EQ(got.at("abc partial")->violations, 1);
  EXPECT_EQ(got.at("a only")->violations, 6);              // a=1 five rows, a=2 three rows
  const auto* order = got.at("Order nonnegative");
  ASSERT_EQ(order->samples.size(), 2u);
  EXPECT_EQ(order->samples[0].key[0].first, "Id");
  EXPECT_EQ(dialect::value_int(order->samples[0].key[0].second), 1);
  EXPECT_EQ(dialect::value_int(order->samples[1].key[0].second), 4);
  const auto* weird = got.at("weird; not bad");
  ASSERT_EQ(weird->samples.size(), 1u);
  ASSERT_EQ(weird->samples[0].values.size(), 1u);
  EXPECT_EQ(weird->samples[0].values[0].first, "we\"ird");
  EXPECT_EQ(dialect::value_text(weird->samples[0].values[0].second), "bad");
  const auto* abc = got.at("abc");
  ASSERT_EQ(abc->samples.size(), 2u);
  EXPECT_EQ(abc->samples[0].ids, "1,2");
  EXPECT_EQ(abc->samples[1].ids, "6,7,8");
}

TEST_P(ScanTest, SchemaMismatchesAreReportedBeforeScanning) {
  db_->exec("CREATE TABLE t (id integer PRIMARY KEY, x integer)");
  test::TempDir dir;
  test::write_file(dir / "schema/t.toml", R"(table = "t"
[[check]]
name = "c1"
column = "nope"
min = 0
[[check]]
name = "c2"
expr = "y > 0"
[[check]]
name = "c3"
expr = "x + "
)");
  test::write_file(dir / "schema/u.toml", "table = \"missing\"\n[[unique]]\nname = \"u\"\ncolumns = [\"a\"]\n");
  try {
    scan(model::load_schema_dir(dir / "schema"));
    FAIL() << "expected a schema error";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("t.toml:2:1: check 'c1': table 't' has no column 'nope'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("t.toml:6:1: check 'c2': the database rejects the expression"), std::string::npos) << msg;
    EXPECT_NE(msg.find("t.toml:9:1: check 'c3': the database rejects the expression"), std::string::npos) << msg;
    EXPECT_NE(msg.find("u.toml:1:9: table 'missing' does not exist"), std::string::npos) << msg;
  }
}

TEST_P(ScanTest, PresentConstraintsAreRecognised) {
  if (GetParam() == "sqlite") {
    db_->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, x INT CONSTRAINT t_x_pos CHECK (x > 0), y INT, "
              "CONSTRAINT t_y_unique UNIQUE (y))");
    db_->exec("CREATE UNIQUE INDEX t_xy ON t (x, y)");
  } else {
    db_->exec("CREATE TABLE t (id integer PRIMARY KEY, x integer CONSTRAINT t_x_pos CHECK (x > 0), y integer, "
              "CONSTRAINT t_y_unique UNIQUE (y))");
    db_->exec("CREATE UNIQUE INDEX t_xy ON t (x, y)");
  }
  test::TempDir dir;
  test::write_file(dir / "schema/t.toml", R"(table = "t"
[[check]]
name = "t_x_pos"
expr = "x > 0"
[[check]]
name = "t_x_small"
expr = "x < 10"
[[unique]]
name = "t_y_unique"
columns = ["y"]
[[unique]]
name = "t_xy"
columns = ["x", "y"]
)");
  const auto report = scan(model::load_schema_dir(dir / "schema"));  // by_name points into it
  const auto got = by_name(report);
  EXPECT_TRUE(got.at("t_x_pos")->present);
  EXPECT_FALSE(got.at("t_x_small")->present);
  EXPECT_TRUE(got.at("t_y_unique")->present);
  EXPECT_TRUE(got.at("t_xy")->present);
}

INSTANTIATE_TEST_SUITE_P(Dialects, ScanTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::scan
