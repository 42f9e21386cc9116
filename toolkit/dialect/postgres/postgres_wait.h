// Bounded waits on PostgreSQL: who a statement waits for, and giving up.
//
// A CREATE UNIQUE INDEX CONCURRENTLY waits for every older transaction in the
// database (wait event virtualxid), not only for those touching its table, and
// reports nothing while it does. A WaitWatch observes the statement's backend
// from a second session, says on stderr whom it waits for (pid, state, when
// its transaction and last query started, application), and cancels the
// statement (PQcancel) once it has waited `limit_ms` in total.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dialect/connection.h"

namespace cc::dialect {

class WaitWatch {
 public:
  virtual ~WaitWatch() = default;
  // True once the limit passed and the statement was cancelled.
  virtual bool gave_up() const = 0;
  // The sessions last seen blocking the statement ("pid 4711 (idle in
  // transaction, transaction started ..., application 'psql'): SELECT ..."),
  // or "" when it never waited.
  virtual std::string blockers() const = 0;
  // How long the statement waited for other sessions, in total.
  virtual long long waited_ms() const = 0;
};

// Starts watching the session of `db` (a PostgreSQL connection) until the
// returned watch is destroyed. `what` names the statement in the reports.
// limit_ms <= 0: report only, never cancel. Without a second connection
// (refused, too many clients) the watch reports nothing and never cancels.
std::unique_ptr<WaitWatch> watch_waits(Connection& db, std::string what, long long limit_ms);

// After a statement of `db` gave up on a lock timeout, when no watch saw
// whom it waited for (a lock_timeout shorter than the watch's first look):
// the sessions, other than db's own, whose transaction began at least
// `older_ms` ago and that hold a lock on one of `tables` (regclass texts;
// empty: on any table), or with `any_older` any such transaction of this
// database (the older transactions a CONCURRENTLY build waits for). Read
// from a second session; "" when none, or when it cannot connect.
std::string older_transactions(Connection& db, const std::vector<std::string>& tables, bool any_older,
                               long long older_ms);

}  // namespace cc::dialect
