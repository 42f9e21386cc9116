// Recorded progress on PostgreSQL (constraintctl_progress): a plan that spans
// several commits (CONCURRENTLY builds, one VALIDATE per CHECK) is killed at
// every fault point of apply, restore (apply after drop-checks) and rollback.
// Afterwards `status` must describe the state truthfully ("partially applied:
// k of n steps", `status --check` failing), `verify` must report no
// "unexpected" constraint, and both `apply` (resume) and `rollback` must
// resolve it, with every row of every table unchanged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

const std::vector<std::string> kTables = {"characters", "attribute_blocks", "ability_blocks",
                                          "humans",     "st_relationships", "users",
                                          "chronicles", "character_log"};

// PostgreSQL only (the SQLite migrator runs each plan in one transaction):
// the name says so, for the CI run that leaves out *Postgres*.
class PostgresProgressTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    load_fixture(1000);
    ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
    rows_ = content(kTables);
  }
  RunResult run(std::vector<std::string> args, std::vector<std::string> env = {}) const {
    args.insert(args.begin(), {"--db", url_});
    return run_cli(args, source_dir(), env);
  }
  // Constraints of the migration in the catalog (CHECKs, UNIQUEs and bare
  // unique indexes), and INVALID indexes.
  std::int64_t built() const {
    return scalar(
               "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('c', "
               "'u') "
               "AND conrelid::regclass::text NOT LIKE 'constraintctl%'") +
           scalar(
               "SELECT count(*) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = "
               "'st_relationships_user_chronicle_gameline_unique' AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE "
               "conindid = c.oid)");
  }
  nlohmann::json status_json() const {
    auto r = run({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return nlohmann::json::parse(r.out);
  }
  // verify never calls the half-done work "unexpected".
  void expect_no_unexpected() const {
    auto r = run({"verify", "--json"});
    const auto doc = nlohmann::json::parse(r.out);
    const auto& constraints = doc["constraints"];
    for (const auto& c : constraints) EXPECT_NE(c["status"], "unexpected") << c.dump();
  }
  void expect_clean_bookkeeping() const {
    EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_progress"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_intent"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 0);
  }
  void expect_applied_and_verified() const {
    const auto doc = status_json();
    const auto& m = doc["migrations"];
    EXPECT_EQ(m[0]["state"], "applied") << doc.dump();
    EXPECT_EQ(run({"status", "--check"}).exit_code, 0);
    auto v = run({"verify"});
    EXPECT_EQ(v.exit_code, 0) << v.out;
    expect_clean_bookkeeping();
  }
  std::string rows_;
};

TEST_P(PostgresProgressTest, KillAtEveryPointOfApplyIsDescribedAndResolved) {
  const std::vector<std::string> points = {
      "kill@pg-progress-recorded", "kill@pg-index-built",      "kill@pg-after-index-builds",
      "kill@pg-exclusive-step#1",  "kill@pg-exclusive-step#4", "kill@before-commit#2",
      "kill@pg-validated#1",       "kill@pg-validated#2",      "kill@pg-validated#3"};
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i]);
    auto r = run({"apply"}, {"CONSTRAINTCTL_FAULT=" + points[i]});
    ASSERT_EQ(r.exit_code, 128 + 9) << r.out << r.err;
    EXPECT_EQ(content(kTables), rows_);
    // Killed after "in progress" was recorded: partially applied, k < n.
    const auto doc = status_json();
    const auto& v = doc["migrations"][0];
    EXPECT_EQ(v["state"], "partially_applied") << doc.dump();
    EXPECT_LT(v["steps_done"].get<int>(), v["steps_total"].get<int>());
    EXPECT_EQ(v["steps_total"].get<int>(), 10)
        << "1 CONCURRENTLY build, 5 exclusive steps and 4 VALIDATEs (one transaction per table each)";
    auto text = run({"status"});
    EXPECT_NE(text.out.find("partially applied: " + std::to_string(v["steps_done"].get<int>()) + " of 10 steps"),
              std::string::npos)
        << text.out;
    EXPECT_EQ(run({"status", "--check"}).exit_code, 1);
    expect_no_unexpected();
    if (i % 2 == 0) {
      // Resume: apply finishes exactly what is left.
      auto a = run({"apply"});
      ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
      expect_applied_and_verified();
      // Recorded once: one 'up' more than the 'down's of earlier rounds.
      EXPECT_EQ(scalar("SELECT count(*) FILTER (WHERE direction = 'up') - count(*) FILTER (WHERE direction = 'down') "
                       "FROM constraintctl_history"),
                1);
      ASSERT_EQ(run({"rollback", "--to", "0"}).exit_code, 0);
    } else {
      // Undo: rollback drops what the interrupted run built, nothing else.
      auto b = run({"rollback", "--to", "0"});
      ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
      EXPECT_EQ(built(), 0);
      expect_clean_bookkeeping();
      const auto after = status_json();
      EXPECT_NE(after["migrations"][0]["state"], "partially_applied") << after.dump();
      auto v2 = run({"verify", "--json"});
      EXPECT_EQ(v2.exit_code, 0) << v2.out;
    }
    EXPECT_EQ(built(), 0);
    EXPECT_EQ(content(kTables), rows_);
  }
  ASSERT_EQ(run({"apply"}).exit_code, 0);
  expect_applied_and_verified();
}

TEST_P(PostgresProgressTest, EditingAPartiallyAppliedFileIsRefused) {
  TempDir project;
  shell("cp -r " + (source_dir() / "schema").string() + " " + (source_dir() / "migrations").string() + " " +
        project.path().string() + "/");
  if (std::filesystem::exists(source_dir() / "constraintctl.toml"))
    shell("cp " + (source_dir() / "constraintctl.toml").string() + " " + project.path().string() + "/");
  auto in = [&](std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--db", url_});
    return run_cli(args, project.path(), env);
  };
  ASSERT_EQ(in({"apply"}, {"CONSTRAINTCTL_FAULT=kill@pg-validated#2"}).exit_code, 128 + 9);
  const auto file = project / "migrations/0001_initial.toml";
  write_file(file, read_file(file) + "\n# edited\n");
  auto st = in({"status"});
  EXPECT_EQ(st.exit_code, 1) << st.out;
  EXPECT_NE(st.out.find("edited after it was partially applied"), std::string::npos) << st.out;
  auto a = in({"apply"});
  EXPECT_EQ(a.exit_code, 2) << a.out << a.err;
  EXPECT_NE(a.err.find("edited after it was partially applied"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("0001_initial.toml"), std::string::npos) << a.err;
  EXPECT_EQ(content(kTables), rows_);
}

TEST_P(PostgresProgressTest, KillAtEveryPointOfRestoreIsDescribedAndResolved) {
  const std::vector<std::string> points = {"kill@pg-progress-recorded", "kill@pg-exclusive-step#3",
                                           "kill@before-commit",        "kill@pg-validated#1",
                                           "kill@pg-validated#2",       "kill@pg-validated#3"};
  ASSERT_EQ(run({"apply"}).exit_code, 0);
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i]);
    auto d = run({"drop-checks"});
    ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
    auto r = run({"apply"}, {"CONSTRAINTCTL_FAULT=" + points[i]});
    ASSERT_EQ(r.exit_code, 128 + 9) << r.out << r.err;
    EXPECT_EQ(content(kTables), rows_);
    const auto doc = status_json();
    EXPECT_EQ(doc["migrations"][0]["state"], "applied") << doc.dump();
    const auto& progress = doc["in_progress"];
    ASSERT_EQ(progress.size(), 1u) << doc.dump();
    EXPECT_EQ(progress[0]["direction"], "restore_checks");
    EXPECT_LT(progress[0]["steps_done"].get<int>(), progress[0]["steps_total"].get<int>());
    auto text = run({"status"});
    EXPECT_NE(text.out.find("restore_checks"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("partially applied"), std::string::npos) << text.out;
    EXPECT_EQ(run({"status", "--check"}).exit_code, 1);
    expect_no_unexpected();
    if (i % 2 == 0) {
      auto a = run({"apply"});
      ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
      expect_applied_and_verified();
      EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_dropped"), 0);
    } else {
      auto b = run({"rollback", "--to", "0"});
      ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
      EXPECT_EQ(built(), 0);
      expect_clean_bookkeeping();
      EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_dropped"), 0);
      auto v = run({"verify"});
      EXPECT_EQ(v.exit_code, 0) << v.out;
      EXPECT_EQ(run({"status", "--check"}).exit_code, 1);  // version 1 pending again
      ASSERT_EQ(run({"apply"}).exit_code, 0);
    }
    EXPECT_EQ(content(kTables), rows_);
  }
}

TEST_P(PostgresProgressTest, KillAtEveryPointOfRollbackIsDescribedAndResolved) {
  const std::vector<std::string> points = {"kill@pg-exclusive-step#1", "kill@pg-exclusive-step#3",
                                           "kill@pg-exclusive-step#5", "kill@before-commit"};
  ASSERT_EQ(run({"apply"}).exit_code, 0);
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i]);
    auto r = run({"rollback", "--to", "0"}, {"CONSTRAINTCTL_FAULT=" + points[i]});
    ASSERT_EQ(r.exit_code, 128 + 9) << r.out << r.err;
    EXPECT_EQ(content(kTables), rows_);
    // One transaction: all or nothing, and status says "applied".
    expect_applied_and_verified();
    expect_no_unexpected();
    if (i % 2 == 0) {
      ASSERT_EQ(run({"rollback", "--to", "0"}).exit_code, 0);
      EXPECT_EQ(built(), 0);
      ASSERT_EQ(run({"apply"}).exit_code, 0);
    }
  }
  // The rollback of a partially applied version, killed too, then finished.
  ASSERT_EQ(run({"rollback", "--to", "0"}).exit_code, 0);
  ASSERT_EQ(run({"apply"}, {"CONSTRAINTCTL_FAULT=kill@pg-validated#2"}).exit_code, 128 + 9);
  ASSERT_EQ(run({"rollback", "--to", "0"}, {"CONSTRAINTCTL_FAULT=kill@before-commit"}).exit_code, 128 + 9);
  EXPECT_EQ(status_json()["migrations"][0]["state"], "partially_applied");
  ASSERT_EQ(run({"rollback", "--to", "0"}).exit_code, 0);
  EXPECT_EQ(built(), 0);
  expect_clean_bookkeeping();
  EXPECT_EQ(content(kTables), rows_);
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresProgressTest, ::testing::Values("postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
