// SQLite migrations. SQLite 3.40 cannot ALTER a CHECK into a table, so a
// table whose CHECKs change is rebuilt with the documented procedure
// (lang_altertable.html, "other kinds of table schema changes"), once per
// table per migration however many of its constraints change:
//   foreign_keys OFF before BEGIN (a no-op inside a transaction) and verified;
//   BEGIN IMMEDIATE; save the table's indexes and triggers and all views;
//   CREATE TABLE new from the original text with the constraints edited in;
//   copy; drop the views; DROP the old table; RENAME new (legacy_alter_table,
//   so dangling references elsewhere are not re-parsed mid-way) -- or, for a
//   table whose rows cost less to copy twice than a RENAME (which parses the
//   whole schema), a TEMP copy, DROP, CREATE under its own name, copy back
//   (rebuild_in_place); recreate
//   indexes, triggers and views from their saved SQL; restore
//   sqlite_sequence; foreign_key_check (only violations that were not there
//   before the rebuild count); history row; COMMIT; foreign_keys
//   restored. Any error rolls the whole migration back.
// A UNIQUE is a unique index: no rebuild. Where the linked SQLite parses
// ALTER TABLE ... ADD/DROP CONSTRAINT, that native form is used instead.
// Opt-in (--sqlite-no-rebuild, [sqlite] no_rebuild), a table that only gains
// CHECKs has its stored CREATE TABLE text edited instead, inside the same
// write transaction: a scan proving no row violates, the edit under
// writable_schema, the schema_version bump, then quick_check(table), which
// evaluates NOT NULL and CHECK constraints against every row (outside
// SQLite's documented procedures: docs/plans.md). The scan of a large table
// reads on a connection of its own meanwhile (BackgroundCheck), settled
// before COMMIT.
// Before COMMIT every migration compares sqlite_schema (type, name,
// tbl_name, sql of every object) with what it was before the migration,
// modulo the planned change, and rolls back naming the first object that
// differs: a rebuild can never silently lose a trigger, index or view.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/fault.h"
#include "core/sql_lexer.h"
#include "core/text.h"
#include "dialect/migrator.h"
#include "dialect/sqlite/create_table.h"
#include "dialect/sqlite/schema_objects.h"

namespace cc::dialect {
namespace {

std::string q(std::string_view s) { return sqlite_dialect().quote_ident(s); }
std::string lit(std::string_view s) { return sqlite_dialect().quote_string(s); }
Step note(std::string sql, std::string comment = "") {
  return Step{std::move(sql), "", std::move(comment), "", false, ""};
}

// A table of at least this many rows has the scan before its edit read on
// a connection of its own (BackgroundCheck); a smaller one is read on the
// writing connection, sooner than a new connection opens.
constexpr std::int64_t kBackgroundCheckRows = 200000;

// A check of the plan (a query that must return no row) read on a read
// connection of its own, in a thread, while the writing connection goes on.
// The reader is opened before the writer takes the write lock (opening
// reads the schema, which would wait for a lock this process holds); its
// transaction starts while the writer holds the lock, after it wrote
// nothing to the table read: no commit can land between them, so it reads
// the same rows. `failed`: the read did not finish (the
// writer then reads it itself); `found`: the first row's first value.
class BackgroundCheck {
 public:
  BackgroundCheck(const Step& step, std::unique_ptr<Connection> reader)
      : step_(step), reader_(std::move(reader)), thread_([this] { run(); }) {}
  ~BackgroundCheck() { wait(); }
  BackgroundCheck(const BackgroundCheck&) = delete;
  BackgroundCheck& operator=(const BackgroundCheck&) = delete;

  void wait() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  // The reader, once done, for the next check (null if taken).
  std::unique_ptr<Connection> take_reader() {
    wait();
    return std::move(reader_);
  }
  const Step& step() const { return step_; }
  bool failed() const { return failed_; }
  const std::string& found() const { return found_; }

 private:
  void run() {
    try {
      reader_->query(step_.sql, [&](const Row& r) {
        if (found_.empty()) found_ = r.empty() ? "a row" : value_text(r[0]);
      });
    } catch (...) {
      failed_ = true;
    }
    try {
      reader_->rollback();  // its read transaction ends before the writer's COMMIT
    } catch (...) {
      failed_ = true;
    }
    done_ = true;
  }

  const Step& step_;
  std::unique_ptr<Connection> reader_;
  std::string found_;
  bool failed_ = false;
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: starts once the rest is there
};

// The changes a migration makes to one table's CHECKs.
struct TableChecks {
  std::vector<std::string> drop;
  std::vector<sqlite::CheckToAdd> add;
  std::vector<std::string> origins;  // the operations, for messages
};

// Every schema object, as compared before and after a migration.
constexpr const char* kSchemaObjects = "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name, rowid";

// Step origins the executor treats specially.
constexpr const char* kForeignKeyCheck = "foreign_key_check";
constexpr const char* kViolationCheck = "violation_check";  // no row may violate a CHECK about to be added
constexpr const char* kIntegrityCheck = "quick_check";      // quick_check(table) after its edit
constexpr const char* kSchemaBump = "schema_version_bump";  // set to one above the value read when it runs
// A rebuild's proof of its rows (rebuild()): an INSERT into a TEMP table
// whose CHECK fails for the first row found, so the statement stops the
// plan run by hand too; the executor names the CHECK that row fails.
constexpr const char* kRebuildProof = "rebuild_proof";
constexpr const char* kProofTable = "cc_proof";
// Past this many CHECKs the proof's WHERE (one OR per CHECK) nears SQLite's
// expression depth limit (1000): the copy proves the rows itself.
constexpr size_t kMaxProofChecks = 200;

// How fast this machine's SQLite 3.40 rewrites rows, for the estimate of a
// step's write-lock hold (docs/benchmarks.md, "SQLite beside a live
// writer"): rows written per millisecond into a table or one of its
// indexes by the rebuild's copy, and rows read per millisecond by a scan.
constexpr double kRowsWrittenPerMs = 1400.0;
constexpr double kRowsReadPerMs = 4000.0;
// A rebuild's time follows the bytes it moves more than its rows: the
// rebuild of `characters` at 1M rows (17 586 table pages, two indexes)
// took 3.4 s against 1.2 s for `ability_blocks` (6 521 pages, one index),
// both 1M rows (docs/benchmarks.md, "SQLite apply beside a live
// application writer", statement times by sqlite3_trace_v2). Where the
// linked SQLite has the dbstat table (Debian's has), the estimate uses each
// b-tree's pages, at these rates measured there with SQLite 3.40.1 on an
// idle machine: copying a page of rows into the new table (its CHECKs
// evaluated), freeing a page of the old table or its indexes at DROP,
// writing a page at COMMIT, and building an index (the larger of a rate per
// row, for the sort, and one per page written).
constexpr double kCopyMsPerPage = 0.087;
constexpr double kFreeMsPerPage = 0.02;
constexpr double kCommitMsPerPage = 0.011;
constexpr double kIndexRowsPerMs = 3600.0;
constexpr double kIndexMsPerPage = 0.06;
constexpr std::int64_t kPagesFromRows = 10000;  // smaller tables: the row count is enough
// SQLite evaluates a CHECK's `x IN (a, b, c, ...)` of three or more values
// in its constraint checks (quick_check, and INSERT) far slower than in a
// query: measured with SQLite 3.40.1 on this machine, per row, about
// 0.6 us plus 0.05 us per value (1M rows: quick_check 0.10 s without such
// a CHECK, 0.95 s with a list of 5, 2.1 s of 20, 5.9 s of 100), where a
// query reads the same IN in 0.26 s (docs/benchmarks.md).
constexpr double kInListMsPerRow = 0.6e-3;
constexpr double kInValueMsPerRow = 0.05e-3;
// What one ALTER TABLE ... RENAME costs per object in sqlite_schema: SQLite
// re-parses every object's text (sqlite_rename_table, then
// sqlite_rename_test) and reloads the whole schema, even with
// legacy_alter_table on. Measured with SQLite 3.40.1 on this machine: 52 ms
// CPU per RENAME among 1 600 objects (docs/benchmarks.md, "Every command
// against the number of tables").
constexpr double kRenameMsPerObject = 0.033;
// The pause between two steps, longer than the 100 ms between two polls of
// SQLite's busy handler (sqliteDefaultBusyCallback), so that a writer waiting
// for the lock gets it between steps.
constexpr int kWriterGapMs = 150;

// One table's part of a migration: its rebuild or edit and its unique
// indexes, with the part of the planned schema change it makes.
struct Group {
  std::string table;
  std::vector<Step> body;        // rebuild, edit or native ALTER
  std::vector<Step> after_bump;  // quick_check of an edited table
  std::vector<Step> uniques;     // CREATE / DROP of its unique indexes
  sqlite::PlannedSchemaChange change;
  bool edited = false;   // sqlite_schema edited: needs the schema_version bump
  bool rebuilt = false;  // the table is copied
  bool in_place = false;  // rebuilt under its own name from a TEMP copy (no RENAME): its rows copied twice
  int scans = 0;          // full reads of the table (the no-rebuild scan and quick_check, a rebuild's proof)
  std::int64_t rows = 0, indexes = 0;
  std::int64_t pages = 0;  // of the table and its indexes (dbstat), 0 where unknown
  double estimate_ms = 0;  // of its write-lock hold
};

std::string lower(std::string_view s) { return text::ascii_lower(s); }

using sqlite::object_key;
using sqlite::SchemaObject;
using sqlite::SchemaObjects;

// sqlite_schema as one plan reads it, once: it has no index on name or
// tbl_name, so a query per table (its text, its indexes and triggers, the
// views) would read every object once per table, N * N for N tables.
struct Catalog {
  struct Entry {
    std::string type, name, tbl_name, sql;
    bool has_sql = false;  // automatic indexes have none
  };
  std::vector<Entry> rows;                              // in rowid order
  std::map<std::string, size_t> by_name;                // type + '\x1f' + name, ASCII case folded
  std::map<std::string, std::vector<size_t>> by_table;  // tbl_name, ASCII case folded: entries in rowid order

  // `name` of `type`, matched as SQLite matches names (ASCII letters in any case).
  const Entry* find(const std::string& type, const std::string& name) const {
    const auto it = by_name.find(type + '\x1f' + lower(name));
    return it == by_name.end() ? nullptr : &rows[it->second];
  }
  // The objects whose tbl_name is `table` (any letter case), in rowid order.
  const std::vector<size_t>& of_table(const std::string& table) const {
    static const std::vector<size_t> none;
    const auto it = by_table.find(lower(table));
    return it == by_table.end() ? none : it->second;
  }
  static std::string lower(const std::string& s) { return text::ascii_lower(s); }
};

class SqliteMigrator final : public Migrator {
 public:
  SqliteMigrator(Connection& db, MigratorOptions options) : db_(db), options_(std::move(options)) {}

  // SQLite has no advisory lock: each migration takes the write lock with
  // BEGIN IMMEDIATE (waiting up to the busy timeout) and re-reads history
  // inside it, so concurrent migrators serialise and never apply twice.
  void lock() override {
    std::string mode;
    db_.query("PRAGMA journal_mode", [&](const Row& r) { mode = value_text(r[0]); });
    if (mode == "off" || mode == "memory") {
      throw UsageError("journal_mode is " + mode + ": a failed rebuild could not be rolled back; refusing to migrate");
    }
  }
  void unlock() override {}

  std::vector<HistoryRow> history() override {
    return detail::read_history(db_, detail::table_exists(db_, kHistoryTable));
  }

  // Runs split into one transaction per table (max_lock_ms) count their
  // steps there; a row left behind is a run interrupted between two tables.
  std::vector<ProgressRow> progress() override { return detail::read_progress(db_); }

  // A CHECK SQLite would reject at the first write of the rebuild's copy
  // ("non-deterministic use of datetime() in a CHECK constraint") or whose
  // text does not compile against the table: refused before any change.
  void refuse_early(const std::vector<migrate::Operation>& ops) override {
    for (const auto& op : ops) {
      if (op.kind != migrate::OpKind::add_check) continue;
      try {
        db_.validate_expression(op.def.table, op.def.check);
      } catch (const DatabaseError& e) {
        if (e.kind() == DbErrorKind::undefined_object && !db_.inspect_table(op.def.table).exists)
          continue;  // plan() names it
        throw UsageError(op.describe() + ": SQLite cannot enforce this CHECK: " + e.what() + ". Nothing was changed.");
      }
    }
  }

  // Foreign keys off before the transactions (a no-op inside one), then one
  // BEGIN IMMEDIATE transaction per version: the statements, a foreign-key
  // check of the tables rebuilt, the records, COMMIT; foreign keys as they
  // were. When the write lock would be held longer than max_lock_ms (an
  // estimate from each table's rows and indexes), one transaction per table
  // instead, counted in constraintctl_progress like PostgreSQL's steps: a
  // crash between two leaves every table before or after its step, which
  // status describes, apply resumes and rollback undoes.
  Plan plan(const Work& work) override {
    Plan p;
    if (work.migration) p.title = work.migration->id() + (work.up ? " (up)" : " (down)");
    refuse_early(work.ops);
    db_.query("PRAGMA schema_version", [&](const Row& r) { p.schema_version = value_int(r[0]); });
    schema_version_ = p.schema_version + static_cast<std::int64_t>(planned_versions_++);
    std::string fk_before;
    db_.query("PRAGMA foreign_keys", [&](const Row& r) { fk_before = value_text(r[0]); });
    catalog_.reset();  // read again at its first use by this plan
    rows_.clear();
    infos_.clear();
    rebuilt_.clear();
    edited_.clear();
    planned_change_ = {};
    planned_changes_.clear();
    notes_.clear();
    // The run's progress row: its key, and whether an interrupted run of
    // the same work left one (this run resumes it).
    const auto [progress_direction, progress_name, progress_checksum, progress_version] = detail::progress_key(work);
    bool resuming = false;
    for (const auto& row : detail::read_progress(db_))
      resuming = resuming || (row.version == progress_version && row.direction == progress_direction);
    const std::vector<std::string> intent = detail::intents(db_);
    std::vector<std::string> adopt_records;
    const std::vector<migrate::Operation> ops =
        adopt_existing(work.ops, p, adopt_records, intent, resuming || work.partial);
    std::vector<Group> gs = groups(ops);
    for (auto& n : notes_) p.warnings.push_back(std::move(n));

    // The estimate of each table's write-lock hold, and the split.
    double total_ms = 0;
    for (auto& g : gs) {
      estimate(g);
      total_ms += g.estimate_ms;
    }
    const int bound = options_.sqlite_max_lock_ms;
    const bool split = bound > 0 && gs.size() > 1 && total_ms > bound && !progress_direction.empty();
    if (bound > 0) {
      for (const auto& g : gs) {
        if (g.estimate_ms <= bound) continue;
        const std::string warning =
            "table " + g.table + ": its " + (g.rebuilt ? "rebuild" : "step") + " alone is estimated at " +
            std::to_string(static_cast<std::int64_t>(g.estimate_ms)) + " ms (an estimate: " + std::to_string(g.rows) +
            " rows, " + std::to_string(g.indexes) + " indexes" +
            (g.pages > 0 ? ", " + std::to_string(g.pages) + " pages" : std::string()) +
            ", at the rates measured in docs/benchmarks.md), over " + "max_lock_ms " + std::to_string(bound) +
            ": other writers wait for the write lock that long (an application with a shorter busy timeout gets "
            "'database is locked')" +
            (g.rebuilt && !options_.sqlite_no_rebuild ? "; --sqlite-no-rebuild adds CHECKs without a rebuild" : "");
        p.warnings.push_back(warning);
        p.said_before_execute.push_back(warning);
      }
    }
    std::vector<std::vector<Group>> chunks;
    if (split) {
      // Consecutive tables share a transaction while their estimates add up
      // to no more than the bound: each transaction pays a pause for the
      // waiting writers (kWriterGapMs), which hundreds of small tables
      // would pay hundreds of times.
      double chunk_ms = 0;
      for (auto& g : gs) {
        if (chunks.empty() || chunk_ms + g.estimate_ms > bound) {
          chunks.emplace_back();
          chunk_ms = 0;
        }
        chunk_ms += g.estimate_ms;
        chunks.back().push_back(std::move(g));
      }
      p.notes.push_back("one transaction per table, or per run of tables estimated together within max_lock_ms (" +
                        std::to_string(chunks.size()) +
                        " steps): the whole migration would hold the write lock for about " +
                        std::to_string(static_cast<std::int64_t>(total_ms)) + " ms (an estimate), over max_lock_ms " +
                        std::to_string(bound) + "; each step is counted in " + kProgressTable);
    } else {
      chunks.push_back(std::move(gs));
    }

    const auto& d = sqlite_dialect();
    const std::string key = " WHERE version = " + std::to_string(progress_version) +
                            " AND direction = " + d.quote_string(progress_direction);
    // Intents: the CHECKs and UNIQUEs this run adds, so that a rerun after a
    // crash between steps knows them for its own (never adopted) and a
    // rollback drops exactly those that exist.
    std::vector<std::string> builds, forget;
    for (const auto& op : ops) {
      if (op.adds()) builds.push_back(op.def.name);
    }
    for (const auto& op : work.ops) {
      if (op.adds() && (split || std::find(intent.begin(), intent.end(), op.def.name) != intent.end()))
        forget.push_back(op.def.name);
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      const bool first = i == 0, last = i + 1 == chunks.size();
      Unit u;
      std::string tables;
      for (const auto& g : chunks[i]) tables += (tables.empty() ? "" : ", ") + g.table;
      u.comment = split ? "step " + std::to_string(i + 1) + " of " + std::to_string(chunks.size()) +
                              (chunks[i].size() > 1 ? ": tables " : ": table ") + tables +
                              ", one transaction taking the write lock up front"
                        : "one transaction, taking the write lock up front";
      u.fault_before_commit = "before-commit";
      if (split && first) {
        u.steps.push_back({std::string("INSERT INTO ") + kProgressTable +
                               " (version, direction, name, checksum, steps_total, steps_done, started_at, updated_at, "
                               "tool_version, applied_by) VALUES (" +
                               std::to_string(progress_version) + ", " + d.quote_string(progress_direction) + ", " +
                               d.quote_string(progress_name) + ", " + d.quote_string(progress_checksum) + ", " +
                               std::to_string(chunks.size()) + ", 0, " + d.now_text() + ", " + d.now_text() + ", " +
                               d.quote_string(options_.tool_version) + ", " + d.quote_string(options_.applied_by) +
                               ") ON CONFLICT (version, direction) DO UPDATE SET steps_total = " + kProgressTable +
                               ".steps_done + excluded.steps_total, updated_at = excluded.updated_at",
                           "", "in progress: " + std::to_string(chunks.size()) + " steps, each counted when it commits",
                           "history", false, ""});
        if (!builds.empty()) {
          std::string values;
          for (const auto& op : ops) {
            if (!op.adds()) continue;
            values += (values.empty() ? "" : ", ") + std::string("(") + d.quote_string(op.def.name) + ", " +
                      d.quote_string(op.def.table.str()) + ", " + d.now_text() + ")";
          }
          u.steps.push_back({std::string("INSERT INTO ") + kIntentTable + " (name, table_name, started_at) VALUES " +
                                 values + " ON CONFLICT (name) DO NOTHING",
                             "", "the constraints this run builds: a rerun after a crash knows them for its own",
                             "history", false, ""});
        }
      }
      for (auto& s : statements(chunks[i], split, split ? nullptr : &unique_sequence_)) {
        s.fault = "sqlite-statement";
        u.steps.push_back(std::move(s));
      }
      // Only a rebuild can break a foreign key; checking the tables rebuilt
      // (and their children) keeps an unrelated dangling key elsewhere in the
      // database from blocking this migration.
      std::set<std::string> fk_tables;
      sqlite::PlannedSchemaChange change;
      for (auto& g : chunks[i]) {
        u.may_violate = u.may_violate || g.rebuilt || g.scans > 0;
        if (g.rebuilt) {
          fk_tables.insert(g.table);
          for (const auto& ref : info_of_table({g.table}).referrers) fk_tables.insert(ref.table.name);
        }
        for (auto& [t, sql] : g.change.table_sql) change.table_sql[t] = std::move(sql);
        for (auto& [k, o] : g.change.created) change.created[k] = std::move(o);
        change.dropped.insert(g.change.dropped.begin(), g.change.dropped.end());
      }
      planned_changes_.push_back(std::move(change));
      for (const auto& t : fk_tables) {
        u.steps.push_back({"PRAGMA foreign_key_check(" + q(t) + ")", "", "", kForeignKeyCheck, true, ""});
      }
      if (!last) {
        u.steps.push_back({std::string("UPDATE ") + kProgressTable +
                               " SET steps_done = steps_done + 1, updated_at = " + d.now_text() + key,
                           "", "one step done, committed with it", "history", false, ""});
      } else {
        for (const auto& sql : detail::records(db_, work, options_))
          u.steps.push_back({sql, "", "", "history", false, ""});
        for (auto& sql : adopt_records) {
          u.steps.push_back(
              {sql, "", "adopted: it existed before constraintctl, which never drops it", "history", false, ""});
        }
        if ((split || resuming) && !progress_direction.empty()) {
          u.steps.push_back({detail::forget_progress(d, progress_version, progress_direction), "",
                             "the run is complete: no longer in progress", "history", false, ""});
        }
        if (const std::string sql = detail::forget_intents(d, forget); !sql.empty())
          u.steps.push_back({sql, "", "", "history", false, ""});
      }
      p.units.push_back(std::move(u));
    }
    Unit off =
        alone({"PRAGMA foreign_keys = OFF", "", "before the transaction: inside one it is a no-op", "", false, ""});
    Unit back = alone(
        {"PRAGMA foreign_keys = " + std::string(fk_before == "1" ? "ON" : "OFF"), "", "as before", "", false, ""});
    p.units.insert(p.units.begin(), std::move(off));
    p.units.push_back(std::move(back));
    catalog_.reset();
    rows_.clear();
    infos_.clear();
    return p;
  }

  // How long `g` holds the write lock, estimated from its table's rows,
  // indexes and (for a rebuild, where dbstat tells) pages, at the rates
  // measured on the reference fixture.
  void estimate(Group& g) {
    size_t index_builds = 0;
    for (const auto& s : g.uniques) index_builds += s.sql.rfind("CREATE", 0) == 0 ? 1 : 0;
    if (!g.rebuilt && g.scans == 0 && index_builds == 0) return;  // an edit of sqlite_schema: milliseconds
    g.rows = rows_of(g.table);
    std::vector<std::string> indexes;
    for (const size_t i : catalog().of_table(g.table)) {
      if (catalog().rows[i].type == "index") indexes.push_back(catalog().rows[i].name);
    }
    g.indexes = static_cast<std::int64_t>(indexes.size());
    const double rows = static_cast<double>(g.rows);
    double ms = rows * static_cast<double>(index_builds) / kRowsWrittenPerMs;
    // Below kPagesFromRows rows either way gives milliseconds: no dbstat
    // read per table (hundreds of small tables would pay for one each).
    const std::optional<std::int64_t> table_pages =
        g.rebuilt && g.rows >= kPagesFromRows ? pages_of(g.table) : std::nullopt;
    if (table_pages) {
      // The copy, then each index built, the old b-trees freed, the commit.
      double copy = static_cast<double>(*table_pages) * kCopyMsPerPage, written = static_cast<double>(*table_pages);
      if (g.in_place) copy *= 2;  // to the TEMP copy and back
      ms += copy;
      bool known = true;
      for (const auto& index : indexes) {
        const auto pages = pages_of(index);
        known = known && pages.has_value();
        const double n = static_cast<double>(pages.value_or(0));
        ms += std::max(rows / kIndexRowsPerMs, n * kIndexMsPerPage);
        written += n;
      }
      ms += written * (kFreeMsPerPage + kCommitMsPerPage);
      if (known) g.pages = static_cast<std::int64_t>(written);
    } else if (g.rebuilt) {
      ms += rows * static_cast<double>(1 + g.indexes) / kRowsWrittenPerMs;
      if (g.in_place) ms += rows / kRowsWrittenPerMs + rows / kRowsReadPerMs;
    }
    ms += rows * g.scans / kRowsReadPerMs;
    // quick_check after an edit evaluates every CHECK of the new text for
    // every row, its IN lists slowly (a rebuild with such lists proves its
    // rows by a scan instead: rebuild()).
    if (g.scans > 0 && !g.rebuilt) {
      const auto text = g.change.table_sql.find(lower(g.table));
      if (text != g.change.table_sql.end() && text->second) {
        const auto [lists, values] = in_lists(*text->second);
        ms += rows * (static_cast<double>(lists) * kInListMsPerRow + static_cast<double>(values) * kInValueMsPerRow);
      }
    }
    g.estimate_ms = ms;
  }

  // The IN lists of three or more values in `create_sql` (a CREATE TABLE:
  // its CHECKs), and their values in all.
  static std::pair<std::int64_t, std::int64_t> in_lists(const std::string& create_sql) {
    std::int64_t lists = 0, values = 0;
    std::vector<sql::Token> toks;
    try {
      toks = sql::significant(sql::tokenize(create_sql));
    } catch (const Error&) {
      return {0, 0};
    }
    for (size_t i = 0; i + 1 < toks.size(); ++i) {
      if (!toks[i].is_word("IN") || !toks[i + 1].is("(")) continue;
      if (i + 2 < toks.size() && toks[i + 2].is_word("SELECT")) continue;
      std::int64_t n = 1;
      int depth = 0;
      for (size_t j = i + 1; j < toks.size(); ++j) {
        if (toks[j].is("(")) ++depth;
        if (toks[j].is(")") && --depth == 0) break;
        if (depth == 1 && toks[j].is(",")) ++n;
      }
      if (n >= 3) {
        ++lists;
        values += n;
      }
    }
    return {lists, values};
  }

  // The pages of one b-tree (a table or an index) by dbstat, which reads
  // that b-tree alone (about 0.1 s for a table of 1M rows); nullopt where
  // the linked SQLite has no dbstat, or it cannot read that b-tree (an
  // index of a virtual table has none).
  std::optional<std::int64_t> pages_of(const std::string& btree) {
    if (!dbstat_) return std::nullopt;
    std::optional<std::int64_t> n;
    try {
      db_.query("SELECT count(*) FROM dbstat WHERE name = " + lit(btree), [&](const Row& r) { n = value_int(r[0]); });
    } catch (const DatabaseError&) {
      dbstat_ = false;  // no such table: dbstat
      return std::nullopt;
    }
    if (n && *n == 0) return std::nullopt;  // not a b-tree of this file
    return n;
  }

  bool execute(const Plan& plan, const Work& work) override {
    planned_sql_.clear();  // from now on the catalog itself tells
    planned_exists_.clear();
    planned_versions_ = 0;
    std::vector<const Unit*> units;
    for (const auto& u : plan.units) {
      if (u.kind == Unit::Kind::transaction) units.push_back(&u);
    }
    if (units.empty()) return true;
    // Said before the first change, not only in the summary after it.
    for (const auto& w : plan.said_before_execute)
      std::fprintf(stderr, "constraintctl: warning: %s\n", text::terminal_safe(w).c_str());
    db_.execute(plan.units.front().steps.front().sql);  // PRAGMA foreign_keys = OFF
    std::string fk_now;
    db_.query("PRAGMA foreign_keys", [&](const Row& r) { fk_now = value_text(r[0]); });
    if (fk_now != "0")
      throw DatabaseError("could not turn foreign keys off before the rebuild (is a transaction open?)");
    db_.allow_schema_edits(true);
    auto restore = [&] {
      try {  // first and alone: the connection may copy rows again (the next version, restore_checks)
        db_.execute("PRAGMA ignore_check_constraints = OFF");
      } catch (const DatabaseError&) {
      }
      try {
        db_.execute("PRAGMA legacy_alter_table = OFF");
        db_.execute("PRAGMA writable_schema = OFF");
        db_.allow_schema_edits(false);
        db_.execute(plan.units.back().steps.front().sql);  // foreign keys as before
      } catch (const DatabaseError&) {
        // The connection is broken; the error that got us here is reported.
      }
    };
    bool ran = true;
    std::int64_t expected_version = plan.schema_version;
    size_t k = 0;
    try {
      for (k = 0; k < units.size(); ++k) {
        if (!run_unit(*units[k], k, plan, work, expected_version)) {
          ran = false;
          break;
        }
        if (k + 1 < units.size()) {
          fault::point("sqlite-step-committed");
          // A writer waiting for the lock is not queued: its busy handler
          // polls, every 100 ms once it has waited a while. Without a pause
          // the next step's BEGIN IMMEDIATE would take the lock again before
          // any poll, and the writer would wait through every step.
          std::this_thread::sleep_for(std::chrono::milliseconds(kWriterGapMs));
        }
      }
    } catch (const std::exception& e) {
      restore();
      if (k == 0) throw;
      // Earlier steps are committed: say so, and never let the engine take
      // the failure for a refusal that changed nothing.
      const std::string context = "step " + std::to_string(k + 1) + " of " + std::to_string(units.size()) +
                                  " failed (" + units[k]->comment.substr(0, units[k]->comment.find(',')) +
                                  "); steps 1 to " + std::to_string(k) +
                                  " are committed: status shows the version partially done; run the command again "
                                  "to finish it, or rollback to undo it";
      const auto* db_error = dynamic_cast<const DatabaseError*>(&e);
      if (db_error && is_violation(db_error->kind()))
        throw Error(ExitCode::findings, std::string(e.what()) + "; " + context);
      rethrow_with_context(e, context);
    }
    restore();
    return ran;
  }

  // One transaction of the plan. False when another migrator had already
  // run the version (checked in the first). `expected_version` is the
  // schema_version it must find, and becomes the one it leaves.
  bool run_unit(const Unit& unit, size_t index, const Plan& plan, const Work& work, std::int64_t& expected_version) {
    std::optional<Transaction> tx;
    fault::point("sqlite-before-begin");  // after the plan and the scan, before the write lock
    std::vector<std::unique_ptr<Connection>> readers = open_readers(unit);
    try {
      tx.emplace(db_);
    } catch (const DatabaseError& e) {
      if (e.kind() == DbErrorKind::busy) {
        throw Error(ExitCode::locked,
                    "another process holds the database's write lock (" + std::string(e.what()) + ")");
      }
      throw;
    }
    std::int64_t version = -1;
    db_.query("PRAGMA schema_version", [&](const Row& r) { version = value_int(r[0]); });
    if (index == 0) {
      const std::string dir = work.migration ? detail::current_direction(db_, work.migration->version) : "";
      if (work.migration && (work.up ? dir == "up" : dir != "up") && !work.partial) {
        tx->rollback();  // another migrator got here first
        return false;
      }
    }
    if (version != expected_version) {
      throw Error(ExitCode::locked,
                  "the database schema changed while the migration was planned (another writer); nothing was "
                  "changed; run the command again");
    }
    (void)plan;
    // Dangling keys that were there before this migration (an earlier
    // import, foreign keys that were off) are not the rebuild's doing:
    // only violations the rebuild added fail it. The checks after the
    // rebuild come first; only when they find rows is the state before
    // read (back at a savepoint, then the rebuild runs again), so a
    // clean database pays for one check. Compared per (table, rowid,
    // parent, foreign key), counted: a WITHOUT ROWID table (rowid NULL)
    // is compared by number.
    const auto& steps = unit.steps;
    const auto is_fk_check = [](const Step& s) { return s.must_return_no_rows && s.origin == kForeignKeyCheck; };
    size_t first_check = 0;
    while (first_check < steps.size() && !is_fk_check(steps[first_check])) ++first_check;
    const SchemaObjects schema_before = schema_objects();
    // The scans before the edits of large tables, read on connections of
    // their own while this one edits, bumps schema_version and runs the
    // quick_checks; all are settled before COMMIT.
    std::vector<std::unique_ptr<BackgroundCheck>> background;
    const auto settle = [&] {
      for (auto& b : background) {
        b->wait();
        if (b->failed()) {
          run_check(b->step());  // read here instead
        } else {
          refuse_found(b->step(), b->found());
        }
      }
      background.clear();
    };
    auto run = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; ++i) {
        if (is_fk_check(steps[i])) continue;
        if (steps[i].must_return_no_rows) {
          if (auto b = in_background(steps[i], background, readers)) {
            background.push_back(std::move(b));
          } else {
            run_check(steps[i]);
          }
        } else if (steps[i].origin == kRebuildProof) {
          run_proof(steps[i]);
        } else if (steps[i].origin == kSchemaBump) {
          std::int64_t now = 0;
          db_.query("PRAGMA schema_version", [&](const Row& r) { now = value_int(r[0]); });
          db_.execute("PRAGMA schema_version = " + std::to_string(now + 1));
        } else {
          db_.execute(steps[i].sql);
        }
        if (!steps[i].fault.empty()) fault::point(steps[i].fault.c_str());
      }
    };
    auto fk_key = [](const Row& r) {
      return value_text(r[0]) + '\x1f' + value_text(r[1]) + '\x1f' + value_text(r[2]) + '\x1f' + value_text(r[3]);
    };
    // The first violation not in `before`, or "".
    auto new_violation = [&](std::map<std::string, std::int64_t> before) {
      std::string problem;
      for (const auto& step : steps) {
        if (!is_fk_check(step)) continue;
        db_.query(step.sql, [&](const Row& r) {
          auto it = before.find(fk_key(r));
          if (it != before.end() && it->second > 0) {
            --it->second;  // there before the rebuild
            return;
          }
          if (problem.empty()) {
            problem =
                "table " + value_text(r[0]) + " row " + value_text(r[1]) + " references a missing " + value_text(r[2]);
          }
        });
      }
      return problem;
    };
    try {
      std::optional<Savepoint> rebuild;
      if (first_check < steps.size()) rebuild.emplace(db_, "cc_rebuild");
      run(0, first_check);
      if (rebuild && !new_violation({}).empty()) {
        rebuild->rollback();
        std::map<std::string, std::int64_t> before;
        for (const auto& step : steps) {
          if (is_fk_check(step)) db_.query(step.sql, [&](const Row& r) { ++before[fk_key(r)]; });
        }
        run(0, first_check);
        if (auto problem = new_violation(before); !problem.empty()) {
          throw DatabaseError("foreign_key_check failed after the rebuild: " + problem,
                              DbErrorKind::foreign_key_violation);
        }
      } else if (rebuild) {
        rebuild->release();
      }
      run(first_check, steps.size());
      settle();
    } catch (const DatabaseError&) {
      // A row a background scan found explains a failure after it (the
      // quick_check of rows that violate the new CHECK) better.
      settle();
      throw;
    }
    if (const std::string problem =
            sqlite::schema_difference(schema_before, schema_objects(), planned_changes_.at(index));
        !problem.empty()) {
      throw DatabaseError("the schema after the migration is not the one planned: " + problem +
                          "; rolled back, nothing was changed");
    }
    db_.query("PRAGMA schema_version", [&](const Row& r) { expected_version = value_int(r[0]); });
    fault::point(unit.fault_before_commit.c_str());
    tx->commit();
    return true;
  }

  // SQLite keeps constraint text as written and has no normaliser, so both
  // sides are compared as token streams: case-folded keywords and unquoted
  // identifiers, quotes removed, redundant outer parentheses dropped.
  std::string definition_difference(const migrate::ConstraintDef& declared,
                                    const ExistingConstraint& existing) override {
    if (!declared.unique) {
      if (existing.kind != ExistingConstraint::Kind::check) return "it is not a CHECK";
      return normalize(existing.definition) == normalize(declared.check)
                 ? ""
                 : "the database has CHECK (" + existing.definition + ")";
    }
    if (existing.kind != ExistingConstraint::Kind::unique && existing.kind != ExistingConstraint::Kind::unique_index) {
      return "it is not a UNIQUE";
    }
    if (!same_columns(existing.columns, declared.columns)) return "the database has " + existing.definition;
    std::string where;
    if (existing.kind == ExistingConstraint::Kind::unique_index) {
      const auto toks = sql::significant(sql::tokenize(existing.definition));
      int depth = 0;
      for (size_t i = 0; i < toks.size(); ++i) {
        if (toks[i].is("(")) ++depth;
        if (toks[i].is(")")) --depth;
        if (depth == 0 && toks[i].is_word("WHERE")) {
          where = existing.definition.substr(toks[i].offset + toks[i].text.size());
          break;
        }
      }
    }
    return normalize(where) == normalize(declared.where) ? "" : "the database has " + existing.definition;
  }

  static std::string normalize(std::string_view expr) {
    auto toks = sql::significant(sql::tokenize(expr));
    // Drop parentheses that enclose the whole expression.
    for (;;) {
      if (toks.size() < 2 || !toks.front().is("(") || !toks.back().is(")")) break;
      int depth = 0;
      bool encloses = true;
      for (size_t i = 0; i < toks.size(); ++i) {
        if (toks[i].is("(")) ++depth;
        if (toks[i].is(")")) --depth;
        if (depth == 0 && i + 1 < toks.size()) {
          encloses = false;
          break;
        }
      }
      if (!encloses) break;
      toks = std::vector<sql::Token>(toks.begin() + 1, toks.end() - 1);
    }
    std::string out;
    for (const auto& t : toks) {
      std::string text = t.kind == sql::TokenKind::quoted_identifier ? sql::identifier_name(t) : std::string(t.text);
      if (t.kind == sql::TokenKind::word || t.kind == sql::TokenKind::quoted_identifier) {
        for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      out += text + " ";
    }
    return out;
  }

  // A check of the plan other than the foreign-key check: any row it
  // returns fails the migration (rolled back), saying what it found.
  void run_check(const Step& step) {
    std::string found;
    db_.query(step.sql, [&](const Row& r) {
      if (found.empty()) found = r.empty() ? "a row" : value_text(r[0]);
    });
    refuse_found(step, found);
  }

  // A rebuild's proof (kRebuildProof): its INSERT fails on the first row
  // that fails a CHECK of the new text, which is then named (the CHECK's
  // name, or its text) as the copy's own error would have.
  void run_proof(const Step& step) {
    try {
      db_.execute(step.sql);
    } catch (const DatabaseError& e) {
      const std::string into = std::string("INSERT INTO temp.") + q(kProofTable) + " ";
      if (e.kind() != DbErrorKind::check_violation || step.sql.rfind(into, 0) != 0) throw;
      std::string failed;
      db_.query(step.sql.substr(into.size()), [&](const Row& r) { failed = value_text(r[0]); });
      DbErrorDetail detail = e.detail();
      detail.constraint = failed;
      throw DatabaseError(step.comment.substr(0, step.comment.find(" (read")) + ", but a row does (CHECK " +
                              "constraint failed: " + failed + "); rolled back, nothing was changed",
                          DbErrorKind::check_violation, std::move(detail));
    }
  }

  // Fails the unit when the check `step` found a row (`found`, its text).
  static void refuse_found(const Step& step, const std::string& found) {
    if (found.empty()) return;
    if (step.origin == kViolationCheck) {
      // Reported like the rebuild's failed copy: the engine's scan then
      // explains which rows violate (exit 1).
      throw DatabaseError(
          step.comment.substr(0, step.comment.find(" (read")) + ", but a row does; rolled back, nothing was changed",
          DbErrorKind::check_violation);
    }
    throw DatabaseError(step.sql + " found: " + found + " (" + step.comment + "); rolled back, nothing was changed");
  }

  // Read connections for the unit's background checks, opened before its
  // write lock, never waiting for a lock once open: as many as a scan
  // would use (scan --jobs' default), or as there are such checks. Fewer
  // (none) where they cannot be opened.
  std::vector<std::unique_ptr<Connection>> open_readers(const Unit& unit) {
    std::vector<std::unique_ptr<Connection>> out;
    if (!options_.open) return out;
    const auto checks = std::count_if(unit.steps.begin(), unit.steps.end(), [&](const Step& s) {
      return s.origin == kViolationCheck && background_checks_.count(s.sql);
    });
    const auto wanted = std::min<std::ptrdiff_t>(checks, std::max(1, db_.dialect().capabilities().scan_jobs));
    try {
      while (static_cast<std::ptrdiff_t>(out.size()) < wanted) {
        auto reader = options_.open(true);
        reader->execute("PRAGMA busy_timeout = 0");
        out.push_back(std::move(reader));
      }
    } catch (const Error&) {
      // as many as could be opened
    }
    return out;
  }

  // The violation check `step` started on one of `readers` (or on the
  // reader of a finished check of `running`), or null when it is read
  // here: a small table, no reader free, or a reader that cannot start its
  // transaction at once (the write lock is exclusive by now: this
  // transaction spilled changes to the file).
  std::unique_ptr<BackgroundCheck> in_background(const Step& step,
                                                 std::vector<std::unique_ptr<BackgroundCheck>>& running,
                                                 std::vector<std::unique_ptr<Connection>>& readers) {
    if (step.origin != kViolationCheck || !background_checks_.count(step.sql)) return nullptr;
    for (auto it = running.begin(); readers.empty() && it != running.end(); ++it) {
      if (!(*it)->done()) continue;
      if (auto r = (*it)->take_reader()) readers.push_back(std::move(r));
    }
    if (readers.empty()) return nullptr;
    auto reader = std::move(readers.back());
    readers.pop_back();
    try {
      reader->begin_read_snapshot();
    } catch (const Error&) {
      return nullptr;  // that reader is dropped
    }
    return std::make_unique<BackgroundCheck>(step, std::move(reader));
  }

  // sqlite_schema as this plan found it (read at its first use, dropped when
  // the plan is made: plans only read).
  const Catalog& catalog() {
    if (!catalog_) {
      catalog_.emplace();
      auto& c = *catalog_;
      db_.query("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid", [&](const Row& r) {
        Catalog::Entry e{value_text(r[0]), value_text(r[1]), value_text(r[2]), "", false};
        if (std::holds_alternative<std::string>(r[3])) {
          e.sql = std::get<std::string>(r[3]);
          e.has_sql = true;
        }
        c.by_name.emplace(e.type + '\x1f' + Catalog::lower(e.name), c.rows.size());
        c.by_table[Catalog::lower(e.tbl_name)].push_back(c.rows.size());
        c.rows.push_back(std::move(e));
      });
    }
    return *catalog_;
  }

  // The table as inspected once per plan (names matched as SQLite matches
  // them: the adoption rules and the foreign-key checks share one read).
  const TableInfo& info_of_table(const model::TableName& table) {
    const std::string key = Catalog::lower(table.str());
    auto it = infos_.find(key);
    if (it == infos_.end()) it = infos_.emplace(key, db_.inspect_table(table)).first;
    return it->second;
  }

  // The table's row count, counted once per plan.
  std::int64_t rows_of(const std::string& table) {
    auto it = rows_.find(table);
    if (it == rows_.end()) {
      std::int64_t n = 0;
      db_.query("SELECT count(*) FROM " + q(table), [&](const Row& r) { n = value_int(r[0]); });
      it = rows_.emplace(table, n).first;
    }
    return it->second;
  }

  SchemaObjects schema_objects() {
    SchemaObjects out;
    db_.query(kSchemaObjects, [&](const Row& r) {
      SchemaObject o{value_text(r[0]), value_text(r[1]), value_text(r[2]), value_text(r[3])};
      out[object_key(o.type, o.name)] = std::move(o);
    });
    return out;
  }

  std::string capabilities() override {
    return native_alter() ? "native ALTER TABLE ADD/DROP CONSTRAINT"
                          : "table rebuild for CHECK changes (no native ALTER TABLE ADD CONSTRAINT in this SQLite), "
                            "unique indexes for UNIQUE";
  }

 private:
  // The linked SQLite's own version says whether it has ALTER TABLE ...
  // ADD/DROP CONSTRAINT (3.53.0); Debian 12's 3.40 does not, so that path is
  // not exercised by this project's tests.
  bool native_alter() const { return sqlite_dialect().capabilities().native_alter_check; }

  // The adoption rules, before any statement is planned: an add whose
  // constraint already exists as declared (by name, or an unnamed inline
  // CHECK/UNIQUE with the same definition) runs no DDL and is recorded as
  // adopted; the same name with another definition is refused, naming both;
  // an equivalent constraint under another name is a warning. A drop of an
  // adopted unnamed CHECK (drop-checks --constraint) is matched by its text.
  // An add found done whose name an interrupted run recorded in
  // constraintctl_intent is that run's own work: left out, never adopted.
  // Resuming (or undoing) an interrupted run, a drop of a constraint that
  // is not there any more is left out too, as is the drop of one an
  // interrupted run meant to build (constraintctl_intent) but never reached.
  std::vector<migrate::Operation> adopt_existing(const std::vector<migrate::Operation>& steps, Plan& p,
                                                 std::vector<std::string>& records,
                                                 const std::vector<std::string>& intent, bool resuming) {
    auto intended = [&](const std::string& name) {
      return std::find(intent.begin(), intent.end(), name) != intent.end();
    };
    const auto adopted = detail::adopted(db_);
    auto info_of = [&](const model::TableName& table) -> const TableInfo& { return info_of_table(table); };
    auto comparable = [](const migrate::ConstraintDef& def, const ExistingConstraint& c) {
      return def.unique ? c.kind == ExistingConstraint::Kind::unique || c.kind == ExistingConstraint::Kind::unique_index
                        : c.kind == ExistingConstraint::Kind::check;
    };
    std::vector<migrate::Operation> out;
    for (const auto& op : steps) {
      const auto planned = planned_exists_.find(op.def.name);
      if (!op.adds()) {
        planned_exists_[op.def.name] = false;
        if (planned == planned_exists_.end()) {
          const TableInfo& info = info_of(op.def.table);
          const auto* c = detail::resolve(info, op.def.name, adopted);
          if (!c && (resuming || intended(op.def.name))) {
            p.already_done.push_back(op.describe() + ": not there (dropped by the interrupted run, or never built)");
            continue;
          }
          if (op.kind == migrate::OpKind::drop_check && c && c->name.empty())
            unnamed_drops_[op.def.name] = c->definition;
        }
        out.push_back(op);
        continue;
      }
      planned_exists_[op.def.name] = true;
      if (planned != planned_exists_.end()) {  // an earlier plan of this dry run changes it
        out.push_back(op);
        continue;
      }
      const TableInfo& info = info_of(op.def.table);
      if (!info.exists) throw UsageError(op.describe() + ": table '" + op.def.table.str() + "' does not exist");
      const ExistingConstraint* existing = detail::resolve(info, op.def.name, adopted);
      if (existing) {
        if (const std::string diff = definition_difference(op.def, *existing); !diff.empty()) {
          throw Error(ExitCode::findings,
                      op.describe() + ": a different constraint of that name already exists; declared " +
                          op.def.describe() + ", " + diff + "; drift is never dropped silently; nothing was changed");
        }
      } else {
        for (const auto& c : info.constraints) {
          if (c.name.empty() && comparable(op.def, c) && definition_difference(op.def, c).empty()) {
            existing = &c;  // an unnamed inline constraint: matched by its definition
            break;
          }
        }
      }
      if (existing && !existing->name.empty() && intended(op.def.name)) {
        p.already_done.push_back(op.describe() + ": built by the interrupted run");
        continue;
      }
      if (existing) {
        const bool recorded = adopted.count(op.def.name) > 0;
        const std::string shown = existing->kind == ExistingConstraint::Kind::check
                                      ? "CHECK (" + existing->definition + ")"
                                      : existing->definition;
        p.adopted.push_back(op.describe() + ": " + shown +
                            (existing->name.empty() ? " (unnamed, matched by its definition)" : "") +
                            (recorded ? " (recorded before)" : ""));
        if (!recorded) records.push_back(detail::adopt_record(sqlite_dialect(), op.def, *existing));
        continue;
      }
      for (const auto& c : info.constraints) {
        if (!c.name.empty() && comparable(op.def, c) && definition_difference(op.def, c).empty()) {
          p.warnings.push_back(op.describe() + ": already enforced by " + c.name + " (" + c.definition + "); " +
                               op.def.name + " is added beside it (declare " + c.name + " instead to adopt it)");
        }
      }
      out.push_back(op);
    }
    return out;
  }

  // The statements for `steps`, grouped by table: one rebuild (or edit) per
  // table whose CHECKs change, and that table's unique indexes. One
  // transaction runs the groups' bodies, one schema_version bump, the
  // quick_checks and then the unique indexes (statements()); a plan split
  // under [sqlite] max_lock_ms runs each group as its own transaction.
  std::vector<Group> groups(const std::vector<migrate::Operation>& steps) {
    std::vector<std::string> order;
    std::map<std::string, TableChecks> checks;
    std::map<std::string, Group> by_table;
    std::vector<std::string> unique_order;
    unique_sequence_.clear();
    std::map<std::string, std::string> stored_names;  // looked up once per table, not once per operation
    for (const auto& op : steps) {
      const auto& d = op.def;
      auto known = stored_names.find(d.table.str());
      if (known == stored_names.end()) known = stored_names.emplace(d.table.str(), stored_name(d.table)).first;
      const std::string table = known->second;
      auto& change = by_table[lower(table)].change;
      switch (op.kind) {
        case migrate::OpKind::add_check:
        case migrate::OpKind::drop_check:
          if (!checks.count(table)) order.push_back(table);
          checks[table].origins.push_back(op.describe());
          if (op.kind == migrate::OpKind::add_check) {
            checks[table].add.push_back({d.name, d.check});
          } else {
            // An adopted unnamed CHECK is found by its text (edit_create_table).
            checks[table].drop.push_back(unnamed_drops_.count(d.name) ? unnamed_drops_[d.name] : d.name);
          }
          break;
        case migrate::OpKind::add_unique: {
          std::string cols;
          for (size_t i = 0; i < d.columns.size(); ++i) cols += (i ? ", " : "") + q(d.columns[i]);
          const std::string create = "CREATE UNIQUE INDEX " + q(d.name) + " ON " + q(table) + " (" + cols + ")" +
                                     (d.where.empty() ? "" : " WHERE " + d.where);
          change.dropped.erase(object_key("index", d.name));
          change.created[object_key("index", d.name)] = {"index", d.name, table, create};
          if (by_table[lower(table)].uniques.empty()) unique_order.push_back(table);
          by_table[lower(table)].uniques.push_back(
              {create, "DROP INDEX " + q(d.name), "a UNIQUE is a unique index: no rebuild", op.describe(), false, ""});
          unique_sequence_.push_back(by_table[lower(table)].uniques.back());
          by_table[lower(table)].table = table;
          break;
        }
        case migrate::OpKind::drop_unique:
          if (change.created.erase(object_key("index", d.name)) == 0)
            change.dropped.insert(object_key("index", d.name));
          if (by_table[lower(table)].uniques.empty()) unique_order.push_back(table);
          by_table[lower(table)].uniques.push_back({"DROP INDEX " + q(d.name), "", "", op.describe(), false, ""});
          unique_sequence_.push_back(by_table[lower(table)].uniques.back());
          by_table[lower(table)].table = table;
          break;
      }
    }
    std::vector<Group> out;
    for (const auto& table : order) {
      Group& g = by_table[lower(table)];
      g.table = table;
      const auto& c = checks[table];
      // The table's rebuild or edit writes its part of the planned change
      // (planned_change_) and says whether it edited sqlite_schema.
      planned_change_ = std::move(g.change);
      schema_edited_ = false;
      if (c.add.empty()) {
        for (auto& s : drop_by_schema_edit(table, c.drop)) g.body.push_back(std::move(s));
      } else if (native_alter()) {
        refuse_virtual(table);
        planned_change_.table_sql[lower(table)] = std::nullopt;  // SQLite writes the clause its own way
        for (const auto& name : c.drop)
          g.body.push_back(note("ALTER TABLE " + q(table) + " DROP CONSTRAINT " + q(name), "native"));
        for (const auto& a : c.add) {
          g.body.push_back(
              note("ALTER TABLE " + q(table) + " ADD CONSTRAINT " + q(a.name) + " CHECK (" + a.expr + ")", "native"));
        }
        // Each ADD CONSTRAINT reads every row, as a query would (3.54.1, 1M
        // rows: 0.03 s for n >= 0, 0.09 s for an IN list of 100 values,
        // where quick_check of that list takes 2.9 s).
        g.scans = static_cast<int>(c.add.size());
      } else if (const std::string why = options_.sqlite_no_rebuild ? no_rebuild_refusal(table) : "no"; why.empty()) {
        for (auto& s : add_by_schema_edit(table, c)) g.body.push_back(std::move(s));
        g.scans = 2;  // the violation scan and quick_check read every row
        g.after_bump.push_back(
            {"SELECT quick_check FROM pragma_quick_check(" + lit(table) + ") WHERE quick_check <> 'ok'", "",
             "quick_check of " + table +
                 " evaluates its NOT NULLs and CHECKs, the new ones included, on every row "
                 "(integrity_check would also cross-check every index, which the edit cannot change)",
             kIntegrityCheck, true, ""});
      } else {
        if (options_.sqlite_no_rebuild) notes_.push_back(table + ": rebuilt (no_rebuild refused: " + why + ")");
        for (auto& s : rebuild(table, c)) g.body.push_back(std::move(s));
        g.rebuilt = true;
        g.in_place = rebuilt_in_place_;
        g.scans = rebuild_proved_by_scan_ ? 1 : 0;
      }
      g.edited = schema_edited_;
      g.change = std::move(planned_change_);
      out.push_back(std::move(g));
      by_table.erase(lower(table));
    }
    for (const auto& table : unique_order) {
      auto it = by_table.find(lower(table));
      if (it == by_table.end()) {  // its checks' group holds its indexes already
        continue;
      }
      out.push_back(std::move(it->second));
      by_table.erase(it);
    }
    planned_change_ = {};
    return out;
  }

  // The statements of `gs` as one transaction, in the order of the single
  // transaction plan: every table's body, one schema_version bump for every
  // edit (other connections then reload the schema once), the quick_checks
  // (they read the reloaded schema), then the unique indexes.
  std::vector<Step> statements(const std::vector<Group>& gs, bool bump_at_run_time,
                               const std::vector<Step>* uniques_in_order = nullptr) {
    std::vector<Step> out;
    bool edited = false;
    for (const auto& g : gs) {
      out.insert(out.end(), g.body.begin(), g.body.end());
      edited = edited || g.edited;
    }
    if (edited) {
      out.push_back(note("PRAGMA schema_version = " + std::to_string(schema_version_ + 1),
                         bump_at_run_time ? "other connections reload the schema (set to one above the value read in "
                                            "this transaction when it runs)"
                                          : "other connections reload the schema"));
      if (bump_at_run_time) out.back().origin = kSchemaBump;
    }
    for (const auto& g : gs) out.insert(out.end(), g.after_bump.begin(), g.after_bump.end());
    if (uniques_in_order) {
      out.insert(out.end(), uniques_in_order->begin(), uniques_in_order->end());
    } else {
      for (const auto& g : gs) out.insert(out.end(), g.uniques.begin(), g.uniques.end());
    }
    return out;
  }

  // The table's name as sqlite_schema holds it: a declared name matches it
  // whatever the case of its ASCII letters, as everywhere in SQLite, and the
  // rebuild must keep the stored spelling. The declared name when there is
  // no such table (the statement then fails on it). Refuses a schema.
  std::string stored_name(const model::TableName& table) {
    sqlite_dialect().quote_table(table);
    const Catalog::Entry* e = catalog().find("table", table.name);
    return e ? e->name : table.name;
  }

  static bool same_columns(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const std::string& x, const std::string& y) { return sqlite_dialect().same_name(x, y); });
  }

  // SQLite's documented cheap procedure, sanctioned for removing CHECK
  // constraints only: edit the table's text in sqlite_schema and bump
  // schema_version so every connection reloads it. Milliseconds at any size.
  // The table's CREATE TABLE text: as an earlier plan of this run leaves it
  // (a dry run of several versions), else as stored.
  std::string create_sql_of(const std::string& table) {
    if (auto it = planned_sql_.find(table); it != planned_sql_.end()) return it->second;
    const Catalog::Entry* e = catalog().find("table", table);
    if (!e || e->name != table || e->sql.empty()) throw UsageError("table '" + table + "' does not exist");
    return e->sql;
  }

  std::vector<Step> drop_by_schema_edit(const std::string& table, const std::vector<std::string>& drop) {
    const std::string create_sql = create_sql_of(table);
    schema_edited_ = true;
    const std::string edited = sqlite::edit_create_table(create_sql, drop, {}, "");
    planned_sql_[table] = edited;
    planned_change_.table_sql[lower(table)] = edited;
    return {note("PRAGMA writable_schema = ON",
                 "remove CHECKs of " + table + " by editing its stored definition (no rebuild)"),
            note("UPDATE sqlite_schema SET sql = " + lit(edited) + " WHERE type = 'table' AND name = " + lit(table)),
            note("PRAGMA writable_schema = OFF")};
  }

  // Why `table`'s CHECKs cannot be added by editing its stored text, or ""
  // when they can: the edit needs quick_check(TABLE) (3.33.0) to prove the
  // rows against the new text, and a table the pragma reads by its name.
  std::string no_rebuild_refusal(const std::string& table) {
    std::string text;
    std::int64_t version = 0;
    db_.query("SELECT sqlite_version()", [&](const Row& r) {
      text = value_text(r[0]);
      int major = 0, minor = 0, patch = 0;
      std::sscanf(text.c_str(), "%d.%d.%d", &major, &minor, &patch);
      version = major * 1000000LL + minor * 1000LL + patch;
    });
    if (version < 3033000) return "SQLite " + text + " has no PRAGMA quick_check(TABLE) (3.33.0)";
    // Before 3.46 a numeric-looking argument is a row limit, not a table.
    if (table.find_first_not_of("0123456789+-. ") == std::string::npos) return "a table name that looks like a number";
    refuse_virtual(table);
    return "";
  }

  // A virtual table's text is its module's arguments: no CHECK can go there,
  // by a rebuild or by an edit.
  void refuse_virtual(const std::string& table) {
    const std::string create_sql = create_sql_of(table);  // the tokens point into it
    const auto toks = sql::significant(sql::tokenize(create_sql));
    if (toks.size() > 1 && toks[1].is_word("VIRTUAL")) {
      throw UsageError("table '" + table + "' is a virtual table: SQLite keeps no CHECK on it; nothing was changed");
    }
  }

  // Adds (and drops) `table`'s CHECKs by editing its stored CREATE TABLE
  // text, after a scan in the same transaction found no violating row. The
  // plan's schema_version bump and quick_check(table) follow.
  std::vector<Step> add_by_schema_edit(const std::string& table, const TableChecks& changes) {
    edited_.push_back(table);
    const std::string create_sql = create_sql_of(table);
    schema_edited_ = true;
    const std::string edited = sqlite::edit_create_table(create_sql, changes.drop, changes.add, "");
    planned_sql_[table] = edited;
    planned_change_.table_sql[lower(table)] = edited;
    std::string violates;
    for (const auto& a : changes.add) violates += (violates.empty() ? "NOT (" : " OR NOT (") + a.expr + ")";
    std::string origin;
    for (const auto& o : changes.origins) origin += (origin.empty() ? "" : ", ") + o;
    const std::string scan = "SELECT 1 FROM " + q(table) + " WHERE " + violates + " LIMIT 1";
    if (rows_of(table) >= kBackgroundCheckRows) background_checks_.insert(scan);
    return {{scan, "", "no row of " + table + " may violate " + origin + " (read inside the write transaction)",
             kViolationCheck, true, ""},
            note("PRAGMA writable_schema = ON",
                 "add CHECKs to " + table +
                     " by editing its stored definition (no rebuild; outside SQLite's documented procedures)"),
            note("UPDATE sqlite_schema SET sql = " + lit(edited) + " WHERE type = 'table' AND name = " + lit(table)),
            note("PRAGMA writable_schema = OFF")};
  }

  // Rebuilt under its own name (a TEMP copy of the rows, DROP, CREATE TABLE
  // with the final text, the rows copied back) instead of under a new name
  // and RENAMEd, when copying its rows a second time costs less than the
  // RENAME: SQLite re-parses every object of the schema and reloads all of
  // it at each RENAME, so N rebuilds of small tables among N tables would
  // cost N * N. Both leave the same sqlite_schema text (RENAME writes the
  // name quoted, as edit_create_table does; with foreign keys off and
  // legacy_alter_table on it rewrites no other object), the same rows and
  // rowids, indexes, triggers, views and sqlite_sequence; the comparison of
  // sqlite_schema before COMMIT holds either way.
  bool rebuild_in_place(const std::string& table) {
    const double rows = static_cast<double>(rows_of(table));
    const double extra_copy_ms = rows / kRowsWrittenPerMs + rows / kRowsReadPerMs;
    const double rename_ms = static_cast<double>(catalog().rows.size()) * kRenameMsPerObject;
    return extra_copy_ms < rename_ms;
  }

  std::vector<Step> rebuild(const std::string& table, const TableChecks& changes) {
    refuse_virtual(table);
    rebuilt_.push_back(table);
    const std::string create_sql = create_sql_of(table);
    planned_sql_[table] = sqlite::edit_create_table(create_sql, changes.drop, changes.add, "");
    // RENAME writes the table's name quoted, as edit_create_table does.
    const std::string final_sql = sqlite::edit_create_table(create_sql, changes.drop, changes.add, table);
    planned_change_.table_sql[lower(table)] = final_sql;
    const bool in_place = rebuild_in_place(table);
    rebuilt_in_place_ = in_place;
    // The copy evaluates every CHECK of the new text on every row, and
    // SQLite evaluates an IN list of three values or more there about ten
    // times slower than a query reads it (1M rows: the copy 0.34 s without
    // CHECKs, 7.1 s with a list of 100 values; a scan of it 0.26 s). With
    // such a list, a scan inside this transaction proves every CHECK of the
    // new text on the rows, and the copy runs without evaluating them.
    // The scan returns the CHECK the row fails, as the copy's error would.
    // Only where every CHECK of the text was read (a CHECK the parser missed
    // would be evaluated by no one).
    std::string proof, failed;
    if (in_lists(final_sql).first > 0) {
      const auto checks = sqlite::check_bodies(final_sql);
      if (checks && !checks->empty() && checks->size() <= kMaxProofChecks) {
        for (const auto& [name, body] : *checks) {
          proof += (proof.empty() ? "NOT (" : " OR NOT (") + body + ")";
          failed += " WHEN NOT (" + body + ") THEN " + lit(name.empty() ? body : name);
        }
      }
    }
    rebuild_proved_by_scan_ = !proof.empty();
    std::vector<Step> proved;
    if (!proof.empty()) {
      std::string origin;
      for (const auto& o : changes.origins) origin += (origin.empty() ? "" : ", ") + o;
      proved.push_back(note("CREATE TEMP TABLE IF NOT EXISTS " + q(kProofTable) + " (failed TEXT CONSTRAINT " +
                                q("a row fails a CHECK of the new text") + " CHECK (failed IS NULL))",
                            "the proof below fails on a row it finds, as the copy would (also run by hand)"));
      proved.push_back({"INSERT INTO temp." + q(kProofTable) + " SELECT CASE" + failed + " END FROM " + q(table) +
                            " WHERE " + proof + " LIMIT 1",
                        "",
                        "no row of " + table + " may violate " + origin +
                            " or another CHECK of its new text (read inside the write transaction; the copy "
                            "below does not evaluate them: for an IN list that costs far more)",
                        kRebuildProof, false, ""});
      proved.push_back(note("DROP TABLE temp." + q(kProofTable)));
    }
    const std::string copy_note = proof.empty() ? "(fails, rolling back, if a row violates a new CHECK)"
                                                : "(its CHECKs proven by the scan above)";
    // The copy with the CHECKs the scan proved, prepared while they are not
    // evaluated (the pragma acts when a statement is prepared; also turned
    // off when the migration fails).
    auto copy = [&](Step step) {
      if (proof.empty()) return std::vector<Step>{std::move(step)};
      return std::vector<Step>{note("PRAGMA ignore_check_constraints = ON"), std::move(step),
                               note("PRAGMA ignore_check_constraints = OFF")};
    };
    const std::string temp = in_place ? "cc_copy" : "cc_new_" + table;
    const std::string new_sql = in_place ? "" : sqlite::edit_create_table(create_sql, changes.drop, changes.add, temp);

    std::vector<std::string> cols;
    db_.query("SELECT name FROM pragma_table_xinfo(" + lit(table) + ") WHERE hidden NOT IN (1, 2, 3) ORDER BY cid",
              [&](const Row& r) { cols.push_back(q(value_text(r[0]))); });
    std::string col_list;
    for (size_t i = 0; i < cols.size(); ++i) col_list += (i ? ", " : "") + cols[i];
    // A rowid table without INTEGER PRIMARY KEY has implicit rowids, which a
    // plain copy would renumber: fix runs' audit rows (and anything else
    // that names rows by rowid) would then point at other rows. Copy them
    // under a name no column shadows; WITHOUT ROWID tables have none.
    const std::string row_id = implicit_row_id(table, create_sql);
    if (!row_id.empty()) col_list = row_id + ", " + col_list;
    // The TEMP copy's columns have no declared type (no affinity): every
    // value is kept as stored, and the copy back converts exactly as the
    // copy into a new table would.
    std::string copy_cols;
    const size_t ncopy = cols.size() + (row_id.empty() ? 0 : 1);
    for (size_t i = 0; i < ncopy; ++i) copy_cols += (i ? ", " : "") + q("c" + std::to_string(i));

    std::vector<std::string> restore;  // indexes and triggers of the table, then every view
    // SQLite keeps tbl_name as the CREATE statement wrote it, and names match
    // case-insensitively: "ON items" belongs to table Items.
    const Catalog& cat = catalog();
    for (const char* type : {"index", "trigger"}) {
      for (const size_t i : cat.of_table(table)) {
        if (cat.rows[i].type == type && cat.rows[i].has_sql) restore.push_back(cat.rows[i].sql);
      }
    }
    std::vector<std::string> views, view_names;
    for (const auto& e : cat.rows) {
      if (e.type != "view") continue;
      view_names.push_back(e.name);
      views.push_back(e.sql);
    }
    bool has_sequence = false;
    for (const auto& e : cat.rows) has_sequence = has_sequence || e.name == "sqlite_sequence";

    std::vector<Step> out = std::move(proved);
    if (in_place) {
      out.push_back(note("CREATE TEMP TABLE " + q(temp) + " (" + copy_cols + ")",
                         "rebuild " + table +
                             " under its own name (no RENAME, which would re-parse the whole schema): a copy of "
                             "its rows, kept as stored"));
      out.push_back(note("INSERT INTO temp." + q(temp) + " SELECT " + col_list + " FROM " + q(table)));
    } else {
      out.push_back(
          note(new_sql, "rebuild " + table + ": the original CREATE TABLE text with the constraints edited in"));
      for (auto& st :
           copy(note("INSERT INTO " + q(temp) + " (" + col_list + ") SELECT " + col_list + " FROM " + q(table),
                     "copy every row " + copy_note)))
        out.push_back(std::move(st));
    }
    if (has_sequence) {
      out.push_back(note("CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER)"));
      out.push_back(note(
          "INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = " + lit(table),
          "AUTOINCREMENT must never go down"));
    }
    for (const auto& v : view_names) out.push_back(note("DROP VIEW " + q(v)));
    out.push_back(note("DROP TABLE " + q(table), "foreign keys are off: nothing cascades"));
    if (in_place) {
      out.push_back(note(final_sql, "the original CREATE TABLE text with the constraints edited in"));
      for (auto& st :
           copy(note("INSERT INTO " + q(table) + " (" + col_list + ") SELECT " + copy_cols + " FROM temp." + q(temp),
                     "copy every row back " + copy_note)))
        out.push_back(std::move(st));
      out.push_back(note("DROP TABLE temp." + q(temp)));
    } else {
      out.push_back(note("PRAGMA legacy_alter_table = ON"));
      out.push_back(note("ALTER TABLE " + q(temp) + " RENAME TO " + q(table)));
      out.push_back(note("PRAGMA legacy_alter_table = OFF"));
    }
    for (const auto& s : restore) out.push_back(note(s));
    for (const auto& s : views) out.push_back(note(s));
    // INSTEAD OF triggers belong to views and were dropped with them.
    for (const auto& v : view_names) {
      for (const size_t i : cat.of_table(v)) {
        if (cat.rows[i].type == "trigger") out.push_back(note(cat.rows[i].sql));
      }
    }
    if (has_sequence) {
      out.push_back(note("DELETE FROM sqlite_sequence WHERE name = " + lit(table) +
                         " AND EXISTS (SELECT 1 FROM cc_saved_sequence "
                         "WHERE name = " +
                         lit(table) + ")"));
      out.push_back(
          note("INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = " +
               lit(table)));
      out.push_back(note("DELETE FROM cc_saved_sequence"));
    }
    return out;
  }

  // The name under which `table`'s implicit rowid can be read and written
  // ("rowid", "_rowid_" or "oid", whichever no column shadows), or "" when
  // the table has none of its own (WITHOUT ROWID, an INTEGER PRIMARY KEY
  // that the column copy carries already, every alias shadowed).
  std::string implicit_row_id(const std::string& table, const std::string& create_sql) {
    if (sqlite::parse_create_table(create_sql).without_rowid) return "";
    std::int64_t pk = 0, integer_pk = 0;
    std::set<std::string> names;
    db_.query("SELECT lower(name), pk, upper(type) = 'INTEGER' FROM pragma_table_xinfo(" + lit(table) + ")",
              [&](const Row& r) {
                names.insert(value_text(r[0]));
                if (value_int(r[1]) > 0) {
                  ++pk;
                  integer_pk += value_int(r[2]);
                }
              });
    if (pk == 1 && integer_pk == 1) return "";
    for (const char* alias : {"rowid", "_rowid_", "oid"}) {
      if (!names.count(alias)) return alias;
    }
    return "";
  }

  Connection& db_;
  MigratorOptions options_;
  std::optional<Catalog> catalog_;            // sqlite_schema, read once per plan
  std::map<std::string, std::int64_t> rows_;  // row counts, once per plan
  bool dbstat_ = true;                        // the linked SQLite has dbstat (pages_of)
  std::map<std::string, TableInfo> infos_;    // tables inspected, once per plan
  bool rebuilt_in_place_ = false;             // the last rebuild() copies the table twice, no RENAME
  bool rebuild_proved_by_scan_ = false;       // the last rebuild() copies with CHECKs proven by a scan
  std::int64_t schema_version_ = -1;  // as the plan found it
  size_t planned_versions_ = 0;       // plans made since the last execute
  bool schema_edited_ = false;
  std::vector<std::string> rebuilt_;        // tables the plan rebuilds
  std::vector<std::string> edited_;         // tables the plan adds CHECKs to by editing their text
  std::set<std::string> background_checks_;  // violation checks read on a connection of their own
  std::vector<std::string> notes_;          // for the plan's warnings
  std::vector<Step> unique_sequence_;       // the unique index steps in the order of the operations
  // The planned change, for the comparison of sqlite_schema before COMMIT:
  // tables whose CREATE TABLE text becomes this (nullopt: any text, native
  // ALTER), objects created and objects dropped.
  sqlite::PlannedSchemaChange planned_change_;  // the group being planned
  // One per transaction of the plan, in order: what it changes.
  std::vector<sqlite::PlannedSchemaChange> planned_changes_;
  // What earlier plans of this run (not yet executed: a dry run) leave in
  // sqlite_schema, so the next version is planned on top of them.
  std::map<std::string, std::string> planned_sql_;
  // Constraints earlier plans of this run add (true) or drop (false).
  std::map<std::string, bool> planned_exists_;
  // Adopted unnamed CHECKs to drop: name -> their condition text.
  std::map<std::string, std::string> unnamed_drops_;
};

}  // namespace

std::unique_ptr<Migrator> make_sqlite_migrator(Connection& db, const MigratorOptions& options) {
  return std::make_unique<SqliteMigrator>(db, options);
}

}  // namespace cc::dialect
