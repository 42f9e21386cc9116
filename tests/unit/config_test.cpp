#include <gtest/gtest.h>

#include "core/error.h"
#include "model/config.h"
#include "support/test_support.h"

namespace cc::model {
namespace {

TEST(Config, DefaultsWithoutAFile) {
  test::TempDir dir;
  Config c = load_config(dir.path());
  EXPECT_FALSE(c.database);
  EXPECT_EQ(c.schema_dir, dir.path() / "schema");
  EXPECT_EQ(c.sqlite_busy_timeout_ms, 5000);
  EXPECT_FALSE(c.sqlite_no_rebuild);
  EXPECT_EQ(c.sqlite_max_lock_ms, 2000);
  EXPECT_EQ(c.lock_wait_ms, 10000);
}

// [sqlite] max_lock_ms: 0 (one transaction whatever it takes) allowed, a
// negative bound named with its line.
TEST(Config, ReadsSqliteMaxLock) {
  test::TempDir dir;
  test::write_file(dir / "constraintctl.toml", "[sqlite]\nmax_lock_ms = 0\n");
  EXPECT_EQ(load_config(dir.path()).sqlite_max_lock_ms, 0);
  test::write_file(dir / "constraintctl.toml", "[sqlite]\nmax_lock_ms = 500\n");
  EXPECT_EQ(load_config(dir.path()).sqlite_max_lock_ms, 500);
  test::write_file(dir / "constraintctl.toml", "[sqlite]\nmax_lock_ms = -1\n");
  try {
    load_config(dir.path());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("constraintctl.toml:2:15: 'max_lock_ms' must be an integer"),
              std::string::npos)
        << e.what();
  }
}

// One limit for every wait on another session, 0 (no limit) allowed.
TEST(Config, ReadsLockWait) {
  test::TempDir dir;
  test::write_file(dir / "constraintctl.toml", "lock_wait_ms = 0\n");
  EXPECT_EQ(load_config(dir.path()).lock_wait_ms, 0);
  test::write_file(dir / "constraintctl.toml", "lock_wait_ms = -5\n");
  EXPECT_THROW(load_config(dir.path()), UsageError);
}

TEST(Config, ReadsSettings) {
  test::TempDir dir;
  test::write_file(
      dir / "constraintctl.toml",
      "database = \"sqlite:dev.db\"\nschema_dir = \"rules\"\n[sqlite]\nbusy_timeout_ms = 100\nno_rebuild = true\n"
      "[postgresql]\nlock_timeout_ms = 50\n");
  Config c = load_config(dir.path());
  EXPECT_TRUE(c.sqlite_no_rebuild);
  EXPECT_EQ(*c.database, "sqlite:dev.db");
  EXPECT_EQ(c.schema_dir, dir.path() / "rules");
  EXPECT_EQ(c.sqlite_busy_timeout_ms, 100);
  EXPECT_EQ(c.postgres_lock_timeout_ms, 50);
}

TEST(Config, ErrorsNameFileAndLine) {
  test::TempDir dir;
  test::write_file(dir / "constraintctl.toml", "database = \"sqlite:x\"\n[sqlite]\nbusy_timeout = 1\n");
  try {
    load_config(dir.path());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("constraintctl.toml:3:1: unknown key 'busy_timeout' in [sqlite]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cc::model
