#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// Every form a password can take in a connection string; `leaks` are strings
// that must not survive display() or scrub() of a message quoting the input.
struct PasswordForm {
  std::string url;
  std::vector<std::string> leaks;
};

TEST(ConnectionTarget, PasswordIsScrubbedInEveryForm) {
  const std::vector<PasswordForm> forms = {
      {"postgresql://app@127.0.0.1:1/app?password=Pw%5fSecret", {"Pw_Secret", "Pw%5fSecret", "Pw%5FSecret", "Secret"}},
      {"postgresql://app@h/app?password=Dup-One&password=Dup-Two", {"Dup-One", "Dup-Two"}},
      {"postgresql:host=127.0.0.1 password='it\\'s-s3cret'", {"it's-s3cret", "it\\'s-s3cret", "s3cret"}},
      {"postgresql:host=127.0.0.1 password=plain\\ esc", {"plain esc", "plain\\ esc"}},
      {"postgresql://app:co:lon:pw@h/db", {"co:lon:pw", "lon:pw"}},
      {"postgresql:host=h password=kv:colon:pw", {"kv:colon:pw"}},
      {"postgresql://app:Enc%40%3a%2Fpw@h/db", {"Enc@:/pw", "Enc%40%3a%2Fpw", "Enc%40%3A%2Fpw", "Enc%40%3a%2fpw"}},
  };
  for (const auto& f : forms) {
    SCOPED_TRACE(f.url);
    const auto t = parse_connection_target(f.url);
    const std::string quoted = secrets::scrub("failed: " + f.url + " / " + t.conninfo);
    for (const auto& leak : f.leaks) {
      EXPECT_EQ(t.display().find(leak), std::string::npos) << t.display();
      EXPECT_EQ(quoted.find(leak), std::string::npos) << quoted;
    }
  }
  // Any other spelling of the same bytes is scrubbed too.
  EXPECT_EQ(secrets::scrub("x Pw%5F%53ecret y"), "x *** y");
  EXPECT_EQ(secrets::scrub("{\"db\": \"it\\'s-s3cret\"}"), "{\"db\": \"***\"}");
}

TEST(ConnectionTarget, UnencodedAtInThePasswordIsRefusedWithoutFragments) {
  try {
    parse_connection_target("postgresql://app:Pw_Secret#42@x:y/z@host/db");
    FAIL();
  } catch (const UsageError& e) {
    const std::string message = secrets::scrub(e.what());
    for (const char* leak : {"Pw_Secret", "42", "x:y", "y/z", "z@host"}) EXPECT_EQ(message.find(leak), std::string::npos) << message;
    EXPECT_NE(message.find("%40"), std::string::npos) << message;
  }
  EXPECT_EQ(secrets::scrub("host \"x\" port y: Pw_Secret#42@x:y/z"), "host \"x\" port y: ***");
}

TEST(ConnectionTarget, MalformedPercentEncodingIsScrubbed) {
  try {
    parse_connection_target("postgresql://app:Bad%zzPw@h/db");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("Bad%zzPw"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cc::dialect
