// Plan-time refusals: what can be known before the first DDL or the first
// data change is checked before it, named with the schema file:line and a
// policy that would work, and nothing changes (rows, catalog); the other
// tables of the run go ahead where that is the run's semantics
// (scan --fix --skip-refused).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class RefusalTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    // A table the repairs can fix, beside the tables whose repairs cannot work.
    exec("CREATE TABLE other (id integer PRIMARY KEY, qty integer)");
    exec("INSERT INTO other VALUES (1, 5), (2, -3)");
    write_file(dir_ / "schema/other.toml",
               "table = \"other\"\n[[check]]\nname = \"other_qty_nonnegative\"\ncolumn = \"qty\"\nmin = 0\nrepair = "
               "\"clamp\"\n");
  }
  std::string scalar_text(const std::string& sql) const {
    std::string out;
    connect(url_)->query(sql, [&](const dialect::Row& r) { out = dialect::value_text(r[0]); });
    return out;
  }
  std::string runs() const {
    // Fix runs recorded (the bookkeeping tables exist only once a run committed).
    auto db = connect(url_);
    bool exists = false;
    db->query(db->dialect().table_exists_sql(model::TableName{"constraintctl_fix_runs"}),
              [&](const dialect::Row& r) { exists = dialect::value_int(r[0]) > 0; });
    return exists ? content({"constraintctl_fix_runs"}).substr(std::string("-- constraintctl_fix_runs\n").size()) : "";
  }
  // scan (without --fix) already says the declared repair cannot work.
  void expect_scan_warns(const std::string& constraint, const std::string& why) {
    auto text = cli({"scan"}, dir_.path());
    EXPECT_EQ(text.exit_code, 1) << text.out << text.err;
    EXPECT_TRUE(has(text.out, "cannot work")) << text.out;
    EXPECT_TRUE(has(text.out, why)) << text.out;
    auto json = cli({"scan", "--json"}, dir_.path());
    auto doc = nlohmann::json::parse(json.out);
    bool found = false;
    for (const auto& c : doc["constraints"]) {
      if (c["name"] != constraint) continue;
      found = true;
      ASSERT_TRUE(c.contains("repair_refused")) << c.dump();
      EXPECT_TRUE(has(c["repair_refused"].get<std::string>(), why)) << c.dump();
    }
    EXPECT_TRUE(found) << doc.dump();
  }
  // Every refusal path: the dry run and the real run refuse alike, change
  // nothing, name the constraint, its file:line and a suggested policy; with
  // --skip-refused the other table is repaired and the refused one is not.
  void expect_refused(const std::vector<std::string>& tables, const std::string& constraint,
                      const std::string& location, const std::vector<std::string>& words) {
    std::vector<std::string> all = tables;
    all.push_back("other");
    const auto before = content(all);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"scan", "--fix", "--dry-run"}, {"scan", "--fix"}, {"apply", "--fix"}}) {
      auto r = cli(args, dir_.path());
      EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1] << "\n" << r.out << r.err;
      EXPECT_TRUE(has(r.err, constraint)) << r.err;
      EXPECT_TRUE(has(r.err, location)) << r.err;
      EXPECT_TRUE(has(r.err, "Suggested policy")) << r.err;
      EXPECT_TRUE(has(r.err, "Nothing was changed")) << r.err;
      for (const auto& w : words) EXPECT_TRUE(has(r.err, w)) << w << "\n" << r.err;
      EXPECT_EQ(content(all), before);
      EXPECT_EQ(runs(), "");
    }
    auto skip = cli({"scan", "--fix", "--skip-refused", "--json"}, dir_.path());
    EXPECT_EQ(skip.exit_code, 1) << skip.out << skip.err;  // the refused table's violations remain
    auto doc = nlohmann::json::parse(skip.out);
    ASSERT_EQ(doc["refused"].size(), 1u) << doc.dump();
    EXPECT_TRUE(has(doc["refused"][0].get<std::string>(), constraint)) << doc.dump();
    EXPECT_TRUE(has(doc["refused"][0].get<std::string>(), location)) << doc.dump();
    EXPECT_EQ(scalar("SELECT qty FROM other WHERE id = 2"), 0);
    EXPECT_EQ(content(tables), [&] {
      // The refused tables are exactly as before.
      std::string out;
      for (const auto& t : tables) {
        const auto pos = before.find("-- " + t + "\n");
        const auto end = before.find("-- ", pos + 3);
        out += before.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      }
      return out;
    }());
  }
};

TEST_P(RefusalTest, ClampOnAGeneratedColumnIsRefusedBeforeTheRun) {
  exec(pg() ? "CREATE TABLE lines (id integer PRIMARY KEY, qty integer, total integer GENERATED ALWAYS AS (qty * 2) "
              "STORED)"
            : "CREATE TABLE lines (id integer PRIMARY KEY, qty integer, total integer GENERATED ALWAYS AS (qty * 2) "
              "VIRTUAL)");
  exec("INSERT INTO lines (id, qty) VALUES (1, 1), (2, 20), (3, 40)");
  write_file(dir_ / "schema/lines.toml",
             "table = \"lines\"\n[[check]]\nname = \"lines_total_max\"\ncolumn = \"total\"\nmax = 50\n"
             "repair = \"clamp\"\n");
  expect_refused({"lines"}, "lines_total_max", "schema/lines.toml:6", {"generated", "delete"});
  expect_scan_warns("lines_total_max", "generated");
}

TEST_P(RefusalTest, SetNullOnANotNullColumnIsRefusedAndClampSuggested) {
  // As Django 3.2 creates humans.apparent_age (IntegerField: integer NOT NULL).
  exec("CREATE TABLE humans (id integer PRIMARY KEY, apparent_age integer NOT NULL)");
  exec("INSERT INTO humans VALUES (1, 30), (2, 250), (3, -4)");
  write_file(dir_ / "schema/humans.toml",
             "table = \"humans\"\n\n[[check]]\nname = \"humans_apparent_age_range\"\ncolumn = \"apparent_age\"\nmin = "
             "0\nmax = 200\n"
             "repair = \"set_null\"\n");
  expect_refused({"humans"}, "humans_apparent_age_range", "schema/humans.toml:8", {"NOT NULL", "clamp"});
  expect_scan_warns("humans_apparent_age_range", "NOT NULL");
}

TEST_P(RefusalTest, SetValueThatAnotherCheckOfTheTableRefusesIsRefused) {
  exec(
      "CREATE TABLE characters (id integer PRIMARY KEY, status text, CONSTRAINT characters_not_un CHECK (status <> "
      "'Un'))");
  exec("INSERT INTO characters VALUES (1, 'App'), (2, 'Zz')");
  write_file(dir_ / "schema/characters.toml",
             "table = \"characters\"\n[[check]]\nname = \"characters_status_valid\"\ncolumn = \"status\"\n"
             "in = [\"Un\", \"Sub\", \"App\", \"Ret\", \"Dec\"]\nrepair = { policy = \"set\", value = \"Un\" }\n");
  expect_refused({"characters"}, "characters_status_valid", "schema/characters.toml:6", {"characters_not_un"});
}

TEST_P(RefusalTest, SetValueThatAUniqueOfTheTableRefusesIsRefused) {
  exec("CREATE TABLE codes (id integer PRIMARY KEY, code text, CONSTRAINT codes_code_key UNIQUE (code))");
  exec("INSERT INTO codes VALUES (1, 'A'), (2, 'zz'), (3, 'yy')");
  write_file(dir_ / "schema/codes.toml",
             "table = \"codes\"\n[[check]]\nname = \"codes_code_valid\"\ncolumn = \"code\"\nin = [\"A\", \"B\"]\n"
             "repair = { policy = \"set\", value = \"B\" }\n");
  expect_refused({"codes"}, "codes_code_valid", "schema/codes.toml:6", {"UNIQUE", "codes_code_key"});
}

TEST_P(RefusalTest, SetValueThatAForeignKeyRefusesIsACleanRefusalNotADatabaseError) {
  exec("CREATE TABLE parent (id integer PRIMARY KEY)");
  exec("INSERT INTO parent VALUES (1), (2), (20)");
  exec("CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id))");
  exec("INSERT INTO child VALUES (1, 1), (2, 20)");
  write_file(dir_ / "schema/child.toml",
             "table = \"child\"\n[[check]]\nname = \"child_parent_small\"\ncolumn = \"parent_id\"\nmax = 10\n"
             "repair = { policy = \"set\", value = 5 }\n");
  // Found when the database rejects the repair (the safety net): the table's
  // work is rolled back to its savepoint, exit 1, not 3.
  expect_refused({"child", "parent"}, "child_parent_small", "schema/child.toml:6", {"foreign_key_violation"});
}

TEST_P(RefusalTest, SqliteCheckWithANonDeterministicFunctionIsASchemaError) {
  if (pg()) GTEST_SKIP() << "PostgreSQL refuses VOLATILE functions (scan_test)";
  exec("CREATE TABLE events (id integer PRIMARY KEY, at text)");
  exec("INSERT INTO events VALUES (1, '2020-01-01')");
  const auto events_sql = scalar_text("SELECT sql FROM sqlite_schema WHERE name = 'events'");
  for (const std::string expr : {"at <= datetime('now')", "at <= date()", "at <= CURRENT_TIMESTAMP", "random() > 0",
                                 "at <= strftime('%Y-%m-%d')", "at <= datetime(at, 'localtime')"}) {
    write_file(dir_ / "schema/events.toml",
               "table = \"events\"\n[[check]]\nname = \"events_at_past\"\nexpr = \"" + expr + "\"\n");
    auto scan = cli({"scan"}, dir_.path());
    EXPECT_EQ(scan.exit_code, 2) << expr << "\n" << scan.out << scan.err;
    EXPECT_TRUE(has(scan.err, "schema/events.toml:2")) << scan.err;
    EXPECT_TRUE(has(scan.err, "deterministic") || has(scan.err, "clock")) << scan.err;
    // apply (of a migration generated without a database) refuses before the rebuild.
    ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
    auto apply = cli({"apply"}, dir_.path());
    EXPECT_EQ(apply.exit_code, 2) << expr << "\n" << apply.out << apply.err;
    EXPECT_TRUE(has(apply.err, "events_at_past")) << apply.err;
    EXPECT_TRUE(has(apply.err, "deterministic") || has(apply.err, "clock")) << apply.err;
    EXPECT_TRUE(has(apply.err, "Nothing was changed")) << apply.err;
    EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'constraintctl_history'"),
              0);  // not even bookkeeping
    std::filesystem::remove_all(dir_ / "migrations");
    EXPECT_EQ(scalar_text("SELECT sql FROM sqlite_schema WHERE name = 'events'"), events_sql);
  }
  // Fixed dates are deterministic.
  write_file(
      dir_ / "schema/events.toml",
      "table = \"events\"\n[[check]]\nname = \"events_at_past\"\nexpr = \"at <= datetime('2030-01-01', '+1 day')\"\n");
  auto ok = cli({"scan"}, dir_.path());
  EXPECT_EQ(ok.exit_code, 1) << ok.out << ok.err;  // other.qty = -3 still violates
}

// SQLite: the rebuild keeps implicit rowids, so a fix run made before it can
// be undone exactly afterwards.
TEST_P(RefusalTest, SqliteRebuildKeepsImplicitRowidsSoFixUndoRestoresExactly) {
  if (pg()) GTEST_SKIP() << "SQLite's rebuild";
  if (sqlite_native_alter()) GTEST_SKIP() << "no rebuild with native ALTER TABLE";
  exec("CREATE TABLE notes (body text, score integer)");
  exec("INSERT INTO notes (rowid, body, score) VALUES (3, 'a', 5), (7, 'b', -2), (12, 'c', 40), (13, 'd', 1)");
  exec("DELETE FROM other");
  write_file(dir_ / "schema/notes.toml",
             "table = \"notes\"\n[[check]]\nname = \"notes_score_range\"\ncolumn = \"score\"\nmin = 0\nmax = "
             "10\nrepair = \"clamp\"\n");
  auto with_rowid = [&] {
    std::string out;
    auto db = connect(url_);
    db->query("SELECT rowid, body, score FROM notes ORDER BY rowid", [&](const dialect::Row& r) {
      for (const auto& v : r) out += dialect::value_text(v) + "|";
      out += "\n";
    });
    return out;
  };
  const auto before = with_rowid();
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const std::string run = nlohmann::json::parse(fix.out)["run_id"];
  const auto fixed = with_rowid();
  ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  auto apply = cli({"apply"}, dir_.path());
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_EQ(with_rowid(), fixed);  // same rowids after the rebuild
  EXPECT_TRUE(has(scalar_text("SELECT sql FROM sqlite_schema WHERE name = 'notes'"), "notes_score_range"));
  // Undo needs the constraint gone (the before-images violate it): drop it, then undo.
  auto drop = cli({"drop-checks", "--constraint", "notes_score_range"}, dir_.path());
  ASSERT_EQ(drop.exit_code, 0) << drop.out << drop.err;
  auto undo = cli({"fix-undo", run}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(with_rowid(), before);
}

// SQLite: a dangling key that was there before does not block the rebuild of
// its table, and scan reports it.
TEST_P(RefusalTest, SqlitePreExistingDanglingKeyDoesNotBlockAnApply) {
  if (pg()) GTEST_SKIP() << "SQLite's rebuild";
  exec("CREATE TABLE owners (id integer PRIMARY KEY)");
  exec("INSERT INTO owners VALUES (1)");
  exec("CREATE TABLE pets (id integer PRIMARY KEY, owner_id integer REFERENCES owners (id), age integer)");
  exec("INSERT INTO pets VALUES (1, 1, 3), (2, 99, 4)");  // foreign keys are off by default: 99 dangles
  exec("DELETE FROM other");
  write_file(dir_ / "schema/pets.toml",
             "table = \"pets\"\n[[check]]\nname = \"pets_age_nonnegative\"\ncolumn = \"age\"\nmin = 0\n");
  write_file(dir_ / "schema/owners.toml",
             "table = \"owners\"\n[[check]]\nname = \"owners_id_positive\"\ncolumn = \"id\"\nmin = 1\n");
  auto scan = cli({"scan", "--json"}, dir_.path());
  EXPECT_EQ(scan.exit_code, 0) << scan.out << scan.err;
  auto doc = nlohmann::json::parse(scan.out);
  ASSERT_TRUE(doc.contains("dangling_foreign_keys")) << doc.dump();
  ASSERT_EQ(doc["dangling_foreign_keys"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["dangling_foreign_keys"][0]["table"], "pets");
  EXPECT_EQ(doc["dangling_foreign_keys"][0]["parent"], "owners");
  auto text = cli({"scan"}, dir_.path());
  EXPECT_TRUE(has(text.err + text.out, "pets")) << text.out << text.err;
  ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  auto apply = cli({"apply"}, dir_.path());
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_TRUE(has(scalar_text("SELECT sql FROM sqlite_schema WHERE name = 'pets'"), "pets_age_nonnegative"));
  EXPECT_TRUE(has(scalar_text("SELECT sql FROM sqlite_schema WHERE name = 'owners'"), "owners_id_positive"));
  EXPECT_EQ(scalar("SELECT count(*) FROM pets"), 2);
  // Once applied no rebuild is pending: scan no longer pays for the check.
  auto later = cli({"scan", "--json"}, dir_.path());
  EXPECT_EQ(later.exit_code, 0) << later.out << later.err;
  EXPECT_EQ(nlohmann::json::parse(later.out)["dangling_foreign_keys"].size(), 0u) << later.out;
}

// PostgreSQL: a UNIQUE on a partitioned table is refused before any DDL when
// the partition key does not allow it, and built (in one transaction) when it
// does; CHECKs on partitioned tables go in NOT VALID and are validated;
// scan and fix work on them.
TEST_P(RefusalTest, PostgresPartitionedTableUniqueIsBuiltOrRefusedBeforeAnyDdl) {
  if (!pg()) GTEST_SKIP() << "PostgreSQL partitioning";
  exec(
      "CREATE TABLE orders (id integer NOT NULL, region text NOT NULL, amount integer, ref integer, PRIMARY KEY (id, "
      "region)) "
      "PARTITION BY LIST (region)");
  exec("CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu')");
  exec("CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us')");
  exec("INSERT INTO orders VALUES (1, 'eu', 10, 100), (2, 'us', -5, 200), (3, 'us', 7, 300)");
  exec("CREATE TABLE accounts (id integer PRIMARY KEY, email text)");
  exec("INSERT INTO accounts VALUES (1, 'a'), (2, 'b')");
  exec("DELETE FROM other WHERE qty < 0");
  write_file(dir_ / "schema/accounts.toml",
             "table = \"accounts\"\n[[unique]]\nname = \"accounts_email_key\"\ncolumns = [\"email\"]\n");
  write_file(dir_ / "schema/orders.toml",
             "table = \"orders\"\n[[check]]\nname = \"orders_amount_nonnegative\"\ncolumn = \"amount\"\nmin = "
             "0\nrepair = \"clamp\"\n"
             "[[unique]]\nname = \"orders_ref_key\"\ncolumns = [\"ref\"]\n");
  auto indexes = [&] {
    return scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE 'constraintctl%'");
  };
  auto constraints = [&] {
    return scalar("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'orders_%' OR conname LIKE 'accounts_%'");
  };
  const auto indexes_before = indexes(), constraints_before = constraints();

  // scan and fix on the partitioned table.
  auto scan = cli({"scan", "--json"}, dir_.path());
  EXPECT_EQ(scan.exit_code, 1) << scan.out << scan.err;
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(scalar("SELECT amount FROM orders WHERE id = 2"), 0);

  ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"apply", "--dry-run"}, {"apply"}, {"apply"}}) {
    auto r = cli(args, dir_.path());
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "orders_ref_key")) << r.err;
    EXPECT_TRUE(has(r.err, "partition")) << r.err;
    EXPECT_TRUE(has(r.err, "region")) << r.err;
    EXPECT_EQ(indexes(), indexes_before);  // not even the other table's index was built
    EXPECT_EQ(constraints(), constraints_before);
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname = 'constraintctl_history'"),
              0);  // not even bookkeeping
  }

  // With the partition key in the UNIQUE it is built, the CHECK validated.
  std::filesystem::remove_all(dir_ / "migrations");
  write_file(dir_ / "schema/orders.toml",
             "table = \"orders\"\n[[check]]\nname = \"orders_amount_nonnegative\"\ncolumn = \"amount\"\nmin = "
             "0\nrepair = \"clamp\"\n"
             "[[unique]]\nname = \"orders_ref_region_key\"\ncolumns = [\"ref\", \"region\"]\n");
  ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  auto dry = cli({"apply", "--dry-run"}, dir_.path());
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_TRUE(has(dry.out, "partitioned table")) << dry.out;
  auto apply = cli({"apply"}, dir_.path());
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_ref_region_key' AND contype = 'u'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_amount_nonnegative' AND convalidated"),
            3);  // parent + 2 partitions
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'accounts_email_key' AND contype = 'u'"), 1);
  EXPECT_THROW(exec("INSERT INTO orders VALUES (8, 'eu', 1, 100)"), DatabaseError);
  EXPECT_THROW(exec("INSERT INTO orders VALUES (9, 'eu', -1, 900)"), DatabaseError);
  // verify: the CHECK's probe is refused by the partition's inherited CHECK, the
  // UNIQUE's by the partition's index attached to the declared one.
  auto verify = cli({"verify", "--json"}, dir_.path());
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const auto verified = nlohmann::json::parse(verify.out);  // named: a range-for over a temporary's member dangles
  for (const auto& c : verified["constraints"]) EXPECT_EQ(c["status"], "ok") << c.dump();
  auto rerun = cli({"apply"}, dir_.path());
  EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  auto after = cli({"scan", "--json"}, dir_.path());
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  auto back = cli({"rollback", "--to", "0"}, dir_.path());
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(constraints(), constraints_before);
}

INSTANTIATE_TEST_SUITE_P(Dialects, RefusalTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace cc::test
