// verify, drop-checks and health on the reference domain, both dialects:
// the life cycle a team runs (fix, apply, verify, partial rollback, health)
// and every kind of drift made by hand.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

class VerifyTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    load_fixture(1000);
  }
  nlohmann::json json_of(std::vector<std::string> args, int expect) {
    args.push_back("--json");
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, expect) << r.err << r.out;
    return r.out.empty() ? nlohmann::json{} : nlohmann::json::parse(r.out);
  }
  std::map<std::string, std::string> statuses(const nlohmann::json& doc) {
    std::map<std::string, std::string> m;
    for (const auto& c : doc["constraints"]) m[c["name"]] = c["status"];
    return m;
  }
  // Every row of the reference tables plus the characters id sequence.
  std::string fingerprint() {
    return content({"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships"}) + "seq " +
           std::to_string(scalar(pg() ? "SELECT last_value FROM characters_id_seq"
                                      : "SELECT seq FROM sqlite_sequence WHERE name = 'characters'"));
  }
  void fix_and_apply() {
    ASSERT_EQ(cli({"scan", "--fix", "-q"}).exit_code, 0);
    auto r = cli({"apply"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
};

TEST_P(VerifyTest, HealthOfAFreshDatabaseWithViolations) {
  auto h = json_of({"health"}, 0);
  // data 0 (every declared constraint violated), enforcement 0 (none applied),
  // migrations 0.75 (one pending): 0*40 + 0*40 + 0.75*20 = 15.
  EXPECT_EQ(h["score"], 15);
  EXPECT_EQ(h["pending_migrations"], 1);
  EXPECT_EQ(json_of({"health", "--fail-under", "90"}, 1)["score"], 15);
}

TEST_P(VerifyTest, LifeCycleVerifyDropChecksRestore) {
  fix_and_apply();
  const auto before = fingerprint();
  auto v = json_of({"verify"}, 0);
  ASSERT_EQ(v["constraints"].size(), 25u);
  for (const auto& c : v["constraints"]) {
    EXPECT_EQ(c["status"], "ok") << c.dump();
    EXPECT_EQ(c["probe"].get<std::string>().rfind("rejected", 0), 0u) << c.dump();
    for (const char* key : {"table", "name", "kind", "status"}) EXPECT_TRUE(c.contains(key));
  }
  EXPECT_EQ(fingerprint(), before);  // probes left no trace, sequences included
  EXPECT_EQ(json_of({"health"}, 0)["score"], 100);

  // Partial rollback: the CHECKs go, the UNIQUE stays enforced.
  auto dropped = json_of({"drop-checks"}, 0);
  EXPECT_EQ(dropped["dropped"].size(), 24u);
  exec("UPDATE characters SET xp = -5 WHERE id = 1");  // allowed now
  EXPECT_THROW(exec("INSERT INTO st_relationships (user_id, chronicle_id, gameline) SELECT user_id, chronicle_id, gameline "
                    "FROM st_relationships WHERE gameline IS NOT NULL ORDER BY id LIMIT 1"),
               DatabaseError);
  exec("UPDATE characters SET xp = 0 WHERE id = 1");
  auto after_drop = json_of({"verify"}, 0);  // the checks are expected absent
  int absent = 0;
  for (const auto& c : after_drop["constraints"]) {
    // verify says what it found: the CHECKs are dropped (as intended), the UNIQUE enforced.
    EXPECT_EQ(c["status"], c.contains("expected") ? "dropped" : "ok") << c.dump();
    if (c.contains("expected")) ++absent;
  }
  EXPECT_EQ(absent, 24);
  EXPECT_EQ(json_of({"health"}, 0)["score"], 81);  // 40 + 40*(24*0.5+1)/25 + 20
  auto st = cli({"status"});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  // status knows the intended state too, and says how to undo it.
  EXPECT_NE(st.out.find("24 CHECK constraint(s) dropped by drop-checks"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("characters.characters_xp_nonnegative  CHECK (\"xp\" >= 0)"), std::string::npos) << st.out;
  const auto st_doc = json_of({"status", "--check"}, 0);  // not pending work: --check stays 0
  ASSERT_EQ(st_doc["dropped_checks"].size(), 24u) << st_doc.dump();
  EXPECT_EQ(st_doc["dropped_checks"][0]["table"], "ability_blocks") << st_doc.dump();
  EXPECT_EQ(st_doc["dropped_checks"][0]["check"], "\"alertness\" BETWEEN 0 AND 10") << st_doc.dump();
  EXPECT_EQ(json_of({"drop-checks"}, 0)["dropped"].size(), 0u);  // nothing left to drop

  auto applied = cli({"apply"});  // puts them back
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(applied.out.find("restored   24"), std::string::npos) << applied.out;
  EXPECT_THROW(exec("UPDATE characters SET xp = -5 WHERE id = 1"), DatabaseError);
  EXPECT_EQ(json_of({"status"}, 0)["dropped_checks"].size(), 0u);
  const auto restored = json_of({"verify"}, 0);  // named: a temporary would die before the loop
  for (const auto& c : restored["constraints"]) EXPECT_EQ(c["status"], "ok") << c.dump();

  // Per table and per constraint.
  EXPECT_EQ(json_of({"drop-checks", "--table", "humans"}, 0)["dropped"].size(), 5u);
  EXPECT_EQ(json_of({"drop-checks", "--constraint", "characters_xp_nonnegative"}, 0)["dropped"].size(), 1u);
  EXPECT_EQ(cli({"drop-checks", "--constraint", "st_relationships_user_chronicle_gameline_unique"}).exit_code, 2);
  EXPECT_EQ(cli({"drop-checks", "--constraint", "nope"}).exit_code, 2);
  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  // A full rollback also forgets what drop-checks had removed.
  ASSERT_EQ(json_of({"drop-checks", "--table", "characters"}, 0)["dropped"].size(), 2u);
  auto rb = cli({"rollback", "--to", "0"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  // Nothing is applied, nothing is dropped: every constraint is reported as not applied yet.
  const auto rolled = json_of({"verify"}, 0);
  EXPECT_EQ(rolled["constraints"].size(), 25u);
  for (const auto& c : rolled["constraints"]) EXPECT_EQ(c["status"], "not_applied") << c.dump();
  auto text = cli({"verify"});
  EXPECT_EQ(text.out.find("ok:"), std::string::npos) << text.out;  // never "ok" when nothing is in place
  EXPECT_NE(text.out.find("25 declared but not applied"), std::string::npos) << text.out;
}

TEST_P(VerifyTest, DriftMadeByHandIsReported) {
  fix_and_apply();
  if (pg()) {
    exec("ALTER TABLE characters DROP CONSTRAINT characters_xp_nonnegative");
    exec("ALTER TABLE humans DROP CONSTRAINT humans_age_range");
    exec("ALTER TABLE humans ADD CONSTRAINT humans_age_range CHECK (age BETWEEN 0 AND 999)");
    exec("ALTER TABLE humans DROP CONSTRAINT humans_willpower_range");
    exec("ALTER TABLE humans ADD CONSTRAINT humans_willpower_range CHECK (willpower BETWEEN 1 AND 10) NOT VALID");
    exec("ALTER TABLE characters ADD CONSTRAINT app_own_check CHECK (length(name) > 0)");
  } else {
    // SQLite edits go through the same documented sqlite_schema procedure a DBA would use.
    auto db = connect(url_);
    db->allow_schema_edits(true);
    std::string sql;
    db->query("SELECT sql FROM sqlite_schema WHERE name = 'humans'", [&](const dialect::Row& r) { sql = dialect::value_text(r[0]); });
    const std::string from = "CHECK (\"age\" BETWEEN 0 AND 500)", to = "CHECK (\"age\" BETWEEN 0 AND 999)";
    ASSERT_NE(sql.find(from), std::string::npos) << sql;
    sql.replace(sql.find(from), from.size(), to);
    std::int64_t version = 0;
    db->query("PRAGMA schema_version", [&](const dialect::Row& r) { version = dialect::value_int(r[0]); });
    db->execute("BEGIN");
    db->execute("PRAGMA writable_schema = ON");
    db->execute("UPDATE sqlite_schema SET sql = '" + sql + "' WHERE name = 'humans'");
    db->execute("PRAGMA schema_version = " + std::to_string(version + 1));
    db->execute("PRAGMA writable_schema = OFF");
    db->execute("COMMIT");
    exec("DROP INDEX st_relationships_user_chronicle_gameline_unique");
    exec("CREATE UNIQUE INDEX app_own_unique ON characters (name, id)");
  }
  auto v = json_of({"verify"}, 1);
  auto s = statuses(v);
  EXPECT_EQ(s["humans_age_range"], "different");
  if (pg()) {
    EXPECT_EQ(s["characters_xp_nonnegative"], "missing");
    EXPECT_EQ(s["humans_willpower_range"], "not_validated");
    EXPECT_EQ(s["characters_status_valid"], "ok");
  } else {
    EXPECT_EQ(s["st_relationships_user_chronicle_gameline_unique"], "missing");
  }
  bool listed = false;
  for (const auto& u : v["unmanaged"]) listed |= (u["name"] == (pg() ? "app_own_check" : "app_own_unique"));
  EXPECT_TRUE(listed) << v["unmanaged"].dump();
  EXPECT_LT(json_of({"health"}, 0)["score"].get<int>(), 100);
}

TEST_P(VerifyTest, StrictCountsUnmanagedChecks) {
  fix_and_apply();
  exec(pg() ? "CREATE UNIQUE INDEX app_own_unique ON characters (name, id)" : "CREATE UNIQUE INDEX app_own_unique ON characters (name, id)");
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
  EXPECT_EQ(cli({"verify", "--strict"}).exit_code, 1);
}

// A CHECK that only one value breaks (text <> 'banned'): the probe must
// write that very value, so verify proves it enforced instead of calling it
// not_enforced because every probe value passed (issue 16).
TEST_P(VerifyTest, InequalityCheckIsProvenEnforcedByItsOwnLiteral) {
  exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, status TEXT NOT NULL, note VARCHAR(20))");
  exec("INSERT INTO accounts VALUES (1, 'active', 'x'), (2, 'closed', 'y')");
  TempDir project;
  write_file(project / "schema/accounts.toml",
             "table = \"accounts\"\n\n[[check]]\nname = \"accounts_not_banned\"\nexpr = \"status <> 'banned'\"\n\n"
             "[[check]]\nname = \"accounts_note_not_secret\"\nexpr = \"note IS NULL OR note <> 'secret'\"\n");
  ASSERT_EQ(cli({"generate"}, project.path()).exit_code, 0);
  auto applied = cli({"apply"}, project.path());
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  auto r = cli({"verify", "--json"}, project.path());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto doc = nlohmann::json::parse(r.out);
  const auto got = statuses(doc);
  EXPECT_EQ(got.at("accounts_not_banned"), "ok") << r.out;
  EXPECT_EQ(got.at("accounts_note_not_secret"), "ok") << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM accounts"), 2);  // the probes left nothing behind
}

// A rule of two columns that neither breaks alone from the probe row (the
// rate may not go below 0, and 'NC' needs a rate of at least 1): proven
// enforced by writing both, not left "skipped".
TEST_P(VerifyTest, ARuleOfTwoColumnsIsProvenEnforcedByWritingBoth) {
  exec("CREATE TABLE films (id INTEGER PRIMARY KEY, rating TEXT NOT NULL, rate INTEGER NOT NULL)");
  exec("INSERT INTO films VALUES (1, 'G', 1), (2, 'NC', 2)");
  TempDir project;
  write_file(project / "schema/films.toml",
             "table = \"films\"\n\n[[check]]\nname = \"films_rate_nonneg\"\ncolumn = \"rate\"\nmin = 0\n\n"
             "[[check]]\nname = \"films_nc_rate\"\nexpr = \"rating <> 'NC' OR rate >= 1\"\n");
  ASSERT_EQ(cli({"generate"}, project.path()).exit_code, 0);
  auto applied = cli({"apply"}, project.path());
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  const std::string before = content({"films"});
  auto r = cli({"verify", "--json"}, project.path());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto doc = nlohmann::json::parse(r.out);
  for (const auto& c : doc["constraints"]) {
    EXPECT_EQ(c["status"], "ok") << c.dump();
    if (c["name"] == "films_nc_rate") {
      const std::string probe = c["probe"];
      EXPECT_EQ(probe.rfind("rejected: ", 0), 0u) << probe;
      EXPECT_NE(probe.find("rating"), std::string::npos) << probe;
      EXPECT_NE(probe.find("rate"), std::string::npos) << probe;
    }
  }
  EXPECT_EQ(content({"films"}), before);  // the probes left nothing behind
}

// Definitions are compared together (PostgreSQL: every EXPLAIN of a chunk in
// one round trip): one that no longer even plans (its column renamed) is
// "different", and those compared with it are still judged each on its own.
TEST_P(VerifyTest, DefinitionThatNoLongerPlansIsDifferentAndTheOthersStillCompare) {
  exec("CREATE TABLE gauges (id INTEGER PRIMARY KEY, lo INTEGER, hi INTEGER, mid INTEGER)");
  exec("INSERT INTO gauges VALUES (1, 1, 9, 5), (2, 2, 8, 5)");
  TempDir project;
  write_file(project / "schema/gauges.toml",
             "table = \"gauges\"\n\n[[check]]\nname = \"gauges_lo_positive\"\nexpr = \"lo > 0\"\n\n"
             "[[check]]\nname = \"gauges_hi_small\"\nexpr = \"hi < 100\"\n\n"
             "[[check]]\nname = \"gauges_mid_range\"\ncolumn = \"mid\"\nmin = 0\nmax = 10\n");
  ASSERT_EQ(cli({"generate"}, project.path()).exit_code, 0);
  auto applied = cli({"apply"}, project.path());
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  exec("ALTER TABLE gauges RENAME COLUMN hi TO high");  // the catalog's CHECK follows; the declared one names hi
  auto r = cli({"verify", "--json"}, project.path());
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  const auto doc = nlohmann::json::parse(r.out);
  const auto got = statuses(doc);
  EXPECT_EQ(got.at("gauges_hi_small"), "different") << r.out;
  EXPECT_EQ(got.at("gauges_lo_positive"), "ok") << r.out;
  EXPECT_EQ(got.at("gauges_mid_range"), "ok") << r.out;
}

INSTANTIATE_TEST_SUITE_P(Dialects, VerifyTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
