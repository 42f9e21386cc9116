// Several statements in one round trip on PostgreSQL. On a machine whose
// cores are busy every round trip waits for two processes to be scheduled,
// so hundreds of tables cost what their round trips cost, not what the
// server does for them; these send a whole step (or a list of catalog
// questions) as one simple-query string.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "dialect/connection.h"

namespace cc::dialect {

// Runs `sqls` (each one statement) on `db` (a PostgreSQL connection) in one
// round trip, in order, inside the caller's transaction (outside one,
// PostgreSQL makes the string one implicit transaction: nothing that
// refuses a transaction block, such as CONCURRENTLY). Stops at the first
// statement that fails, sets `failed` to its index (sqls.size() when none
// failed) and throws its DatabaseError, which names that statement alone.
void execute_batch(Connection& db, const std::vector<std::string>& sqls, size_t& failed);

// Runs each of `sqls` (read-only queries) and hands its rows to
// `on_row(index, row)`; returns the error of each one that failed (nullopt
// for the others), which does not keep the others from running. Outside a
// transaction: chunks of them in one transaction each with the tool's
// timeouts, one round trip per chunk. Inside one: one query at a time.
// Throws only when the connection itself fails.
std::vector<std::optional<DatabaseError>> query_each(Connection& db, const std::vector<std::string>& sqls,
                                                     const std::function<void(size_t, const Row&)>& on_row);

}  // namespace cc::dialect
