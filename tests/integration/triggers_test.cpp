// What user triggers do while a fix runs: their writes to other tables (a
// total updated, a row logged into a table without a primary key, rows of a
// third table deleted, a chain of triggers) are captured into the audit, shown
// by the dry run, and reversed by fix-undo, so every table's content after
// scan --fix then fix-undo equals the content before. A trigger whose effects
// cannot be captured refuses the fix before anything changes.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

const std::vector<std::string> kTables = {"items", "item_parts", "totals", "stale", "event_log", "counters"};

class TriggersTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    const std::string real = pg() ? "float8" : "REAL";
    exec("CREATE TABLE items (id integer PRIMARY KEY, name text, qty integer, price " + real + ")");
    exec(
        "CREATE TABLE item_parts (id integer PRIMARY KEY, item_id integer NOT NULL REFERENCES items (id) ON DELETE "
        "CASCADE, weight " +
        real + ")");
    exec("CREATE TABLE totals (k text PRIMARY KEY, qty integer NOT NULL, parts integer NOT NULL)");
    exec("CREATE TABLE stale (id integer PRIMARY KEY, item_id integer, note text)");
    exec("CREATE TABLE event_log (what text, at_qty integer)");  // no primary key
    exec("CREATE TABLE counters (k text PRIMARY KEY, n integer NOT NULL)");
    exec(
        "INSERT INTO items VALUES (1, 'a', 5, 0.30000000000000004), (2, 'b', -3, 1e300), (3, 'a', 7, -0.0), "
        "(4, 'c', -1, 2.5), (5, 'd', 4, NULL)");
    exec("INSERT INTO item_parts VALUES (10, 3, 0.1), (11, 3, 2.5e-300), (12, 1, NULL), (13, 5, 1)");
    exec("INSERT INTO totals VALUES ('all', 12, 4)");
    exec("INSERT INTO stale VALUES (1, 2, 'x'), (2, 4, 'y'), (3, 5, 'z'), (4, 3, 'w')");
    exec("INSERT INTO event_log VALUES ('start', 0), ('start', 0)");
    exec("INSERT INTO counters VALUES ('events', 2)");
    if (pg()) {
      exec(
          "CREATE FUNCTION items_upd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE totals SET qty = qty + NEW.qty - OLD.qty WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('item updated', NEW.qty); "
          "DELETE FROM stale WHERE item_id = NEW.id; RETURN NULL; END $$");
      exec("CREATE TRIGGER items_upd AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_upd()");
      exec(
          "CREATE FUNCTION items_del() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE totals SET qty = qty - OLD.qty WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('item deleted', OLD.qty); "
          "DELETE FROM stale WHERE item_id = OLD.id; RETURN NULL; END $$");
      exec("CREATE TRIGGER items_del AFTER DELETE ON items FOR EACH ROW EXECUTE FUNCTION items_del()");
      exec(
          "CREATE FUNCTION parts_del() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE totals SET parts = parts - 1 WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('part deleted', OLD.id); RETURN NULL; END $$");
      exec("CREATE TRIGGER parts_del AFTER DELETE ON item_parts FOR EACH ROW EXECUTE FUNCTION parts_del()");
      exec(
          "CREATE FUNCTION log_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE counters SET n = n + 1 WHERE k = 'events'; RETURN NULL; END $$");
      exec("CREATE TRIGGER log_count AFTER INSERT ON event_log FOR EACH ROW EXECUTE FUNCTION log_count()");
    } else {
      exec(
          "CREATE TRIGGER items_upd AFTER UPDATE ON items BEGIN "
          "UPDATE totals SET qty = qty + NEW.qty - OLD.qty WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('item updated', NEW.qty); "
          "DELETE FROM stale WHERE item_id = NEW.id; END");
      exec(
          "CREATE TRIGGER items_del AFTER DELETE ON items BEGIN "
          "UPDATE totals SET qty = qty - OLD.qty WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('item deleted', OLD.qty); "
          "DELETE FROM stale WHERE item_id = OLD.id; END");
      exec(
          "CREATE TRIGGER parts_del AFTER DELETE ON item_parts BEGIN "
          "UPDATE totals SET parts = parts - 1 WHERE k = 'all'; "
          "INSERT INTO event_log VALUES ('part deleted', OLD.id); END");
      exec(
          "CREATE TRIGGER log_count AFTER INSERT ON event_log BEGIN UPDATE counters SET n = n + 1 WHERE k = 'events'; "
          "END");
    }
    // qty < 0 is clamped (UPDATE: items_upd), duplicate names deleted (DELETE: items_del, and the
    // CASCADE into item_parts: parts_del); every trigger logs, and the log's trigger counts (a chain).
    write_file(dir_ / "schema/items.toml",
               "table = \"items\"\n[[check]]\nname = \"items_qty_nonnegative\"\ncolumn = \"qty\"\nmin = 0\n"
               "repair = \"clamp\"\n[[unique]]\nname = \"items_name_unique\"\ncolumns = [\"name\"]\n"
               "repair = { policy = \"delete_duplicates\", keep = \"lowest\", allow_cascade = true }\n");
  }
  std::string everything() const { return content(kTables); }
  std::int64_t count(const std::string& table) const { return scalar("SELECT count(*) FROM " + table); }
};

TEST_P(TriggersTest, WhatTriggersWriteDuringTheFixIsAuditedAndUndone) {
  const auto before = everything();
  const auto events = count("event_log");

  auto dry = cli({"scan", "--fix", "--dry-run", "--json"}, dir_.path());
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  const auto dry_doc = nlohmann::json::parse(dry.out);
  EXPECT_EQ(everything(), before);  // the dry run changed nothing

  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const auto doc = nlohmann::json::parse(fix.out);
  const std::string run = doc["run_id"];
  EXPECT_EQ(dry_doc["trigger_effects"], doc["trigger_effects"]);  // the dry run showed them exactly
  std::map<std::string, nlohmann::json> effects;
  const auto& listed = doc["trigger_effects"];
  for (const auto& e : listed) effects[e["table"].get<std::string>()] = e;
  // Item 3 deleted (a duplicate of 'a', with its 2 parts), items 2 and 4 clamped:
  // 3 item events + 2 part events logged, each counted; totals updated; 3 stale rows deleted.
  EXPECT_EQ(effects["event_log"]["inserted"], 5) << listed.dump();
  EXPECT_EQ(effects["counters"]["updated"], 1) << listed.dump();
  EXPECT_EQ(effects["totals"]["updated"], 1) << listed.dump();
  EXPECT_EQ(effects["stale"]["deleted"], 3) << listed.dump();
  EXPECT_EQ(count("event_log"), events + 5);
  EXPECT_EQ(scalar("SELECT n FROM counters"), events + 5);
  EXPECT_EQ(count("stale"), 1);
  EXPECT_EQ(count("item_parts"), 2);
  // The recording left nothing behind in the catalog.
  EXPECT_EQ(scalar(pg() ? "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cc_capture%'"
                        : "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc_capture%'"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_fix_runs WHERE run_id = '" + run +
                   "' AND summary LIKE '%trigger effects audited: %event_log 5 inserted%'"),
            1);

  auto text = cli({"scan", "--fix", "--dry-run"}, dir_.path());  // nothing left to fix: no effects to show
  EXPECT_EQ(text.exit_code, 0) << text.err;

  auto undo = cli({"fix-undo", run, "--json"}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(everything(), before);  // every table: counts and content, the log and the chain's counter too
  EXPECT_EQ(count("event_log"), events);
  const auto undo_doc = nlohmann::json::parse(undo.out);
  EXPECT_EQ(undo_doc["trigger_rows"], 5 + 1 + 1 + 3) << undo.out;

  // The triggers are back, and fire as before.
  exec("UPDATE items SET qty = 6 WHERE id = 1");
  EXPECT_EQ(scalar("SELECT qty FROM totals"), 13);
  EXPECT_EQ(count("event_log"), events + 1);
}

// Rows a trigger inserts into a table with a composite key, two per fixed row
// and interleaved with another table's: undo deletes them all by their key.
TEST_P(TriggersTest, RowsTriggersInsertUnderACompositeKeyAreDeletedByUndo) {
  exec(
      "CREATE TABLE qty_history (item_id integer NOT NULL, step text NOT NULL, qty integer, PRIMARY KEY (item_id, "
      "step))");
  exec("INSERT INTO qty_history VALUES (1, 'from', 5), (2, 'old', -3)");
  if (pg()) {
    exec(
        "CREATE FUNCTION qty_hist() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO qty_history VALUES (NEW.id, 'from', OLD.qty), (NEW.id, 'to', NEW.qty); RETURN NULL; END $$");
    exec("CREATE TRIGGER qty_hist AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION qty_hist()");
  } else {
    exec(
        "CREATE TRIGGER qty_hist AFTER UPDATE ON items BEGIN INSERT INTO qty_history VALUES (NEW.id, 'from', "
        "OLD.qty); INSERT INTO qty_history VALUES (NEW.id, 'to', NEW.qty); END");
  }
  auto tables = kTables;
  tables.push_back("qty_history");
  const auto before = content(tables);
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(count("qty_history"), 2 + 4);  // items 2 and 4 clamped
  EXPECT_EQ(scalar("SELECT qty FROM qty_history WHERE item_id = 2 AND step = 'to'"), 0);
  auto undo = cli({"fix-undo", nlohmann::json::parse(fix.out)["run_id"].get<std::string>()}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(content(tables), before);
  EXPECT_EQ(count("qty_history"), 2);
}

// A trigger that moves rows to a new key (the old key's row gone, the new
// key's there) and one that inserts a row, updates it and deletes it again
// within the run: the audit holds the first as a delete and an insert, the
// second not at all, and undo restores every table exactly.
TEST_P(TriggersTest, RowsATriggerMovesToANewKeyOrCreatesAndRemovesAreUndoneExactly) {
  const std::string body =
      "UPDATE stale SET id = id + 100 WHERE item_id = NEW.id; "
      "INSERT INTO counters VALUES ('tmp' || NEW.id, 1); "
      "UPDATE counters SET n = n + 1 WHERE k = 'tmp' || NEW.id; "
      "DELETE FROM counters WHERE k = 'tmp' || NEW.id;";
  if (pg()) {
    exec("CREATE OR REPLACE FUNCTION items_upd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " + body +
         " RETURN NULL; END $$");
  } else {
    exec("DROP TRIGGER items_upd");
    exec("CREATE TRIGGER items_upd AFTER UPDATE ON items BEGIN " + body + " END");
  }
  const auto before = everything();
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const auto doc = nlohmann::json::parse(fix.out);
  std::map<std::string, nlohmann::json> effects;
  for (const auto& e : doc["trigger_effects"]) effects[e["table"].get<std::string>()] = e;
  // Items 2 and 4 clamped: their stale rows (ids 1 and 2) moved to 101 and 102;
  // item 3 deleted: its stale row (id 4) deleted by items_del.
  EXPECT_EQ(effects["stale"]["deleted"], 3) << doc["trigger_effects"].dump();
  EXPECT_EQ(effects["stale"]["inserted"], 2) << doc["trigger_effects"].dump();
  EXPECT_EQ(scalar("SELECT count(*) FROM stale WHERE id > 100"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM counters WHERE k LIKE 'tmp%'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_audit WHERE run_id = '" + doc["run_id"].get<std::string>() +
                   "' AND table_name = 'counters' AND CAST(row_key AS TEXT) LIKE '%tmp%'"),
            0);
  auto undo = cli({"fix-undo", doc["run_id"].get<std::string>()}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(everything(), before);
}
// A key whose JSON image is longer than a PostgreSQL b-tree entry may be
// (2 704 bytes) while the key itself fits its primary key's index: two
// columns of 1 300 bytes of text that does not compress, under long column
// names. Its rows, repaired and touched by their own trigger, are told from
// the trigger's writes and undone like any other.
TEST_P(TriggersTest, AKeyWhoseImageIsLongerThanAnIndexEntryIsCapturedAndUndone) {
  const std::string c1(60, 'a'), c2(60, 'b');
  auto long_text = [](std::uint32_t seed) {
    std::string out;
    for (int i = 0; i < 650; ++i) {  // U+0400..U+07FF: two bytes each in UTF-8
      seed = seed * 1664525u + 1013904223u;
      const std::uint32_t cp = 0x400 + (seed >> 8) % 0x400;
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  };
  exec("CREATE TABLE tags (" + c1 + " text, " + c2 + " text, n integer, touched integer NOT NULL DEFAULT 0, " +
       "PRIMARY KEY (" + c1 + ", " + c2 + "))");
  for (std::uint32_t s = 1; s <= 3; ++s)
    exec("INSERT INTO tags VALUES ('" + long_text(s) + "', '" + long_text(s + 10) + "', " +
         std::to_string(2 - static_cast<int>(s)) + ", 0)");
  const std::string touch =
      "UPDATE tags SET touched = touched + 1 WHERE " + c1 + " = NEW." + c1 + " AND " + c2 + " = NEW." + c2 + ";";
  if (pg()) {
    exec("CREATE FUNCTION tags_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " + touch + " RETURN NULL; END $$");
    exec("CREATE TRIGGER tags_touch AFTER UPDATE OF n ON tags FOR EACH ROW EXECUTE FUNCTION tags_touch()");
  } else {
    exec("CREATE TRIGGER tags_touch AFTER UPDATE OF n ON tags BEGIN " + touch + " END");
  }
  write_file(
      dir_ / "schema/tags.toml",
      "table = \"tags\"\n[[check]]\nname = \"tags_n_nonnegative\"\ncolumn = \"n\"\nmin = 0\nrepair = \"clamp\"\n");
  auto tables = kTables;
  tables.push_back("tags");
  const auto before = content(tables);
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM tags WHERE n < 0"), 0);
  EXPECT_EQ(scalar("SELECT sum(touched) FROM tags"), 1);  // the one row clamped (n = -1), touched by its trigger
  auto undo = cli({"fix-undo", nlohmann::json::parse(fix.out)["run_id"].get<std::string>()}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(content(tables), before);
}

// The fix works in temp tables of its own; a user's tables that happen to
// have their names are never the ones it drops.
TEST_P(TriggersTest, UserTablesNamedLikeTheFixsTempTablesAreLeftAlone) {
  const std::vector<std::string> names = {"cc_fix_images", "cc_fix_keys_0", "cc_fix_dups", "cc_mine", "cc_emit"};
  for (const auto& n : names) {
    exec("CREATE TABLE " + n + " (v integer)");
    exec("INSERT INTO " + n + " VALUES (7)");
  }
  for (const auto& n : names) ASSERT_EQ(scalar("SELECT v FROM " + n), 7) << n;
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  for (const auto& n : names) EXPECT_EQ(scalar("SELECT v FROM " + n), 7) << n;
  auto undo = cli({"fix-undo", nlohmann::json::parse(fix.out)["run_id"].get<std::string>()}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  for (const auto& n : names) EXPECT_EQ(scalar("SELECT v FROM " + n), 7) << n;
}

TEST_P(TriggersTest, TheDryRunNamesWhatTheTriggersWouldChange) {
  const auto before = everything();
  auto text = cli({"scan", "--fix", "--dry-run"}, dir_.path());
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("by triggers, in event_log: 5 rows inserted"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("in stale: 0 rows inserted, 0 updated, 3 deleted"), std::string::npos) << text.out;
  EXPECT_EQ(everything(), before);
}

TEST_P(TriggersTest, UndoRefusesWhenARowATriggerWroteChangedSince) {
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const std::string run = nlohmann::json::parse(fix.out)["run_id"];
  exec("UPDATE totals SET qty = 100");
  const auto now = everything();
  auto undo = cli({"fix-undo", run}, dir_.path());
  EXPECT_EQ(undo.exit_code, 1) << undo.out << undo.err;
  EXPECT_NE(undo.err.find("'totals'"), std::string::npos) << undo.err;
  EXPECT_EQ(everything(), now);
}

// The clamps of items 2 and 4 each log ('item updated', 0): two equal rows
// in a table without a key. One deleted since the run is named, and only
// with --force is the other taken out, the rows logged before left alone.
TEST_P(TriggersTest, EqualRowsTriggersLoggedWithoutAKeyAreCountedByUndo) {
  const auto events = count("event_log");
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const std::string run = nlohmann::json::parse(fix.out)["run_id"];
  const std::string logged = "SELECT count(*) FROM event_log WHERE what = 'item updated' AND at_qty = 0";
  ASSERT_EQ(scalar(logged), 2);
  exec(pg() ? "DELETE FROM event_log WHERE ctid = (SELECT min(ctid) FROM event_log WHERE what = 'item updated')"
            : "DELETE FROM event_log WHERE rowid = (SELECT min(rowid) FROM event_log WHERE what = 'item updated')");
  const auto now = everything();
  auto undo = cli({"fix-undo", run}, dir_.path());
  EXPECT_EQ(undo.exit_code, 1) << undo.out << undo.err;
  EXPECT_NE(undo.err.find("'event_log'"), std::string::npos) << undo.err;
  EXPECT_EQ(everything(), now);
  auto forced = cli({"fix-undo", run, "--force"}, dir_.path());
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(scalar(logged), 0);
  EXPECT_EQ(count("event_log"), events);  // the run's other log rows gone too, the 2 before it kept
  EXPECT_EQ(scalar("SELECT count(*) FROM event_log WHERE what = 'start'"), 2);
}

// The report after the fix is counted on the rows the fix worked on, plus a
// full pass of every declared table a trigger changed: a violation the
// triggers caused in a table that had none is shown, and the exit says so.
TEST_P(TriggersTest, TheReportAfterTheFixCountsWhatTheTriggersBroke) {
  write_file(dir_ / "schema/counters.toml",
             "table = \"counters\"\n[[check]]\nname = \"counters_n_small\"\ncolumn = \"n\"\nmax = 3\n"
             "repair = \"report\"\n");
  auto scan = cli({"scan", "--json"}, dir_.path());
  ASSERT_EQ(scan.exit_code, 1) << scan.out << scan.err;
  const auto before = nlohmann::json::parse(scan.out);
  std::int64_t was = -1;
  for (const auto& c : before["constraints"]) {
    if (c["name"] == "counters_n_small") was = c["violations"].get<std::int64_t>();
  }
  EXPECT_EQ(was, 0) << scan.out;  // n = 2 before the fix
  auto fix = cli({"scan", "--fix", "--json"}, dir_.path());
  EXPECT_EQ(fix.exit_code, 1) << fix.out << fix.err;  // the triggers took the counter past 3
  const auto doc = nlohmann::json::parse(fix.out);
  std::int64_t now = -1, items = -1;
  for (const auto& c : doc["constraints"]) {
    if (c["name"] == "counters_n_small") now = c["violations"].get<std::int64_t>();
    if (c["name"] == "items_qty_nonnegative") items = c["violations"].get<std::int64_t>();
  }
  EXPECT_EQ(now, 1) << fix.out;
  EXPECT_EQ(items, 0) << fix.out;
  EXPECT_EQ(scalar("SELECT n FROM counters"), 7);
  auto again = cli({"scan", "--json"}, dir_.path());  // what a full scan says agrees
  const auto full = nlohmann::json::parse(again.out);
  for (const auto& c : full["constraints"]) {
    if (c["name"] == "counters_n_small") {
      EXPECT_EQ(c["violations"], 1) << again.out;
    }
  }
}

TEST_P(TriggersTest, TheFixtureStatusLogIsUnchangedAfterFixAndUndo) {
  load_fixture(200);
  const std::vector<std::string> tables = {"characters", "humans", "character_log", "users", "chronicles"};
  const auto before = content(tables);
  const auto logged = count("character_log");
  auto fix = cli({"scan", "--fix", "--json"});
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const auto doc = nlohmann::json::parse(fix.out);
  const std::string run = doc["run_id"];
  EXPECT_GT(count("character_log"), logged);  // characters_log_status fired on the repaired statuses
  auto undo = cli({"fix-undo", run});
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(content(tables), before);
}

INSTANTIATE_TEST_SUITE_P(Dialects, TriggersTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

// PostgreSQL only: what cannot be captured refuses the fix, changing nothing.
class TriggersPostgresTest : public TriggersTest {};

TEST_P(TriggersPostgresTest, PostgresTriggerActingOutsideTheDatabaseRefusesUnlessAllowed) {
  exec(
      "CREATE FUNCTION items_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "PERFORM pg_notify('items', NEW.id::text); RETURN NULL; END $$");
  exec("CREATE TRIGGER items_notify AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_notify()");
  const auto before = everything();
  auto refused = cli({"scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("trigger items_notify on 'items'"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("pg_notify"), std::string::npos) << refused.err;
  EXPECT_EQ(everything(), before);

  auto allowed = cli({"scan", "--fix", "--allow-triggers", "--json"}, dir_.path());
  ASSERT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
  const auto doc = nlohmann::json::parse(allowed.out);
  const std::string run = doc["run_id"];
  EXPECT_NE(doc["triggers_uncaptured"].dump().find("items_notify"), std::string::npos) << allowed.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_fix_runs WHERE run_id = '" + run +
                   "' AND summary LIKE '%allowed without capture (--allow-triggers): trigger items_notify%'"),
            1);
  auto undo = cli({"fix-undo", run}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(everything(), before);  // what stayed in the database is undone all the same
}

// apply --fix runs the same fix: an uncapturable trigger refuses it (the new CHECK is taken back),
// and --allow-triggers lets it through, named in the output and the run's summary.
TEST_P(TriggersPostgresTest, PostgresApplyFixRefusesAnUncapturableTriggerUnlessAllowed) {
  exec(
      "CREATE FUNCTION items_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "PERFORM pg_notify('items', NEW.id::text); RETURN NULL; END $$");
  exec("CREATE TRIGGER items_notify AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_notify()");
  ASSERT_EQ(cli({"generate"}, dir_.path()).exit_code, 0);
  const auto before = everything();
  auto refused = cli({"apply", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("trigger items_notify on 'items'"), std::string::npos) << refused.err;
  EXPECT_EQ(everything(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'items_qty_nonnegative'"), 0);

  EXPECT_EQ(cli({"apply", "--allow-triggers"}, dir_.path()).exit_code, 2);  // goes with --fix
  auto allowed = cli({"apply", "--fix", "--allow-triggers"}, dir_.path());
  ASSERT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
  EXPECT_NE(allowed.out.find("NOT audited (--allow-triggers): trigger items_notify on 'items'"), std::string::npos)
      << allowed.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'items_qty_nonnegative' AND convalidated"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM items WHERE qty < 0"), 0);
}

// TRUNCATE fires no row-level trigger and counts no deleted row, so neither the capture nor the
// write counts would see what it empties: the fix refuses, and a column merely named like it does not.
TEST_P(TriggersPostgresTest, PostgresTriggerThatTruncatesRefusesWithNothingChanged) {
  exec("ALTER TABLE stale ADD COLUMN truncated_at text");
  exec(
      "CREATE FUNCTION items_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "UPDATE stale SET truncated_at = 'never' WHERE false; TRUNCATE event_log; RETURN NULL; END $$");
  exec("CREATE TRIGGER items_truncate AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_truncate()");
  const auto before = everything();
  auto refused = cli({"scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("trigger items_truncate on 'items'"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("TRUNCATE"), std::string::npos) << refused.err;
  EXPECT_EQ(everything(), before);
  EXPECT_EQ(count("event_log"), 2);

  exec(
      "CREATE OR REPLACE FUNCTION items_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "UPDATE stale SET truncated_at = 'now' WHERE item_id = NEW.id; RETURN NULL; END $$");
  auto fixed = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  const auto doc = nlohmann::json::parse(fixed.out);
  const std::string run = doc["run_id"];
  auto undo = cli({"fix-undo", run}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(everything(), before);
}

TEST_P(TriggersPostgresTest, PostgresNoTriggerPrivilegeOnALoggedTableRefusesWithNothingChanged) {
  const std::string role = "cc_trig_" + pgdb_->name();
  DropRoleAtEnd drop{*pgdb_, role};
  pgdb_->psql("CREATE ROLE " + role + " LOGIN NOSUPERUSER; GRANT CONNECT, TEMPORARY ON DATABASE \"" + pgdb_->name() +
              "\" TO " + role);
  // The role owns what it repairs, and may only insert into the log and update the counter.
  pgdb_->psql("GRANT USAGE, CREATE ON SCHEMA public TO " + role + "; ALTER TABLE items OWNER TO " + role +
              "; ALTER TABLE item_parts OWNER TO " + role + "; ALTER TABLE totals OWNER TO " + role +
              "; ALTER TABLE stale OWNER TO " + role + "; ALTER TABLE counters OWNER TO " + role +
              "; GRANT INSERT, SELECT ON event_log TO " + role);
  const auto before = everything();
  const std::string url = url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "user=" + role;
  auto refused = run_cli({"--db", url, "scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("event_log"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("Nothing was changed"), std::string::npos) << refused.err;
  EXPECT_EQ(everything(), before);
}

TEST_P(TriggersPostgresTest, PostgresDynamicSqlIntoAnUnnamedTableRefusesWithNothingChanged) {
  exec("CREATE TABLE hidden_log (item_id integer)");
  exec(
      "CREATE FUNCTION items_hidden() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "EXECUTE format('INSERT INTO %I VALUES ($1)', 'hidden' || '_log') USING NEW.id; RETURN NULL; END $$");
  exec("CREATE TRIGGER items_hidden AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_hidden()");
  const auto before = everything();
  auto refused = cli({"scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("'hidden_log'"), std::string::npos) << refused.err;
  EXPECT_EQ(everything(), before);
  EXPECT_EQ(count("hidden_log"), 0);
}

// The same when that trigger is the only one and names no table at all, so that nothing else
// starts the capture: the transaction's write counts still show the hidden table.
TEST_P(TriggersPostgresTest, PostgresOnlyTriggerIsDynamicSqlRefusesWithNothingChanged) {
  std::filesystem::remove(dir_ / "schema/items.toml");
  exec("CREATE TABLE solo (id integer PRIMARY KEY, qty integer)");
  exec("INSERT INTO solo VALUES (1, -2), (2, 3)");
  exec("CREATE TABLE hidden_log (item_id integer)");
  exec(
      "CREATE FUNCTION solo_hidden() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "EXECUTE format('INSERT INTO %I VALUES ($1)', 'hidden' || '_log') USING NEW.id; RETURN NULL; END $$");
  exec("CREATE TRIGGER solo_hidden AFTER UPDATE ON solo FOR EACH ROW EXECUTE FUNCTION solo_hidden()");
  write_file(dir_ / "schema/solo.toml",
             "table = \"solo\"\n[[check]]\nname = \"solo_qty_nonnegative\"\ncolumn = \"qty\"\nmin = 0\n"
             "repair = \"clamp\"\n");
  auto refused = cli({"scan", "--fix"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("'hidden_log'"), std::string::npos) << refused.err;
  EXPECT_EQ(scalar("SELECT qty FROM solo WHERE id = 1"), -2);
  EXPECT_EQ(count("hidden_log"), 0);
}

INSTANTIATE_TEST_SUITE_P(Postgres, TriggersPostgresTest, ::testing::Values("postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
