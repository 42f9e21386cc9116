#include <gtest/gtest.h>

#include "core/error.h"
#include "core/secrets.h"
#include "dialect/connection_target.h"

namespace cc::dialect {
namespace {

TEST(ConnectionTarget, SqliteForms) {
  EXPECT_EQ(parse_connection_target("sqlite:dev.db").sqlite_path, "dev.db");
  EXPECT_EQ(parse_connection_target("sqlite:///abs/dev.db").sqlite_path, "/abs/dev.db");
  EXPECT_EQ(parse_connection_target("sqlite://rel/dev.db").sqlite_path, "rel/dev.db");
  EXPECT_EQ(parse_connection_target("sqlite:/abs/dev.db").kind, Kind::sqlite);
  EXPECT_THROW(parse_connection_target("sqlite:"), UsageError);
}

TEST(ConnectionTarget, PostgresForms) {
  auto t = parse_connection_target("postgresql://app@localhost:5432/app?sslmode=disable");
  EXPECT_EQ(t.kind, Kind::postgresql);
  EXPECT_EQ(t.conninfo, "postgresql://app@localhost:5432/app?sslmode=disable");
  EXPECT_EQ(parse_connection_target("postgres://x@y/z").kind, Kind::postgresql);
  EXPECT_EQ(parse_connection_target("postgresql:host=/tmp dbname=app").conninfo, "host=/tmp dbname=app");
}

TEST(ConnectionTarget, UnknownSchemesAreRejectedWithoutEchoingTheUrl) {
  try {
    parse_connection_target("mysql://root:hunter2@db/app");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mysql"), std::string::npos);
  }
}

TEST(ConnectionTarget, ABarePathHintsAtTheSqliteScheme) {
  try {
    parse_connection_target("data/app.db");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "database URL 'data/app.db' has no scheme; did you mean sqlite:data/app.db?");
  }
}

TEST(ConnectionTarget, PasswordsAreScrubbedEverywhere) {
  auto t = parse_connection_target("postgresql://app:s3cr%40t-pw@localhost/app");
  EXPECT_EQ(t.display().find("s3cr"), std::string::npos) << t.display();
  EXPECT_EQ(secrets::scrub("failed for s3cr@t-pw and s3cr%40t-pw"), "failed for *** and ***");
  auto kv = parse_connection_target("postgresql:host=localhost password=kv-secret-1 dbname=x");
  EXPECT_EQ(kv.display().find("kv-secret-1"), std::string::npos) << kv.display();
}

TEST(ConnectionTarget, MalformedUrlErrorsHideThePassword) {
  try {
    parse_connection_target("postgresql://app:leaky-pw@localhost:notaport/app?bogus=%zz");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("leaky-pw"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cc::dialect
