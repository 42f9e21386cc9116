// The constraintctl binary as users and scripts see it: exit codes, JSON
// shape, messages, and no password in any output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

class CliSqlite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    make_sqlite_fixture(*dir_ / "fixture.db", 1000);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string db() { return "sqlite:" + (*dir_ / "fixture.db").string(); }
  static TempDir* dir_;
};
TempDir* CliSqlite::dir_ = nullptr;

TEST_F(CliSqlite, ScanFindsViolationsExitCodeOne) {
  auto r = run_cli({"--db", db(), "scan"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("characters_xp_nonnegative"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("25 of 25 constraints violated"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // progress only on a terminal
}

TEST_F(CliSqlite, ScanJsonHasTheDocumentedKeys) {
  auto r = run_cli({"scan", "--db", db(), "--json"});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  auto expected = expected_counts(1000);
  ASSERT_EQ(doc["constraints"].size(), 25u);
  std::map<std::string, nlohmann::json> got;
  for (const auto& c : doc["constraints"]) {
    for (const char* key : {"table", "name", "kind", "violations"}) EXPECT_TRUE(c.contains(key)) << key;
    got[c["name"]] = c;
  }
  for (const auto& e : expected["constraints"]) {
    EXPECT_EQ(got[e["name"]]["violations"], e["violations"]) << e["name"];
    EXPECT_EQ(got[e["name"]]["kind"], e["kind"]) << e["name"];
    EXPECT_EQ(got[e["name"]]["table"], e["table"]) << e["name"];
  }
  EXPECT_EQ(doc["dialect"], "sqlite");
  EXPECT_GT(doc["summary"]["violations"].get<int>(), 0);
  EXPECT_FALSE(got["characters_xp_nonnegative"]["samples"].empty());
}

TEST_F(CliSqlite, TableFilterAndEnvironmentVariable) {
  auto r = run_cli({"scan", "--table", "characters", "--json"}, source_dir(), {"CONSTRAINTCTL_DB=" + db()});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["constraints"].size(), 2u);
  auto bad = run_cli({"scan", "--table", "nope"}, source_dir(), {"CONSTRAINTCTL_DB=" + db()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--table 'nope'"), std::string::npos) << bad.err;
}

TEST_F(CliSqlite, CleanDatabaseExitsZero) {
  TempDir dir;
  shell("sqlite3 " + (dir / "clean.db").string() + " 'CREATE TABLE t (id INTEGER PRIMARY KEY, x INT); INSERT INTO t VALUES (1, 5);'");
  write_file(dir / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"t_x\"\ncolumn = \"x\"\nmin = 0\n");
  auto r = run_cli({"--db", "sqlite:clean.db", "scan"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("ok: no violations"), std::string::npos) << r.out;
}

TEST_F(CliSqlite, ConfigFileSuppliesTheDatabase) {
  TempDir dir;
  shell("sqlite3 " + (dir / "app.db").string() + " 'CREATE TABLE t (id INTEGER PRIMARY KEY, x INT); INSERT INTO t VALUES (1, -5);'");
  write_file(dir / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"t_x\"\ncolumn = \"x\"\nmin = 0\n");
  write_file(dir / "constraintctl.toml", "database = \"sqlite:app.db\"\n");
  auto r = run_cli({"--project", dir.path().string(), "scan", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["constraints"][0]["violations"], 1);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_cli({}).exit_code, 2);
  EXPECT_EQ(run_cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_cli({"scan", "--sample", "-3"}).exit_code, 2);
  auto r = run_cli({"scan"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no database given"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"--help"}).exit_code, 0);
  auto v = run_cli({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("constraintctl "), std::string::npos);
}

TEST(Cli, MissingSqliteFileExitsThreeAndCreatesNothing) {
  TempDir dir;
  auto r = run_cli({"--db", "sqlite:" + (dir / "missing.db").string(), "scan"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));
}

// Run from a directory that is no project (no schema/, no migrations/):
// apply and rollback say so instead of "nothing to do", and touch nothing.
TEST(Cli, ApplyOutsideAProjectIsAUsageErrorNotNothingToDo) {
  TempDir dir;
  const auto db = dir / "app.db";
  shell("sqlite3 " + db.string() + " 'CREATE TABLE t (x INTEGER)'");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"apply"}, {"apply", "--dry-run"}, {"rollback", "--to", "0"}}) {
    std::vector<std::string> cmd = {"--db", "sqlite:" + db.string()};
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto r = run_cli(cmd, dir.path());
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("migrations directory 'migrations' does not exist"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("othing to do"), std::string::npos) << r.out;
  }
  shell("sqlite3 " + db.string() + " 'SELECT group_concat(name) FROM sqlite_schema' > " + (dir / "names").string());
  EXPECT_EQ(read_file(dir / "names"), "t\n");  // no bookkeeping table was created
}

TEST(Cli, BadSchemaExitsTwoBeforeConnecting) {
  TempDir dir;
  write_file(dir / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0); DROP TABLE canary; --\"\n");
  // The database does not exist: if the schema error comes first, no connection was tried.
  auto r = run_cli({"--db", "sqlite:nowhere.db", "scan"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("schema/t.toml:4:8"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("does not exist"), std::string::npos) << r.err;
}

TEST(Cli, PasswordsNeverReachOutput) {
  for (const std::string url : {"postgresql://app:TopSecret-42@127.0.0.1:1/app?connect_timeout=2",
                                "postgresql://app:TopSecret-42@127.0.0.1:notaport/app",
                                "postgresql:host=127.0.0.1 port=1 password=TopSecret-42 connect_timeout=2"}) {
    for (bool verbose : {false, true}) {
      std::vector<std::string> args = {"--db", url, "scan"};
      if (verbose) args.push_back("--verbose");
      auto r = run_cli(args);
      EXPECT_NE(r.exit_code, 0);
      EXPECT_EQ(r.out.find("TopSecret"), std::string::npos) << r.out;
      EXPECT_EQ(r.err.find("TopSecret"), std::string::npos) << r.err;
      EXPECT_FALSE(r.err.empty());
    }
  }
}

// The forms of issue 16, through the binary against a port nobody listens on:
// the header (display()), libpq's errors and our own must hide every spelling.
TEST(Cli, PasswordFormsNeverReachOutput) {
  TempDir dir;
  write_file(dir / "pgpass", "*:*:*:*:From-Passfile-9\n");
  shell("chmod 600 " + (dir / "pgpass").string());
  struct Form {
    std::string url;
    std::vector<std::string> leaks;
  };
  const std::vector<Form> forms = {
      {"postgresql://app@127.0.0.1:1/app?password=Pw%5fSecret&connect_timeout=2", {"Pw_Secret", "Pw%5fSecret", "Pw%5FSecret"}},
      {"postgresql:host=127.0.0.1 port=1 password='it\\'s-s3cret' connect_timeout=2", {"it's-s3cret", "s3cret"}},
      {"postgresql://app:Pw_Secret#42@x:y/z@host/db", {"Pw_Secret", "#42", "x:y/z", "y/z", "z@host"}},
      {"postgresql://app@127.0.0.1:1/app?passfile=" + (dir / "pgpass").string() + "&connect_timeout=2", {"From-Passfile-9"}},
      {"postgresql://app:co:lon:pw@127.0.0.1:1/app?connect_timeout=2", {"co:lon:pw", "lon:pw"}},
      {"postgresql://app:Enc%40%3a%2Fpw@127.0.0.1:1/app?connect_timeout=2", {"Enc@:/pw", "Enc%40%3a%2Fpw", "%3a%2Fpw"}},
  };
  for (const auto& f : forms) {
    for (const std::string command : {"status", "scan"}) {
      auto r = run_cli({"--db", f.url, command, "--json"});
      SCOPED_TRACE(f.url + " " + command);
      EXPECT_TRUE(r.exit_code == 2 || r.exit_code == 3) << r.exit_code << r.err;
      EXPECT_FALSE(r.err.empty());
      for (const auto& leak : f.leaks) {
        EXPECT_EQ(r.out.find(leak), std::string::npos) << r.out;
        EXPECT_EQ(r.err.find(leak), std::string::npos) << r.err;
      }
    }
  }
}

// A small SQLite project: table t with one violating row, schema/, migrations/.
static void small_project(const TempDir& dir) {
  shell("sqlite3 " + (dir / "app.db").string() +
        " 'CREATE TABLE t (id INTEGER PRIMARY KEY, x INT); INSERT INTO t VALUES (1, 5);'");
  write_file(dir / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"t_x\"\ncolumn = \"x\"\nmin = 0\n");
  ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
}

// The refusal's table is read from migrations/, which hold no repairs: it
// shows the policies schema/ declares, with the file:line of each.
TEST(Cli, ApplyRefusalShowsTheDeclaredRepairsAndWhereTheyAre) {
  TempDir dir;
  shell("sqlite3 " + (dir / "app.db").string() +
        " 'CREATE TABLE t (id INTEGER PRIMARY KEY, x INT, y INT); INSERT INTO t VALUES (1, -5, 7), (2, 1, 7);'");
  write_file(dir / "schema/t.toml",
             "table = \"t\"\n\n[[check]]\nname = \"t_x\"\ncolumn = \"x\"\nmin = 0\nrepair = \"clamp\"\n\n"
             "[[unique]]\nname = \"t_y\"\ncolumns = [\"y\"]\nrepair = \"delete_duplicates\"\n");
  ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
  auto r = run_cli({"--db", "sqlite:app.db", "apply"}, dir.path());
  ASSERT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("DECLARED AT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clamp              schema/t.toml:3:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("delete_duplicates  schema/t.toml:9:1"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("constraintctl apply --fix"), std::string::npos) << r.err;
  auto j = run_cli({"--db", "sqlite:app.db", "apply", "--json"}, dir.path());
  ASSERT_EQ(j.exit_code, 1) << j.err;
  const auto doc = nlohmann::json::parse(j.out);
  const auto& constraints = doc["scan"]["constraints"];
  ASSERT_EQ(constraints.size(), 2u) << j.out;
  for (const auto& c : constraints) {
    EXPECT_EQ(c["repair"], c["name"] == "t_x" ? "clamp" : "delete_duplicates") << c;
    EXPECT_EQ(c["source"], c["name"] == "t_x" ? "schema/t.toml:3:1" : "schema/t.toml:9:1") << c;
  }
  // apply --fix repairs by exactly those policies, then applies.
  auto fixed = run_cli({"--db", "sqlite:app.db", "apply", "--fix"}, dir.path());
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err << fixed.out;
  auto db = connect("sqlite:" + (dir / "app.db").string());
  std::string rows;
  db->query("SELECT id || ':' || x || ':' || y FROM t ORDER BY id",
            [&](const dialect::Row& row) { rows += dialect::value_text(row[0]) + " "; });
  EXPECT_EQ(rows, "1:0:7 ");  // clamped; the duplicate of y = 7 (the higher id) deleted
}

// A database error is one line with its kind and code; a lock another
// session holds is exit 4 (run again later), not 3; --json names it too.
TEST(Cli, HeldSqliteLockIsExitFourWithItsCodeInOneLine) {
  TempDir dir;
  small_project(dir);
  write_file(dir / "constraintctl.toml", "[sqlite]\nbusy_timeout_ms = 200\n");
  // Another process holds the write lock for 3 s.
  const std::string holder =
      "(echo 'BEGIN IMMEDIATE; INSERT INTO t VALUES (9, 9);'; sleep 3; echo 'ROLLBACK;') | sqlite3 " +
      (dir / "app.db").string() + " &";
  ASSERT_EQ(std::system(holder.c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto r = run_cli({"--db", "sqlite:app.db", "apply"}, dir.path());
  auto j = run_cli({"--db", "sqlite:app.db", "apply", "--json"}, dir.path());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("database is locked"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(busy, SQLITE_BUSY (5))"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find("soci"), std::string::npos) << r.err;
  ASSERT_EQ(j.exit_code, 4) << j.err;
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["error"]["code"], 4);
  EXPECT_EQ(doc["error"]["database"]["kind"], "busy") << j.out;
  EXPECT_EQ(doc["error"]["database"]["code"], "5") << j.out;
  // Nothing was applied, the holder's row rolled back; once the lock is gone apply runs.
  auto again = run_cli({"--db", "sqlite:app.db", "apply"}, dir.path());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("applied"), std::string::npos) << again.out;
}

TEST(Cli, ConfigThatIsAFifoIsAUsageErrorNotAHang) {
  TempDir dir;
  small_project(dir);
  shell("mkfifo " + (dir / "constraintctl.toml").string());
  // Through timeout(1): before the fix the command blocked opening the FIFO.
  const auto err = dir / "err.txt";
  const int rc = std::system(("cd " + dir.path().string() + " && timeout 20 " + CONSTRAINTCTL_BIN +
                              " --db sqlite:app.db scan 2>" + err.string() + " >/dev/null")
                                 .c_str());
  EXPECT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2) << read_file(err);
  EXPECT_NE(read_file(err).find("constraintctl.toml' is not a regular file"), std::string::npos) << read_file(err);
}

TEST(Cli, ApplyOnAnEmptyFileLeavesItEmpty) {
  TempDir dir;
  small_project(dir);
  write_file(dir / "empty.db", "");
  for (const std::string command : {"apply", "status", "drop-checks", "verify"}) {
    auto r = run_cli({"--db", "sqlite:empty.db", command}, dir.path());
    EXPECT_EQ(r.exit_code, 3) << command << r.err << r.out;
    EXPECT_NE(r.err.find("empty (0 bytes)"), std::string::npos) << r.err;
    EXPECT_EQ(std::filesystem::file_size(dir / "empty.db"), 0u) << command;
  }
}

TEST(Cli, TamperedHistoryVersionIsNamedNotReadAsOne) {
  for (const std::string version : {"4294967297", "1.5", "'1x'"}) {
    SCOPED_TRACE(version);
    TempDir dir;
    small_project(dir);
    ASSERT_EQ(run_cli({"--db", "sqlite:app.db", "apply", "-q"}, dir.path()).exit_code, 0);
    shell("sqlite3 " + (dir / "app.db").string() + " \"UPDATE constraintctl_history SET version = " + version +
          " WHERE id = 1\"");
    for (const std::string command : {"status", "rollback"}) {
      std::vector<std::string> args = {"--db", "sqlite:app.db", command};
      if (command == "rollback") args.insert(args.end(), {"--to", "0"});
      auto r = run_cli(args, dir.path());
      EXPECT_EQ(r.exit_code, 3) << command << r.err << r.out;
      EXPECT_NE(r.err.find("tampered history: constraintctl_history row 1"), std::string::npos) << r.err;
    }
    EXPECT_EQ(run_cli({"--db", "sqlite:app.db", "verify"}, dir.path()).exit_code, 3);
  }
}

TEST(Cli, SymlinkLoopInSchemaIsAUsageErrorNamingIt) {
  TempDir dir;
  small_project(dir);
  std::filesystem::create_symlink("loop.toml", dir / "schema/loop.toml");
  auto r = run_cli({"--db", "sqlite:app.db", "scan"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("schema/loop.toml"), std::string::npos) << r.err;
  std::filesystem::remove(dir / "schema/loop.toml");
  std::filesystem::create_symlink("b", dir / "schema/a");
  std::filesystem::create_symlink("a", dir / "schema/b");
  r = run_cli({"--db", "sqlite:app.db", "scan"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.find("schema/a'") != std::string::npos || r.err.find("schema/b'") != std::string::npos) << r.err;
  EXPECT_NE(r.err.find("symbolic links"), std::string::npos) << r.err;
  // The same in migrations/, and for the schema directory itself.
  std::filesystem::remove(dir / "schema/a");
  std::filesystem::remove(dir / "schema/b");
  std::filesystem::create_symlink("0002_loop.toml", dir / "migrations/0002_loop.toml");
  r = run_cli({"--db", "sqlite:app.db", "status"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("migrations/0002_loop.toml"), std::string::npos) << r.err;
  std::filesystem::create_symlink("s2", dir / "s1");
  std::filesystem::create_symlink("s1", dir / "s2");
  r = run_cli({"--db", "sqlite:app.db", "--schema", "s1", "scan"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'s1' cannot be read"), std::string::npos) << r.err;
}

TEST(CliPostgres, ScanJsonMatchesExpectedCounts) {
  CC_REQUIRE_POSTGRES();
  PgDatabase db;
  db.load_fixture(1000);
  auto r = run_cli({"scan", "--db", db.url(), "--json"});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["dialect"], "postgresql");
  std::map<std::string, nlohmann::json> got;
  for (const auto& c : doc["constraints"]) got[c["name"]] = c;
  const auto expected = expected_counts(1000);
  for (const auto& e : expected["constraints"]) EXPECT_EQ(got[e["name"]]["violations"], e["violations"]) << e["name"];
}

// A declared expression is evaluated per row by scan, verify and fix: one that
// calls a VOLATILE function must be refused before any of them runs.
TEST(CliPostgres, VolatileFunctionsInExpressionsAreSchemaErrors) {
  CC_REQUIRE_POSTGRES();
  PgDatabase db;
  db.psql("CREATE TABLE t (id integer PRIMARY KEY, x integer); INSERT INTO t VALUES (1, 5), (2, 6)");
  auto victim = connect(db.url());
  std::int64_t pid = 0;
  victim->query("SELECT pg_backend_pid()", [&](const dialect::Row& r) { pid = dialect::value_int(r[0]); });
  for (const std::string& expr : std::vector<std::string>{"pg_terminate_backend(" + std::to_string(pid) + ") IS NOT NULL", "random() > 2",
                                 "x > 0 AND pg_catalog.pg_terminate_backend(" + std::to_string(pid) + ")"}) {
    SCOPED_TRACE(expr);
    TempDir dir;
    write_file(dir / "schema/t.toml", "table = \"t\"\n\n[[check]]\nname = \"t_x\"\nexpr = \"" + expr + "\"\n");
    for (const std::string command : {"scan", "health"}) {
      auto r = run_cli({"--db", db.url(), command}, dir.path());
      EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
      EXPECT_NE(r.err.find("schema/t.toml:3:1"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(expr.substr(0, 6) == "random" ? "random()" : "pg_terminate_backend()"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("VOLATILE"), std::string::npos) << r.err;
    }
  }
  // User-defined: a writing function (VOLATILE by default), in another schema,
  // and an operator implemented by one.
  db.psql("CREATE SCHEMA app; CREATE FUNCTION app.bump(v integer) RETURNS boolean LANGUAGE sql "
          "AS 'UPDATE t SET x = x + 1 RETURNING true'; "
          "CREATE FUNCTION app_eq(a integer, b integer) RETURNS boolean LANGUAGE sql AS 'SELECT a = b'; "
          "CREATE OPERATOR === (LEFTARG = integer, RIGHTARG = integer, FUNCTION = app_eq)");
  for (const std::string expr : {"app.bump(x)", "x === 5"}) {
    SCOPED_TRACE(expr);
    TempDir dir;
    write_file(dir / "schema/t.toml", "table = \"t\"\n\n[[check]]\nname = \"t_x\"\nexpr = \"" + expr + "\"\n");
    auto r = run_cli({"--db", db.url(), "scan"}, dir.path());
    EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
    EXPECT_NE(r.err.find(expr == "x === 5" ? "operator === (app_eq)" : "app.bump()"), std::string::npos) << r.err;
  }
  std::int64_t sum = 0;
  connect(db.url())->query("SELECT sum(x) FROM t", [&](const dialect::Row& r) { sum = dialect::value_int(r[0]); });
  EXPECT_EQ(sum, 11);  // nothing ran the function
  std::int64_t alive = 0;
  EXPECT_NO_THROW(victim->query("SELECT 1", [&](const dialect::Row& r) { alive = dialect::value_int(r[0]); }));
  EXPECT_EQ(alive, 1);
  // IMMUTABLE and STABLE functions and ordinary operators remain fine.
  TempDir ok;
  write_file(ok / "schema/t.toml",
             "table = \"t\"\n\n[[check]]\nname = \"t_x\"\nexpr = \"abs(x) >= 0 AND now() IS NOT NULL AND lower('A') || 'b' = 'ab'\"\n");
  auto r = run_cli({"--db", db.url(), "scan"}, ok.path());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
}

TEST(CliPostgres, WrongPasswordIsADatabaseErrorWithoutThePassword) {
  CC_REQUIRE_POSTGRES();
  // The throwaway server trusts everyone, so use a database that does not exist.
  std::string url = postgres_url();
  url.insert(url.find("://") + 3 + url.substr(url.find("://") + 3).find('@'), ":Hidden-pw-7");
  url = url.substr(0, url.rfind('/')) + "/no_such_db";
  auto r = run_cli({"--db", url, "scan"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.find("Hidden-pw-7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no_such_db"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// Text output as users read it, as golden files (timing normalised).
std::string normalised(std::string text, const std::string& db_path) {
  for (size_t pos; (pos = text.find(db_path)) != std::string::npos;) text.replace(pos, db_path.size(), "DB");
  const std::string marker = " constraints, ";
  if (auto pos = text.find(marker); pos != std::string::npos) {
    auto end = text.find('\n', pos);
    text.replace(pos + marker.size(), end - pos - marker.size(), "T s");
  }
  return text;
}

TEST(CliText, ScanAndFixOutputGolden) {
  TempDir dir;
  make_sqlite_fixture(dir / "g.db", 1000);
  const std::string db = "sqlite:" + (dir / "g.db").string();
  auto scan = run_cli({"--db", db, "scan", "--verbose", "--sample", "2", "--table", "humans"});
  EXPECT_EQ(scan.exit_code, 1);
  expect_golden("cli/scan_humans_verbose.txt", normalised(scan.out, (dir / "g.db").string()));
  auto dry = run_cli({"--db", db, "scan", "--fix", "--dry-run", "--table", "characters"});
  expect_golden("cli/fix_dry_run_characters.txt", normalised(dry.out, (dir / "g.db").string()));
  auto err = run_cli({"--db", db, "scan", "--table", "nope"});
  expect_golden("cli/error_unknown_table.txt", err.err);
}

TEST(CliText, ColourOnlyOnATerminalAndNeverWithNoColor) {
  TempDir dir;
  make_sqlite_fixture(dir / "c.db", 1000);
  const std::string cmd = std::string(CONSTRAINTCTL_BIN) + " --project " + source_dir().string() + " --db sqlite:" +
                          (dir / "c.db").string() + " scan -q";
  auto piped = run_cli({"--db", "sqlite:" + (dir / "c.db").string(), "scan", "-q"});
  EXPECT_EQ(piped.out.find("\033["), std::string::npos);
  // `script` gives the command a pseudo-terminal. Its input stays open (a
  // sleeping pipe): at end of input script may stop before the command ends.
  shell("sleep 2 | script -qec '" + cmd + "' /dev/null > " + (dir / "tty.txt").string() + " 2>&1 || true");
  EXPECT_NE(read_file(dir / "tty.txt").find("\033[1;31m"), std::string::npos) << read_file(dir / "tty.txt");
  shell("sleep 2 | NO_COLOR=1 script -qec '" + cmd + "' /dev/null > " + (dir / "nocolor.txt").string() + " 2>&1 || true");
  EXPECT_EQ(read_file(dir / "nocolor.txt").find("\033["), std::string::npos);
  EXPECT_NE(read_file(dir / "nocolor.txt").find("25 of 25 constraints violated"), std::string::npos);
}

TEST(CliText, EveryCommandHasHelpWithExamples) {
  for (const std::string cmd : {"scan", "apply", "drop-checks", "generate"}) {
    auto r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << cmd << r.out;
  }
  for (const std::string cmd : {"status", "rollback", "verify", "health", "fix-undo"}) {
    EXPECT_EQ(run_cli({cmd, "--help"}).exit_code, 0) << cmd;
  }
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// The second example domain's README flow, end to end.
TEST(ExampleBookshop, ReadmeFlow) {
  TempDir dir;
  std::filesystem::copy(source_dir() / "examples/bookshop", dir.path(), std::filesystem::copy_options::recursive);
  shell("sqlite3 " + (dir / "shop.db").string() + " < " + (dir / "fixtures/sqlite.sql").string());
  auto scan = run_cli({"scan", "--json"}, dir.path());
  EXPECT_EQ(scan.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(scan.out)["summary"]["violations"], 9);
  EXPECT_EQ(run_cli({"generate"}, dir.path()).out.find("wrote"), std::string::npos);  // migrations/ is up to date
  EXPECT_EQ(run_cli({"scan", "--fix", "-q"}, dir.path()).exit_code, 1);  // the report-only rule remains
  EXPECT_EQ(run_cli({"apply"}, dir.path()).exit_code, 1);                // refused because of it
  connect("sqlite:" + (dir / "shop.db").string())->execute("UPDATE books SET isbn = '9780000000005' WHERE id = 5");
  EXPECT_EQ(run_cli({"apply"}, dir.path()).exit_code, 0);
  EXPECT_EQ(run_cli({"verify"}, dir.path()).exit_code, 0);
}

}  // namespace
}  // namespace cc::test
