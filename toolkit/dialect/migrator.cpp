#include "dialect/migrator.h"

#include <charconv>

#include "core/error.h"

namespace cc::dialect {

std::unique_ptr<Migrator> make_migrator(Connection& db, const MigratorOptions& options) {
  return db.dialect().kind() == Kind::sqlite ? make_sqlite_migrator(db, options) : make_postgres_migrator(db, options);
}

namespace detail {

std::vector<HistoryRow> read_history(Connection& db, bool table_exists) {
  std::vector<HistoryRow> rows;
  if (!table_exists) return rows;
  // version is read as text: an edited row may hold 1.5 or 4294967297 (SQLite
  // keeps whatever is written), which a numeric read would turn into 1.
  db.query(std::string("SELECT id, CAST(version AS text), name, checksum, direction, CAST(started_at AS text), CAST(finished_at AS text), "
                       "tool_version, applied_by FROM ") +
               kHistoryTable + " ORDER BY id",
           [&](const Row& r) {
             HistoryRow h;
             h.id = value_int(r[0]);
             const std::string version = value_text(r[1]);
             int parsed = 0;
             const auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), parsed);
             if (ec != std::errc() || end != version.data() + version.size() || parsed < 0) {
               throw DatabaseError(std::string("tampered history: ") + kHistoryTable + " row " + std::to_string(h.id) +
                                   " has version '" + version + "', not a whole number from 0 to 2147483647");
             }
             h.version = parsed;
             h.name = value_text(r[2]);
             h.checksum = value_text(r[3]);
             h.direction = value_text(r[4]);
             h.started_at = value_text(r[5]);
             h.finished_at = value_text(r[6]);
             h.tool_version = value_text(r[7]);
             h.applied_by = value_text(r[8]);
             rows.push_back(std::move(h));
           });
  return rows;
}


std::string history_insert(const Dialect& d, const migrate::Migration& m, bool up, const std::string& started_at,
                           const MigratorOptions& options) {
  return std::string("INSERT INTO ") + kHistoryTable +
         " (version, name, checksum, direction, started_at, tool_version, applied_by) VALUES (" + std::to_string(m.version) +
         ", " + d.quote_string(m.name) + ", " + d.quote_string(m.checksum) + ", " + (up ? "'up'" : "'down'") + ", " +
         started_at + ", " + d.quote_string(options.tool_version) + ", " + d.quote_string(options.applied_by) + ")";
}

std::string history_insert_now(Connection& db, const migrate::Migration& m, bool up, const MigratorOptions& options) {
  std::string started;
  db.query("SELECT " + db.dialect().now_text(), [&](const Row& r) { started = value_text(r[0]); });
  return history_insert(db.dialect(), m, up, db.dialect().quote_string(started), options);
}

std::vector<std::string> records(Connection& db, const Work& work, const MigratorOptions& options) {
  std::vector<std::string> out;
  // Undoing an interrupted apply writes no 'down' row: the history never
  // said 'up' (the progress row it removes was the record of that run).
  if (work.migration && !work.partial) out.push_back(history_insert_now(db, *work.migration, work.up, options));
  out.insert(out.end(), work.record.begin(), work.record.end());
  return out;
}

bool table_exists(Connection& db, std::string_view table) {
  bool exists = false;
  db.query(db.dialect().table_exists_sql({std::string(table)}), [&](const Row& r) { exists = value_int(r[0]) > 0; });
  return exists;
}

std::string history_event(const Dialect& d, int version, const std::string& direction, const std::string& detail,
                          const MigratorOptions& options) {
  // A literal-free expression the column's type accepts on both dialects.
  const std::string now = d.kind() == Kind::postgresql ? "clock_timestamp()" : d.now_text();
  return std::string("INSERT INTO ") + kHistoryTable +
         " (version, name, checksum, direction, started_at, tool_version, applied_by) VALUES (" + std::to_string(version) + ", " +
         d.quote_string(detail) + ", '', " + d.quote_string(direction) + ", " + now + ", " + d.quote_string(options.tool_version) +
         ", " + d.quote_string(options.applied_by) + ")";
}

std::vector<std::string> missing_bookkeeping(Connection& db) {
  const auto& d = db.dialect();
  std::vector<std::string> out;
  const std::string directions = "CHECK (direction IN ('up', 'down', 'drop_checks', 'restore_checks'))";
  if (!table_exists(db, kHistoryTable)) {
    if (d.kind() == Kind::postgresql) {
      out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kHistoryTable +
                    " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, version integer NOT NULL, name text NOT NULL, "
                    "checksum text NOT NULL, direction text NOT NULL " + directions + ", "
                    "started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                    "tool_version text NOT NULL, applied_by text NOT NULL)");
    } else {
      out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kHistoryTable +
                    " (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                    "direction TEXT NOT NULL " + directions + ", started_at TEXT NOT NULL, "
                    "finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), tool_version TEXT NOT NULL, "
                    "applied_by TEXT NOT NULL)");
    }
  }
  if (!table_exists(db, kDroppedTable)) {
    out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kDroppedTable +
                  " (name TEXT PRIMARY KEY, table_name TEXT NOT NULL, definition TEXT NOT NULL, dropped_at TEXT NOT NULL, "
                  "dropped_by TEXT NOT NULL)");
  }
  if (!table_exists(db, kAdoptedTable)) {
    out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kAdoptedTable +
                  " (name TEXT PRIMARY KEY, table_name TEXT NOT NULL, kind TEXT NOT NULL, definition TEXT NOT NULL, "
                  "adopted_at TEXT NOT NULL)");
  }
  if (!table_exists(db, kIntentTable)) {
    out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kIntentTable +
                  " (name TEXT PRIMARY KEY, table_name TEXT NOT NULL, started_at TEXT NOT NULL)");
  }
  if (!table_exists(db, kProgressTable)) {
    // Added beside the older tables: a database from an earlier version
    // gets it with its next apply, nothing else changes.
    out.push_back(std::string("CREATE TABLE IF NOT EXISTS ") + kProgressTable +
                  " (version INTEGER NOT NULL, direction TEXT NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                  "steps_total INTEGER NOT NULL, steps_done INTEGER NOT NULL, started_at TEXT NOT NULL, "
                  "updated_at TEXT NOT NULL, tool_version TEXT NOT NULL, applied_by TEXT NOT NULL, "
                  "PRIMARY KEY (version, direction))");
  }
  return out;
}

std::map<std::string, AdoptedRow> adopted(Connection& db) {
  std::map<std::string, AdoptedRow> out;
  if (!table_exists(db, kAdoptedTable)) return out;
  db.query(
      std::string("SELECT name, table_name, kind, definition, adopted_at FROM ") + kAdoptedTable + " ORDER BY name",
      [&](const Row& r) {
        AdoptedRow a{value_text(r[1]), value_text(r[0]), value_text(r[2]), value_text(r[3]), value_text(r[4])};
        out[a.name] = std::move(a);
      });
  return out;
}

namespace {
// What identifies an adopted constraint when it has no name: its text, and
// for a UNIQUE its columns too (SQLite's column-level text is just "UNIQUE").
std::string adopted_definition(const ExistingConstraint& c) {
  if (!c.name.empty() || c.kind == ExistingConstraint::Kind::check) return c.definition;
  std::string cols;
  for (const auto& col : c.columns) cols += (cols.empty() ? "" : ", ") + col;
  return c.definition + " ON (" + cols + ")";
}
}  // namespace

std::string adopt_record(const Dialect& d, const migrate::ConstraintDef& def, const ExistingConstraint& existing) {
  return std::string("INSERT INTO ") + kAdoptedTable + " (name, table_name, kind, definition, adopted_at) VALUES (" +
         d.quote_string(def.name) + ", " + d.quote_string(def.table.str()) + ", " +
         d.quote_string(std::string(to_string(existing.kind))) + ", " + d.quote_string(adopted_definition(existing)) +
         ", " + d.now_text() + ") ON CONFLICT (name) DO NOTHING";
}

std::vector<ProgressRow> read_progress(Connection& db) {
  std::vector<ProgressRow> out;
  if (!table_exists(db, kProgressTable)) return out;
  db.query(std::string("SELECT version, direction, name, checksum, steps_total, steps_done, started_at, updated_at, "
                       "applied_by FROM ") +
               kProgressTable + " ORDER BY version, direction",
           [&](const Row& r) {
             ProgressRow p;
             p.version = static_cast<int>(value_int(r[0]));
             p.direction = value_text(r[1]);
             p.name = value_text(r[2]);
             p.checksum = value_text(r[3]);
             p.steps_total = static_cast<int>(value_int(r[4]));
             p.steps_done = static_cast<int>(value_int(r[5]));
             p.started_at = value_text(r[6]);
             p.updated_at = value_text(r[7]);
             p.applied_by = value_text(r[8]);
             out.push_back(std::move(p));
           });
  return out;
}

ProgressKey progress_key(const Work& work) {
  ProgressKey k;
  if (work.migration) {
    k.direction = work.up ? "up" : "down";
    k.version = work.migration->version;
    k.name = work.migration->name;
    k.checksum = work.migration->checksum;
  } else if (!work.event.empty()) {
    k.direction = k.name = work.event;
    k.version = work.event_version;
  }
  return k;
}

std::string forget_progress(const Dialect& d, int version, const std::string& direction) {
  return std::string("DELETE FROM ") + kProgressTable + " WHERE version = " + std::to_string(version) +
         " AND direction = " + d.quote_string(direction);
}

std::string forget_intents(const Dialect& d, const std::vector<std::string>& names) {
  if (names.empty()) return "";
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + d.quote_string(n);
  return std::string("DELETE FROM ") + kIntentTable + " WHERE name IN (" + list + ")";
}

std::vector<std::string> intents(Connection& db) {
  std::vector<std::string> out;
  if (!table_exists(db, kIntentTable)) return out;
  db.query(std::string("SELECT name FROM ") + kIntentTable + " ORDER BY name",
           [&](const Row& r) { out.push_back(value_text(r[0])); });
  return out;
}

const ExistingConstraint* resolve(const TableInfo& info, const std::string& name,
                                  const std::map<std::string, AdoptedRow>& adopted) {
  if (const auto* c = info.find_constraint(name)) return c;
  auto it = adopted.find(name);
  if (it == adopted.end()) return nullptr;
  for (const auto& c : info.constraints) {
    if (c.name.empty() && adopted_definition(c) == it->second.definition && to_string(c.kind) == it->second.kind)
      return &c;
  }
  return nullptr;
}

void create_bookkeeping(Connection& db) {
  for (const auto& sql : missing_bookkeeping(db)) db.execute(sql);
}

std::vector<migrate::ConstraintDef> dropped_checks(Connection& db) {
  std::vector<migrate::ConstraintDef> out;
  if (!table_exists(db, kDroppedTable)) return out;
  db.query(std::string("SELECT name, table_name, definition FROM ") + kDroppedTable + " ORDER BY table_name, name",
           [&](const Row& r) {
             migrate::ConstraintDef d;
             d.name = value_text(r[0]);
             d.table = {value_text(r[1])};  // as shown ("sales.orders"); the engine takes the table from the migrations
             d.check = value_text(r[2]);
             out.push_back(std::move(d));
           });
  return out;
}

std::string current_direction(Connection& db, int version) {
  std::string dir;
  db.query(std::string("SELECT direction FROM ") + kHistoryTable + " WHERE version = " + std::to_string(version) +
               " AND direction IN ('up', 'down') ORDER BY id DESC LIMIT 1",
           [&](const Row& r) { dir = value_text(r[0]); });
  return dir;
}

}  // namespace detail
}  // namespace cc::dialect
