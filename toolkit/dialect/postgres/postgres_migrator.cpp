// PostgreSQL migrations without long locks:
//   CHECK  -> ADD CONSTRAINT ... NOT VALID (milliseconds of ACCESS EXCLUSIVE),
//             then VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE
//             EXCLUSIVE: writers proceed);
//   UNIQUE -> CREATE UNIQUE INDEX CONCURRENTLY outside any transaction, then
//             ADD CONSTRAINT ... UNIQUE USING INDEX (a fast rename); a partial
//             UNIQUE stays a unique index.
// Every exclusive step runs under lock_timeout with bounded retries, so it
// never queues behind a long reader while blocking every later writer. The
// one-migrator lock is a session advisory lock on this very connection.
#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/fault.h"
#include "dialect/migrator.h"
#include "dialect/postgres/postgres_plan.h"

namespace cc::dialect {
namespace {

constexpr long long kAdvisoryKey = 0x63637463746cLL;  // "cctctl"

std::string q(std::string_view s) { return postgresql_dialect().quote_ident(s); }

bool truthy(const Value& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s == "t" || *s == "true" || *s == "1";
  return value_int(v) != 0;
}

class PostgresMigrator final : public Migrator {
 public:
  PostgresMigrator(Connection& db, MigratorOptions options) : db_(db), options_(std::move(options)) {}

  void lock() override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.lock_wait_ms);
    for (;;) {
      bool got = false;
      db_.query("SELECT pg_try_advisory_lock(" + std::to_string(kAdvisoryKey) + ")", [&](const Row& r) { got = truthy(r[0]); });
      if (got) {
        locked_ = true;
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string holder;
    db_.query("SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local') FROM pg_locks l "
              "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
              "AND l.objid = " + std::to_string(kAdvisoryKey & 0xffffffffLL) + " LIMIT 1",
              [&](const Row& r) { holder = "pid " + value_text(r[0]) + " (" + value_text(r[1]) + ", " + value_text(r[2]) + ")"; });
    throw Error(ExitCode::locked, "another migrator holds the migration lock" + (holder.empty() ? "" : ": " + holder) +
                                      "; waited " + std::to_string(options_.lock_wait_ms) + " ms");
  }

  void unlock() override {
    if (!locked_) return;
    db_.execute("SELECT pg_advisory_unlock(" + std::to_string(kAdvisoryKey) + ")");
    locked_ = false;
  }

  void ensure_history() override { detail::create_bookkeeping(db_); }

  std::vector<HistoryRow> history() override {
    bool exists = false;
    db_.query(std::string("SELECT to_regclass('") + kHistoryTable + "') IS NOT NULL", [&](const Row& r) { exists = truthy(r[0]); });
    return detail::read_history(db_, exists);
  }

  std::vector<PlannedStatement> plan(const migrate::Migration& m, bool up) override {
    return postgres_plan(m, up, options_);
  }

  bool run(const migrate::Migration& m, bool up, const RunExtras& extras) override {
    const std::string dir = detail::current_direction(db_, m.version);
    if (up ? dir == "up" : dir != "up") return false;  // another migrator got here first
    std::string started;
    db_.query("SELECT CAST(clock_timestamp() AS text)", [&](const Row& r) { started = value_text(r[0]); });
    std::vector<std::string> record = {
        detail::history_insert(postgresql_dialect(), m, up, postgresql_dialect().quote_string(started) + "::timestamptz", options_)};
    record.insert(record.end(), extras.record.begin(), extras.record.end());
    std::vector<migrate::Operation> steps;
    for (const auto& op : m.steps(up)) {
      if (std::find(extras.skip.begin(), extras.skip.end(), op.def.name) == extras.skip.end()) steps.push_back(op);
    }
    execute(steps, record);
    return true;
  }

  void run_ops(const std::vector<migrate::Operation>& ops, const std::vector<std::string>& record) override { execute(ops, record); }

  std::string definition_difference(const migrate::ConstraintDef& declared, const ExistingConstraint& existing) override {
    if (!declared.unique) {
      if (existing.kind != ExistingConstraint::Kind::check) return "it is a " + std::string(to_string(existing.kind)) + ", not a CHECK";
      migrate::Operation op{migrate::OpKind::add_check, declared};
      db_.execute("BEGIN");
      bool same = false;
      try {
        same = same_check(op, existing);
      } catch (...) {
        db_.execute("ROLLBACK");
        throw;
      }
      db_.execute("ROLLBACK");
      return same ? "" : "the database has " + existing.definition;
    }
    if (existing.kind != ExistingConstraint::Kind::unique && existing.kind != ExistingConstraint::Kind::unique_index) {
      return "it is a " + std::string(to_string(existing.kind)) + ", not a UNIQUE";
    }
    if (existing.columns != declared.columns) return "the database has " + existing.definition;
    // Partial predicates compared after PostgreSQL normalised both.
    std::string actual, wanted;
    const auto& d = postgresql_dialect();
    db_.query("SELECT coalesce(pg_get_expr(ix.indpred, ix.indrelid, true), '') FROM pg_index ix JOIN pg_class c ON c.oid = ix.indexrelid "
              "WHERE c.relname = " + d.quote_string(declared.name) + " AND ix.indrelid = to_regclass(" + d.quote_string(q(declared.table)) + ")",
              [&](const Row& r) { actual = value_text(r[0]); });
    if (!declared.where.empty()) {
      db_.execute("BEGIN");
      try {
        db_.execute("CREATE TEMP TABLE cc_norm (LIKE " + q(declared.table) + ")");
        db_.execute("CREATE INDEX cc_norm_idx ON cc_norm (" + q(declared.columns[0]) + ") WHERE (" + declared.where + ")");
        db_.query("SELECT pg_get_expr(ix.indpred, ix.indrelid, true) FROM pg_index ix WHERE ix.indexrelid = 'cc_norm_idx'::regclass",
                  [&](const Row& r) { wanted = value_text(r[0]); });
      } catch (...) {
        db_.execute("ROLLBACK");
        throw;
      }
      db_.execute("ROLLBACK");
    }
    return actual == wanted ? "" : "the database has " + existing.definition;
  }

  std::string capabilities() override {
    return "transactional DDL, NOT VALID + VALIDATE for CHECK, CREATE UNIQUE INDEX CONCURRENTLY + USING INDEX for UNIQUE, "
           "advisory lock";
  }

 private:
  // Phase 1: unique indexes built without blocking writers. Phase 2: every
  // exclusive step in one short transaction. Phase 3: validations, each in
  // its own transaction. `record` commits with the last transactional step.
  void execute(const std::vector<migrate::Operation>& steps, const std::vector<std::string>& record) {
    for (const auto& op : steps) {
      if (op.kind == migrate::OpKind::add_unique) build_unique_index(op);
    }
    auto commit_record = [&] {
      for (const auto& sql : record) db_.execute(sql);
    };
    fault::point("pg-after-index-builds");
    std::vector<const migrate::Operation*> to_validate;
    with_lock_retries("the exclusive step", [&] {
      to_validate.clear();
      db_.execute("BEGIN");
      db_.execute("SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms));
      for (const auto& op : steps) {
        if (exclusive_step(op)) to_validate.push_back(&op);
        fault::point("pg-exclusive-step");
      }
      if (to_validate.empty()) commit_record();
      fault::point("before-commit");
      db_.execute("COMMIT");
    });
    for (size_t i = 0; i < to_validate.size(); ++i) {
      const auto& op = *to_validate[i];
      with_lock_retries("VALIDATE " + op.def.name, [&] {
        db_.execute("BEGIN");
        db_.execute("SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms));
        try {
          db_.execute("ALTER TABLE " + q(op.def.table) + " VALIDATE CONSTRAINT " + q(op.def.name));
        } catch (const DatabaseError& e) {
          if (e.sqlstate() == "23514") {
            throw Error(ExitCode::findings, "validate " + op.def.name + ": rows written since the scan violate it; the constraint "
                                            "stays NOT VALID (enforced for new rows). Fix the rows and run apply again: " +
                                                std::string(e.what()));
          }
          throw;
        }
        if (i + 1 == to_validate.size()) commit_record();
        db_.execute("COMMIT");
      });
      fault::point("pg-validated");
    }
  }

  // Runs `fn`; on lock_timeout (55P03) rolls back and retries with backoff.
  template <typename Fn>
  void with_lock_retries(const std::string& what, Fn&& fn) {
    for (int attempt = 1;; ++attempt) {
      try {
        fn();
        return;
      } catch (const DatabaseError& e) {
        try {
          db_.execute("ROLLBACK");
        } catch (...) {
        }
        if (e.sqlstate() != "55P03" || attempt >= options_.lock_retries) {
          if (e.sqlstate() == "55P03") {
            throw DatabaseError(what + ": gave up after " + std::to_string(attempt) + " attempts of " +
                                    std::to_string(options_.lock_timeout_ms) + " ms waiting for a table lock (" +
                                    std::string(e.what()) + "); a long transaction holds the table; nothing was recorded",
                                e.sqlstate());
          }
          throw;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      } catch (...) {
        try {
          db_.execute("ROLLBACK");
        } catch (...) {
        }
        throw;
      }
    }
  }

  // The index named after a UNIQUE constraint and the constraint itself.
  struct IndexState {
    bool constraint = false;  // a constraint of that name exists
    bool index = false;       // a unique index of that name exists without a constraint
    bool valid = false;
  };
  IndexState index_state(const migrate::Operation& op) {
    IndexState s;
    const auto& d = postgresql_dialect();
    const std::string table = "to_regclass(" + d.quote_string(q(op.def.table)) + ")";
    db_.query("SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = " + d.quote_string(op.def.name) +
                  " AND conrelid = " + table + "), (SELECT ix.indisvalid AND ix.indisready FROM pg_index ix "
                  "JOIN pg_class c ON c.oid = ix.indexrelid WHERE c.relname = " + d.quote_string(op.def.name) +
                  " AND ix.indrelid = " + table + ")",
              [&](const Row& r) {
                s.constraint = truthy(r[0]);
                if (!std::holds_alternative<std::monostate>(r[1])) {
                  s.index = true;
                  s.valid = truthy(r[1]);
                }
              });
    return s;
  }

  void build_unique_index(const migrate::Operation& op) {
    IndexState s = index_state(op);
    if (s.constraint) return;  // done by an earlier, interrupted run
    if (s.index && !s.valid) {
      // A failed or interrupted CONCURRENTLY build leaves an INVALID index
      // that still slows writes (and may enforce uniqueness): drop it.
      std::fprintf(stderr, "constraintctl: dropping INVALID index %s left by an interrupted build\n", op.def.name.c_str());
      db_.execute("DROP INDEX CONCURRENTLY IF EXISTS " + q(op.def.name));
      s.index = false;
    }
    if (s.index) return;  // valid and ready: attach it in phase 2
    try {
      db_.execute(postgres_create_unique_index(op.def));
    } catch (const DatabaseError& e) {
      try {
        db_.execute("DROP INDEX CONCURRENTLY IF EXISTS " + q(op.def.name));
      } catch (...) {
      }
      if (e.sqlstate() == "23505") {
        throw Error(ExitCode::findings, op.describe() + ": duplicate rows exist (" + std::string(e.what()) +
                                            "); run `constraintctl scan` and repair them first");
      }
      rethrow_with_context(e, op.describe());
    }
  }

  // Runs the transactional part of `op`; returns true when it left a CHECK to validate.
  bool exclusive_step(const migrate::Operation& op) {
    const std::string table = q(op.def.table), name = q(op.def.name);
    TableInfo info = db_.inspect_table(op.def.table);
    if (!info.exists) throw UsageError(op.describe() + ": table '" + op.def.table + "' does not exist");
    const ExistingConstraint* existing = info.find_constraint(op.def.name);
    switch (op.kind) {
      case migrate::OpKind::add_check:
        if (existing) {
          if (existing->kind != ExistingConstraint::Kind::check || !same_check(op, *existing)) {
            throw Error(ExitCode::findings, op.describe() + ": a different constraint of that name already exists (" +
                                                existing->definition + "); drift is never dropped silently");
          }
          return !existing->valid;  // resumed: validate what an interrupted run added
        }
        db_.execute("ALTER TABLE " + table + " ADD CONSTRAINT " + name + " CHECK (" + op.def.check + ") NOT VALID");
        return true;
      case migrate::OpKind::drop_check:
        if (existing) db_.execute("ALTER TABLE " + table + " DROP CONSTRAINT " + name);
        return false;
      case migrate::OpKind::add_unique:
        if (op.def.where.empty() && (!existing || existing->kind == ExistingConstraint::Kind::unique_index)) {
          db_.execute("ALTER TABLE " + table + " ADD CONSTRAINT " + name + " UNIQUE USING INDEX " + name);
        }
        return false;
      case migrate::OpKind::drop_unique:
        if (existing && existing->kind == ExistingConstraint::Kind::unique) {
          db_.execute("ALTER TABLE " + table + " DROP CONSTRAINT " + name);
        } else if (existing) {
          db_.execute("DROP INDEX " + name);
        }
        return false;
    }
    return false;
  }

  // Compares definitions after PostgreSQL normalised both: the declared one
  // is added to an empty copy of the table inside a rolled-back savepoint.
  bool same_check(const migrate::Operation& op, const ExistingConstraint& existing) {
    std::string normalized;
    db_.execute("SAVEPOINT cc_norm");
    try {
      db_.execute("CREATE TEMP TABLE cc_norm (LIKE " + q(op.def.table) + ")");
      db_.execute("ALTER TABLE cc_norm ADD CONSTRAINT cc_norm_check CHECK (" + op.def.check + ")");
      db_.query("SELECT pg_get_constraintdef(oid, true) FROM pg_constraint WHERE conname = 'cc_norm_check' "
                "AND conrelid = 'cc_norm'::regclass",
                [&](const Row& r) { normalized = value_text(r[0]); });
    } catch (...) {
      db_.execute("ROLLBACK TO SAVEPOINT cc_norm");
      throw;
    }
    db_.execute("ROLLBACK TO SAVEPOINT cc_norm");
    std::string def = existing.definition;
    const std::string suffix = " NOT VALID";
    if (def.size() > suffix.size() && def.compare(def.size() - suffix.size(), suffix.size(), suffix) == 0) {
      def.resize(def.size() - suffix.size());
    }
    return def == normalized;
  }

  Connection& db_;
  MigratorOptions options_;
  bool locked_ = false;
};

}  // namespace

std::string postgres_create_unique_index(const migrate::ConstraintDef& def) {
  std::string cols;
  for (size_t i = 0; i < def.columns.size(); ++i) cols += (i ? ", " : "") + q(def.columns[i]);
  return "CREATE UNIQUE INDEX CONCURRENTLY " + q(def.name) + " ON " + q(def.table) + " (" + cols + ")" +
         (def.where.empty() ? "" : " WHERE (" + def.where + ")");
}

std::vector<PlannedStatement> postgres_plan(const migrate::Migration& m, bool up, const MigratorOptions& options) {
  std::vector<PlannedStatement> out;
  const auto steps = m.steps(up);
  for (const auto& op : steps) {
    if (op.kind == migrate::OpKind::add_unique) {
      out.push_back({postgres_create_unique_index(op.def), "outside a transaction: writers are not blocked"});
    }
  }
  out.push_back({"BEGIN", "short exclusive steps, each waiting at most lock_timeout, retried up to " +
                              std::to_string(options.lock_retries) + " times"});
  out.push_back({"SET LOCAL lock_timeout = " + std::to_string(options.lock_timeout_ms), ""});
  std::vector<const migrate::Operation*> validate;
  for (const auto& op : steps) {
    const std::string table = q(op.def.table), name = q(op.def.name);
    switch (op.kind) {
      case migrate::OpKind::add_check:
        out.push_back({"ALTER TABLE " + table + " ADD CONSTRAINT " + name + " CHECK (" + op.def.check + ") NOT VALID",
                       "enforced for new rows at once; existing rows validated below"});
        validate.push_back(&op);
        break;
      case migrate::OpKind::drop_check:
        out.push_back({"ALTER TABLE " + table + " DROP CONSTRAINT " + name, ""});
        break;
      case migrate::OpKind::add_unique:
        if (op.def.where.empty()) out.push_back({"ALTER TABLE " + table + " ADD CONSTRAINT " + name + " UNIQUE USING INDEX " + name, ""});
        break;
      case migrate::OpKind::drop_unique:
        out.push_back({op.def.where.empty() ? "ALTER TABLE " + table + " DROP CONSTRAINT " + name : "DROP INDEX " + name, ""});
        break;
    }
  }
  auto history = PlannedStatement{detail::history_insert(postgresql_dialect(), m, up, "clock_timestamp()", options),
                                  "recorded with the last transactional step"};
  if (validate.empty()) out.push_back(history);
  out.push_back({"COMMIT", ""});
  for (size_t i = 0; i < validate.size(); ++i) {
    out.push_back({"BEGIN", ""});
    out.push_back({"ALTER TABLE " + q(validate[i]->def.table) + " VALIDATE CONSTRAINT " + q(validate[i]->def.name),
                   "SHARE UPDATE EXCLUSIVE: reads and writes continue"});
    if (i + 1 == validate.size()) out.push_back(history);
    out.push_back({"COMMIT", ""});
  }
  return out;
}

std::unique_ptr<Migrator> make_postgres_migrator(Connection& db, const MigratorOptions& options) {
  return std::make_unique<PostgresMigrator>(db, options);
}

}  // namespace cc::dialect
