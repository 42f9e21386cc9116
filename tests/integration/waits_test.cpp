// Bounded waits and the tool's own timeouts on PostgreSQL (issues 16 and 17):
// production roles carry statement_timeout, lock_timeout and
// idle_in_transaction_session_timeout guards, migrations run as the table
// owner (no superuser), and another session may hold a lock or an old
// transaction open. Whatever happens, apply either completes with every
// constraint validated or exits 4 naming the session it waited for, and
// never leaves an INVALID index behind.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/test_support.h"

namespace cc::test {
namespace {

constexpr const char* kBigSchema = R"(table = "big"

[[check]]
name = "big_v_nonnegative"
column = "v"
min = 0
repair = "clamp"

[[unique]]
name = "big_code_unique"
columns = ["code"]
)";

class PostgresWaits : public ::testing::Test {
 protected:
  void SetUp() override {
    CC_REQUIRE_POSTGRES();
    db_ = std::make_unique<PgDatabase>();
    owner_ = "own_" + db_->name();
    // The least-privilege owner of docs/postgresql-roles.md: no superuser,
    // CONNECT and TEMP on the database, USAGE and CREATE on the schema (for
    // the bookkeeping tables), owner of the tables it migrates.
    db_->psql("DROP ROLE IF EXISTS " + owner_ + "; CREATE ROLE " + owner_ +
              " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE");
    db_->psql("GRANT CONNECT, TEMPORARY ON DATABASE \"" + db_->name() + "\" TO " + owner_ +
              "; GRANT USAGE, CREATE ON SCHEMA public TO " + owner_);
    std::filesystem::create_directories(dir_ / "schema");
    write_file(dir_ / "schema/big.toml", kBigSchema);
  }

  void TearDown() override {
    if (!db_) return;
    blocker_.reset();
    try {
      db_->psql("DROP OWNED BY " + owner_ + "; DROP ROLE IF EXISTS " + owner_);
    } catch (...) {
    }
  }

  // `rows` rows in big (owned by the owner role), and another table an idle
  // transaction can read.
  void make_big(int rows) {
    db_->psql("CREATE TABLE big (id integer PRIMARY KEY, v integer, code text); CREATE TABLE other (x integer)");
    db_->psql("INSERT INTO big SELECT g, g % 1000, 'c' || g FROM generate_series(1, " + std::to_string(rows) + ") g");
    db_->psql("ALTER TABLE big OWNER TO " + owner_ + "; ALTER TABLE other OWNER TO " + owner_ + "; ANALYZE big");
    ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  }

  std::string owner_url() const {
    const std::string& u = db_->url();
    return u + (u.find('?') == std::string::npos ? "?" : "&") + "user=" + owner_;
  }

  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", owner_url()});
    return run_cli(args, dir_.path());
  }

  std::string one(const std::string& sql) const {
    std::string v;
    connect(db_->url())->query(sql, [&](const dialect::Row& r) { v = dialect::value_text(r[0]); });
    return v;
  }

  // Every constraint and index constraintctl builds on big, as the catalog has it.
  void expect_applied_and_valid() const {
    EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conrelid = 'big'::regclass AND contype IN ('c', 'u') AND "
                  "convalidated"),
              "2");
    EXPECT_EQ(one("SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND NOT indisvalid"), "0");
    EXPECT_EQ(one("SELECT count(*) FROM constraintctl_history WHERE direction = 'up'"), "1");
  }

  void expect_nothing_left() const {
    EXPECT_EQ(one("SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND NOT indisvalid"), "0");
    EXPECT_EQ(one("SELECT count(*) FROM pg_class WHERE relname = 'big_code_unique'"), "0");
    EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conrelid = 'big'::regclass AND contype IN ('c', 'u')"),
              "0");
    EXPECT_EQ(one("SELECT count(*) FROM constraintctl_history"), "0");
  }

  // An open transaction in another session that has read `table` and keeps
  // its snapshot (REPEATABLE READ, as pg_dump or a report does): every
  // CONCURRENTLY build waits for it.
  // A session of the same role, as an application's own would be (another
  // role's session shows only its pid without pg_read_all_stats).
  long open_transaction(const std::string& table) {
    blocker_ = connect(owner_url());
    blocker_->execute("BEGIN ISOLATION LEVEL REPEATABLE READ");
    blocker_->execute("SELECT 1 FROM " + table);
    long pid = 0;
    blocker_->query("SELECT pg_backend_pid()",
                    [&](const dialect::Row& r) { pid = static_cast<long>(dialect::value_int(r[0])); });
    return pid;
  }

  std::unique_ptr<PgDatabase> db_;
  std::string owner_;
  TempDir dir_;
  std::unique_ptr<dialect::Connection> blocker_;
};

// The role's guards (statement_timeout 200 ms, lock_timeout 100 ms,
// idle_in_transaction_session_timeout 1 s) are shorter than the build and
// the validation of 400k rows: the tool sets its own timeouts, so the whole
// life cycle runs through, as the owner role, and the status tells the truth.
TEST_F(PostgresWaits, RoleGuardsNeverCancelTheToolsOwnSteps) {
  make_big(400000);
  db_->psql("UPDATE big SET v = -1 WHERE id % 1000 = 7");
  db_->psql("ALTER ROLE " + owner_ + " SET statement_timeout = '200ms'; ALTER ROLE " + owner_ +
            " SET lock_timeout = '100ms'; ALTER ROLE " + owner_ + " SET idle_in_transaction_session_timeout = '1s'");
  const auto started = std::chrono::steady_clock::now();
  auto fix = cli({"scan", "--fix"});
  ASSERT_EQ(fix.exit_code, 0) << fix.err;
  const auto at = fix.out.find("run id ");
  ASSERT_NE(at, std::string::npos) << fix.out;
  auto undo = cli({"fix-undo", fix.out.substr(at + 7, fix.out.find_first_of(" \n:", at + 7) - at - 7)});
  EXPECT_EQ(undo.exit_code, 0) << undo.err;
  EXPECT_EQ(one("SELECT count(*) FROM big WHERE v < 0"), "400");
  ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
  auto r = cli({"apply"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("timeout"), std::string::npos) << r.err;
  expect_applied_and_valid();
  EXPECT_EQ(cli({"status", "--check"}).exit_code, 0);
  auto v = cli({"verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto d = cli({"drop-checks"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conname = 'big_v_nonnegative'"), "0");
  auto again = cli({"apply"});  // restores the dropped CHECK
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conname = 'big_v_nonnegative' AND convalidated"), "1");
  auto back = cli({"rollback", "--to", "0"});
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conrelid = 'big'::regclass AND contype IN ('c', 'u')"), "0");
  EXPECT_EQ(one("SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND NOT indisvalid"), "0");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
}

// A reader holds its snapshot (and a lock on big) for 1.5 s while the role's
// lock_timeout is 100 ms: the build and the exclusive step wait under the
// tool's lock_timeout_ms instead, and apply completes.
TEST_F(PostgresWaits, ShortReaderIsWaitedForNotFailedOn) {
  make_big(1000);
  db_->psql("ALTER ROLE " + owner_ + " SET lock_timeout = '100ms'");
  open_transaction("big");
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    blocker_->execute("ROLLBACK");
  });
  auto r = cli({"apply"});
  release.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_applied_and_valid();
}

// An idle transaction (holding a snapshot) that never touched big still holds back CREATE UNIQUE
// INDEX CONCURRENTLY (it waits for every older snapshot): after --lock-wait-ms
// apply says whom it waits for, gives up with exit 4 naming its pid, drops
// the INVALID index, records nothing and releases the migration lock.
TEST_F(PostgresWaits, IdleTransactionHoldingBackABuildIsNamedAndGivenUpOn) {
  make_big(1000);
  const long pid = open_transaction("other");
  const auto started = std::chrono::steady_clock::now();
  auto r = cli({"apply", "--lock-wait-ms", "2000"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("pid " + std::to_string(pid) + " (idle in transaction"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has waited"), std::string::npos) << r.err;  // said while it waited
  EXPECT_NE(r.err.find("big_code_unique"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("INVALID index it left was dropped"), std::string::npos) << r.err;
  EXPECT_LT(took, std::chrono::seconds(8));
  expect_nothing_left();
  // This database only: other tests run in parallel on the same server.
  EXPECT_EQ(
      one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE "
          "datname = current_database())"),
      "0");
  blocker_->execute("ROLLBACK");
  auto again = cli({"apply", "--lock-wait-ms", "2000"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  expect_applied_and_valid();
}

// lock_timeout_ms shorter than the old transaction: the build is retried
// lock_retries times, each failed attempt's INVALID index dropped, then exit 4.
TEST_F(PostgresWaits, BuildRetriedOnLockTimeoutThenGivesUp) {
  make_big(1000);
  write_file(dir_ / "constraintctl.toml", "lock_wait_ms = 60000\n[postgresql]\nlock_timeout_ms = 100\n");
  const long pid = open_transaction("other");
  auto r = cli({"apply"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("gave up after 5 attempts"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pid " + std::to_string(pid)), std::string::npos) << r.err;
  expect_nothing_left();
}

// A scan behind another session's LOCK TABLE ... ACCESS EXCLUSIVE gives up
// after --lock-wait-ms with exit 4 naming the session; verify skips the
// probes it cannot write.
TEST_F(PostgresWaits, ScanBehindLockTableGivesUpNamingTheHolder) {
  make_big(1000);
  blocker_ = connect(db_->url());
  blocker_->execute("BEGIN");
  blocker_->execute("LOCK TABLE big IN ACCESS EXCLUSIVE MODE");
  long pid = 0;
  blocker_->query("SELECT pg_backend_pid()",
                  [&](const dialect::Row& r) { pid = static_cast<long>(dialect::value_int(r[0])); });
  const auto started = std::chrono::steady_clock::now();
  auto s = cli({"scan", "--lock-wait-ms", "500"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(s.exit_code, 4) << s.err;
  EXPECT_NE(s.err.find("lock timeout"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("pid " + std::to_string(pid)), std::string::npos) << s.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  // Also from constraintctl.toml.
  write_file(dir_ / "constraintctl.toml", "lock_wait_ms = 300\n");
  EXPECT_EQ(cli({"scan"}).exit_code, 4);
  blocker_->execute("ROLLBACK");
  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  blocker_->execute("BEGIN");
  blocker_->execute("LOCK TABLE big IN ACCESS EXCLUSIVE MODE");
  // verify cannot even compare the definitions behind it: exit 4 naming the
  // holder, never "different" or "not_enforced".
  auto v = cli({"verify", "--lock-wait-ms", "500"});
  EXPECT_EQ(v.exit_code, 4) << v.out << v.err;
  EXPECT_NE(v.err.find("pid " + std::to_string(pid)), std::string::npos) << v.err;
  EXPECT_EQ(v.out.find("not_enforced"), std::string::npos) << v.out;
  blocker_->execute("ROLLBACK");
  // A lock that blocks only writers: the probes are skipped with the reason.
  blocker_->execute("BEGIN");
  blocker_->execute("LOCK TABLE big IN SHARE MODE");
  auto probes = cli({"verify", "--json", "--lock-wait-ms", "500"});
  blocker_->execute("ROLLBACK");
  const auto doc = nlohmann::json::parse(probes.out);
  for (const auto& c : doc["constraints"]) {
    EXPECT_EQ(c["status"], "skipped") << c.dump();
    EXPECT_NE(c.dump().find("lock_timeout"), std::string::npos) << c.dump();
  }
}

// The monitor role of docs/postgresql-roles.md, with exactly its GRANTs (the
// default privileges cover the bookkeeping tables the owner creates later):
// scan, status, verify and health exit 0 on a healthy database, and verify
// and health name a CHECK re-added NOT VALID.
TEST_F(PostgresWaits, MonitorRoleWithTheDocumentedGrants) {
  make_big(1000);
  const std::string monitor = "mon_" + db_->name();
  db_->psql("DROP ROLE IF EXISTS " + monitor + "; CREATE ROLE " + monitor + " LOGIN");
  DropRoleAtEnd drop_role{*db_, monitor};
  db_->psql("GRANT CONNECT ON DATABASE \"" + db_->name() + "\" TO " + monitor + "; GRANT USAGE ON SCHEMA public TO " +
            monitor + "; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + monitor +
            "; ALTER DEFAULT PRIVILEGES FOR ROLE " + owner_ + " IN SCHEMA public GRANT SELECT ON TABLES TO " + monitor);
  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  const std::string url = db_->url() + (db_->url().find('?') == std::string::npos ? "?" : "&") + "user=" + monitor;
  auto as_monitor = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", url});
    return run_cli(args, dir_.path());
  };
  for (const auto& command : {"scan", "status", "verify", "health"}) {
    auto r = as_monitor({command});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.out << r.err;
  }
  // Its probes are skipped at once, for the privilege it lacks, before any write is tried.
  auto probes = as_monitor({"verify", "--json"});
  ASSERT_EQ(probes.exit_code, 0) << probes.err;
  const auto verified = nlohmann::json::parse(probes.out);
  for (const auto& c : verified["constraints"]) {
    EXPECT_EQ(c["status"], "skipped") << c.dump();
    EXPECT_NE(c.dump().find("no UPDATE privilege on big"), std::string::npos) << c.dump();
  }
  db_->psql(
      "ALTER TABLE big DROP CONSTRAINT big_v_nonnegative; ALTER TABLE big ADD CONSTRAINT big_v_nonnegative CHECK (v >= "
      "0) NOT VALID");
  auto v = as_monitor({"verify"});
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.out.find("big_v_nonnegative"), std::string::npos) << v.out;
  EXPECT_EQ(as_monitor({"health", "--fail-under", "100"}).exit_code, 1);
}

// A role whose search_path is `app, public` with the tables in app: the
// bookkeeping goes beside them and the life cycle works.
TEST_F(PostgresWaits, RoleSearchPathPutsBookkeepingBesideTheTables) {
  db_->psql("CREATE SCHEMA app AUTHORIZATION " + owner_);
  db_->psql("CREATE TABLE app.big (id integer PRIMARY KEY, v integer, code text); ALTER TABLE app.big OWNER TO " +
            owner_);
  db_->psql("INSERT INTO app.big SELECT g, g, 'c' || g FROM generate_series(1, 100) g");
  db_->psql("ALTER ROLE " + owner_ + " SET search_path = app, public");
  ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  auto r = cli({"apply"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conrelid = 'app.big'::regclass AND convalidated AND contype "
                "IN ('c', 'u')"),
            "2");
  EXPECT_EQ(one("SELECT to_regclass('app.constraintctl_history') IS NOT NULL"), "true");
  EXPECT_EQ(cli({"status", "--check"}).exit_code, 0);
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
  EXPECT_EQ(cli({"rollback", "--to", "0"}).exit_code, 0);
  EXPECT_EQ(one("SELECT count(*) FROM pg_constraint WHERE conrelid = 'app.big'::regclass AND contype IN ('c', 'u')"),
            "0");
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// SQLite: another connection's write lock is waited for busy_timeout_ms, then
// apply exits 4 saying so (not 3 with the driver's raw text) and changes nothing.
TEST(SqliteWaits, ApplyUnderAHeldWriteLockExits4) {
  TempDir dir;
  shell("cp -r '" + (source_dir() / "schema").string() + "' '" + (source_dir() / "migrations").string() + "' '" +
        dir.path().string() + "'");
  write_file(dir / "constraintctl.toml", "[sqlite]\nbusy_timeout_ms = 300\n");
  make_sqlite_fixture(dir / "app.db", 100);
  const std::string url = "sqlite:" + (dir / "app.db").string();
  ASSERT_EQ(run_cli({"--db", url, "scan", "--fix", "-q"}, dir.path()).exit_code, 0);
  auto writer = connect(url);
  writer->execute("BEGIN IMMEDIATE");
  writer->execute("UPDATE characters SET xp = xp WHERE id = 1");
  auto r = run_cli({"--db", url, "apply"}, dir.path());
  writer->execute("ROLLBACK");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("another connection holds the lock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("busy_timeout_ms"), std::string::npos) << r.err;
  auto status = run_cli({"--db", url, "status", "--json"}, dir.path());
  EXPECT_NE(status.out.find("pending"), std::string::npos) << status.out;
  EXPECT_EQ(run_cli({"--db", url, "apply"}, dir.path()).exit_code, 0);
}

}  // namespace
}  // namespace cc::test
