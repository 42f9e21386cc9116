// Several statements in one round trip on PostgreSQL (postgres_batch.h), and
// the BEGIN that waits for its transaction's first statement: what a user
// would see of them is the same as one statement at a time, errors naming
// the statement that failed and nothing of a failed transaction kept.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dialect/postgres/postgres_batch.h"
#include "support/test_support.h"

namespace cc::test {
namespace {

std::int64_t count_of(dialect::Connection& db, const std::string& sql) {
  std::int64_t n = -1;
  db.query(sql, [&](const dialect::Row& r) { n = dialect::value_int(r[0]); });
  return n;
}

TEST(PostgresBatch, FailingStatementIsNamedAndItsTransactionLeavesNothing) {
  CC_REQUIRE_POSTGRES();
  PgDatabase pgdb;
  auto db = connect(pgdb.url());
  db->execute("CREATE TABLE kept (x integer)");
  size_t failed = 99;
  try {
    dialect::Transaction tx(*db);
    dialect::execute_batch(*db,
                           {"INSERT INTO kept VALUES (1)", "SET LOCAL lock_timeout = 100; INSERT INTO kept VALUES (2)",
                            "INSERT INTO kept VALUES ('not a number')", "INSERT INTO kept VALUES (4)"},
                           failed);
    tx.commit();
    FAIL() << "the batch should have failed";
  } catch (const DatabaseError& e) {
    EXPECT_EQ(failed, 2u);  // the element holding two statements counts once
    EXPECT_EQ(e.detail().sql, "INSERT INTO kept VALUES ('not a number')");
    EXPECT_EQ(e.detail().code, "22P02") << e.what();
  }
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM kept"), 0);  // rolled back, the statements before it too
  dialect::Transaction tx(*db);
  dialect::execute_batch(*db, {"INSERT INTO kept VALUES (1)", "INSERT INTO kept VALUES (2)"}, failed);
  tx.commit();
  EXPECT_EQ(failed, 2u);  // none failed: the number of statements
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM kept"), 2);
}

// stream(): the rows of query(), one at a time (libpq's single-row mode), in
// and out of a transaction; a statement failing after some rows is thrown
// with its SQL, a handler's own exception comes through, and either way the
// connection answers the next query.
TEST(PostgresBatch, StreamHandsOverTheRowsOfQueryAndSurvivesFailures) {
  CC_REQUIRE_POSTGRES();
  PgDatabase pgdb;
  auto db = connect(pgdb.url());
  const std::string sql = "SELECT g, repeat('x', g % 7) FROM generate_series(1, 20000) AS g ORDER BY g";
  auto rows_of = [&](bool streamed) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    auto take = [&](const dialect::Row& r) { out.emplace_back(dialect::value_int(r[0]), dialect::value_text(r[1])); };
    streamed ? db->stream(sql, take) : db->query(sql, take);
    return out;
  };
  const auto whole = rows_of(false);
  ASSERT_EQ(whole.size(), 20000u);
  EXPECT_EQ(rows_of(true), whole);  // outside a transaction
  {
    dialect::Transaction tx(*db);
    EXPECT_EQ(rows_of(true), whole);  // inside one
    std::int64_t seen = 0;
    try {
      db->stream("SELECT 10 / (5000 - g) FROM generate_series(1, 10000) AS g", [&](const dialect::Row&) { ++seen; });
      FAIL() << "division by zero should have failed";
    } catch (const DatabaseError& e) {
      EXPECT_EQ(e.detail().code, "22012") << e.what();
      EXPECT_EQ(e.detail().sql, "SELECT 10 / (5000 - g) FROM generate_series(1, 10000) AS g");
    }
    EXPECT_LT(seen, 5000);
    tx.rollback();
  }
  EXPECT_EQ(count_of(*db, "SELECT 1"), 1);
  dialect::Transaction tx(*db);
  int calls = 0;
  EXPECT_THROW(db->stream(sql,
                          [&](const dialect::Row&) {
                            if (++calls == 3) throw UsageError("stop here");
                          }),
               UsageError);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM generate_series(1, 4)"), 4);  // the rest was read off the wire
}

TEST(PostgresBatch, QueryEachAnswersEveryQueryAndKeepsErrorsApart) {
  CC_REQUIRE_POSTGRES();
  PgDatabase pgdb;
  auto db = connect(pgdb.url());
  // More queries than one chunk holds, with two failures in the middle.
  std::vector<std::string> sqls;
  for (int i = 0; i < 250; ++i)
    sqls.push_back(i == 7 || i == 180 ? "SELECT * FROM no_such_table_" + std::to_string(i)
                                      : "SELECT " + std::to_string(i) + " UNION ALL SELECT " + std::to_string(-i));
  std::vector<std::vector<std::int64_t>> rows(sqls.size());
  const auto errors = dialect::query_each(
      *db, sqls, [&](size_t i, const dialect::Row& r) { rows[i].push_back(dialect::value_int(r[0])); });
  ASSERT_EQ(errors.size(), sqls.size());
  for (size_t i = 0; i < sqls.size(); ++i) {
    if (i == 7 || i == 180) {
      ASSERT_TRUE(errors[i].has_value()) << i;
      EXPECT_EQ(errors[i]->kind(), DbErrorKind::undefined_object);
      EXPECT_EQ(errors[i]->detail().sql, sqls[i]);
      EXPECT_TRUE(rows[i].empty());
    } else {
      EXPECT_FALSE(errors[i].has_value()) << i << ": " << errors[i]->what();
      EXPECT_EQ(rows[i], (std::vector<std::int64_t>{static_cast<std::int64_t>(i), -static_cast<std::int64_t>(i)})) << i;
    }
  }
  // Each chunk ran in a transaction of its own, all of them ended.
  db->execute("BEGIN");
  db->execute("COMMIT");
  EXPECT_EQ(count_of(*db, "SELECT 1"), 1);
}

// BEGIN is sent with the transaction's first statement: an error there names
// that statement, a transaction that ran nothing costs nothing, and the
// tool's per-transaction timeouts are in force from the first statement on.
TEST(PostgresDeferredBegin, TransactionBehavesAsIfBeganAtOnce) {
  CC_REQUIRE_POSTGRES();
  PgDatabase pgdb;
  auto db = connect(pgdb.url());
  db->execute("CREATE TABLE t (x integer PRIMARY KEY)");
  {
    dialect::Transaction tx(*db);
    tx.commit();  // nothing ran
  }
  {
    dialect::Transaction tx(*db);
    db->execute("INSERT INTO t VALUES (1)");
    try {
      db->execute("INSERT INTO t VALUES (1)");
      FAIL() << "duplicate accepted";
    } catch (const DatabaseError& e) {
      EXPECT_EQ(e.kind(), DbErrorKind::unique_violation);
      EXPECT_EQ(e.detail().sql, "INSERT INTO t VALUES (1)");  // not the BEGIN sent before it
    }
  }  // rolled back
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM t"), 0);
  {
    dialect::Transaction tx(*db);
    EXPECT_EQ(db->execute_count("INSERT INTO t VALUES (1), (2), (3)"), 3);  // the count of the statement itself
    std::string timeout;
    db->query("SHOW lock_timeout", [&](const dialect::Row& r) { timeout = dialect::value_text(r[0]); });
    EXPECT_EQ(timeout, "10s");  // ConnectOptions::lock_wait_ms, SET LOCAL with the BEGIN
    tx.commit();
  }
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM t"), 3);
  // A SAVEPOINT goes with the statement after it: a probe refused in it is
  // taken back alone, and a savepoint nothing ran in costs nothing.
  {
    dialect::Transaction tx(*db);
    db->execute("INSERT INTO t VALUES (4)");
    {
      dialect::Savepoint sp(*db, "cc_probe");
      EXPECT_THROW(db->execute("INSERT INTO t VALUES (1)"), DatabaseError);
      sp.rollback();
    }
    { dialect::Savepoint unused(*db, "cc_unused"); }  // rolled back by its guard, never sent
    {
      dialect::Savepoint kept(*db, "cc_kept");
      db->execute("INSERT INTO t VALUES (5)");
      kept.release();
    }
    tx.commit();
  }
  EXPECT_EQ(count_of(*db, "SELECT count(*) FROM t"), 5);
}

}  // namespace
}  // namespace cc::test
