// verify's probe values: from the column's type and from the condition, so
// that a probe breaks the rule rather than the type.
#include <gtest/gtest.h>

#include <algorithm>

#include "verify/probe_values.h"

namespace cc::verify {
namespace {

dialect::ColumnInfo column(const std::string& type) {
  dialect::ColumnInfo c;
  c.name = "c";
  c.type = type;
  return c;
}

bool has(const std::vector<std::string>& values, const std::string& v) { return std::find(values.begin(), values.end(), v) != values.end(); }

TEST(ProbeValues, NumbersTryTheNeighboursOfEachBoundFirst) {
  const auto v = probe_values(column("integer"), "\"c\" BETWEEN 3 AND 250", dialect::postgresql_dialect());
  ASSERT_GE(v.size(), 4u);
  EXPECT_EQ(v[0], "2");
  EXPECT_EQ(v[1], "4");
  EXPECT_TRUE(has(v, "251"));
  EXPECT_EQ(v.back(), "NULL");
}

TEST(ProbeValues, EnumsTryTheirLabels) {
  auto c = column("mood");
  c.labels = {"sad", "ok", "it's"};
  const auto v = probe_values(c, "c <> 'sad'", dialect::postgresql_dialect());
  EXPECT_TRUE(has(v, "'sad'"));
  EXPECT_TRUE(has(v, "'it''s'"));
  EXPECT_FALSE(has(v, "'~cc-probe~'"));  // not a label: it would only break the type
}

TEST(ProbeValues, DomainsUseTheirBaseType) {
  auto c = column("posint");
  c.base_type = "integer";
  EXPECT_TRUE(has(probe_values(c, "c < 9", dialect::postgresql_dialect()), "10"));
}

TEST(ProbeValues, DatesBooleansArraysAndLengths) {
  EXPECT_TRUE(has(probe_values(column("timestamp with time zone"), "c >= '2020-06-01'", dialect::postgresql_dialect()),
                  "'0001-01-01 00:00:00'"));
  EXPECT_TRUE(has(probe_values(column("date"), "c > DATE '2000-01-01'", dialect::postgresql_dialect()), "'2000-01-01'"));
  EXPECT_TRUE(has(probe_values(column("boolean"), "c", dialect::postgresql_dialect()), "FALSE"));
  EXPECT_TRUE(has(probe_values(column("text[]"), "cardinality(c) <= 3", dialect::postgresql_dialect()), "'{0,0,0,0}'"));
  EXPECT_TRUE(has(probe_values(column("varchar(20)"), "length(c) <= 5", dialect::sqlite_dialect()), "'xxxxxx'"));
}

TEST(ProbeValues, SqliteNumericColumnsAlsoTryText) {
  EXPECT_TRUE(has(probe_values(column("INTEGER"), "typeof(c) = 'integer'", dialect::sqlite_dialect()), "'~cc-probe~'"));
}

}  // namespace
}  // namespace cc::verify
