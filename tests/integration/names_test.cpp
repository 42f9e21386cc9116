// Naming any table: PostgreSQL tables in other schemas (two schemas holding
// the same table name in one project), names with spaces and mixed case, and
// SQLite's case-insensitive identifiers, each through the whole life cycle
// (scan, fix, fix-undo, generate, apply, verify, drop-checks, apply restoring,
// rollback), checked against the catalog and the rows themselves.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

using nlohmann::json;

// One database (a SQLite file or a database on the throwaway server) and one
// project directory per test.
class NamesTest : public ::testing::Test {
 protected:
  void use_postgres() {
    pgdb_ = std::make_unique<PgDatabase>();
    url_ = pgdb_->url();
  }
  void use_sqlite() {
    shell("sqlite3 " + (dir_ / "app.db").string() + " 'PRAGMA user_version = 1'");
    url_ = "sqlite:" + (dir_ / "app.db").string();
  }
  void exec(const std::string& sql) const { connect(url_)->execute(sql); }
  // The first column of every row, as text.
  std::vector<std::string> column(const std::string& sql) const {
    std::vector<std::string> out;
    connect(url_)->query(sql, [&](const dialect::Row& r) { out.push_back(dialect::value_text(r[0])); });
    return out;
  }
  std::string one(const std::string& sql) const {
    const auto c = column(sql);
    return c.empty() ? "<no row>" : c.back();
  }
  // Every row of `tables` (SQL names), ordered by the first column.
  std::string content(const std::vector<std::string>& tables) const {
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
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", url_});
    return run_cli(args, dir_.path());
  }
  json cli_json(std::vector<std::string> args, int expected_exit) const {
    args.push_back("--json");
    const auto r = cli(args);
    EXPECT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "not JSON: " << r.out << r.err;
      return json::object();
    }
  }
  // name -> "table violations" from scan --json.
  std::map<std::string, std::string> scan_counts(int expected_exit) const {
    std::map<std::string, std::string> out;
    const json doc = cli_json({"scan"}, expected_exit);
    for (const auto& c : doc["constraints"]) {
      out[c["name"]] = c["table"].get<std::string>() + " " + std::to_string(c["violations"].get<long long>());
    }
    return out;
  }
  // name -> "table status" from verify --json.
  std::map<std::string, std::string> verify_statuses(int expected_exit) const {
    std::map<std::string, std::string> out;
    const json doc = cli_json({"verify"}, expected_exit);
    for (const auto& c : doc["constraints"]) {
      out[c["name"]] = c["table"].get<std::string>() + " " + c["status"].get<std::string>();
    }
    return out;
  }
  void ok(const std::vector<std::string>& args) const {
    const auto r = cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // PostgreSQL: the CHECK and UNIQUE constraints of `regclass` ("sales.orders")
  // as name:type:validated, and the unique indexes' qualified names.
  std::vector<std::string> pg_constraints(const std::string& regclass) const {
    return column("SELECT conname || ':' || contype::text || ':' || convalidated FROM pg_constraint WHERE conrelid = " +
                  connect(url_)->dialect().quote_string(regclass) + "::regclass AND contype IN ('c', 'u') ORDER BY 1");
  }
  std::vector<std::string> pg_unique_indexes(const std::string& regclass) const {
    return column(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indisunique AND NOT indisprimary AND indrelid = " +
        connect(url_)->dialect().quote_string(regclass) + "::regclass ORDER BY 1");
  }
  bool rejected(const std::string& sql) const {
    try {
      exec(sql);
    } catch (const DatabaseError& e) {
      return e.kind() == DbErrorKind::check_violation || e.kind() == DbErrorKind::unique_violation;
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<PgDatabase> pgdb_;
  std::string url_;
};

const char* kPublicOrders = R"(table = "orders"
[[check]]
name = "orders_qty_range"
column = "qty"
min = 0
max = 100
repair = "clamp"
)";

const char* kSalesOrders = R"(schema = "sales"
table = "orders"
[[check]]
name = "sales_orders_qty_range"
column = "qty"
min = 0
max = 100
repair = "clamp"
[[unique]]
name = "sales_orders_code_key"
columns = ["code"]
repair = { policy = "delete_duplicates", references = "repoint" }
)";

// public.orders and sales.orders in one project, one file each; shipments in
// a third schema reference sales.orders, so the repoint must reach them there.
// The PostgreSQL-only tests: named so that runs without a server (scripts/test-sqlite-native) leave them out.
class PostgresNamesTest : public NamesTest {};

TEST_F(PostgresNamesTest, TwoSchemasWithTheSameTableNameSideBySide) {
  CC_REQUIRE_POSTGRES();
  use_postgres();
  exec(
      "CREATE SCHEMA sales; CREATE SCHEMA logistics;"
      "CREATE TABLE orders (id integer PRIMARY KEY, qty integer, code text);"
      "CREATE TABLE sales.orders (id integer PRIMARY KEY, qty integer, code text);"
      "CREATE TABLE logistics.shipments (id integer PRIMARY KEY, order_id integer NOT NULL REFERENCES sales.orders "
      "(id));"
      "INSERT INTO orders VALUES (1, 5, 'a'), (2, -1, 'y'), (3, 7, 'y');"
      "INSERT INTO sales.orders VALUES (1, 500, 'x'), (2, 50, 'y'), (3, 900, 'y'), (4, 10, 'z');"
      "INSERT INTO logistics.shipments VALUES (1, 3), (2, 4);");
  write_file(dir_ / "schema/orders.toml", kPublicOrders);
  write_file(dir_ / "schema/sales_orders.toml", kSalesOrders);
  const std::vector<std::string> tables = {"public.orders", "sales.orders", "logistics.shipments"};
  const std::string before = content(tables);

  // scan: each table counted on its own, named with its schema where not the default.
  EXPECT_EQ(scan_counts(1), (std::map<std::string, std::string>{{"orders_qty_range", "orders 1"},
                                                                {"sales_orders_qty_range", "sales.orders 2"},
                                                                {"sales_orders_code_key", "sales.orders 1"}}));
  const auto text = cli({"scan"});
  EXPECT_NE(text.out.find("sales.orders"), std::string::npos) << text.out;
  const json only = cli_json({"scan", "--table", "sales.orders"}, 1);
  ASSERT_EQ(only["constraints"].size(), 2u) << only.dump();
  for (const auto& c : only["constraints"]) EXPECT_EQ(c["table"], "sales.orders");

  // fix: clamps in both tables, the duplicate of sales.orders goes after its
  // shipment moved to the kept row; public.orders' own duplicate code is not declared.
  auto fix = cli_json({"scan", "--fix"}, 0);
  EXPECT_EQ(content({"public.orders"}), "-- public.orders\n1|5|a|\n2|0|y|\n3|7|y|\n");
  EXPECT_EQ(content({"sales.orders"}), "-- sales.orders\n1|100|x|\n2|50|y|\n4|10|z|\n");
  EXPECT_EQ(content({"logistics.shipments"}), "-- logistics.shipments\n1|2|\n2|4|\n");
  for (const auto& f : fix["fixes"]) {
    EXPECT_EQ(f["table"], f["name"] == "orders_qty_range" ? "orders" : "sales.orders") << f.dump();
  }
  EXPECT_EQ(
      one("SELECT count(*) FROM constraintctl_audit WHERE table_schema = 'logistics' AND table_name = 'shipments'"),
      "1");

  // fix-undo puts every row of the three schemas back.
  ok({"fix-undo", fix["run_id"].get<std::string>()});
  EXPECT_EQ(content(tables), before);

  ok({"scan", "--fix"});
  ok({"generate", "--name", "initial"});
  const std::string migration = read_file(dir_ / "migrations/0001_initial.toml");
  EXPECT_NE(migration.find("table = \"orders\"\nschema = \"sales\"\n"), std::string::npos) << migration;
  ok({"apply"});
  EXPECT_EQ(pg_constraints("public.orders"), (std::vector<std::string>{"orders_qty_range:c:true"}));
  EXPECT_EQ(pg_constraints("sales.orders"),
            (std::vector<std::string>{"sales_orders_code_key:u:true", "sales_orders_qty_range:c:true"}));
  EXPECT_EQ(pg_unique_indexes("sales.orders"), (std::vector<std::string>{"sales.sales_orders_code_key"}));
  EXPECT_TRUE(pg_unique_indexes("public.orders").empty());
  EXPECT_TRUE(rejected("INSERT INTO sales.orders VALUES (10, 101, 'new')"));
  EXPECT_TRUE(rejected("INSERT INTO sales.orders VALUES (10, 1, 'x')"));
  EXPECT_TRUE(rejected("INSERT INTO public.orders VALUES (10, 101, 'new')"));
  EXPECT_FALSE(rejected("INSERT INTO public.orders VALUES (10, 1, 'y')"));  // no UNIQUE declared there

  const std::map<std::string, std::string> all_ok = {{"orders_qty_range", "orders ok"},
                                                     {"sales_orders_qty_range", "sales.orders ok"},
                                                     {"sales_orders_code_key", "sales.orders ok"}};
  EXPECT_EQ(verify_statuses(0), all_ok);

  // drop-checks of one table: the other schema's same-named table keeps its CHECK.
  ok({"drop-checks", "--table", "sales.orders"});
  EXPECT_EQ(pg_constraints("sales.orders"), (std::vector<std::string>{"sales_orders_code_key:u:true"}));
  EXPECT_EQ(pg_constraints("public.orders"), (std::vector<std::string>{"orders_qty_range:c:true"}));
  EXPECT_EQ(verify_statuses(0)["sales_orders_qty_range"], "sales.orders dropped");
  ok({"apply"});  // restores it
  EXPECT_EQ(pg_constraints("sales.orders"),
            (std::vector<std::string>{"sales_orders_code_key:u:true", "sales_orders_qty_range:c:true"}));
  EXPECT_EQ(verify_statuses(0), all_ok);

  ok({"rollback", "--to", "0"});
  EXPECT_TRUE(pg_constraints("sales.orders").empty());
  EXPECT_TRUE(pg_constraints("public.orders").empty());
  EXPECT_TRUE(pg_unique_indexes("sales.orders").empty());
}

// `schema = "sales"` names sales.orders whatever the connection's search_path.
TEST_F(PostgresNamesTest, SchemaKeyIsIndependentOfSearchPath) {
  CC_REQUIRE_POSTGRES();
  use_postgres();
  exec(
      "CREATE SCHEMA sales; CREATE SCHEMA decoy;"
      "CREATE TABLE sales.orders (id integer PRIMARY KEY, qty integer, code text);"
      "CREATE TABLE decoy.orders (id integer PRIMARY KEY, qty integer, code text);"
      "INSERT INTO sales.orders VALUES (1, 500, 'x'), (2, 50, 'y');"
      "INSERT INTO decoy.orders VALUES (1, 500, 'x'), (2, 500, 'x'), (3, 500, 'x');");
  write_file(dir_ / "schema/sales_orders.toml", kSalesOrders);
  url_ += "?options=-csearch_path%3Ddecoy";
  EXPECT_EQ(one("SHOW search_path"), "decoy");
  EXPECT_EQ(scan_counts(1), (std::map<std::string, std::string>{{"sales_orders_qty_range", "sales.orders 1"},
                                                                {"sales_orders_code_key", "sales.orders 0"}}));
  ok({"scan", "--fix"});
  ok({"generate"});
  ok({"apply"});
  EXPECT_EQ(content({"sales.orders"}), "-- sales.orders\n1|100|x|\n2|50|y|\n");
  EXPECT_EQ(content({"decoy.orders"}), "-- decoy.orders\n1|500|x|\n2|500|x|\n3|500|x|\n");
  EXPECT_EQ(pg_constraints("sales.orders"),
            (std::vector<std::string>{"sales_orders_code_key:u:true", "sales_orders_qty_range:c:true"}));
  EXPECT_TRUE(pg_constraints("decoy.orders").empty());
  EXPECT_EQ(verify_statuses(0)["sales_orders_code_key"], "sales.orders ok");
  ok({"rollback", "--to", "0"});
  EXPECT_TRUE(pg_constraints("sales.orders").empty());
}

// table = "sales.orders" is one name; when only the table orders of schema
// sales exists, the error says how to name it.
TEST_F(PostgresNamesTest, DottedTableNameSuggestsTheSchemaKey) {
  CC_REQUIRE_POSTGRES();
  use_postgres();
  exec("CREATE SCHEMA sales; CREATE TABLE sales.orders (id integer PRIMARY KEY, qty integer)");
  write_file(dir_ / "schema/orders.toml",
             "table = \"sales.orders\"\n[[check]]\nname = \"q\"\ncolumn = \"qty\"\nmin = 0\n");
  const auto r = cli({"scan"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("schema/orders.toml:1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("table 'sales.orders' does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("write schema = \"sales\" and table = \"orders\""), std::string::npos) << r.err;

  // A schema that does not exist is a missing table, not a database error.
  write_file(dir_ / "schema/orders.toml",
             "schema = \"nope\"\ntable = \"orders\"\n[[check]]\nname = \"q\"\ncolumn = \"qty\"\nmin = 0\n");
  const auto missing = cli({"scan"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("table 'nope.orders' does not exist in the database"), std::string::npos) << missing.err;
}

// A table name with spaces and mixed case (default schema), whose cascading
// child lives in a schema with a space and mixed case too.
TEST_F(PostgresNamesTest, SpacesAndMixedCaseThroughTheLifeCycle) {
  CC_REQUIRE_POSTGRES();
  use_postgres();
  exec(
      "CREATE SCHEMA \"Sales Dept\";"
      "CREATE TABLE \"Order Lines\" (\"Line Id\" integer PRIMARY KEY, \"Qty\" integer, \"Code\" text);"
      "CREATE TABLE \"Sales Dept\".\"Line Notes\" (\"Note Id\" integer PRIMARY KEY, "
      "\"Line Ref\" integer REFERENCES \"Order Lines\" (\"Line Id\") ON DELETE CASCADE);"
      "INSERT INTO \"Order Lines\" VALUES (1, 5, 'A'), (2, 0, 'B'), (3, 4, 'C');"
      "INSERT INTO \"Sales Dept\".\"Line Notes\" VALUES (1, 2), (2, 3);");
  write_file(dir_ / "schema/lines.toml", R"(table = "Order Lines"
[[check]]
name = "Order Lines Qty Positive"
column = "Qty"
min = 1
repair = { policy = "delete", allow_cascade = true }
[[unique]]
name = "Order Lines Code Key"
columns = ["Code"]
)");
  const std::vector<std::string> tables = {"\"Order Lines\"", "\"Sales Dept\".\"Line Notes\""};
  const std::string before = content(tables);
  EXPECT_EQ(scan_counts(1), (std::map<std::string, std::string>{{"Order Lines Qty Positive", "Order Lines 1"},
                                                                {"Order Lines Code Key", "Order Lines 0"}}));
  auto fix = cli_json({"scan", "--fix"}, 0);
  EXPECT_EQ(fix["cascaded"], 1) << fix.dump();
  EXPECT_EQ(content(tables), "-- \"Order Lines\"\n1|5|A|\n3|4|C|\n-- \"Sales Dept\".\"Line Notes\"\n2|3|\n");
  ok({"fix-undo", fix["run_id"].get<std::string>()});
  EXPECT_EQ(content(tables), before);

  ok({"scan", "--fix"});
  ok({"generate"});
  ok({"apply"});
  EXPECT_EQ(pg_constraints("\"Order Lines\""),
            (std::vector<std::string>{"Order Lines Code Key:u:true", "Order Lines Qty Positive:c:true"}));
  EXPECT_TRUE(rejected("INSERT INTO \"Order Lines\" VALUES (9, 0, 'Z')"));
  EXPECT_TRUE(rejected("INSERT INTO \"Order Lines\" VALUES (9, 1, 'A')"));
  EXPECT_EQ(verify_statuses(0), (std::map<std::string, std::string>{{"Order Lines Qty Positive", "Order Lines ok"},
                                                                    {"Order Lines Code Key", "Order Lines ok"}}));
  ok({"drop-checks", "--table", "Order Lines"});
  EXPECT_EQ(pg_constraints("\"Order Lines\""), (std::vector<std::string>{"Order Lines Code Key:u:true"}));
  ok({"apply"});
  EXPECT_EQ(pg_constraints("\"Order Lines\"").size(), 2u);
  ok({"rollback", "--to", "0"});
  EXPECT_TRUE(pg_constraints("\"Order Lines\"").empty());
  EXPECT_EQ(content({"\"Sales Dept\".\"Line Notes\""}), "-- \"Sales Dept\".\"Line Notes\"\n2|3|\n");
}

// SQLite resolves table, column and constraint names whatever the case of
// their ASCII letters, so every command does: "mixedcase" is MixedCase, "val" is Val.
TEST_F(NamesTest, SqliteNamesIgnoreCaseInEveryCommand) {
  use_sqlite();
  exec(
      "CREATE TABLE MixedCase (Id INTEGER PRIMARY KEY, Val INTEGER, Code TEXT, CONSTRAINT MixedCase_Legacy CHECK (Id > "
      "0))");
  exec("CREATE INDEX MixedCase_Val ON MixedCase (Val)");  // one statement per call on SQLite
  exec("INSERT INTO MixedCase VALUES (1, 5, 'a'), (2, 50, 'b'), (3, 7, 'b')");
  write_file(dir_ / "schema/mixedcase.toml", R"(table = "mixedcase"
[[check]]
name = "mixedcase_val_range"
column = "val"
min = 0
max = 10
repair = "clamp"
[[unique]]
name = "mixedcase_code_key"
columns = ["code"]
repair = "delete_duplicates"
)");
  const std::string before = content({"MixedCase"});
  EXPECT_EQ(scan_counts(1), (std::map<std::string, std::string>{{"mixedcase_val_range", "mixedcase 1"},
                                                                {"mixedcase_code_key", "mixedcase 1"}}));
  auto fix = cli_json({"scan", "--fix"}, 0);
  EXPECT_EQ(content({"MixedCase"}), "-- MixedCase\n1|5|a|\n2|10|b|\n");
  ok({"fix-undo", fix["run_id"].get<std::string>()});
  EXPECT_EQ(content({"MixedCase"}), before);

  ok({"scan", "--fix"});
  ok({"generate"});
  ok({"apply"});
  // The rebuild keeps the table's own spelling, its index and its own CHECK.
  EXPECT_EQ(column("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'mixedcase'"),
            (std::vector<std::string>{"MixedCase"}));
  const std::string sql = one("SELECT sql FROM sqlite_schema WHERE name = 'MixedCase'");
  EXPECT_NE(sql.find("mixedcase_val_range"), std::string::npos) << sql;
  EXPECT_NE(sql.find("MixedCase_Legacy"), std::string::npos) << sql;
  EXPECT_EQ(column("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'MixedCase' COLLATE NOCASE "
                   "ORDER BY name"),
            (std::vector<std::string>{"MixedCase_Val", "mixedcase_code_key"}));
  EXPECT_TRUE(rejected("INSERT INTO MixedCase VALUES (9, 11, 'z')"));
  EXPECT_TRUE(rejected("INSERT INTO MixedCase VALUES (9, 1, 'a')"));
  EXPECT_EQ(verify_statuses(0), (std::map<std::string, std::string>{{"mixedcase_val_range", "mixedcase ok"},
                                                                    {"mixedcase_code_key", "mixedcase ok"}}));
  const json rescan = cli_json({"scan"}, 0);
  for (const auto& c : rescan["constraints"]) EXPECT_TRUE(c["present"].get<bool>()) << c.dump();

  ok({"drop-checks", "--table", "mixedcase"});
  EXPECT_EQ(one("SELECT sql FROM sqlite_schema WHERE name = 'MixedCase'").find("mixedcase_val_range"),
            std::string::npos);
  EXPECT_EQ(verify_statuses(0)["mixedcase_val_range"], "mixedcase dropped");
  ok({"apply"});
  EXPECT_NE(one("SELECT sql FROM sqlite_schema WHERE name = 'MixedCase'").find("mixedcase_val_range"),
            std::string::npos);
  ok({"rollback", "--to", "0"});
  const std::string after = one("SELECT sql FROM sqlite_schema WHERE name = 'MixedCase'");
  EXPECT_EQ(after.find("mixedcase_val_range"), std::string::npos) << after;
  EXPECT_NE(after.find("MixedCase_Legacy"), std::string::npos) << after;
  EXPECT_EQ(column("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'MixedCase' COLLATE NOCASE"),
            (std::vector<std::string>{"MixedCase_Val"}));
  EXPECT_EQ(content({"MixedCase"}), "-- MixedCase\n1|5|a|\n2|10|b|\n");

  // A constraint name is matched the same way: the table's own CHECK, declared in another case, is present.
  write_file(dir_ / "legacy/mixedcase.toml",
             "table = \"MIXEDCASE\"\n[[check]]\nname = \"mixedcase_legacy\"\nexpr = \"id > 0\"\n");
  const auto legacy = cli_json({"--schema", (dir_ / "legacy").string(), "scan"}, 0);
  ASSERT_EQ(legacy["constraints"].size(), 1u);
  EXPECT_TRUE(legacy["constraints"][0]["present"].get<bool>()) << legacy.dump();
}

// SQLite has no schemas: `schema = ` is refused, naming the file and line, before anything runs.
TEST_F(NamesTest, SqliteRefusesTheSchemaKey) {
  use_sqlite();
  exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER)");
  write_file(dir_ / "schema/orders.toml",
             "table = \"orders\"\nschema = \"sales\"\n[[check]]\nname = \"q\"\ncolumn = \"qty\"\nmin = 0\n");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{"scan"}, {"scan", "--fix"}}) {
    const auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("schema/orders.toml:2:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("sqlite has no schemas"), std::string::npos) << r.err;
  }
  ok({"generate"});
  const auto apply = cli({"apply"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_NE(apply.err.find("no schemas"), std::string::npos) << apply.err;
  EXPECT_EQ(one("SELECT sql FROM sqlite_schema WHERE name = 'orders'"),
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER)");
}

}  // namespace
}  // namespace cc::test
