// scan --fix, fix-undo and apply --fix against real databases: counts per
// policy, interacting rules, cascades only with consent, audit completeness,
// and undo back to the exact prior content.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

const std::vector<std::string> kReferenceTables = {"characters", "attribute_blocks", "ability_blocks", "humans", "st_relationships",
                                                   "users", "chronicles"};

class FixTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (pg()) {
      CC_REQUIRE_POSTGRES();
      pgdb_ = std::make_unique<PgDatabase>();
      url_ = pgdb_->url();
    } else {
      shell("sqlite3 " + (dir_ / "app.db").string() + " 'PRAGMA user_version = 1'");
      url_ = "sqlite:" + (dir_ / "app.db").string();
    }
  }
  bool pg() const { return GetParam() == "postgresql"; }
  void load_fixture(int n) {
    if (pg()) {
      pgdb_->load_fixture(n);
    } else {
      make_sqlite_fixture(dir_ / "app.db", n);
    }
  }
  void exec(const std::string& sql) { connect(url_)->execute(sql); }
  std::string content(const std::vector<std::string>& tables) {
    std::string out;
    auto db = connect(url_);
    for (const auto& t : tables) {
      out += "-- " + t + "\n";
      db->query("SELECT * FROM " + t + " ORDER BY 1", [&](const dialect::Row& r) {
        for (const auto& v : r) out += dialect::value_text(v) + "|";
        out += "\n";
      });
    }
    return out;
  }
  std::int64_t scalar(const std::string& sql) {
    std::int64_t v = -1;
    connect(url_)->query(sql, [&](const dialect::Row& r) { v = dialect::value_int(r[0]); });
    return v;
  }
  RunResult cli(std::vector<std::string> args, const std::filesystem::path& cwd = source_dir()) {
    args.insert(args.begin(), {"--db", url_});
    return run_cli(args, cwd);
  }
  nlohmann::json fix_json(std::vector<std::string> extra = {}, const std::filesystem::path& cwd = source_dir(), int expect = 0) {
    std::vector<std::string> args = {"scan", "--fix", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cli(args, cwd);
    EXPECT_EQ(r.exit_code, expect) << r.err << r.out;
    return r.out.empty() ? nlohmann::json{} : nlohmann::json::parse(r.out);
  }

  TempDir dir_;
  std::unique_ptr<PgDatabase> pgdb_;
  std::string url_;
};

TEST_P(FixTest, ReferenceFixtureRepairsAuditsAndUndoesExactly) {
  load_fixture(1000);
  const auto before = content(kReferenceTables);
  auto dry = cli({"scan", "--fix", "--dry-run", "--json"});
  EXPECT_EQ(dry.exit_code, 1) << dry.err;
  EXPECT_EQ(content(kReferenceTables), before);  // the dry run changed nothing

  auto doc = fix_json();
  ASSERT_TRUE(doc.contains("run_id"));
  const std::string run = doc["run_id"];
  for (const auto& c : doc["constraints"]) EXPECT_EQ(c["violations"], 0) << c["name"];
  auto expected = expected_counts(1000);
  std::map<std::string, std::int64_t> want;
  for (const auto& e : expected["constraints"]) want[e["name"]] = e["violations"];
  for (const auto& f : doc["fixes"]) {
    const std::string name = f["name"];
    if (name == "humans_temporary_willpower_le_willpower") continue;  // clamps before it change its count
    if (f["kind"] == "unique") {
      EXPECT_EQ(f["deleted"], want[name]) << name;
    } else {
      EXPECT_EQ(f["changed"], want[name]) << name;
    }
  }
  // Every changed or deleted row has exactly one before-image.
  const auto audited = scalar("SELECT count(*) FROM constraintctl_audit WHERE run_id = '" + run + "'");
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_audit WHERE run_id = '" + run + "' AND action = 'delete'"), 3);
  EXPECT_GT(audited, 20);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT table_name, CAST(row_key AS TEXT) FROM constraintctl_audit WHERE run_id = '" + run +
                   "' GROUP BY 1, 2) k"),
            audited);

  auto again = cli({"scan", "--fix", "--json"});  // a second fix is a no-op
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(nlohmann::json::parse(again.out).contains("run_id"));

  auto undo = cli({"fix-undo", run});
  ASSERT_EQ(undo.exit_code, 0) << undo.err;
  EXPECT_EQ(content(kReferenceTables), before);
  EXPECT_EQ(cli({"fix-undo", run}).exit_code, 2);  // not twice
  EXPECT_EQ(cli({"fix-undo", "no-such-run"}).exit_code, 2);
}

TEST_P(FixTest, UndoRefusesWhenRowsChangedSince) {
  load_fixture(1000);
  auto doc = fix_json();
  const std::string run = doc["run_id"];
  exec("UPDATE characters SET xp = 77 WHERE xp = 0 AND id IN (SELECT id FROM characters WHERE xp = 0 ORDER BY id LIMIT 1000)");
  const auto now = content(kReferenceTables);
  auto undo = cli({"fix-undo", run});
  EXPECT_EQ(undo.exit_code, 1) << undo.err;
  EXPECT_NE(undo.err.find("changed again since the run"), std::string::npos) << undo.err;
  EXPECT_EQ(content(kReferenceTables), now);
}

TEST_P(FixTest, ApplyFixRepairsThenAddsTheConstraints) {
  load_fixture(1000);
  auto r = cli({"apply", "--fix"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("fixed"), std::string::npos) << r.out;
  auto scan = cli({"scan", "--json"});
  EXPECT_EQ(scan.exit_code, 0) << scan.out;
  const auto scanned = nlohmann::json::parse(scan.out);
  for (const auto& c : scanned["constraints"]) EXPECT_TRUE(c["present"].get<bool>()) << c["name"];
  EXPECT_THROW(exec("UPDATE characters SET xp = -1 WHERE id = 1"), DatabaseError);
}

TEST_P(FixTest, PoliciesInteractingRulesAndCascadeConsent) {
  const std::string id = pg() ? "integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY";
  exec("CREATE TABLE owners (id " + id + ", kind text DEFAULT 'basic', score integer, wp integer, tw integer, tag text, "
       "rank integer DEFAULT 5)");
  exec("CREATE TABLE pets (id " + id + ", owner_id integer NOT NULL REFERENCES owners (id) ON DELETE CASCADE, name text)");
  exec("CREATE TABLE dupes (id " + id + ", k text, v integer)");
  exec("INSERT INTO owners (id, kind, score, wp, tw, tag, rank) VALUES "
       "(1, 'basic', 5, 12, 13, 'ok', 5), (2, 'weird', 50, 0, 0, 'ok', 99), (3, 'basic', -2, 5, 4, 'bad', 5), "
       "(4, NULL, NULL, NULL, NULL, NULL, NULL)");
  exec("INSERT INTO pets (owner_id, name) VALUES (3, 'rex'), (3, 'tom'), (1, 'kit')");
  exec("INSERT INTO dupes (k, v) VALUES ('a', 1), ('a', 2), ('a', 3), ('b', 1), (NULL, 1), (NULL, 1)");
  write_file(dir_ / "schema/owners.toml", R"(table = "owners"
[[check]]
name = "owners_kind"
column = "kind"
in = ["basic", "pro"]
repair = "set_default"
[[check]]
name = "owners_score"
column = "score"
min = 0
max = 10
repair = "set_null"
[[check]]
name = "owners_wp"
column = "wp"
min = 1
max = 10
repair = "clamp"
[[check]]
name = "owners_tw_le_wp"
expr = "tw <= wp"
repair = { policy = "set_expr", column = "tw", expr = "wp" }
[[check]]
name = "owners_rank"
column = "rank"
max = 10
repair = { policy = "set", value = 10 }
[[check]]
name = "owners_tag"
expr = "tag <> 'bad'"
repair = "delete"
)");
  write_file(dir_ / "schema/dupes.toml", R"(table = "dupes"
[[unique]]
name = "dupes_k"
columns = ["k"]
repair = { policy = "delete_duplicates", keep = "highest", by = "v" }
)");
  const std::vector<std::string> tables = {"owners", "pets", "dupes"};
  const auto before = content(tables);

  // Deleting owner 3 would cascade to its pets: refused without consent.
  auto refused = cli({"scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("would also delete 2 row(s) of 'pets'"), std::string::npos) << refused.err;
  EXPECT_EQ(content(tables), before);

  auto doc = fix_json({"--allow-cascade"}, dir_.path());
  ASSERT_TRUE(doc.contains("run_id")) << doc.dump();
  EXPECT_EQ(doc["cascaded"], 2);
  auto row = [&](int key, const std::string& col) {
    std::string v;
    connect(url_)->query("SELECT " + col + " FROM owners WHERE id = " + std::to_string(key),
                         [&](const dialect::Row& r) { v = dialect::value_text(r[0]); });
    return v;
  };
  EXPECT_EQ(row(1, "wp"), "10");    // clamped
  EXPECT_EQ(row(1, "tw"), "10");    // then tw <= wp by set_expr (13 -> 10, not to 12)
  EXPECT_EQ(row(2, "wp"), "1");
  EXPECT_EQ(row(2, "tw"), "0");
  EXPECT_EQ(row(2, "kind"), "basic");  // set_default
  EXPECT_EQ(row(2, "score"), "NULL");  // set_null
  EXPECT_EQ(row(2, "rank"), "10");     // set
  EXPECT_EQ(row(4, "kind"), "NULL");   // NULL passes every check: untouched
  EXPECT_EQ(scalar("SELECT count(*) FROM owners WHERE id = 3"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM pets"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM dupes"), 4);                     // kept one 'a' and both NULL keys
  EXPECT_EQ(scalar("SELECT v FROM dupes WHERE k = 'a'"), 3);              // keep highest v
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_audit WHERE action = 'cascade'"), 2);

  auto undo = cli({"fix-undo", doc["run_id"]}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.err;
  EXPECT_EQ(content(tables), before);
}

TEST_P(FixTest, PolicyOverrideLeavesRowsForReview) {
  load_fixture(1000);
  auto r = cli({"scan", "--fix", "--json", "--policy", "humans_age_range=report", "--table", "humans"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  for (const auto& c : doc["constraints"]) {
    EXPECT_EQ(c["violations"], c["name"] == "humans_age_range" ? 2 : 0) << c["name"];
  }
  EXPECT_EQ(cli({"scan", "--fix", "--policy", "nope=clamp"}).exit_code, 2);
  EXPECT_EQ(cli({"scan", "--fix", "--policy", "characters_status_valid=clamp"}).exit_code, 2);
}

INSTANTIATE_TEST_SUITE_P(Dialects, FixTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
