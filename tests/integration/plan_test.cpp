// One plan, executed as printed: what --dry-run prints is what the command
// runs. Its script, run by hand in sqlite3 / psql on a copy of the database,
// leaves the copy in the same catalog state as the real command leaves the
// original; it exits as the real command would; a fix's dry run writes
// nothing; and verify accepts a probe refused by an equivalent UNIQUE.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "dialect/migrator.h"
#include "migrate/engine.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

class PlanTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    load_fixture(1000);
  }

  // A second database with the same content as this one.
  std::string make_copy() {
    if (pg()) {
      copy_ = std::make_unique<PgDatabase>();
      shell("pg_dump --no-owner -d '" + url_ + "' | psql -q -v ON_ERROR_STOP=1 -d '" + copy_->url() + "' >/dev/null");
      return copy_->url();
    }
    shell("cp " + (dir_ / "app.db").string() + " " + (dir_ / "copy.db").string());
    return "sqlite:" + (dir_ / "copy.db").string();
  }

  // Runs a dry-run script the way a person would.
  void run_script(const std::string& copy_url, const std::string& script) {
    write_file(dir_ / "script.sql", script);
    if (pg()) {
      shell("psql -q -X -v ON_ERROR_STOP=1 -d '" + copy_url + "' -f " + (dir_ / "script.sql").string() + " >/dev/null");
    } else {
      shell("sqlite3 -bail " + (dir_ / "copy.db").string() + " < " + (dir_ / "script.sql").string() + " >/dev/null");
    }
  }

  // What a migration changes: constraints and indexes, and what the
  // bookkeeping says.
  std::string catalog(const std::string& url) {
    std::string out;
    auto db = connect(url);
    auto dump = [&](const std::string& sql) {
      db->query(sql, [&](const dialect::Row& r) {
        for (const auto& v : r) out += dialect::value_text(v) + "|";
        out += "\n";
      });
    };
    if (pg()) {
      dump("SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid, true), convalidated FROM pg_constraint "
           "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2");
      dump("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid, indisready FROM pg_index "
           "WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace) ORDER BY 1");
    } else {
      dump("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name");
    }
    dump("SELECT version, name, direction FROM constraintctl_history ORDER BY id");
    dump("SELECT name, table_name FROM constraintctl_dropped ORDER BY name");
    return out;
  }

  // The real command on this database and its dry-run script on the copy
  // end in the same catalog.
  void expect_script_equivalent(const std::string& copy_url, std::vector<std::string> command) {
    auto dry_args = command;
    dry_args.push_back("--dry-run");
    auto dry = cli(dry_args);
    ASSERT_EQ(dry.exit_code, 0) << dry.err << dry.out;
    // stdout is SQL only: the script runs as it is, stopping at any error.
    run_script(copy_url, dry.out);
    auto real = cli(command);
    ASSERT_EQ(real.exit_code, 0) << real.err << real.out;
    EXPECT_EQ(catalog(url_), catalog(copy_url)) << "after " << command[0] << "; the script was:\n" << dry.out;
  }

  std::unique_ptr<PgDatabase> copy_;
};

TEST_P(PlanTest, DryRunScriptsLeaveTheSameCatalogAsTheRealCommands) {
  // The sqlite3 shell is Debian's 3.40: a script using native ALTER TABLE ADD
  // CONSTRAINT needs a shell of the same SQLite as the tool.
  if (!pg() && sqlite_native_alter()) GTEST_SKIP() << "the sqlite3 shell here predates native ALTER TABLE ADD CONSTRAINT";
  ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
  const std::string copy = make_copy();
  expect_script_equivalent(copy, {"apply"});
  expect_script_equivalent(copy, {"drop-checks", "--table", "humans"});
  // apply restores what drop-checks removed: its dry run shows that restore.
  auto restore = cli({"apply", "--dry-run"});
  EXPECT_NE(restore.out.find("restore the CHECKs drop-checks removed"), std::string::npos) << restore.out;
  expect_script_equivalent(copy, {"apply"});
  expect_script_equivalent(copy, {"drop-checks"});
  expect_script_equivalent(copy, {"rollback", "--to", "0"});
}

TEST_P(PlanTest, ApplyDryRunExitsAsApplyWould) {
  // Violating rows: both refuse, exit 1; the dry run's stdout stays SQL.
  auto dry = cli({"apply", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 1) << dry.err;
  EXPECT_NE(dry.out.find("-- apply would refuse"), std::string::npos) << dry.out;
  EXPECT_NE(dry.err.find("characters_xp_nonnegative"), std::string::npos) << dry.err;
  EXPECT_EQ(cli({"apply"}).exit_code, 1);
  // Clean: both succeed.
  ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
  EXPECT_EQ(cli({"apply", "--dry-run"}).exit_code, 0);
  EXPECT_EQ(cli({"apply"}).exit_code, 0);
  // Nothing to do.
  auto nothing = cli({"apply", "--dry-run"});
  EXPECT_EQ(nothing.exit_code, 0);
  EXPECT_NE(nothing.out.find("nothing to do"), std::string::npos) << nothing.out;
  // After drop-checks, a violating row makes the restore refuse: both say so.
  ASSERT_EQ(cli({"drop-checks", "--table", "characters"}).exit_code, 0);
  exec("UPDATE characters SET xp = -5 WHERE id = 1");
  EXPECT_EQ(cli({"apply", "--dry-run"}).exit_code, 1);
  EXPECT_EQ(cli({"apply"}).exit_code, 1);
  exec("UPDATE characters SET xp = 5 WHERE id = 1");
  EXPECT_EQ(cli({"apply", "--dry-run"}).exit_code, 0);
  EXPECT_EQ(cli({"apply"}).exit_code, 0);
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
}

TEST_P(PlanTest, FixDryRunWithCascadingDeletesWritesNothing) {
  const auto before = content({"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships"});
  const std::string file_before = pg() ? "" : read_file(dir_ / "app.db");
  auto dry = cli({"scan", "--fix", "--dry-run", "--allow-cascade", "--policy", "characters_xp_nonnegative=delete"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err << dry.out;
  EXPECT_NE(dry.out.find("deleted"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("child rows deleted through ON DELETE CASCADE"), std::string::npos) << dry.out;
  EXPECT_EQ(content({"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships"}), before);
  if (pg()) {
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'constraintctl%'"), 0);
  } else {
    EXPECT_EQ(read_file(dir_ / "app.db"), file_before) << "the dry run changed the file";
  }
  // The dry run predicted the real run: same counts.
  auto dry_json = cli({"scan", "--fix", "--dry-run", "--allow-cascade", "--policy", "characters_xp_nonnegative=delete", "--json"});
  auto real_json = cli({"scan", "--fix", "--allow-cascade", "--policy", "characters_xp_nonnegative=delete", "--json"});
  ASSERT_EQ(real_json.exit_code, dry_json.exit_code) << real_json.err;
  auto a = nlohmann::json::parse(dry_json.out), b = nlohmann::json::parse(real_json.out);
  EXPECT_EQ(a["cascaded"], b["cascaded"]);
  ASSERT_EQ(a["fixes"].size(), b["fixes"].size());
  for (size_t i = 0; i < a["fixes"].size(); ++i) {
    EXPECT_EQ(a["fixes"][i]["name"], b["fixes"][i]["name"]);
    EXPECT_EQ(a["fixes"][i]["changed"], b["fixes"][i]["changed"]) << a["fixes"][i]["name"];
    EXPECT_EQ(a["fixes"][i]["deleted"], b["fixes"][i]["deleted"]) << a["fixes"][i]["name"];
  }
}

INSTANTIATE_TEST_SUITE_P(Dialects, PlanTest, ::testing::Values("sqlite", "postgresql"));

// A UNIQUE beside an equivalent older unique index, and a partial UNIQUE
// beside a full one: the older, stronger index refuses the probe first, and
// that proves the declared rule enforced.
class EquivalentUniqueTest : public DialectTest {};

TEST_P(EquivalentUniqueTest, VerifiesAsEnforced) {
  exec("CREATE TABLE accounts (id integer PRIMARY KEY, email text, kind text)");
  exec("INSERT INTO accounts VALUES (1, 'a@x', 'a'), (2, 'b@x', 'a'), (3, 'c@x', 'b')");
  exec("CREATE UNIQUE INDEX accounts_email_old ON accounts (email)");
  write_file(dir_ / "schema/accounts.toml",
             "table = \"accounts\"\n"
             "[[unique]]\nname = \"accounts_email_uq\"\ncolumns = [\"email\"]\n"
             "[[unique]]\nname = \"accounts_email_kind_a\"\ncolumns = [\"email\"]\nwhere = \"kind = 'a'\"\n");
  ASSERT_EQ(cli({"generate"}, dir_.path()).exit_code, 0);
  auto apply = cli({"apply"}, dir_.path());
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  auto v = cli({"verify", "--json"}, dir_.path());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto doc = nlohmann::json::parse(v.out);
  ASSERT_EQ(doc["constraints"].size(), 2u);
  for (const auto& c : doc["constraints"]) {
    EXPECT_EQ(c["status"], "ok") << c.dump();
    EXPECT_EQ(c["probe"].get<std::string>().rfind("rejected", 0), 0u) << c.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Dialects, EquivalentUniqueTest, ::testing::Values("sqlite", "postgresql"));

// The golden plans of the reference migration, as they are executed.
class PlanGoldenTest : public DialectTest {};

TEST_P(PlanGoldenTest, ReferenceMigrationPlan) {
  if (!pg() && sqlite_native_alter()) GTEST_SKIP() << "the golden file holds the rebuild plan of Debian's SQLite";
  load_fixture(100);
  const auto migrations = migrate::load_migrations(source_dir() / "migrations");
  ASSERT_FALSE(migrations.empty());
  dialect::MigratorOptions o;
  o.tool_version = "test";
  o.applied_by = "tester@host";
  auto db = connect(url_);
  auto migrator = dialect::make_migrator(*db, o);
  dialect::Work up;
  up.migration = &migrations[0];
  up.ops = migrations[0].steps(true);
  std::string text = dialect::render_script(migrator->plan(up), db->dialect());
  // The recorded start time is the one thing that differs run to run.
  const std::string marker = "'tester@host')";
  for (size_t at = text.find("INSERT INTO constraintctl_history"); at != std::string::npos;
       at = text.find("INSERT INTO constraintctl_history", at + 1)) {
    const size_t end = text.find(marker, at);
    const size_t ts = text.rfind("', 'test'", end);
    const size_t ts_begin = text.rfind(", '", ts - 1);
    text.replace(ts_begin + 3, ts - ts_begin - 3, "<started_at>");
  }
  expect_golden("migrate/" + GetParam() + "_0001_up.sql", text);
}

INSTANTIATE_TEST_SUITE_P(Dialects, PlanGoldenTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// The tool owns its timeouts: a statement_timeout on the database or role
// (a common production guard) does not cancel a scan the configuration
// leaves unlimited ([postgresql] statement_timeout_ms = 0).
TEST(PostgresTimeouts, RoleStatementTimeoutDoesNotCancelAScan) {
  CC_REQUIRE_POSTGRES();
  PgDatabase db;
  db.load_fixture(10000);
  db.psql("ALTER DATABASE \"" + db.name() + "\" SET statement_timeout = '1ms'");
  auto r = run_cli({"--db", db.url(), "scan", "-q"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // violations found, nothing cancelled
  EXPECT_EQ(r.err.find("statement timeout"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

std::string as_user(const std::string& url, const std::string& user) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "user=" + user;
}

class PostgresMonitoring : public ::testing::Test {
 protected:
  void SetUp() override {
    CC_REQUIRE_POSTGRES();
    db_ = std::make_unique<PgDatabase>();
    db_->load_fixture(1000);
    ASSERT_EQ(cli(db_->url(), {"scan", "--fix", "-q"}).exit_code, 0);
    auto r = cli(db_->url(), {"apply"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static RunResult cli(const std::string& url, std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", url});
    return run_cli(args);
  }
  std::unique_ptr<PgDatabase> db_;
};

// A pg_dump and restore leaves definitions PostgreSQL deparses differently
// (status::text = ANY (ARRAY['Un'::character varying::text, ...])): compared
// by meaning, the restored database is exactly as healthy as the original.
TEST_F(PostgresMonitoring, RestoredDumpVerifiesClean) {
  for (const std::string format : {"plain", "custom"}) {
    PgDatabase restored;
    const std::string file = "/tmp/cc-dump-" + restored.name();
    if (format == "plain") {
      shell("pg_dump --no-owner -d '" + db_->url() + "' -f " + file + " && psql -q -X -v ON_ERROR_STOP=1 -d '" + restored.url() +
            "' -f " + file + " >/dev/null && rm -f " + file);
    } else {
      shell("pg_dump --no-owner -Fc -d '" + db_->url() + "' -f " + file + " && pg_restore --no-owner -d '" + restored.url() + "' " +
            file + " && rm -f " + file);
    }
    auto v = cli(restored.url(), {"verify", "--json"});
    EXPECT_EQ(v.exit_code, 0) << format << ": " << v.out;
    const auto doc = nlohmann::json::parse(v.out);
    for (const auto& c : doc["constraints"]) EXPECT_EQ(c["status"], "ok") << format << ": " << c.dump();
    EXPECT_EQ(cli(restored.url(), {"status", "--check"}).exit_code, 0) << format;
    auto h = cli(restored.url(), {"health", "--json"});
    EXPECT_EQ(nlohmann::json::parse(h.out)["score"], 100) << format << ": " << h.out;
    auto rb = cli(restored.url(), {"rollback", "--to", "0"});
    EXPECT_EQ(rb.exit_code, 0) << format << ": " << rb.err;
    auto none = connect(restored.url());
    std::int64_t left = -1;
    none->query("SELECT count(*) FROM pg_constraint WHERE contype IN ('c', 'u') AND connamespace = 'public'::regnamespace "
                "AND conrelid::regclass::text NOT LIKE 'constraintctl%'",
                [&](const dialect::Row& r) { left = dialect::value_int(r[0]); });
    EXPECT_EQ(left, 0) << format << ": rollback left constraints behind";
  }
}

// Monitoring runs as a role that can only read, or on a read-only
// connection (as on a hot standby): verify and health still check the
// catalog and the definitions, skip the probes with the reason, and exit 0
// on a healthy database and 1 naming a constraint that is not validated.
TEST_F(PostgresMonitoring, SelectOnlyRoleAndReadOnlyConnection) {
  const std::string role = "mon_" + db_->name();
  db_->psql("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN; GRANT CONNECT ON DATABASE \"" + db_->name() + "\" TO " +
            role + "; GRANT USAGE ON SCHEMA public TO " + role + "; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role);
  DropRoleAtEnd drop_role{*db_, role};
  const std::string monitor = as_user(db_->url(), role);
  const std::string read_only = db_->url() + (db_->url().find('?') == std::string::npos ? "?" : "&") +
                                "options=-c%20default_transaction_read_only%3Don";
  for (const auto& url : {monitor, read_only}) {
    auto v = cli(url, {"verify", "--json"});
    ASSERT_EQ(v.exit_code, 0) << url << "\n" << v.out << v.err;
    const auto doc = nlohmann::json::parse(v.out);
    for (const auto& c : doc["constraints"]) {
      EXPECT_EQ(c["status"], "skipped") << c.dump();  // present and validated; no probe could be written
    }
    auto h = cli(url, {"health", "--json"});
    EXPECT_EQ(h.exit_code, 0) << h.out << h.err;
    auto s = cli(url, {"scan", "-q"});
    EXPECT_EQ(s.exit_code, 0) << s.err;
  }
  // Re-added NOT VALID by hand: the monitor names it.
  db_->psql("ALTER TABLE characters DROP CONSTRAINT characters_xp_nonnegative; "
            "ALTER TABLE characters ADD CONSTRAINT characters_xp_nonnegative CHECK (xp >= 0) NOT VALID");
  for (const auto& url : {monitor, read_only}) {
    auto v = cli(url, {"verify"});
    EXPECT_EQ(v.exit_code, 1) << v.out;
    EXPECT_NE(v.out.find("characters_xp_nonnegative"), std::string::npos) << v.out;
    EXPECT_NE(v.out.find("not_validated"), std::string::npos) << v.out;
  }
}

}  // namespace
}  // namespace cc::test
