// Helpers shared by the test tiers: temporary directories, fixtures built by
// scripts/make-fixture, throwaway PostgreSQL databases, running the binary.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dialect/connection.h"

namespace cc::test {

std::filesystem::path source_dir();

// A fresh directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

// Runs a shell command; fails the test on a non-zero exit.
void shell(const std::string& command);

// Builds the reference-domain fixture (N characters) into a new SQLite file.
void make_sqlite_fixture(const std::filesystem::path& path, int n);

// fixtures/expected/<n>.json
nlohmann::json expected_counts(int n);

// The throwaway server's URL, or empty. Under CI a missing server is a failure.
std::string postgres_url();
#define CC_REQUIRE_POSTGRES()                                                         \
  do {                                                                                \
    if (::cc::test::postgres_url().empty()) {                                         \
      if (std::getenv("CI")) FAIL() << "CONSTRAINTCTL_TEST_PG is not set under CI";   \
      GTEST_SKIP() << "CONSTRAINTCTL_TEST_PG not set (run through scripts/with-postgres)"; \
    }                                                                                 \
  } while (0)

// A database created on the throwaway server for one test, dropped afterwards.
class PgDatabase {
 public:
  PgDatabase();
  ~PgDatabase();
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  void load_fixture(int n) const;  // scripts/make-fixture postgres
  void psql(const std::string& sql) const;

 private:
  std::string name_;
  std::string url_;
};

// Drops a role a test created (and what it owns in `db`) when the test ends,
// however it ends.
struct DropRoleAtEnd {
  const PgDatabase& db;
  std::string role;
  ~DropRoleAtEnd();
};

// pgbouncer on 127.0.0.1 (a free port) in front of the throwaway server, in
// its own temporary directory, stopped at destruction. ok() is false (and
// why() says why) when pgbouncer is not installed or does not start.
class Pgbouncer {
 public:
  explicit Pgbouncer(const std::string& pool_mode = "transaction", int pool_size = 3);
  ~Pgbouncer();
  Pgbouncer(const Pgbouncer&) = delete;
  Pgbouncer& operator=(const Pgbouncer&) = delete;
  bool ok() const { return pid_ > 0; }
  const std::string& why() const { return why_; }
  // The URL of `dbname` on the throwaway server, through the pool.
  std::string url(const std::string& dbname) const;

 private:
  TempDir dir_;
  int port_ = 0;
  long pid_ = 0;
  std::string why_;
};

std::unique_ptr<dialect::Connection> connect(const std::string& url, bool read_only = false);

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the constraintctl binary with `args` in `cwd`, with extra environment `env`.
RunResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& cwd = source_dir(),
                  const std::vector<std::string>& env = {});

// Base for tests parametrised by dialect ("sqlite" | "postgresql"): an empty
// database of that dialect per test (a SQLite file or a database on the
// throwaway server), and the helpers every such test needs. Derived SetUp()
// must call DialectTest::SetUp() first and return if IsSkipped().
class DialectTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  bool pg() const { return GetParam() == "postgresql"; }
  void load_fixture(int n);
  void exec(const std::string& sql) const;
  std::int64_t scalar(const std::string& sql) const;  // first column of the last row, -1 if none
  // Every row of `tables`, ordered by the first column: equal strings mean equal content.
  std::string content(const std::vector<std::string>& tables) const;
  // The binary with --db pointing at this database.
  RunResult cli(std::vector<std::string> args, const std::filesystem::path& cwd = source_dir()) const;

  TempDir dir_;
  std::unique_ptr<PgDatabase> pgdb_;
  std::string url_;
};

// True when the linked SQLite has native ALTER TABLE ... ADD/DROP CONSTRAINT
// (scripts/test-sqlite-native): the table rebuild does not run then.
bool sqlite_native_alter();

// Compares `actual` with tests/golden/<name>; CONSTRAINTCTL_UPDATE_GOLDEN=1 rewrites it.
void expect_golden(const std::string& name, const std::string& actual);

}  // namespace cc::test
