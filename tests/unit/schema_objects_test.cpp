// The comparison of SQLite's schema objects before and after a migration:
// only the planned change may differ; anything else is named.
#include "dialect/sqlite/schema_objects.h"

#include <gtest/gtest.h>

namespace cc::dialect::sqlite {
namespace {

SchemaObjects objects(std::initializer_list<SchemaObject> list) {
  SchemaObjects out;
  for (const auto& o : list) out[object_key(o.type, o.name)] = o;
  return out;
}

const SchemaObjects kBefore = objects({
    {"table", "Items", "Items", "CREATE TABLE Items (id INTEGER PRIMARY KEY, qty INTEGER)"},
    {"index", "Items_qty", "items", "CREATE INDEX \"Items_qty\" ON items (qty)"},
    {"trigger", "items_audit", "items", "CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN SELECT 1; END"},
    {"trigger", "ITEMS", "ITEMS", "CREATE TRIGGER \"ITEMS\" AFTER UPDATE ON \"ITEMS\" BEGIN SELECT 2; END"},
    {"view", "Item_View", "Item_View", "CREATE VIEW \"Item_View\" AS SELECT * FROM Items"},
    {"trigger", "item_view_ins", "item_view",
     "CREATE TRIGGER item_view_ins INSTEAD OF INSERT ON item_view BEGIN SELECT 3; END"},
});
const std::string kNewItems =
    "CREATE TABLE \"Items\" (id INTEGER PRIMARY KEY, qty INTEGER,\n  CONSTRAINT \"q\" CHECK (qty >= 0))";

PlannedSchemaChange items_check() {
  PlannedSchemaChange p;
  p.table_sql["items"] = kNewItems;
  return p;
}

TEST(SchemaDifference, ThePlannedChangeAloneIsNoDifference) {
  SchemaObjects after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  EXPECT_EQ(schema_difference(kBefore, after, items_check()), "");
  // A trigger named like the table, differing only in case, is its own object.
  EXPECT_EQ(kBefore.size(), 6u);
}

TEST(SchemaDifference, ALostTriggerIsNamed) {
  SchemaObjects after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after.erase(object_key("trigger", "items_audit"));
  EXPECT_EQ(schema_difference(kBefore, after, items_check()), "trigger \"items_audit\" (on \"items\") is missing");
  after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after.erase(object_key("trigger", "ITEMS"));
  EXPECT_EQ(schema_difference(kBefore, after, items_check()), "trigger \"ITEMS\" is missing");
  after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after.erase(object_key("trigger", "item_view_ins"));
  EXPECT_EQ(schema_difference(kBefore, after, items_check()),
            "trigger \"item_view_ins\" (on \"item_view\") is missing");
}

TEST(SchemaDifference, OtherTextNameOrTableIsNamed) {
  SchemaObjects after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems + " ";
  EXPECT_NE(schema_difference(kBefore, after, items_check()).find("table \"Items\" has other SQL text"),
            std::string::npos);
  after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after[object_key("view", "Item_View")].name = "item_view";
  EXPECT_EQ(schema_difference(kBefore, after, items_check()), "view \"Item_View\" is now named \"item_view\"");
  after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after[object_key("index", "Items_qty")].tbl_name = "Items";
  EXPECT_EQ(schema_difference(kBefore, after, items_check()),
            "index \"Items_qty\" (on \"items\") now belongs to \"Items\"");
  // An unplanned table text change is named too.
  after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  EXPECT_NE(schema_difference(kBefore, after, {}).find("table \"Items\" has other SQL text"), std::string::npos);
}

TEST(SchemaDifference, CreatedAndDroppedIndexesArePlannedOthersAreNot) {
  PlannedSchemaChange p = items_check();
  const SchemaObject u{"index", "items_u", "Items", "CREATE UNIQUE INDEX \"items_u\" ON \"Items\" (\"qty\")"};
  p.created[object_key("index", "items_u")] = u;
  p.dropped.insert(object_key("index", "Items_qty"));
  SchemaObjects after = kBefore;
  after[object_key("table", "Items")].sql = kNewItems;
  after.erase(object_key("index", "Items_qty"));
  after[object_key("index", "items_u")] = u;
  EXPECT_EQ(schema_difference(kBefore, after, p), "");
  after[object_key("index", "stray")] = {"index", "stray", "Items", "CREATE INDEX stray ON Items (id)"};
  EXPECT_EQ(schema_difference(kBefore, after, p), "index \"stray\" (on \"Items\") appeared");
}

TEST(SchemaDifference, NativeAlterAcceptsAnyTextForItsTable) {
  PlannedSchemaChange p;
  p.table_sql["items"] = std::nullopt;
  SchemaObjects after = kBefore;
  after[object_key("table", "Items")].sql = "CREATE TABLE Items (id INTEGER PRIMARY KEY, qty INTEGER, CHECK (qty > 0))";
  EXPECT_EQ(schema_difference(kBefore, after, p), "");
}

}  // namespace
}  // namespace cc::dialect::sqlite
