// Through pgbouncer in transaction mode: constraintctl leaves no session state
// on the pool's server connections, and the commands that need one session
// refuse before changing anything.
#include <gtest/gtest.h>

#include <chrono>

#include "support/test_support.h"

namespace cc::test {
namespace {

class Pooler : public ::testing::Test {
 protected:
  void SetUp() override {
    CC_REQUIRE_POSTGRES();
    db_ = std::make_unique<PgDatabase>();
    db_->psql("CREATE TABLE t (id integer PRIMARY KEY, x integer); INSERT INTO t VALUES (1, 5), (2, -1)");
    write_file(project_ / "schema/t.toml",
               "table = \"t\"\n[[check]]\nname = \"t_x_nonnegative\"\ncolumn = \"x\"\nmin = 0\n"
               "repair = \"clamp\"\n");
    write_file(project_ / "constraintctl.toml", "[postgresql]\nstatement_timeout_ms = 60000\n");
    ASSERT_EQ(run_cli({"--project", project_.path().string(), "generate"}).exit_code, 0);
    pool_ = std::make_unique<Pgbouncer>("transaction", 3);
    if (!pool_->ok()) {
      if (std::getenv("CI")) FAIL() << pool_->why();
      GTEST_SKIP() << pool_->why();
    }
  }

  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--project", project_.path().string(), "--db", pool_->url(db_->name())});
    return run_cli(args);
  }

  std::unique_ptr<PgDatabase> db_;
  TempDir project_;
  std::unique_ptr<Pgbouncer> pool_;
};

TEST_F(Pooler, ReadOnlyCommandsLeaveNoSessionState) {
  auto scan = cli({"scan"});
  EXPECT_EQ(scan.exit_code, 1) << scan.err << scan.out;
  auto health = cli({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err << health.out;
  // New clients of the same pool get the server connections those commands used.
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    auto c = connect(pool_->url(db_->name()));
    EXPECT_EQ(c->execute_count("UPDATE t SET x = x + 1 WHERE id = 1"), 1);
    std::string timeout, read_only;
    c->query("SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')",
             [&](const dialect::Row& r) {
               timeout = dialect::value_text(r[0]);
               read_only = dialect::value_text(r[1]);
             });
    EXPECT_EQ(timeout, "0");
    EXPECT_EQ(read_only, "off");
  }
}

TEST_F(Pooler, SessionCommandsRefuseBeforeAnyChange) {
  for (const auto& args : {std::vector<std::string>{"apply"},
                           {"apply", "--fix"},
                           {"rollback", "--to", "0"},
                           {"drop-checks"},
                           {"scan", "--fix"}}) {
    SCOPED_TRACE(args[0]);
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
    EXPECT_NE(r.err.find("connect directly"), std::string::npos) << r.err;
  }
  auto direct = connect(db_->url());
  std::int64_t history = -1, x = -1;
  direct->query("SELECT count(*) FROM pg_class WHERE relname LIKE 'constraintctl%'",
                [&](const dialect::Row& r) { history = dialect::value_int(r[0]); });
  direct->query("SELECT x FROM t WHERE id = 2", [&](const dialect::Row& r) { x = dialect::value_int(r[0]); });
  EXPECT_EQ(history, 0);
  EXPECT_EQ(x, -1);
  // Connected directly, the same command works.
  auto apply = run_cli({"--project", project_.path().string(), "--db", db_->url(), "apply", "--fix"});
  EXPECT_EQ(apply.exit_code, 0) << apply.err << apply.out;
}

// A parallel scan through a pool of one server connection: the first
// connection's open snapshot would hold the only server connection while the
// others queue for it. Behind a pooler the scan reads on one connection.
TEST_F(Pooler, ScanThroughAPoolOfOneServerConnectionDoesNotWaitForItself) {
  Pgbouncer single("transaction", 1);
  ASSERT_TRUE(single.ok()) << single.why();
  const auto started = std::chrono::steady_clock::now();
  auto r = run_cli({"--project", project_.path().string(), "--db", single.url(db_->name()), "scan", "--jobs", "3"});
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;  // the row with x = -1
  EXPECT_NE(r.out.find("t_x_nonnegative"), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

// The detection has no false positive behind a session-mode pool, and still
// sees a transaction-mode pool of a single server connection.
TEST_F(Pooler, DetectionKnowsSessionPoolsAndSingleConnectionPools) {
  Pgbouncer single("transaction", 1);
  ASSERT_TRUE(single.ok()) << single.why();
  auto refused = run_cli({"--project", project_.path().string(), "--db", single.url(db_->name()), "drop-checks"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err << refused.out;
  EXPECT_NE(refused.err.find("connect directly"), std::string::npos) << refused.err;
  Pgbouncer session("session", 2);
  ASSERT_TRUE(session.ok()) << session.why();
  auto applied = run_cli({"--project", project_.path().string(), "--db", session.url(db_->name()), "apply", "--fix"});
  EXPECT_EQ(applied.exit_code, 0) << applied.err << applied.out;
}

}  // namespace
}  // namespace cc::test
