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
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/fault.h"
#include "dialect/migrator.h"
#include "dialect/postgres/postgres_batch.h"
#include "dialect/postgres/postgres_plan.h"
#include "dialect/postgres/postgres_wait.h"
#include "dialect/sql_text.h"

namespace cc::dialect {
namespace {

constexpr long long kAdvisoryKey = 0x63637463746cLL;  // "cctctl"

// For each table (regclass text in a text[]): whether it is partitioned
// (relkind 'p'; false when it does not exist).
constexpr const char* kPartitioned =
    "SELECT u.name, coalesce(c.relkind = 'p', false) FROM unnest(%s::text[]) u(name) "
    "LEFT JOIN pg_class c ON c.oid = to_regclass(u.name) ORDER BY u.name";

std::string q(std::string_view s) { return postgresql_dialect().quote_ident(s); }
std::string qt(const model::TableName& t) { return postgresql_dialect().quote_table(t); }
// An index lives in its table's schema; DROP INDEX names it there.
std::string index_of(const migrate::ConstraintDef& def) { return qt({def.name, def.table.schema}); }

// A table's consecutive "ALTER TABLE <table> <action>" steps as one statement,
// the actions comma-separated: one lock acquisition and one catalog pass. The
// reverse undoes the actions in reverse order (none when one has no reverse).
// Other steps stay as they are, in their place.
std::vector<Step> combine_alters(const std::string& table, std::vector<Step> steps) {
  const std::string prefix = "ALTER TABLE " + table + " ";
  auto is_alter = [&](const std::string& sql) { return sql.rfind(prefix, 0) == 0; };
  std::vector<Step> out;
  bool open = false;  // out.back() is an ALTER TABLE that can take more actions
  for (auto& s : steps) {
    const bool alter = is_alter(s.sql) && !s.must_return_no_rows;
    if (!alter || !open) {
      out.push_back(std::move(s));
      open = alter;
      continue;
    }
    Step& c = out.back();
    c.sql += ", " + s.sql.substr(prefix.size());
    c.reverse =
        is_alter(c.reverse) && is_alter(s.reverse) ? s.reverse + ", " + c.reverse.substr(prefix.size()) : std::string();
    if (!s.comment.empty() && c.comment.find(s.comment) == std::string::npos)
      c.comment += (c.comment.empty() ? "" : "; ") + s.comment;
    c.origin += ", " + s.origin;
  }
  return out;
}

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
      db_.query("SELECT pg_try_advisory_lock(" + std::to_string(kAdvisoryKey) + ")",
                [&](const Row& r) { got = truthy(r[0]); });
      if (got) {
        locked_ = true;
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string holder;
    db_.query(
        "SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local') FROM pg_locks l "
        "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.objid = " +
            std::to_string(kAdvisoryKey & 0xffffffffLL) + " LIMIT 1",
        [&](const Row& r) {
          holder = "pid " + value_text(r[0]) + " (" + value_text(r[1]) + ", " + value_text(r[2]) + ")";
        });
    throw Error(ExitCode::locked, "another migrator holds the migration lock" + (holder.empty() ? "" : ": " + holder) +
                                      "; waited " + std::to_string(options_.lock_wait_ms) + " ms");
  }

  void unlock() override {
    if (!locked_) return;
    db_.execute("SELECT pg_advisory_unlock(" + std::to_string(kAdvisoryKey) + ")");
    locked_ = false;
  }

  std::vector<HistoryRow> history() override {
    return detail::read_history(db_, detail::table_exists(db_, kHistoryTable));
  }

  std::vector<ProgressRow> progress() override { return detail::read_progress(db_); }

  // Phase 1: unique indexes built without blocking writers, each alone.
  // Phase 2: every exclusive step in one short transaction. Phase 3:
  // validations, each in its own transaction. The records commit with the
  // last transactional step. Made from the catalog as it is now, so a rerun
  // after an interruption plans only what is left.
  Plan plan(const Work& work) override {
    Plan p;
    if (work.migration) p.title = work.migration->id() + (work.up ? " (up)" : " (down)");
    p.notes.push_back("constraintctl holds the advisory lock pg_advisory_lock(" + std::to_string(kAdvisoryKey) +
                      ") on its connection while this runs; lock_timeout steps are retried up to " +
                      std::to_string(options_.lock_retries) + " times");
    // Every table of the plan read at once: one catalog query per kind of
    // object, not five per table.
    std::map<model::TableName, TableInfo> infos;
    {
      std::vector<model::TableName> names;
      std::set<model::TableName> seen;
      for (const auto& op : work.ops) {
        if (seen.insert(op.def.table).second) names.push_back(op.def.table);
      }
      auto read = db_.inspect_tables(names);
      for (size_t i = 0; i < names.size(); ++i) infos.emplace(names[i], std::move(read[i]));
    }
    prefetch_partitioned(work.ops);
    auto info_of = [&](const model::TableName& table) -> const TableInfo& {
      auto it = infos.find(table);
      if (it == infos.end()) it = infos.emplace(table, db_.inspect_table(table)).first;
      return it->second;
    };
    const std::string set_timeout = "SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms);
    // The exclusive steps, grouped by table (in the order the tables come up).
    std::vector<model::TableName> exclusive_order;
    std::map<model::TableName, std::vector<Step>> exclusive_steps;
    auto exclusive = [&](const model::TableName& table) -> std::vector<Step>& {
      auto [it, fresh] = exclusive_steps.try_emplace(table);
      if (fresh) exclusive_order.push_back(table);
      return it->second;
    };
    std::vector<const migrate::Operation*> validate;
    std::vector<Step> not_valid;  // apply --fix: the CHECKs added NOT VALID before the repairs
    std::vector<std::string> not_valid_tables;
    std::vector<std::string> not_valid_names;
    const auto adopted = detail::adopted(db_);
    const auto intent = detail::intents(db_);
    std::vector<std::string> adopt_records;
    std::vector<const migrate::Operation*> building;  // adds this plan builds: intent recorded first
    // A constraint found in the catalog as declared: ours when an earlier,
    // interrupted run recorded the intent to build it (or this run's plan
    // adds it); otherwise it existed before constraintctl and is adopted.
    auto ours = [&](const migrate::Operation& op, const ExistingConstraint& existing) {
      return existing.planned || std::find(intent.begin(), intent.end(), op.def.name) != intent.end();
    };
    auto adopt = [&](const migrate::Operation& op, const ExistingConstraint& existing) {
      p.adopted.push_back(op.describe() + ": " + existing.definition +
                          (adopted.count(op.def.name) ? " (recorded before)" : ""));
      if (!adopted.count(op.def.name))
        adopt_records.push_back(detail::adopt_record(postgresql_dialect(), op.def, existing));
    };
    refuse_early(work.ops);
    for (const auto& op : work.ops) {
      const TableInfo& info = info_of(op.def.table);
      if (!info.exists) throw UsageError(op.describe() + ": table '" + op.def.table.str() + "' does not exist");
      const ExistingConstraint* existing = info.find_constraint(op.def.name);
      if (auto it = planned_.find(op.def.name); it != planned_.end()) existing = it->second ? &*it->second : nullptr;
      planned_[op.def.name] = planned_effect(op);
      const std::string table = qt(op.def.table), name = q(op.def.name), index = index_of(op.def),
                        origin = op.describe();
      if (op.adds() && !existing) {
        // The same rule under another name: said, never silently doubled.
        for (const auto& c : info.constraints) {
          const bool comparable = op.def.unique ? c.kind == ExistingConstraint::Kind::unique ||
                                                      c.kind == ExistingConstraint::Kind::unique_index
                                                : c.kind == ExistingConstraint::Kind::check;
          if (comparable && !info.same_name(c.name, op.def.name) && definition_difference(op.def, c).empty()) {
            p.warnings.push_back(origin + ": already enforced by " + c.name + " (" + c.definition + "); " +
                                 op.def.name + " is added beside it (declare " + c.name + " instead to adopt it)");
          }
        }
      }
      switch (op.kind) {
        case migrate::OpKind::add_check:
          if (existing) {
            if (existing->kind != ExistingConstraint::Kind::check ||
                (!existing->planned && !same_check(op, *existing))) {
              throw Error(ExitCode::findings, op.describe() +
                                                  ": a different constraint of that name already exists; declared " +
                                                  op.def.describe() + ", the database has " + existing->definition +
                                                  "; drift is never dropped silently; nothing was changed");
            }
            if (ours(op, *existing)) {
              p.already_done.push_back(origin + (existing->valid ? "" : " (NOT VALID: validated below)"));
            } else {
              adopt(op, *existing);
            }
            if (!existing->valid) validate.push_back(&op);
            break;
          }
          building.push_back(&op);
          // apply --fix: in a transaction of their own before the repairs.
          (options_.repair ? not_valid : exclusive(op.def.table))
              .push_back(
                  {"ALTER TABLE " + table + " ADD CONSTRAINT " + name + " CHECK (" + op.def.check + ") NOT VALID",
                   "ALTER TABLE " + table + " DROP CONSTRAINT " + name,
                   "enforced for new rows at once; existing rows validated below", origin, false, "pg-exclusive-step"});
          if (options_.repair) {
            not_valid_names.push_back(op.def.name);
            if (std::find(not_valid_tables.begin(), not_valid_tables.end(), table) == not_valid_tables.end())
              not_valid_tables.push_back(table);
          }
          validate.push_back(&op);
          break;
        case migrate::OpKind::drop_check:
          if (!existing) {
            p.already_done.push_back(origin);
            break;
          }
          exclusive(op.def.table)
              .push_back({"ALTER TABLE " + table + " DROP CONSTRAINT " + name,
                          "ALTER TABLE " + table + " ADD CONSTRAINT " + name + " CHECK (" + op.def.check + ")", "",
                          origin, false, "pg-exclusive-step"});
          break;
        case migrate::OpKind::add_unique: {
          if (existing &&
              (existing->kind == ExistingConstraint::Kind::unique ||
               existing->kind == ExistingConstraint::Kind::unique_index) &&
              !existing->planned && existing->valid) {
            if (const std::string diff = definition_difference(op.def, *existing); !diff.empty()) {
              throw Error(ExitCode::findings, op.describe() +
                                                  ": a different constraint of that name already exists; declared " +
                                                  op.def.describe() + ", " + diff + "; nothing was changed");
            }
            if (!ours(op, *existing)) {
              adopt(op, *existing);
              break;
            }
          }
          if (existing && existing->kind == ExistingConstraint::Kind::unique) {
            p.already_done.push_back(origin);
            break;
          }
          if (existing && existing->kind != ExistingConstraint::Kind::unique_index) {
            throw Error(ExitCode::findings, op.describe() + ": a " + std::string(to_string(existing->kind)) +
                                                " of that name already exists (" + existing->definition +
                                                "); nothing was changed");
          }
          if (partitioned(op.def.table)) {
            // PostgreSQL 15 builds no index CONCURRENTLY on a partitioned
            // table and has no ADD CONSTRAINT ... USING INDEX for one, so the
            // index is built inside the exclusive transaction (refuse_early
            // made sure the partition key allows it).
            if (existing && existing->valid) {
              p.already_done.push_back(
                  origin + " (a unique index: on a partitioned table PostgreSQL cannot make it a constraint)");
              break;
            }
            building.push_back(&op);  // this run builds it: a rollback of an interrupted run drops it
            if (existing)
              exclusive(op.def.table)
                  .push_back({"DROP INDEX IF EXISTS " + name, "", "an INVALID index left behind", origin, false, ""});
            std::string cols;
            for (size_t i = 0; i < op.def.columns.size(); ++i) cols += (i ? ", " : "") + q(op.def.columns[i]);
            const std::string why =
                "a partitioned table: no CONCURRENTLY and no USING INDEX in PostgreSQL, so the index is built in this "
                "transaction, "
                "which blocks writes to the table and its partitions while it builds";
            if (op.def.where.empty()) {
              exclusive(op.def.table)
                  .push_back({"ALTER TABLE " + table + " ADD CONSTRAINT " + name + " UNIQUE (" + cols + ")",
                              "ALTER TABLE " + table + " DROP CONSTRAINT " + name, why, origin, false,
                              "pg-exclusive-step"});
            } else {
              exclusive(op.def.table)
                  .push_back(
                      {"CREATE UNIQUE INDEX " + name + " ON " + table + " (" + cols + ") WHERE (" + op.def.where + ")",
                       "DROP INDEX " + name, why, origin, false, "pg-exclusive-step"});
            }
            break;
          }
          building.push_back(&op);
          if (existing && !existing->valid) {
            // A failed or interrupted CONCURRENTLY build leaves an INVALID index
            // that still slows writes (and may enforce uniqueness): drop it first.
            Unit drop = alone({"DROP INDEX CONCURRENTLY IF EXISTS " + index, "", "", origin, false, ""});
            drop.notice = "dropping INVALID index " + op.def.name + " left by an interrupted build";
            drop.tables = {table};
            p.units.push_back(std::move(drop));
          }
          if (!existing || !existing->valid) {
            Unit build = alone({postgres_create_unique_index(op.def), "DROP INDEX CONCURRENTLY IF EXISTS " + index,
                                "outside a transaction: writers are not blocked", origin, false, "pg-index-built"});
            build.cleanup = "DROP INDEX CONCURRENTLY IF EXISTS " + index;
            build.tables = {table};
            build.may_violate = true;
            p.units.push_back(std::move(build));
          } else {
            p.already_done.push_back(origin + " (index built)");
          }
          if (op.def.where.empty()) {
            exclusive(op.def.table)
                .push_back({"ALTER TABLE " + table + " ADD CONSTRAINT " + name + " UNIQUE USING INDEX " + name,
                            "ALTER TABLE " + table + " DROP CONSTRAINT " + name, "", origin, false,
                            "pg-exclusive-step"});
          }
          break;
        }
        case migrate::OpKind::drop_unique:
          if (existing && existing->kind == ExistingConstraint::Kind::unique) {
            exclusive(op.def.table)
                .push_back(
                    {"ALTER TABLE " + table + " DROP CONSTRAINT " + name, "", "", origin, false, "pg-exclusive-step"});
          } else if (existing) {
            exclusive(op.def.table).push_back({"DROP INDEX " + index, "", "", origin, false, "pg-exclusive-step"});
          } else {
            p.already_done.push_back(origin);
          }
          break;
      }
    }
    std::vector<Step> record;
    for (const auto& sql : detail::records(db_, work, options_))
      record.push_back({sql, "", "recorded with the last transactional step", "history", false, ""});
    for (auto& sql : adopt_records)
      record.push_back(
          {sql, "", "adopted: it existed before constraintctl, which never drops it", "history", false, ""});
    // When the work spans several commits (a CONCURRENTLY build, a separate
    // VALIDATE), the intent to build is recorded before the first one: a
    // rerun after an interruption then knows its own half-built constraints
    // from pre-existing ones to adopt.
    const bool several_commits =
        validate.size() +
            std::count_if(p.units.begin(), p.units.end(), [](const Unit& u) { return u.kind == Unit::Kind::alone; }) >
        0;
    const auto& d = postgresql_dialect();
    std::string forget;  // intents this run fulfils: its own, and those of the run it resumes
    for (const auto& op : work.ops) {
      const bool builds = std::find(building.begin(), building.end(), &op) != building.end() && several_commits;
      if (op.adds() && (builds || std::find(intent.begin(), intent.end(), op.def.name) != intent.end())) {
        forget += (forget.empty() ? "" : ", ") + d.quote_string(op.def.name);
      }
    }
    std::string intent_sql;
    if (several_commits && !building.empty()) {
      std::string values;
      for (const auto* op : building) {
        values += (values.empty() ? "" : ", ") + std::string("(") + d.quote_string(op->def.name) + ", " +
                  d.quote_string(op->def.table.str()) + ", " + d.now_text() + ")";
      }
      intent_sql = std::string("INSERT INTO ") + kIntentTable + " (name, table_name, started_at) VALUES " + values +
                   " ON CONFLICT (name) DO NOTHING";
    }
    if (!forget.empty()) {
      record.push_back({std::string("DELETE FROM ") + kIntentTable + " WHERE name IN (" + forget + ")", "", "",
                        "history", false, ""});
    }
    // The run's progress row (see kProgressTable): its key, and its removal
    // with the history row (a rerun that finishes an interrupted run removes
    // that run's row too).
    const auto [progress_direction, progress_name, progress_checksum, progress_version] = detail::progress_key(work);
    if (!progress_direction.empty()) {
      record.push_back({detail::forget_progress(d, progress_version, progress_direction), "",
                        "the run is complete: no longer in progress", "history", false, ""});
    }
    // ACCESS EXCLUSIVE is held from a table's first statement to COMMIT, and
    // a writer of that table waits all that time. So each table's statements
    // become one ALTER TABLE where they can (one lock, one catalog update),
    // and when the plan spans several commits anyway, each table gets a
    // transaction of its own: the lock is held on one table at a time, never
    // while waiting for the lock of the next. A plan of one commit (a drop,
    // a rollback) keeps all its tables in that one transaction: all or
    // nothing.
    auto exclusive_unit = [&] {
      Unit u;
      u.comment = "short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout";
      u.lock_retries = true;
      u.fault_before_commit = "before-commit";
      u.steps.push_back({set_timeout, "", "", "", false, ""});
      return u;
    };
    std::vector<Unit> exclusive_units;
    for (const auto& table : exclusive_order) {
      if (exclusive_units.empty() || several_commits) exclusive_units.push_back(exclusive_unit());
      exclusive_units.back().tables.push_back(qt(table));
      for (auto& step : combine_alters(qt(table), std::move(exclusive_steps[table])))
        exclusive_units.back().steps.push_back(std::move(step));
    }
    if (exclusive_units.empty() && validate.empty()) exclusive_units.push_back(exclusive_unit());  // the records
    if (validate.empty()) {
      auto& last = exclusive_units.back().steps;
      last.insert(last.end(), record.begin(), record.end());
    }
    for (auto& u : exclusive_units) p.units.push_back(std::move(u));
    // The validations of one table in one statement and one transaction
    // (SHARE UPDATE EXCLUSIVE: writers go on; PostgreSQL still scans once per
    // constraint): one lock and one commit per table instead of per CHECK.
    std::vector<model::TableName> validate_order;
    std::map<model::TableName, std::vector<const migrate::Operation*>> validate_of;
    for (const auto* op : validate) {
      auto [it, fresh] = validate_of.try_emplace(op->def.table);
      if (fresh) validate_order.push_back(op->def.table);
      it->second.push_back(op);
    }
    for (size_t i = 0; i < validate_order.size(); ++i) {
      const auto& ops = validate_of[validate_order[i]];
      Unit v;
      v.comment = "SHARE UPDATE EXCLUSIVE: reads and writes continue";
      v.tables = {qt(validate_order[i])};
      v.lock_retries = true;
      v.may_violate = true;
      v.fault_after = "pg-validated";
      v.steps.push_back({set_timeout, "", "", "", false, ""});
      std::string sql = "ALTER TABLE " + qt(validate_order[i]), origin;
      for (size_t k = 0; k < ops.size(); ++k) {
        sql += std::string(k ? "," : "") + " VALIDATE CONSTRAINT " + q(ops[k]->def.name);
        origin += (k ? ", " : "") + ops[k]->describe();
      }
      v.steps.push_back({sql, "", "", origin, false, ""});
      if (i + 1 == validate_order.size()) v.steps.insert(v.steps.end(), record.begin(), record.end());
      p.units.push_back(std::move(v));
    }
    // apply --fix: the new CHECKs go in NOT VALID first, in one short
    // transaction of their own (as the exclusive unit above), so every write
    // from that moment on is checked; then the repairs run (their own
    // UPDATEs checked too); then the unique index builds, the other
    // exclusive steps and the VALIDATEs, which find the repaired rows.
    // Without a unit that may find violating rows there is nothing to repair
    // first, and apply --fix repairs after the plan.
    if (options_.repair) {
      auto first = std::find_if(p.units.begin(), p.units.end(), [](const Unit& u) { return u.may_violate; });
      if (first != p.units.end()) {
        const auto at = first - p.units.begin();
        if (!not_valid.empty()) {
          Unit nv;
          nv.comment =
              "apply --fix: the new CHECKs first, NOT VALID (ACCESS EXCLUSIVE for milliseconds): every write from "
              "now on is checked";
          nv.lock_retries = true;
          nv.tables = not_valid_tables;
          nv.fault_after = "pg-not-valid-added";
          nv.steps.push_back({set_timeout, "", "", "", false, ""});
          nv.steps.insert(nv.steps.end(), not_valid.begin(), not_valid.end());
          p.units.insert(p.units.begin() + at, std::move(nv));
        }
        Unit& repaired = p.units[static_cast<size_t>(at) + (not_valid.empty() ? 0 : 1)];
        repaired.repair_first = true;
        for (auto it = not_valid.rbegin(); it != not_valid.rend(); ++it) repaired.repair_undo.push_back(it->reverse);
      }
    }
    // A plan of several commits records its progress: "in progress, n steps"
    // before the first commit (with the intent, in the same statement), one
    // step done with each commit (inside a transactional step; right after a
    // CONCURRENTLY build, which cannot run in a transaction), and the row
    // deleted by the last step with the history row. A rerun adds what is
    // left to the steps already done.
    const size_t steps = p.units.size();
    if (steps > 1 && !progress_direction.empty()) {
      const std::string key = " WHERE version = " + std::to_string(progress_version) +
                              " AND direction = " + d.quote_string(progress_direction);
      const Step done{std::string("UPDATE ") + kProgressTable +
                          " SET steps_done = steps_done + 1, updated_at = " + d.now_text() + key,
                      "",
                      "one step done, committed with it",
                      "history",
                      false,
                      ""};
      std::vector<Unit> units;
      for (size_t i = 0; i < steps; ++i) {
        Unit& u = p.units[i];
        const bool last = i + 1 == steps, is_alone = u.kind == Unit::Kind::alone;
        if (!last && !is_alone) u.steps.push_back(done);
        units.push_back(std::move(u));
        if (!last && is_alone) units.push_back(alone(done));
      }
      const std::string progress_sql =
          std::string("INSERT INTO ") + kProgressTable +
          " (version, direction, name, checksum, steps_total, steps_done, started_at, updated_at, tool_version, "
          "applied_by) VALUES (" +
          std::to_string(progress_version) + ", " + d.quote_string(progress_direction) + ", " +
          d.quote_string(progress_name) + ", " + d.quote_string(progress_checksum) + ", " + std::to_string(steps) +
          ", 0, " + d.now_text() + ", " + d.now_text() + ", " + d.quote_string(options_.tool_version) + ", " +
          d.quote_string(options_.applied_by) +
          ") ON CONFLICT (version, direction) DO UPDATE SET steps_total = " + kProgressTable +
          ".steps_done + EXCLUDED.steps_total, updated_at = EXCLUDED.updated_at";
      // One statement, so the intent and the progress commit together.
      Unit start = alone({intent_sql.empty() ? progress_sql : "WITH intent AS (" + intent_sql + ") " + progress_sql, "",
                          "in progress: " + std::to_string(steps) +
                              " steps, each counted when it commits; the constraints this run builds, so that a rerun "
                              "never takes them for pre-existing ones",
                          "history", false, "pg-progress-recorded"});
      units.insert(units.begin(), std::move(start));
      p.units = std::move(units);
    } else if (!intent_sql.empty()) {
      p.units.insert(p.units.begin(),
                     alone({intent_sql, "",
                            "the constraints this run builds, so that a rerun never takes them for pre-existing ones",
                            "history", false, ""}));
    }
    // Outside a transaction there is no SET LOCAL: the tool's own timeouts
    // (a role's statement_timeout or lock_timeout would otherwise apply) are
    // session settings around each statement, reset after it.
    for (auto& u : p.units) {
      if (u.kind != Unit::Kind::alone) continue;
      u.session_set = {"SET statement_timeout = " + std::to_string(options_.statement_timeout_ms),
                       "SET lock_timeout = " + std::to_string(options_.lock_timeout_ms)};
      u.session_reset = {"RESET statement_timeout", "RESET lock_timeout"};
    }
    // Taking the NOT VALID CHECKs back also forgets that this run builds
    // them, and its progress row unless it resumes an earlier run's.
    for (auto& u : p.units) {
      if (!u.repair_first) continue;
      if (const auto sql = detail::forget_intents(d, not_valid_names); !sql.empty() && !intent_sql.empty())
        u.repair_undo.push_back(sql);
      const auto earlier = detail::read_progress(db_);
      const bool resumed = std::any_of(earlier.begin(), earlier.end(), [&](const ProgressRow& r) {
        return r.version == progress_version && r.direction == progress_direction;
      });
      if (steps > 1 && !progress_direction.empty() && !resumed)
        u.repair_undo.push_back(detail::forget_progress(d, progress_version, progress_direction));
    }
    return p;
  }

  bool execute(const Plan& plan, const Work& work) override {
    planned_.clear();  // from now on the catalog itself tells
    asked_.clear();
    if (work.migration && !work.partial) {
      const std::string dir = detail::current_direction(db_, work.migration->version);
      if (work.up ? dir == "up" : dir != "up") return false;  // another migrator got here first
    }
    // The session timeouts of consecutive alone units stay set from the
    // first to the last of them (one SET and one RESET for all the index
    // builds, not one each), and are reset before anything else runs: a
    // transactional unit, the repairs, the end of execute(), an error.
    struct ResetSession {
      PostgresMigrator& m;
      ~ResetSession() {
        try {
          m.reset_session_timeouts();
        } catch (const std::exception&) {
          // The connection is gone: so are its settings.
        }
      }
    } reset_session{*this};
    bool builds_done = false;
    for (const auto& unit : plan.units) {
      if (unit.kind != Unit::Kind::alone) reset_session_timeouts();
      if (unit.repair_first && options_.repair) {
        reset_session_timeouts();
        try {
          options_.repair();
        } catch (...) {
          // The repairs were refused or failed (their own transaction rolled
          // back): the NOT VALID CHECKs and the run's bookkeeping go too, so
          // the refusal's "nothing was changed" holds for the schema as well.
          with_lock_retries("taking back the NOT VALID CHECKs after the repairs failed", unit.tables, [&] {
            Transaction tx(db_);
            db_.execute("SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms));
            for (const auto& sql : unit.repair_undo) db_.execute(sql);
            tx.commit();
          });
          throw;
        }
      }
      if (!unit.notice.empty()) std::fprintf(stderr, "constraintctl: %s\n", unit.notice.c_str());
      if (unit.kind == Unit::Kind::alone) {
        for (const auto& step : unit.steps) run_alone(unit, step);
        continue;
      }
      if (!builds_done) {
        fault::point("pg-after-index-builds");
        builds_done = true;
      }
      with_lock_retries(unit.comment, unit.tables, [&] {
        Transaction tx(db_);
        // The unit's statements in one round trip (BEGIN before, COMMIT
        // after: three in all), so a table's lock is held for the server's
        // work, not for round trips. Each step's fault point comes after its
        // statement as before, and before the commit: a crash there still
        // leaves nothing of the transaction.
        std::vector<std::string> sqls;
        for (const auto& step : unit.steps) sqls.push_back(step.sql);
        size_t failed = sqls.size();
        try {
          execute_batch(db_, sqls, failed);
        } catch (const DatabaseError& e) {
          if (unit.may_violate && e.kind() == DbErrorKind::check_violation && failed < unit.steps.size()) {
            throw Error(ExitCode::findings,
                        unit.steps[failed].origin +
                            ": rows written since the scan violate it; the constraints this statement "
                            "validates stay NOT VALID (enforced for new rows). Fix the rows and run apply again: " +
                            std::string(e.what()));
          }
          throw;
        }
        for (const auto& step : unit.steps) {
          if (!step.fault.empty()) fault::point(step.fault.c_str());
        }
        if (!unit.fault_before_commit.empty()) fault::point(unit.fault_before_commit.c_str());
        tx.commit();
      });
      if (!unit.fault_after.empty()) fault::point(unit.fault_after.c_str());
    }
    if (!builds_done) fault::point("pg-after-index-builds");
    return true;
  }

  std::string definition_difference(const migrate::ConstraintDef& declared,
                                    const ExistingConstraint& existing) override {
    if (!declared.unique) {
      if (existing.kind != ExistingConstraint::Kind::check)
        return "it is a " + std::string(to_string(existing.kind)) + ", not a CHECK";
      migrate::Operation op{migrate::OpKind::add_check, declared};
      return same_check(op, existing) ? "" : "the database has " + existing.definition;
    }
    if (existing.kind != ExistingConstraint::Kind::unique && existing.kind != ExistingConstraint::Kind::unique_index) {
      return "it is a " + std::string(to_string(existing.kind)) + ", not a UNIQUE";
    }
    if (existing.columns != declared.columns) return "the database has " + existing.definition;
    // Partial predicates compared after PostgreSQL normalised both.
    std::string actual;
    if (auto known = asked_.find(predicate_sql(declared)); known != asked_.end()) {
      if (known->second.error) throw *known->second.error;
      actual = known->second.text;
    } else {
      db_.query(predicate_sql(declared), [&](const Row& r) { actual = value_text(r[0]); });
    }
    if (actual.empty() != declared.where.empty()) return "the database has " + existing.definition;
    return actual.empty() || same_condition(declared.table, declared.where, actual)
               ? ""
               : "the database has " + existing.definition;
  }

  // Every query definition_difference() of these pairs would send, sent
  // together (query_each: one round trip per chunk), the answers kept for
  // the calls that follow.
  void compare_definitions(const std::vector<DefinitionPair>& pairs) override {
    asked_.clear();
    std::vector<std::string> sqls;
    std::set<std::string> seen;
    auto ask = [&](std::string sql) {
      if (seen.insert(sql).second) sqls.push_back(std::move(sql));
    };
    for (const auto& [declared, existing] : pairs) {
      if (!declared->unique && existing->kind == ExistingConstraint::Kind::check) {
        const auto catalog = catalog_condition(*existing);
        if (catalog && *catalog != declared->check) {
          ask(planned_sql(declared->table, declared->check));
          ask(planned_sql(declared->table, *catalog));
        }
      } else if (declared->unique && existing->columns == declared->columns &&
                 (existing->kind == ExistingConstraint::Kind::unique ||
                  existing->kind == ExistingConstraint::Kind::unique_index)) {
        ask(predicate_sql(*declared));
      }
    }
    if (sqls.empty()) return;
    std::vector<Answer> answers(sqls.size());
    const auto errors = query_each(db_, sqls, [&](size_t i, const Row& r) {
      // EXPLAIN: one line per row; the predicate query: one row.
      answers[i].text += value_text(r[0]) + (starts_with(sqls[i], "EXPLAIN") ? "\n" : "");
    });
    for (size_t i = 0; i < sqls.size(); ++i) {
      answers[i].error = errors[i];
      asked_.emplace(sqls[i], std::move(answers[i]));
    }
  }

  // A UNIQUE on a partitioned table must hold every partition key column of
  // every partitioned level (PostgreSQL enforces it per partition); one that
  // does not would fail in the middle of a migration, so it is refused here.
  void refuse_early(const std::vector<migrate::Operation>& ops) override {
    prefetch_partitioned(ops);
    for (const auto& op : ops) {
      if (op.kind != migrate::OpKind::add_unique || !partitioned(op.def.table)) continue;
      const auto& d = postgresql_dialect();
      std::string problem;
      db_.query(
          "SELECT t.relid::regclass::text, 0 = ANY (pt.partattrs::int2[]), coalesce((SELECT string_agg(a.attname, ', ' "
          "ORDER BY a.attnum) "
          "FROM pg_attribute a WHERE a.attrelid = pt.partrelid AND a.attnum = ANY (pt.partattrs::int2[])), ''), "
          "coalesce((SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = "
          "pt.partrelid "
          "AND a.attnum = ANY (pt.partattrs::int2[]) AND NOT a.attname = ANY (" +
              text_array(op.def.columns) +
              ")), '') "
              "FROM pg_partition_tree(to_regclass(" +
              d.quote_string(qt(op.def.table)) +
              ")) t "
              "JOIN pg_partitioned_table pt ON pt.partrelid = t.relid ORDER BY t.level, t.relid::regclass::text",
          [&](const Row& r) {
            if (!problem.empty()) return;
            const std::string rel = value_text(r[0]), key = value_text(r[2]), missing = value_text(r[3]);
            if (truthy(r[1])) {
              problem = rel + " is partitioned by an expression, which no UNIQUE can include";
            } else if (!missing.empty()) {
              problem = rel + " is partitioned by (" + key +
                        "), and PostgreSQL requires a UNIQUE on a partitioned table to include "
                        "every partition key column; missing: " +
                        missing;
            }
          });
      if (!problem.empty()) {
        throw UsageError(op.describe() + " on the partitioned table '" + op.def.table.str() +
                         "' cannot be built: " + problem +
                         ". Nothing was changed. Add the partition key columns to the UNIQUE's columns, or declare it "
                         "on each partition");
      }
    }
  }

  std::string capabilities() override {
    return "transactional DDL, NOT VALID + VALIDATE for CHECK, CREATE UNIQUE INDEX CONCURRENTLY + USING INDEX for "
           "UNIQUE, "
           "advisory lock";
  }

 private:
  // What an operation leaves in the catalog, for planning the next version
  // of a dry run on top of it.
  static std::optional<ExistingConstraint> planned_effect(const migrate::Operation& op) {
    if (op.kind == migrate::OpKind::drop_check || op.kind == migrate::OpKind::drop_unique) return std::nullopt;
    ExistingConstraint c;
    c.name = op.def.name;
    c.kind = op.kind == migrate::OpKind::add_check ? ExistingConstraint::Kind::check
             : op.def.where.empty()                ? ExistingConstraint::Kind::unique
                                                   : ExistingConstraint::Kind::unique_index;
    c.columns = op.def.columns;
    c.definition = op.def.describe();
    c.planned = true;
    return c;
  }

  // One statement outside any transaction (CONCURRENTLY), under timeouts the
  // tool sets itself (a role's statement_timeout or lock_timeout would
  // otherwise apply): session SETs, RESET afterwards. execute() only runs on
  // a real session (require_session), so they stay on this connection.
  //   statement_timeout = [postgresql] statement_timeout_ms (0: unlimited:
  //     a build does not block writers);
  //   lock_timeout = lock_timeout_ms per attempt, retried lock_retries times
  //     like the exclusive steps, the INVALID index dropped in between;
  //   and in total at most lock_wait_ms waiting for other sessions (the
  //     older transactions a build waits for, watched from a second session
  //     and said on stderr), then cancelled: exit 4 naming the blocker.
  // A build that fails in any way is cleaned up (cleanup_index): an INVALID
  // index never stays.
  void run_alone(const Unit& unit, const Step& step) {
    const bool concurrently = step.sql.find(" CONCURRENTLY ") != std::string::npos;
    const std::string what =
        concurrently ? step.origin + " (" + step.sql.substr(0, step.sql.find(" ON ")) + ")" : step.origin;
    long long waited = 0;
    std::string seen;  // the sessions last seen blocking it, over all attempts
    // A statement a transaction block allows (the progress and intent rows)
    // goes with its timeouts and their reset in one round trip, one implicit
    // transaction (a failure takes the SETs back with it); a CONCURRENTLY
    // one cannot share a string, and gets the SETs and RESETs of its
    // settings in one round trip each.
    const bool batched = step.sql.find(" CONCURRENTLY") == std::string::npos;
    for (int attempt = 1;; ++attempt) {
      if (!batched) session_timeouts(unit);
      const auto started = std::chrono::steady_clock::now();
      std::unique_ptr<WaitWatch> watch;
      // lock_wait_ms = 0: no limit (reports only), as for lock_timeout.
      if (concurrently)
        watch = watch_waits(db_, what,
                            options_.lock_wait_ms > 0 ? std::max<long long>(1, options_.lock_wait_ms - waited) : 0);
      try {
        if (batched) {
          // The SETs, when not in effect yet, in the same string: taken back
          // with it if it fails (one implicit transaction).
          const bool set_now = session_set_ != unit.session_set;
          std::vector<std::string> sqls;
          if (set_now) {
            reset_session_timeouts();
            sqls = unit.session_set;
          }
          sqls.push_back(step.sql);
          size_t failed = sqls.size();
          execute_batch(db_, sqls, failed);
          if (set_now) {
            session_set_ = unit.session_set;
            session_reset_ = unit.session_reset;
          }
        } else {
          db_.execute(step.sql);
        }
        watch.reset();
        break;
      } catch (const DatabaseError& e) {
        const bool gave_up = watch && watch->gave_up();
        if (watch && !watch->blockers().empty()) seen = watch->blockers();
        // A lock_timeout shorter than the watch's first look: whom it waited
        // for is asked now, before the cleanup (whose own waits would blur it).
        if (seen.empty() && e.kind() == DbErrorKind::lock_timeout)
          seen = older_transactions(db_, unit.tables, concurrently, since(started));
        const std::string blockers = seen;
        if (watch) waited += watch->waited_ms();
        watch.reset();
        const std::string left = unit.cleanup.empty() ? "" : cleanup_index(unit.cleanup);
        const std::string cleaned = unit.cleanup.empty() ? ""
                                    : left.empty()       ? "; the INVALID index it left was dropped"
                                                         : "; " + left;
        if (gave_up) {
          throw Error(ExitCode::locked, what + " gave up after waiting " + std::to_string(waited) +
                                            " ms (--lock-wait-ms / lock_wait_ms) for older transactions to end: " +
                                            (blockers.empty() ? "another session" : blockers) + cleaned +
                                            "; nothing was recorded. End that transaction and run the command again");
        }
        // Retried only from a clean slate: with its INVALID index still there
        // (the table locked all along) a new attempt cannot even start.
        if (e.kind() == DbErrorKind::lock_timeout && attempt < options_.lock_retries && left.empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
          continue;
        }
        if (e.kind() == DbErrorKind::lock_timeout) {
          throw Error(ExitCode::locked, what + " gave up after " + std::to_string(attempt) +
                                            (attempt == 1 ? " attempt of " : " attempts of ") +
                                            std::to_string(options_.lock_timeout_ms) +
                                            " ms (lock_timeout_ms) waiting for locks held by " +
                                            (blockers.empty() ? "another session" : blockers) + cleaned +
                                            "; nothing was recorded (" + e.what() + ")");
        }
        if (unit.may_violate && e.kind() == DbErrorKind::unique_violation) {
          throw Error(ExitCode::findings, step.origin + ": duplicate rows exist (" + std::string(e.what()) + ")" +
                                              cleaned + "; run `constraintctl scan` and repair them first");
        }
        if (e.kind() == DbErrorKind::statement_timeout) {
          throw DatabaseError(
              what + " was cancelled after running " +
                  (options_.statement_timeout_ms > 0
                       ? std::to_string(options_.statement_timeout_ms) + " ms ([postgresql] statement_timeout_ms)"
                       : std::string("(by another session or the server)")) +
                  cleaned + "; nothing was recorded (" + e.what() + ")",
              e.kind(), e.detail());
        }
        rethrow_with_context(DatabaseError(std::string(e.what()) + cleaned, e.kind(), e.detail()), step.origin);
      }
    }
    if (!step.fault.empty()) fault::point(step.fault.c_str());
  }

  static std::string joined(const std::vector<std::string>& sqls) {
    std::string out;
    for (const auto& sql : sqls) out += (out.empty() ? "" : "; ") + sql;
    return out;
  }

  // The session SETs of an alone unit in effect (one round trip when they
  // are not yet), and their RESET.
  void session_timeouts(const Unit& unit) {
    if (session_set_ == unit.session_set) return;
    reset_session_timeouts();
    if (!unit.session_set.empty()) db_.execute(joined(unit.session_set));
    session_set_ = unit.session_set;
    session_reset_ = unit.session_reset;
  }

  void reset_session_timeouts() {
    if (session_set_.empty()) return;
    session_set_.clear();
    if (!session_reset_.empty()) db_.execute(joined(session_reset_));
  }

  // Drops what a failed CONCURRENTLY build left, by a path the build's own
  // failure cannot block: no statement_timeout, each attempt bounded by
  // lock_timeout_ms and retried; if DROP INDEX CONCURRENTLY cannot finish
  // (an older transaction it must wait for), a plain DROP INDEX, which needs
  // the table's lock for a moment only. Returns "" when the index is gone,
  // otherwise what is left and why (the next apply drops it first).
  std::string cleanup_index(const std::string& drop_concurrently) {
    const std::string plain = [&] {
      std::string s = drop_concurrently;
      const std::string word = " CONCURRENTLY";
      if (auto at = s.find(word); at != std::string::npos) s.erase(at, word.size());
      return s;
    }();
    std::string last;
    for (int attempt = 1; attempt <= options_.lock_retries; ++attempt) {
      try {
        // Its own session timeouts: the next alone step sets its own again,
        // and these are reset with them.
        session_set_ = {"(cleanup_index)"};
        session_reset_ = {"RESET statement_timeout", "RESET lock_timeout"};
        db_.execute("SET statement_timeout = 0; SET lock_timeout = " + std::to_string(options_.lock_timeout_ms));
        if (attempt <= 2) {
          db_.execute(drop_concurrently);
        } else {
          Transaction tx(db_);
          db_.execute("SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms));
          db_.execute(plain);
          tx.commit();
        }
        return "";
      } catch (const DatabaseError& e) {
        last = e.what();
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      }
    }
    return "its INVALID index could not be dropped (" + last + "); the next apply drops it first";
  }

  // Runs `fn`; on a lock timeout (the transaction is rolled back by its
  // guard) retries with backoff, a bounded number of times.
  template <typename Fn>
  void with_lock_retries(const std::string& what, const std::vector<std::string>& tables, Fn&& fn) {
    std::string seen;  // the sessions last seen blocking it, over all attempts
    const auto started = std::chrono::steady_clock::now();
    for (int attempt = 1;; ++attempt) {
      // Retries are watched from a second session, report only
      // (lock_timeout bounds each attempt): who held the table is what the
      // final message names. The first attempt, usually the only one, is not.
      auto watch = attempt > 1 ? watch_waits(db_, what, 0) : nullptr;
      try {
        fn();
        return;
      } catch (const DatabaseError& e) {
        if (watch && !watch->blockers().empty()) seen = watch->blockers();
        const std::string blockers = seen;
        watch.reset();
        if (e.kind() != DbErrorKind::lock_timeout) throw;
        if (attempt >= options_.lock_retries) {
          const std::string who = blockers.empty() ? older_transactions(db_, tables, false, since(started)) : blockers;
          throw DatabaseError(what + ": gave up after " + std::to_string(attempt) + " attempts of " +
                                  std::to_string(options_.lock_timeout_ms) + " ms waiting for a table lock held by " +
                                  (who.empty() ? "a long transaction" : who) + " (" + std::string(e.what()) +
                                  "); nothing was recorded",
                              e.kind(), e.detail());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      }
    }
  }

  // Compares definitions after PostgreSQL normalised both: the declared one
  // is added to an empty copy of the table inside a rolled-back savepoint.
  bool same_check(const migrate::Operation& op, const ExistingConstraint& existing) {
    const auto condition = catalog_condition(existing);
    return condition && same_condition(op.def.table, op.def.check, *condition);
  }

  // The condition of a CHECK as the catalog prints it ("CHECK (...)" with
  // any " NOT VALID" removed); nullopt for anything else.
  static std::optional<std::string> catalog_condition(const ExistingConstraint& existing) {
    std::string def = existing.definition;
    const std::string suffix = " NOT VALID", prefix = "CHECK ";
    if (def.size() > suffix.size() && def.compare(def.size() - suffix.size(), suffix.size(), suffix) == 0) {
      def.resize(def.size() - suffix.size());
    }
    if (def.rfind(prefix, 0) != 0) return std::nullopt;
    return def.substr(prefix.size());
  }

  static bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

  // Milliseconds since `t`.
  static long long since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  }

  // The partial predicate of the declared UNIQUE's index, as PostgreSQL prints it ('' for none).
  static std::string predicate_sql(const migrate::ConstraintDef& declared) {
    const auto& d = postgresql_dialect();
    return "SELECT coalesce(pg_get_expr(ix.indpred, ix.indrelid, true), '') FROM pg_index ix JOIN pg_class c ON c.oid "
           "= "
           "ix.indexrelid WHERE c.relname = " +
           d.quote_string(declared.name) + " AND ix.indrelid = to_regclass(" + d.quote_string(qt(declared.table)) + ")";
  }

  // Two conditions on `table` are the same when PostgreSQL plans them the
  // same: EXPLAIN parses, resolves and folds constants alike for both, so
  // the text a pg_dump and restore leaves ("status::text = ANY
  // (ARRAY['Un'::character varying::text, ...])") equals the declared "status
  // IN ('Un', ...)". It writes nothing: a read-only connection, a SELECT-only
  // role or a hot standby compares too. A condition that does not even plan
  // (NO INHERIT text, a dropped column) is different.
  bool same_condition(const model::TableName& table, const std::string& a, const std::string& b) {
    if (a == b) return true;
    try {
      return planned(table, a) == planned(table, b);
    } catch (const DatabaseError& e) {
      // Behind another session's lock nothing can be said: never "different".
      if (is_wait(e.kind())) throw;
      return false;
    }
  }

  std::string planned(const model::TableName& table, const std::string& condition) {
    const std::string sql = planned_sql(table, condition);
    if (auto known = asked_.find(sql); known != asked_.end()) {
      if (known->second.error) throw *known->second.error;
      return known->second.text;
    }
    std::string out;
    db_.query(sql, [&](const Row& r) { out += value_text(r[0]) + "\n"; });
    return out;
  }

  static std::string planned_sql(const model::TableName& table, const std::string& condition) {
    return "EXPLAIN (VERBOSE, COSTS OFF) SELECT 1 FROM " + qt(table) + " WHERE NOT (" + condition + ")";
  }

  // partitioned() of every table a UNIQUE is added to, in one query.
  void prefetch_partitioned(const std::vector<migrate::Operation>& ops) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& op : ops) {
      if (op.kind != migrate::OpKind::add_unique || partitioned_.count(op.def.table.str())) continue;
      if (seen.insert(op.def.table.str()).second) names.push_back(op.def.table.str());
    }
    if (names.empty()) return;
    std::map<std::string, std::string> by_regclass;  // the names as to_regclass reads them
    std::string array = "ARRAY[";
    for (size_t i = 0; i < ops.size(); ++i) {
      const auto& t = ops[i].def.table;
      if (!seen.count(t.str()) || by_regclass.count(qt(t))) continue;
      by_regclass.emplace(qt(t), t.str());
      array += (by_regclass.size() > 1 ? ", " : "") + postgresql_dialect().quote_string(qt(t));
    }
    db_.query(detail::substitute(kPartitioned, array + "]"),
              [&](const Row& r) { partitioned_[by_regclass.at(value_text(r[0]))] = truthy(r[1]); });
  }

  // relkind 'p': a partitioned table (its rows live in partitions).
  bool partitioned(const model::TableName& table) {
    auto it = partitioned_.find(table.str());
    if (it != partitioned_.end()) return it->second;
    bool p = false;
    db_.query("SELECT count(*) FROM pg_class WHERE oid = to_regclass(" + postgresql_dialect().quote_string(qt(table)) +
                  ") AND relkind = 'p'",
              [&](const Row& r) { p = value_int(r[0]) > 0; });
    return partitioned_[table.str()] = p;
  }

  static std::string text_array(const std::vector<std::string>& items) {
    std::string out = "ARRAY[";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + postgresql_dialect().quote_string(items[i]);
    return out + "]::name[]";
  }

  // What compare_definitions() read: query -> its text (EXPLAIN lines
  // joined) or its error.
  struct Answer {
    std::string text;
    std::optional<DatabaseError> error;
  };
  std::map<std::string, Answer> asked_;
  // The session SETs in effect on the connection (of the alone units being
  // run), and what resets them.
  std::vector<std::string> session_set_, session_reset_;

  Connection& db_;
  MigratorOptions options_;
  bool locked_ = false;
  std::map<std::string, bool> partitioned_;
  // Constraints earlier plans of this run add (or drop: nullopt) that have not
  // run yet (a dry run of several versions).
  std::map<std::string, std::optional<ExistingConstraint>> planned_;
};

}  // namespace

std::string postgres_create_unique_index(const migrate::ConstraintDef& def) {
  std::string cols;
  for (size_t i = 0; i < def.columns.size(); ++i) cols += (i ? ", " : "") + q(def.columns[i]);
  // The index is created in the table's schema.
  return "CREATE UNIQUE INDEX CONCURRENTLY " + q(def.name) + " ON " + qt(def.table) + " (" + cols + ")" +
         (def.where.empty() ? "" : " WHERE (" + def.where + ")");
}

std::unique_ptr<Migrator> make_postgres_migrator(Connection& db, const MigratorOptions& options) {
  return std::make_unique<PostgresMigrator>(db, options);
}

}  // namespace cc::dialect
