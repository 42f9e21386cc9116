// The SQLite rebuild must change nothing but the constraint: every index,
// trigger, view, child row, AUTOINCREMENT counter, generated column,
// collation and default survives, on ordinary, STRICT and WITHOUT ROWID tables.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

// The stored CREATE text of `table` in the file `db`.
std::string table_text(const std::filesystem::path& db, const std::string& table) {
  std::string sql;
  connect("sqlite:" + db.string())
      ->query("SELECT sql FROM sqlite_schema WHERE name = '" + table + "'",
              [&](const dialect::Row& r) { sql = dialect::value_text(r[0]); });
  return sql;
}

// The integer `query` returns (its last row), -1 for none.
std::int64_t number(const std::filesystem::path& db, const std::string& query) {
  std::int64_t n = -1;
  connect("sqlite:" + db.string())->query(query, [&](const dialect::Row& r) { n = dialect::value_int(r[0]); });
  return n;
}

class SqliteRebuild : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_ / "rich.db";
    shell("sqlite3 " + db_.string() + R"SQL( <<'SQL'
PRAGMA foreign_keys = ON;
CREATE TABLE canary (id INTEGER PRIMARY KEY);
INSERT INTO canary VALUES (42);
CREATE TABLE "Order" (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    "check"  INTEGER NOT NULL DEFAULT 3 CHECK ("check" <> 13),
    name     TEXT COLLATE NOCASE DEFAULT 'x' CONSTRAINT name_not_empty CHECK (length(name) > 0),
    price    REAL,
    doubled  INTEGER GENERATED ALWAYS AS ("check" * 2) VIRTUAL,
    stored   TEXT GENERATED ALWAYS AS (upper(name)) STORED,
    CHECK (price IS NULL OR price >= 0)
);
CREATE TABLE line (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES "Order" (id) ON DELETE CASCADE, qty INTEGER);
CREATE TABLE audit (n INTEGER);
CREATE INDEX order_check_desc ON "Order" ("check" DESC);
CREATE INDEX order_partial ON "Order" (price) WHERE price > 10;
CREATE INDEX order_expr ON "Order" (lower(name));
CREATE UNIQUE INDEX "we""ird; DROP TABLE canary; --" ON "Order" (name, price);
CREATE TRIGGER order_audit AFTER UPDATE OF "check" ON "Order" BEGIN INSERT INTO audit VALUES (NEW."check"); END;
CREATE TRIGGER line_audit AFTER INSERT ON line BEGIN INSERT INTO audit SELECT count(*) FROM "Order"; END;
CREATE VIEW order_lines AS SELECT o.id, o.name, count(l.id) AS lines FROM "Order" o LEFT JOIN line l ON l.order_id = o.id GROUP BY o.id;
CREATE TRIGGER order_lines_io INSTEAD OF DELETE ON order_lines BEGIN DELETE FROM "Order" WHERE id = OLD.id; END;
CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE strict_t (id INTEGER PRIMARY KEY, n INTEGER) STRICT;
INSERT INTO "Order" ("check", name, price) SELECT value % 7, 'n' || value, value * 1.5 FROM generate_series(1, 200);
INSERT INTO line (order_id, qty) SELECT id, id % 5 FROM "Order";
INSERT INTO line (order_id, qty) SELECT id, 1 FROM "Order" WHERE id % 3 = 0;
DELETE FROM "Order" WHERE id > 190;
INSERT INTO kv SELECT 'k' || value, value FROM generate_series(1, 50);
INSERT INTO strict_t SELECT value, value FROM generate_series(1, 50);
SQL)SQL");
    write_file(dir_ / "schema/order.toml",
               "table = \"Order\"\n[[check]]\nname = \"order_price_cap\"\ncolumn = \"price\"\nmax = 1000\n"
               "[[check]]\nname = \"order check small\"\nexpr = '\"check\" < 100'\n");
    write_file(dir_ / "schema/kv.toml", "table = \"kv\"\n[[check]]\nname = \"kv_v_pos\"\ncolumn = \"v\"\nmin = 0\n");
    write_file(dir_ / "schema/strict.toml",
               "table = \"strict_t\"\n[[check]]\nname = \"strict_n\"\ncolumn = \"n\"\nmax = 100\n");
    ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  }

  std::map<std::string, std::string> schema_text() { return schema_text_of(db_); }
  static std::map<std::string, std::string> schema_text_of(const std::filesystem::path& db) {
    std::map<std::string, std::string> out;
    connect("sqlite:" + db.string())
        ->query("SELECT type || ' ' || name, sql FROM sqlite_schema WHERE tbl_name NOT LIKE 'constraintctl%'",
                [&](const dialect::Row& r) { out[dialect::value_text(r[0])] = dialect::value_text(r[1]); });
    return out;
  }
  std::string scalar(const std::string& sql) {
    std::string v;
    connect("sqlite:" + db_.string())->query(sql, [&](const dialect::Row& r) { v = dialect::value_text(r[0]); });
    return v;
  }
  std::string dump(const std::string& table) {
    std::string out;
    connect("sqlite:" + db_.string())->query("SELECT * FROM " + table + " ORDER BY 1", [&](const dialect::Row& r) {
      for (const auto& v : r) out += dialect::value_text(v) + "|";
      out += "\n";
    });
    return out;
  }
  RunResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", "sqlite:" + db_.string()});
    return run_cli(args, dir_.path());
  }
  // SQLite writes a renamed table's name quoted; everything else must be
  // identical. Both sides are compared with the name in one spelling.
  static std::string unquote_name(std::string sql, const std::string& name) {
    const std::string quoted = "CREATE TABLE \"" + name + "\"";
    if (sql.rfind(quoted, 0) == 0) sql = "CREATE TABLE " + name + sql.substr(quoted.size());
    return sql;
  }

  TempDir dir_;
  std::filesystem::path db_;
};

TEST_F(SqliteRebuild, AddingChecksChangesOnlyTheConstraints) {
  const auto before = schema_text();
  const auto seq_before = scalar("SELECT seq FROM sqlite_sequence WHERE name = 'Order'");
  const std::string orders = dump("\"Order\""), lines = dump("line"), kv = dump("kv"), strict_rows = dump("strict_t");
  ASSERT_EQ(seq_before, "200");

  auto r = cli({"apply"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto after = schema_text();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [key, sql] : before) {
    ASSERT_TRUE(after.count(key)) << key << " is gone";
    if (key == "table Order" || key == "table kv" || key == "table strict_t") continue;
    EXPECT_EQ(after.at(key), sql) << key;
  }
  if (sqlite_native_alter()) {
    // Native ALTER TABLE ADD CONSTRAINT writes the clause its own way; what
    // is checked above (nothing else changed) is what matters there.
    EXPECT_NE(after.at("table Order").find("order_price_cap"), std::string::npos);
    return;
  }
  const std::string order_before = unquote_name(before.at("table Order"), "Order");
  const std::string order_after = unquote_name(after.at("table Order"), "Order");
  const std::string added =
      ",\n  CONSTRAINT \"order_price_cap\" CHECK (\"price\" <= 1000),\n  CONSTRAINT \"order check small\" CHECK "
      "((\"check\" < 100))";
  const auto last =
      order_before.find_last_not_of(" \n", order_before.rfind(')') - 1) + 1;  // end of the last definition
  EXPECT_EQ(order_after, order_before.substr(0, last) + added + order_before.substr(last));
  EXPECT_NE(unquote_name(after.at("table kv"), "kv").find("WITHOUT ROWID"), std::string::npos);
  EXPECT_NE(unquote_name(after.at("table strict_t"), "strict_t").find("STRICT"), std::string::npos);

  EXPECT_EQ(dump("\"Order\""), orders);
  EXPECT_EQ(dump("line"), lines);  // no child row cascaded away
  EXPECT_EQ(dump("kv"), kv);
  EXPECT_EQ(dump("strict_t"), strict_rows);
  EXPECT_EQ(scalar("SELECT seq FROM sqlite_sequence WHERE name = 'Order'"), seq_before);
  EXPECT_EQ(scalar("SELECT count(*) FROM canary"), "1");
  EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(scalar("PRAGMA foreign_key_check"), "");
  // Triggers fire, the view works, the new checks and the old ones hold.
  connect("sqlite:" + db_.string())->execute("UPDATE \"Order\" SET \"check\" = 5 WHERE id = 1");
  EXPECT_EQ(scalar("SELECT n FROM audit ORDER BY rowid DESC LIMIT 1"), "5");
  EXPECT_EQ(scalar("SELECT lines FROM order_lines WHERE id = 3"), "2");
  EXPECT_THROW(connect("sqlite:" + db_.string())->execute("UPDATE \"Order\" SET price = 5000 WHERE id = 1"),
               DatabaseError);
  EXPECT_THROW(connect("sqlite:" + db_.string())->execute("UPDATE \"Order\" SET \"check\" = 13 WHERE id = 1"),
               DatabaseError);
  EXPECT_THROW(connect("sqlite:" + db_.string())->execute("UPDATE kv SET v = -1 WHERE k = 'k1'"), DatabaseError);
  auto ins = connect("sqlite:" + db_.string());
  ins->execute("INSERT INTO \"Order\" (name) VALUES ('new')");
  EXPECT_EQ(scalar("SELECT max(id) FROM \"Order\""), "201");  // AUTOINCREMENT did not reuse 191..200

  // Rolling back restores the original definitions exactly.
  ASSERT_EQ(cli({"rollback", "--to", "0"}).exit_code, 0);
  const auto back = schema_text();
  for (const auto& [key, sql] : before) {
    const bool table = key.rfind("table ", 0) == 0;
    EXPECT_EQ(table ? unquote_name(back.at(key), key.substr(6)) : back.at(key),
              table ? unquote_name(sql, key.substr(6)) : sql)
        << key;
  }
  EXPECT_EQ(dump("line"), lines);
  EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteRebuild, ViolatingRowRollsBackTheWholeMigration) {
  connect("sqlite:" + db_.string())->execute("UPDATE kv SET v = -5 WHERE k = 'k7'");
  const auto before = schema_text();
  auto r = cli({"apply"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // refused by the scan
  EXPECT_EQ(schema_text(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc_new_%'"), "0");
}

// A small table among many objects is rebuilt under its own name from a TEMP
// copy (no RENAME, which re-parses the whole schema); a larger one among few
// objects is RENAMEd. Both leave the same schema text, rows, rowids,
// sequence, indexes, triggers and view, byte for byte.
TEST_F(SqliteRebuild, TheCopyRebuildAndTheRenameRebuildLeaveTheSameDatabase) {
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no rebuild";
  // Enough rows in "Order" that copying them twice costs more than one
  // RENAME among this fixture's objects.
  shell("sqlite3 " + db_.string() + R"SQL( <<'SQL'
INSERT INTO "Order" ("check", name, price) SELECT value % 7, 'm' || value, value % 600 FROM generate_series(1, 3000);
SQL)SQL");
  const auto many = dir_ / "many.db";
  std::filesystem::copy_file(db_, many);
  {
    auto c = connect("sqlite:" + many.string());
    c->execute("BEGIN");
    for (int i = 0; i < 200; ++i) c->execute("CREATE TABLE extra_" + std::to_string(i) + " (x INTEGER)");
    c->execute("COMMIT");
  }
  auto dry_few = cli({"apply", "--dry-run"});
  ASSERT_EQ(dry_few.exit_code, 0) << dry_few.err;
  EXPECT_NE(dry_few.out.find("ALTER TABLE \"cc_new_Order\" RENAME TO \"Order\""), std::string::npos) << dry_few.out;
  auto dry_many = run_cli({"--db", "sqlite:" + many.string(), "apply", "--dry-run"}, dir_.path());
  ASSERT_EQ(dry_many.exit_code, 0) << dry_many.err;
  EXPECT_EQ(dry_many.out.find(" RENAME TO "), std::string::npos) << dry_many.out;
  EXPECT_NE(dry_many.out.find("CREATE TEMP TABLE \"cc_copy\""), std::string::npos) << dry_many.out;

  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  auto r = run_cli({"--db", "sqlite:" + many.string(), "apply"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto few_schema = schema_text_of(db_), many_schema = schema_text_of(many);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(many_schema.erase("table extra_" + std::to_string(i)), 1u);
  EXPECT_EQ(many_schema, few_schema);
  auto rows_of = [](const std::filesystem::path& db) {
    std::string out;
    auto c = connect("sqlite:" + db.string());
    for (const std::string t : {"\"Order\"", "line", "kv", "strict_t", "audit", "order_lines"}) {
      c->query(
          "SELECT " + std::string(t == "kv" || t == "order_lines" ? "" : "rowid, ") + "* FROM " + t + " ORDER BY 1",
          [&](const dialect::Row& row) {
            for (const auto& v : row) out += dialect::value_text(v) + "|";
            out += "\n";
          });
    }
    c->query("SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name",
             [&](const dialect::Row& row) { out += dialect::value_text(row[0]) + "\n"; });
    c->query("PRAGMA integrity_check", [&](const dialect::Row& row) { out += dialect::value_text(row[0]) + "\n"; });
    return out;
  };
  const std::string few_rows = rows_of(db_);
  EXPECT_NE(few_rows.find("Order=3200"), std::string::npos) << few_rows;
  EXPECT_EQ(rows_of(many), few_rows);
  for (const auto& db : {db_, many}) {
    auto c = connect("sqlite:" + db.string());
    c->execute("UPDATE \"Order\" SET \"check\" = 5 WHERE id = 1");  // the trigger fires
    EXPECT_THROW(c->execute("UPDATE \"Order\" SET price = 5000 WHERE id = 1"), DatabaseError);
    EXPECT_THROW(c->execute("UPDATE kv SET v = -1 WHERE k = 'k1'"), DatabaseError);
    std::string left;
    c->query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc\\_%' ESCAPE '\\'",
             [&](const dialect::Row& row) { left = dialect::value_text(row[0]); });
    EXPECT_EQ(left, "0");  // no cc_new_ or cc_copy table left behind
  }
  EXPECT_EQ(rows_of(many), rows_of(db_));
}

// kill -9 at every statement of the rebuild under its own name (the TEMP
// copy, the DROP, the CREATE, the copy back, the indexes, triggers, views
// and sequence) and before COMMIT: the file is exactly as it was.
TEST_F(SqliteRebuild, KillAtEveryStepOfTheCopyRebuildLeavesTheFileAsItWas) {
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no rebuild";
  {
    auto c = connect("sqlite:" + db_.string());
    c->execute("BEGIN");
    for (int i = 0; i < 100; ++i) c->execute("CREATE TABLE extra_" + std::to_string(i) + " (x INTEGER)");
    c->execute("COMMIT");
  }
  auto dry = cli({"apply", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  ASSERT_EQ(dry.out.find(" RENAME TO "), std::string::npos) << dry.out;
  const auto before = schema_text();
  const std::string rows = dump("\"Order\"") + dump("line") + dump("kv") + dump("strict_t") + dump("audit");
  const std::string seq = scalar("SELECT seq FROM sqlite_sequence WHERE name = 'Order'");
  int killed = 0;
  std::vector<std::string> points;
  for (int k = 1; k <= 80; k += 2) points.push_back("kill@sqlite-statement#" + std::to_string(k));
  points.push_back("kill@before-commit");
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    auto r = run_cli({"--db", "sqlite:" + db_.string(), "apply"}, dir_.path(), {"CONSTRAINTCTL_FAULT=" + point});
    if (r.exit_code == 0) break;  // past the last statement
    ASSERT_EQ(r.exit_code, 128 + 9) << r.err;
    ++killed;
    EXPECT_EQ(schema_text(), before);
    EXPECT_EQ(dump("\"Order\"") + dump("line") + dump("kv") + dump("strict_t") + dump("audit"), rows);
    EXPECT_EQ(scalar("SELECT seq FROM sqlite_sequence WHERE name = 'Order'"), seq);
    EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'cc\\_%' ESCAPE '\\'"), "0");
  }
  EXPECT_GT(killed, 10);
  auto r = cli({"apply"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dump("\"Order\"") + dump("line") + dump("kv") + dump("strict_t") + dump("audit"), rows);
  EXPECT_EQ(run_cli({"--db", "sqlite:" + db_.string(), "verify"}, dir_.path()).exit_code, 0);
}

// Names in every letter case: SQLite matches names case-insensitively and
// keeps tbl_name as each CREATE statement spelled it, so a trigger written
// "ON items" belongs to table Items, and an INSTEAD OF trigger written
// "ON item_view" to view Item_View. Every object must survive an apply of a
// CHECK on Items, by the rebuild and by the no-rebuild edit alike.
class SqliteNames : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no rebuild";
    db_ = dir_ / "names.db";
    shell("sqlite3 " + db_.string() + R"SQL( <<'SQL'
CREATE TABLE "Items" (id INTEGER PRIMARY KEY, qty INTEGER, note TEXT UNIQUE);
CREATE TABLE "items_Log" (n INTEGER, what TEXT);
CREATE TABLE other (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items (id));
CREATE INDEX "Items_qty" ON items (qty);
CREATE INDEX items_note_lower ON "ITEMS" (lower(note));
CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN INSERT INTO items_log VALUES (NEW.qty, 'ins'); END;
CREATE TRIGGER "ITEMS" AFTER UPDATE ON "ITEMS" BEGIN INSERT INTO Items_Log VALUES (NEW.qty, 'upd'); END;
CREATE TRIGGER "we""ird ""trig""" AFTER DELETE ON "iTeMs" BEGIN INSERT INTO "items_log" VALUES (OLD.qty, 'del'); END;
CREATE TRIGGER items_log_self AFTER INSERT ON Items_Log WHEN NEW.what = 'never' BEGIN SELECT 1; END;
CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN UPDATE items SET qty = qty + 1 WHERE id = NEW.item_id; END;
CREATE VIEW "Item_View" AS SELECT id, qty FROM Items;
CREATE TRIGGER item_view_ins INSTEAD OF INSERT ON item_view BEGIN INSERT INTO Items (qty, note) VALUES (NEW.qty, 'via view'); END;
CREATE TRIGGER "Item_View_Del" INSTEAD OF DELETE ON "ITEM_VIEW" BEGIN DELETE FROM items WHERE id = OLD.id; END;
CREATE VIEW "items view 2" AS SELECT count(*) AS n FROM "ITEMS";
INSERT INTO items (qty, note) SELECT value, 'n' || value FROM generate_series(1, 100);
INSERT INTO other (item_id) VALUES (1), (2);
DELETE FROM items_log;
SQL)SQL");
    write_file(dir_ / "schema/items.toml",
               "table = \"Items\"\n[[check]]\nname = \"Items qty \\\"non-negative\\\"\"\nexpr = 'qty >= 0'\n");
    ASSERT_EQ(run_cli({"generate"}, dir_.path()).exit_code, 0);
  }
  std::map<std::string, std::string> schema_text() { return schema_text_of(db_); }
  static std::map<std::string, std::string> schema_text_of(const std::filesystem::path& db) {
    std::map<std::string, std::string> out;
    connect("sqlite:" + db.string())
        ->query(
            "SELECT type || ' ' || name || ' on ' || tbl_name, sql FROM sqlite_schema WHERE tbl_name NOT LIKE "
            "'constraintctl%'",
            [&](const dialect::Row& r) { out[dialect::value_text(r[0])] = dialect::value_text(r[1]); });
    return out;
  }
  std::string scalar(const std::string& sql) {
    std::string v;
    connect("sqlite:" + db_.string())->query(sql, [&](const dialect::Row& r) { v = dialect::value_text(r[0]); });
    return v;
  }
  RunResult apply(std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    std::vector<std::string> args = {"--db", "sqlite:" + db_.string(), "apply"};
    if (GetParam()) args.push_back("--sqlite-no-rebuild");
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args, dir_.path(), env);
  }
  TempDir dir_;
  std::filesystem::path db_;
};

TEST_P(SqliteNames, EveryObjectSurvivesWhateverItsLetterCase) {
  const auto before = schema_text();
  ASSERT_EQ(before.size(), 15u);
  auto dry = apply({"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out.find("DROP TABLE \"Items\"") == std::string::npos, GetParam()) << dry.out;  // rebuilt or edited
  EXPECT_EQ(dry.out.find("pragma_quick_check('Items')") != std::string::npos, GetParam()) << dry.out;
  auto r = apply();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto after = schema_text();
  EXPECT_EQ(after.size(), before.size());
  for (const auto& [key, sql] : before) {
    ASSERT_TRUE(after.count(key)) << key << " is gone";
    if (key == "table Items on Items") {
      EXPECT_NE(after.at(key).find("CONSTRAINT \"Items qty \"\"non-negative\"\"\" CHECK"), std::string::npos)
          << after.at(key);
      continue;
    }
    EXPECT_EQ(after.at(key), sql) << key;
  }
  EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
  // Every trigger still fires, the views' INSTEAD OF triggers included.
  auto db = connect("sqlite:" + db_.string());
  db->execute("INSERT INTO item_view (qty) VALUES (7)");
  db->execute("UPDATE items SET qty = 8 WHERE note = 'via view'");
  db->execute("INSERT INTO other (item_id) VALUES (3)");
  db->execute("DELETE FROM \"Item_View\" WHERE id = 4");
  EXPECT_EQ(scalar("SELECT group_concat(n || ':' || what, ',') FROM items_log"), "7:ins,8:upd,4:upd,4:del");
  EXPECT_EQ(scalar("SELECT n FROM \"items view 2\""), "100");
  EXPECT_THROW(db->execute("UPDATE items SET qty = -1 WHERE id = 1"), DatabaseError);
  auto v = run_cli({"--db", "sqlite:" + db_.string(), "verify"}, dir_.path());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// A violating row written after apply planned, before its write lock: the
// rebuild's copy fails on it, the no-rebuild path's in-transaction scan
// finds it; either way nothing changes, and the refusal names the rows.
TEST_P(SqliteNames, ARowWrittenBeforeTheWriteLockRollsBack) {
  const auto before = schema_text();
  auto pending =
      std::async(std::launch::async, [&] { return apply({}, {"CONSTRAINTCTL_FAULT=sleep@sqlite-before-begin"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  connect("sqlite:" + db_.string())->execute("INSERT INTO items (qty, note) VALUES (-1, 'late')");
  const auto r = pending.get();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("Items qty"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(schema_text(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_history"), "0");
  EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
}

// The dry run's script, run by sqlite3 on a copy, leaves the schema the
// real apply leaves.
TEST_P(SqliteNames, TheDryRunScriptDoesWhatApplyDoes) {
  const auto copy = dir_ / "copy.db";
  std::filesystem::copy_file(db_, copy);
  auto dry = apply({"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  write_file(dir_ / "plan.sql", dry.out);
  shell("sqlite3 -bail " + copy.string() + " < " + (dir_ / "plan.sql").string());
  ASSERT_EQ(apply().exit_code, 0);
  EXPECT_EQ(schema_text_of(copy), schema_text());
}

// The same path from constraintctl.toml, and the dry run prints it.
TEST_P(SqliteNames, TheConfigurationSettingChoosesThePath) {
  if (!GetParam()) GTEST_SKIP() << "one run is enough";
  write_file(dir_ / "constraintctl.toml", "[sqlite]\nno_rebuild = true\n");
  auto dry = run_cli({"--db", "sqlite:" + db_.string(), "apply", "--dry-run"}, dir_.path());
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out.find("cc_new_"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("PRAGMA writable_schema = ON;"), std::string::npos) << dry.out;
  write_file(dir_ / "constraintctl.toml", "[sqlite]\nno_rebuild = \"yes\"\n");
  auto bad = run_cli({"--db", "sqlite:" + db_.string(), "apply", "--dry-run"}, dir_.path());
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("'no_rebuild' must be true or false"), std::string::npos) << bad.err;
}

// A table large enough (200 000 rows or more) that the scan before its
// edit reads on a connection of its own while the migration's connection
// edits its text and runs quick_check: that scan reads the rows the write
// transaction starts from, a row committed just before the write lock
// included, in either journal mode; the violating row fails the migration
// as the scan's refusal (not as quick_check's), and nothing is changed.
TEST(SqliteNoRebuild, TheScanOfALargeTableOnItsOwnConnectionReadsWhatTheWriteLockHolds) {
  for (const std::string mode : {"delete", "wal"}) {
    SCOPED_TRACE("journal_mode " + mode);
    TempDir dir;
    const auto db = dir / "big.db";
    shell("sqlite3 " + db.string() + " \"PRAGMA journal_mode = " + mode +
          "; CREATE TABLE big (id INTEGER PRIMARY KEY, qty INTEGER, kind TEXT); INSERT INTO big SELECT value, "
          "value % 50, 'a' FROM generate_series(1, 300000);\" > /dev/null");
    write_file(dir / "schema/big.toml",
               "table = \"big\"\n[[check]]\nname = \"big_qty_min\"\ncolumn = \"qty\"\nmin = 0\n"
               "[[check]]\nname = \"big_kind\"\ncolumn = \"kind\"\nin = [\"a\", \"b\"]\n");
    ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
    auto text = [&] { return table_text(db, "big"); };
    auto count = [&](const std::string& sql) { return number(db, sql); };
    const std::string before = text();
    const std::vector<std::string> apply = {"--db", "sqlite:" + db.string(), "apply", "--sqlite-no-rebuild"};
    auto pending = std::async(std::launch::async, [&] {
      return run_cli(apply, dir.path(), {"CONSTRAINTCTL_FAULT=sleep@sqlite-before-begin"});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    connect("sqlite:" + db.string())->execute("INSERT INTO big (id, qty, kind) VALUES (300001, -1, 'a')");
    const auto refused = pending.get();
    EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
    EXPECT_NE((refused.out + refused.err).find("big_qty_min"), std::string::npos) << refused.out << refused.err;
    EXPECT_EQ((refused.out + refused.err).find("quick_check"), std::string::npos) << refused.out << refused.err;
    EXPECT_EQ(text(), before);
    EXPECT_EQ(count("SELECT count(*) FROM constraintctl_history"), 0);

    connect("sqlite:" + db.string())->execute("DELETE FROM big WHERE id = 300001");
    const auto applied = run_cli(apply, dir.path());
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    EXPECT_NE(text().find("CONSTRAINT \"big_qty_min\" CHECK"), std::string::npos) << text();
    EXPECT_NE(text().find("CONSTRAINT \"big_kind\" CHECK"), std::string::npos) << text();
    EXPECT_THROW(connect("sqlite:" + db.string())->execute("UPDATE big SET kind = 'z' WHERE id = 7"), DatabaseError);
    EXPECT_EQ(count("SELECT count(*) FROM big"), 300000);
    std::string check;
    connect("sqlite:" + db.string())->query("PRAGMA integrity_check", [&](const dialect::Row& r) {
      check = dialect::value_text(r[0]);
    });
    EXPECT_EQ(check, "ok");
  }
}

// The estimate of the write-lock hold of table t's step (50 000 rows), for
// schema/t.toml `toml`, as the dry run says it up front; and its plan.
std::pair<long, std::string> estimated_step(const std::string& toml, const std::vector<std::string>& more) {
  TempDir dir;
  const auto db = dir / "t.db";
  shell("sqlite3 " + db.string() +
        " \"CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t SELECT value, value % 2 FROM "
        "generate_series(1, 50000);\"");
  write_file(dir / "schema/t.toml", "table = \"t\"\n" + toml);
  EXPECT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
  std::vector<std::string> args = {"--db", "sqlite:" + db.string(), "apply", "--dry-run", "--sqlite-max-lock-ms", "1"};
  args.insert(args.end(), more.begin(), more.end());
  auto r = run_cli(args, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string said = "its step alone is estimated at ";
  const auto at = r.err.find(said);
  EXPECT_NE(at, std::string::npos) << r.err;
  return {at == std::string::npos ? -1 : std::stol(r.err.substr(at + said.size())), r.out};
}

// SQLite's quick_check evaluates a CHECK's IN list of many values far
// slower than a query reads it (about 6 s for 100 values at 1M rows, against
// 0.1 s without the CHECK): the estimate of the step's write-lock hold, what
// the bound and the warning go by, counts it.
TEST(SqliteNoRebuild, TheLockEstimateCountsWhatQuickCheckPaysForALongInList) {
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no edited text, no quick_check of it";
  auto estimate = [](int values) {
    std::string list;
    for (int i = 0; i < values; ++i) list += (i ? ", " : "") + std::to_string(i);
    return estimated_step("[[check]]\nname = \"t_n\"\ncolumn = \"n\"\nin = [" + list + "]\n", {"--sqlite-no-rebuild"})
        .first;
  };
  const long two = estimate(2), hundred = estimate(100);
  EXPECT_GT(two, 0);
  // 50 000 rows, 98 values more and one list: about 275 ms more.
  EXPECT_GT(hundred - two, 200) << "2 values: " << two << " ms, 100 values: " << hundred << " ms";
  EXPECT_GT(hundred, 5 * two) << "2 values: " << two << " ms, 100 values: " << hundred << " ms";
}

// SQLite 3.53+ adds a CHECK natively, reading every row to prove it: the
// estimate of the step's write-lock hold counts that read, once per CHECK.
TEST(SqliteNative, TheLockEstimateCountsTheReadOfEveryRow) {
  if (!sqlite_native_alter()) GTEST_SKIP() << "needs native ALTER TABLE ADD CONSTRAINT (SQLite 3.53+)";
  auto estimate = [](int checks) {
    std::string toml;
    for (int i = 0; i < checks; ++i)
      toml += "[[check]]\nname = \"t_n" + std::to_string(i) + "\"\ncolumn = \"n\"\nmin = " + std::to_string(-i) + "\n";
    const auto [ms, plan] = estimated_step(toml, {});
    EXPECT_NE(plan.find("ADD CONSTRAINT \"t_n0\""), std::string::npos) << plan;
    return ms;
  };
  const long one = estimate(1), three = estimate(3);
  EXPECT_GE(one, 10);  // 50 000 rows at the read rate of docs/benchmarks.md: about 12 ms
  EXPECT_GE(three, 3 * one - 1) << "one CHECK: " << one << " ms, three: " << three << " ms";
}

// The copy of a rebuild evaluates every CHECK of the new text on every row,
// an IN list slowly (1M rows: 7.1 s with 100 values, 0.34 s without). With
// such a list the rows are proved by a scan of every CHECK of the new text
// inside the write transaction (the old CHECKs included, as the copy would
// have evaluated them), and the copy runs without evaluating CHECKs. A row
// that violates either kind fails the migration, exit 1, nothing changed;
// after it, the table enforces its CHECKs.
TEST(SqliteRebuildProof, ACheckWithALongInListIsProvedByAScanNotByTheCopy) {
  if (sqlite_native_alter()) GTEST_SKIP() << "native ALTER TABLE: no rebuild";
  TempDir dir;
  const auto db = dir / "in.db";
  shell("sqlite3 " + db.string() +
        " \"CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, m INTEGER CHECK (m >= 0)); INSERT INTO t SELECT "
        "value, value % 50, 1 FROM generate_series(1, 5000);\"");
  std::string list;
  for (int i = 0; i < 100; ++i) list += (i ? ", " : "") + std::to_string(i);
  write_file(dir / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"t_n\"\ncolumn = \"n\"\nin = [" + list + "]\n");
  ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
  const std::vector<std::string> apply = {"--db", "sqlite:" + db.string(), "apply"};
  auto with = [&](std::vector<std::string> args, const std::string& more) {
    args.push_back(more);
    return args;
  };
  auto dry = run_cli(with(apply, "--dry-run"), dir.path());
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  const auto scan = dry.out.find(
      "INSERT INTO temp.\"cc_proof\" SELECT CASE WHEN NOT (m >= 0) THEN 'm >= 0' WHEN NOT "
      "(\"n\" IN (0, 1, 2");
  const auto off = dry.out.find("PRAGMA ignore_check_constraints = ON;");
  const auto copy = dry.out.find("-- copy every row (its CHECKs proven by the scan above)");
  const auto on = dry.out.find("PRAGMA ignore_check_constraints = OFF;");
  ASSERT_NE(scan, std::string::npos) << dry.out;
  EXPECT_LT(scan, off) << dry.out;
  EXPECT_LT(off, copy) << dry.out;
  EXPECT_LT(copy, on) << dry.out;

  auto sql = [&](const std::string& statement) { connect("sqlite:" + db.string())->execute(statement); };
  auto count = [&](const std::string& query) { return number(db, query); };
  auto text = [&] { return table_text(db, "t"); };
  const std::string before = text();
  // The dry run's script run by hand on a copy that has a violating row:
  // the proof stops it (sqlite3 -bail), the copy keeps its text and rows.
  {
    const auto copy_db = dir / "copy.db";
    std::filesystem::copy_file(db, copy_db);
    auto c = connect("sqlite:" + copy_db.string());
    c->execute("UPDATE t SET n = 500 WHERE id = 9");
    c.reset();
    write_file(dir / "plan.sql", dry.out);
    const int rc = std::system(("sqlite3 -bail " + copy_db.string() + " < " + (dir / "plan.sql").string() + " > " +
                                (dir / "said.txt").string() + " 2>&1")
                                   .c_str());
    const std::string said = read_file(dir / "said.txt");
    EXPECT_NE(rc, 0) << said;
    EXPECT_NE(said.find("a row fails a CHECK of the new text"), std::string::npos) << said;
    EXPECT_EQ(table_text(copy_db, "t"), before);
  }
  // A row against the new CHECK written after apply's scan, before its
  // write lock; then a row against the old CHECK (from before it, or written
  // with CHECKs off): each fails the migration, naming the CHECK, as the
  // copy evaluating them would have.
  {
    auto pending = std::async(std::launch::async, [&] {
      return run_cli(apply, dir.path(), {"CONSTRAINTCTL_FAULT=sleep@sqlite-before-begin"});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    sql("UPDATE t SET n = 500 WHERE id = 9");
    const auto refused = pending.get();
    EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
    // The engine's scan then lists the rows that violate the declared rule.
    EXPECT_NE(refused.err.find("existing rows violate constraints it would add"), std::string::npos) << refused.err;
    EXPECT_NE(refused.out.find("t_n"), std::string::npos) << refused.out;
    EXPECT_EQ(text(), before);
    EXPECT_EQ(count("SELECT n FROM t WHERE id = 9"), 500);
    sql("UPDATE t SET n = 9 WHERE id = 9");
  }
  {
    auto c = connect("sqlite:" + db.string());
    c->execute("PRAGMA ignore_check_constraints = ON");
    c->execute("UPDATE t SET m = -1 WHERE id = 9");
    c.reset();
    const auto refused = run_cli(apply, dir.path());
    EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;  // not a declared rule: as the copy's failure
    EXPECT_NE(refused.err.find("CHECK constraint failed: m >= 0"), std::string::npos) << refused.err;
    EXPECT_EQ(text(), before);
    EXPECT_EQ(count("SELECT m FROM t WHERE id = 9"), -1);
    sql("UPDATE t SET m = 1 WHERE id = 9");
  }
  EXPECT_EQ(count("SELECT count(*) FROM t"), 5000);
  auto applied = run_cli(apply, dir.path());
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  EXPECT_NE(text().find("CONSTRAINT \"t_n\" CHECK"), std::string::npos) << text();
  EXPECT_EQ(count("SELECT count(*) FROM t"), 5000);
  EXPECT_EQ(count("SELECT sum(n) FROM t"), 5000 / 50 * (49 * 50 / 2));
  EXPECT_THROW(sql("UPDATE t SET n = 500 WHERE id = 7"), DatabaseError);
  EXPECT_THROW(sql("UPDATE t SET m = -5 WHERE id = 7"), DatabaseError);
  std::string check;
  connect("sqlite:" + db.string())->query("PRAGMA integrity_check", [&](const dialect::Row& r) {
    check = dialect::value_text(r[0]);
  });
  EXPECT_EQ(check, "ok");
}

// A virtual table's text is its module's arguments: never edited, never
// rebuilt with a CHECK in it.
TEST(SqliteNoRebuild, AVirtualTableIsRefusedAndLeftAlone) {
  TempDir dir;
  const auto db = dir / "v.db";
  shell("sqlite3 " + db.string() +
        " \"CREATE VIRTUAL TABLE docs USING fts5(title, body); INSERT INTO docs VALUES ('a', 'b');\"");
  write_file(dir / "schema/docs.toml",
             "table = \"docs\"\n[[check]]\nname = \"docs_title\"\nexpr = 'length(title) < 100'\n");
  ASSERT_EQ(run_cli({"generate"}, dir.path()).exit_code, 0);
  for (const bool no_rebuild : {true, false}) {
    std::vector<std::string> args = {"--db", "sqlite:" + db.string(), "apply"};
    if (no_rebuild) args.push_back("--sqlite-no-rebuild");
    auto r = run_cli(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("table 'docs' is a virtual table"), std::string::npos) << r.err;
  }
  std::string sql, rows;
  auto c = connect("sqlite:" + db.string());
  c->query("SELECT sql FROM sqlite_schema WHERE name = 'docs'",
           [&](const dialect::Row& row) { sql = dialect::value_text(row[0]); });
  c->query("SELECT title || body FROM docs", [&](const dialect::Row& row) { rows += dialect::value_text(row[0]); });
  EXPECT_EQ(sql, "CREATE VIRTUAL TABLE docs USING fts5(title, body)");
  EXPECT_EQ(rows, "ab");
}

INSTANTIATE_TEST_SUITE_P(Modes, SqliteNames, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("NoRebuild") : std::string("Rebuild");
                         });

}  // namespace
}  // namespace cc::test
