// Crashes, lost connections, tampering and hostile names, with real
// processes: the binary kills itself at chosen points (CONSTRAINTCTL_FAULT),
// and afterwards the database must be exactly before or after the step,
// never between, with no row lost and a rerun that just works.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

const std::vector<std::string> kTables = {"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships",
                                          "users", "chronicles", "character_log"};

class CrashTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    load_fixture(1000);
  }
  RunResult cli(std::vector<std::string> args, std::vector<std::string> env = {}) const {
    args.insert(args.begin(), {"--db", url_});
    return run_cli(args, source_dir(), env);
  }
  // Row content of every table, plus the constraint catalog and history.
  std::string state() {
    std::string out = content(kTables);
    auto db = connect(url_);
    if (pg()) {
      db->query("SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                "AND conrelid::regclass::text NOT LIKE 'constraintctl%' ORDER BY 1",
                [&](const dialect::Row& r) { out += dialect::value_text(r[0]) + "\n"; });
      db->query("SELECT count(*) FROM pg_index WHERE NOT indisvalid", [&](const dialect::Row& r) { out += "invalid " + dialect::value_text(r[0]) + "\n"; });
    } else {
      db->query("SELECT type, name, sql FROM sqlite_schema WHERE tbl_name NOT LIKE 'constraintctl%' ORDER BY name",
                [&](const dialect::Row& r) { out += dialect::value_text(r[1]) + ": " + dialect::value_text(r[2]) + "\n"; });
    }
    return out;
  }
  std::int64_t history_rows() {
    const std::string exists = pg() ? "SELECT count(*) FROM pg_class WHERE relname = 'constraintctl_history'"
                                    : "SELECT count(*) FROM sqlite_schema WHERE name = 'constraintctl_history'";
    return scalar(exists) == 0 ? 0 : scalar("SELECT count(*) FROM constraintctl_history");
  }
  void expect_sound() {
    if (!pg()) {
      std::string ok;
      connect(url_)->query("PRAGMA integrity_check", [&](const dialect::Row& r) { ok = dialect::value_text(r[0]); });
      EXPECT_EQ(ok, "ok");
      EXPECT_EQ(scalar("SELECT count(*) FROM pragma_foreign_key_check"), 0);
      EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc_new_%'"), 0);
    }
  }
};

TEST_P(CrashTest, KillDuringFixChangesNothing) {
  const auto before = state();
  // fix-rule is reached after each repair statement: one per batch of
  // independent rules of a table (5 on the reference schema).
  for (const std::string point : {"kill@fix-rule#1", "kill@fix-rule#4", "kill@before-commit"}) {
    SCOPED_TRACE(point);
    auto r = cli({"scan", "--fix", "-q"}, {"CONSTRAINTCTL_FAULT=" + point});
    EXPECT_EQ(r.exit_code, 128 + 9) << r.err;
    EXPECT_EQ(state(), before);
    expect_sound();
  }
  auto r = cli({"scan", "--fix", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_fix_runs"), 1);  // only the run that finished
}

TEST_P(CrashTest, KillAtEveryStepOfApplyLeavesBeforeOrAfter) {
  ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
  const auto before = state();
  std::vector<std::string> points;
  if (pg()) {
    points = {"kill@pg-after-index-builds", "kill@pg-exclusive-step#1", "kill@before-commit",
              "kill@pg-exclusive-step#3",   "kill@pg-validated#1",      "kill@pg-validated#3"};
  } else {
    for (int k = 1; k <= 70; k += 3) points.push_back("kill@sqlite-statement#" + std::to_string(k));
    points.push_back("kill@before-commit");
  }
  int killed = 0;
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    auto r = cli({"apply"}, {"CONSTRAINTCTL_FAULT=" + point});
    if (r.exit_code == 0) break;  // past the last statement: the apply completed
    ASSERT_EQ(r.exit_code, 128 + 9) << r.err;
    ++killed;
    EXPECT_EQ(history_rows(), 0);  // never half-recorded
    expect_sound();
    if (!pg() || point == "kill@pg-exclusive-step#1" || point == "kill@before-commit") {
      EXPECT_EQ(state(), before);  // transactional steps: all or nothing
    } else {
      // Past the transactional step PostgreSQL keeps what committed (valid
      // indexes, NOT VALID checks); the rerun resumes from there.
      ASSERT_EQ(cli({"apply"}).exit_code, 0);
      EXPECT_EQ(history_rows(), 1);
      ASSERT_EQ(cli({"rollback", "--to", "0"}).exit_code, 0);
      connect(url_)->execute("DELETE FROM constraintctl_history");
      EXPECT_EQ(state(), before);
    }
  }
  EXPECT_GT(killed, pg() || sqlite_native_alter() ? 3 : 10);  // a rebuild has many more statements
  auto r = cli({"apply"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = cli({"verify", "--json"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_history WHERE direction = 'up'"), 1);
}

// The opt-in SQLite add-CHECK without a rebuild (scan, writable_schema
// edit, schema_version bump, integrity_check, all in one write
// transaction): a kill after any of its statements leaves the file as it
// was, sound, and the rerun applies it.
TEST_P(CrashTest, KillAtEveryStepOfNoRebuildApplyLeavesBeforeOrAfter) {
  if (pg()) GTEST_SKIP() << "SQLite only";
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no schema edit";
  ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
  const auto before = state();
  auto dry = cli({"apply", "--sqlite-no-rebuild", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out.find("cc_new_"), std::string::npos) << dry.out;  // no table is rebuilt
  int killed = 0;
  for (int k = 1; k <= 40; ++k) {
    const std::string point = "kill@sqlite-statement#" + std::to_string(k);
    SCOPED_TRACE(point);
    auto r = cli({"apply", "--sqlite-no-rebuild"}, {"CONSTRAINTCTL_FAULT=" + point});
    if (r.exit_code == 0) break;  // past the last statement: the apply completed
    ASSERT_EQ(r.exit_code, 128 + 9) << r.err;
    ++killed;
    EXPECT_EQ(history_rows(), 0);
    expect_sound();
    EXPECT_EQ(state(), before);
  }
  EXPECT_GT(killed, 10);
  if (history_rows() == 0) {
    auto r = cli({"apply", "--sqlite-no-rebuild"}, {"CONSTRAINTCTL_FAULT=kill@before-commit"});
    ASSERT_EQ(r.exit_code, 128 + 9) << r.err;
    expect_sound();
    EXPECT_EQ(state(), before);
    r = cli({"apply", "--sqlite-no-rebuild"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  expect_sound();
  auto v = cli({"verify", "--json"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_history WHERE direction = 'up'"), 1);
}

TEST_P(CrashTest, TamperedHistoryIsNamed) {
  ASSERT_EQ(cli({"apply", "--fix", "-q"}).exit_code, 0);
  connect(url_)->execute("INSERT INTO constraintctl_history (version, name, checksum, direction, started_at, tool_version, applied_by) "
                         "SELECT version, name, checksum, direction, started_at, tool_version, applied_by FROM constraintctl_history");
  auto st = cli({"status"});
  EXPECT_EQ(st.exit_code, 1);
  EXPECT_NE(st.out.find("'up' twice in a row"), std::string::npos) << st.out;
  EXPECT_EQ(cli({"rollback", "--to", "0"}).exit_code, 2);  // refuses to act on a history it cannot trust
  connect(url_)->execute("INSERT INTO constraintctl_history (version, name, checksum, direction, started_at, tool_version, applied_by) "
                         "VALUES (7, 'ghost', 'x', 'up', '2026-01-01', 't', 'u')");
  EXPECT_NE(cli({"status"}).out.find("version 7 (ghost) is applied in the database but migrations/ has no file"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Dialects, CrashTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

TEST(PostgresConnectionLoss, TerminatedBackendExitsThreeAndRerunSucceeds) {
  CC_REQUIRE_POSTGRES();
  PgDatabase db;
  db.load_fixture(1000);
  ASSERT_EQ(run_cli({"--db", db.url(), "scan", "--fix", "-q"}).exit_code, 0);
  auto running = std::async(std::launch::async, [&] {
    return run_cli({"--db", db.url(), "apply"}, source_dir(), {"CONSTRAINTCTL_FAULT=sleep@pg-exclusive-step#2"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  connect(postgres_url())->execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'constraintctl' "
                                   "AND datname = '" + db.name() + "'");
  auto r = running.get();
  EXPECT_EQ(r.exit_code, 3) << r.err;
  std::int64_t n = -1;
  connect(db.url())->query("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'humans_%range'", [&](const dialect::Row& row) {
    n = dialect::value_int(row[0]);
  });
  EXPECT_EQ(n, 0);  // the transaction died with the connection
  auto again = run_cli({"--db", db.url(), "apply"}, source_dir(), {});
  EXPECT_EQ(again.exit_code, 0) << again.err;  // the advisory lock went with the session
}

// Hostile names from TOML round-trip through both catalogs; the canary survives.
class HostileNames : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileNames, RoundTripThroughApplyVerifyRollback) {
  std::unique_ptr<PgDatabase> pgdb;
  TempDir dir;
  std::string url;
  if (GetParam() == "postgresql") {
    CC_REQUIRE_POSTGRES();
    pgdb = std::make_unique<PgDatabase>();
    url = pgdb->url();
  } else {
    shell("sqlite3 " + (dir / "h.db").string() + " 'PRAGMA user_version = 1'");
    url = "sqlite:" + (dir / "h.db").string();
  }
  const std::string table = "x\"; DROP TABLE canary; --";
  auto db = connect(url);
  db->execute("CREATE TABLE canary (id integer PRIMARY KEY)");
  db->execute("INSERT INTO canary VALUES (1)");
  db->execute("CREATE TABLE \"x\"\"; DROP TABLE canary; --\" (id integer PRIMARY KEY, \"order\" integer, \"a\"\"b\" text, \"naïve Ünïcode\" integer)");
  db->execute("INSERT INTO \"x\"\"; DROP TABLE canary; --\" VALUES (1, 1, 'a', 1), (2, 2, 'b', 2)");
  const std::string long_name(63, 'n');
  write_file(dir / "schema/x.toml", "table = 'x\"; DROP TABLE canary; --'\n"
                                    "[[check]]\nname = 'check'\ncolumn = 'order'\nmin = 0\n"
                                    "[[check]]\nname = '" + long_name + "'\nexpr = '\"naïve Ünïcode\" < 100'\n"
                                    "[[check]]\nname = \"MiXeD \\\"q\\\" 's\"\ncolumn = 'a\"b'\nin = [\"a\", \"b\", \"it's\"]\n"
                                    "[[unique]]\nname = 'u; DROP TABLE canary'\ncolumns = ['a\"b']\n");
  ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
  auto r = run_cli({"--db", url, "apply"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = connect(url)->inspect_table({table});
  for (const std::string& name :
       {std::string("check"), long_name, std::string("MiXeD \"q\" 's"), std::string("u; DROP TABLE canary")}) {
    EXPECT_NE(info.find_constraint(name), nullptr) << name;
  }
  auto v = run_cli({"--db", url, "verify", "--json"}, dir.path());
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_THROW(connect(url)->execute("UPDATE \"x\"\"; DROP TABLE canary; --\" SET \"order\" = -1"), DatabaseError);
  ASSERT_EQ(run_cli({"--db", url, "rollback", "--to", "0"}, dir.path()).exit_code, 0);
  std::int64_t canary = 0;
  connect(url)->query("SELECT count(*) FROM canary", [&](const dialect::Row& row) { canary = dialect::value_int(row[0]); });
  EXPECT_EQ(canary, 1);
}

INSTANTIATE_TEST_SUITE_P(Dialects, HostileNames, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// SQLite runs out of disk in the middle of the rebuild's copy: a small tmpfs
// holds the database with too little room for the rebuilt tables.
TEST(SqliteDiskFull, RebuildFailsCleanlyWithStorageFull) {
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE ADD CONSTRAINT copies no table: nothing fills the disk";
  TempDir dir;
  const auto mnt = dir / "small";
  std::filesystem::create_directories(mnt);
  make_sqlite_fixture(dir / "seed.db", 3000);
  ASSERT_EQ(run_cli({"--db", "sqlite:" + (dir / "seed.db").string(), "scan", "--fix", "-q"}).exit_code, 0);
  const auto size = std::filesystem::file_size(dir / "seed.db");
  const std::string mount = "mount -t tmpfs -o size=" + std::to_string(size + size / 3) + " tmpfs " + mnt.string() + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) GTEST_SKIP() << "cannot mount a small tmpfs here (needs root)";
  struct Unmount {
    std::string path;
    ~Unmount() { std::system(("umount " + path).c_str()); }
  } unmount{mnt.string()};
  std::filesystem::copy_file(dir / "seed.db", mnt / "app.db");
  const std::string url = "sqlite:" + (mnt / "app.db").string();
  auto content = [&] {
    std::string out;
    auto db = connect(url);
    for (const char* t : {"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships"}) {
      db->query(std::string("SELECT * FROM ") + t + " ORDER BY 1", [&](const dialect::Row& r) {
        for (const auto& v : r) out += dialect::value_text(v) + "|";
      });
    }
    return out;
  };
  const auto before = content();
  auto r = run_cli({"--db", url, "apply"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("storage full"), std::string::npos) << r.err;
  EXPECT_EQ(content(), before);
  std::string ok;
  connect(url)->query("PRAGMA integrity_check", [&](const dialect::Row& row) { ok = dialect::value_text(row[0]); });
  EXPECT_EQ(ok, "ok");
  std::int64_t leftovers = -1;
  connect(url)->query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc_new_%'", [&](const dialect::Row& row) {
    leftovers = dialect::value_int(row[0]);
  });
  EXPECT_EQ(leftovers, 0);
}

}  // namespace
}  // namespace cc::test
