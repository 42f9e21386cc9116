// Existing constraints: `inspect` writes schema/ from them and adopts them;
// a declared constraint that already exists as declared is adopted; adopted
// constraints survive rollback and drop-checks (unless named). Both dialects,
// through the binary, in a throwaway project directory per test.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

namespace fs = std::filesystem;

class AdoptTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    if (pg()) {
      exec(
          "CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, price numeric, qty integer, status "
          "varchar(10), "
          "sku text, code text, "
          "CONSTRAINT products_price_nonneg CHECK (price >= 0), "
          "CONSTRAINT products_qty_range CHECK (qty BETWEEN 0 AND 1000), "
          "CONSTRAINT products_status_in CHECK (status IN ('new', 'old')), "
          "CONSTRAINT products_name_len CHECK (length(name) > 0 OR qty = 0), "
          "CONSTRAINT products_name_key UNIQUE (name))");
      exec("CREATE UNIQUE INDEX products_sku_live ON products (sku) WHERE qty > 0");
    } else {
      exec(
          "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, price REAL, qty INTEGER CHECK "
          "(qty BETWEEN 0 AND 1000), "
          "status TEXT, sku TEXT, code TEXT, "
          "CONSTRAINT products_price_nonneg CHECK (price >= 0), "
          "CONSTRAINT products_status_in CHECK (status IN ('new', 'old')), "
          "CHECK (length(name) > 0 OR qty = 0))");
      exec("CREATE UNIQUE INDEX products_sku_live ON products (sku) WHERE qty > 0");
    }
    exec(
        "INSERT INTO products (id, name, price, qty, status, sku, code) VALUES (1, 'a', 1.5, 3, 'new', 's1', 'c1'), "
        "(2, 'b', 0, 0, 'old', 's1', 'c2'), (3, 'c', 2, 1, 'new', 's2', 'c3')");
  }

  RunResult cli(std::vector<std::string> args) const { return DialectTest::cli(std::move(args), dir_.path()); }

  // CHECK and UNIQUE constraints and unique indexes of `table`, with definitions: equal means the catalog is unchanged.
  std::vector<std::string> catalog(const std::string& table) {
    auto info = connect(url_)->inspect_table(model::TableName{table});
    std::vector<std::string> out;
    for (const auto& c : info.constraints) {
      using K = dialect::ExistingConstraint::Kind;
      if (c.kind == K::check || c.kind == K::unique || c.kind == K::unique_index)
        out.push_back(c.name + ": " + c.definition);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  bool rejected(const std::string& sql) {
    try {
      exec(sql);
      return false;
    } catch (const DatabaseError&) {
      return true;
    }
  }

  std::int64_t adopted_rows() const { return scalar("SELECT count(*) FROM constraintctl_adopted"); }
};

TEST_P(AdoptTest, InspectGenerateApplyVerifyRollbackRoundTrip) {
  const auto before = catalog("products");
  auto r = cli({"inspect"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  ASSERT_TRUE(fs::exists(dir_ / "schema/products.toml")) << r.out;
  ASSERT_TRUE(fs::exists(dir_ / "migrations/0001_baseline.toml")) << r.out;
  const std::string toml = read_file(dir_ / "schema/products.toml");
  EXPECT_NE(toml.find("name = \"products_price_nonneg\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("column = \"price\"\nmin = 0"), std::string::npos) << toml;            // structured
  EXPECT_NE(toml.find("column = \"qty\"\nmin = 0\nmax = 1000"), std::string::npos) << toml;  // BETWEEN
  EXPECT_NE(toml.find("in = [\"new\", \"old\"]"), std::string::npos) << toml;
  EXPECT_NE(toml.find("expr = "), std::string::npos) << toml;  // the OR condition stays raw
  EXPECT_NE(toml.find("name = \"products_sku_live\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("repair = \"report\""), std::string::npos) << toml;
  if (!pg()) {
    EXPECT_NE(toml.find("name = \"products_qty_check\""), std::string::npos) << toml;  // unnamed inline CHECK
    EXPECT_NE(toml.find("name = \"products_name_key\""), std::string::npos) << toml;   // unnamed inline UNIQUE
  }
  EXPECT_GT(adopted_rows(), 0);

  auto gen = cli({"generate", "--check"});
  EXPECT_EQ(gen.exit_code, 0) << gen.out << gen.err;

  auto dry = cli({"apply", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("-- adopted"), std::string::npos) << dry.out;
  // No DDL: only comments, the transaction and the history row.
  for (const std::string ddl :
       {"\nALTER TABLE", "\nCREATE UNIQUE INDEX", "\nCREATE TABLE \"cc_new_", "\nCREATE TEMP TABLE", "\nDROP "}) {
    EXPECT_EQ(dry.out.find(ddl), std::string::npos) << ddl << " in\n" << dry.out;
  }

  auto ap = cli({"apply"});
  ASSERT_EQ(ap.exit_code, 0) << ap.err << ap.out;
  EXPECT_NE(ap.out.find("adopted"), std::string::npos) << ap.out;
  EXPECT_EQ(catalog("products"), before);

  auto again = cli({"inspect", "--dry-run"});  // the bookkeeping tables exist now, and are never inspected
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("constraintctl_history"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("constraintctl_adopted"), std::string::npos) << again.out;

  auto v = cli({"verify", "--json"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto doc = nlohmann::json::parse(v.out);
  ASSERT_FALSE(doc["constraints"].empty());
  for (const auto& c : doc["constraints"]) EXPECT_EQ(c["status"], "ok") << c.dump();

  auto rb = cli({"rollback", "--to", "0", "--json"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err << rb.out;
  auto rdoc = nlohmann::json::parse(rb.out);
  EXPECT_FALSE(rdoc["steps"][0]["kept"].empty()) << rb.out;
  EXPECT_EQ(catalog("products"), before);
  EXPECT_TRUE(rejected("UPDATE products SET price = -1 WHERE id = 1"));
  EXPECT_TRUE(rejected("UPDATE products SET qty = 5000 WHERE id = 1"));
  EXPECT_TRUE(rejected("UPDATE products SET name = 'a' WHERE id = 2"));
  auto v2 = cli({"verify"});
  EXPECT_EQ(v2.out.find("created by constraintctl"), std::string::npos) << v2.out;
}

TEST_P(AdoptTest, InspectDryRunWritesNothingAndNeverOverwritesWithoutForce) {
  auto dry = cli({"inspect", "--dry-run", "--table", "products"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("table = \"products\""), std::string::npos) << dry.out;
  EXPECT_FALSE(fs::exists(dir_ / "schema"));
  EXPECT_FALSE(fs::exists(dir_ / "migrations"));

  auto missing = cli({"inspect", "--table", "nope"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(dir_ / "schema"));

  write_file(dir_ / "schema/products.toml", "# mine\n");
  auto r = cli({"inspect"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("schema/products.toml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir_ / "schema/products.toml"), "# mine\n");
  EXPECT_FALSE(fs::exists(dir_ / "migrations"));

  auto forced = cli({"inspect", "--force", "--json"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err << forced.out;
  auto doc = nlohmann::json::parse(forced.out);
  EXPECT_EQ(doc["command"], "inspect");
  EXPECT_EQ(doc["tables"][0]["table"], "products");
  EXPECT_NE(read_file(dir_ / "schema/products.toml"), "# mine\n");
}

TEST_P(AdoptTest, DeclaredExistingConstraintIsAdoptedKeptByRollbackDroppedOnlyWhenNamed) {
  write_file(dir_ / "schema/products.toml", R"(table = "products"

[[check]]
name = "products_price_nonneg"
column = "price"
min = 0

[[unique]]
name = "products_sku_live"
columns = ["sku"]
where = "qty > 0"
)");
  const auto before = catalog("products");
  ASSERT_EQ(cli({"generate"}).exit_code, 0);
  auto ap = cli({"apply"});
  ASSERT_EQ(ap.exit_code, 0) << ap.err << ap.out;
  EXPECT_NE(ap.out.find("adopted"), std::string::npos) << ap.out;
  EXPECT_EQ(catalog("products"), before) << "no second CHECK or index";
  EXPECT_EQ(adopted_rows(), 2);

  auto drop = cli({"drop-checks"});
  ASSERT_EQ(drop.exit_code, 0) << drop.err;
  EXPECT_NE(drop.out.find("kept"), std::string::npos) << drop.out;
  EXPECT_TRUE(rejected("UPDATE products SET price = -1 WHERE id = 1"));

  auto rb = cli({"rollback", "--to", "0"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(rb.out.find("kept"), std::string::npos) << rb.out;
  EXPECT_EQ(catalog("products"), before);
  EXPECT_TRUE(rejected("UPDATE products SET price = -1 WHERE id = 1"));

  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  auto named = cli({"drop-checks", "--constraint", "products_price_nonneg"});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_NE(named.out.find("adopted"), std::string::npos) << named.out;
  EXPECT_FALSE(rejected("UPDATE products SET price = -1 WHERE id = 1"));
}

TEST_P(AdoptTest, InspectAfterApplyNeverAdoptsWhatConstraintctlBuilt) {
  write_file(dir_ / "schema/products.toml", R"(table = "products"

[[check]]
name = "products_code_short"
expr = "length(code) <= 8"
)");
  ASSERT_EQ(cli({"generate"}).exit_code, 0);
  ASSERT_EQ(cli({"apply"}).exit_code, 0);
  auto r = cli({"inspect", "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_adopted WHERE name = 'products_code_short'"), 0);
  EXPECT_EQ(cli({"generate", "--check"}).exit_code, 0) << "constraintctl's own CHECK reads back as migrations/ has it";
  ASSERT_EQ(cli({"apply"}).exit_code, 0) << "the baseline adopts the pre-existing ones";
  auto rb = cli({"rollback", "--to", "0"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_FALSE(rejected("UPDATE products SET code = 'far too long' WHERE id = 1")) << "ours: rollback dropped it";
  EXPECT_TRUE(rejected("UPDATE products SET price = -1 WHERE id = 1")) << "adopted: rollback kept it";
}

TEST_P(AdoptTest, SameNameDifferentDefinitionIsRefusedBeforeAnyChange) {
  write_file(dir_ / "schema/products.toml", R"(table = "products"

[[check]]
name = "products_price_nonneg"
column = "price"
min = 1
)");
  const auto before = catalog("products");
  ASSERT_EQ(cli({"generate"}).exit_code, 0);
  auto ap = cli({"apply"});
  EXPECT_NE(ap.exit_code, 0);
  EXPECT_NE(ap.err.find("products_price_nonneg"), std::string::npos) << ap.err;
  EXPECT_NE(ap.err.find(">= 1"), std::string::npos) << ap.err;   // declared (rows violate it: still this refusal first)
  EXPECT_NE(ap.err.find(">= 0"), std::string::npos) << ap.err;   // the database's
  EXPECT_EQ(catalog("products"), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_history WHERE direction = 'up'"), 0);
}

TEST_P(AdoptTest, EquivalentConstraintUnderAnotherNameIsAWarning) {
  exec("CREATE UNIQUE INDEX products_code_u ON products (code)");
  write_file(dir_ / "schema/products.toml", R"(table = "products"

[[unique]]
name = "products_code_unique"
columns = ["code"]
)");
  ASSERT_EQ(cli({"generate"}).exit_code, 0);
  auto ap = cli({"apply"});
  ASSERT_EQ(ap.exit_code, 0) << ap.err;
  EXPECT_NE(ap.err.find("already enforced by products_code_u"), std::string::npos) << ap.err;

  // Two declarations of one rule in schema/: generate says so, offline.
  write_file(dir_ / "schema/products.toml", R"(table = "products"

[[unique]]
name = "products_code_unique"
columns = ["code"]

[[unique]]
name = "products_code_again"
columns = ["code"]
)");
  auto gen = cli({"generate"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_NE(gen.err.find("already enforced by products_code_unique"), std::string::npos) << gen.err;
}

// SQLite keeps an inline CHECK without a name: declaring the same condition
// under a name adopts it (matched by its definition) instead of adding a
// second CHECK, and drop-checks --constraint removes that very clause.
TEST_P(AdoptTest, SqliteUnnamedInlineCheckIsMatchedByItsDefinition) {
  if (pg()) GTEST_SKIP() << "PostgreSQL names every constraint";
  exec("CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0), code TEXT UNIQUE)");
  exec("INSERT INTO items (id, qty, code) VALUES (1, 1, 'a'), (2, 2, 'b')");
  write_file(dir_ / "schema/items.toml", R"(table = "items"

[[check]]
name = "items_qty_nonneg"
column = "qty"
min = 0

[[unique]]
name = "items_code_unique"
columns = ["code"]
)");
  const auto before = catalog("items");
  ASSERT_EQ(cli({"generate"}).exit_code, 0);
  auto ap = cli({"apply"});
  ASSERT_EQ(ap.exit_code, 0) << ap.err;
  EXPECT_NE(ap.out.find("matched by its definition"), std::string::npos) << ap.out;
  EXPECT_EQ(catalog("items"), before) << "no second CHECK, no second unique index";
  auto v = cli({"verify", "--json"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  const auto verified = nlohmann::json::parse(v.out);  // named: a range-for over a temporary's member dangles
  for (const auto& c : verified["constraints"]) EXPECT_NE(c["status"], "not_enforced") << c.dump();

  auto named = cli({"drop-checks", "--constraint", "items_qty_nonneg"});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_FALSE(rejected("UPDATE items SET qty = -1 WHERE id = 1")) << "the inline CHECK itself was dropped";
  EXPECT_EQ(scalar("SELECT count(*) FROM constraintctl_adopted WHERE name = 'items_qty_nonneg'"), 0);
}

// What a command reading hundreds of tables calls once: every table of the
// request in its order (a repeated one twice, a missing one as missing),
// with its columns, key, constraints, unique indexes and the foreign keys of
// other tables that point at it, as the catalog has them.
TEST_P(AdoptTest, InspectTablesReadsEveryTableOfTheRequestAtOnce) {
  exec("CREATE TABLE child (id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES products (id) ON DELETE CASCADE)");
  std::vector<model::TableName> names{{"child"}, {"products"}, {"absent"}, {"child"}};
  if (pg()) {
    exec("CREATE SCHEMA sales");
    exec(
        "CREATE TABLE sales.orders (id integer PRIMARY KEY, product_id integer REFERENCES products (id), "
        "CONSTRAINT orders_id_positive CHECK (id > 0))");
    names.push_back({"orders", "sales"});
  }
  const auto infos = connect(url_)->inspect_tables(names);
  ASSERT_EQ(infos.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(infos[i].name, names[i]) << i;

  const auto& child = infos[0];
  ASSERT_TRUE(child.exists);
  ASSERT_EQ(child.columns.size(), 2u);
  EXPECT_EQ(child.columns[1].name, "product_id");
  EXPECT_EQ(child.primary_key, std::vector<std::string>{"id"});
  EXPECT_TRUE(child.referrers.empty());
  EXPECT_TRUE(std::any_of(child.constraints.begin(), child.constraints.end(), [](const auto& c) {
    return c.kind == dialect::ExistingConstraint::Kind::foreign_key &&
           c.columns == std::vector<std::string>{"product_id"};
  }));

  const auto& products = infos[1];
  ASSERT_TRUE(products.exists);
  EXPECT_EQ(products.columns.size(), 7u);
  EXPECT_EQ(products.primary_key, std::vector<std::string>{"id"});
  const auto* sku = products.find_constraint("products_sku_live");
  ASSERT_NE(sku, nullptr);
  EXPECT_EQ(sku->kind, dialect::ExistingConstraint::Kind::unique_index);
  EXPECT_EQ(sku->columns, std::vector<std::string>{"sku"});
  EXPECT_NE(sku->definition.find("qty > 0"), std::string::npos) << sku->definition;
  const auto* price = products.find_constraint("products_price_nonneg");
  ASSERT_NE(price, nullptr);
  EXPECT_EQ(price->kind, dialect::ExistingConstraint::Kind::check);
  ASSERT_EQ(products.referrers.size(), pg() ? 2u : 1u);
  EXPECT_EQ(products.referrers[0].table, model::TableName{"child"});
  EXPECT_EQ(products.referrers[0].columns, std::vector<std::string>{"product_id"});
  EXPECT_TRUE(products.referrers[0].cascade);
  EXPECT_EQ(products.referrers[0].on_delete, "CASCADE");

  EXPECT_FALSE(infos[2].exists);
  EXPECT_TRUE(infos[2].columns.empty());
  EXPECT_TRUE(infos[2].constraints.empty());

  EXPECT_EQ(infos[3].columns.size(), child.columns.size()) << "a table asked for twice is read twice";
  EXPECT_EQ(infos[3].constraints.size(), child.constraints.size());

  if (pg()) {
    const auto& orders = infos[4];
    ASSERT_TRUE(orders.exists);
    ASSERT_NE(orders.find_constraint("orders_id_positive"), nullptr);
    EXPECT_EQ(orders.find_constraint("orders_id_positive")->definition, "CHECK (id > 0)");
    EXPECT_EQ(products.referrers[1].table, (model::TableName{"orders", "sales"}));
    EXPECT_FALSE(products.referrers[1].cascade);
    EXPECT_EQ(products.referrers[1].on_delete, "NO ACTION");
  }
  // One table alone reads the same as in the batch.
  const auto alone = connect(url_)->inspect_table({"products"});
  EXPECT_EQ(alone.constraints.size(), products.constraints.size());
  EXPECT_EQ(alone.referrers.size(), products.referrers.size());
}

INSTANTIATE_TEST_SUITE_P(Dialects, AdoptTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
